"""Grid-worker indicators per worker (网格员考核): reports, valid reports, valid-report rate, on-time
verification rate and missed-report rate for a cut (period, region and its filters), as a paged, sortable
table and an XLSX file.

Same definitions as everywhere (docs/kpis.md): a case counts in the period it was reported in; its status is
its status now; the raw counts are the case's stored fact (analytics_case_facts), so a worker's figures add up
to their region's. Per worker:

- reports / valid reports: the fact's gw_reports / gw_valid of the cases the worker reported;
- verifications / on time: each verification (核查) in the timeline of the cohort's cases is credited to the
  user who did it, on time by the same rule as the fact (aggregates.verifications);
- missed-report rate: the grids the worker is assigned to now (grid_assignments), inside the cut's region —
  accepted cases reported there by citizens or the 12345 hotline over all accepted cases there
  (public_accepted / accepted, read from the grid-level aggregates). Workers sharing a grid share its figure.

Cost: three indexed queries over the cut (cases by reporting time and region path joined to their facts; the
verify timeline of those cases; the grid aggregates), whatever the number of workers.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment
from sqlalchemy import case, func, null, select
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.models import GridAssignment, User
from civicgrid.access.policy import Action, Actor, can, require
from civicgrid.analytics import aggregates, kpis, service
from civicgrid.analytics.models import CaseFact
from civicgrid.analytics.service import Cut
from civicgrid.cases.models import Case, TimelineEntry
from civicgrid.errors import BadInput
from civicgrid.geo.models import Region
from civicgrid.office import rate_formula, style_header, to_bytes

# the raw counts behind a worker's row, and the KPIs shown (formulas from kpis.py)
MEASURES = ["gw_reports", "gw_valid", "verified", "verified_on_time", "accepted", "public_accepted"]
KPIS = ["gw_valid_rate", "verification_on_time_rate", "missed_report_rate"]
COLUMNS = ["gw_reports", "gw_valid", "gw_valid_rate", "verified", "verification_on_time_rate", "missed_report_rate"]
SORTS = ["name"] + COLUMNS
PER_PAGE = 20


def _window(cut: Cut) -> tuple[datetime, datetime]:
    """The period's local (China) days as UTC instants: [first day 00:00, day after the last 00:00)."""
    start = datetime.combine(cut.period.start, time(), clock.CHINA_TZ)
    end = datetime.combine(cut.period.end + timedelta(days=1), time(), clock.CHINA_TZ)
    return start, end


def _cohort(session: Session, cut: Cut) -> list[Any]:
    """Conditions selecting the cut's cases through their facts, with the indexed case columns first."""
    start, end = _window(cut)
    return [Case.reported_at >= start, Case.reported_at < end, Case.region_path.startswith(cut.region.path),
            *service._where(session, cut, CaseFact)]


def figures(session: Session, cut: Cut) -> dict[int, dict[str, Any]]:
    """Raw counts per worker (user id) in the cut: reports, valid reports, verifications (on time) and the
    accepted / public-accepted cases of the worker's grids. Workers assigned to a grid in the region appear
    even without any case."""
    aggregates.settle(session)
    cohort = _cohort(session, cut)
    per: dict[int, dict[str, Any]] = defaultdict(lambda: {**dict.fromkeys(MEASURES, 0), "grids": []})
    # reports: the facts of the cases each worker reported
    q = (select(Case.reporter_id, func.sum(CaseFact.gw_reports), func.sum(CaseFact.gw_valid))
         .join(CaseFact, CaseFact.case_id == Case.id)
         .where(*cohort, CaseFact.gw_reports > 0, Case.reporter_id.is_not(None)).group_by(Case.reporter_id))
    for uid, reports, valid in session.execute(q):
        per[uid]["gw_reports"], per[uid]["gw_valid"] = int(reports or 0), int(valid or 0)
    # verifications: the timeline of the cohort's verified cases, credited to whoever verified
    verified = select(Case.id).join(CaseFact, CaseFact.case_id == Case.id).where(*cohort, CaseFact.verified > 0)
    data = case((TimelineEntry.action == "overdue", TimelineEntry.data), else_=null())  # only those need decoding
    rows = session.execute(select(TimelineEntry.case_id, TimelineEntry.seq, TimelineEntry.actor_id,
                                  TimelineEntry.action, data.label("data"))
                           .where(TimelineEntry.case_id.in_(verified),
                                  TimelineEntry.action.in_(("handle", "handle_locally", "overdue", "verify")))
                           .order_by(TimelineEntry.case_id, TimelineEntry.seq))
    by_case: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        by_case[r.case_id].append(r)
    for entries in by_case.values():
        for e, on_time in aggregates.verifications(entries):
            if e.actor_id is not None:
                per[e.actor_id]["verified"] += 1
                per[e.actor_id]["verified_on_time"] += int(on_time)
    # missed reports: the worker's grids (assigned now, inside the region) from the grid-level aggregates
    grids = session.execute(select(GridAssignment.user_id, Region.id, Region.code, Region.name)
                            .join(Region, Region.id == GridAssignment.grid_id)
                            .where(Region.path.startswith(cut.region.path)).order_by(Region.code))
    assigned: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for uid, gid, code, name in grids:
        assigned[uid].append((gid, code, name))
    sums = service.sums(session, cut, by="grid", measures=["reported", "accepted", "public_accepted"]) \
        if assigned else {}
    for uid, gs in assigned.items():
        row = per[uid]
        row["grids"] = [{"code": c, "name": n} for _g, c, n in gs]
        for gid, _c, _n in gs:
            s = sums.get(gid) or {}
            row["accepted"] += int(s.get("accepted") or 0)
            row["public_accepted"] += int(s.get("public_accepted") or 0)
    return dict(per)


