"""The demo city: Dongguan's 33 towns (real boundaries), ~600 villages and communities (real names and
codes, polygons by partitioning their town), ~2,958 grids, ~9,756 grid workers, the departments, the
command centres and one account per role. Deterministic (seeded); built through the real services."""

from __future__ import annotations

import csv
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from importlib import resources

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicgrid.access import service as access
from civicgrid.access.policy import Role
from civicgrid.geo import service as geo
from civicgrid.geo.codes import grid_code
from civicgrid.geo.models import Region
from civicgrid.geo.partition import order_west_east_north_south, partition

CITY_CODE = "441900"
CITY_NAME = "东莞市"
CODES_VALID_FROM = date(2023, 6, 30)  # NBS 2023 code set cut-off
GRIDS_TARGET = 2958
WORKERS_TARGET = 9756
DEMO_PASSWORD = "civic2026"

# (kind, city-level department, town-level department pattern); kinds and their short names: access.models
DEPARTMENTS = [
    ("public_security", "东莞市公安局", "{town}派出所"),
    ("fire", "东莞市消防救援支队", "{town}消防救援站"),
    ("housing", "东莞市住房和城乡建设局", "{town}规划建设办"),
    ("urban_management", "东莞市城市管理和综合执法局", "{town}综合行政执法办"),
    ("market_regulation", "东莞市市场监督管理局", "{town}市场监督管理分局"),
    ("emergency", "东莞市应急管理局", "{town}应急管理分局"),
    ("environment", "东莞市生态环境局", "{town}生态环境分局"),
    ("transport", "东莞市交通运输局", "{town}交通运输管理办"),
    ("water", "东莞市水务局", "{town}水务工程管理所"),
    ("health", "东莞市卫生健康局", "{town}卫生健康局"),
    ("human_resources", "东莞市人力资源和社会保障局", "{town}人力资源和社会保障分局"),
    ("civil_affairs", "东莞市民政局", "{town}社会事务局"),
    ("justice", "东莞市司法局", "{town}司法所"),
    ("education", "东莞市教育局", "{town}教育管理中心"),
]

SURNAMES = ("陈李黄张梁刘林王何叶罗钟吴郑谢曾邓杨周朱蔡许赖卢苏冯莫袁黎郭方余"
            "彭胡徐江潘刘叶温邱高何麦欧骆")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅志建国文辉"
         "海燕鹏飞慧婷俊宇浩然嘉欣子轩梓豪晓东少华锦荣永健家乐淑仪美玲")

Progress = Callable[[str, int, int], None]


@dataclass
class DemoSummary:
    towns: int = 0
    villages: int = 0
    grids: int = 0
    workers: int = 0
    departments: int = 0
    centres: int = 0
    categories: int = 0
    staff: int = 0
    cases: int = 0
    case_seconds: float = 0.0
    seconds: float = 0.0
    accounts: list[tuple[str, str, str]] = field(default_factory=list)  # username, role label, scope
    api_key: str | None = None


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("civicgrid.data").joinpath("dongguan", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def load_towns() -> list[tuple[str, str, BaseGeometry]]:
    """(code, name, WGS-84 polygon) of every Dongguan town with a public boundary, by code."""
    fc = json.loads(resources.files("civicgrid.data").joinpath("dongguan", "towns_wgs84.geojson")
                    .read_text(encoding="utf-8"))
    by_name = {r["boundary_name"]: r for r in _read_csv("boundary_name_to_code.csv") if r["boundary_name"]}
    out = []
    for f in fc["features"]:
        row = by_name[f["properties"]["name"]]
        g = shape(f["geometry"])
        if not g.is_valid:
            g = shapely.make_valid(g)
        out.append((row["nbs_code"], row["nbs_name"] if row["nbs_name"] != "松山湖" else "松山湖管委会", g))
    out.sort()
    # the source polygons of neighbouring towns overlap a little (up to ~2% of the smaller one, from
    # digitising); give each disputed sliver to the town with the lower code so siblings tile cleanly
    taken: BaseGeometry | None = None
    cleaned = []
    for code, name, g in out:
        if taken is not None and g.intersects(taken):
            g = shapely.make_valid(g.difference(taken))
            parts = [p for p in getattr(g, "geoms", [g]) if p.geom_type == "Polygon" and p.area > 1e-9]
            g = shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0]
        taken = g if taken is None else shapely.union(taken, g)
        cleaned.append((code, name, g))
    return cleaned


