"""Local time: parse what people type, show dates the French way, and refuse impossible wall-clock times."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = {
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
MONTHS = {
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


class TimeInputError(ValueError):
    """What was typed cannot be a moment of the office's calendar; the message is ready for the user."""

    def __init__(self, key: str, **kwargs: object) -> None:
        super().__init__(key)
        self.key = key
        self.kwargs = kwargs


_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$|^(\d{1,2})/(\d{1,2})/(\d{4})$", re.ASCII)
_TIME = re.compile(r"^(\d{1,2})\s*[h:]\s*(\d{2})?$", re.ASCII)


# Dates anyone may enter (filters, series starts): beyond them a typo, and past year 9999 an overflow.
MIN_YEAR, MAX_YEAR = 2000, 2100


def in_range(day: date) -> bool:
    return MIN_YEAR <= day.year <= MAX_YEAR


def parse_date(text: str) -> date:
    m = _DATE.match(text.strip())
    if not m:
        raise TimeInputError("time.bad_date", text=text)
    year, month, day = (int(m[1]), int(m[2]), int(m[3])) if m[1] else (int(m[6]), int(m[5]), int(m[4]))
    if not 2000 <= year <= 2100:
        # Beyond these years the calendar arithmetic (UTC, DST, iCalendar) is not worth the risk.
        raise TimeInputError("input.day_range", low="2000-01-01", high="2100-12-31")
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise TimeInputError("time.impossible_date", text=text) from exc


def parse_time(text: str) -> time:
    m = _TIME.match(text.strip().lower())
    if not m:
        raise TimeInputError("time.bad_time", text=text)
    hour, minute = int(m[1]), int(m[2] or 0)
    if hour > 23 or minute > 59:
        raise TimeInputError("time.bad_time", text=text)
    return time(hour, minute)


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Attach the office's zone, refusing times that do not exist or exist twice (clock-change nights)."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        # Wall-clock round trip tells a gap (spring forward) from an overlap (fall back).
        back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if back != naive:
            raise TimeInputError("time.nonexistent", when=naive.strftime("%d/%m/%Y %H:%M"))
        raise TimeInputError("time.ambiguous", when=naive.strftime("%d/%m/%Y %H:%M"))
    return first


def parse_local(date_text: str, time_text: str, zone: ZoneInfo) -> datetime:
    return localize(datetime.combine(parse_date(date_text), parse_time(time_text)), zone)


def to_local(when: datetime, zone: ZoneInfo) -> datetime:
    """The moment on the office's clock; at the very end of the calendar (year 9999 in UTC, year 10000
    in Paris) it stays in UTC rather than overflow, so a stray far date never breaks a page or a list."""
    try:
        return when.astimezone(zone)
    except OverflowError:
        return when


def fmt_time(when: datetime, zone: ZoneInfo, lang: str = "fr") -> str:
    local = to_local(when, zone)
    if lang == "en":
        return local.strftime("%H:%M")
    return f"{local.hour}h{local.minute:02d}"


def fmt_day(when: datetime, zone: ZoneInfo, lang: str = "fr") -> str:
    local = to_local(when, zone)
    lang = lang if lang in DAYS else "fr"
    day, month = DAYS[lang][local.weekday()], MONTHS[lang][local.month - 1]
    if lang == "en":
        return f"{day} {local.day} {month} {local.year}"
    num = "1er" if local.day == 1 else str(local.day)
    return f"{day} {num} {month} {local.year}"


def fmt_when(when: datetime, zone: ZoneInfo, lang: str = "fr") -> str:
    """« jeudi 3 décembre 2026 à 18h30 » / "Thursday 3 December 2026 at 18:30"."""
    joiner = " at " if lang == "en" else " à "
    return fmt_day(when, zone, lang) + joiner + fmt_time(when, zone, lang)


def fmt_delay(delta: timedelta, lang: str = "fr") -> str:
    """A reminder offset said as people say it: « dans 7 jours », « demain », « dans 2 heures »,
    « dans 30 minutes », « dans 1 h 30 »."""
    minutes = round(delta.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    en = lang == "en"
    if not rest and days >= 2:
        return f"in {days} days" if en else f"dans {days} jours"
    if not rest and days == 1:
        return "tomorrow" if en else "demain"
    hours += days * 24
    if not mins:
        if en:
            return "in 1 hour" if hours == 1 else f"in {hours} hours"
        return "dans 1 heure" if hours == 1 else f"dans {hours} heures"
    if not hours:
        if en:
            return "in 1 minute" if mins == 1 else f"in {mins} minutes"
        return "dans 1 minute" if mins == 1 else f"dans {mins} minutes"
    return f"in {hours} h {mins:02d}" if en else f"dans {hours} h {mins:02d}"


def fmt_duration(delta: timedelta, lang: str = "fr") -> str:
    """A length of time, rounded to the minute: « 8 h », « 1 h 30 », « 45 min », « 2 j 3 h »."""
    minutes = max(0, round(delta.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    day = "d" if lang == "en" else "j"
    if days:
        return f"{days} {day} {hours} h" if hours else f"{days} {day}"
    if hours:
        return f"{hours} h {mins:02d}" if mins else f"{hours} h"
    return f"{mins} min"


def fmt_offset(delta: timedelta, lang: str = "fr") -> str:
    """The name the office gives a reminder: J-7, H-2, 30 min avant (D-7, H-2, 30 min before)."""
    minutes = round(delta.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    if days and not rest:
        return f"D-{days}" if lang == "en" else f"J-{days}"
    hours, mins = divmod(minutes, 60)
    if not mins:
        return f"H-{hours}"
    said = f"{hours} h {mins:02d}" if hours else f"{mins} min"
    return f"{said} before" if lang == "en" else f"{said} avant"


def month_name(month: int, lang: str = "fr") -> str:
    return MONTHS[lang if lang in MONTHS else "fr"][month - 1]
