"""The closed loop through the engine, as the demo's people would walk it, and its guard rails."""

from __future__ import annotations

import pytest
import shapely
from sqlalchemy import select

from civicgrid.access.models import User
from civicgrid.access.service import load_actor
from civicgrid.cases import engine, service
from civicgrid.cases.models import Notification, TimelineEntry
from civicgrid.errors import BadInput, Conflict, Forbidden, NotFound
from civicgrid.geo.models import Region


def actor(db, username):
    return load_actor(db, db.scalars(select(User).where(User.username == username)).one())


def point_in(db, code):
    g = shapely.from_wkb(db.scalars(select(Region).where(Region.code == code)).one().geom_wkb)
    p = g.representative_point()
    return p.x, p.y


def report(db, who="grid.worker", category="E0102", grid="441900003001001", **extra):
    lon, lat = point_in(db, grid)
    payload = {"title": "路边暴露垃圾", "category": category, "lon": lon, "lat": lat,
               "description": "岗贝路口有一堆生活垃圾", **extra}
    case, created = service.report_case(db, actor(db, who), payload)
    assert created
    return case


def do(db, who, case, action, **payload):
    return engine.apply(db, actor(db, who), case, action, payload)


def test_grid_worker_report_lands_at_the_village_with_a_deadline(db):
    case = report(db)
    assert case.state == "reported" and case.level == "village" and case.source == "grid_worker"
    assert case.number.isdigit() and len(case.number) == 15
    assert case.step == "accept" and case.due_at > case.reported_at
    assert db.scalar(select(Region.code).where(Region.id == case.grid_id)) == "441900003001001"
    # the village workstation's operator is told
    op = db.scalars(select(User).where(User.username == "village.operator")).one()
    assert db.scalars(select(Notification).where(Notification.user_id == op.id,
                                                 Notification.case_id == case.id)).first() is not None


def test_village_escalates_town_dispatches_wrong_department_returns_then_right_one_takes(db):
    case = report(db, category="E0101")  # 私搭乱建: the village may not close it itself
    names = lambda who: [a.name for a in engine.available_actions(actor(db, who), case)]  # noqa: E731
    assert "handle_locally" not in names("village.operator")
    do(db, "village.operator", case, "accept")
    assert "escalate" in names("village.operator") and "dispatch" not in names("village.operator")
    do(db, "village.operator", case, "escalate", note="需执法部门处理")
    assert case.level == "town" and case.state == "accepted"
    assert "dispatch" in names("town.dispatcher") and names("village.operator") == ["comment"]
    do(db, "town.dispatcher", case, "dispatch", department="441900003-housing")
    assert case.state == "dispatched"
    with pytest.raises(NotFound):
        do(db, "dept.handler", case, "take")  # urban management cannot even see a case of housing
    do(db, "town.dispatcher", case, "reroute", department="441900003-urban_management", note="改派执法办")
    with pytest.raises(BadInput) as e:  # another town's department is not this centre's to dispatch to
        do(db, "town.dispatcher", case, "reroute", department="441900004-urban_management", note="x")
    assert e.value.code == "department_out_of_level"
    do(db, "dept.handler", case, "take")
    assert case.state == "in_handling"


def _dispatch_to_urban(db, case):
    do(db, "village.operator", case, "accept")
    do(db, "village.operator", case, "escalate", note="需执法部门处理")
    do(db, "town.dispatcher", case, "dispatch", department="441900003-urban_management")


def test_return_redispatch_handle_verify_close_follow_up(db):
    case = report(db, category="E0101")
    _dispatch_to_urban(db, case)
    with pytest.raises(BadInput) as e:
        do(db, "dept.handler", case, "return")
    assert e.value.code == "note_required"
    do(db, "dept.handler", case, "return", note="不属于本部门职责")
    assert case.state == "returned" and case.returns == 1 and case.level == "town"
    do(db, "town.dispatcher", case, "dispatch", department="441900003-urban_management", note="属执法办职责")
    do(db, "dept.handler", case, "take")
    assert case.state == "in_handling"
    do(db, "dept.handler", case, "handle", note="已拆除违建")
    assert case.state == "handled" and case.step == "verify"
    do(db, "grid.worker", case, "verify", result="fail", note="仍有残留")
    assert case.state == "in_handling" and case.reworks == 1
    do(db, "dept.handler", case, "handle", note="残留已清理")
    do(db, "grid.worker", case, "verify", result="pass", note="现场已恢复")
    assert case.state == "verified"
    do(db, "town.dispatcher", case, "close")
    assert case.state == "closed" and case.closed
    do(db, "grid.worker", case, "follow_up", satisfaction="basically_satisfied")
    assert case.satisfaction == "basically_satisfied"
    entries = db.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case.id)).all()
    assert engine.replay(entries) == case.state
    assert [e.action for e in sorted(entries, key=lambda e: e.seq)][:4] == ["report", "accept", "escalate", "dispatch"]


