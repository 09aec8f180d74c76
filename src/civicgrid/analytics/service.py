"""Cuts of the aggregates: KPIs for a region, department, category, source, urgency and period, with
month-over-month and year-over-year change, and breakdowns by any of those dimensions.

Scope and permission checks go through access.policy.require; everything here reads the aggregate tables
(never the cases), so a dashboard costs the same on a year of history as on a week.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import String, and_, func, select
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.models import Department
from civicgrid.access.policy import Action, Actor, require
from civicgrid.analytics import aggregates, kpis
from civicgrid.analytics.models import (DailyAggregate, MonthlySummary, MonthlySummaryHistogram, StepHistogram,
                                        TownDailyAggregate, TownMonthlyAggregate, TownMonthlyHistogram,
                                        TownStepHistogram)
from civicgrid.analytics.periods import Period
from civicgrid.cases.workflow import SOURCES, URGENCY
from civicgrid.errors import BadInput, NotFound
from civicgrid.geo.models import LEVEL_LABELS, Region
from civicgrid.matters.models import MatterCategory

D = DailyAggregate
H = StepHistogram
LEVEL_COLUMN = {"town": "town_id", "village": "village_id", "grid": "grid_id"}
CHILD_LEVEL = {"city": "town", "district": "town", "town": "village", "village": "grid"}
BY = {"town": "镇街", "village": "村(社区)", "grid": "网格", "department": "部门", "category": "分类",
      "source": "来源", "urgency": "紧急程度", "day": "日", "month": "月"}


@dataclass
class Cut:
    """What to count: resolved objects (already checked against the actor's scope) and the period."""

    region: Region
    period: Period
    department: Department | None = None
    category: MatterCategory | None = None
    category_ids: list[int] | None = None
    source: str | None = None
    urgency: str | None = None
    extra: list[Any] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"region": {"code": self.region.code, "name": self.region.name, "level": self.region.level},
                "period": {"kind": self.period.kind, "start": self.period.start.isoformat(),
                           "end": self.period.end.isoformat(), "label": self.period.label, "value": self.period.value},
                "department": ({"code": self.department.code, "name": self.department.name}
                               if self.department else None),
                "category": {"code": self.category.code, "name": self.category.name} if self.category else None,
                "source": self.source, "urgency": self.urgency}


# ---------------------------------------------------------------------------------------------
# resolving input


def home_region(session: Session, actor: Actor) -> Region:
    """The region of the actor's widest assessment scope (the leader's city, a dispatcher's town)."""
    paths = actor.scope_paths(Action.ANALYTICS_VIEW)
    if not paths:
        require(actor, Action.ANALYTICS_VIEW)  # raises Forbidden with the reason
        raise NotFound("region", "没有可查看的区域")
    last = paths[0].strip("/").split("/")[-1]
    region = session.get(Region, int(last)) if last else city(session)  # "/": all
    if region is None:
        raise NotFound("region")
    return region


def city(session: Session) -> Region | None:
    """The root of the region tree (the city)."""
    return session.scalars(select(Region).where(Region.parent_id.is_(None)).order_by(Region.id)).first()


def resolve_region(session: Session, actor: Actor, code: str | None) -> Region:
    if not code:
        return home_region(session, actor)
    region = session.scalars(select(Region).where(Region.code == code.strip(), Region.valid_to.is_(None))).first() \
        or session.scalars(select(Region).where(Region.code == code.strip())).first()
    if region is None:
        raise NotFound("region", f"区域 {code} 不存在或不在您的管辖范围内")
    require(actor, Action.ANALYTICS_VIEW, region)  # outside the actor's scope: 404
    return region


def resolve_department(session: Session, actor: Actor, code: str | None) -> Department | None:
    if not code:
        return None
    dept = session.scalars(select(Department).where(Department.code == code.strip())).first()
    if dept is None:
        raise NotFound("department", f"部门 {code} 不存在或不在您的管辖范围内")
    region = session.get(Region, dept.region_id)
    require(actor, Action.ANALYTICS_VIEW, region)
    return dept


def category_tree(session: Session) -> dict[int, MatterCategory]:
    return {c.id: c for c in session.scalars(select(MatterCategory))}


def descendants(tree: dict[int, MatterCategory], root_id: int) -> list[int]:
    children: dict[int | None, list[int]] = defaultdict(list)
    for c in tree.values():
        children[c.parent_id].append(c.id)
    out, stack = [], [root_id]
    while stack:
        i = stack.pop()
        out.append(i)
        stack.extend(children[i])
    return out


