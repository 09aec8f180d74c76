"""Periods of assessment: day, week, month, quarter, year or a custom range, with the ones to compare to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from civicgrid.errors import BadInput

KINDS = {"day": "日", "week": "周", "month": "月", "quarter": "季度", "year": "年", "custom": "自定义"}


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        s, e = self.start, self.end
        if self.kind == "day":
            return f"{s.year}年{s.month}月{s.day}日"
        if self.kind == "week":
            y, w, _ = s.isocalendar()
            return f"{y}年第{w}周"
        if self.kind == "month":
            return f"{s.year}年{s.month}月"
        if self.kind == "quarter":
            return f"{s.year}年第{(s.month - 1) // 3 + 1}季度"
        if self.kind == "year":
            return f"{s.year}年"
        return f"{s.isoformat()} 至 {e.isoformat()}"

    @property
    def value(self) -> str:
        s = self.start
        return {"day": s.isoformat(), "week": f"{s.isocalendar()[0]}-W{s.isocalendar()[1]:02d}",
                "month": f"{s.year}-{s.month:02d}", "quarter": f"{s.year}-Q{(s.month - 1) // 3 + 1}",
                "year": str(s.year)}.get(self.kind, f"{s.isoformat()}~{self.end.isoformat()}")

    def previous(self) -> Period:
        """The period just before (month over month for a month, the same length before for a custom range)."""
        if self.kind == "month":
            return month(self.start.year - (self.start.month == 1), 12 if self.start.month == 1 else self.start.month - 1)
        if self.kind == "quarter":
            m = self.start.month - 3
            y = self.start.year - (m < 1)
            return quarter(y, (m - 1) % 12 // 3 + 1)
        if self.kind == "year":
            return Period("year", date(self.start.year - 1, 1, 1), date(self.start.year - 1, 12, 31))
        return Period(self.kind, self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def year_before(self) -> Period:
        def back(d: date) -> date:
            return d.replace(year=d.year - 1) if not (d.month == 2 and d.day == 29) else date(d.year - 1, 2, 28)
        if self.kind == "month":
            return month(self.start.year - 1, self.start.month)
        if self.kind == "week":
            return Period("week", self.start - timedelta(weeks=52), self.end - timedelta(weeks=52))
        return Period(self.kind, back(self.start), back(self.end))


def month(y: int, m: int) -> Period:
    nxt = date(y + (m == 12), 1 if m == 12 else m + 1, 1)
    return Period("month", date(y, m, 1), nxt - timedelta(days=1))


def quarter(y: int, q: int) -> Period:
    start = date(y, 3 * (q - 1) + 1, 1)
    end = month(y, 3 * q).end
    return Period("quarter", start, end)


def _bad(value: str, kind: str) -> BadInput:
    return BadInput("invalid_period", f"时段格式不正确:{value}({KINDS.get(kind, kind)})",
                    f"Cannot read {value!r} as a {kind} period", extra={"field": "period"})


def parse(kind: str, value: str | None = None, date_from: date | str | None = None,
          date_to: date | str | None = None) -> Period:
    """Read a period: day 2026-10-03, week 2026-W40, month 2026-10, quarter 2026-Q3, year 2026, or custom
    with date_from/date_to (inclusive)."""
    if kind not in KINDS:
        raise BadInput("invalid_period_kind", f"时段类型应为:{'/'.join(KINDS.values())}",
                       f"period must be one of {', '.join(KINDS)}", extra={"field": "period"})
    if kind == "custom":
        try:
            a = date.fromisoformat(str(date_from)) if date_from else None
            b = date.fromisoformat(str(date_to)) if date_to else None
        except ValueError:
            raise _bad(f"{date_from}~{date_to}", kind) from None
        if a is None or b is None:
            raise BadInput("empty_period", "自定义时段需要开始和结束日期", "custom period needs date_from and date_to",
                           extra={"field": "date_from"})
        if b < a:
            raise BadInput("invalid_date_range", "结束日期早于开始日期", "date_to is before date_from",
                           extra={"field": "date_to"})
        if b - a > timedelta(days=3660):
            raise BadInput("period_too_long", "自定义时段不能超过十年", "custom period longer than ten years")
        return Period("custom", a, b)
    if not value:
        raise BadInput("empty_period", "请选择时段", f"a {kind} period needs a value", extra={"field": "value"})
    v = value.strip()
    try:
        if kind == "day":
            d = date.fromisoformat(v)
            return Period("day", d, d)
        if kind == "week":
            mt = re.fullmatch(r"(\d{4})-?W(\d{1,2})", v)
            if not mt:
                raise ValueError
            start = date.fromisocalendar(int(mt[1]), int(mt[2]), 1)
            return Period("week", start, start + timedelta(days=6))
        if kind == "month":
            mt = re.fullmatch(r"(\d{4})-(\d{1,2})", v)
            if not mt or not 1 <= int(mt[2]) <= 12:
                raise ValueError
            return month(int(mt[1]), int(mt[2]))
        if kind == "quarter":
            mt = re.fullmatch(r"(\d{4})-?Q([1-4])", v, re.I)
            if not mt:
                raise ValueError
            return quarter(int(mt[1]), int(mt[2]))
        if not re.fullmatch(r"\d{4}", v):
            raise ValueError
        return Period("year", date(int(v), 1, 1), date(int(v), 12, 31))
    except ValueError:
        raise _bad(v, kind) from None