def load_villages() -> dict[str, list[tuple[str, str]]]:
    """Village (code, name) lists per town code."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in _read_csv("villages_2023.csv"):
        out[r["streetCode"]].append((r["code"], r["name"]))
    return {k: sorted(v) for k, v in out.items()}


def short_village(name: str) -> str:
    for suffix, repl in (("社区居民委员会", "社区"), ("居民委员会", "社区"), ("村民委员会", "村")):
        if name.endswith(suffix):
            return name[: -len(suffix)] + repl
    return name


def apportion(weights: list[float], total: int, minimum: int = 1) -> list[int]:
    """Largest-remainder apportionment of `total` by weights, at least `minimum` each."""
    n = len(weights)
    if total < n * minimum:
        total = n * minimum
    w = np.asarray(weights, dtype=float)
    share = w / w.sum() * (total - n * minimum)
    base = np.floor(share).astype(int)
    rest = total - n * minimum - int(base.sum())
    order = np.argsort(-(share - base), kind="stable")
    base[order[:rest]] += 1
    return [int(b) + minimum for b in base]


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def build_demo(session: Session, *, towns_limit: int | None = None, seed: int = 2026,
               grids_target: int = GRIDS_TARGET, workers_target: int = WORKERS_TARGET,
               progress: Progress | None = None) -> DemoSummary:
    """Build the demo city in the caller's transaction through the geo and access services."""
    t0 = time.perf_counter()
    say = progress or (lambda step, done, total: None)
    actor = access.SYSTEM
    summary = DemoSummary()
    towns = load_towns()
    all_area = sum(g.area for _, _, g in towns)
    if towns_limit:
        towns = towns[:towns_limit]
        share = sum(g.area for _, _, g in towns) / all_area
        grids_target = max(1, round(grids_target * share))
        workers_target = max(1, round(workers_target * share))
    villages = load_villages()
    towns = [t for t in towns if villages.get(t[0])]

    # 1. city and towns
    say("市、镇街边界", 0, 4)
    city_geom = shapely.union_all([g for _, _, g in towns])
    items = [geo.RegionInput(code=CITY_CODE, name=CITY_NAME, level="city", geom=city_geom,
                             valid_from=CODES_VALID_FROM)]
    items += [geo.RegionInput(code=c, name=n, level="town", parent_code=CITY_CODE, geom=g,
                              valid_from=CODES_VALID_FROM) for c, n, g in towns]
    geo.import_regions(session, actor, items)
    summary.towns = len(towns)

    # 2. villages: partition each town into as many pieces as it has villages, coded in reading order
    say("村(社区)划分", 1, 4)
    v_items: list[geo.RegionInput] = []
    for code, _name, g in towns:
        vs = villages[code]
        pieces = partition(g, len(vs), seed=seed + int(code[-3:]))
        order = order_west_east_north_south(pieces)
        for (vcode, vname), k in zip(vs, order):
            v_items.append(geo.RegionInput(code=vcode, name=vname, level="village", parent_code=code,
                                           geom=pieces[k], valid_from=CODES_VALID_FROM))
    geo.import_regions(session, actor, v_items)
    summary.villages = len(v_items)

    # 3. grids: villages get grids by area (largest remainder), numbered west→east, north→south
    say("网格划分", 2, 4)
    counts = apportion([it.geom.area for it in v_items], grids_target)
    g_items: list[geo.RegionInput] = []
    for it, n in zip(v_items, counts):
        pieces = partition(it.geom, n, seed=seed + int(it.code[-6:]))
        order = order_west_east_north_south(pieces)
        short = short_village(it.name)
        for seq, k in enumerate(order, start=1):
            g_items.append(geo.RegionInput(code=grid_code(it.code, seq), name=f"{short}第{seq}网格", level="grid",
                                           parent_code=it.code, geom=pieces[k], valid_from=CODES_VALID_FROM))
    geo.import_regions(session, actor, g_items)
    summary.grids = len(g_items)

    # 4. organisation: departments, command centres, grid workers, demo accounts
    say("部门、指挥中心与人员", 3, 4)
    for kind, city_name, _pattern in DEPARTMENTS:
        access.create_department(session, actor, code=f"{CITY_CODE}-{kind}", name=city_name, kind=kind,
                                 region_code=CITY_CODE)
    for code, name, _g in towns:
        for kind, _city_name, pattern in DEPARTMENTS:
            access.create_department(session, actor, code=f"{code}-{kind}", name=pattern.format(town=name),
                                     kind=kind, region_code=code, parent_code=f"{CITY_CODE}-{kind}")
    summary.departments = len(DEPARTMENTS) * (1 + len(towns))
    access.create_command_centre(session, actor, region_code=CITY_CODE, name="东莞市社会治理指挥调度中心")
    for code, name, _g in towns:
        access.create_command_centre(session, actor, region_code=code, name=f"{name}综治中心")
    for it in v_items:
        access.create_command_centre(session, actor, region_code=it.code, name=f"{short_village(it.name)}工作站")
    summary.centres = 1 + len(towns) + len(v_items)
    from civicgrid.matters.sample import sample_catalogue
    from civicgrid.matters.service import import_catalogue

    summary.categories = import_catalogue(session, actor, sample_catalogue())["created"]

    rng = random.Random(seed)
    per_grid = apportion([1.0] * len(g_items), workers_target)
    by_area = sorted(range(len(g_items)), key=lambda i: -g_items[i].geom.area)
    per_grid_sorted = sorted(per_grid, reverse=True)
    alloc = [0] * len(g_items)
    for i, n in zip(by_area, per_grid_sorted):
        alloc[i] = n
    first_grid = g_items[0]
    rows = []
    serial = 0
    for gi, it in enumerate(g_items):
        for _ in range(alloc[gi]):
            serial += 1
            if gi == 0 and serial == 1:
                continue  # the first worker of the first grid is the demo account below
            rows.append({"username": f"gw{serial:05d}", "display_name": person_name(rng), "grid_codes": [it.code]})
    access.create_grid_workers(session, actor, rows)
    demo_town, demo_village = towns[0], v_items[0]
    access.create_grid_workers(session, actor, [{"username": "grid.worker", "display_name": person_name(rng),
                                                 "grid_codes": [first_grid.code], "password": DEMO_PASSWORD}])
    summary.workers = len(rows) + 1

    def account(username: str, display: str, role: Role, region: str | None = None, dept: str | None = None,
                scope: str = "") -> None:
        access.create_user(session, actor, username=username, display_name=display, password=DEMO_PASSWORD)
        access.assign_role(session, actor, username, role.value, region_code=region, department_code=dept)
        summary.accounts.append((username, role.value, scope))

    tname = demo_town[1]
    account("admin", "系统管理员", Role.ADMIN, CITY_CODE, scope=CITY_NAME)
    account("city.dispatcher", "市指挥中心调度员", Role.CITY_DISPATCHER, CITY_CODE, scope=CITY_NAME)
    account("town.dispatcher", f"{tname}调度员", Role.TOWN_DISPATCHER, demo_town[0], scope=tname)
    account("village.operator", f"{short_village(demo_village.name)}工作站操作员", Role.VILLAGE_OPERATOR,
            demo_village.code, scope=demo_village.name)
    summary.accounts.append(("grid.worker", Role.GRID_WORKER.value, first_grid.name))
    account("dept.handler", f"{tname}综合行政执法办处置员", Role.DEPARTMENT_HANDLER,
            dept=f"{demo_town[0]}-urban_management", scope=f"{tname}综合行政执法办")
    account("mediator", f"{tname}人民调解员", Role.MEDIATOR, demo_town[0], scope=tname)
    account("leader", "市领导(只读)", Role.LEADER, CITY_CODE, scope=CITY_NAME)
    account("citizen", "市民张先生", Role.CITIZEN, scope="本人")
    account("integration.12345", "12345 热线对接", Role.INTEGRATION, CITY_CODE, scope=CITY_NAME)
    summary.api_key = access.create_api_key(session, actor, "integration.12345", "12345 热线对接(演示)")
    from civicgrid.demo_history import create_demo_staff

    summary.staff = create_demo_staff(session, actor)
    say("完成", 4, 4)
    summary.seconds = time.perf_counter() - t0
    return summary


