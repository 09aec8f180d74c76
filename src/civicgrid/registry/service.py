"""Registry rules: standard addresses (located in a grid, or in their village), dwellings and buildings,
residents with residences and tags, organisations and facilities; masking and audited unmasking, change
history, and re-encryption under a new key. Row checks live in checks.py, reading (lists, search, details,
grid summaries, export) in queries.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, bindparam, insert, or_, select
from sqlalchemy.orm import Session

from civicgrid import bulk, clock
from civicgrid.access.models import Department
from civicgrid.access.policy import Action, Actor, require
from civicgrid.access.service import audit
from civicgrid.errors import BadInput, Conflict, NotFound
from civicgrid.geo import service as geo
from civicgrid.geo.crs import to_wgs84
from civicgrid.geo.models import Region
from civicgrid.registry import crypto
from civicgrid.registry.address import (TOWN_SUFFIXES, VILLAGE_SUFFIXES, Gazetteer, Matcher, Parsed, canonical,
                                        display_village, short_name)
from civicgrid.registry.checks import (check_building, check_dwelling, check_facility, check_organisation,
                                       check_resident, date_value, enum_value)
from civicgrid.registry.ids import InvalidCode, parse_phone
from civicgrid.registry.models import (HOUSEHOLDS, RELATIONS, Address, Building, Dwelling, Facility, Organisation,
                                       RegistryChange, Residence, Resident, ResidentTag)
from civicgrid.registry.schemas import HOUSEHOLD_LABELS, RELATION_LABELS, TAGS

ENTITIES = {"resident": Resident, "dwelling": Dwelling, "organisation": Organisation, "facility": Facility,
            "address": Address, "building": Building}

# ---------------------------------------------------------------------------------------------
# regions: the gazetteer of towns and villages, and locating an address


@dataclass
class Places:
    """Current towns and villages by short name, for parsing and for placing addresses."""

    gazetteer: Gazetteer
    villages: dict[tuple[str, str], Region]  # (town short, village short) → village
    by_village: dict[str, list[Region]]  # village short → villages with that name


def places(session: Session) -> Places:
    """The gazetteer of the current regions (cached on the session for a request or an import)."""
    cached = session.info.get("registry_places")
    if cached is not None:
        return cached
    towns = {r.id: r for r in session.scalars(select(Region).where(Region.level == "town", geo.current_filter()))}
    g = Gazetteer()
    villages: dict[tuple[str, str], Region] = {}
    by_village: dict[str, list[Region]] = {}
    for t in towns.values():
        g.add(t.name)
    for v in session.scalars(select(Region).where(Region.level == "village", geo.current_filter())):
        t = towns.get(v.parent_id or 0)
        if t is None:
            continue
        g.add(t.name, v.name)
        key = (short_name(t.name, TOWN_SUFFIXES), short_name(v.name, VILLAGE_SUFFIXES))
        villages[key] = v
        by_village.setdefault(key[1], []).append(v)
    out = Places(g, villages, by_village)
    session.info["registry_places"] = out
    return out


def _village_of(session: Session, p: Parsed) -> Region | None:
    pl = places(session)
    if p.town and p.village:
        return pl.villages.get((p.town, p.village))
    if p.village and len(pl.by_village.get(p.village, [])) == 1:
        return pl.by_village[p.village][0]
    return None


def _locate(session: Session, lon: float | None, lat: float | None) -> Region | None:
    if lon is None or lat is None:
        return None
    import numpy as np

    loc, _wlon, _wlat, idx, _dist, status = geo.locate_arrays(session, np.array([lon]), np.array([lat]))
    if status[0] or int(idx[0]) < 0:
        return None
    return session.get(Region, loc.grids[int(idx[0])].id)


def _scope(q: Select, model: Any, actor: Actor, action: Action = Action.REGISTRY_VIEW) -> Select:
    paths = actor.scope_paths(action)
    if not paths:
        return q.where(False)
    return q.where(or_(*[model.region_path.startswith(p) for p in paths]))


def _fail(errors: dict[str, str], what: str = "记录") -> None:
    if errors:
        raise BadInput("invalid_fields", f"{what}有误:" + ";".join(errors.values()),
                       "Invalid fields: " + ", ".join(errors), extra={"errors": errors})


def _history(session: Session, actor: Actor, entity: str, entity_id: int, action: str,
             changes: dict[str, Any] | None = None) -> None:
    session.add(RegistryChange(entity=entity, entity_id=entity_id, at=clock.now(), actor_id=actor.user_id or None,
                               actor_name=actor.display_name, action=action, changes=changes or {}))


# ---------------------------------------------------------------------------------------------
# addresses


def address_code(region_code: str, key: str) -> str:
    """A stable code: the grid's (or village's) code and a digest of the normalised levels."""
    return f"{region_code}-{hashlib.sha1(key.encode()).hexdigest()[:10].upper()}"


def check_address(session: Session, levels: dict[str, Any]) -> tuple[Parsed, Region | None, dict[str, str]]:
    """Normalise levels and find their village; errors name the level."""
    p = canonical({k: str(v or "") for k, v in levels.items()})
    errors: dict[str, str] = {}
    if not p.town:
        errors["town"] = "镇街不能为空"
    if not p.village:
        errors["village"] = "村(社区)不能为空"
    village = _village_of(session, p) if not errors else None
    if not errors and village is None:
        errors["village"] = f"找不到“{levels.get('town')}{levels.get('village')}”这个村(社区)"
    if not (p.road or p.compound):
        errors["road"] = "街路巷和小区至少填写一项"
    return p, village, errors


def ensure_address(session: Session, actor: Actor, levels: dict[str, Any], *, lon: float | None = None,
                   lat: float | None = None) -> tuple[Address, bool]:
    """The standard address with these levels, created (located in its grid, or its village) when new."""
    p, village, errors = check_address(session, levels)
    _fail(errors, "地址")
    assert village is not None
    existing = session.scalars(select(Address).where(Address.key == p.key())).first()
    if existing is not None:
        require(actor, Action.REGISTRY_VIEW, existing)
        return existing, False
    grid = _locate(session, lon, lat)
    if lon is not None and grid is None:
        raise BadInput("outside_city", "坐标不在本市任何网格内,请检查经纬度", "Location is in no grid",
                       extra={"errors": {"lon": "坐标不在本市任何网格内"}})
    if grid is not None and not grid.path.startswith(village.path):
        raise BadInput("location_mismatch", "坐标所在网格不属于所填的村(社区),请核对地址或坐标",
                       "The location lies outside the address's village",
                       extra={"errors": {"lon": "坐标所在网格不属于所填的村(社区)"}})
    region = grid or village
    require(actor, Action.REGISTRY_EDIT, region)
    a = Address(code=address_code(region.code, p.key()), key=p.key(), full=p.display(
        _town_name(session, village), display_village(village.name)), lon=lon, lat=lat, village_id=village.id,
        grid_id=grid.id if grid else None, region_path=region.path,
        **{lv: getattr(p, lv) for lv in ("town", "village", "road", "house_no", "compound", "building", "unit",
                                          "floor", "room")})
    session.add(a)
    session.flush()
    _history(session, actor, "address", a.id, "create")
    if "registry_matcher" in session.info:
        session.info["registry_matcher"].add(a.id, p, a.full)
    return a, True


def forget_caches(session: Session) -> None:
    """Drop the session's gazetteer and address index (after a rolled-back savepoint)."""
    session.info.pop("registry_matcher", None)
    session.info.pop("registry_places", None)
    session.info.pop("registry_buildings", None)


