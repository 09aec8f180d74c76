"""Deadlines in working hours on the PRC calendar (civicgrid.cases.calendar)."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from civicgrid.cases import calendar as calmod
from civicgrid.cases.calendar import WorkCalendar, YearOverride, parse_holiday_notice
from civicgrid.errors import BadInput

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc

# TEST DATA, made up for these tests: NOT the State Council's real 2027 notice.
FAKE_2027_NOTICE = """\
# TEST DATA - invented holiday notice for 2027, not official
date,type
2027-01-01,休,New Year (test data)
2027/01/09,班
2027-10-01,holiday
2027-10-04,off
2027-10-05,休
2027-10-09,workday
"""


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def in_local(value: datetime) -> datetime:
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
    return value.astimezone(SH)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


# -- hand-checked examples -------------------------------------------------------------------

def test_default_day_is_seven_hours(cal: WorkCalendar) -> None:
    assert cal.day_length == timedelta(hours=7)
    assert cal.add_working_hours(local(2026, 6, 3, 8, 30), 7) == local(2026, 6, 3, 17, 30).astimezone(UTC)


def test_friday_afternoon_plus_eight_hours_lands_monday_afternoon(cal: WorkCalendar) -> None:
    # Fri 2026-06-05 16:00: 1.5 h on Friday, weekend off, Mon 08:30-12:00 (3.5 h), lunch skipped,
    # 14:00 + 3 h = 17:00 on Monday 2026-06-08.
    assert not chinese_calendar.is_workday(date(2026, 6, 6))
    due = cal.add_working_hours(local(2026, 6, 5, 16, 0), 8)
    assert due.tzinfo == UTC
    assert in_local(due) == local(2026, 6, 8, 17, 0)
    # Same at an odd minute, and with the start given in UTC: 16:20 + 8 h -> Monday 17:20 local.
    due = cal.add_working_hours(datetime(2026, 6, 5, 8, 20, tzinfo=UTC), 8)
    assert due == datetime(2026, 6, 8, 9, 20, tzinfo=UTC)
    assert cal.working_hours_between(local(2026, 6, 5, 16, 20), due) == pytest.approx(8)


def test_outside_working_time_starts_at_next_period(cal: WorkCalendar) -> None:
    assert in_local(cal.add_working_hours(local(2026, 6, 6, 10, 0), 1)) == local(2026, 6, 8, 9, 30)  # Saturday
    assert in_local(cal.add_working_hours(local(2026, 6, 3, 12, 30), 1)) == local(2026, 6, 3, 15, 0)  # lunch
    assert in_local(cal.add_working_hours(local(2026, 6, 3, 6, 0), 0.5)) == local(2026, 6, 3, 9, 0)  # early
    assert in_local(cal.add_working_hours(local(2026, 6, 3, 11, 30), 1)) == local(2026, 6, 3, 14, 30)
    # A deadline ending exactly at a period's end stays there (not moved to the next start).
    assert in_local(cal.add_working_hours(local(2026, 6, 3, 8, 30), 3.5)) == local(2026, 6, 3, 12, 0)


def test_zero_hours_returns_start_in_utc_unmoved(cal: WorkCalendar) -> None:
    saturday_night = local(2026, 6, 6, 23, 0)
    assert cal.add_working_hours(saturday_night, 0) == saturday_night
    assert cal.add_working_hours(saturday_night, 0).tzinfo == UTC


def test_national_day_2026_block_is_skipped(cal: WorkCalendar) -> None:
    # Look the real block up in the library rather than guessing it.
    block = [d for d in (date(2026, 10, 1) + timedelta(i) for i in range(10)) if not chinese_calendar.is_workday(d)]
    assert date(2026, 10, 1) in block and len(block) >= 7
    assert chinese_calendar.is_workday(date(2026, 9, 30))
    first_back = next(d for d in (date(2026, 10, 1) + timedelta(i) for i in range(15)) if chinese_calendar.is_workday(d))
    assert all(not cal.is_workday(date(2026, 10, 1) + timedelta(i)) for i in range((first_back - date(2026, 10, 1)).days))
    # Wed 30 Sep 17:00 + 1 h: half an hour before the holiday, half an hour after it.
    due = cal.add_working_hours(local(2026, 9, 30, 17, 0), 1)
    assert in_local(due) == datetime.combine(first_back, time(9, 0), tzinfo=SH)
    assert cal.working_hours_between(local(2026, 9, 30, 17, 30), datetime.combine(first_back, time(8, 30), tzinfo=SH)) == 0
    assert cal.year_source(2026) == "library" and cal.unknown_years() == set()


def test_make_up_working_days_around_national_day_count(cal: WorkCalendar) -> None:
    weekends = [d for d in (date(2026, 9, 1) + timedelta(i) for i in range(61)) if d.weekday() >= 5]
    make_up = [d for d in weekends if chinese_calendar.is_workday(d)]
    assert make_up, "the library lists make-up working days around 2026 National Day"
    for d in make_up:
        assert cal.is_workday(d)
        day_start = datetime.combine(d, time.min, tzinfo=SH)
        assert cal.working_hours_between(day_start, day_start + timedelta(days=1)) == pytest.approx(7)
    # Hand-checked: Sat 2026-10-10 is a make-up day, so Fri 10-09 16:00 + 8 h ends Sat 17:00.
    assert date(2026, 10, 10) in make_up
    assert in_local(cal.add_working_hours(local(2026, 10, 9, 16, 0), 8)) == local(2026, 10, 10, 17, 0)


# -- unknown years and overrides ---------------------------------------------------------------

def test_unknown_year_falls_back_to_weekends_and_warns(cal: WorkCalendar) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    calmod.log.addHandler(handler)
    try:
        with pytest.raises(NotImplementedError):
            chinese_calendar.is_workday(date(2027, 1, 4))  # the library really does not know 2027
        assert cal.year_source(2027) == "fallback" and cal.unknown_years() == set()
        # Thu 2026-12-31 17:00 + 1 h: Fri 2027-01-01 counts as a working day under the fallback.
        due = cal.add_working_hours(local(2026, 12, 31, 17, 0), 1)
        assert in_local(due) == local(2027, 1, 1, 9, 0)
        assert not cal.is_workday(date(2027, 1, 2)) and cal.is_workday(date(2027, 1, 4))
        assert cal.unknown_years() == {2027}
        assert [w["code"] for w in cal.warnings()] == ["holiday_calendar_missing"]
        cal.add_working_hours(local(2027, 3, 1, 9, 0), 100)  # warns once per year, not once per day
    finally:
        calmod.log.removeHandler(handler)
    assert [r.levelno for r in records] == [logging.WARNING]


def test_override_for_2027_is_honoured() -> None:
    notice = parse_holiday_notice(FAKE_2027_NOTICE, 2027, source="TEST DATA")
    cal = WorkCalendar(overrides={2027: notice})
    assert cal.year_source(2027) == "override" and cal.year_source(2026) == "library"
    assert not cal.is_workday(date(2027, 1, 1))  # Friday, day off in the notice
    assert cal.is_workday(date(2027, 1, 9))  # Saturday, make-up day in the notice
    assert not cal.is_workday(date(2027, 1, 10))  # unlisted Sunday: weekend rule
    # Thu 2026-12-31 17:00 + 1 h now skips New Year and the weekend: Mon 2027-01-04 09:00.
    assert in_local(cal.add_working_hours(local(2026, 12, 31, 17, 0), 1)) == local(2027, 1, 4, 9, 0)
    # Fri 2027-01-08 17:00 + 1 h: Saturday 01-09 is a make-up working day.
    assert in_local(cal.add_working_hours(local(2027, 1, 8, 17, 0), 1)) == local(2027, 1, 9, 9, 0)
    assert cal.unknown_years() == set()


def test_override_loaded_later_clears_unknown_year(cal: WorkCalendar) -> None:
    assert cal.is_workday(date(2027, 1, 1))
    assert cal.unknown_years() == {2027}
    cal.add_override(parse_holiday_notice(FAKE_2027_NOTICE, 2027))
    assert not cal.is_workday(date(2027, 1, 1))
    assert cal.unknown_years() == set() and cal.year_source(2027) == "override"


def test_override_validation() -> None:
    with pytest.raises(ValueError):
        YearOverride(2027, frozenset({date(2026, 1, 1)}), frozenset())
    with pytest.raises(ValueError):
        YearOverride(2027, frozenset({date(2027, 1, 9)}), frozenset({date(2027, 1, 9)}))
    with pytest.raises(ValueError):
        WorkCalendar(overrides={2028: YearOverride(2027, frozenset(), frozenset())})


# -- parse_holiday_notice ------------------------------------------------------------------------

def test_parse_good_notice() -> None:
    ov = parse_holiday_notice(FAKE_2027_NOTICE, 2027)
    assert ov.year == 2027
    assert ov.holidays == {date(2027, 1, 1), date(2027, 10, 1), date(2027, 10, 4), date(2027, 10, 5)}
    assert ov.workdays == {date(2027, 1, 9), date(2027, 10, 9)}
    # Header optional, BOM and blank lines tolerated.
    assert parse_holiday_notice("\ufeff\n2027-05-03,休\n", 2027).holidays == {date(2027, 5, 3)}


def _bad(text: str, year: int = 2027) -> BadInput:
    with pytest.raises(BadInput) as info:
        parse_holiday_notice(text, year)
    assert info.value.code == "invalid_holiday_notice"
    return info.value


def test_parse_bad_date_names_the_line() -> None:
    err = _bad("date,type\n2027-01-01,休\n\n2027-02-30,休\n")
    assert "第 4 行" in err.message_zh and "line 4" in err.detail
    err = _bad("date,type\n01/02/2027,班\n")
    assert "第 2 行" in err.message_zh and "01/02/2027" in err.message_zh


def test_parse_date_of_another_year() -> None:
    err = _bad("date,type\n# comment\n2026-10-01,休\n")
    assert "第 3 行" in err.message_zh and "2027" in err.message_zh and "2026-10-01" in err.detail


def test_parse_unknown_type_and_other_mistakes() -> None:
    err = _bad("date,type\n2027-10-01,假\n")
    assert "第 2 行" in err.message_zh and "假" in err.message_zh
    assert "line 2" in _bad("date,type\n2027-10-01\n").detail  # missing type column
    err = _bad("2027-10-01,休\n2027-10-01,班\n")  # contradiction, no header
    assert "line 2" in err.detail and "line 1" in err.detail
    _bad("date,type\n# nothing else\n")  # no dates at all


# -- validation ------------------------------------------------------------------------------------

def test_naive_datetimes_and_bad_arguments_are_rejected(cal: WorkCalendar) -> None:
    naive = datetime(2026, 6, 5, 16, 0)
    aware = local(2026, 6, 5, 16, 0)
    for call in (lambda: cal.add_working_hours(naive, 1), lambda: cal.add_natural_hours(naive, 1),
                 lambda: cal.working_hours_between(naive, aware), lambda: cal.working_hours_between(aware, naive),
                 lambda: cal.elapsed(aware, naive, "natural"), lambda: cal.add_working_hours(aware, -1),
                 lambda: cal.add_working_hours(aware, float("nan")), lambda: cal.add_natural_hours(aware, -0.5),
                 lambda: cal.due(aware, 1, "calendar"), lambda: cal.elapsed(aware, aware, "days")):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize("periods", [
    [],
    [(time(12, 0), time(9, 0))],
    [(time(9, 0), time(9, 0))],
    [(time(14, 0), time(17, 0)), (time(9, 0), time(12, 0))],
    [(time(9, 0), time(13, 0)), (time(12, 0), time(17, 0))],
    [(time(9, 0, tzinfo=UTC), time(12, 0))],
])
def test_bad_periods_are_rejected(periods: list[tuple[time, time]]) -> None:
    with pytest.raises(ValueError):
        WorkCalendar(periods=periods)


def test_bad_time_zone_is_rejected() -> None:
    with pytest.raises(ValueError):
        WorkCalendar(tz="Mars/Olympus_Mons")


def test_due_and_elapsed_dispatch(cal: WorkCalendar) -> None:
    start = local(2026, 6, 5, 16, 0)
    assert cal.due(start, 8, "working") == cal.add_working_hours(start, 8)
    assert cal.due(start, 8, "natural") == datetime(2026, 6, 5, 16, 0, tzinfo=UTC)
    assert cal.elapsed(start, start + timedelta(days=3), "natural") == 72
    # Fri 16:00 -> Mon 16:00: Friday 1.5 h + Monday 3.5 h + 2 h.
    assert cal.elapsed(start, start + timedelta(days=3), "working") == pytest.approx(7)
    assert cal.elapsed(start, start - timedelta(hours=1), "natural") == 0
    assert cal.elapsed(start, start - timedelta(hours=1), "working") == 0


def test_many_long_deadlines(cal: WorkCalendar) -> None:
    # 1,000 deadlines of 160 working hours (~23 working days): whole days are skipped in one step.
    start = local(2026, 1, 5, 9, 17)
    for i in range(1000):
        s = start + timedelta(hours=7 * i)
        due = cal.add_working_hours(s, 160)
        assert due > s
    assert cal.working_hours_between(s, due) == pytest.approx(160)


# -- properties --------------------------------------------------------------------------------------

CALENDARS = [
    WorkCalendar(),
    WorkCalendar(overrides={2027: parse_holiday_notice(FAKE_2027_NOTICE, 2027)}),
    WorkCalendar(periods=[(time(9, 0), time(12, 0)), (time(12, 0), time(12, 45)), (time(13, 30), time(18, 0))]),
    WorkCalendar(periods=[(time(0, 0), time(23, 59, 59, 999999))]),
]
ZONES = [UTC, SH, ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin"), timezone(timedelta(hours=-3, minutes=-30))]

starts = st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2027, 12, 31),
                      timezones=st.sampled_from(ZONES))
hours = st.one_of(st.floats(min_value=0, max_value=400, allow_nan=False, allow_infinity=False),
                  st.integers(min_value=0, max_value=400).map(float),
                  st.sampled_from([0.5, 3.5, 7.0, 8.0, 14.0, 160.0]))
calendars = st.sampled_from(CALENDARS)


@settings(max_examples=300, deadline=None)
@given(calendars, starts, hours, hours)
def test_more_hours_never_gives_an_earlier_deadline(cal: WorkCalendar, start: datetime, h1: float, h2: float) -> None:
    lo, hi = sorted((h1, h2))
    assert cal.add_working_hours(start, lo) <= cal.add_working_hours(start, hi)


@settings(max_examples=300, deadline=None)
@given(calendars, starts, hours)
def test_working_hours_between_inverts_add(cal: WorkCalendar, start: datetime, h: float) -> None:
    due = cal.add_working_hours(start, h)
    assert abs(cal.working_hours_between(start, due) - h) < 1e-6
    assert cal.elapsed(start, due, "working") == cal.working_hours_between(start, due)


@settings(max_examples=300, deadline=None)
@given(calendars, starts, hours)
@example(CALENDARS[0], datetime(2025, 10, 26, 2, 0, tzinfo=ZoneInfo("Europe/Berlin")), 0.0)  # a DST fold, found by CI
def test_deadline_is_inside_a_working_period_or_at_its_end(cal: WorkCalendar, start: datetime, h: float) -> None:
    due = cal.add_working_hours(start, h)
    assert due.tzinfo == UTC and due >= start
    if timedelta(hours=h) == timedelta(0):  # zero (or below one microsecond): not moved
        # compared in UTC: Python's inter-zone == is always False inside a DST fold (PEP 495)
        assert due == start.astimezone(UTC)
        return
    wall = due.astimezone(cal.tz).replace(tzinfo=None)
    day = wall.date()
    assert cal.is_workday(day)
    assert any(datetime.combine(day, s) < wall <= datetime.combine(day, e) for s, e in cal.periods)


@settings(max_examples=200, deadline=None)
@given(starts, st.floats(min_value=0, max_value=10_000, allow_nan=False))
def test_natural_hours_are_plain_timedelta_arithmetic(start: datetime, h: float) -> None:
    cal = CALENDARS[0]
    due = cal.add_natural_hours(start, h)
    # Elapsed time, not wall-clock: across a DST change in New York the local clock shifts.
    assert due == start.astimezone(UTC) + timedelta(hours=h)
    assert due - start == timedelta(hours=h)
    assert due.tzinfo == UTC
    assert cal.due(start, h, "natural") == due
    assert abs(cal.elapsed(start, due, "natural") - h) < 1e-6