def demo_exists(session: Session) -> bool:
    return session.scalar(select(Region.id).where(Region.code == CITY_CODE).limit(1)) is not None


DEMO_USERNAMES = ("admin", "city.dispatcher", "town.dispatcher", "village.operator", "grid.worker", "dept.handler",
                  "mediator", "leader", "citizen", "integration.12345")


def demo_accounts(session: Session) -> list[tuple[str, str, str]]:
    """(username, role, scope name) of the demo log-ins as stored, for re-printing on a later start."""
    from civicgrid.access.models import Department, GridAssignment, RoleAssignment, User

    out = []
    for username in DEMO_USERNAMES:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            continue
        ra = session.scalars(select(RoleAssignment).where(RoleAssignment.user_id == user.id)
                             .order_by(RoleAssignment.id)).first()
        if ra is None:
            continue
        if ra.role == Role.GRID_WORKER.value:
            scope = session.scalar(select(Region.name).join(GridAssignment, GridAssignment.grid_id == Region.id)
                                   .where(GridAssignment.user_id == user.id).order_by(Region.code).limit(1))
        elif ra.department_id is not None:
            scope = session.scalar(select(Department.name).where(Department.id == ra.department_id))
        elif ra.region_id is not None:
            scope = session.scalar(select(Region.name).where(Region.id == ra.region_id))
        else:
            scope = "本人"
        out.append((username, ra.role, scope or ""))
    return out