def table(session: Session, actor: Actor, cut: Cut, sort: str = "gw_reports", desc: bool = True,
          page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
    """The workers of the cut's region with their indicators: one page, sorted (no data sorts last)."""
    require(actor, Action.ANALYTICS_VIEW, cut.region)
    if sort not in SORTS:
        raise BadInput("invalid_sort", f"排序列应为:{'、'.join(_label(k) for k in SORTS)}",
                       f"sort must be one of {', '.join(SORTS)}", extra={"field": "sort"})
    rows = rows_of(session, actor, cut)
    known = [r for r in rows if (r["name"] if sort == "name" else r["values"][sort]) is not None]
    unknown = [r for r in rows if r not in known]
    known.sort(key=lambda r: (r["name"], r["username"]))  # ties stay in name order, whichever the direction
    if sort != "name" or desc:
        known.sort(key=lambda r: r["name"] if sort == "name" else r["values"][sort], reverse=desc)
    ordered = known + sorted(unknown, key=lambda r: r["username"])
    page = max(1, page)
    pages = max(1, -(-len(ordered) // per_page))
    page = min(page, pages)
    totals = {m: sum(r["measures"][m] for r in rows) for m in MEASURES if m not in ("accepted", "public_accepted")}
    return {"cut": cut.describe(), "total": len(ordered), "page": page, "pages": pages, "per_page": per_page,
            "sort": sort, "desc": desc, "totals": totals,
            "columns": [{"key": k, "label": _label(k), "unit": _unit(k)} for k in COLUMNS],
            "items": ordered[(page - 1) * per_page: page * per_page]}


def rows_of(session: Session, actor: Actor, cut: Cut) -> list[dict[str, Any]]:
    """Every worker's row (unsorted): names, grids, raw counts, values, texts and the case-list links."""
    from civicgrid.analytics.dashboard import case_link

    per = figures(session, cut)
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(list(per))))} if per else {}
    links = can(actor, Action.CASE_VIEW)
    units = {k: _unit(k) for k in COLUMNS}
    out = []
    for uid, f in per.items():
        u = users.get(uid)
        if u is None:
            continue
        m = {k: f[k] for k in MEASURES}
        values = {**{k: m[k] for k in ("gw_reports", "gw_valid", "verified")},
                  **kpis.compute({**m, "reported": 1}, keys=KPIS)}
        out.append({"user_id": uid, "username": u.username, "name": u.display_name, "grids": f["grids"],
                    "measures": m, "values": values, "texts": {k: kpis.fmt(values[k], units[k]) for k in COLUMNS},
                    "links": {"gw_reports": case_link(cut, reporter=u.username, source="grid_worker"),
                              "verified": case_link(cut, verifier=u.username)} if links else {}})
    return out


SHORT = {"name": "网格员", "gw_reports": "上报数", "gw_valid": "有效上报数", "gw_valid_rate": "有效上报率"}


def _label(key: str) -> str:
    """A column's heading (the table is about grid workers: their KPIs' labels without 网格员)."""
    return SHORT.get(key) or kpis.definitions()[key].label


def _unit(key: str) -> str:
    return kpis.definitions()[key].unit


def table_for(session: Session, actor: Actor, params: Any, sort: str = "gw_reports", desc: bool = True,
              page: int = 1) -> dict[str, Any]:
    return table(session, actor, service.cut_from(session, actor, params), sort, desc, page)


# ---------------------------------------------------------------------------------------------
# XLSX

XLSX_HEADS = ["网格员", "用户名", "所属网格", "上报数", "有效上报数", "有效上报率", "核查次数", "按时核查次数",
              "按时核查率", "所属网格立案数", "其中群众/热线上报", "漏报率"]


def xlsx_for(session: Session, actor: Actor, params: Any, sort: str = "gw_reports",
             desc: bool = True) -> tuple[bytes, str]:
    """The whole table (every worker, in the page's order) as XLSX: counts as numbers, rates as formulas."""
    cut = service.cut_from(session, actor, params)
    t = table(session, actor, cut, sort, desc, page=1, per_page=10 ** 9)
    wb = Workbook()
    ws = wb.active
    ws.title = "网格员指标"
    ws.append([f"{cut.region.name} · {cut.period.label} 网格员考核指标"])
    ws.append(XLSX_HEADS)
    style_header(ws, 2, [14, 16, 30, 9, 11, 12, 10, 13, 12, 14, 16, 10])
    for r in t["items"]:
        m = r["measures"]
        ws.append([r["name"], r["username"], "、".join(g["name"] for g in r["grids"]) or "—", m["gw_reports"],
                   m["gw_valid"], None, m["verified"], m["verified_on_time"], None, m["accepted"],
                   m["public_accepted"], None])
        n = ws.max_row
        for col, num, den in (("F", "E", "D"), ("I", "H", "G"), ("L", "K", "J")):
            ws[f"{col}{n}"] = rate_formula(f"{num}{n}", f"{den}{n}")
            ws[f"{col}{n}"].number_format = "0.00%"
            ws[f"{col}{n}"].alignment = Alignment(horizontal="right")
    if not t["items"]:
        ws.append(["本期无数据"])
    ws.append([])
    ws.append(["有效上报率 = 有效上报数 / 上报数;按时核查率 = 按时核查次数 / 核查次数;"
               "漏报率 = 所属网格群众/热线上报立案数 / 所属网格立案数(按上报日期计入期间,状态为当前状态)。"])
    ws.freeze_panes = "B3"
    return to_bytes(wb), f"grid-workers-{cut.region.code}-{cut.period.value}.xlsx"
