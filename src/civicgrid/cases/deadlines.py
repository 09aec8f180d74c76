"""Deadlines of a case's current step and its light, on the working calendar or in natural hours."""

from __future__ import annotations

import threading
import time as _time
from datetime import datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicgrid.cases.calendar import WorkCalendar, YearOverride, parse_holiday_notice
from civicgrid.cases.models import Case, HolidayNotice
from civicgrid.cases.workflow import STEP_OF_STATE
from civicgrid.config import get_settings

_lock = threading.Lock()
_cached: tuple[Any, WorkCalendar] | None = None
_cached_at = [0.0]
CALENDAR_TTL_S = 60.0  # other processes see a newly loaded holiday notice within a minute


def forget_calendar() -> None:
    """Drop the process's calendar (a notice was loaded here, or a test changed the settings)."""
    global _cached
    with _lock:
        _cached = None


def _periods(spec: str) -> list[tuple[time, time]]:
    out = []
    for part in spec.split(","):
        a, b = part.strip().split("-")
        out.append((time.fromisoformat(a), time.fromisoformat(b)))
    return out


def calendar(session: Session) -> WorkCalendar:
    """The working calendar: the library's official years, plus notices an administrator loaded."""
    global _cached
    here = session.info.get("cg_calendar")
    if here is not None:  # one lookup per transaction
        return here
    with _lock:
        if _cached is not None and _time.monotonic() - _cached_at[0] < CALENDAR_TTL_S:
            session.info["cg_calendar"] = _cached[1]
            return _cached[1]
    rows = session.execute(select(HolidayNotice.year, HolidayNotice.loaded_at, HolidayNotice.text)).all()
    key = (get_settings().work_periods, tuple((y, str(at)) for y, at, _ in sorted(rows)))
    with _lock:
        if _cached is None or _cached[0] != key:
            overrides: dict[int, YearOverride] = {y: parse_holiday_notice(text, y) for y, _, text in rows}
            _cached = (key, WorkCalendar(periods=_periods(get_settings().work_periods), overrides=overrides))
        _cached_at[0] = _time.monotonic()
        session.info["cg_calendar"] = _cached[1]
        return _cached[1]


def step_hours(case: Case, step: str) -> float:
    limits = case.rules.get("time_limits", {})
    per = limits.get(case.urgency) or limits.get("normal") or {}
    return float(per.get(step, 0) or 0)


def start_step(case: Case, cal: WorkCalendar, at: datetime, *, step: str | None = None) -> None:
    """Start the time limit of the step the case's state implies (or `step`) at `at`."""
    step = step if step is not None else STEP_OF_STATE.get(case.state)
    case.step = step
    case.overdue = False
    case.warned = False
    if step is None:
        case.step_started_at = case.due_at = case.warn_at = None
        return
    hours = step_hours(case, step)
    mode = case.rules.get("hours_mode", "working")
    case.step_started_at = at
    case.due_at = cal.due(at, hours, mode)
    case.warn_at = cal.due(at, hours * get_settings().warn_share, mode)
    if step == "handle":
        case.handle_due_at = case.due_at


def extend(case: Case, cal: WorkCalendar, hours: float) -> None:
    """Push the running step's deadline (and the handling deadline) back by `hours` of its kind."""
    if case.due_at is None:
        return
    mode = case.rules.get("hours_mode", "working")
    case.due_at = cal.due(case.due_at, hours, mode)
    if case.step_started_at is not None:
        total = cal.elapsed(case.step_started_at, case.due_at, mode)
        case.warn_at = cal.due(case.step_started_at, total * get_settings().warn_share, mode)
    if case.step == "handle":
        case.handle_due_at = case.due_at
    case.overdue = False
    case.warned = False


def light(case: Case, now: datetime) -> str | None:
    """green / yellow / red for a running step; None when no deadline runs."""
    return None if case.closed else light_at(case.warn_at, case.due_at, now)


def light_at(warn_at: datetime | None, due_at: datetime | None, now: datetime) -> str | None:
    if due_at is None:
        return None
    if now >= due_at:
        return "red"
    if warn_at is not None and now >= warn_at:
        return "yellow"
    return "green"


LIGHT_LABELS = {"green": "正常", "yellow": "预警", "red": "超期"}


def load_holiday_notice(session: Session, actor, year: int, text: str, source: str = "") -> dict[str, Any]:
    """Store an administrator's copy of the State Council's holiday notice for `year` (replacing an older one)."""
    from civicgrid.access.policy import Action, require
    from civicgrid.access.service import audit
    from civicgrid import clock

    require(actor, Action.CALENDAR_MANAGE)
    notice = parse_holiday_notice(text, year)  # refuses a bad line, naming it
    row = session.get(HolidayNotice, year)
    if row is None:
        row = HolidayNotice(year=year, text=text, source=source)
        session.add(row)
    row.text, row.source, row.loaded_by, row.loaded_at = text, source, actor.user_id or None, clock.now()
    session.info.pop("cg_calendar", None)
    forget_calendar()
    audit(session, actor, "calendar.load", "holiday_notice", year,
          {"holidays": len(notice.holidays), "workdays": len(notice.workdays), "source": source})
    return {"year": year, "holidays": len(notice.holidays), "workdays": len(notice.workdays)}


def calendar_status(session: Session, years: list[int]) -> list[dict[str, Any]]:
    """For each year: where its working days come from (override / library / fallback) and a warning if guessed."""
    cal = calendar(session)
    out = []
    for y in years:
        src = cal.year_source(y)
        out.append({"year": y, "source": src,
                    "warning": "" if src != "fallback" else
                    f"{y} 年节假日安排尚未导入,暂按周末休息计算期限;请导入国务院办公厅通知"})
    return out
