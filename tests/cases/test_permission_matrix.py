"""Every action × every demo role: exactly the expected people may act, and everyone else is refused."""

from __future__ import annotations

import pytest

from civicgrid.cases import engine
from civicgrid.errors import DomainError
from tests.cases.test_engine_loop import actor, do, report

USERS = ["admin", "city.dispatcher", "town.dispatcher", "village.operator", "grid.worker", "dept.handler",
         "mediator", "leader", "citizen", "integration.12345"]
DEPT = "441900003-urban_management"


def at_village(db, category="E0102"):
    return report(db, category=category)


def accepted_village(db, category="E0102"):
    c = report(db, category=category)
    do(db, "village.operator", c, "accept")
    return c


def accepted_town(db):
    c = accepted_village(db, "E0101")
    do(db, "village.operator", c, "escalate", note="上报")
    return c


def dispatched(db):
    c = accepted_town(db)
    do(db, "town.dispatcher", c, "dispatch", department=DEPT)
    return c


def in_handling(db):
    c = dispatched(db)
    do(db, "dept.handler", c, "take")
    return c


def extension_asked(db):
    c = in_handling(db)
    do(db, "dept.handler", c, "request_extension", hours=7, note="需协调")
    return c


def parked(db):
    c = in_handling(db)
    do(db, "town.dispatcher", c, "park", note="挂账")
    return c


def handled(db):
    c = in_handling(db)
    do(db, "dept.handler", c, "handle", note="已处置")
    return c


def verified(db):
    c = handled(db)
    do(db, "grid.worker", c, "verify", result="pass", note="通过")
    return c


def closed(db):
    c = verified(db)
    do(db, "town.dispatcher", c, "close")
    return c


def duplicate(db):
    master = accepted_town(db)
    dup = accepted_town(db)
    return dup, {"master": master.number}


# action: (setup, payload, users who may do it)
MATRIX = {
    "accept": (at_village, {}, {"village.operator"}),
    "void": (at_village, {"note": "不属实"}, {"village.operator"}),
    "escalate": (accepted_village, {"note": "上报"}, {"village.operator"}),
    "handle_locally": (accepted_village, {"note": "已清理"}, {"village.operator"}),
    "delegate": (accepted_town, {"note": "下派"}, {"town.dispatcher"}),
    "dispatch": (accepted_town, {"department": DEPT}, {"town.dispatcher"}),
    "reroute": (dispatched, {"department": "441900003-housing", "note": "改派"}, {"town.dispatcher"}),
    "take": (dispatched, {}, {"dept.handler"}),
    "return": (dispatched, {"note": "非本部门"}, {"dept.handler"}),
    "handle": (in_handling, {"note": "已处置"}, {"dept.handler"}),
    "request_extension": (in_handling, {"hours": 7, "note": "需协调"}, {"dept.handler"}),
    "approve_extension": (extension_asked, {}, {"town.dispatcher"}),
    "reject_extension": (extension_asked, {"note": "不同意"}, {"town.dispatcher"}),
    "park": (in_handling, {"note": "挂账"}, {"town.dispatcher"}),
    "unpark": (parked, {}, {"town.dispatcher"}),
    "verify": (handled, {"result": "pass", "note": "通过"}, {"grid.worker"}),
    "close": (verified, {}, {"town.dispatcher"}),
    "follow_up": (closed, {"satisfaction": "satisfied"}, {"town.dispatcher", "grid.worker"}),  # holder, reporter
    "supervise": (at_village, {"grade": "yellow", "note": "请加快"}, {"town.dispatcher", "city.dispatcher"}),
    "recategorise": (accepted_town, {"category": "E0103"}, {"town.dispatcher"}),
    "merge": (duplicate, {}, {"town.dispatcher"}),
    "comment": (at_village, {"note": "备注"}, {"admin", "city.dispatcher", "town.dispatcher", "village.operator",
                                             "grid.worker", "mediator"}),
}


def test_the_matrix_covers_every_action_of_the_workflow():
    from civicgrid.cases.workflow import WORKFLOWS

    assert set(MATRIX) == set(WORKFLOWS["event"].actions)


@pytest.mark.parametrize("action", sorted(MATRIX))
def test_exactly_the_expected_roles_may_act(db, action):
    setup, payload, expected = MATRIX[action]
    made = setup(db)
    case, extra = made if isinstance(made, tuple) else (made, {})
    payload = {**payload, **extra}
    for user in USERS:
        who = actor(db, user)
        offered = action in [a.name for a in engine.available_actions(who, case)]
        assert offered == (user in expected), (action, user, offered)
        sp = db.begin_nested()
        try:
            engine.apply(db, who, case, action, dict(payload))
            succeeded = True
        except DomainError as exc:
            succeeded = False
            assert exc.status in (403, 404, 409), (action, user, exc.code)
        finally:
            sp.rollback()
            db.expire_all()
        assert succeeded == (user in expected), (action, user)
    # the rolled-back attempts left no gaps: the next entry follows the last one kept
    entry = engine.apply(db, actor(db, "admin"), case, "comment", {"note": "检查编号"}) if not case.closed or \
        case.state == "closed" else None
    if entry is not None:
        from sqlalchemy import func, select

        from civicgrid.cases.models import TimelineEntry
        assert entry.seq == db.scalar(select(func.count()).where(TimelineEntry.case_id == case.id))
