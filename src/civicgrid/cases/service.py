"""Cases: intake (locate, route, idempotency), actions through the engine, detail, queues and search."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.models import Department, User
from civicgrid.access.policy import (PERMISSIONS, ROLE_LEVEL, Action, Actor, Role, case_parties, may_unmask_case,
                                     require, require_case_unmask, require_case_view)
from civicgrid.cases import deadlines, engine
from civicgrid.cases.models import Attachment, Case, IdempotencyKey, Notification, TimelineEntry
from civicgrid.cases.workflow import ACTION_LABELS, LEVEL_LABELS, SOURCES, STATES, SUPERVISION_GRADES, URGENCY
from civicgrid.errors import BadInput, Conflict, DomainError, NotFound
from civicgrid.geo import service as geo
from civicgrid.geo.models import Region
from civicgrid.matters.service import filing_rules

# which sources each role may report as, the first being its default
ROLE_SOURCES: dict[Role, tuple[str, ...]] = {
    Role.GRID_WORKER: ("grid_worker",),
    Role.CITIZEN: ("citizen",),
    Role.INTEGRATION: ("hotline",),
    Role.DEPARTMENT_HANDLER: ("department",),
    Role.VILLAGE_OPERATOR: ("citizen", "hotline", "department"),
    Role.TOWN_DISPATCHER: ("hotline", "citizen", "department"),
    Role.CITY_DISPATCHER: ("hotline", "citizen", "department"),
    Role.ADMIN: ("hotline", "citizen", "department", "grid_worker"),
}
# where a new case first lands
INTAKE_LEVEL = {"grid_worker": "village", "citizen": "village", "hotline": "town", "department": "town"}


def _body_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _source_for(actor: Actor, wanted: str | None) -> str:
    allowed: list[str] = []
    for g in actor.grants:
        for s in ROLE_SOURCES.get(g.role, ()):
            if s not in allowed:
                allowed.append(s)
    if not allowed:
        raise BadInput("cannot_report", "您的角色不能上报事件", "Your roles may not report cases")
    if wanted is None:
        return allowed[0]
    if wanted not in allowed:
        raise BadInput("invalid_source", f"您不能以“{SOURCES.get(wanted, wanted)}”的来源上报",
                       f"Source {wanted!r} not allowed for you; use one of {', '.join(allowed)}",
                       extra={"field": "source", "allowed": allowed})
    return wanted


def _locate(session: Session, payload: dict[str, Any]) -> tuple[Region, float | None, float | None]:
    """The grid of the report: from its point (any CRS), or from a grid code when there is no point."""
    lon, lat = payload.get("lon"), payload.get("lat")
    if lon is None or lat is None:
        code = payload.get("grid_code")
        if not code:
            raise BadInput("location_required", "请提供位置(经纬度)或所在网格", "lon/lat or grid_code required",
                           extra={"field": "location"})
        grid = geo.find_region(session, str(code))
        if grid is None or grid.level != "grid":
            raise BadInput("unknown_grid", f"网格 {code} 不存在", f"Unknown grid {code}", extra={"field": "grid_code"})
        return grid, None, None
    crs = str(payload.get("crs") or "wgs84")
    if crs not in ("wgs84", "gcj02", "bd09"):
        raise BadInput("invalid_crs", f"未知坐标系 {crs}", "crs must be wgs84, gcj02 or bd09", extra={"field": "crs"})
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise BadInput("invalid_location", "坐标必须是数字", "lon/lat must be numbers", extra={"field": "location"}) from None
    loc, wlon, wlat, idx, _dist, status = geo.locate_arrays(session, np.array([x]), np.array([y]), crs)
    if status[0]:
        raise BadInput(f"location_{status[0]}", geo.STATUS_MESSAGES[status[0]], f"Location refused: {status[0]}",
                       extra={"field": "location"})
    if idx[0] < 0:
        raise BadInput("outside_city", "该位置不在本市网格范围内,无法受理", "The point is outside every grid of the city",
                       extra={"field": "location"})
    grid = session.get(Region, loc.grids[int(idx[0])].id)
    assert grid is not None
    return grid, float(wlon[0]), float(wlat[0])


def report_case(session: Session, actor: Actor, payload: dict[str, Any], *, idempotency_key: str | None = None,
                client: str = "api") -> tuple[Case, bool]:
    """A new case (上报): locate its grid, file it under a catalogue leaf, hand it to the right centre.

    Returns (case, created). The same Idempotency-Key (or hotline ticket number) returns the same case;
    the same key with a different body is 409."""
    require(actor, Action.CASE_REPORT)
    source = _source_for(actor, payload.get("source"))
    actor_key = str(actor.user_id)
    body = _body_hash(payload)
    external = str(payload.get("external_key") or "").strip() or None
    earlier = _already_filed(session, actor_key, idempotency_key, body, source, external)
    if earlier is not None:
        return earlier, False
    title = str(payload.get("title") or "").strip()
    if not title:
        raise BadInput("title_required", "请填写事件标题", "title is required", extra={"field": "title"})
    if len(title) > 200:
        raise BadInput("title_too_long", "标题不能超过 200 字", "title longer than 200", extra={"field": "title"})
    if not payload.get("category"):
        from civicgrid.matters.service import suggest

        raise BadInput("category_required", "请选择事项分类", "category is required",
                       extra={"field": "category", "suggestions": suggest(
                           session, actor, f"{title} {payload.get('description') or ''}")})
    cat, rules = filing_rules(session, str(payload["category"]))
    urgency = str(payload.get("urgency") or "normal")
    if urgency not in URGENCY:
        raise BadInput("invalid_urgency", "紧急程度应为 一般/紧急", "urgency must be normal or urgent",
                       extra={"field": "urgency"})
    grid, lon, lat = _locate(session, payload)
    path_ids = [int(x) for x in grid.path.strip("/").split("/") if x]
    chain = {r.level: r for r in session.scalars(select(Region).where(Region.id.in_(path_ids)))}
    level = INTAKE_LEVEL[source]
    holder = chain.get(level) or chain.get("town") or chain["city"]
    reporter_name = str(payload.get("reporter_name") or (actor.display_name if source != "hotline" else ""))[:60]
    case = Case(number=f"tmp-{uuid.uuid4().hex[:16]}", kind="event", state="reported", source=source,
                external_key=external, title=title, description=str(payload.get("description") or "")[:5000],
                address=str(payload.get("address") or "")[:300], category_id=cat.id, category_code=cat.code,
                rules=rules, urgency=urgency, lon=lon, lat=lat, source_crs=str(payload.get("crs") or "wgs84"),
                grid_id=grid.id, village_id=chain["village"].id if "village" in chain else None,
                town_id=chain["town"].id if "town" in chain else None, region_path=grid.path,
                level=holder.level if holder.level in ("village", "town") else "city",
                holder_region_id=holder.id, holder_path=holder.path,
                reporter_id=actor.user_id if source != "hotline" else None,
                reporter_name=reporter_name, reporter_phone=seal_phone(str(payload.get("reporter_phone") or "")[:20]))
    try:
        # the case row and its idempotency key first, in a savepoint: a concurrent retry of the same report
        # (double click, network retry) fails here on the unique keys, before anything else is written
        with session.begin_nested():
            session.add(case)
            session.flush()
            if idempotency_key:
                session.add(IdempotencyKey(actor_key=actor_key, key=idempotency_key[:100], body_hash=body,
                                           case_id=case.id))
                session.flush()
    except IntegrityError:
        twin = _already_filed(session, actor_key, idempotency_key, body, source, external)
        if twin is None:
            raise Conflict("report_conflict", "上报与另一请求冲突,请重试",
                           "The report collided with a concurrent one; retry") from None
        return twin, False
    case.number = f"{clock.today():%Y%m%d}{case.id:07d}"
    engine.open_case(session, actor, case, note=str(payload.get("description") or "")[:2000],
                     data={"source": source, "category": cat.code, "grid": grid.code,
                           "photos": payload.get("photos") or []},
                     client=client, lon=lon, lat=lat)
    return case, True


def _already_filed(session: Session, actor_key: str, key: str | None, body: str, source: str,
                   external: str | None) -> Case | None:
    """The case this report already made: same idempotency key (a different body is 409), or the same
    external ticket number from the same source."""
    if key:
        hit = session.scalars(select(IdempotencyKey).where(IdempotencyKey.actor_key == actor_key,
                                                           IdempotencyKey.key == key)).first()
        if hit is not None:
            if hit.body_hash != body:
                raise Conflict("idempotency_mismatch", "同一个幂等键已用于内容不同的上报",
                               "This Idempotency-Key was used with a different body")
            return session.get(Case, hit.case_id)
    if external:
        return session.scalars(select(Case).where(Case.source == source, Case.external_key == external)).first()
    return None


PHONE_PURPOSE = "case.reporter_phone"


def seal_phone(phone: str) -> str:
    """A reporter's phone number as stored: encrypted with the registry's keys ("" when there is none)."""
    from civicgrid.registry import crypto

    phone = phone.strip()
    return crypto.keyring().encrypt(phone, PHONE_PURPOSE) if phone else ""


def masked_phone(case: Case) -> str:
    from civicgrid.registry import crypto

    return crypto.mask_phone(crypto.keyring().decrypt(case.reporter_phone, PHONE_PURPOSE)) if case.reporter_phone else ""


def reveal_phone(session: Session, actor: Actor, number: str, *, ip: str | None = None) -> str:
    """The reporter's whole phone number, for staff who work the case and may unmask personal numbers (to call
    the reporter back); every reveal is written to the audit log."""
    from civicgrid.access.service import audit
    from civicgrid.registry import crypto

    case = get_case(session, actor, number)
    require_case_unmask(actor, case)
    if not case.reporter_phone:
        return ""
    audit(session, actor, "case.unmask", "case", case.id, {"number": case.number, "fields": ["reporter_phone"]}, ip=ip)
    return crypto.keyring().decrypt(case.reporter_phone, PHONE_PURPOSE)


def get_case(session: Session, actor: Actor, number: str) -> Case:
    case = session.scalars(select(Case).where(Case.number == number)).first()
    if case is None:
        raise NotFound("case", "事件不存在或无权查看")
    require_case_view(actor, case)
    return case


def act(session: Session, actor: Actor, number: str, action: str, payload: dict[str, Any], *,
        expected_version: int | None = None, client: str = "api") -> Case:
    """Apply an action to a case through the engine."""
    case = get_case(session, actor, number)
    entry = engine.apply(session, actor, case, action, payload, expected_version=expected_version, client=client)
    link_photos(session, actor, case, entry, list(payload.get("photos") or []))
    return case


# ---------------------------------------------------------------------------------------------
# reading


def _names(session: Session, ids: set[int], model: Any) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(session.execute(select(model.id, model.name).where(model.id.in_(ids))).all())


def case_summary(case: Case, now: datetime, names: dict[str, dict[int, str]]) -> dict[str, Any]:
    lt = deadlines.light(case, now)
    return {
        "number": case.number, "title": case.title, "state": case.state, "state_label": STATES[case.state],
        "version": case.version, "source": case.source, "source_label": SOURCES.get(case.source, case.source),
        "category": case.category_code, "category_name": case.rules.get("name", ""),
        "urgency": case.urgency, "urgency_label": URGENCY[case.urgency],
        "level": case.level, "level_label": LEVEL_LABELS[case.level],
        "holder": names["region"].get(case.holder_region_id, ""),
        "department": names["department"].get(case.department_id or 0),
        "grid": names["region"].get(case.grid_id or 0, ""),
        "lon": case.lon, "lat": case.lat, "address": case.address,
        "light": lt, "light_label": deadlines.LIGHT_LABELS.get(lt or "", ""),
        "due_at": case.due_at.isoformat() if case.due_at else None,
        "supervision": case.supervision, "supervision_label": SUPERVISION_GRADES.get(case.supervision or "", ""),
        "parked": case.parked, "overdue": case.overdue or (lt == "red"),
        "extension_requested_hours": case.extension_requested_hours,
        "reported_at": case.reported_at.isoformat(), "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "satisfaction": case.satisfaction,
    }


def _name_maps(session: Session, cases: list[Case]) -> dict[str, dict[int, str]]:
    rids = {c.holder_region_id for c in cases} | {c.grid_id or 0 for c in cases}
    return {"region": _names(session, rids, Region),
            "department": _names(session, {c.department_id or 0 for c in cases}, Department)}


def case_detail(session: Session, actor: Actor, number: str) -> dict[str, Any]:
    """A case with its timeline and the actions this actor may take now."""
    case = get_case(session, actor, number)
    now = clock.now()
    out = case_summary(case, now, _name_maps(session, [case]))
    out["description"] = case.description
    out["grid_code"] = session.scalar(select(Region.code).where(Region.id == case.grid_id)) if case.grid_id else None
    out["reporter_name"] = case.reporter_name
    out["reporter_phone"] = masked_phone(case)
    out["may_reveal_phone"] = bool(case.reporter_phone) and may_unmask_case(actor, case)
    out["rules"] = {k: case.rules.get(k) for k in ("code", "name", "revision", "time_limits", "hours_mode",
                                                    "village_may_close", "closing_standard")}
    out["timeline"] = [{
        "seq": e.seq, "at": e.at.isoformat(), "actor": e.actor_name, "role": e.role, "action": e.action,
        "action_label": ACTION_LABELS.get(e.action, e.action), "from_state": e.from_state, "to_state": e.to_state,
        "to_state_label": STATES.get(e.to_state, e.to_state), "note": e.note, "data": e.data, "client": e.client,
    } for e in session.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case.id)
                               .order_by(TimelineEntry.seq))]
    out["photos"] = photos_of(session, case)
    out["actions"] = [{"name": a.name, "label": a.label, "requires": list(a.requires), "optional": list(a.optional),
                       "style": a.style} for a in engine.available_actions(actor, case)]
    return out


def cases_near(session: Session, lon: float, lat: float, radius_m: float, *conditions: Any,
               limit: int = 200) -> list[tuple[Case, float]]:
    """Cases within radius_m of a WGS-84 point that meet the conditions, nearest first, with their distance in
    metres: a bounding box on the indexed columns first (newest first, at most `limit` rows), then the
    great-circle distance."""
    from civicgrid.geo.crs import haversine_m, local_metric_frame

    m_lon, m_lat = local_metric_frame(lat)
    rows = session.scalars(select(Case).where(
        Case.lon.between(lon - radius_m / m_lon, lon + radius_m / m_lon),
        Case.lat.between(lat - radius_m / m_lat, lat + radius_m / m_lat), *conditions)
        .order_by(Case.reported_at.desc()).limit(limit)).all()
    found = [(c, float(haversine_m(lon, lat, c.lon, c.lat))) for c in rows]
    return sorted(((c, d) for c, d in found if d <= radius_m), key=lambda t: t[1])


def similar_cases(session: Session, actor: Actor, case: Case, limit: int = 10) -> list[dict[str, Any]]:
    """Open cases the actor may see that the engine would accept as this case's master when merging: same
    category, within the merge distance and time window (settings). Nearest first."""
    from datetime import timedelta

    from civicgrid.config import get_settings

    if case.lon is None or case.lat is None or case.closed:
        return []
    s = get_settings()
    window = timedelta(hours=s.merge_window_hours)
    near = cases_near(session, case.lon, case.lat, s.merge_distance_m, _visible(actor), Case.id != case.id,
                      Case.closed.is_(False), Case.category_code == case.category_code,
                      Case.reported_at.between(case.reported_at - window, case.reported_at + window))[:limit]
    now = clock.now()
    names = _name_maps(session, [c for c, _ in near])
    return [case_summary(c, now, names) | {"distance_m": round(d)} for c, d in near]


def report_answer(session: Session, actor: Actor, case: Case) -> dict[str, Any]:
    """What intake answers: the case as in lists, plus the link to its detail (the timeline is one entry)."""
    out = case_summary(case, clock.now(), _name_maps(session, [case]))
    out["url"] = f"/api/v1/cases/{case.number}"
    return out


QUEUES = {
    "to_accept": "待受理", "to_dispatch": "待派遣", "returned": "被退回", "in_handling": "处置中",
    "department": "本部门待办", "to_verify": "待核查", "to_close": "待结案", "due_soon": "即将超期", "overdue": "已超期",
    "supervised": "督办件", "parked": "挂账", "extension": "延期申请", "mine": "我上报的", "all": "全部",
}


def case_points(session: Session, actor: Actor, region_code: str, *, limit: int = 5000) -> dict[str, Any]:
    """Open cases of a region the actor may see, as map points [lon, lat, number, light, title, state label]."""
    require(actor, Action.CASE_VIEW)
    region = geo.get_region(session, actor, region_code)
    rows = session.execute(select(Case.lon, Case.lat, Case.number, Case.title, Case.state, Case.warn_at, Case.due_at)
                           .where(_visible(actor), Case.closed.is_(False), Case.lon.is_not(None),
                                  Case.region_path.startswith(region.path))
                           .order_by(Case.due_at.is_(None), Case.due_at).limit(limit + 1)).all()
    now = clock.now()
    points = [[round(r.lon, 6), round(r.lat, 6), r.number, deadlines.light_at(r.warn_at, r.due_at, now) or "none",
               r.title, STATES[r.state]] for r in rows[:limit]]
    return {"points": points, "truncated": len(rows) > limit}


def region_case_summary(session: Session, actor: Actor, region_code: str) -> dict[str, Any]:
    """What a click on a grid (or any region) shows: open, overdue, reported and closed in 30 days, and the
    open cases due first."""
    from datetime import timedelta

    require(actor, Action.CASE_VIEW)
    region = geo.get_region(session, actor, region_code)
    base = select(Case).where(_visible(actor), Case.region_path.startswith(region.path))
    now = clock.now()
    since = now - timedelta(days=30)

    def count(*conds: Any) -> int:
        return session.scalar(select(func.count()).select_from(base.where(*conds).subquery())) or 0
    open_rows = list_cases(session, actor, region=region_code, open_only=True, limit=8)["items"]
    return {"code": region.code, "name": region.name,
            "open": count(Case.closed.is_(False)),
            "overdue": count(Case.closed.is_(False), Case.due_at <= now),
            "reported_30d": count(Case.reported_at >= since),
            "closed_30d": count(Case.state == "closed", Case.closed_at >= since),
            "cases": open_rows}


SORTS = {"due": "期限最近在前", "new": "最新上报在前", "old": "最早上报在前"}


def _visible(actor: Actor) -> Any:
    """SQL condition for the cases the actor may see (the same rule as policy.case_parties)."""
    conds = []
    for g in actor.grants:
        if g.role == Role.DEPARTMENT_HANDLER and g.department_id:
            conds.append(Case.department_id == g.department_id)
        elif g.role == Role.CITIZEN:
            continue
        elif g.region_path and Action.CASE_VIEW in PERMISSIONS[g.role]:
            conds.append(Case.region_path.startswith(g.region_path))
    if actor.grid_ids:
        conds.append(Case.grid_id.in_(actor.grid_ids))
    conds.append(Case.reporter_id == actor.user_id)
    return or_(*conds)


def queue_query(actor: Actor, queue: str) -> Select[tuple[Case]]:
    if queue not in QUEUES:
        raise BadInput("unknown_queue", f"未知队列 {queue}", f"Unknown queue {queue!r}; use {', '.join(QUEUES)}")
    q = select(Case).where(_visible(actor))
    held = or_(*[and_(Case.level == ROLE_LEVEL[g.role], Case.holder_path == g.region_path)
                 for g in actor.grants if g.role in ROLE_LEVEL]) if any(
        g.role in ROLE_LEVEL for g in actor.grants) else None
    depts = [g.department_id for g in actor.grants if g.role == Role.DEPARTMENT_HANDLER and g.department_id]
    now = clock.now()
    if queue == "to_accept":
        q = q.where(Case.state == "reported", held if held is not None else False)
    elif queue == "to_dispatch":
        q = q.where(Case.state == "accepted", held if held is not None else False)
    elif queue == "returned":
        q = q.where(Case.state == "returned", held if held is not None else False)
    elif queue == "in_handling":
        q = q.where(Case.state.in_(("dispatched", "in_handling")))
    elif queue == "department":
        q = q.where(Case.state.in_(("dispatched", "in_handling")), Case.department_id.in_(depts or [-1]))
    elif queue == "to_verify":
        q = q.where(Case.state == "handled", Case.grid_id.in_(actor.grid_ids or {-1}))
    elif queue == "to_close":
        q = q.where(Case.state == "verified", held if held is not None else False)
    elif queue == "due_soon":
        q = q.where(Case.closed.is_(False), Case.warn_at.is_not(None), Case.warn_at <= now, Case.due_at > now)
    elif queue == "overdue":
        q = q.where(Case.closed.is_(False), Case.due_at.is_not(None), Case.due_at <= now)
    elif queue == "supervised":
        q = q.where(Case.closed.is_(False), Case.supervision.is_not(None))
    elif queue == "parked":
        q = q.where(Case.state == "parked")
    elif queue == "extension":
        q = q.where(Case.extension_requested_hours.is_not(None), held if held is not None else False)
    elif queue == "mine":
        q = q.where(Case.reporter_id == actor.user_id)
    return q


def local_day_start(day: str | None, next_day: bool = False) -> datetime | None:
    """The UTC instant a local (China) date starts (or the next one starts: an inclusive end); None if empty."""
    from datetime import date as _date, timedelta

    if not day:
        return None
    try:
        d = _date.fromisoformat(day) + timedelta(days=1 if next_day else 0)
    except ValueError:
        raise BadInput("invalid_date", f"日期格式应为 YYYY-MM-DD:{day}", f"Cannot read date {day!r}") from None
    return datetime(d.year, d.month, d.day, tzinfo=clock.CHINA_TZ)


def list_cases(session: Session, actor: Actor, *, queue: str = "all", state: str | None = None,
               category: str | None = None, source: str | None = None, region: str | None = None,
               light: str | None = None, text: str | None = None, date_from: datetime | None = None,
               date_to: datetime | None = None, sort: str = "due", open_only: bool = False, limit: int = 50,
               offset: int = 0, reporter: str | None = None, verifier: str | None = None) -> dict[str, Any]:
    """A page of the actor's cases in a queue, filtered and sorted (SORTS); with the total. `reporter` and
    `verifier` are user names: cases that user reported, or verified (核查) at least once."""
    require(actor, Action.CASE_VIEW)
    q = queue_query(actor, queue)
    for name, who in (("reporter", reporter), ("verifier", verifier)):
        if not who:
            continue
        uid = session.scalar(select(User.id).where(User.username == who.strip()))
        if uid is None:
            raise BadInput("unknown_user", f"用户 {who} 不存在", f"Unknown user {who!r}", extra={"field": name})
        q = q.where(Case.reporter_id == uid) if name == "reporter" else q.where(Case.id.in_(
            select(TimelineEntry.case_id).where(TimelineEntry.actor_id == uid, TimelineEntry.action == "verify")))
    if state:
        if state not in STATES:
            raise BadInput("invalid_state", f"未知状态 {state}", f"Unknown state {state!r}")
        q = q.where(Case.state == state)
    if open_only:
        q = q.where(Case.closed.is_(False))
    if category:
        q = q.where(Case.category_code.startswith(category))
    if source:
        q = q.where(Case.source == source)
    if region:
        r = geo.get_region(session, actor, region)
        q = q.where(Case.region_path.startswith(r.path))
    if text:
        like = f"%{text.strip()}%"
        q = q.where(or_(Case.title.like(like), Case.number.like(like), Case.address.like(like)))
    if date_from and date_to and date_to < date_from:
        raise BadInput("invalid_date_range", "结束日期早于开始日期", "date_to is before date_from")
    if date_from:
        q = q.where(Case.reported_at >= date_from)
    if date_to:
        q = q.where(Case.reported_at < date_to)
    now = clock.now()
    if light:
        open_ = and_(Case.closed.is_(False), Case.due_at.is_not(None))
        q = q.where(open_, {"red": Case.due_at <= now,
                            "yellow": and_(Case.warn_at <= now, Case.due_at > now),
                            "green": Case.warn_at > now}.get(light, False))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    if sort not in SORTS:
        raise BadInput("invalid_sort", f"未知排序 {sort}", f"sort must be one of {', '.join(SORTS)}")
    order = {"due": (Case.due_at.is_(None), Case.due_at, Case.id.desc()), "new": (Case.reported_at.desc(), Case.id.desc()),
             "old": (Case.reported_at, Case.id)}[sort]
    rows = list(session.scalars(q.order_by(*order).limit(limit).offset(offset)))
    names = _name_maps(session, rows)
    return {"total": total, "items": [case_summary(c, now, names) for c in rows]}


def display_names(session: Session, usernames: list[str]) -> dict[str, str]:
    """User name → display name (for the list's filter chips)."""
    names = [u for u in usernames if u]
    if not names:
        return {}
    return dict(session.execute(select(User.username, User.display_name).where(User.username.in_(names))).all())


_DESK = ("to_accept", "to_dispatch", "returned", "in_handling", "to_close", "due_soon", "overdue", "supervised",
         "parked", "extension", "mine")
# the queues each role works from (the console shows these; every queue stays reachable by its URL)
ROLE_QUEUES: dict[Role, tuple[str, ...]] = {
    Role.VILLAGE_OPERATOR: ("to_accept", "to_dispatch", "returned", "in_handling", "to_close", "due_soon", "overdue",
                            "supervised", "parked", "mine"),
    Role.TOWN_DISPATCHER: _DESK, Role.CITY_DISPATCHER: _DESK,
    Role.DEPARTMENT_HANDLER: ("department", "due_soon", "overdue", "supervised"),
    Role.GRID_WORKER: ("to_verify", "mine", "due_soon", "overdue"),
    Role.CITIZEN: ("mine",),
}


def queues_for(actor: Actor) -> list[str]:
    """The actor's queues in console order; roles without a desk (leader, admin, integration) see them all."""
    wanted = set()
    for g in actor.grants:
        wanted.update(ROLE_QUEUES.get(g.role, tuple(QUEUES)))
    return [q for q in QUEUES if q in wanted and q != "all"]


def queue_counts(session: Session, actor: Actor) -> dict[str, int]:
    """How many cases wait in each of the actor's queues (for the console's badges)."""
    require(actor, Action.CASE_VIEW)
    return {name: session.scalar(select(func.count()).select_from(queue_query(actor, name).subquery())) or 0
            for name in queues_for(actor)}


# ---------------------------------------------------------------------------------------------
# photos


def storage():
    """The file store (a local directory by default; see CIVICGRID_STORAGE_DIR)."""
    from civicgrid.config import get_settings
    from civicgrid.files.storage import LocalStorage

    return LocalStorage(get_settings().storage_dir)


def add_photo(session: Session, actor: Actor, number: str, data: bytes, filename: str = "") -> Attachment:
    """Check, clean (EXIF), thumbnail and store a photo for a case; an action then cites it by id."""
    from civicgrid.config import get_settings
    from civicgrid.files.images import process_image
    from civicgrid.files.storage import content_key

    case = get_case(session, actor, number)
    parties = case_parties(actor, case)
    if not parties & {"holder", "department", "grid", "reporter", "supervisor"}:
        raise BadInput("cannot_upload", "您不能为该事件上传照片", "You may not add photos to this case")
    img = process_image(data, filename=filename, max_bytes=int(get_settings().upload_max_mb * 1024 * 1024))
    key = content_key(img.sha256, img.ext)
    thumb_key = content_key(hashlib.sha256(img.thumb).hexdigest(), "jpg")
    store = storage()
    if not store.exists(key):
        store.put(key, img.data)
    if not store.exists(thumb_key):
        store.put(thumb_key, img.thumb)
    att = Attachment(case_id=case.id, key=key, thumb_key=thumb_key, mime=img.mime, size=len(img.data),
                     width=img.width, height=img.height, sha256=img.sha256,
                     lon=img.gps[0] if img.gps else None, lat=img.gps[1] if img.gps else None,
                     uploaded_by=actor.user_id, uploaded_at=clock.now())
    session.add(att)
    session.flush()
    return att


def attach_to_report(session: Session, case: Case, att: Attachment) -> None:
    """A photo sent with the report belongs to the case's first timeline entry."""
    att.entry_id = session.scalars(select(TimelineEntry.id).where(TimelineEntry.case_id == case.id,
                                                                  TimelineEntry.seq == 1)).one()


def link_photos(session: Session, actor: Actor, case: Case, entry: TimelineEntry, ids: list[int]) -> None:
    """Attach uploaded photos to the timeline entry of the action that cites them."""
    if not ids:
        return
    rows = session.scalars(select(Attachment).where(Attachment.id.in_(ids))).all()
    if len(rows) != len(set(ids)) or any(a.case_id != case.id or a.uploaded_by != actor.user_id
                                         or a.entry_id is not None for a in rows):
        raise BadInput("invalid_photos", "照片无效:请先为本事件上传照片", "photos must be unused uploads of yours "
                       "for this case", extra={"field": "photos"})
    for a in rows:
        a.entry_id = entry.id


def get_photo(session: Session, actor: Actor, attachment_id: int, *, thumb: bool = False) -> tuple[bytes, str]:
    att = session.get(Attachment, attachment_id)
    if att is None:
        raise NotFound("photo", "照片不存在或无权查看")
    case = session.get(Case, att.case_id)
    require_case_view(actor, case)
    if thumb:
        return storage().get(att.thumb_key), "image/jpeg"
    return storage().get(att.key), att.mime


def photos_of(session: Session, case: Case) -> list[dict[str, Any]]:
    return [{"id": a.id, "entry_id": a.entry_id, "mime": a.mime, "width": a.width, "height": a.height,
             "url": f"/api/v1/photos/{a.id}", "thumb_url": f"/api/v1/photos/{a.id}?thumb=1"}
            for a in session.scalars(select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id))]


