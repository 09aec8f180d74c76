"""The demo's year of cases, made through the engine: every timeline replays to its case's state."""

from collections import defaultdict

from sqlalchemy import func, select

from civicgrid.access.service import SYSTEM
from civicgrid.cases import engine
from civicgrid.cases.models import Case, TimelineEntry
from civicgrid.demo_history import build_history, create_demo_staff


def test_simulated_year_goes_through_the_engine_and_replays(db):
    create_demo_staff(db, SYSTEM)
    result = build_history(db, 250, seed=11, days=120)
    assert result["refused"].get("report:outside_city", 0) == 0
    states = result["states"]
    assert states.get("closed", 0) > 150 and states.get("voided", 0) >= 1
    # every case's timeline leads to its stored state, starts with the report and has no gaps
    entries = defaultdict(list)
    for e in db.scalars(select(TimelineEntry)):
        entries[e.case_id].append(e)
    cases = db.scalars(select(Case)).all()
    assert len(cases) >= 250
    for c in cases:
        es = sorted(entries[c.id], key=lambda e: e.seq)
        assert es[0].action == "report" and [e.seq for e in es] == list(range(1, len(es) + 1))
        assert engine.replay(es) == c.state, c.number
    # the exceptions of a real loop all occur
    actions = dict(db.execute(select(TimelineEntry.action, func.count()).group_by(TimelineEntry.action)).all())
    for a in ("accept", "escalate", "dispatch", "return", "take", "handle", "handle_locally", "verify", "close",
              "follow_up", "void"):
        assert actions.get(a, 0) > 0, a
    assert db.scalar(select(func.count()).where(Case.reworks > 0)) > 0
    assert db.scalar(select(func.count()).where(Case.ever_overdue.is_(True))) > 0