def _town_name(session: Session, village: Region) -> str:
    town = session.get(Region, village.parent_id) if village.parent_id else None
    return town.name if town else ""


def matcher(session: Session) -> Matcher:
    """An index of every standard address (cached on the session; imports add to it as they create)."""
    m = session.info.get("registry_matcher")
    if m is None:
        m = Matcher(places(session).gazetteer)
        cols = (Address.id, Address.full, Address.town, Address.village, Address.road, Address.house_no,
                Address.compound, Address.building, Address.unit, Address.floor, Address.room)
        for row in session.execute(select(*cols)):
            m.add(row[0], Parsed(*row[2:]), row[1])
        session.info["registry_matcher"] = m
    return m


def match_address(session: Session, actor: Actor, text: str) -> dict[str, Any]:
    """Parse a free-text address and match it: exact, fuzzy (sure), unsure with candidates, or none."""
    require(actor, Action.REGISTRY_VIEW)
    m = matcher(session).match(text)
    ids = [i for i, _ in m.candidates]
    rows = {a.id: a for a in session.scalars(_scope(select(Address).where(Address.id.in_(ids)), Address, actor))}
    cands = [{"id": i, "code": rows[i].code, "full": rows[i].full, "confidence": c} for i, c in m.candidates
             if i in rows]
    visible = m.address_id in rows if m.address_id else False
    return {"status": m.status if (visible or m.address_id is None) else "none", "confidence": m.confidence,
            "address": cands[0] if visible else None, "candidates": cands,
            "parsed": m.parsed.levels() if m.parsed else {}}


def resolve_address(session: Session, actor: Actor, *, text: str = "", address_id: int | None = None) -> Address:
    """The standard address a form or row points at (by id, or by a sure match of its text)."""
    if address_id:
        a = session.get(Address, address_id)
        if a is None:
            raise NotFound("address", "标准地址不存在或无权查看")
        require(actor, Action.REGISTRY_VIEW, a)
        return a
    if not text.strip():
        raise BadInput("address_missing", "请填写地址", "Address missing", extra={"errors": {"address": "请填写地址"}})
    m = matcher(session).match(text)
    if m.address_id is None:
        hint = "" if not m.candidates else ",可能是:" + "、".join(
            session.get(Address, i).full for i, _ in m.candidates[:3])  # type: ignore[union-attr]
        msg = ("地址无法确定" if m.status == "unsure" else "地址未匹配到任何标准地址") + hint
        raise BadInput("address_unmatched", msg, f"Address not matched ({m.status})",
                       extra={"errors": {"address": msg}, "candidates": [i for i, _ in m.candidates]})
    a = session.get(Address, m.address_id)
    assert a is not None
    require(actor, Action.REGISTRY_VIEW, a)
    return a