# ---------------------------------------------------------------------------------------------
# inbox


def inbox(session: Session, actor: Actor, *, unread_only: bool = False, limit: int = 50,
          offset: int = 0) -> dict[str, Any]:
    q = select(Notification).where(Notification.user_id == actor.user_id)
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    unread = session.scalar(select(func.count()).where(Notification.user_id == actor.user_id,
                                                       Notification.read_at.is_(None))) or 0
    rows = session.scalars(q.order_by(Notification.id.desc()).limit(limit).offset(offset)).all()
    numbers = dict(session.execute(select(Case.id, Case.number).where(
        Case.id.in_({n.case_id for n in rows if n.case_id}))).all()) if rows else {}
    return {"total": total, "unread": unread, "items": [
        {"id": n.id, "kind": n.kind, "message": n.message, "case": numbers.get(n.case_id or 0),
         "created_at": n.created_at.isoformat(), "read": n.read_at is not None} for n in rows]}


def mark_read(session: Session, actor: Actor, ids: list[int] | None = None) -> int:
    q = select(Notification).where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
    if ids is not None:
        q = q.where(Notification.id.in_(ids))
    rows = session.scalars(q).all()
    for n in rows:
        n.read_at = clock.now()
    return len(rows)


BULK_ACTIONS = ("dispatch", "supervise")


