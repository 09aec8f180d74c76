"""Domain events of cases, delivered to listeners only after the transaction commits.

The engine calls `publish(session, event)` inside the transaction; the events wait in `session.info` and
go to every listener once the session commits (a rolled-back change never notifies anyone). Listeners are
plain callables; one failing listener is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("civicgrid.events")
Listener = Callable[[dict[str, Any]], None]
_listeners: list[Listener] = []
_KEY = "civicgrid.pending_events"


def subscribe(fn: Listener) -> Listener:
    _listeners.append(fn)
    return fn


def unsubscribe(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def publish(session: Session, evt: dict[str, Any]) -> None:
    session.info.setdefault(_KEY, []).append(evt)


@event.listens_for(Session, "after_commit")
def _deliver(session: Session) -> None:
    pending = session.info.pop(_KEY, [])
    for evt in pending:
        for fn in list(_listeners):
            try:
                fn(evt)
            except Exception:  # a listener's failure must not undo or block the committed change
                log.exception("event listener failed", extra={"event": evt.get("type")})


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)