def test_village_handles_what_it_may_and_the_grid_verifies(db):
    case = report(db, category="E0102", who="village.operator", source="citizen")
    do(db, "village.operator", case, "accept")
    # collect/handle separation: the reporter (here the operator who typed it in) may not handle it
    assert "handle_locally" not in [a.name for a in engine.available_actions(actor(db, "village.operator"), case)]
    with pytest.raises(Forbidden) as e:
        do(db, "village.operator", case, "handle_locally", note="已清理")
    assert e.value.code == "reporter_cannot_handle"


def test_handler_never_verifies(db):
    case = report(db, category="E0102")
    do(db, "village.operator", case, "accept")
    do(db, "village.operator", case, "handle_locally", note="已清理")
    # give the operator a grid duty, then try to verify their own handling
    from civicgrid.access.service import SYSTEM, assign_grids, assign_role
    assign_role(db, SYSTEM, "village.operator", "grid_worker", region_code="441900003001")
    assign_grids(db, SYSTEM, "village.operator", ["441900003001001"])
    assert "verify" not in [a.name for a in engine.available_actions(actor(db, "village.operator"), case)]
    with pytest.raises(Forbidden) as e:
        do(db, "village.operator", case, "verify", result="pass", note="自己核查")
    assert e.value.code == "handler_cannot_verify"
    do(db, "grid.worker", case, "verify", result="pass", note="已清理干净")
    assert case.state == "verified"


def test_wrong_state_is_409_with_the_allowed_actions_and_stale_version_is_409(db):
    case = report(db)
    with pytest.raises(Conflict) as e:
        do(db, "village.operator", case, "close")
    assert e.value.code == "invalid_transition" and "accept" in e.value.extra["allowed"]
    with pytest.raises(Conflict) as e:
        engine.apply(db, actor(db, "village.operator"), case, "accept", {}, expected_version=case.version - 1)
    assert e.value.code == "stale_version"


def test_outsiders_get_404_and_wrong_roles_403(db):
    case = report(db)
    with pytest.raises(NotFound):
        service.get_case(db, actor(db, "citizen"), case.number)
    with pytest.raises(Forbidden) as e:
        do(db, "grid.worker", case, "accept")
    assert e.value.code == "action_forbidden"


def test_void_needs_a_reason_and_ends_the_case(db):
    case = report(db)
    with pytest.raises(BadInput):
        do(db, "village.operator", case, "void")
    do(db, "village.operator", case, "void", note="重复上报")
    assert case.state == "voided" and case.closed and case.due_at is None


def test_city_level_loop_with_supervision_extension_parking_and_a_merged_duplicate(db):
    case = report(db, category="E0101")
    dup = report(db, category="E0101", who="integration.12345", title="市民来电:同一处违建")
    assert dup.level == "town"
    do(db, "village.operator", case, "accept")
    do(db, "village.operator", case, "escalate", note="需镇街派遣")
    do(db, "town.dispatcher", case, "escalate", note="涉及多部门,请市里协调")
    assert case.level == "city"
    # the city may send it back down, then take it again
    do(db, "city.dispatcher", case, "delegate", note="请镇街按职责派遣")
    assert case.level == "town"
    do(db, "town.dispatcher", case, "escalate", note="镇街无法协调")
    do(db, "town.dispatcher", dup, "accept")
    do(db, "town.dispatcher", dup, "merge", master=case.number, note="重复反映")
    assert dup.state == "merged" and dup.master_id == case.id
    do(db, "city.dispatcher", case, "dispatch", department="441900-urban_management")
    handler = "dh-441900-urban_management"
    do(db, handler, case, "take")
    do(db, "city.dispatcher", case, "supervise", grade="ordinary", note="请加快")
    with pytest.raises(Forbidden):
        do(db, "town.dispatcher", case, "supervise", grade="red", note="镇街不能督办市级件")
    due = case.due_at
    do(db, handler, case, "request_extension", hours=14, note="需协调产权单位")
    do(db, "city.dispatcher", case, "approve_extension", note="同意")
    assert case.due_at > due and case.extensions == 1
    do(db, "city.dispatcher", case, "park", note="历史遗留,暂挂账")
    assert case.state == "parked" and case.due_at is None and not case.closed
    do(db, "city.dispatcher", case, "unpark", note="恢复处置")
    do(db, handler, case, "handle", note="已拆除")
    do(db, "grid.worker", case, "verify", result="pass", note="已拆除")
    do(db, "city.dispatcher", case, "close")
    assert case.state == "closed"
    db.refresh(dup)
    assert dup.closed and dup.state == "merged"
    assert [e.action for e in db.scalars(select(TimelineEntry).where(TimelineEntry.case_id == dup.id)
                                         .order_by(TimelineEntry.seq))][-1] == "close_with_master"
    do(db, "city.dispatcher", case, "follow_up", satisfaction="dissatisfied", note="市民不满意")
    assert case.state == "in_handling" and case.reworks == 1 and not case.closed