def resolve_cut(session: Session, actor: Actor, period: Period, *, region: str | None = None,
                department: str | None = None, category: str | None = None, source: str | None = None,
                urgency: str | None = None) -> Cut:
    require(actor, Action.ANALYTICS_VIEW)
    r = resolve_region(session, actor, region)
    dept = resolve_department(session, actor, department)
    cat, cat_ids = None, None
    if category:
        cat = session.scalars(select(MatterCategory).where(MatterCategory.code == category.strip())).first()
        if cat is None:
            raise BadInput("unknown_category", f"事项分类 {category} 不存在", f"Unknown category {category!r}",
                           extra={"field": "category"})
        cat_ids = descendants(category_tree(session), cat.id)
    if source and source not in SOURCES:
        raise BadInput("unknown_source", f"来源应为:{'/'.join(SOURCES.values())}", f"Unknown source {source!r}",
                       extra={"field": "source"})
    if urgency and urgency not in URGENCY:
        raise BadInput("unknown_urgency", f"紧急程度应为:{'/'.join(URGENCY.values())}",
                       f"Unknown urgency {urgency!r}", extra={"field": "urgency"})
    check_period(session, period)
    return Cut(r, period, dept, cat, cat_ids, source or None, urgency or None)


def first_day(session: Session) -> date | None:
    d = session.scalar(select(func.min(TownDailyAggregate.day)))
    return date.fromisoformat(d) if isinstance(d, str) else d


def check_period(session: Session, period: Period) -> None:
    today = clock.today()
    if period.start > today:
        raise BadInput("future_period", f"所选时段({period.label})尚未开始", f"{period.value} is in the future",
                       extra={"field": "period"})
    first = first_day(session)
    if first is not None and period.end < first:
        raise BadInput("before_any_data", f"所选时段({period.label})早于最早的数据({first.isoformat()})",
                       f"{period.value} ends before the first data ({first.isoformat()})", extra={"field": "period"})


# ---------------------------------------------------------------------------------------------
# querying


def _where(session: Session, cut: Cut, table, period: Period | None = None) -> list[Any]:
    p = period or cut.period
    conds = [table.day >= p.start, table.day <= p.end]
    r = cut.region
    if r.level in LEVEL_COLUMN:
        conds.append(getattr(table, LEVEL_COLUMN[r.level]) == r.id)
    elif r.parent_id is not None:  # a district: its towns
        towns = select(Region.id).where(Region.path.startswith(r.path), Region.level == "town")
        conds.append(table.town_id.in_(towns))
    if cut.department is not None:
        conds.append(table.department_id == cut.department.id)
    if cut.category_ids is not None:
        conds.append(table.category_id.in_(cut.category_ids))
    if cut.source:
        conds.append(table.source == cut.source)
    if cut.urgency:
        conds.append(table.urgency == cut.urgency)
    return conds


def _whole_months(p: Period) -> bool:
    return p.start.day == 1 and (p.end + timedelta(days=1)).day == 1


def tables(cut: Cut, by: str | None = None, period: Period | None = None) -> tuple[Any, Any]:
    """The aggregate tables to read: grid level when the cut or the grouping needs villages or grids, else the
    town rollup — per month when the period is whole months and nothing groups by day."""
    if cut.region.level in ("village", "grid") or by in ("village", "grid"):
        return D, H
    if _whole_months(period or cut.period) and by != "day":
        if cut.department is None and cut.source is None and cut.urgency is None \
                and by not in ("department", "source", "urgency"):
            return MonthlySummary, MonthlySummaryHistogram
        return TownMonthlyAggregate, TownMonthlyHistogram
    return TownDailyAggregate, TownStepHistogram


def sums(session: Session, cut: Cut, period: Period | None = None, by: str | None = None,
         measures: list[str] | None = None) -> dict[Any, dict[str, float]]:
    """Summed measures (all, or those named) of the cut, grouped by `by` (a breakdown name) if given."""
    aggregates.settle(session)  # this transaction's own case changes first
    t, _ = tables(cut, by, period)
    group = _group_column(by, t) if by else None
    measures = measures or kpis.MEASURES
    cols = [func.coalesce(func.sum(getattr(t, m)), 0).label(m) for m in measures]
    q = select(*([group.label("g")] if group is not None else []), *cols).where(and_(*_where(session, cut, t, period)))
    if group is not None:
        q = q.group_by(group)
    out: dict[Any, dict[str, float]] = {}
    for row in session.execute(q):
        m = row._mapping
        out[m["g"] if group is not None else None] = {k: m[k] for k in measures}
    return out