# ---------------------------------------------------------------------------------------------
# personal numbers


def seal(value: str | None, purpose: str) -> tuple[str | None, str | None, str]:
    """(ciphertext, keyed hash, mask) of a personal number; all empty for no value."""
    return seal_many([value], purpose)[0]


def seal_many(values: list[str | None], purpose: str) -> list[tuple[str | None, str | None, str]]:
    """seal() for many values at once (imports)."""
    k = crypto.keyring()
    kind = purpose.rsplit(".", 1)[-1]
    mask = crypto.mask_id if purpose.endswith("id_number") else crypto.mask_phone
    sealed = iter(k.encrypt_many([v for v in values if v], purpose))  # type: ignore[misc]
    return [(next(sealed), k.digest(v, kind), mask(v)) if v else (None, None, "") for v in values]


def number_hash(value: str, kind: str) -> str:
    """The keyed hash an exact search looks up ('id_number' or 'phone'); same key for every table's phones."""
    return crypto.keyring().digest(value, kind)


# ---------------------------------------------------------------------------------------------
# dwellings


def _place(obj: Any, a: Address) -> None:
    obj.grid_id, obj.region_path = a.grid_id, a.region_path


def building_of(session: Session, actor: Actor, a: Address) -> int | None:
    """The building (楼栋) a room-level address lies in, created with its building-level address when new;
    None for addresses without a building level."""
    session.flush()
    return buildings_for(session, actor, [a])[a.id]


def _building_key(a: Any) -> tuple[str, ...]:
    return tuple(getattr(a, lv) for lv in ("town", "village", "road", "house_no", "compound", "building"))


def buildings_for(session: Session, actor: Actor, addrs: list[Any]) -> dict[int, int | None]:
    """address id → its building's id, for many addresses at once (imports): the buildings and their
    building-level addresses that do not exist yet are made in bulk. The same buildings as `building_of`."""
    cache = session.info.setdefault("registry_buildings", {})
    out: dict[int, int | None] = {}
    need: dict[tuple[str, ...], Address] = {}
    for a in addrs:
        if not a.building:
            out[a.id] = None
        elif (key := _building_key(a)) in cache:
            out[a.id] = cache[key]
        else:
            need.setdefault(key, a)
    if need:
        items, own = [], {}
        vids = list({a.village_id for a in need.values() if a.village_id})
        village_names = dict(session.execute(select(Region.id, Region.name).where(Region.id.in_(vids))).all())
        for key, a in need.items():
            if a.unit or a.floor or a.room:
                levels = dict(zip(("town", "village", "road", "house_no", "compound", "building"), key))
                levels["village"] = (display_village(village_names[a.village_id]) if a.village_id in village_names
                                     else a.village)
                items.append((levels, a.lon, a.lat))
            else:
                own[key] = a.id
        made = iter(create_addresses(session, actor, items)) if items else iter(())
        baddr = {key: own[key] if key in own else next(made) for key in need}
        ids = list(set(baddr.values()))
        found: dict[int, int] = {}
        found.update(bulk.select_in(session, select(Building.address_id, Building.id), Building.address_id, ids))
        missing = [i for i in ids if i not in found]
        if missing:
            now = clock.now()
            rows = []
            for ba in bulk.select_in(session, select(Address.id, Address.compound, Address.road, Address.building,
                                                     Address.grid_id, Address.region_path), Address.id, missing):
                rows.append({"address_id": ba.id, "name": f"{ba.compound or ba.road}{ba.building}栋",
                             "grid_id": ba.grid_id, "region_path": ba.region_path, "created_at": now,
                             "updated_at": now})
            session.execute(insert(Building.__table__), rows)
            found.update(bulk.select_in(session, select(Building.address_id, Building.id), Building.address_id,
                                        missing))
        for key in need:
            cache[key] = found[baddr[key]]
        for a in addrs:
            if a.id not in out:
                out[a.id] = cache[_building_key(a)]
    return out


def dwellings_for(session: Session, actor: Actor, uses: dict[int, str]
                  ) -> tuple[dict[int, int], dict[int, tuple[int | None, str]]]:
    """For many standard addresses at once (imports): address id → dwelling id, the dwellings that do not exist
    yet made with the given use, and address id → (grid id, region path)."""
    ids = list(uses)
    dwell: dict[int, int] = {}
    addrs: dict[int, Any] = {}
    cols = (Address.id, Address.grid_id, Address.region_path, Address.village_id, Address.lon, Address.lat,
            *(getattr(Address, lv) for lv in ("town", "village", "road", "house_no", "compound", "building", "unit",
                                              "floor", "room")))
    addrs.update((a.id, a) for a in bulk.select_in(session, select(*cols), Address.id, ids))
    dwell.update(bulk.select_in(session, select(Dwelling.address_id, Dwelling.id), Dwelling.address_id, ids))
    missing = [a for a in ids if a not in dwell]
    if missing:
        buildings = buildings_for(session, actor, [addrs[a] for a in missing])
        now = clock.now()
        session.flush()
        new_ids = bulk.reserve_ids(session, Dwelling.__table__, len(missing))
        bulk.insert_rows(session, Dwelling.__table__, (
            "id", "address_id", "use", "structure", "grid_id", "region_path", "owner_name", "owner_phone_masked",
            "building_id", "inspection_status", "created_at", "updated_at"), [
            (i, a, uses[a], "other", addrs[a].grid_id, addrs[a].region_path, "", "", buildings[a], "not_inspected",
             now, now) for i, a in zip(new_ids, missing)])
        dwell.update(zip(missing, new_ids))
    return dwell, {a: (addrs[a].grid_id, addrs[a].region_path) for a in ids}


