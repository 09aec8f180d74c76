"""Reading the registry: filtered, paged lists inside the actor's scope, search (exact numbers through the keyed
hash, names and addresses by substring), records as users see them (masked numbers, Chinese labels), details
with history, grid summaries and XLSX export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.policy import Action, Actor, can, require
from civicgrid.access.models import Department
from civicgrid.access.service import audit
from civicgrid.errors import BadInput, NotFound
from civicgrid.geo import service as geo
from civicgrid.geo.models import Region
from civicgrid.registry.ids import InvalidCode, parse_id_number, parse_phone
from civicgrid.registry.models import (Address, Building, Dwelling, Facility, Organisation, RegistryChange,
                                       RegistryImport, Residence, Resident, ResidentTag)
from civicgrid.registry.schemas import (FACILITY_KIND_LABELS, FACILITY_STATUS_LABELS, FACILITY_STYLES, HOUSEHOLD_LABELS,
                                        INSPECTION_LABELS, ORG_KIND_LABELS, RELATION_LABELS, SEX_LABELS,
                                        STRUCTURE_LABELS, TAGS, USE_LABELS)
from civicgrid.registry.service import ENTITIES, _scope, floor_number, get_record, number_hash

PAGE_MAX = 200


@dataclass
class Filters:
    q: str = ""  # name, ID number, phone, address or organisation name
    region_code: str = ""  # town, village or grid
    kind: str = ""  # household / use / org kind / facility kind / building structure
    tag: str = ""
    status: str = ""  # facilities: in_service / faulty / out_of_service
    page: int = 1
    size: int = 50


def _region_prefix(session: Session, actor: Actor, code: str) -> str | None:
    if not code:
        return None
    r = geo.find_region(session, code)
    if r is None:
        raise NotFound("region", f"区域 {code} 不存在")
    require(actor, Action.REGISTRY_VIEW, r)
    return r.path


def _text_filter(model: Any, q: str) -> Any:
    """Exact number search through the keyed hash, or a name/address substring."""
    s = "".join(q.split())
    conds = []
    digits = s.replace("-", "").replace("+86", "")
    if model is Resident:
        if len(s) == 18:
            try:
                conds.append(Resident.id_hash == number_hash(parse_id_number(s, today=clock.today()).number,
                                                             "id_number"))
            except InvalidCode:
                pass
        if digits.isdigit() and len(digits) >= 10:
            try:
                conds.append(Resident.phone_hash == number_hash(parse_phone(digits), "phone"))
            except InvalidCode:
                pass
        conds.append(Resident.name.contains(s))
        conds.append(Resident.dwelling_id.in_(select(Dwelling.id).join(Address, Address.id == Dwelling.address_id)
                                              .where(Address.full.contains(s))))
    elif model is Organisation:
        conds += [Organisation.name.contains(s), Organisation.uscc == s.upper(),
                  Organisation.address_id.in_(select(Address.id).where(Address.full.contains(s)))]
    elif model is Dwelling:
        conds += [Dwelling.owner_name.contains(s),
                  Dwelling.address_id.in_(select(Address.id).where(Address.full.contains(s)))]
    elif model is Facility:
        conds += [Facility.name.contains(s), Facility.code == s]
    elif model is Building:
        conds += [Building.name.contains(s),
                  Building.address_id.in_(select(Address.id).where(Address.full.contains(s)))]
    elif model is Address:
        conds += [Address.full.contains(s), Address.code == s]
    return or_(*conds)


KIND_COLUMN = {"resident": "household", "dwelling": "use", "organisation": "kind", "facility": "kind",
               "building": "structure"}


def query(session: Session, actor: Actor, entity: str, f: Filters) -> Select:
    """The SELECT of an entity's records matching the filters, inside the actor's scope."""
    require(actor, Action.REGISTRY_VIEW)
    model = ENTITIES[entity]
    q = _scope(select(model), model, actor)
    prefix = _region_prefix(session, actor, f.region_code)
    if prefix:
        q = q.where(model.region_path.startswith(prefix))
    if f.q.strip():
        q = q.where(_text_filter(model, f.q))
    if f.kind and entity in KIND_COLUMN:
        q = q.where(getattr(model, KIND_COLUMN[entity]) == f.kind)
    if f.status and entity == "facility":
        q = q.where(Facility.status == f.status)
    if f.tag and entity == "resident":
        if TAGS.get(f.tag, ("", False))[1]:
            require(actor, Action.SENSITIVE_TAG_VIEW)
        today = clock.today()
        q = q.where(Resident.id.in_(select(ResidentTag.resident_id).where(
            ResidentTag.tag == f.tag, ResidentTag.valid_from <= today,
            or_(ResidentTag.valid_to.is_(None), ResidentTag.valid_to >= today))))
    return q


def list_records(session: Session, actor: Actor, entity: str, f: Filters) -> dict[str, Any]:
    """One page of an entity's records (newest first) with the total, as the list pages and API show them."""
    if entity not in ENTITIES:
        raise NotFound(entity)
    q = query(session, actor, entity, f)
    model = ENTITIES[entity]
    total = session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
    size = max(1, min(f.size, PAGE_MAX))
    page = max(1, f.page)
    rows = list(session.scalars(q.order_by(model.id.desc()).offset((page - 1) * size).limit(size)))
    return {"total": total, "page": page, "size": size, "pages": max(1, -(-total // size)),
            "items": outs(session, actor, entity, rows)}


def outs(session: Session, actor: Actor, entity: str, rows: list[Any]) -> list[dict[str, Any]]:
    """Rows as users see them: masked numbers, Chinese labels, their address and grid names."""
    addr_ids = {getattr(r, "address_id", None) for r in rows} - {None}
    if entity == "resident":
        dw = {d.id: d for d in session.scalars(select(Dwelling).where(
            Dwelling.id.in_({r.dwelling_id for r in rows} - {None})))}
        addr_ids |= {d.address_id for d in dw.values()}
    addrs = {a.id: a for a in session.scalars(select(Address).where(Address.id.in_(addr_ids)))} if addr_ids else {}
    depts: dict[int | None, str] = {}
    if entity == "facility":
        dep_ids = {r.owner_department_id for r in rows} | {r.maintainer_department_id for r in rows}
        depts = dict(session.execute(select(Department.id, Department.name)
                                     .where(Department.id.in_(dep_ids - {None}))).all())
    counts: dict[int, tuple[int, int]] = {}
    if entity == "building":
        ids = [r.id for r in rows]
        counts = {b: (n, p or 0) for b, n, p in session.execute(
            select(Dwelling.building_id, func.count(Dwelling.id), func.sum(_residents_of(Dwelling.id)))
            .where(Dwelling.building_id.in_(ids)).group_by(Dwelling.building_id))}
    grid_ids = {r.grid_id for r in rows} - {None}
    grids = {g.id: g for g in session.scalars(select(Region).where(Region.id.in_(grid_ids)))} if grid_ids else {}
    out = []
    for r in rows:
        grid = grids.get(r.grid_id)
        base = {"id": r.id, "grid": {"code": grid.code, "name": grid.name} if grid else None}
        if entity == "resident":
            d = dw.get(r.dwelling_id) if r.dwelling_id else None
            a = addrs.get(d.address_id) if d else None
            base |= {"name": r.name, "id_number": r.id_masked, "phone": r.phone_masked,
                     "birth_date": r.birth_date.isoformat(), "sex": r.sex, "sex_label": SEX_LABELS[r.sex],
                     "origin_code": r.origin_code, "household": r.household,
                     "household_label": HOUSEHOLD_LABELS[r.household], "address": a.full if a else "",
                     "dwelling_id": r.dwelling_id}
        elif entity == "dwelling":
            a = addrs.get(r.address_id)
            base |= {"address": a.full if a else "", "address_code": a.code if a else "", "use": r.use,
                     "use_label": USE_LABELS[r.use], "structure": r.structure,
                     "structure_label": STRUCTURE_LABELS[r.structure],
                     "floors": r.floors, "area_m2": r.area_m2, "owner_name": r.owner_name,
                     "owner_phone": r.owner_phone_masked, "inspection_status": r.inspection_status,
                     "inspection_label": INSPECTION_LABELS[r.inspection_status],
                     "inspected_on": r.inspected_on.isoformat() if r.inspected_on else None,
                     "building_id": r.building_id}
        elif entity == "organisation":
            a = addrs.get(r.address_id)
            base |= {"name": r.name, "uscc": r.uscc or "", "kind": r.kind, "kind_label": ORG_KIND_LABELS[r.kind],
                     "address": a.full if a else "", "person_in_charge": r.person_in_charge,
                     "staff_count": r.staff_count, "safety_contact": r.safety_contact,
                     "safety_phone": r.safety_phone_masked}
        elif entity == "facility":
            a = addrs.get(r.address_id)
            base |= {"code": r.code, "name": r.name, "kind": r.kind, "kind_label": FACILITY_KIND_LABELS[r.kind],
                     "status": r.status, "status_label": FACILITY_STATUS_LABELS[r.status], "lon": r.lon,
                     "lat": r.lat, "source_crs": r.source_crs, "address": a.full if a else "",
                     # where maps draw it: its own point, else its address's
                     "point": ([r.lon, r.lat] if r.lon is not None else
                               [a.lon, a.lat] if a is not None and a.lon is not None else None),
                     "owner_department": depts.get(r.owner_department_id, ""),
                     "maintainer_department": depts.get(r.maintainer_department_id, "")}
        elif entity == "building":
            a = addrs.get(r.address_id)
            base |= {"name": r.name, "address": a.full if a else "", "address_id": r.address_id,
                     "structure": r.structure, "structure_label": STRUCTURE_LABELS[r.structure], "floors": r.floors,
                     "floors_below": r.floors_below, "dwellings": counts.get(r.id, (0, 0))[0],
                     "residents": counts.get(r.id, (0, 0))[1]}
        else:
            base |= {"code": r.code, "full": r.full, "lon": r.lon, "lat": r.lat}
        out.append(base)
    return out


def detail(session: Session, actor: Actor, entity: str, record_id: int) -> dict[str, Any]:
    """One record with its history (changes, and for a resident residences and tags)."""
    obj = get_record(session, actor, entity, record_id)
    out = outs(session, actor, entity, [obj])[0]
    changes = session.scalars(select(RegistryChange).where(RegistryChange.entity == entity,
                                                           RegistryChange.entity_id == record_id)
                              .order_by(RegistryChange.id))
    out["history"] = [{"at": c.at.isoformat(), "actor": c.actor_name, "action": c.action, "changes": c.changes}
                      for c in changes]
    made_by = session.get(RegistryImport, obj.import_id) if entity == "resident" and obj.import_id else None
    if made_by is not None:  # created by an import: its record is the first entry of the history
        out["history"].insert(0, {"at": made_by.started_at.isoformat(), "actor": made_by.actor_name,
                                  "action": "import", "changes": {}, "source": made_by.filename,
                                  "import_id": made_by.id})
    if entity == "resident":
        res = session.execute(select(Residence, Address.full).join(Dwelling, Dwelling.id == Residence.dwelling_id)
                              .join(Address, Address.id == Dwelling.address_id)
                              .where(Residence.resident_id == record_id).order_by(Residence.moved_in, Residence.id))
        out["residences"] = [{"dwelling_id": r.dwelling_id, "address": full, "relation": r.relation,
                              "relation_label": RELATION_LABELS[r.relation], "moved_in": r.moved_in.isoformat(),
                              "moved_out": r.moved_out.isoformat() if r.moved_out else None} for r, full in res]
        see_sensitive = can(actor, Action.SENSITIVE_TAG_VIEW)
        today = clock.today()
        out["tags"] = [{"tag": t.tag, "label": TAGS[t.tag][0], "sensitive": t.sensitive,
                        "valid_from": t.valid_from.isoformat(),
                        "valid_to": t.valid_to.isoformat() if t.valid_to else None,
                        "current": t.valid_from <= today and (t.valid_to is None or t.valid_to >= today),
                        "note": t.note}
                       for t in session.scalars(select(ResidentTag).where(ResidentTag.resident_id == record_id)
                                                .order_by(ResidentTag.valid_from))
                       if see_sensitive or not t.sensitive]
        out["may_unmask"] = can(actor, Action.PERSON_UNMASK)
    if entity == "dwelling" and obj.building_id:
        b = session.get(Building, obj.building_id)
        out["building"] = outs(session, actor, "building", [b])[0]
    if entity == "building":
        out["floor_rows"] = building_floors(session, obj)
    if entity == "dwelling":
        rows = session.execute(select(Residence, Resident.name).join(Resident, Resident.id == Residence.resident_id)
                               .where(Residence.dwelling_id == record_id).order_by(Residence.moved_in))
        out["occupants"] = [{"resident_id": r.resident_id, "name": name, "relation_label": RELATION_LABELS[r.relation],
                             "moved_in": r.moved_in.isoformat(),
                             "moved_out": r.moved_out.isoformat() if r.moved_out else None} for r, name in rows]
    return out


def _residents_of(dwelling_id: Any) -> Any:
    """A correlated count of the residents living in a dwelling now."""
    return select(func.count(Resident.id)).where(Resident.dwelling_id == dwelling_id).scalar_subquery()


def floor_label(n: int) -> str:
    return f"{n} 层" if n > 0 else f"地下 {-n} 层"


def building_floors(session: Session, b: Building) -> list[dict[str, Any]]:
    """A building floor by floor, top first: every floor it has (and any floor a dwelling names), each with its
    dwellings (room, use, residents now); dwellings whose address names no floor come last."""
    rows = session.execute(select(Dwelling.id, Dwelling.use, Address.floor, Address.unit, Address.room, Address.full,
                                  _residents_of(Dwelling.id)).join(Address, Address.id == Dwelling.address_id)
                           .where(Dwelling.building_id == b.id).order_by(Address.unit, Address.room, Dwelling.id))
    by_floor: dict[int | None, list[dict[str, Any]]] = {}
    for did, use, floor, unit, room, full, people in rows:
        label = (f"{unit}单元" if unit else "") + (f"{room}室" if room else "") or full
        by_floor.setdefault(floor_number(floor), []).append(
            {"id": did, "label": label, "use": use, "use_label": USE_LABELS[use], "residents": people})
    known = [n for n in by_floor if n is not None]
    top = max([b.floors or 0, *known])
    bottom = min([-(b.floors_below or 0), *known])
    out = [{"floor": n, "label": floor_label(n), "dwellings": by_floor.get(n, []),
            "beyond": (n > 0 and b.floors is not None and n > b.floors)
            or (n < 0 and b.floors_below is not None and -n > b.floors_below)}
           for n in range(top, bottom - 1, -1) if n != 0]
    if None in by_floor:
        out.append({"floor": None, "label": "楼层不详", "dwellings": by_floor[None], "beyond": False})
    return out


# ---------------------------------------------------------------------------------------------
# the facility map

POINTS_MAX = 5000


def facility_map_focus(session: Session, actor: Actor, region_code: str = "") -> Region | None:
    """The region a facility map shows: the filtered one, else the actor's outermost visible region."""
    require(actor, Action.REGISTRY_VIEW)
    if region_code:
        _region_prefix(session, actor, region_code)
    return geo.map_context(session, actor, region_code or None)["focus"]


def facility_points(session: Session, actor: Actor, *, region_code: str = "", kinds: list[str] | None = None,
                    statuses: list[str] | None = None, q: str = "", limit: int = POINTS_MAX) -> dict[str, Any]:
    """The facilities in the actor's scope as a GeoJSON FeatureCollection of WGS-84 points (a facility without
    its own point is drawn at its address's), filtered by region, kinds, statuses and text. At most `limit`
    points, faulty and out-of-service ones first; `truncated` and `note` say when there were more. `counts`
    gives the located facilities per kind under every filter but the kinds (for legends), `styles` how each
    kind is drawn."""
    require(actor, Action.REGISTRY_VIEW)
    prefix = _region_prefix(session, actor, region_code)
    lon, lat = func.coalesce(Facility.lon, Address.lon), func.coalesce(Facility.lat, Address.lat)

    def select_(*cols: Any) -> Select:
        s = _scope(select(*cols).select_from(Facility).outerjoin(Address, Address.id == Facility.address_id),
                   Facility, actor)
        if prefix:
            s = s.where(Facility.region_path.startswith(prefix))
        if q.strip():
            s = s.where(_text_filter(Facility, q))
        if statuses:
            s = s.where(Facility.status.in_(statuses))
        return s

    located = (lon.is_not(None), lat.is_not(None))
    counts = dict(session.execute(select_(Facility.kind, func.count()).where(*located).group_by(Facility.kind)).all())
    for values, allowed, code, what in ((kinds, FACILITY_KIND_LABELS, "invalid_kind", "设施类型"),
                                        (statuses, FACILITY_STATUS_LABELS, "invalid_status", "设施状态")):
        bad = [v for v in values or () if v not in allowed]
        if bad:
            raise BadInput(code, f"{what}“{bad[0]}”无效,应为:" + "、".join(f"{k}({v})" for k, v in allowed.items()),
                           f"Unknown {code[8:]} {bad[0]!r}; use one of {', '.join(allowed)}")
    chosen = list(kinds or FACILITY_KIND_LABELS)
    total = sum(counts.get(k, 0) for k in chosen)
    unlocated = session.scalar(select_(func.count()).where(Facility.kind.in_(chosen), or_(lon.is_(None), lat.is_(None))))
    limit = max(1, min(limit, POINTS_MAX))
    rows = session.execute(select_(Facility.id, Facility.code, Facility.name, Facility.kind, Facility.status, lon, lat)
                           .where(*located, Facility.kind.in_(chosen))
                           .order_by(case((Facility.status == "in_service", 1), else_=0), Facility.id).limit(limit)).all()
    features = [{"type": "Feature", "id": r[0], "geometry": {"type": "Point", "coordinates": [round(r[5], 6), round(r[6], 6)]},
                 "properties": {"id": r[0], "code": r[1], "name": r[2] or FACILITY_KIND_LABELS[r[3]], "kind": r[3],
                                "status": r[4]}} for r in rows]
    notes = []
    if total > len(features):
        notes.append(f"设施较多,地图只显示 {len(features)} 个(共 {total} 个,故障和停用的优先显示);"
                     "请选择镇街、村(社区)或网格,或只看部分类型。")
    if unlocated:
        notes.append(f"另有 {unlocated} 个设施没有坐标(也没有带坐标的地址),未在地图上显示。")
    return {"type": "FeatureCollection", "features": features, "total": total, "shown": len(features),
            "truncated": total > len(features), "limit": limit, "unlocated": unlocated or 0, "note": "".join(notes),
            "counts": {k: counts.get(k, 0) for k in FACILITY_KIND_LABELS},
            "styles": {k: {"label": FACILITY_KIND_LABELS[k], "color": c, "symbol": sym}
                       for k, (c, sym) in FACILITY_STYLES.items()},
            "statuses": FACILITY_STATUS_LABELS}


def grid_summary(session: Session, actor: Actor, region_code: str) -> dict[str, Any]:
    """Counts of residents (registered/floating), dwellings (rentals), organisations and facilities in a region."""
    require(actor, Action.REGISTRY_VIEW)
    region = geo.find_region(session, region_code)
    if region is None:
        raise NotFound("region", f"区域 {region_code} 不存在")
    require(actor, Action.REGISTRY_VIEW, region)
    p = region.path
    counts: dict[str, Any] = {}
    for entity, col in (("resident", "household"), ("dwelling", "use"), ("organisation", "kind"),
                        ("facility", "kind")):
        model = ENTITIES[entity]
        rows = session.execute(select(getattr(model, col), func.count()).where(model.region_path.startswith(p))
                               .group_by(getattr(model, col))).all()
        counts[entity] = {"total": sum(n for _, n in rows), "by": {k: n for k, n in rows}}
    return {"region": {"code": region.code, "name": region.name, "level": region.level}, "counts": counts}


# ---------------------------------------------------------------------------------------------
# export

EXPORT_COLUMNS: dict[str, list[tuple[str, str, int]]] = {
    "resident": [("姓名", "name", 10), ("公民身份号码", "id_number", 22), ("性别", "sex_label", 6),
                 ("出生日期", "birth_date", 12), ("联系电话", "phone", 14), ("户籍类型", "household_label", 10),
                 ("居住地址", "address", 40), ("网格", "grid_name", 16)],
    "dwelling": [("房屋地址", "address", 40), ("地址编码", "address_code", 24), ("房屋用途", "use_label", 8),
                 ("结构", "structure_label", 8), ("层数", "floors", 6), ("面积", "area_m2", 8),
                 ("房主姓名", "owner_name", 10), ("房主电话", "owner_phone", 14), ("检查状态", "inspection_label", 10),
                 ("检查日期", "inspected_on", 12), ("网格", "grid_name", 16)],
    "organisation": [("单位名称", "name", 24), ("统一社会信用代码", "uscc", 22), ("单位类型", "kind_label", 10),
                     ("单位地址", "address", 40), ("负责人", "person_in_charge", 10), ("从业人数", "staff_count", 8),
                     ("安全联系人", "safety_contact", 10), ("安全联系电话", "safety_phone", 14),
                     ("网格", "grid_name", 16)],
    "facility": [("设施编码", "code", 16), ("设施名称", "name", 20), ("设施类型", "kind_label", 12),
                 ("状态", "status_label", 8), ("经度", "lon", 12), ("纬度", "lat", 12), ("地址", "address", 40),
                 ("网格", "grid_name", 16)],
    "building": [("楼栋名称", "name", 20), ("楼栋地址", "address", 40), ("建筑结构", "structure_label", 8),
                 ("地上层数", "floors", 8), ("地下层数", "floors_below", 8), ("登记房屋", "dwellings", 8),
                 ("居住人数", "residents", 8), ("网格", "grid_name", 16)],
    "address": [("地址编码", "code", 24), ("标准地址", "full", 48), ("经度", "lon", 12), ("纬度", "lat", 12),
                ("网格", "grid_name", 16)],
}


def export_xlsx(session: Session, actor: Actor, entity: str, f: Filters) -> bytes:
    """Every record of a filtered list as XLSX (personal numbers masked: exports never unmask)."""
    from openpyxl import Workbook

    from civicgrid.office import style_header, to_bytes
    from civicgrid.registry.schemas import ENTITY_LABELS

    require(actor, Action.REGISTRY_EXPORT)
    if entity not in ENTITIES:
        raise NotFound(entity)
    cols = EXPORT_COLUMNS[entity]
    wb = Workbook(write_only=False)
    ws = wb.active
    ws.title = ENTITY_LABELS[entity]
    ws.append([h for h, _, _ in cols])
    q = query(session, actor, entity, f).order_by(ENTITIES[entity].id)
    n = 0
    for part in session.scalars(q.execution_options(yield_per=2000)).partitions():
        for o in outs(session, actor, entity, list(part)):
            o["grid_name"] = (o.get("grid") or {}).get("name", "")
            ws.append([o.get(k) for _, k, _ in cols])
            n += 1
    style_header(ws, 1, [w for _, _, w in cols])
    ws.freeze_panes = "A2"
    audit(session, actor, "registry.export", entity, None, {"rows": n, "q": f.q, "region": f.region_code})
    return to_bytes(wb)


def imports(session: Session, actor: Actor, *, limit: int = 20) -> list[dict[str, Any]]:
    """The actor's latest imports (导入记录), newest first: what, which file, when, and what each did."""
    require(actor, Action.REGISTRY_IMPORT)
    rows = session.scalars(select(RegistryImport).where(RegistryImport.actor_id == (actor.user_id or None))
                           .order_by(RegistryImport.id.desc()).limit(limit))
    return [{"id": i.id, "kind": i.kind, "filename": i.filename, "mode": i.mode, "actor": i.actor_name,
             "started_at": i.started_at.isoformat(),
             "finished_at": i.finished_at.isoformat() if i.finished_at else None,
             "total": i.total, "created": i.created, "updated": i.updated, "error_rows": i.error_rows} for i in rows]