def bulk_departments(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Departments the actor's command centres may dispatch to (for bulk dispatch from a queue)."""
    regions = [g.region_id for g in actor.grants
               if g.role in (Role.TOWN_DISPATCHER, Role.CITY_DISPATCHER) and g.region_id]
    if not regions:
        return []
    rows = session.scalars(select(Department).where(Department.region_id.in_(regions), Department.active.is_(True))
                           .order_by(Department.code)).all()
    return [{"code": d.code, "name": d.name} for d in rows]


def bulk_act(session: Session, actor: Actor, items: list[tuple[str, int | None]], action: str,
             payload: dict[str, Any], *, client: str = "web") -> list[dict[str, Any]]:
    """Apply one action to several cases, each on its own (a savepoint per case): one refusal does not stop
    the others. items are (number, the version the user saw). Returns per case: ok, or the reason."""
    if action not in BULK_ACTIONS:
        raise BadInput("bulk_not_allowed", "该操作不能批量执行", f"{action!r} cannot be applied in bulk",
                       extra={"allowed": list(BULK_ACTIONS)})
    if not items:
        raise BadInput("nothing_selected", "请先勾选要处理的事件", "No case selected")
    if len(items) > 100:
        raise BadInput("too_many", "一次最多批量处理 100 件", "At most 100 cases at once")
    out = []
    for number, version in items:
        try:
            with session.begin_nested():
                act(session, actor, number, action, dict(payload), expected_version=version, client=client)
            out.append({"number": number, "ok": True})
        except DomainError as exc:
            out.append({"number": number, "ok": False, "message": exc.message_zh, "code": exc.code})
    return out


def dispatch_options(session: Session, case: Case) -> list[dict[str, Any]]:
    """Departments the holding centre may dispatch this case to, the lead department first."""
    from civicgrid.access.models import DEPARTMENT_KINDS

    lead = (case.rules.get("lead_departments") or {}).get(case.level)
    rows = session.scalars(select(Department).where(Department.region_id == case.holder_region_id,
                                                    Department.active.is_(True)).order_by(Department.code)).all()
    out = [{"code": d.code, "name": d.name, "kind": DEPARTMENT_KINDS.get(d.kind, d.kind), "lead": d.kind == lead}
           for d in rows]
    return sorted(out, key=lambda d: not d["lead"])