def hists(session: Session, cut: Cut, period: Period | None = None,
          by: str | None = None) -> dict[Any, dict[str, dict[int, int]]]:
    _, h = tables(cut, by, period)
    group = _group_column(by, h) if by else None
    gcol = [group.label("g")] if group is not None else []
    q = (select(*gcol, h.step, h.bucket, func.sum(h.n).label("n")).where(and_(*_where(session, cut, h, period)))
         .group_by(*([group] if group is not None else []), h.step, h.bucket))
    out: dict[Any, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    for row in session.execute(q):
        m = row._mapping
        out[m["g"] if group is not None else None][m["step"]][m["bucket"]] = int(m["n"])
    return out


def _values(measures: dict[str, float] | None, hist: dict[str, dict[int, int]] | None,
            cfg: kpis.KpiConfig | None) -> dict[str, float | None]:
    if not measures or not measures.get("reported"):
        return dict.fromkeys(kpis.definitions(cfg), None)  # no cases: no data, not zeros
    return kpis.compute(measures, hist, cfg)


def kpi_table(session: Session, cut: Cut, cfg: kpis.KpiConfig | None = None,
              keys: list[str] | None = None) -> dict[str, Any]:
    """Every KPI (or those named) of the cut with its month-over-month and year-over-year change."""
    defs = kpis.definitions(cfg)
    keys = keys or list(defs)
    need = kpis.measures_for(keys, cfg)
    pct = any(k.startswith("p90_") for k in keys)

    def values(p: Period) -> tuple[dict[str, float] | None, dict[str, float | None]]:
        m = sums(session, cut, p, measures=need).get(None)
        return m, _values(m, hists(session, cut, p).get(None) if pct else None, cfg)

    cur_m, cur = values(cut.period)
    prev_p, yoy_p = cut.period.previous(), cut.period.year_before()
    _, prev = values(prev_p)
    _, yoy = values(yoy_p)
    empty = not cur_m or not cur_m.get("reported")
    items = []
    for key in keys:
        k = defs[key]
        items.append({"key": key, "label": k.label, "unit": k.unit, "formula": k.formula, "value": cur[key],
                      "text": kpis.fmt(cur[key], k.unit), "previous": prev[key], "year_before": yoy[key],
                      "mom": kpis.change(cur[key], prev[key], k.unit), "yoy": kpis.change(cur[key], yoy[key], k.unit),
                      "higher_is_better": k.higher_is_better})
    return {"cut": cut.describe(), "empty": empty, "kpis": items,
            "compare": {"previous": prev_p.label, "year_before": yoy_p.label}}


def _group_column(by: str, table: Any):
    if by in ("town", "village", "grid"):
        return getattr(table, f"{by}_id")
    if by in ("department", "source", "urgency", "day"):
        return getattr(table, {"department": "department_id"}.get(by, by))
    if by == "category":
        return table.category_id
    if by == "month":  # the monthly rollup already holds the month's first day
        if table in (TownMonthlyAggregate, TownMonthlyHistogram, MonthlySummary, MonthlySummaryHistogram):
            return table.day
        return func.substr(func.cast(table.day, String()), 1, 7)
    raise BadInput("invalid_breakdown", f"分组维度应为:{'/'.join(BY.values())}", f"by must be one of {', '.join(BY)}",
                   extra={"field": "by"})


def breakdown(session: Session, cut: Cut, by: str, keys: list[str] | None = None,
              cfg: kpis.KpiConfig | None = None, category_level: str = "class",
              extra_measures: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """KPIs per unit of `by` inside the cut, with the unit's name; units without cases are left out."""
    if by in ("village", "grid", "town") and not _below(cut.region.level, by):
        raise BadInput("invalid_breakdown", f"{LEVEL_LABELS.get(cut.region.level, cut.region.level)}之下没有"
                       f"{BY[by]}一级的分组", f"cannot break a {cut.region.level} down by {by}", extra={"field": "by"})
    _group_column(by, D)  # an unknown grouping is refused before any query
    need = None if not keys else list(dict.fromkeys(kpis.measures_for(keys, cfg) + list(extra_measures)))
    groups = sums(session, cut, by=by, measures=need)
    hs = hists(session, cut, by=by) if not keys or any(k.startswith("p90") for k in keys) else {}
    if by == "category":  # roll leaves up to the chosen level of the tree
        tree = category_tree(session)
        rolled: dict[Any, dict[str, float]] = defaultdict(lambda: dict.fromkeys(kpis.MEASURES, 0))
        rolled_h: dict[Any, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
        for cid, m in groups.items():
            top = _ancestor_at(tree, cid, category_level)
            for k, x in m.items():
                rolled[top][k] += x
            for step, b in hs.get(cid, {}).items():
                for bucket, n in b.items():
                    rolled_h[top][step][bucket] = rolled_h[top][step].get(bucket, 0) + n
        groups, hs = dict(rolled), rolled_h
    names = _names(session, by, list(groups))
    rows = []
    for g, m in groups.items():
        if not m.get("reported"):
            continue
        vals = kpis.compute(m, hs.get(g), cfg, keys)
        code, name = names.get(g, (str(g), str(g)))
        rows.append({"key": g if not isinstance(g, date) else g.isoformat(), "code": code, "name": name,
                     "values": vals, "measures": m})
    rows.sort(key=lambda r: str(r["code"]))
    return rows


def _below(level: str, by: str) -> bool:
    order = ["city", "district", "town", "village", "grid"]
    return order.index(by) > order.index(level)


def _ancestor_at(tree: dict[int, MatterCategory], cid: int, level: str) -> int:
    c = tree.get(cid)
    order = ["kind", "class", "subclass", "detail"]
    while c is not None and c.parent_id is not None and order.index(c.level) > order.index(level):
        c = tree.get(c.parent_id)
    return c.id if c is not None else cid


def _names(session: Session, by: str, keys: list[Any]) -> dict[Any, tuple[str, str]]:
    if by in ("town", "village", "grid"):
        return {r.id: (r.code, r.name) for r in session.scalars(select(Region).where(Region.id.in_(keys)))}
    if by == "department":
        out = {d.id: (d.code, d.name) for d in session.scalars(select(Department).where(Department.id.in_(keys)))}
        out[0] = ("", "未派遣(村级自办或未立案)")
        return out
    if by == "category":
        out = {c.id: (c.code, c.name) for c in session.scalars(select(MatterCategory)
                                                               .where(MatterCategory.id.in_(keys)))}
        return {k: out.get(k, ("", "未分类")) for k in keys}
    if by == "source":
        return {k: (k, SOURCES.get(k, k)) for k in keys}
    if by == "urgency":
        return {k: (k, URGENCY.get(k, k)) for k in keys}
    return {k: (str(k), str(k)) for k in keys}


def trend(session: Session, cut: Cut, keys: list[str], cfg: kpis.KpiConfig | None = None) -> list[dict[str, Any]]:
    """Values per day (periods up to ~92 days) or per month, every day/month of the period present (empty = None)."""
    by = "day" if cut.period.days <= 92 else "month"
    rows = {str(r["key"])[:10 if by == "day" else 7]: r for r in breakdown(session, cut, by, keys, cfg)}
    out = []
    d = cut.period.start
    seen = set()
    while d <= cut.period.end:
        k = d.isoformat() if by == "day" else d.isoformat()[:7]
        if k not in seen:
            seen.add(k)
            r = rows.get(k)
            out.append({"key": k, "values": r["values"] if r else dict.fromkeys(keys, None)})
        d += timedelta(days=1)
    return out


def children(session: Session, region: Region) -> list[Region]:
    level = CHILD_LEVEL.get(region.level)
    if level is None:
        return []
    return list(session.scalars(select(Region).where(Region.path.startswith(region.path), Region.level == level,
                                                     Region.valid_to.is_(None)).order_by(Region.code)))


# ---------------------------------------------------------------------------------------------
# entry points for routes, pages and the CLI (one call each)


def cut_from(session: Session, actor: Actor, params: Any) -> Cut:
    """A checked cut from CutParams (or anything with the same attributes)."""
    from civicgrid.analytics import periods

    value = params.value
    if params.period != "custom" and not value:
        value = default_value(params.period)
    period = periods.parse(params.period, value, params.date_from, params.date_to)
    return resolve_cut(session, actor, period, **params.filters())


def default_value(kind: str) -> str:
    """The latest complete month (or this day/week/quarter/year so far) when none is chosen."""
    today = clock.today()
    if kind == "month":
        first = today.replace(day=1) - timedelta(days=1)
        return f"{first.year}-{first.month:02d}"
    if kind == "day":
        return today.isoformat()
    if kind == "week":
        y, w, _ = today.isocalendar()
        return f"{y}-W{w:02d}"
    if kind == "quarter":
        return f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    return str(today.year)


def kpis_for(session: Session, actor: Actor, params: Any) -> dict[str, Any]:
    return kpi_table(session, cut_from(session, actor, params))


def breakdown_for(session: Session, actor: Actor, params: Any, by: str, keys: list[str]) -> dict[str, Any]:
    cut = cut_from(session, actor, params)
    for k in keys:
        kpis.require_kpi(k)
    rows = breakdown(session, cut, by, keys or None)
    return {"cut": cut.describe(), "by": by, "by_label": BY.get(by, by),
            "rows": [{k: v for k, v in r.items() if k != "measures"} for r in rows]}
