"""The case engine: the one place where a case changes state.

`apply()` checks the policy (who the actor is to the case), that the action is allowed from the current
state, the payload, collect/handle separation; then changes the case, writes one timeline entry, bumps the
version (a stale version is 409), recomputes the deadline and queues notifications and a domain event
(delivered after commit). `open_case()` is the same for a new case's first entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from civicgrid import clock
from civicgrid.access.models import Department, GridAssignment, RoleAssignment
from civicgrid.access.policy import LEVEL_ROLE, ROLE_LABELS, Actor, Role, case_parties, require_case_view
from civicgrid.cases import deadlines, events
from civicgrid.cases.models import Case, Notification, TimelineEntry
from civicgrid.cases.workflow import (LEVEL_LABELS, SATISFACTION, STATES,
                                      SUPERVISION_GRADES, TERMINAL, URGENCY, WORKFLOWS, ActionSpec)
from civicgrid.config import get_settings
from civicgrid.errors import BadInput, Conflict, Forbidden
from civicgrid.geo.crs import haversine_m
from civicgrid.geo.models import Region


@dataclass
class Effect:
    """What an action's handler decided beyond the spec: the state, data for the timeline, notifications."""

    to_state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    notify: list[tuple[str, str]] = field(default_factory=list)  # (audience, kind)
    # restart the step's clock: None = when the state changes, True = always (the case changed hands), False = never
    restart_step: bool | None = None


# ---------------------------------------------------------------------------------------------
# what an actor may do now


def available_actions(actor: Actor, case: Case) -> list[ActionSpec]:
    """The actions this actor may take on this case now (what pages and the API offer)."""
    parties = case_parties(actor, case)
    out = []
    for spec in WORKFLOWS[case.kind].actions.values():
        if case.state in spec.from_states and spec.who & parties and _offered(spec, case, actor):
            out.append(spec)
    return out


def _offered(spec: ActionSpec, case: Case, actor: Actor) -> bool:
    if "holder" in spec.who and spec.who <= {"holder"} and case.level not in spec.levels:
        return False
    if spec.name == "handle_locally" and not case.rules.get("village_may_close"):
        return False
    if spec.name in ("approve_extension", "reject_extension") and not case.extension_requested_hours:
        return False
    if spec.name == "request_extension" and case.extension_requested_hours:
        return False
    if _separation_breach(spec.name, case, actor):
        return False
    if spec.name == "follow_up" and case.satisfaction is not None:
        return False
    return True


def _separation_breach(action: str, case: Case, actor: Actor) -> Forbidden | None:
    """Collect/handle separation (采办分离): the reporter never handles, the handler never verifies."""
    if action in ("handle", "handle_locally") and case.reporter_id is not None and case.reporter_id == actor.user_id:
        return _separation("reporter_cannot_handle", "上报人不能处置自己上报的事件(采办分离)",
                           "The reporter of a case may not handle it (collect/handle separation)")
    if action == "verify" and case.handler_id is not None and case.handler_id == actor.user_id:
        return _separation("handler_cannot_verify", "处置人不能核查自己处置的事件(采办分离)",
                           "The handler of a case may not verify it (collect/handle separation)")
    return None


def _role_label(actor: Actor) -> str:
    return "、".join(ROLE_LABELS[g.role] for g in actor.grants) or "系统"


# ---------------------------------------------------------------------------------------------
# payload checks


def _note(payload: dict[str, Any], required: bool) -> str:
    note = str(payload.get("note") or "").strip()
    if required and not note:
        raise BadInput("note_required", "请填写说明", "A note is required", extra={"field": "note"})
    if len(note) > 2000:
        raise BadInput("note_too_long", "说明不能超过 2000 字", "Note longer than 2000 characters",
                       extra={"field": "note"})
    return note


def _choice(payload: dict[str, Any], name: str, choices: dict[str, str], zh: str) -> str:
    v = payload.get(name)
    if v not in choices:
        raise BadInput(f"invalid_{name}", f"请选择{zh}:{'/'.join(choices.values())}",
                       f"{name} must be one of {', '.join(choices)}", extra={"field": name})
    return str(v)


