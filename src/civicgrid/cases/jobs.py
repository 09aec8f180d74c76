"""Periodic work on cases: the deadline sweep (due soon, overdue, automatic escalation).

The sweep is idempotent: a case is warned once and marked overdue once per step (flags on the case, reset
when a new step starts), so running it twice, or in two processes at once, changes nothing the second
time. Each case is handled in its own savepoint; a concurrent change to the same case (version conflict)
skips it until the next run.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from civicgrid import clock
from civicgrid.cases import deadlines, engine
from civicgrid.cases.models import Case

log = logging.getLogger("civicgrid.sweep")
ESCALATE_FROM = ("reported", "accepted", "returned")  # at a command centre (not with a department)


def sweep(session: Session, *, now: datetime | None = None, batch: int = 2000) -> dict[str, int]:
    """Warn cases whose light turned yellow, mark and report overdue ones, escalate where the catalogue says."""
    now = now or clock.now()
    out = {"due_soon": 0, "overdue": 0, "escalated": 0, "skipped": 0}
    soon = session.scalars(select(Case).where(
        Case.closed.is_(False), Case.warned.is_(False), Case.warn_at.is_not(None), Case.warn_at <= now,
        Case.due_at > now).limit(batch)).all()
    for case in soon:
        if _one(session, case, lambda c: _due_soon(session, c)):
            out["due_soon"] += 1
        else:
            out["skipped"] += 1
    late = session.scalars(select(Case).where(
        and_(Case.closed.is_(False), Case.overdue.is_(False), Case.due_at.is_not(None), Case.due_at <= now))
        .limit(batch)).all()
    for case in late:
        result: dict[str, Any] = {}
        if _one(session, case, lambda c: result.update(_overdue(session, c, now))):
            out["overdue"] += 1
            out["escalated"] += int(bool(result.get("escalated")))
        else:
            out["skipped"] += 1
    return out


def _one(session: Session, case: Case, fn) -> bool:
    try:
        with session.begin_nested():
            fn(case)
            session.flush()
        return True
    except StaleDataError:
        session.expire(case)
        return False


def _due_soon(session: Session, case: Case) -> None:
    case.warned = True
    engine.notify(session, case, engine.step_owner(case), "due_soon")


def _overdue(session: Session, case: Case, now: datetime) -> dict[str, Any]:
    case.overdue = True
    case.ever_overdue = True
    engine.overdue_sweep_entry(session, case, "overdue")
    engine.notify(session, case, engine.step_owner(case), "overdue")
    if case.rules.get("escalate_on_overdue") and case.state in ESCALATE_FROM and case.level in ("village", "town"):
        engine.auto_escalate(session, case)
        deadlines.start_step(case, deadlines.calendar(session), now)
        return {"escalated": True}
    if case.rules.get("escalate_on_overdue") and case.state in ("dispatched", "in_handling"):
        engine.notify(session, case, "holder", "overdue")  # the dispatching centre follows it up
    return {}


class Scheduler:
    """Runs the sweep every `interval` seconds in a daemon thread (turn off with CIVICGRID_SWEEP_INTERVAL_S=0)."""

    def __init__(self, factory, interval: float, job=None, name: str = "sweep") -> None:
        self.factory = factory
        self.interval = interval
        self.job = job or sweep  # any periodic job taking a session (e.g. the monthly bulletins)
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"civicgrid-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        from civicgrid.db import unit_of_work

        while not self._stop.wait(self.interval):
            try:
                with unit_of_work(self.factory, writes=True) as s:  # a sweep writes
                    counts = self.job(s)
                if counts and any(counts.values()):
                    log.info(self.name, extra={"counts": counts})
            except Exception:  # keep sweeping next time; the error is in the log
                log.exception("%s failed", self.name)
