"""The one clock: timezone-aware now(), movable by tests and the demo generator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

_frozen: datetime | None = None


def now() -> datetime:
    """Current time, timezone-aware (UTC)."""
    return _frozen if _frozen is not None else datetime.now(timezone.utc)


def today() -> date:
    """Today's date in China (UTC+8), the calendar users live by."""
    return now().astimezone(CHINA_TZ).date()


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Freeze the clock at `at` inside the block."""
    global _frozen
    old, _frozen = _frozen, at
    try:
        yield
    finally:
        _frozen = old


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: read them as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)