def _check_payload(spec: ActionSpec, payload: dict[str, Any]) -> None:
    for name in spec.requires:
        if name == "note":
            continue
        v = payload.get(name)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise BadInput(f"{name}_required", f"缺少必填项:{FIELD_LABELS.get(name, name)}",
                           f"{name} is required for {spec.name}", extra={"field": name})


FIELD_LABELS = {"department": "处置部门", "category": "事项分类", "result": "核查结果", "satisfaction": "满意度",
                "hours": "延期时长", "grade": "督办等级", "master": "主案件编号", "note": "说明",
                "photos": "照片", "target_region": "下派区域"}


# ---------------------------------------------------------------------------------------------
# helpers on people and places


def _region(session: Session, region_id: int | None) -> Region | None:
    return session.get(Region, region_id) if region_id else None


def _set_holder(case: Case, region: Region, level: str) -> None:
    case.level = level
    case.holder_region_id = region.id
    case.holder_path = region.path


def _holder_region_at(session: Session, case: Case, level: str) -> Region:
    """The command-centre region on the case's path at `level` (village, town or city)."""
    ids = [int(x) for x in case.region_path.strip("/").split("/") if x]
    rows = session.scalars(select(Region).where(Region.id.in_(ids), Region.level == level)).all()
    if not rows:
        raise BadInput("no_centre", f"该事件所在区域没有{LEVEL_LABELS[level]}",
                       f"No {level} on the case's path")
    return rows[0]


def users_to_notify(session: Session, case: Case, audience: str) -> list[int]:
    """User ids for an audience: holder (the centre's dispatchers), department, grid, reporter."""
    if audience == "reporter":
        return [case.reporter_id] if case.reporter_id else []
    key = (audience, case.level, case.holder_region_id, case.department_id, case.grid_id)
    cache = session.info.setdefault("cg_audiences", {})  # people do not change within one transaction
    if key not in cache:
        cache[key] = _users_to_notify(session, case, audience)
    return cache[key]


def _users_to_notify(session: Session, case: Case, audience: str) -> list[int]:
    if audience == "holder":
        role = LEVEL_ROLE[case.level]
        return list(session.scalars(select(RoleAssignment.user_id).where(
            RoleAssignment.role == role.value, RoleAssignment.region_id == case.holder_region_id)))
    if audience == "department" and case.department_id:
        return list(session.scalars(select(RoleAssignment.user_id).where(
            RoleAssignment.role == Role.DEPARTMENT_HANDLER.value, RoleAssignment.department_id == case.department_id)))
    if audience == "grid" and case.grid_id:
        return list(session.scalars(select(GridAssignment.user_id).where(GridAssignment.grid_id == case.grid_id)))
    if audience == "reporter" and case.reporter_id:
        return [case.reporter_id]
    return []


def step_owner(case: Case) -> str:
    """Whose move it is: the department while it handles, the grid while it verifies, else the holding centre."""
    if case.state in ("dispatched", "in_handling"):
        return "department"
    return "grid" if case.state == "handled" else "holder"


NOTIFY_TEXT = {
    "new_task": "新任务", "returned": "被退回", "rework": "返工", "due_soon": "即将超期", "overdue": "已超期",
    "supervised": "被督办", "escalated": "上报待处理", "delegated": "下派待处理", "verify": "待核查",
    "closed": "已结案", "extension": "延期申请", "extension_decided": "延期审批结果",
}


def notify(session: Session, case: Case, audience: str, kind: str, exclude: int | None = None) -> None:
    """Put a message in the inbox of everyone in the audience (holder, department, grid, reporter)."""
    for uid in dict.fromkeys(users_to_notify(session, case, audience)):
        if uid == exclude:
            continue
        session.add(Notification(user_id=uid, case_id=case.id, kind=kind, created_at=clock.now(),
                                 message=f"【{NOTIFY_TEXT.get(kind, kind)}】{case.number} {case.title}"))


# ---------------------------------------------------------------------------------------------
# action handlers: each returns an Effect; they may read the payload and change the case


def _accept(session, actor, case, payload, cal) -> Effect:
    eff = Effect()
    if payload.get("category") and payload["category"] != case.category_code:
        eff.data.update(_recategorise(session, case, payload))
    if payload.get("urgency"):
        case.urgency = _choice(payload, "urgency", URGENCY, "紧急程度")
    case.accepted_at = clock.now()
    return eff


