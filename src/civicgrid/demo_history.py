"""A year of cases for the demo city, made by driving the case engine on a simulated clock.

Every case is a small script (a generator) of what its people do and when: the grid worker or the 12345
hotline reports, the village workstation accepts and handles or escalates, the town dispatches to the lead
department (sometimes the wrong one, which returns it), the department takes and handles it (sometimes late,
asking for an extension, or parking it), the grid verifies (sometimes it fails: rework), the centre closes
and follows up (mostly satisfied). All scripts run interleaved in time order, each action through
`cases.engine.apply` with the clock frozen at its moment, so the timeline, deadlines and lights are what the
engine itself produced. Nothing is written around the engine.

The mix follows shared/reference.md §3 (市容环境 and 街面秩序 dominate; events ~97% of grid cases), with
more reports in the rainy summer and fewer at weekends, and long-tailed handling times.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access import service as access
from civicgrid.access.models import Department, GridAssignment, User
from civicgrid.access.policy import Actor, Role
from civicgrid.cases import engine, jobs, service
from civicgrid.cases.models import Case
from civicgrid.errors import DomainError
from civicgrid.geo.models import Region
from civicgrid.matters.models import MatterCategory

# share of cases per catalogue class (reference.md §3, plus social-governance leads)
CLASS_WEIGHTS = {"E01": 0.50, "E05": 0.19, "E02": 0.03, "E03": 0.02, "E04": 0.01, "C01": 0.012, "C02": 0.008,
                 "C03": 0.006, "C04": 0.004, "S01": 0.02, "S02": 0.06, "S03": 0.03, "S04": 0.05, "S05": 0.03,
                 "S06": 0.01, "S07": 0.01}
TITLES = {"E0101": "发现违规搭建铁皮棚", "E0102": "路边有暴露垃圾", "E0103": "路面油污不洁", "E0104": "有人焚烧垃圾",
          "E0105": "渣土堆积未清运", "E0201": "墙面张贴小广告", "E0202": "户外广告牌未审批", "E0301": "夜间施工噪音扰民",
          "E0302": "工地扬尘未覆盖", "E0303": "施工占道未设围挡", "E0401": "自来水管破裂漏水", "E0402": "路面出现塌陷",
          "E0403": "暴雨后道路积水", "E0404": "发现火情", "E0501": "流动摊贩占道经营", "E0502": "车辆违章停放堵塞通道",
          "E0503": "夜间露天烧烤", "E0504": "店铺出店经营", "E0505": "街头乞讨卖艺"}


@dataclass
class Plan:
    """What will happen to one case (drawn up front, so the run is reproducible for a seed)."""

    at: datetime
    category: str
    grid_id: int
    point: tuple[float, float]
    source: str
    void: bool
    to_city: bool
    delegate_back: bool
    wrong_department: bool
    extension: bool
    park: bool
    verify_fail: bool
    follow_up: str | None
    supervise: str | None
    slow: float  # multiplies every delay: some cases are simply slow
    dup_of: int | None = None  # index of the plan this one repeats (a second report of the same problem)


class Sim:
    """Who is who in the demo city, and the calls that drive the engine on the simulated clock."""

    def __init__(self, session: Session, rng: random.Random) -> None:
        self.s = session
        self.rng = rng
        self.actors: dict[int, Actor] = {}
        users = dict(session.execute(select(User.username, User.id)).all())
        self.uid = users
        self.regions = {r.id: r for r in session.scalars(select(Region).where(Region.level.in_(
            ("city", "town", "village"))))}
        self.city = next(r for r in self.regions.values() if r.level == "city")
        self.departments = {d.code: d for d in session.scalars(select(Department))}
        self.workers: dict[int, list[int]] = defaultdict(list)
        for uid, gid in session.execute(select(GridAssignment.user_id, GridAssignment.grid_id)):
            self.workers[gid].append(uid)
        self.categories = {c.code: c for c in session.scalars(select(MatterCategory).where(
            MatterCategory.level == "subclass", MatterCategory.active.is_(True)))}
        self.hotline = self.actor(users["integration.12345"])
        self.refused: dict[str, int] = defaultdict(int)  # actions the engine refused, by action and code
        self.numbers: dict[int, str] = {}  # plan index -> case number, for duplicates

    def actor(self, user_id: int) -> Actor:
        if user_id not in self.actors:
            self.actors[user_id] = access.load_actor(self.s, self.s.get(User, user_id))
        return self.actors[user_id]

    def holder(self, case: Case) -> Actor:
        region = self.regions[case.holder_region_id]
        name = {"village": demo_staff_name("vo", region.code), "town": demo_staff_name("td", region.code),
                "city": "city.dispatcher"}[case.level]
        return self.actor(self.uid.get(name) or self.uid[{"village": "village.operator",
                                                            "town": "town.dispatcher"}[case.level]])

    def supervisor(self, case: Case) -> Actor:
        if case.level == "village":
            town = self.regions[case.town_id]
            return self.actor(self.uid.get(demo_staff_name("td", town.code)) or self.uid["town.dispatcher"])
        return self.actor(self.uid["city.dispatcher"])

    def department_for(self, case: Case, wrong: bool = False) -> Department:
        region = self.regions[case.holder_region_id]
        kind = (case.rules.get("lead_departments") or {}).get(case.level) or "urban_management"
        if wrong:
            kind = self.rng.choice([k for k in ("housing", "environment", "transport", "market_regulation")
                                    if k != kind])
        return self.departments[f"{region.code}-{kind}"]

    def handler(self, case: Case) -> Actor:
        dept = self.s.get(Department, case.department_id)
        return self.actor(self.uid.get(demo_staff_name("dh", dept.code)) or self.uid["dept.handler"])

    def grid_worker(self, grid_id: int, not_user: int | None = None) -> Actor | None:
        people = [u for u in self.workers.get(grid_id, []) if u != not_user]
        return self.actor(self.rng.choice(people)) if people else None

    def act(self, who: Actor, case: Case, action: str, **payload) -> bool:
        try:
            engine.apply(self.s, who, case, action, payload, client="demo")
            return True
        except DomainError as exc:
            self.refused[f"{action}:{exc.code}"] += 1
            return False


def demo_staff_name(prefix: str, code: str) -> str:
    """User names of the demo's staff at every centre and department: vo-<village>, td-<town>, dh-<dept>."""
    return f"{prefix}-{code}"


