"""What people type, checked in one place: numbers, text, durations, dates, recurrence rules.

Chat handlers, the command line and the config loader all call these functions, so a value refused in
one place is refused everywhere with the same explanation. Each refusal is an `InputError` whose `key`
names a catalog message (bot/i18n/*/inputs.yml) and whose `kwargs` fill it; `str(exc)` is the French
text, ready for a command-line error line.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date, datetime, timedelta

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr

MAX_ID = 2**63 - 1  # database ids are signed 64-bit integers
MAX_DIGITS = 19  # len(str(MAX_ID)): longer digit strings are refused before int() is even called
HORIZON_DAYS = 730  # a session is planned at most two years ahead
MAX_OCCURRENCES = 120  # a series yields at most this many sessions within the horizon
MAX_DURATION = timedelta(days=HORIZON_DAYS)
MAX_RRULE_LENGTH = 300
# Bidirectional embeddings, overrides and isolates: they make « gnp.exe » read « exe.png ».
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: `²`, `٣` or `１` are not numbers here
# One or more "number unit" parts, as people write them; ASCII digits only (« ² » is not a number).
_DURATION_PART = re.compile(r"([0-9]{1,9})\s*(minutes?|mn|min|m|heures?|hours?|h|jours?|days?|j|d)?\s*")
_UNIT_MINUTES = {"m": 1, "h": 60, "j": 24 * 60, "d": 24 * 60}
# BYSETPOS, BYWEEKNO and BYYEARDAY are left out: a Klub never needs them, and they are what lets a
# rule look plausible while matching nothing (dateutil then searches day after day until year 9999).
_RRULE_PARTS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTH", "BYMONTHDAY", "WKST"}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY = re.compile(r"^([+-]?[1-5])?(MO|TU|WE|TH|FR|SA|SU)$")
_FREQS = {"DAILY": DAILY, "WEEKLY": WEEKLY, "MONTHLY": MONTHLY, "YEARLY": YEARLY}
_BELOW_DAILY = ("HOURLY", "MINUTELY", "SECONDLY")


class InputError(ValueError):
    """A typed value that cannot be accepted; the message says why and what to type instead."""

    def __init__(self, key: str, **kwargs: object) -> None:
        self.key = key
        self.kwargs = kwargs
        super().__init__(self.french())

    def french(self) -> str:
        from bot.i18n import t  # the catalogs are plain data: a late import keeps this module standalone

        return _plain(t("fr", self.key, **self.kwargs))


def _plain(text: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", text))


# -- numbers ------------------------------------------------------------------------------------------


def parse_number(text: str, *, low: int = 1, high: int = MAX_ID, what: str = "n°") -> int:
    """A whole number typed by a person: ASCII digits only (an optional « n° » or « # » before it),
    between `low` and `high`. Never raises anything but InputError, whatever the length."""
    word = text.strip()
    for prefix in ("n°", "N°", "no.", "#"):
        if word.startswith(prefix):
            word = word[len(prefix) :].strip()
            break
    if not word or _DIGITS.fullmatch(word) is None or len(word.lstrip("0")) > MAX_DIGITS:
        raise InputError("input.bad_number", text=_shown(text), what=what)
    value = int(word)
    if not low <= value <= high:
        raise InputError("input.number_range", text=_shown(text), what=what, low=low, high=high)
    return value


def maybe_number(text: str, *, low: int = 1, high: int = MAX_ID) -> int | None:
    """parse_number, or None for anything that is not such a number (lookups: unknown means not found)."""
    try:
        return parse_number(text, low=low, high=high)
    except InputError:
        return None


# -- text ---------------------------------------------------------------------------------------------


def strip_controls(text: str) -> str:
    """Remove what must never be stored or shown: NUL and other C0/C1 controls (newlines and tabs
    kept), lone surrogates (unencodable: the database refuses them) and bidi controls."""
    out = []
    for ch in text:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF or ch in BIDI_CONTROLS:
            continue
        if (code < 32 and ch not in "\n\t") or 0x7F <= code < 0xA0:
            continue
        out.append(ch)
    return "".join(out)


def is_blank(text: str) -> bool:
    """True when nothing readable is left: only spaces, zero-width or format characters, combining
    marks, controls."""
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] in ("L", "N", "P", "S") and not ch.isspace():
            return False
    return True


def clean_text(text: str, *, max_length: int, what: str = "texte", keep_lines: bool = False) -> str:
    """User text to store: controls removed, spaces collapsed (line breaks kept if asked), then
    refused when blank-looking or longer than `max_length`."""
    text = strip_controls(text)
    if keep_lines:
        text = "\n".join(" ".join(line.split()) for line in text.split("\n")).strip()
    else:
        text = " ".join(text.split())
    if is_blank(text):
        raise InputError("input.blank", what=what)
    if len(text) > max_length:
        raise InputError("input.too_long", what=what, limit=max_length, length=len(text))
    return text


def _shown(text: str, limit: int = 40) -> str:
    """A piece of input quoted back in a refusal: cleaned and cut, so the refusal stays short."""
    shown = " ".join(strip_controls(text).split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


# -- durations ----------------------------------------------------------------------------------------


def parse_duration(text: str, *, low: timedelta = timedelta(0), high: timedelta = MAX_DURATION) -> timedelta:
    """« 7j », « 2h », « 30min », « 1h30 », « 1 h 30 », « 90 min », « 1 jour 2 h » -> timedelta, between `low`
    and `high`. Units go from large to small; a bare number is allowed only right after hours (1h30)."""
    raw = str(text).strip().lower()
    pos, minutes, last_unit, previous = 0, 0, 10**9, ""
    while pos < len(raw):
        m = _DURATION_PART.match(raw, pos)
        word = (m.group(2) or ("min" if previous == "h" else "")) if m and m.end() > pos else ""
        if m is None or not word:
            raise InputError("input.bad_duration", text=_shown(str(text)))
        unit = "m" if word.startswith(("m", "mn")) else word[0]
        size = _UNIT_MINUTES[unit]
        if size >= last_unit:
            raise InputError("input.bad_duration", text=_shown(str(text)))
        minutes += int(m.group(1)) * size
        last_unit, previous, pos = size, unit, m.end()
    if not raw:
        raise InputError("input.bad_duration", text=_shown(str(text)))
    if minutes > high.total_seconds() // 60 or minutes < low.total_seconds() // 60:
        raise InputError("input.duration_range", text=_shown(str(text)), low=_fmt(low), high=_fmt(high))
    return timedelta(minutes=minutes)


def _fmt(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % (24 * 60) == 0 and minutes:
        return f"{minutes // (24 * 60)} j"
    if minutes % 60 == 0 and minutes:
        return f"{minutes // 60} h"
    return f"{minutes} min"


# -- dates --------------------------------------------------------------------------------------------


def check_future(when: datetime, now: datetime, *, horizon_days: int = HORIZON_DAYS) -> datetime:
    """A moment for a new or moved session: strictly after `now`, at most `horizon_days` ahead."""
    if when <= now:
        raise InputError("input.in_past")
    if when - now > timedelta(days=horizon_days):
        raise InputError("input.too_far", years=horizon_days // 365)
    return when


def check_day_range(day: date, *, low: date = date(2000, 1, 1), high: date = date(2100, 12, 31)) -> date:
    """A day typed for a report or an export: within the years Klub can reason about."""
    if not low <= day <= high:
        raise InputError("input.day_range", low=low.isoformat(), high=high.isoformat())
    return day


# -- recurrence rules ---------------------------------------------------------------------------------


def check_rrule(text: str, start_local: datetime, now_local: datetime | None = None) -> tuple[str, list[datetime]]:
    """Validate an RFC 5545 RRULE for a Klub series starting at `start_local` (naive wall clock).

    Returns the normalised rule and its occurrences within the horizon after `now_local` (default:
    the start). Refused: anything but FREQ=DAILY or slower, INTERVAL < 1, BYHOUR/BYMINUTE/BYSECOND,
    embedded lines (DTSTART, EXDATE…), an UNTIL or COUNT leaving no occurrence ahead, a start beyond
    the horizon, and more than MAX_OCCURRENCES sessions in the horizon. The expansion itself is
    bounded, whatever the rule says."""
    raw = text.strip()
    parts = _rrule_parts(raw)
    freq = parts.get("FREQ", "")
    if freq in _BELOW_DAILY:
        raise InputError("input.rrule_too_frequent")
    if freq not in _FREQS:
        raise InputError("input.rrule_syntax", text=_shown(raw))
    if "INTERVAL" in parts:
        parse_number(parts["INTERVAL"], low=1, high=366, what="INTERVAL")
    if "COUNT" in parts:
        parse_number(parts["COUNT"], low=1, high=MAX_OCCURRENCES * 10, what="COUNT")
    if not 2000 <= start_local.year <= 2100:
        raise InputError("input.day_range", low="2000-01-01", high="2100-12-31")
    normal = ";".join(f"{k}={v}" for k, v in parts.items())
    try:
        rule = rrulestr(normal, dtstart=start_local)
    except (ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:
        raise InputError("input.rrule_syntax", text=_shown(raw)) from exc
    if not isinstance(rule, rrule):
        raise InputError("input.rrule_syntax", text=_shown(raw))
    if now_local is not None and start_local - now_local > timedelta(days=HORIZON_DAYS):
        raise InputError("input.too_far", years=HORIZON_DAYS // 365)
    origin = max(start_local, now_local) if now_local is not None else start_local
    if not _may_occur(parts, start_local, origin, origin + timedelta(days=HORIZON_DAYS)):
        raise InputError("input.rrule_empty")  # decided on the calendar, before dateutil searches
    found = bounded_occurrences(rule, origin, origin + timedelta(days=HORIZON_DAYS), MAX_OCCURRENCES + 1)
    if not found:
        raise InputError("input.rrule_empty")
    if len(found) > MAX_OCCURRENCES:
        raise InputError("input.rrule_too_many", limit=MAX_OCCURRENCES, years=HORIZON_DAYS // 365)
    return normal, found


def _rrule_parts(raw: str) -> dict[str, str]:
    """NAME=VALUE parts of a rule, upper-cased; refused: time parts, unknown or repeated parts, embedded lines."""
    if len(raw) > MAX_RRULE_LENGTH or "\n" in raw or "\r" in raw:
        raise InputError("input.rrule_syntax", text=_shown(raw))
    if raw.upper().startswith("RRULE:"):
        raw = raw[6:]
    parts: dict[str, str] = {}
    for chunk in raw.split(";"):
        name, sep, value = chunk.partition("=")
        name = name.strip().upper()
        if not sep or not name or not value.strip():
            raise InputError("input.rrule_syntax", text=_shown(raw))
        if name in ("BYHOUR", "BYMINUTE", "BYSECOND"):
            raise InputError("input.rrule_time_parts", part=name)
        if name not in _RRULE_PARTS:
            raise InputError("input.rrule_part", part=name)
        if name in parts:
            raise InputError("input.rrule_syntax", text=_shown(raw))
        parts[name] = value.strip().upper()
    return parts


def may_occur(rrule_text: str, start_local: datetime, after: datetime, before: datetime) -> bool:
    """Whether the calendar lets the rule fall on a day of [after, before] (its BY… parts and INTERVAL).

    dateutil only looks at its bound when it finds an occurrence: a rule no day can satisfy
    (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31) makes it walk day by day to year 9999, seconds of a blocked core.
    Every expansion asks this first."""
    parts = _rrule_parts(rrule_text.strip())
    if parts.get("FREQ") not in _FREQS:
        raise InputError("input.rrule_syntax", text=_shown(rrule_text))
    return _may_occur(parts, start_local, after, before)


def _ints(text: str | None, low: int, high: int, what: str) -> set[int]:
    if not text:
        return set()
    out = set()
    for word in text.split(","):
        negative = word.startswith("-")
        value = parse_number(word.lstrip("+-"), low=1, high=max(abs(low), high), what=what)
        if negative and low > 0:
            raise InputError("input.rrule_syntax", text=_shown(text))
        out.add(-value if negative else value)
    return out


def _may_occur(parts: dict[str, str], start: datetime, after: datetime, before: datetime) -> bool:
    """Whether any day in [after, before] satisfies the rule's BY… filters and its INTERVAL, with
    dateutil's defaults (the start's weekday, day of month, month). A day-by-day scan of the horizon:
    a few hundred steps, whatever the rule."""
    freq = parts["FREQ"]
    interval = int(parts.get("INTERVAL", "1"))
    months = _ints(parts.get("BYMONTH"), 1, 12, "BYMONTH")
    mdays = _ints(parts.get("BYMONTHDAY"), -31, 31, "BYMONTHDAY")
    days: list[tuple[int | None, int]] = []
    for word in filter(None, parts.get("BYDAY", "").split(",")):
        m = _BYDAY.match(word)
        if m is None:
            raise InputError("input.rrule_syntax", text=_shown(parts["BYDAY"]))
        days.append(
            (int(m.group(1)) if m.group(1) and freq in ("MONTHLY", "YEARLY") else None, _WEEKDAYS.index(m.group(2)))
        )
    wkst = _WEEKDAYS.index(parts["WKST"]) if parts.get("WKST") in _WEEKDAYS else 0
    if not mdays and not days:
        if freq == "YEARLY":
            months = months or {start.month}
            mdays = {start.day}
        elif freq == "MONTHLY":
            mdays = {start.day}
        elif freq == "WEEKLY":
            days = [(None, start.weekday())]
    first, day, last = start.date(), max(after, start).date(), before.date()
    while day <= last:
        if _matches(day, freq, months, mdays, days) and _aligned(day, first, freq, interval, wkst):
            return True
        day += timedelta(days=1)
    return False


def _matches(day: date, freq: str, months: set[int], mdays: set[int], days: list[tuple[int | None, int]]) -> bool:
    if months and day.month not in months:
        return False
    month_len = calendar.monthrange(day.year, day.month)[1]
    if mdays and day.day not in mdays and day.day - month_len - 1 not in mdays:
        return False
    if not days:
        return True
    in_year = freq == "YEARLY" and not months  # an ordinal counts within the year, else within the month
    index = day.timetuple().tm_yday if in_year else day.day
    length = (366 if calendar.isleap(day.year) else 365) if in_year else month_len
    for nth, weekday in days:
        if weekday != day.weekday():
            continue
        if nth is None or (nth > 0 and (index - 1) // 7 + 1 == nth) or (nth < 0 and (length - index) // 7 + 1 == -nth):
            return True
    return False


def _aligned(day: date, first: date, freq: str, interval: int, wkst: int) -> bool:
    if freq == "DAILY":
        steps = (day - first).days
    elif freq == "WEEKLY":
        week = timedelta(days=(day.weekday() - wkst) % 7)
        first_week = timedelta(days=(first.weekday() - wkst) % 7)
        steps = ((day - week) - (first - first_week)).days // 7
    elif freq == "MONTHLY":
        steps = (day.year - first.year) * 12 + day.month - first.month
    else:
        steps = day.year - first.year
    return steps % interval == 0


def bounded_occurrences(rule: rrule, after: datetime, before: datetime, limit: int) -> list[datetime]:
    """Occurrences of `rule` in [after, before], at most `limit`, never expanding past `before`.

    A rule that can never match (BYMONTHDAY=30;BYMONTH=2) would make dateutil search until year 9999:
    the copy iterated here ends at `before`, and COUNT is applied by counting from the start."""
    count: int | None = vars(rule).get("_count")  # dateutil keeps COUNT and UNTIL only there
    until: datetime | None = vars(rule).get("_until")
    end = before if until is None else min(until, before)
    out: list[datetime] = []
    for i, when in enumerate(rule.replace(count=None, until=end)):
        if count is not None and i >= count:
            break
        if when >= after:
            out.append(when)
            if len(out) >= limit:
                break
    return out