def _recategorise(session, case, payload) -> dict[str, Any]:
    from civicgrid.matters.service import filing_rules

    old = case.category_code
    cat, rules = filing_rules(session, str(payload["category"]))
    case.category_id, case.category_code, case.rules = cat.id, cat.code, rules
    if payload.get("urgency"):
        case.urgency = _choice(payload, "urgency", URGENCY, "紧急程度")
    return {"category_from": old, "category_to": cat.code, "category_name": cat.name}


def _void(session, actor, case, payload, cal) -> Effect:
    case.closed_at = clock.now()
    return Effect(notify=[("reporter", "closed")])


def _escalate(session, actor, case, payload, cal) -> Effect:
    up = {"village": "town", "town": "city"}[case.level]
    frm = case.level
    _set_holder(case, _holder_region_at(session, case, up), up)
    return Effect(data={"level_from": frm, "level_to": up}, notify=[("holder", "escalated")], restart_step=True)


def _delegate(session, actor, case, payload, cal) -> Effect:
    down = {"city": "town", "town": "village"}[case.level]
    target = _holder_region_at(session, case, down)
    if payload.get("target_region") and payload["target_region"] != target.code:
        raise BadInput("invalid_target_region", f"只能下派到事件所在的{LEVEL_LABELS[down]}:{target.name}",
                       f"Delegate only to the case's own {down} {target.code}", extra={"field": "target_region"})
    frm = case.level
    _set_holder(case, target, down)
    return Effect(data={"level_from": frm, "level_to": down, "region": target.code},
                  notify=[("holder", "delegated")], restart_step=True)


def _handle_locally(session, actor, case, payload, cal) -> Effect:
    case.handler_id = actor.user_id
    case.handled_at = clock.now()
    case.department_id = None
    return Effect(notify=[("grid", "verify")])


def _department(session, case, payload) -> Department:
    dept = session.scalars(select(Department).where(Department.code == str(payload["department"]))).first()
    if dept is None or not dept.active:
        raise BadInput("unknown_department", f"处置部门 {payload['department']} 不存在或已停用",
                       f"Unknown or inactive department {payload['department']}", extra={"field": "department"})
    if dept.region_id != case.holder_region_id:
        raise BadInput("department_out_of_level", f"{dept.name}不属于本级指挥中心可派遣的部门",
                       f"{dept.code} does not belong to the holding centre's region", extra={"field": "department"})
    return dept


def _dispatch(session, actor, case, payload, cal) -> Effect:
    dept = _department(session, case, payload)
    case.department_id = dept.id
    case.dispatched_by_level = case.level
    case.dispatched_at = case.dispatched_at or clock.now()
    case.handler_id = None
    lead = (case.rules.get("lead_departments") or {}).get(case.level)
    return Effect(data={"department": dept.code, "department_name": dept.name, "lead_kind": lead,
                        "is_lead": lead == dept.kind}, notify=[("department", "new_task")])


def _reroute(session, actor, case, payload, cal) -> Effect:
    old = case.department_id
    eff = _dispatch(session, actor, case, payload, cal)
    if old == case.department_id:
        raise BadInput("same_department", "改派的部门与当前部门相同", "Reroute to the same department",
                       extra={"field": "department"})
    eff.restart_step = True  # a new department gets the full handling time
    return eff


def _take(session, actor, case, payload, cal) -> Effect:
    return Effect(restart_step=False)  # handling time runs from dispatch


def _return(session, actor, case, payload, cal) -> Effect:
    case.returns += 1
    dept = session.get(Department, case.department_id)
    return Effect(data={"department": dept.code if dept else None}, notify=[("holder", "returned")])


def _handle(session, actor, case, payload, cal) -> Effect:
    case.handler_id = actor.user_id
    case.handled_at = clock.now()
    return Effect(notify=[("grid", "verify")])


def _request_extension(session, actor, case, payload, cal) -> Effect:
    try:
        hours = float(payload["hours"])
    except (TypeError, ValueError):
        hours = -1
    if not (0 < hours <= 720) or not math.isfinite(hours):
        raise BadInput("invalid_hours", "延期时长应为 0–720 小时", "hours must be in (0, 720]", extra={"field": "hours"})
    case.extension_requested_hours = hours
    return Effect(data={"hours": hours}, notify=[("holder", "extension")], restart_step=False)


