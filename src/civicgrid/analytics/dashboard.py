"""What a dashboard shows for a region and period: totals, trend, categories, the map's values, the units
below with drill-down links, the ranking and the top overdue cases. One call per page."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from civicgrid.access.policy import Action, Actor, can, may
from civicgrid.analytics import kpis, periods, rankings, service
from civicgrid.analytics.service import CHILD_LEVEL, Cut
from civicgrid.cases import service as cases
from civicgrid.geo import service as geo
from civicgrid.geo.models import LEVEL_LABELS

CARDS = ["reported", "accepted", "closed", "closure_rate", "on_time_closure_rate", "overdue_open",
         "rework_rate", "satisfaction_rate"]
MAP_KPIS = ["on_time_closure_rate", "closure_rate", "accepted", "overdue_open", "rework_rate", "satisfaction_rate",
            "missed_report_rate"]
UNIT_COLUMNS = ["accepted", "due", "closed", "closure_rate", "on_time_closure_rate", "overdue_open"]


def case_link(cut: Cut, region_code: str | None = None, **extra: str) -> str:
    """The case list behind a number: same region and reporting dates (and state/light if given)."""
    q = {"queue": "all", "region": region_code or cut.region.code, "date_from": cut.period.start.isoformat(),
         "date_to": cut.period.end.isoformat()}
    if cut.category is not None:
        q["category"] = cut.category.code
    if cut.source:
        q["source"] = cut.source
    q.update({k: v for k, v in extra.items() if v})
    return "/cases?" + urlencode(q)


CARD_LINK = {"reported": {}, "accepted": {}, "closed": {"state": "closed"}, "overdue_open": {"light": "red"}}


UNIT_MOM = "on_time_closure_rate"  # the unit table's month-over-month column


def context(session: Session, actor: Actor, params: Any, kpi: str | None = None,
            preset: str = "digital_urban") -> dict[str, Any]:
    cut = service.cut_from(session, actor, params)
    kpi = kpi if kpi in MAP_KPIS else MAP_KPIS[0]
    defs = kpis.definitions()
    table = service.kpi_table(session, cut, keys=CARDS)
    by_key = {k["key"]: k for k in table["kpis"]}
    cards = []
    for key in CARDS:
        k = by_key[key]
        link = case_link(cut, **CARD_LINK[key]) if key in CARD_LINK and can(actor, Action.CASE_VIEW) else None
        if key == "overdue_open" and link:  # open overdue cases are a state now, whatever their report date
            link = "/cases?" + urlencode({"queue": "all", "region": cut.region.code, "light": "red"})
        mom = k["mom"]
        cards.append({**k, "link": link, "mom_text": _change_text(mom, k["unit"], k["higher_is_better"])})
    child = CHILD_LEVEL.get(cut.region.level)
    units: list[dict[str, Any]] = []
    if child:
        rows = {r["key"]: r for r in service.breakdown(session, cut, child, UNIT_COLUMNS + [kpi])}
        pcut = dataclasses.replace(cut, period=cut.period.previous())
        prev = {r["key"]: r["values"] for r in service.breakdown(session, pcut, child, [UNIT_MOM])}
        for r in service.children(session, cut.region):
            row = rows.get(r.id)
            vals = row["values"] if row else dict.fromkeys(UNIT_COLUMNS + [kpi], None)
            mom = kpis.change(vals.get(UNIT_MOM), (prev.get(r.id) or {}).get(UNIT_MOM), defs[UNIT_MOM].unit)
            units.append({"code": r.code, "name": r.name, "values": vals,
                          "texts": {c: kpis.fmt(vals.get(c), defs[c].unit) for c in UNIT_COLUMNS + [kpi]},
                          "mom": _change_text(mom, defs[UNIT_MOM].unit, defs[UNIT_MOM].higher_is_better),
                          "drill": _drill(params, r.code), "cases": case_link(cut, r.code)})
    # twelve months of trend up to the period's end
    end = cut.period.end
    m = end.month - 11
    start = date(end.year - (m <= 0), m + 12 if m <= 0 else m, 1)  # the first day of the 12th month back
    tcut = Cut(cut.region, periods.Period("custom", start, end), cut.department, cut.category, cut.category_ids,
               cut.source, cut.urgency)
    trend = service.trend(session, tcut, ["reported", "closed", "on_time_closure_rate"])
    cats = sorted(service.breakdown(session, cut, "category", ["reported"]), key=lambda r: -r["values"]["reported"])
    ranking = None
    unit = child if child in ("town", "village") else None
    if unit:
        ranking = rankings.ranking(session, actor, cut, unit, rankings.preset(preset, session))
    overdue = cases.list_cases(session, actor, queue="all", region=cut.region.code, light="red", limit=10) \
        if can(actor, Action.CASE_VIEW) else {"items": [], "total": 0}
    crumbs = [{"name": a.name, "link": _drill(params, a.code)}
              for a in geo.ancestors(session, cut.region) if _visible(actor, a)]
    return {"cut": table["cut"], "period": cut.period, "region": cut.region, "empty": table["empty"],
            "compare": table["compare"], "cards": cards, "units": units, "child_label": LEVEL_LABELS.get(child, ""),
            "level_label": LEVEL_LABELS.get(cut.region.level, ""), "map_kpi": kpi,
            "map_kpis": [(k, defs[k].label) for k in MAP_KPIS], "map_unit": defs[kpi].unit,
            "map_values": {u["code"]: u["values"].get(kpi) for u in units}, "map_level": child,
            "trend": trend, "categories": [{"name": r["name"], "value": r["values"]["reported"],
                                            "link": case_link(cut, category=r["code"])} for r in cats[:10]],
            "ranking": ranking, "preset": preset, "presets": rankings.choices(session),
            "can_publish": bool(ranking and ranking["publishable"] and not ranking["published"]
                                and may(actor, Action.RANKING_PUBLISH, cut.region)),
            "tabs": tabs(params, preset),
            "overdue": overdue, "overdue_link": "/cases?" + urlencode({"queue": "all", "region": cut.region.code,
                                                                      "light": "red"}),
            "crumbs": crumbs, "cases_link": case_link(cut), "params": params, "kinds": periods.KINDS,
            "can_bulletin": can(actor, Action.BULLETIN_MANAGE), "options": filter_options(session, actor)}


def filter_options(session: Session, actor: Actor) -> dict[str, list[tuple[str, str]]]:
    """What the page's department, category, source and urgency selectors offer (within the actor's scope)."""
    from civicgrid.access.service import list_departments
    from civicgrid.cases.workflow import SOURCES, URGENCY
    from civicgrid.matters.service import tree

    depts = list_departments(session, actor) if can(actor, Action.DEPARTMENT_VIEW) else []
    cats = [(k["code"], k["name"]) for k in tree(session, actor)] + [
        (c["code"], f"{k['name']} · {c['name']}") for k in tree(session, actor) for c in k["children"]] \
        if can(actor, Action.MATTER_VIEW) else []
    return {"department": [(d["code"], f"{d['region_name']} · {d['name']}") for d in depts],
            "category": sorted(cats), "source": list(SOURCES.items()), "urgency": list(URGENCY.items())}


def _visible(actor: Actor, region: Any) -> bool:
    from civicgrid.access.policy import in_scope

    return in_scope(actor, region, Action.ANALYTICS_VIEW)


def cut_query(params: Any, code: str | None = None, **extra: str) -> dict[str, str]:
    """The query string of a cut (region, period, filters), for links and forms between assessment pages."""
    q = {"region": code or params.region or "", "period": params.period,
         **{k: v for k, v in params.filters().items() if v and k != "region"}}
    if params.period == "custom":
        q.update({"date_from": str(params.date_from or ""), "date_to": str(params.date_to or "")})
    elif params.value:
        q["value"] = params.value
    q.update({k: v for k, v in extra.items() if v})
    return {k: v for k, v in q.items() if v}


def _drill(params: Any, code: str) -> str:
    return "/assess?" + urlencode(cut_query(params, code))


def tabs(params: Any | None, preset: str | None = None) -> list[dict[str, str]]:
    """The assessment pages' tabs, keeping the cut (if any)."""
    q = "?" + urlencode(cut_query(params)) if params is not None else ""
    return [{"key": "region", "label": "区域概况",
             "link": "/assess" + ("?" + urlencode(cut_query(params, preset=preset or "")) if params else "")},
            {"key": "workers", "label": "网格员", "link": "/assess/workers" + q},
            {"key": "configs", "label": "排名方案", "link": "/assess/configs"}]


def _change_text(v: float | None, unit: str, higher_is_better: bool) -> dict[str, str] | None:
    if v is None:
        return None
    if abs(v) < 1e-9:
        return {"text": "持平", "tone": "flat"}
    up = v > 0
    text = f"{'↑' if up else '↓'} {abs(v) * 100:.2f} 个百分点" if unit == "rate" else f"{'↑' if up else '↓'} {abs(v) * 100:.1f}%"
    return {"text": "环比 " + text, "tone": "good" if up == higher_is_better else "bad"}
