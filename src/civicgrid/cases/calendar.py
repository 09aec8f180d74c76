"""Case deadlines in natural hours or in working hours on the official PRC calendar.

Working days follow, in this order:

1. a `YearOverride` loaded by an administrator from the State Council's holiday notice
   (days off and make-up working days "调休" for one year);
2. the `chinese_calendar` library (knows 2004-2026 in version 1.11);
3. a fallback for years nobody knows: Monday-Friday are working days, weekends are off.
   The fallback never crashes; it logs a warning once per year and the year is reported by
   `WorkCalendar.unknown_years()` so the UI can ask an administrator to load the notice.

Working time is a list of daily periods in local wall-clock time (default 08:30-12:00 and
14:00-17:30, i.e. 7 working hours a day). Every datetime passed in must be timezone-aware; every
datetime returned is aware and in UTC. Working-hour arithmetic is done on local wall-clock time
(exact for Asia/Shanghai, which has no daylight saving time).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from civicgrid.errors import BadInput

log = logging.getLogger(__name__)

DEFAULT_PERIODS: list[tuple[time, time]] = [(time(8, 30), time(12, 0)), (time(14, 0), time(17, 30))]
MODES = ("working", "natural")
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)

_HOLIDAY_TYPES = {"休": "holiday", "holiday": "holiday", "off": "holiday",
                  "班": "workday", "workday": "workday", "work": "workday"}
_DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")


@dataclass(frozen=True)
class YearOverride:
    """An administrator-loaded official notice for one year: days off and make-up working days.

    Days listed in neither set follow the weekend rule (Monday-Friday work, weekends off).
    """

    year: int
    holidays: frozenset[date] = field(default_factory=frozenset)  # days off (incl. weekdays of holiday blocks)
    workdays: frozenset[date] = field(default_factory=frozenset)  # make-up working days that fall on a weekend
    source: str = ""  # e.g. "国务院办公厅关于2027年部分节假日安排的通知"

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        outside = sorted(d for d in self.holidays | self.workdays if d.year != self.year)
        if outside:
            raise ValueError(f"dates outside {self.year}: {', '.join(map(str, outside))}")
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValueError(f"dates both holiday and workday: {', '.join(map(str, both))}")


def _notice_error(line_no: int, zh: str, en: str) -> BadInput:
    return BadInput("invalid_holiday_notice", f"节假日通知第 {line_no} 行:{zh}", f"line {line_no}: {en}")


def parse_holiday_notice(text: str, year: int, *, source: str = "") -> YearOverride:
    """Parse a holiday notice for `year` from CSV text into a `YearOverride`.

    Format: an optional header ``date,type``, then one ``date,type[,note]`` line per day. Dates are
    ``YYYY-MM-DD`` or ``YYYY/MM/DD``; type is ``休``/``holiday``/``off`` (a day off) or
    ``班``/``workday``/``work`` (a make-up working day). Blank lines and ``#`` comments are ignored.
    Raises `BadInput("invalid_holiday_notice", ...)` naming the (1-based) line of the first problem;
    a notice without any date is rejected too. `source` is stored on the result (the notice's title).
    """
    holidays: dict[date, int] = {}
    workdays: dict[date, int] = {}
    seen_first = False  # the header, when present, is the first meaningful line
    for line_no, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split(",")]
        if not seen_first and [c.lower() for c in cells[:2]] == ["date", "type"]:
            seen_first = True
            continue
        seen_first = True
        if len(cells) < 2:
            raise _notice_error(line_no, f"“{line}”缺少类型列,应为“日期,类型”",
                                f"expected 'date,type', got {line!r}")
        m = _DATE_RE.match(cells[0])
        try:
            day = date(int(m[1]), int(m[2]), int(m[3])) if m else None
        except ValueError:
            day = None
        if day is None:
            raise _notice_error(line_no, f"日期“{cells[0]}”无效,应为 YYYY-MM-DD",
                                f"invalid date {cells[0]!r}, expected YYYY-MM-DD")
        if day.year != year:
            raise _notice_error(line_no, f"日期 {day} 不属于 {year} 年", f"date {day} is not in {year}")
        kind = _HOLIDAY_TYPES.get(cells[1].lower())
        if kind is None:
            raise _notice_error(line_no, f"类型“{cells[1]}”无法识别,应为“休”或“班”",
                                f"unknown type {cells[1]!r}, expected 休/holiday/off or 班/workday/work")
        mine, other = (holidays, workdays) if kind == "holiday" else (workdays, holidays)
        if day in other:
            raise _notice_error(line_no, f"日期 {day} 与第 {other[day]} 行矛盾(既休又班)",
                                f"date {day} contradicts line {other[day]} (both holiday and workday)")
        mine.setdefault(day, line_no)
    if not holidays and not workdays:
        raise BadInput("invalid_holiday_notice", f"节假日通知中没有任何 {year} 年的日期",
                       f"the notice lists no dates for {year}")
    return YearOverride(year, frozenset(holidays), frozenset(workdays), source=source)


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


def _require_hours(hours: float) -> timedelta:
    if not math.isfinite(hours) or hours < 0:
        raise ValueError(f"hours must be a finite number >= 0, got {hours!r}")
    return timedelta(hours=hours)


class WorkCalendar:
    """Working days and working hours; see the module docstring for the rules."""

    def __init__(self, *, periods: list[tuple[time, time]] | None = None,
                 overrides: dict[int, YearOverride] | None = None,
                 tz: str = "Asia/Shanghai") -> None:
        try:
            self.tz = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {tz!r}") from exc
        self.periods = self._check_periods(DEFAULT_PERIODS if periods is None else periods)
        self.day_length = sum((self._span(s, e) for s, e in self.periods), timedelta())
        self._overrides: dict[int, YearOverride] = {}
        self._library_years: dict[int, bool] = {}  # year -> does chinese_calendar know it
        self._library_days: dict[date, bool] = {}  # cache: the library validates each date slowly
        self._unknown: set[int] = set()
        for key, override in (overrides or {}).items():
            if key != override.year:
                raise ValueError(f"override for {override.year} filed under {key}")
            self.add_override(override)

    @staticmethod
    def _span(start: time, end: time) -> timedelta:
        return datetime.combine(date.min, end) - datetime.combine(date.min, start)

    @staticmethod
    def _check_periods(periods: list[tuple[time, time]]) -> list[tuple[time, time]]:
        if not periods:
            raise ValueError("at least one working period is required")
        previous_end: time | None = None
        for period in periods:
            if len(period) != 2 or not all(isinstance(t, time) for t in period):
                raise ValueError(f"a working period is a (time, time) pair, got {period!r}")
            start, end = period
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("working periods are local wall-clock times without tzinfo")
            if start >= end:
                raise ValueError(f"working period {start}-{end} does not end after it starts")
            if previous_end is not None and start < previous_end:
                raise ValueError(f"working period {start}-{end} overlaps or is out of order")
            previous_end = end
        return [(s, e) for s, e in periods]

    # -- calendar ---------------------------------------------------------------------------

    def add_override(self, override: YearOverride) -> None:
        """Load (or replace) an official notice for one year; it wins over the library and fallback.

        The year is removed from `unknown_years()`: deadlines computed earlier with the weekend
        fallback for that year should be recomputed by the caller.
        """
        self._overrides[override.year] = override
        self._unknown.discard(override.year)

    def _library_knows(self, year: int) -> bool:
        known = self._library_years.get(year)
        if known is None:
            try:
                chinese_calendar.is_workday(date(year, 1, 1))
                known = True
            except NotImplementedError:
                known = False
            self._library_years[year] = known
        return known

    def is_workday(self, d: date) -> bool:
        """Whether `d` is a working day: override, then chinese_calendar, then the weekend fallback."""
        if isinstance(d, datetime):
            d = d.date()
        override = self._overrides.get(d.year)
        if override is not None:
            if d in override.holidays:
                return False
            return d in override.workdays or d.weekday() < 5
        if self._library_knows(d.year):
            known = self._library_days.get(d)
            if known is None:
                known = self._library_days[d] = chinese_calendar.is_workday(d)
            return known
        if d.year not in self._unknown:
            self._unknown.add(d.year)
            log.warning("no official holiday calendar for %s: weekends-only fallback used", d.year,
                        extra={"year": d.year})
        return d.weekday() < 5

    def unknown_years(self) -> set[int]:
        """Years for which the weekend fallback was used so far (and no override loaded since)."""
        return set(self._unknown)

    def year_source(self, year: int) -> str:
        """Where working days of `year` come from: "override", "library" or "fallback"."""
        if year in self._overrides:
            return "override"
        return "library" if self._library_knows(year) else "fallback"

    def warnings(self) -> list[dict[str, str]]:
        """User-facing warnings (code, Chinese message, English detail) about unknown years."""
        return [{"code": "holiday_calendar_missing",
                 "message": f"{y} 年法定节假日安排尚未导入,期限暂按周末休息计算,请管理员导入国务院通知",
                 "detail": f"no holiday notice for {y}; deadlines assume Monday-Friday working days"}
                for y in sorted(self._unknown)]

    # -- working hours ----------------------------------------------------------------------

    def _local(self, value: datetime) -> datetime:
        """Aware datetime -> naive local wall-clock time."""
        return value.astimezone(self.tz).replace(tzinfo=None)

    def _utc(self, local: datetime) -> datetime:
        """Naive local wall-clock time -> aware UTC datetime."""
        return local.replace(tzinfo=self.tz).astimezone(timezone.utc)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` working hours after `start` (aware UTC).

        Counting starts at `start` if it is working time, else at the next working period's start;
        a deadline that ends exactly at a period's end stays there. `hours` is rounded to whole
        microseconds, so 0 (or under half a microsecond) returns `start` unmoved. Whole working
        days are skipped in one step, so long spans cost one cheap iteration per calendar day.
        """
        _require_aware(start, "start")
        remaining = _require_hours(hours)
        if not remaining:
            return start.astimezone(timezone.utc)
        cursor = self._local(start)
        day = cursor.date()
        first_start = self.periods[0][0]
        while True:
            if self.is_workday(day):
                if remaining > self.day_length and cursor <= datetime.combine(day, first_start):
                    remaining -= self.day_length  # the whole day is used up
                else:
                    for p_start, p_end in self.periods:
                        begin = max(cursor, datetime.combine(day, p_start))
                        end = datetime.combine(day, p_end)
                        if begin >= end:
                            continue
                        if remaining <= end - begin:
                            return self._utc(begin + remaining)
                        remaining -= end - begin
            day += _DAY
            cursor = datetime.combine(day, time.min)

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours elapsed from `a` to `b` (0 if `b <= a`); the inverse of `add_working_hours`."""
        _require_aware(a, "a")
        _require_aware(b, "b")
        if b <= a:
            return 0.0
        lo, hi = self._local(a), self._local(b)
        total = timedelta()
        day = lo.date()
        while day <= hi.date():
            if self.is_workday(day):
                if lo <= datetime.combine(day, self.periods[0][0]) and hi >= datetime.combine(day, self.periods[-1][1]):
                    total += self.day_length
                else:
                    for p_start, p_end in self.periods:
                        begin = max(lo, datetime.combine(day, p_start))
                        end = min(hi, datetime.combine(day, p_end))
                        if begin < end:
                            total += end - begin
            day += _DAY
        return total / _HOUR

    # -- natural hours and dispatch ---------------------------------------------------------

    def add_natural_hours(self, start: datetime, hours: float) -> datetime:
        """`start` plus `hours` of elapsed (natural) time, as an aware UTC datetime."""
        _require_aware(start, "start")
        return start.astimezone(timezone.utc) + _require_hours(hours)

    def due(self, start: datetime, hours: float, mode: str) -> datetime:
        """Deadline `hours` after `start`, counted in "working" or "natural" hours."""
        if mode == "working":
            return self.add_working_hours(start, hours)
        if mode == "natural":
            return self.add_natural_hours(start, hours)
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    def elapsed(self, a: datetime, b: datetime, mode: str) -> float:
        """Hours from `a` to `b` (0 if `b <= a`), counted in "working" or "natural" hours."""
        if mode == "working":
            return self.working_hours_between(a, b)
        if mode == "natural":
            _require_aware(a, "a")
            _require_aware(b, "b")
            return max(0.0, (b - a) / _HOUR)
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