def _approve_extension(session, actor, case, payload, cal) -> Effect:
    hours = case.extension_requested_hours or 0
    deadlines.extend(case, cal, hours)
    case.extension_requested_hours = None
    case.extensions += 1
    return Effect(data={"hours": hours, "approved": True, "due_at": case.due_at.isoformat() if case.due_at else None},
                  notify=[("department", "extension_decided")], restart_step=False)


def _reject_extension(session, actor, case, payload, cal) -> Effect:
    hours = case.extension_requested_hours
    case.extension_requested_hours = None
    return Effect(data={"hours": hours, "approved": False}, notify=[("department", "extension_decided")],
                  restart_step=False)


def _park(session, actor, case, payload, cal) -> Effect:
    case.parked = True
    return Effect()


def _unpark(session, actor, case, payload, cal) -> Effect:
    case.parked = False
    return Effect()


def _verify(session, actor, case, payload, cal) -> Effect:
    result = _choice(payload, "result", {"pass": "通过", "fail": "不通过"}, "核查结果")
    case.verifier_id = actor.user_id
    if result == "pass":
        return Effect(to_state="verified", data={"result": "pass"}, notify=[("holder", "verify")])
    return _rework(case, {"result": "fail"})


def _rework(case: Case, data: dict[str, Any]) -> Effect:
    """Back to the same department (or to the village that handled it itself)."""
    case.reworks += 1
    case.handled_at = None
    if case.department_id:
        return Effect(to_state="in_handling", data={**data, "rework": True}, notify=[("department", "rework")])
    return Effect(to_state="accepted", data={**data, "rework": True}, notify=[("holder", "rework")])


def _close(session, actor, case, payload, cal) -> Effect:
    case.closed_at = clock.now()
    merged = session.scalars(select(Case).where(Case.master_id == case.id, Case.state == "merged")).all()
    for dup in merged:
        _system_entry(session, dup, "close_with_master", "merged", {"master": case.number})
    return Effect(data={"merged_closed": [d.number for d in merged]}, notify=[("reporter", "closed")])


def _follow_up(session, actor, case, payload, cal) -> Effect:
    sat = _choice(payload, "satisfaction", SATISFACTION, "满意度")
    case.satisfaction = sat
    if sat == "dissatisfied":
        case.closed_at = None
        case.satisfaction = None  # a new follow-up follows the rework
        return _rework(case, {"satisfaction": sat})
    return Effect(data={"satisfaction": sat}, restart_step=False)


def _supervise(session, actor, case, payload, cal) -> Effect:
    grade = _choice(payload, "grade", SUPERVISION_GRADES, "督办等级")
    order = list(SUPERVISION_GRADES)
    if case.supervision is None or order.index(grade) > order.index(case.supervision):
        case.supervision = grade
    return Effect(data={"grade": grade}, notify=[(step_owner(case), "supervised")], restart_step=False)


def _recategorise_action(session, actor, case, payload, cal) -> Effect:
    return Effect(data=_recategorise(session, case, payload))


def _merge(session, actor, case, payload, cal) -> Effect:
    master = session.scalars(select(Case).where(Case.number == str(payload["master"]))).first()
    if master is None or master.id == case.id or not case_parties(actor, master):
        raise BadInput("unknown_master", f"主案件 {payload['master']} 不存在", f"No case {payload['master']}",
                       extra={"field": "master"})
    s = get_settings()
    problems = []
    if master.closed:
        problems.append("主案件已结束")
    if master.category_code != case.category_code:
        problems.append("分类不同")
    if None not in (master.lon, master.lat, case.lon, case.lat):
        d = haversine_m(master.lon, master.lat, case.lon, case.lat)
        if d > s.merge_distance_m:
            problems.append(f"相距 {d:.0f} 米,超过 {s.merge_distance_m:.0f} 米")
    if abs((case.reported_at - master.reported_at).total_seconds()) > s.merge_window_hours * 3600:
        problems.append(f"上报时间相差超过 {s.merge_window_hours:.0f} 小时")
    if problems:
        raise BadInput("not_a_duplicate", "不能合并:" + ";".join(problems), "Not a duplicate: " + "; ".join(problems),
                       extra={"field": "master"})
    case.master_id = master.id
    case.closed_at = clock.now()
    return Effect(data={"master": master.number})