def create_demo_staff(session: Session, actor: Actor) -> int:
    """One operator per village workstation, one dispatcher per town, one handler per department (no password)."""
    taken = set(session.scalars(select(User.username)))
    n = 0
    for r in session.scalars(select(Region).where(Region.level.in_(("town", "village"))).order_by(Region.code)):
        prefix, role = ("vo", Role.VILLAGE_OPERATOR) if r.level == "village" else ("td", Role.TOWN_DISPATCHER)
        name = demo_staff_name(prefix, r.code)
        if name in taken or r.code in ("441900003001", "441900003"):  # those have the demo log-ins
            continue
        access.create_user(session, actor, username=name, display_name=f"{r.name}值班员", password=None)
        access.assign_role(session, actor, name, role.value, region_code=r.code)
        n += 1
    for d in session.scalars(select(Department).order_by(Department.code)):
        name = demo_staff_name("dh", d.code)
        if name in taken or d.code == "441900003-urban_management":
            continue
        access.create_user(session, actor, username=name, display_name=f"{d.name}处置员", password=None)
        access.assign_role(session, actor, name, Role.DEPARTMENT_HANDLER.value, department_code=d.code)
        n += 1
    return n


def _plans(sim: Sim, n: int, start: datetime, end: datetime) -> list[Plan]:
    rng = sim.rng
    days = (end - start).days
    # seasonal (rainy summer) and weekly shape of reporting
    day_w = []
    for d in range(days):
        t = start + timedelta(days=d)
        season = 1.0 + 0.35 * math.sin((t.timetuple().tm_yday - 100) / 365 * 2 * math.pi)
        day_w.append(season * (0.55 if t.weekday() >= 5 else 1.0))
    by_class: dict[str, list[str]] = defaultdict(list)
    for code in sim.categories:
        by_class[code[:3]].append(code)
    classes = [c for c in CLASS_WEIGHTS if by_class.get(c)]
    grids = sorted(sim.workers)
    geoms = {g: shapely.from_wkb(wkb) for g, wkb in sim.s.execute(
        select(Region.id, Region.geom_wkb).where(Region.id.in_(grids)))}
    out = []
    recent = min(n, max(20, n // 60))  # the last day and a half is busy, so queues have work in them now
    for k in range(n):
        if k < recent:
            at = end - timedelta(hours=rng.uniform(0.3, 36))
        else:
            day = rng.choices(range(days), weights=day_w)[0]
            hour = min(22.9, max(6.5, rng.gauss(11.5, 3.2)))
            at = start + timedelta(days=day, hours=hour - 8)  # start is 08:00 local in UTC terms
        cls = rng.choices(classes, weights=[CLASS_WEIGHTS[c] for c in classes])[0]
        grid = rng.choice(grids)
        g = geoms[grid]
        minx, miny, maxx, maxy = g.bounds
        for _try in range(30):
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if shapely.contains_xy(g, x, y):
                break
        else:
            p = g.representative_point()
            x, y = p.x, p.y
        fu = rng.random()
        out.append(Plan(
            at=at, category=rng.choice(by_class[cls]), grid_id=grid, point=(x, y),
            source="hotline" if rng.random() < 0.22 else "grid_worker", void=rng.random() < 0.03,
            to_city=rng.random() < 0.04, delegate_back=rng.random() < 0.3, wrong_department=rng.random() < 0.08,
            extension=rng.random() < 0.05, park=rng.random() < 0.015, verify_fail=rng.random() < 0.07,
            follow_up=None if rng.random() < 0.35 else ("dissatisfied" if fu < 0.05 else
                                                         "basically_satisfied" if fu < 0.17 else "satisfied"),
            supervise=None if rng.random() > 0.03 else rng.choices(["ordinary", "yellow", "red"], [70, 25, 5])[0],
            slow=math.exp(rng.gauss(0, 0.55))))
    # about 2% of problems are reported twice: the hotline hears of it some hours after the grid worker
    kx, ky = 111_320 * math.cos(math.radians(23.0)), 110_574.0
    for k in range(len(out)):
        if rng.random() < 0.02:
            p = out[k]
            ang, dist = rng.uniform(0, 2 * math.pi), rng.uniform(5, 120)
            out.append(Plan(**{**p.__dict__, "at": p.at + timedelta(hours=rng.uniform(0.5, 6)),
                               "point": (p.point[0] + dist * math.cos(ang) / kx, p.point[1] + dist * math.sin(ang) / ky),
                               "source": "hotline", "void": False, "dup_of": k}))
    order = sorted(range(len(out)), key=lambda i: out[i].at)
    remap = {old: new for new, old in enumerate(order)}
    out = [out[i] for i in order]
    for p in out:
        if p.dup_of is not None:
            p.dup_of = remap[p.dup_of]
    return out


def _hours(rng: random.Random, median: float, sigma: float = 0.8) -> float:
    return median * math.exp(rng.gauss(0, sigma))


def _lifecycle(sim: Sim, plan: Plan, index: int) -> Generator[float, None, None]:
    """The script of one case; yields the hours until its next step."""
    rng, s = sim.rng, sim.s
    cat = sim.categories[plan.category]
    reporter = sim.grid_worker(plan.grid_id) if plan.source == "grid_worker" else sim.hotline
    if reporter is None:
        return
    title = TITLES.get(plan.category, cat.name)
    payload = {"title": title, "category": plan.category, "lon": plan.point[0], "lat": plan.point[1],
               "description": f"{title},请尽快处理。", "urgency": "urgent" if rng.random() < 0.05 else "normal"}
    if plan.source == "hotline":
        payload.update(external_key=f"12345-{plan.at:%Y%m%d}-{rng.randrange(10**6):06d}",
                       reporter_name=rng.choice("王李张刘陈杨黄赵周吴") + rng.choice(["先生", "女士"]))
    try:
        case, _ = service.report_case(s, reporter, payload, client="demo")
    except DomainError as exc:
        sim.refused[f"report:{exc.code}"] += 1
        return
    sim.numbers[index] = case.number
    slow = plan.slow
    yield _hours(rng, 0.5 * slow, 0.9)
    if plan.dup_of is not None and plan.dup_of in sim.numbers:
        if sim.act(sim.holder(case), case, "merge", master=sim.numbers[plan.dup_of], note="同一问题的重复反映"):
            return
        plan.void = True  # the first report is already finished: this one is voided as a repeat
    if plan.void:
        sim.act(sim.holder(case), case, "void", note="经核实不属实,作废")
        return
    sim.act(sim.holder(case), case, "accept")
    yield _hours(rng, 0.3 * slow)
    if plan.supervise and case.level == "village":
        sim.act(sim.supervisor(case), case, "supervise", grade=plan.supervise, note="请加快处置")
    # the village handles what it may itself; the rest goes up
    while True:
        if case.level == "village" and case.rules.get("village_may_close") and case.reporter_id != sim.holder(case).user_id:
            if sim.act(sim.holder(case), case, "handle_locally", note="已组织人员现场处置完毕"):
                break
        if case.level == "village":
            sim.act(sim.holder(case), case, "escalate", note="超出村级处置能力,请镇街派遣")
            yield _hours(rng, 0.4 * slow)
            continue
        if case.level == "town" and plan.to_city:
            plan.to_city = False
            sim.act(sim.holder(case), case, "escalate", note="涉及多部门,请市指挥中心协调")
            yield _hours(rng, 1.0 * slow)
            if plan.delegate_back:
                sim.act(sim.holder(case), case, "delegate", note="请镇街按职责派遣")
                yield _hours(rng, 0.5 * slow)
            continue
        dept = sim.department_for(case, wrong=plan.wrong_department)
        sim.act(sim.holder(case), case, "dispatch", department=dept.code)
        yield _hours(rng, 0.6 * slow)
        if plan.wrong_department:
            plan.wrong_department = False
            sim.act(sim.handler(case), case, "return", note="不属于本部门职责,请重新派遣")
            yield _hours(rng, 1.0 * slow)
            continue
        handler = sim.handler(case)
        sim.act(handler, case, "take")
        if plan.supervise and not case.supervision:
            yield _hours(rng, 2 * slow)
            sim.act(sim.supervisor(case), case, "supervise", grade=plan.supervise, note="群众反映强烈,请限期办结")
        limit = float(case.rules["time_limits"][case.urgency]["handle"])
        natural = limit if case.rules.get("hours_mode") == "natural" else limit * 24 / 7 * 0.8
        if plan.extension:
            yield _hours(rng, 0.3 * natural * slow)
            sim.act(handler, case, "request_extension", hours=round(limit * 0.5, 1), note="需协调产权单位,申请延期")
            yield _hours(rng, 2 * slow)
            if rng.random() < 0.8:
                sim.act(sim.holder(case), case, "approve_extension", note="同意延期")
            else:
                sim.act(sim.holder(case), case, "reject_extension", note="理由不充分,请按期办结")
        if plan.park:
            yield _hours(rng, 0.5 * natural * slow)
            if sim.act(sim.holder(case), case, "park", note="涉及历史遗留问题,暂时挂账"):
                yield _hours(rng, 24 * 20 * slow, 0.5)
                sim.act(sim.holder(case), case, "unpark", note="条件具备,恢复处置")
        yield _hours(rng, 0.45 * natural * slow, 0.9)
        sim.act(handler, case, "handle", note="已按要求处置完毕")
        break
    # verification by the grid, rework when it fails, closing and follow-up
    fail = plan.verify_fail
    while case.state == "handled":
        yield _hours(rng, 1.0 * slow)
        worker = sim.grid_worker(case.grid_id, not_user=case.handler_id)
        if worker is None:
            return
        if fail:
            fail = False
            sim.act(worker, case, "verify", result="fail", note="现场仍未整改到位")
            yield _hours(rng, 6 * slow)
            who = sim.handler(case) if case.department_id else sim.holder(case)
            sim.act(who, case, "handle" if case.department_id else "handle_locally", note="已返工整改")
            continue
        sim.act(worker, case, "verify", result="pass", note="经现场核查已处置到位")
    if case.state != "verified":
        return
    yield _hours(rng, 0.5 * slow)
    sim.act(sim.holder(case), case, "close")
    if plan.follow_up:
        yield _hours(rng, 20, 0.6)
        sim.act(sim.holder(case), case, "follow_up", satisfaction=plan.follow_up, note="电话回访")
        if plan.follow_up == "dissatisfied":
            yield _hours(rng, 8 * slow)
            who = sim.handler(case) if case.department_id else sim.holder(case)
            sim.act(who, case, "handle" if case.department_id else "handle_locally", note="根据回访意见再次处置")
            yield _hours(rng, 2 * slow)
            worker = sim.grid_worker(case.grid_id, not_user=case.handler_id)
            if worker and sim.act(worker, case, "verify", result="pass", note="复核通过"):
                yield _hours(rng, 0.5)
                sim.act(sim.holder(case), case, "close")
                yield _hours(rng, 20, 0.6)
                sim.act(sim.holder(case), case, "follow_up", satisfaction="basically_satisfied", note="二次回访")


SWEEP_EVERY_H = 6


def build_history(session: Session, n_cases: int, *, seed: int = 2026, days: int = 365,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Drive `n_cases` cases through the engine over the last `days` days up to now."""
    rng = random.Random(seed)
    end = clock.now()
    local_midnight = end.astimezone(clock.CHINA_TZ).replace(hour=8, minute=0, second=0, microsecond=0)
    start = (local_midnight - timedelta(days=days)).astimezone(end.tzinfo)
    sim = Sim(session, rng)
    plans = _plans(sim, n_cases, start, end)
    heap: list[tuple[datetime, int, Iterator[float]]] = []
    for i, p in enumerate(plans):
        heap.append((p.at, i, _lifecycle(sim, p, i)))
    heapq.heapify(heap)
    started = 0
    steps = 0
    seen: set[int] = set()
    swept_total: dict[str, int] = defaultdict(int)
    next_sweep = start + timedelta(hours=SWEEP_EVERY_H)
    while heap:
        at, i, gen = heapq.heappop(heap)
        if at >= end:
            continue  # the future: this case stays where it is now
        while next_sweep <= at:  # the server's scheduler, on the simulated clock
            with clock.frozen(next_sweep):
                for k, v in jobs.sweep(session, now=next_sweep, batch=100_000).items():
                    swept_total[k] += v
            next_sweep += timedelta(hours=SWEEP_EVERY_H)
        with clock.frozen(at):
            try:
                wait = next(gen)
            except StopIteration:
                wait = None
        steps += 1
        if i not in seen:
            seen.add(i)
            started += 1
            if progress and started % 500 == 0:
                progress(started, n_cases)
        if wait is not None:
            heapq.heappush(heap, (at + timedelta(hours=max(wait, 0.02)), i, gen))
    if progress:
        progress(n_cases, n_cases)
    for k, v in jobs.sweep(session, now=end, batch=100_000).items():
        swept_total[k] += v
    swept = swept_total
    states = dict(session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
    return {"cases": started, "steps": steps, "states": states, "refused": dict(sim.refused),
            **{f"sweep_{k}": v for k, v in swept.items()}}
