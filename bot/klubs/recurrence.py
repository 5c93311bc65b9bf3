"""Recurrence in the office's words: « 1er lundi du mois », « dernier mardi » -> RRULE, expanded on the wall clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, rrule, rrulestr

from bot import inputs
from bot.klubs.errors import ClubError
from bot.timefmt import localize

LOCAL_FMT = "%Y-%m-%dT%H:%M"


class _Series(Protocol):
    """What expanding needs of a series: its rule and its first local start."""

    rrule: str
    start_local: str


_ORDINALS = {
    "1er": 1,
    "1re": 1,
    "premier": 1,
    "première": 1,
    "1": 1,
    "2e": 2,
    "deuxième": 2,
    "2": 2,
    "3e": 3,
    "troisième": 3,
    "3": 3,
    "4e": 4,
    "quatrième": 4,
    "4": 4,
    "dernier": -1,
    "dernière": -1,
}
_WEEKDAYS = {
    "lundi": "MO",
    "mardi": "TU",
    "mercredi": "WE",
    "jeudi": "TH",
    "vendredi": "FR",
    "samedi": "SA",
    "dimanche": "SU",
}
_MONTHS = [
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
]


def _plain(word: str) -> str:
    return word.lower().replace("é", "e").replace("è", "e").replace("û", "u").replace("ô", "o")


def _month(word: str) -> int:
    w = _plain(word.strip())
    for i, name in enumerate(_MONTHS, start=1):
        if name == w or (len(w) >= 3 and name.startswith(w)):
            return i
    raise ClubError("klub.bad_month", text=word)


_FILLER = ({"du", "mois"}, {"de", "tous", "les", "mois"}, {"par", "mois"}, {"de", "mois"})


def _recurrence_words(when: str) -> list[str]:
    """« le 1er lundi du mois » -> ["1er", "lundi"]; « 2ème jeudi » -> ["2e", "jeudi"]; « chaque mardi » -> tous les."""
    words = when.lower().replace("’", "'").replace("chaque", "tous les").split()
    if words and words[0] in ("le", "la", "les") and len(words) > 2:
        words = words[1:]
    if words and words[0] not in _ORDINALS:
        # 2ème, 2eme, 3ème: the same ordinal as 2e, 3e.
        for suffix in ("ème", "eme", "ième", "ieme"):
            if words[0].endswith(suffix) and words[0][: -len(suffix)].isdigit():
                words[0] = words[0][: -len(suffix)] + "e"
    if len(words) > 2 and words[0] in _ORDINALS and set(words[2:]) in _FILLER:
        words = words[:2]
    return words


def french_rrule(when: str, months: str | None = None) -> str:
    """« 1er jeudi » (+ « octobre-avril ») -> FREQ=MONTHLY;BYDAY=1TH;BYMONTH=10,11,12,1,2,3,4.

    « chaque mardi » -> FREQ=WEEKLY;BYDAY=TU. Anything else: the ANT can give a raw RRULE.
    """
    words = _recurrence_words(when)
    if len(words) == 2 and words[0] in _ORDINALS and words[1] in _WEEKDAYS:
        rule = f"FREQ=MONTHLY;BYDAY={_ORDINALS[words[0]]}{_WEEKDAYS[words[1]]}"
    elif len(words) == 3 and words[:2] == ["tous", "les"] and words[2].rstrip("s") in _WEEKDAYS:
        rule = f"FREQ=WEEKLY;BYDAY={_WEEKDAYS[words[2].rstrip('s')]}"
    else:
        raise ClubError("klub.bad_recurrence", text=when)
    if months:
        first, _, last = months.partition("-")
        a, b = _month(first), _month(last or first)
        span = list(range(a, b + 1)) if a <= b else [*range(a, 13), *range(1, b + 1)]
        rule += ";BYMONTH=" + ",".join(str(m) for m in span)
    return rule


def season_end(months: str, first_day: date) -> date:
    """« octobre-avril » from 15 September 2026 -> 30 April 2027: the last day of the season's last month.

    A season typed in months is that season: next year's is planned again (and would otherwise double
    the sessions of a series already planned for it)."""
    first, _, last = months.partition("-")
    a, b = _month(first), _month(last or first)
    # The season starts at its first month on or after first_day (this year's if we are inside it).
    start_year = first_day.year
    inside = (a <= first_day.month <= b) if a <= b else (first_day.month >= a or first_day.month <= b)
    if inside and a > b and first_day.month <= b:
        start_year -= 1
    elif not inside and first_day.month > a:
        start_year += 1
    end_year = start_year if a <= b else start_year + 1
    following = date(end_year + (b == 12), b % 12 + 1, 1)
    return following - timedelta(days=1)


def with_until(rrule_text: str, last_day: date) -> str:
    """The series ends on `last_day` (local, inclusive); a rule that already says when it ends is refused."""
    text = rrule_text.strip().removeprefix("RRULE:")
    if any(part.split("=")[0].upper() in ("UNTIL", "COUNT") for part in text.split(";")):
        raise ClubError("klub.until_twice")
    return f"{text};UNTIL={last_day.strftime('%Y%m%d')}T235959"


def _rule(rrule_text: str, start_local: datetime) -> rrule:
    """A stored rule, as dateutil's object (stored rules were checked by inputs.check_rrule)."""
    text = rrule_text.strip().removeprefix("RRULE:")
    if not text.upper().startswith("FREQ="):
        raise ClubError("klub.bad_rrule", text=rrule_text)
    try:
        rule = rrulestr(text, dtstart=start_local)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ClubError("klub.bad_rrule", text=rrule_text) from exc
    # A set of rules, below daily, or a step of zero or less: the expansion never ends in any sensible time.
    if not isinstance(rule, rrule) or getattr(rule, "_freq", DAILY) > DAILY or getattr(rule, "_interval", 1) < 1:
        raise ClubError("klub.bad_rrule", text=rrule_text)
    return rule


def local_occurrences(series: _Series, after: datetime, before: datetime, zone: ZoneInfo) -> list[datetime]:
    """Occurrences between two instants, expanded on the wall clock: 18:30 stays 18:30 across DST.
    Bounded: never more than inputs.MAX_OCCURRENCES, never expanded past `before`."""
    start_local = datetime.strptime(series.start_local, LOCAL_FMT)
    rule = _rule(series.rrule, start_local)
    lo = after.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
    hi = before.astimezone(zone).replace(tzinfo=None)
    try:
        if not inputs.may_occur(series.rrule, start_local, lo, hi):
            return []
    except inputs.InputError as exc:
        raise ClubError("klub.bad_rrule", text=series.rrule) from exc
    out = []
    for naive in inputs.bounded_occurrences(rule, lo, hi, inputs.MAX_OCCURRENCES):
        aware = naive.replace(tzinfo=zone, fold=0)
        if after <= aware <= before:
            out.append(aware)
    return out


def check_series(rrule_text: str, start_local: datetime, zone: ZoneInfo, now: datetime | None) -> str:
    """The normalised rule, once inputs.check_rrule accepts it and no occurrence within the horizon
    falls in a clock-change gap or overlap."""
    now_local = now.astimezone(zone).replace(tzinfo=None) if now is not None else None
    normal, found = inputs.check_rrule(rrule_text, start_local, now_local)
    for naive in found:
        localize(naive, zone)
    return normal