def _comment(session, actor, case, payload, cal) -> Effect:
    return Effect(restart_step=False)


HANDLERS: dict[str, Callable[..., Effect]] = {
    "accept": _accept, "void": _void, "escalate": _escalate, "delegate": _delegate,
    "handle_locally": _handle_locally, "dispatch": _dispatch, "reroute": _reroute, "take": _take,
    "return": _return, "handle": _handle, "request_extension": _request_extension,
    "approve_extension": _approve_extension, "reject_extension": _reject_extension, "park": _park,
    "unpark": _unpark, "verify": _verify, "close": _close, "follow_up": _follow_up, "supervise": _supervise,
    "recategorise": _recategorise_action, "merge": _merge, "comment": _comment,
}


def _separation(code: str, zh: str, en: str) -> Forbidden:
    return Forbidden(code, zh, en, extra={"rule": "collect_handle_separation"})


# ---------------------------------------------------------------------------------------------
# the one function that changes a case


def apply(session: Session, actor: Actor, case: Case, action: str, payload: dict[str, Any] | None = None, *,
          expected_version: int | None = None, client: str = "api") -> TimelineEntry:
    """Apply one action to a case as `actor`; returns the timeline entry written."""
    with session.no_autoflush:  # one flush at the end: the case, its entry and its notifications together
        return _apply(session, actor, case, action, payload, expected_version, client)


def _apply(session: Session, actor: Actor, case: Case, action: str, payload: dict[str, Any] | None,
           expected_version: int | None, client: str) -> TimelineEntry:
    payload = dict(payload or {})
    parties = require_case_view(actor, case)
    spec = WORKFLOWS[case.kind].actions.get(action)
    allowed = [a.name for a in available_actions(actor, case)]
    if spec is None:
        raise BadInput("unknown_action", f"未知操作 {action}", f"Unknown action {action!r}",
                       extra={"allowed": allowed})
    if not (spec.who & parties):
        raise Forbidden("action_forbidden", f"您不能对该事件执行“{spec.label}”",
                        f"You may not {action} this case", extra={"allowed": allowed, "action": action})
    if expected_version is not None and expected_version != case.version:
        raise Conflict("stale_version", "事件已被他人更新,请刷新后重试",
                       f"Case changed meanwhile (version {case.version}, you sent {expected_version})",
                       extra={"version": case.version, "state": case.state})
    if case.state not in spec.from_states:
        raise Conflict("invalid_transition",
                       f"事件当前为“{STATES[case.state]}”,不能执行“{spec.label}”",
                       f"{action} is not allowed from state {case.state}",
                       extra={"state": case.state, "allowed": allowed})
    breach = _separation_breach(spec.name, case, actor)
    if breach is not None:
        raise breach
    if spec.name not in allowed:
        raise Conflict("action_not_available", f"当前不能执行“{spec.label}”", f"{action} is not available now",
                       extra={"allowed": allowed})
    note = _note(payload, "note" in spec.requires)
    _check_payload(spec, payload)
    cal = deadlines.calendar(session)
    from_state = case.state
    eff = HANDLERS[action](session, actor, case, payload, cal)
    to_state = eff.to_state or spec.to_state or case.state
    case.state = to_state
    case.closed = to_state in TERMINAL
    now = clock.now()
    case.updated_at = now
    if eff.restart_step if eff.restart_step is not None else to_state != from_state:
        deadlines.start_step(case, cal, now)
    entry = _entry(session, actor, case, action, from_state, to_state, note,
                   {**eff.data, **({"photos": payload["photos"]} if payload.get("photos") else {})},
                   payload.get("lon"), payload.get("lat"), client, _role_label(actor))
    for audience, kind in eff.notify:
        notify(session, case, audience, kind, exclude=actor.user_id)
    try:
        session.flush()
    except StaleDataError:
        raise Conflict("stale_version", "事件已被他人同时更新,请刷新后重试",
                       "Case was changed by another request at the same time") from None
    events.publish(session, {"type": f"case.{action}", "case": case.number, "state": to_state,
                             "from": from_state, "level": case.level, "holder_region_id": case.holder_region_id,
                             "department_id": case.department_id})
    return entry