def floor_number(floor: str) -> int | None:
    """The floor an address level names as a number (negative below ground); None when unknown or 0."""
    try:
        return int(floor) or None
    except (TypeError, ValueError):
        return None


def floor_problem(b: Building, floor: int | None) -> str | None:
    """Why a dwelling on `floor` cannot be in building b (above its floors, or below ground where it has
    fewer levels); None when it fits or either is unknown."""
    if floor is None:
        return None
    if floor > 0 and b.floors is not None and floor > b.floors:
        return f"房屋所在楼层({floor} 层)高于所在楼栋的地上层数({b.floors} 层)"
    if floor < 0 and b.floors_below is not None and -floor > b.floors_below:
        return (f"房屋位于地下 {-floor} 层,但所在楼栋" +
                (f"只有 {b.floors_below} 层地下室" if b.floors_below else "没有地下层"))
    return None


def dwelling_floor_problem(session: Session, a: Address, building_id: int | None) -> str | None:
    """The floor check of a new dwelling at address a in its building (forms, API; importers may call it per row)."""
    b = session.get(Building, building_id) if building_id else None
    return floor_problem(b, floor_number(a.floor)) if b else None


def floor_problems(session: Session, levels: dict[int, Parsed], known: dict[str, Any] | None = None
                   ) -> dict[int, str]:
    """dwelling_floor_problem for many addresses at once (imports): address id → reason, for the addresses
    whose floor does not fit their building's registered floors; buildings are found by their address.
    `known` (building key → floors) carries what was read between calls of one import."""
    known = {} if known is None else known
    if not known and session.scalar(select(Building.id).where(or_(Building.floors.is_not(None),
                                                                  Building.floors_below.is_not(None))).limit(1)) is None:
        known[""] = None  # no building has registered floors: nothing to check against
    if "" in known:
        return {}
    want = {aid: "|".join((p.town, p.village, p.road, p.house_no, p.compound, p.building, "", ""))
            for aid, p in levels.items() if p.floor and floor_number(p.floor) is not None}
    keys = list(set(want.values()) - known.keys())
    found: dict[str, Any] = {}
    found.update((r.key, r) for r in bulk.select_in(session, select(Address.key, Building.floors, Building.floors_below)
                                                    .join(Building, Building.address_id == Address.id), Address.key, keys))
    known.update((k, found.get(k)) for k in keys)
    out = {}
    for aid, key in want.items():
        b = known[key]
        problem = floor_problem(b, floor_number(levels[aid].floor)) if b is not None else None
        if problem:
            out[aid] = problem + ",请核对地址中的楼层或先修改楼栋层数"
    return out


def _check_floor(session: Session, a: Address, building_id: int | None) -> None:
    problem = dwelling_floor_problem(session, a, building_id)
    if problem:
        msg = problem + ",请核对地址中的楼层或先修改楼栋层数"
        raise BadInput("floor_above_building", msg, "The dwelling's floor is outside its building's floors",
                       extra={"errors": {"address": msg}, "building_id": building_id})


def dwelling_at(session: Session, actor: Actor, a: Address, *, use: str = "owner_occupied") -> Dwelling:
    """The dwelling at an address, created with `use` (in its building) when the address has none yet."""
    d = session.scalars(select(Dwelling).where(Dwelling.address_id == a.id)).first()
    if d is None:
        require(actor, Action.REGISTRY_EDIT, a)
        building_id = building_of(session, actor, a)
        _check_floor(session, a, building_id)
        d = Dwelling(address_id=a.id, use=use, grid_id=a.grid_id, region_path=a.region_path,
                     building_id=building_id)
        session.add(d)
        session.flush()
        _history(session, actor, "dwelling", d.id, "create", {"use": use})
    return d


