"""Registry demo data for the demo city, made through the registry's own services: standard addresses
(create_addresses), residents through the importer (checked and bulk-written like any file), organisations,
facilities, tags and buildings through save_organisation / save_facility / add_tag / save_building.

Shape (configurable scale): each grid gets a compound of buildings whose rooms are dwellings with about
three residents each, about 70% floating (Dongguan's share); one organisation per ~100 residents, up to
three facilities per grid (one per ~30 residents) scattered inside it with their town's owner and maintainer
departments, a few tagged residents (some sensitive), and every building's structure and floors.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.models import Department
from civicgrid.access.service import SYSTEM
from civicgrid.geo.models import Region
from civicgrid.geo.service import current_filter
from civicgrid.registry import importer, service
from civicgrid.registry.ids import make_id_number, make_uscc
from civicgrid.registry.models import Address, Building, Dwelling, Resident

Progress = Callable[[str, int, int], None]
PER_DWELLING = 3
ROOMS_PER_FLOOR = 4
COMPOUNDS = ("花园", "新村", "公寓", "雅苑", "华庭")
ROADS = ("东城路", "新风路", "学前路", "榕树街", "光明大道", "振华路", "育才路", "莞太路")
ORIGINS = ("441900", "440100", "440300", "450100", "430100", "360100", "510100", "420100", "411300", "522200")
ORG_KINDS = ("enterprise", "enterprise", "shop", "shop", "shop", "school", "hospital", "social_org")
FACILITY_KINDS = ("fire_hydrant", "camera", "aed", "manhole_cover", "emergency_shelter")
FACILITY_WEIGHTS = (0.3, 0.3, 0.12, 0.2, 0.08)
FACILITY_NAMES = {"fire_hydrant": "消防栓", "camera": "治安监控", "aed": "AED", "manhole_cover": "井盖",
                  "emergency_shelter": "应急避难场所"}
# kind → (owner, maintainer) department kinds of the facility's town (demo.DEPARTMENTS)
FACILITY_KEEPERS = {"fire_hydrant": ("water", "fire"), "camera": ("public_security", "public_security"),
                    "aed": ("health", "health"), "manhole_cover": ("urban_management", "water"),
                    "emergency_shelter": ("emergency", "civil_affairs")}
STATUSES = ("in_service", "faulty", "out_of_service")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘蔡蒋余于杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志文辉玲红梅海燕鹏飞雪琳晨宇浩然子涵欣怡嘉"


def build_registry_demo(session: Session, *, residents: int = 20000, seed: int = 2026,
                        progress: Progress | None = None) -> dict[str, Any]:
    """Residents, dwellings, organisations, facilities and tags for the current grids, in the caller's transaction."""
    t0 = time.perf_counter()
    say = progress or (lambda step, done, total: None)
    rng = random.Random(seed)
    actor = SYSTEM
    grids = list(session.scalars(select(Region).where(Region.level == "grid", current_filter(),
                                                      Region.geom_wkb.is_not(None)).order_by(Region.code)))
    if not grids or residents <= 0:
        return {"residents": 0, "seconds": 0.0}
    parents = {r.id: r for r in session.scalars(select(Region).where(Region.level.in_(("town", "village"))))}
    per_grid = [residents // len(grids) + (1 if i < residents % len(grids) else 0) for i in range(len(grids))]
    today = clock.today()
    # 1. standard addresses: one compound per grid, rooms enough for its residents
    say("标准地址", 0, residents)
    items, rooms_of = [], []
    for gi, g in enumerate(grids):
        village = parents[g.parent_id]
        town = parents[village.parent_id]
        pt = shapely.from_wkb(g.geom_wkb).point_on_surface()
        compound = village.name[:2] + COMPOUNDS[gi % len(COMPOUNDS)]
        road, house = ROADS[gi % len(ROADS)], str(1 + gi % 300)
        n_rooms = max(1, -(-per_grid[gi] // PER_DWELLING))
        rooms = []
        for k in range(n_rooms):
            building, rest = divmod(k, 6 * ROOMS_PER_FLOOR * 2)
            floor, room = divmod(rest, ROOMS_PER_FLOOR)
            levels = {"town": town.name, "village": village.name, "road": road, "house_no": house,
                      "compound": compound, "building": str(building + 1), "floor": str(floor + 1),
                      "room": f"{floor + 1}{room + 1:02d}"}
            rooms.append(len(items))
            items.append((levels, pt.x, pt.y))
        rooms_of.append(rooms)
    address_ids = []
    for k in range(0, len(items), 20000):
        address_ids += service.create_addresses(session, actor, items[k:k + 20000])
        say("标准地址", min(k + 20000, len(items)), len(items))
    # 2. residents: a CSV-shaped table through the importer (the same checks and bulk writes as a real file)
    full = {aid: None for aid in address_ids}
    for k in range(0, len(address_ids), 900):
        full.update(session.execute(select(Address.id, Address.full)
                                    .where(Address.id.in_(address_ids[k:k + 900]))).all())
    headers = ["姓名", "公民身份号码", "联系电话", "户籍类型", "居住地址", "与房屋关系", "入住日期"]
    rows, lines = [], []
    serial = 0
    for gi, _g in enumerate(grids):
        for j in range(per_grid[gi]):
            serial += 1
            aid = address_ids[rooms_of[gi][j // PER_DWELLING]]
            floating = rng.random() < 0.7
            birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 80))
            origin = rng.choice(ORIGINS[1:]) if floating else "441900"
            number = make_id_number(origin, birth, serial % 1000)
            phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}" if rng.random() < 0.8 else ""
            moved = today - timedelta(days=rng.randrange(0, 3650))
            rows.append([_name(rng), number, phone, "流动" if floating else "户籍", full[aid],
                         "租户" if floating else rng.choice(("业主", "家庭成员")), moved.isoformat()])
            lines.append(serial + 1)
    table = importer.Table.from_rows(headers, rows, lines)
    say("实有人口", 0, len(rows))
    # same birth date + origin + sequence can collide: those rows are skipped (mode "valid")
    result = importer.summary(importer.import_table(session, actor, "resident", table, mode="valid",
                                                    progress=lambda done, total: say("写入实有人口", done, total)))
    # 3. organisations, facilities, tags through the per-record services
    n_orgs = max(1, residents // 100)
    depts = list(session.scalars(select(Department.name).where(Department.level == "town")))
    say("实有单位", 0, n_orgs)
    for i in range(n_orgs):
        gi = i % len(grids)
        aid = address_ids[rooms_of[gi][0]]
        kind = ORG_KINDS[i % len(ORG_KINDS)]
        service.save_organisation(session, actor, {
            "name": f"{parents[grids[gi].parent_id].name[:2]}{_org_name(rng, kind)}{i + 1}", "kind": kind,
            "uscc": make_uscc("91" if kind in ("enterprise", "shop") else "52", "441900", f"MA{i:06d}"),
            "address_id": aid, "person_in_charge": _name(rng), "staff_count": rng.randrange(1, 300),
            "safety_contact": _name(rng), "safety_phone": f"139{rng.randrange(10**8):08d}"})
    n_fac = min(3 * len(grids), max(1, residents // 30))
    say("实有设施", 0, n_fac)
    dept_codes = set(session.scalars(select(Department.code)))
    for i in range(n_fac):
        g = grids[i % len(grids)]
        kind = rng.choices(FACILITY_KINDS, FACILITY_WEIGHTS)[0]
        pt = _point_in(rng, shapely.from_wkb(g.geom_wkb))
        town = parents[parents[g.parent_id].parent_id]
        owner, keeper = (f"{town.code}-{k}" for k in FACILITY_KEEPERS[kind])
        service.save_facility(session, actor, {
            "code": f"SS{g.code}{i // len(grids) + 1:02d}", "kind": kind,
            "name": f"{_short(parents[g.parent_id].name)}{FACILITY_NAMES[kind]}{i // len(grids) + 1}号",
            "lon": pt.x, "lat": pt.y, "status": rng.choices(STATUSES, (0.9, 0.07, 0.03))[0],
            "owner_department": owner if owner in dept_codes else "",
            "maintainer_department": keeper if keeper in dept_codes else (rng.choice(depts) if depts else "")})
        if i % 200 == 0:
            say("实有设施", i, n_fac)
    say("楼栋结构与层数", 0, 1)
    buildings = _fill_buildings(session, actor, rng)
    say("人员标签", 0, 1)
    ids = list(session.scalars(select(Resident.id).order_by(Resident.id).limit(max(1, residents // 200) * 2)))
    for k, rid in enumerate(ids[::2]):
        tag = ("elderly_alone", "disabled", "veteran", "community_correction", "mental_illness")[k % 5]
        service.add_tag(session, actor, rid, {"tag": tag, "valid_from": today - timedelta(days=30 * (k % 24))})
    say("完成", 1, 1)
    return {"residents": result["created"], "updated": result["updated"], "skipped": result["skipped"],
            "addresses": len(set(address_ids)), "organisations": n_orgs, "facilities": n_fac,
            "buildings": buildings, "seconds": time.perf_counter() - t0}


def _fill_buildings(session: Session, actor: Any, rng: random.Random) -> int:
    """Structure and floors of every building the residents' addresses made, plausible for its highest
    registered floor (high-rises are reinforced concrete, walk-ups brick-concrete, old village houses
    brick-wood), through save_building (which refuses floors below a registered dwelling's)."""
    top: dict[int, int] = {}
    for bid, floor in session.execute(select(Dwelling.building_id, Address.floor)
                                      .join(Address, Address.id == Dwelling.address_id)
                                      .where(Dwelling.building_id.is_not(None))):
        n = service.floor_number(floor) or 1
        top[bid] = max(top.get(bid, 1), n)
    for bid in session.scalars(select(Building.id).where(Building.floors.is_(None)).order_by(Building.id)):
        high = top.get(bid, 1)
        structure = "steel_concrete" if high > 7 else rng.choices(
            ("brick_concrete", "steel_concrete", "brick_wood", "steel", "other"), (0.5, 0.3, 0.1, 0.05, 0.05))[0]
        lo, hi, below = {"steel_concrete": (high, max(high, 11) + 21, (1, 2)), "brick_concrete": (high, 7, (0, 0)),
                         "brick_wood": (high, 3, (0, 0)), "steel": (high, 4, (0, 0)),
                         "other": (high, 5, (0, 0))}[structure]
        service.save_building(session, actor, {"structure": structure, "floors": rng.randint(lo, max(lo, hi)),
                                               "floors_below": rng.randint(*below)}, building_id=bid)
    return len(top)


def _point_in(rng: random.Random, poly: Any) -> Any:
    """A random point inside a grid (the point on its surface after 30 misses)."""
    x0, y0, x1, y1 = poly.bounds
    for _ in range(30):
        pt = shapely.Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if poly.contains(pt):
            return pt
    return poly.point_on_surface()


def _short(village: str) -> str:
    return village.removesuffix("社区居民委员会").removesuffix("村民委员会").removesuffix("居民委员会")


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _org_name(rng: random.Random, kind: str) -> str:
    return {"enterprise": rng.choice(("五金制品有限公司", "电子科技有限公司", "家具厂", "服装有限公司")),
            "shop": rng.choice(("便利店", "快餐店", "五金店", "药房")), "school": "实验学校", "hospital": "社区卫生服务站",
            "social_org": "社会工作服务中心"}[kind]