@event.listens_for(Session, "after_soft_rollback")
def _forget_sequence_numbers(session: Session, _previous) -> None:
    """Entries rolled back (a savepoint, a failed request) free their numbers: read them again."""
    session.info.pop("cg_seq", None)


def _entry(session: Session, actor: Actor | None, case: Case, action: str, frm: str | None, to: str, note: str,
           data: dict[str, Any], lon: Any, lat: Any, client: str, role: str) -> TimelineEntry:
    seqs = session.info.setdefault("cg_seq", {})  # the last entry number per case, read once per transaction
    if case.id not in seqs:
        seqs[case.id] = session.scalar(select(func.max(TimelineEntry.seq)).where(TimelineEntry.case_id == case.id)) or 0
    seqs[case.id] += 1
    seq = seqs[case.id]
    entry = TimelineEntry(case_id=case.id, seq=seq, at=clock.now(), actor_id=actor.user_id if actor else None,
                          actor_name=(actor.display_name if actor else "系统"), role=role, action=action,
                          from_state=frm, to_state=to, note=note, data=data,
                          lon=float(lon) if isinstance(lon, (int, float)) else None,
                          lat=float(lat) if isinstance(lat, (int, float)) else None, client=client)
    session.add(entry)
    return entry


def _system_entry(session: Session, case: Case, action: str, to_state: str, data: dict[str, Any]) -> TimelineEntry:
    """An entry the engine writes by itself (overdue, closing duplicates with their master)."""
    frm = case.state
    case.state = to_state
    case.closed = to_state in TERMINAL or case.closed
    if action == "close_with_master":
        case.closed = True
    case.updated_at = clock.now()
    return _entry(session, None, case, action, frm, to_state, "", data, None, None, "system", "系统")


def open_case(session: Session, actor: Actor, case: Case, *, note: str, data: dict[str, Any], client: str,
              lon: float | None, lat: float | None) -> TimelineEntry:
    """Write a new case's first entry ('report'), start its first step and tell its holder."""
    now = clock.now()
    with session.no_autoflush:  # one UPDATE for the new case, not one per field group
        case.state = "reported"
        case.reported_at = now
        case.updated_at = now
        deadlines.start_step(case, deadlines.calendar(session), now)
        session.add(case)
    session.flush()
    session.info.setdefault("cg_seq", {})[case.id] = 0  # a new case has no entries yet
    entry = _entry(session, actor, case, "report", None, "reported", note, data, lon, lat, client,
                   _role_label(actor) if actor.user_id else "系统")
    notify(session, case, "holder", "new_task", exclude=actor.user_id)
    events.publish(session, {"type": "case.report", "case": case.number, "state": "reported", "level": case.level,
                             "holder_region_id": case.holder_region_id})
    return entry


def replay(entries: list[TimelineEntry]) -> str | None:
    """The state a case's timeline leads to (the timeline is the audit: it must agree with the case)."""
    state = None
    for e in sorted(entries, key=lambda e: e.seq):
        if e.from_state is not None and state is not None and e.from_state != state:
            raise ValueError(f"timeline broken at seq {e.seq}: {e.from_state} after {state}")
        state = e.to_state
    return state


def auto_escalate(session: Session, case: Case) -> TimelineEntry:
    """Move an overdue case up one command level on the catalogue's say (written as a system entry)."""
    up = {"village": "town", "town": "city"}[case.level]
    frm = case.level
    _set_holder(case, _holder_region_at(session, case, up), up)
    entry = _system_entry(session, case, "auto_escalate", case.state, {"level_from": frm, "level_to": up})
    notify(session, case, "holder", "escalated")
    return entry


def overdue_sweep_entry(session: Session, case: Case, kind: str) -> TimelineEntry:
    """Record an overdue / due-soon event on the case's timeline (the state does not change)."""
    return _system_entry(session, case, kind, case.state, {"step": case.step,
                                                           "due_at": case.due_at.isoformat() if case.due_at else None})