def _apply_dwelling(d: Dwelling, clean: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for f in ("use", "structure", "floors", "area_m2", "owner_name", "inspection_status", "inspected_on"):
        if f in clean and getattr(d, f) != clean[f]:
            changes[f] = [str(getattr(d, f) or ""), str(clean[f] or "")]
            setattr(d, f, clean[f])
    if clean.get("owner_phone"):
        enc, h, mask = seal(clean["owner_phone"], "dwelling.phone")
        if h != d.owner_phone_hash:
            changes["owner_phone"] = [d.owner_phone_masked, mask]
            d.owner_phone_enc, d.owner_phone_hash, d.owner_phone_masked = enc, h, mask
    if d.use == "rented" and d.rental_since is None:
        d.rental_since = clock.today()
    return changes


def save_dwelling(session: Session, actor: Actor, data: dict[str, Any], *, dwelling_id: int | None = None) -> Dwelling:
    """Create a dwelling at a standard address (one per address) or edit one."""
    require(actor, Action.REGISTRY_EDIT)
    clean, errors = check_dwelling(data, today=clock.today())
    _fail(errors, "房屋信息")
    if dwelling_id is None:
        a = resolve_address(session, actor, text=clean["address"], address_id=data.get("address_id"))
        require(actor, Action.REGISTRY_EDIT, a)
        if session.scalars(select(Dwelling.id).where(Dwelling.address_id == a.id)).first():
            raise Conflict("dwelling_exists", f"该地址已登记房屋:{a.full}", "A dwelling exists at that address",
                           extra={"errors": {"address": "该地址已登记房屋"}})
        building_id = building_of(session, actor, a)
        _check_floor(session, a, building_id)
        d = Dwelling(address_id=a.id, building_id=building_id)
        _place(d, a)
        session.add(d)
        changes = _apply_dwelling(d, clean)
        session.flush()
        _history(session, actor, "dwelling", d.id, "create", changes)
        return d
    d = get_record(session, actor, "dwelling", dwelling_id, Action.REGISTRY_EDIT)
    changes = _apply_dwelling(d, clean)
    if changes:
        _history(session, actor, "dwelling", d.id, "update", changes)
    return d


def save_building(session: Session, actor: Actor, data: dict[str, Any], *, building_id: int | None = None) -> Building:
    """Record a building (at a standard address with a building level) or edit its name, structure and floors.
    Floors may not be set below a registered dwelling's floor; an edit keeps what `data` does not name."""
    require(actor, Action.REGISTRY_EDIT)
    if building_id is not None:
        b = get_record(session, actor, "building", building_id, Action.REGISTRY_EDIT)
        data = {"name": b.name, "structure": b.structure, "floors": b.floors, "floors_below": b.floors_below} | data
    clean, errors = check_building(data, today=clock.today())
    _fail(errors, "楼栋信息")
    if building_id is None:
        a = resolve_address(session, actor, text=clean["address"], address_id=data.get("address_id"))
        require(actor, Action.REGISTRY_EDIT, a)
        if not a.building:
            _fail({"address": "该地址没有楼栋一级(如“3栋”),无法登记楼栋"}, "楼栋信息")
        key = Parsed(**dict(zip(("town", "village", "road", "house_no", "compound", "building"),
                                _building_key(a)))).key()  # the key of its building-level address
        if session.scalars(select(Building.id).join(Address, Address.id == Building.address_id)
                           .where(Address.key == key)).first():
            raise Conflict("building_exists", "该楼栋已登记", "A building exists at that address",
                           extra={"errors": {"address": "该楼栋已登记"}})
        b = session.get(Building, building_of(session, actor, a))
        assert b is not None
        action = "create"
    else:
        action = "update"
    floors = [(n, full) for f, full in session.execute(
        select(Address.floor, Address.full).join(Dwelling, Dwelling.address_id == Address.id)
        .where(Dwelling.building_id == b.id)) if (n := floor_number(f)) is not None]
    top = max(floors, default=(0, ""))
    if clean["floors"] is not None and top[0] > clean["floors"]:
        errors["floors"] = f"本楼已登记 {top[0]} 层的房屋({top[1]}),地上层数不能少于 {top[0]}"
    bottom = min(floors, default=(0, ""))
    if clean["floors_below"] is not None and -bottom[0] > clean["floors_below"]:
        errors["floors_below"] = f"本楼已登记地下 {-bottom[0]} 层的房屋({bottom[1]}),地下层数不能少于 {-bottom[0]}"
    _fail(errors, "楼栋信息")
    clean["name"] = clean["name"] or b.name
    changes = _assign(b, clean, ("name", "structure", "floors", "floors_below"))
    session.flush()
    if changes or action == "create":
        _history(session, actor, "building", b.id, action, changes)
    return b


# ---------------------------------------------------------------------------------------------
# residents


def _move(session: Session, actor: Actor, r: Resident, d: Dwelling, relation: str, on: date) -> None:
    """Close the open residence (if elsewhere) and open one in d; the resident's grid follows the dwelling."""
    current = session.scalars(select(Residence).where(Residence.resident_id == r.id,
                                                      Residence.moved_out.is_(None))).all()
    for res in current:
        if res.dwelling_id == d.id:
            return
        if on < res.moved_in:
            _fail({"moved_in": f"入住日期不能早于上一住址的入住日期({res.moved_in.isoformat()})"})
        res.moved_out = on
        _history(session, actor, "resident", r.id, "move_out", {"dwelling_id": res.dwelling_id})
    session.add(Residence(resident_id=r.id, dwelling_id=d.id, relation=relation, moved_in=on))
    r.dwelling_id = d.id
    _place(r, d)  # type: ignore[arg-type]
    _history(session, actor, "resident", r.id, "move_in", {"dwelling_id": d.id, "relation": relation})


def create_resident(session: Session, actor: Actor, data: dict[str, Any]) -> Resident:
    """Register a person living at a standard address; the ID number must be new (else edit the existing one)."""
    require(actor, Action.REGISTRY_EDIT)
    clean, errors = check_resident(data, today=clock.today())
    _fail(errors, "人口信息")
    a = resolve_address(session, actor, text=clean["address"], address_id=data.get("address_id"))
    require(actor, Action.REGISTRY_EDIT, a)
    id_enc, id_hash, id_mask = seal(clean["id_number"], "resident.id_number")
    if session.scalars(select(Resident.id).where(Resident.id_hash == id_hash)).first():
        raise Conflict("resident_exists", "该身份证号码已登记,请在原记录上修改", "ID number already registered",
                       extra={"errors": {"id_number": "该身份证号码已登记"}})
    ph_enc, ph_hash, ph_mask = seal(clean.get("phone"), "resident.phone")
    r = Resident(name=clean["name"], id_enc=id_enc, id_hash=id_hash, id_masked=id_mask, phone_enc=ph_enc,
                 phone_hash=ph_hash, phone_masked=ph_mask, birth_date=clean["birth_date"], sex=clean["sex"],
                 origin_code=clean["origin_code"], household=clean["household"])
    _place(r, a)
    session.add(r)
    session.flush()
    _history(session, actor, "resident", r.id, "create")
    d = dwelling_at(session, actor, a, use="rented" if clean["household"] == "floating" else "owner_occupied")
    _move(session, actor, r, d, clean["relation"], clean["moved_in"])
    return r


def update_resident(session: Session, actor: Actor, resident_id: int, data: dict[str, Any], *,
                    action: str = "update") -> Resident:
    """Edit name, phone or household; the ID number never changes (a wrong one means a new record). `action`
    names the change in the history (an import's update reads 导入更新)."""
    r = get_record(session, actor, "resident", resident_id, Action.REGISTRY_EDIT)
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    if data.get("name") is not None:
        name = "".join(str(data["name"]).split())
        if not name:
            errors["name"] = "姓名不能为空"
        elif name != r.name:
            changes["name"] = [r.name, name]
            r.name = name
    if data.get("household"):
        h = enum_value(data["household"], HOUSEHOLD_LABELS, HOUSEHOLDS, "household", "户籍类型", errors)
        if h and h != r.household:
            changes["household"] = [r.household, h]
            r.household = h
    if data.get("phone") is not None:
        try:
            phone = parse_phone(data["phone"]) if str(data["phone"]).strip() else None
            enc, h, mask = seal(phone, "resident.phone")
            if h != r.phone_hash:
                changes["phone"] = [r.phone_masked, mask]
                r.phone_enc, r.phone_hash, r.phone_masked = enc, h, mask
        except InvalidCode as e:
            errors["phone"] = e.message
    _fail(errors, "人口信息")
    if changes:
        _history(session, actor, "resident", r.id, action, changes)
    return r


def move_resident(session: Session, actor: Actor, resident_id: int, data: dict[str, Any]) -> Resident:
    """Move a resident to the dwelling at another standard address (the old residence is closed, kept)."""
    r = get_record(session, actor, "resident", resident_id, Action.REGISTRY_EDIT)
    errors: dict[str, str] = {}
    on = date_value(data.get("moved_in"), "moved_in", "入住日期", errors) or clock.today()
    relation = enum_value(data.get("relation"), RELATION_LABELS, RELATIONS, "relation", "与房屋关系", errors, "tenant")
    _fail(errors)
    a = resolve_address(session, actor, text=str(data.get("address") or ""), address_id=data.get("address_id"))
    require(actor, Action.REGISTRY_EDIT, a)
    d = dwelling_at(session, actor, a, use="rented")
    _move(session, actor, r, d, relation or "tenant", on)
    return r


def add_tag(session: Session, actor: Actor, resident_id: int, data: dict[str, Any]) -> ResidentTag:
    """Tag a resident for a period; sensitive classes need the right to see them."""
    r = get_record(session, actor, "resident", resident_id, Action.REGISTRY_EDIT)
    tag = str(data.get("tag") or "")
    label_to_tag = {v[0]: k for k, v in TAGS.items()}
    tag = label_to_tag.get(tag, tag)
    if tag not in TAGS:
        raise BadInput("unknown_tag", f"未知标签:{data.get('tag')}", "Unknown tag",
                       extra={"errors": {"tag": "未知标签"}})
    sensitive = TAGS[tag][1]
    if sensitive:
        require(actor, Action.SENSITIVE_TAG_VIEW, r)
    errors: dict[str, str] = {}
    start = date_value(data.get("valid_from"), "valid_from", "开始日期", errors) or clock.today()
    end = date_value(data.get("valid_to"), "valid_to", "结束日期", errors)
    if end and end < start:
        errors["valid_to"] = "结束日期不能早于开始日期"
    _fail(errors, "标签")
    t = ResidentTag(resident_id=r.id, tag=tag, sensitive=sensitive, valid_from=start, valid_to=end,
                    note=str(data.get("note") or ""))
    session.add(t)
    session.flush()
    _history(session, actor, "resident", r.id, "tag", {"tag": "(敏感)" if sensitive else TAGS[tag][0]})
    return t


def unmask_resident(session: Session, actor: Actor, resident_id: int, *, ip: str | None = None) -> dict[str, str]:
    """The whole ID and phone number of a resident, for roles that may unmask; every call is audited."""
    r = get_record(session, actor, "resident", resident_id)
    require(actor, Action.PERSON_UNMASK, r)
    k = crypto.keyring()
    out = {"id_number": k.decrypt(r.id_enc, "resident.id_number"),
           "phone": k.decrypt(r.phone_enc, "resident.phone") if r.phone_enc else ""}
    audit(session, actor, "registry.unmask", "resident", r.id, {"fields": ["id_number", "phone"]}, ip=ip)
    return out


# ---------------------------------------------------------------------------------------------
# organisations and facilities


def save_organisation(session: Session, actor: Actor, data: dict[str, Any], *,
                      organisation_id: int | None = None) -> Organisation:
    """Create or edit an organisation; a USCC is unique."""
    require(actor, Action.REGISTRY_EDIT)
    clean, errors = check_organisation(data, today=clock.today())
    _fail(errors, "单位信息")
    if organisation_id is None:
        o = Organisation(name=clean["name"])
        action = "create"
    else:
        o = get_record(session, actor, "organisation", organisation_id, Action.REGISTRY_EDIT)
        action = "update"
    if clean["uscc"]:
        other = session.scalars(select(Organisation.id).where(Organisation.uscc == clean["uscc"])).first()
        if other and other != o.id:
            raise Conflict("organisation_exists", "该统一社会信用代码已登记", "USCC already registered",
                           extra={"errors": {"uscc": "该统一社会信用代码已登记"}})
    if clean["address"] or data.get("address_id"):
        a = resolve_address(session, actor, text=clean["address"], address_id=data.get("address_id"))
        require(actor, Action.REGISTRY_EDIT, a)
        o.address_id = a.id
        _place(o, a)
    elif o.address_id is None:
        _fail({"address": "请填写单位地址"}, "单位信息")
    changes = _assign(o, clean, ("name", "uscc", "kind", "person_in_charge", "staff_count", "safety_contact"))
    if clean.get("safety_phone"):
        enc, h, mask = seal(clean["safety_phone"], "organisation.phone")
        if h != o.safety_phone_hash:
            changes["safety_phone"] = [o.safety_phone_masked, mask]
            o.safety_phone_enc, o.safety_phone_hash, o.safety_phone_masked = enc, h, mask
    session.add(o)
    session.flush()
    _history(session, actor, "organisation", o.id, action, changes)
    return o


def _assign(obj: Any, clean: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    changes = {}
    for f in fields:
        if getattr(obj, f, None) != clean[f]:
            changes[f] = [str(getattr(obj, f, "") or ""), str(clean[f] or "")]
            setattr(obj, f, clean[f])
    return changes


def _department(session: Session, name: str, field: str, errors: dict[str, str]) -> int | None:
    if not name:
        return None
    dep = session.scalars(select(Department).where(or_(Department.name == name, Department.code == name))).first()
    if dep is None:
        errors[field] = f"部门“{name}”不存在"
        return None
    return dep.id


def save_facility(session: Session, actor: Actor, data: dict[str, Any], *, facility_id: int | None = None) -> Facility:
    """Create or edit a facility, located by its coordinates (or its address); codes are unique."""
    require(actor, Action.REGISTRY_EDIT)
    clean, errors = check_facility(data, today=clock.today())
    owner = _department(session, clean["owner_department"], "owner_department", errors)
    keeper = _department(session, clean["maintainer_department"], "maintainer_department", errors)
    _fail(errors, "设施信息")
    if facility_id is None:
        if session.scalars(select(Facility.id).where(Facility.code == clean["code"])).first():
            raise Conflict("facility_exists", "该设施编码已登记", "Facility code exists",
                           extra={"errors": {"code": "该设施编码已登记"}})
        f = Facility(code=clean["code"], kind=clean["kind"])
        action = "create"
    else:
        f = get_record(session, actor, "facility", facility_id, Action.REGISTRY_EDIT)
        action = "update"
    fields: tuple[str, ...] = ("name", "kind", "status", "lon", "lat")
    if clean["lon"] is not None:  # stored in WGS-84 to 7 decimals (about 1 cm), with the system it was entered in
        lon, lat = to_wgs84(clean["lon"], clean["lat"], clean["crs"])
        clean["lon"], clean["lat"] = round(float(lon), 7), round(float(lat), 7)
        clean["source_crs"] = clean["crs"]
        fields += ("source_crs",)
        grid = _locate(session, clean["lon"], clean["lat"])
        if grid is None:
            _fail({"lon": "坐标不在本市任何网格内"}, "设施信息")
        require(actor, Action.REGISTRY_EDIT, grid)
        f.grid_id, f.region_path = grid.id, grid.path  # type: ignore[union-attr]
    if clean["address"]:
        a = resolve_address(session, actor, text=clean["address"])
        require(actor, Action.REGISTRY_EDIT, a)
        f.address_id = a.id
        if clean["lon"] is None:
            _place(f, a)
    changes = _assign(f, clean, fields)
    f.owner_department_id, f.maintainer_department_id = owner, keeper
    session.add(f)
    session.flush()
    _history(session, actor, "facility", f.id, action, changes)
    return f


# ---------------------------------------------------------------------------------------------
# reading


def get_record(session: Session, actor: Actor, entity: str, record_id: int,
               action: Action = Action.REGISTRY_VIEW) -> Any:
    """One record the actor may see (else 404) and act on (else 403)."""
    model = ENTITIES.get(entity)
    obj = session.get(model, record_id) if model else None
    if obj is None:
        raise NotFound(entity, "记录不存在或无权查看")
    require(actor, action, obj)
    return obj


# key rotation


def rekey(session: Session, *, batch: int = 2000) -> dict[str, int]:
    """Re-encrypt every personal number not under the current key (run after putting a new key first)."""
    k = crypto.keyring()
    prefix = f"{k.current}$"
    done: dict[str, int] = {}
    from civicgrid.cases.models import Case

    for model, pairs in ((Resident, (("id_enc", "resident.id_number"), ("phone_enc", "resident.phone"))),
                         (Dwelling, (("owner_phone_enc", "dwelling.phone"),)),
                         (Organisation, (("safety_phone_enc", "organisation.phone"),)),
                         (Case, (("reporter_phone", "case.reporter_phone"),))):
        n = 0
        for col, purpose in pairs:
            c = getattr(model, col)
            while True:
                rows = session.execute(select(model.id, c).where(c.is_not(None), c != "", ~c.startswith(prefix))
                                       .limit(batch)).all()
                if not rows:
                    break
                session.execute(model.__table__.update().where(model.__table__.c.id == bindparam("rid"))
                                .values({col: bindparam("val")}),
                    [{"rid": rid, "val": k.encrypt(k.decrypt(v, purpose), purpose)} for rid, v in rows])
                n += len(rows)
        done[model.__tablename__] = n
    return done




def create_addresses(session: Session, actor: Actor, items: list[tuple[dict[str, Any], float | None, float | None]]
                     ) -> list[int]:
    """Many standard addresses at once (demo data, bulk loads): the same checks as ensure_address, located in
    one vectorised pass and written with executemany; existing keys are returned, not duplicated."""
    import numpy as np

    require(actor, Action.REGISTRY_EDIT)
    parsed = []
    for levels, lon, lat in items:
        p, village, errors = check_address(session, levels)
        _fail(errors, "地址")
        parsed.append((p, village, lon, lat))
    lons = np.array([np.nan if lon is None else lon for _, _, lon, _ in parsed], dtype=float)
    lats = np.array([np.nan if lat is None else lat for _, _, _, lat in parsed], dtype=float)
    has = ~np.isnan(lons)
    idx = np.full(len(parsed), -1)
    loc = None
    if has.any():
        loc, _wl, _wa, found, _d, _st = geo.locate_arrays(session, lons[has], lats[has])
        idx[has] = found
    gids = list({loc.grids[int(i)].id for i in idx if i >= 0}) if loc is not None else []
    grids = {g.id: g for g in session.execute(select(Region.id, Region.code, Region.path)
                                              .where(Region.id.in_(gids)))} if gids else {}
    tids = list({v.parent_id for _p, v, *_ in parsed if v.parent_id})
    towns = dict(session.execute(select(Region.id, Region.name).where(Region.id.in_(tids))).all())
    keys = [p.key() for p, *_ in parsed]
    existing: dict[str, int] = {}
    existing.update(bulk.select_in(session, select(Address.key, Address.id), Address.key, keys))
    now = clock.now()
    rows, order = [], []
    seen: set[str] = set()
    for i, (p, village, lon, lat) in enumerate(parsed):
        if p.key() in existing or p.key() in seen:
            continue
        grid = None
        if idx[i] >= 0 and loc is not None:
            grid = grids[loc.grids[int(idx[i])].id]
            if not grid.path.startswith(village.path):
                grid = None
        region = grid or village
        require(actor, Action.REGISTRY_EDIT, region)
        rows.append({"code": address_code(region.code, p.key()), "key": p.key(),
                     "full": p.display(towns.get(village.parent_id, ""), display_village(village.name)),
                     "lon": lon, "lat": lat,
                     "village_id": village.id, "grid_id": grid.id if grid else None, "region_path": region.path,
                     "created_at": now, "updated_at": now,
                     **{lv: getattr(p, lv) for lv in ("town", "village", "road", "house_no", "compound", "building",
                                                       "unit", "floor", "room")}})
        order.append(p.key())
        seen.add(p.key())
    for k in range(0, len(rows), 5000):
        ids = session.execute(insert(Address).returning(Address.key, Address.id, sort_by_parameter_order=True),
                              rows[k:k + 5000]).all()
        existing.update(dict(ids))
    m = session.info.get("registry_matcher")
    if m is not None:  # the index learns the new addresses (as ensure_address does)
        made = set(order)
        full = {r["key"]: r["full"] for r in rows}
        for p, *_ in parsed:
            if p.key() in made:
                m.add(existing[p.key()], p, full[p.key()])
                made.discard(p.key())
    return [existing[k] for k in keys]
