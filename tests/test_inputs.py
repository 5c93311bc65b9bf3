"""bot.inputs: the one checker of typed values (numbers, text, durations, dates, recurrence rules)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from bot import inputs
from bot.inputs import InputError


@pytest.mark.parametrize("text", ["²", "١", "１", "-1", "0", "1.5", "1e3", "", "abc", "9" * 20, "9" * 5000, str(2**63)])
def test_numbers_refused_with_one_clear_error(text: str) -> None:
    with pytest.raises(InputError) as info:
        inputs.parse_number(text)
    assert info.value.key in ("input.bad_number", "input.number_range")
    assert inputs.maybe_number(text) is None


def test_numbers_accepted() -> None:
    assert inputs.parse_number("12") == 12
    assert inputs.parse_number(" n°7 ") == 7 and inputs.parse_number("#3") == 3
    assert inputs.parse_number(str(2**63 - 1)) == 2**63 - 1
    assert inputs.parse_number("0", low=0) == 0
    with pytest.raises(InputError, match="entre 1 et 5"):
        inputs.parse_number("6", high=5)


def test_controls_surrogates_and_bidi_are_stripped() -> None:
    assert inputs.strip_controls("a\x00b\ud800c\u202ed\u2066e\u2069\x1bf\ng\th") == "abcdef\ng\th"


@pytest.mark.parametrize("text", ["\x00", "\u200b\u200b", "\u0301\u0301\u0301", " \t\u3000", "\u202e", "\ufeff\u2060"])
def test_blank_looking_text_is_refused(text: str) -> None:
    assert inputs.is_blank(inputs.strip_controls(text))
    with pytest.raises(InputError) as info:
        inputs.clean_text(text, max_length=100, what="question")
    assert info.value.key == "input.blank"


def test_clean_text_keeps_readable_text_and_bounds_its_length() -> None:
    assert inputs.clean_text("  Ça  marche\u202e ?  ", max_length=50) == "Ça marche ?"
    assert inputs.clean_text("é\u0301", max_length=5) == "é\u0301"  # a mark on a letter is readable
    with pytest.raises(InputError, match="trop long"):
        inputs.clean_text("x" * 11, max_length=10)


@pytest.mark.parametrize("text", ["9999999999j", "99999999999h", "abc", "1²j", "-1j", "7 semaines", "30 2h"])
def test_durations_refused(text: str) -> None:
    with pytest.raises(InputError):
        inputs.parse_duration(text)


def test_durations_accepted_within_bounds() -> None:
    assert inputs.parse_duration("7j") == timedelta(days=7) == inputs.parse_duration("7D")
    assert inputs.parse_duration("30min") == timedelta(minutes=30)
    with pytest.raises(InputError, match="entre 1 j et 30 j"):
        inputs.parse_duration("31j", low=timedelta(days=1), high=timedelta(days=30))


NOW = datetime(2026, 11, 20, 9, 0)


def test_dates_in_the_past_or_beyond_the_horizon_are_refused() -> None:
    with pytest.raises(InputError, match="déjà passée"):
        inputs.check_future(NOW - timedelta(minutes=1), NOW)
    with pytest.raises(InputError, match="trop lointaine"):
        inputs.check_future(NOW + timedelta(days=inputs.HORIZON_DAYS + 1), NOW)
    assert inputs.check_future(NOW + timedelta(days=30), NOW)


START = datetime(2026, 12, 3, 18, 30)


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ("FREQ=SECONDLY", "input.rrule_too_frequent"),
        ("FREQ=MINUTELY", "input.rrule_too_frequent"),
        ("FREQ=HOURLY", "input.rrule_too_frequent"),
        ("FREQ=DAILY;INTERVAL=0", "input.number_range"),
        ("FREQ=DAILY;INTERVAL=-1", "input.bad_number"),
        ("FREQ=DAILY", "input.rrule_too_many"),
        ("FREQ=WEEKLY;BYHOUR=1,2", "input.rrule_time_parts"),
        ("FREQ=WEEKLY;BYMINUTE=5", "input.rrule_time_parts"),
        ("FREQ=WEEKLY\nDTSTART:99990101T000000", "input.rrule_syntax"),
        ("FREQ=WEEKLY;UNTIL=20200101T000000", "input.rrule_empty"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "input.rrule_empty"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31", "input.rrule_empty"),
        ("FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31", "input.rrule_empty"),
        ("FREQ=MONTHLY;INTERVAL=12;BYMONTH=3", "input.rrule_empty"),
        ("FREQ=DAILY;INTERVAL=7;BYDAY=MO", "input.rrule_empty"),  # the start is a Thursday
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=9", "input.rrule_part"),
        ("FREQ=WEEKLY;COUNT=99999999999999999999", "input.bad_number"),
        ("FREQ=WEEKLY;X-NAME=1", "input.rrule_part"),
        ("FREQ=²", "input.rrule_syntax"),
        ("FREQ=WEEKLY;;BYDAY=TU", "input.rrule_syntax"),
        ("BYDAY=TU", "input.rrule_syntax"),
    ],
)
def test_rrules_refused_quickly(rule: str, key: str) -> None:
    began = time.process_time()
    with pytest.raises(InputError) as info:
        inputs.check_rrule(rule, START, NOW)
    assert info.value.key == key
    assert time.process_time() - began < 5  # a guard against a hang, not a speed test (bench/ measures)


@pytest.mark.parametrize(
    ("rule", "count"),
    [
        ("FREQ=MONTHLY;BYDAY=1TH;BYMONTH=10,11,12,1,2,3,4", 14),
        ("RRULE:FREQ=WEEKLY;BYDAY=TU", 104),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH", 104),
        ("FREQ=DAILY;COUNT=10", 10),
        ("FREQ=MONTHLY;BYDAY=-1FR", 24),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", 1),  # 2028 is a leap year
        ("FREQ=MONTHLY;BYMONTHDAY=31", 14),
        ("FREQ=DAILY;INTERVAL=7", 104),
    ],
)
def test_rrules_accepted_with_their_occurrences(rule: str, count: int) -> None:
    normal, found = inputs.check_rrule(rule, START, NOW)
    assert not normal.startswith("RRULE:")
    assert abs(len(found) - count) <= 1, (rule, len(found))
    assert all(START <= when <= START + timedelta(days=inputs.HORIZON_DAYS) for when in found)


def test_rrule_start_beyond_the_horizon_or_the_calendar() -> None:
    with pytest.raises(InputError, match="trop lointaine"):
        inputs.check_rrule("FREQ=WEEKLY", datetime(2031, 1, 1, 18, 0), NOW)
    with pytest.raises(InputError, match="hors limites"):
        inputs.check_rrule("FREQ=WEEKLY", datetime(9999, 1, 1, 18, 0), NOW)


def test_input_error_reads_as_one_french_line() -> None:
    error = InputError("input.rrule_too_many", limit=120, years=2)
    assert str(error).startswith("Cette récurrence donnerait plus de 120 séances")
    assert "\n" not in str(error) and "<" not in str(error)
