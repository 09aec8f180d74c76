"""Grid-worker indicators per worker on a hand-made October (numbers one can check with a pencil): reports,
valid reports, verifications credited to whoever verified, on time or not, and the missed-report rate of the
worker's grids; paging, sorting, scope, the case list behind a number, the XLSX and the API."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from civicgrid.access.models import User
from civicgrid.access.service import SYSTEM, create_grid_workers
from civicgrid.analytics import service, workers
from civicgrid.cases import service as cases
from civicgrid.cases.models import Case, TimelineEntry
from civicgrid.errors import BadInput, Forbidden, NotFound
from civicgrid.geo.models import Region
from civicgrid.matters.models import MatterCategory
from tests.conftest import login

from .helpers import first_village
from .test_cuts_and_rankings import DONGCHENG, NANCHENG, P, actor

_n = count(1)


def _grids(db, village: Region) -> list[Region]:
    return list(db.scalars(select(Region).where(Region.parent_id == village.id, Region.level == "grid")
                           .order_by(Region.code)))[:2]


def _case(db, grid: Region, source: str, reporter: User | None, *, accepted: bool = True, day: int = 10,
          month: int = 10, timeline: tuple[tuple[str, User | None, dict], ...] = ()) -> Case:
    """A case reported on 2026-<month>-<day> 10:00 Beijing time, with the timeline given (after report/accept)."""
    cat = db.scalars(select(MatterCategory).order_by(MatterCategory.id)).first()
    at = datetime(2026, month, day, 2, 0, tzinfo=timezone.utc)
    ids = [int(x) for x in grid.path.strip("/").split("/")]
    levels = {r.level: r for r in db.scalars(select(Region).where(Region.id.in_(ids)))}
    c = Case(number=f"T-WK-{next(_n):06d}", state="closed" if accepted else "voided", closed=True, source=source,
             title="测试事件", category_id=cat.id, category_code=cat.code, grid_id=grid.id,
             village_id=levels["village"].id, town_id=levels["town"].id, region_path=grid.path, level="village",
             holder_region_id=levels["village"].id, holder_path=levels["village"].path,
             reporter_id=reporter.id if reporter else None, reported_at=at,
             accepted_at=at + timedelta(hours=1) if accepted else None, closed_at=at + timedelta(days=2))
    db.add(c)
    db.flush()
    steps = [("report", reporter, {}), ("accept", None, {}) if accepted else ("void", None, {}), *timeline]
    for seq, (action, who, data) in enumerate(steps, 1):
        db.add(TimelineEntry(case_id=c.id, seq=seq, at=at + timedelta(hours=seq), actor_id=who.id if who else None,
                             action=action, to_state="x", data=data))
    db.flush()
    return c


ON_TIME = lambda who: (("handle_locally", None, {}), ("verify", who, {}))  # noqa: E731
LATE = lambda who: (("handle_locally", None, {}), ("overdue", None, {"step": "verify"}), ("verify", who, {}))  # noqa: E731


@pytest.fixture()
def october(db):
    out = build_october(db)
    db.commit()  # the facts are computed at commit (the test's outer transaction still rolls back)
    return out


def build_october(db) -> dict:
    """Two new workers in the first two grids of 东城's first village, and their October:

    grid 1 (阿青): 4 grid reports by 阿青 (3 accepted, 1 voided); 1 hotline case accepted; 1 citizen case voided.
      阿青 verifies her own first case on time and the hotline case late (the sweep marked the verify step).
    grid 2 (阿宏): 2 grid reports by 阿宏 (both accepted); 1 citizen case accepted.
      阿宏 verifies his first case late, then on time after rework, and his second on time.
    Outside the cut: 阿青's report of September 30 (Beijing time) and a 南城 citizen case.
    """
    village = first_village(db, DONGCHENG)
    g1, g2 = _grids(db, village)
    create_grid_workers(db, SYSTEM, [{"username": "wk.aqing", "display_name": "阿青", "grid_codes": [g1.code]},
                                     {"username": "wk.ahong", "display_name": "阿宏", "grid_codes": [g2.code]}])
    a, b = (db.scalars(select(User).where(User.username == u)).one() for u in ("wk.aqing", "wk.ahong"))
    _case(db, g1, "grid_worker", a, timeline=ON_TIME(a))
    _case(db, g1, "grid_worker", a)
    _case(db, g1, "grid_worker", a, day=31)  # 31 Oct 10:00 Beijing: still October
    _case(db, g1, "grid_worker", a, accepted=False)
    _case(db, g1, "hotline", None, timeline=LATE(a))
    _case(db, g1, "citizen", None, accepted=False)
    _case(db, g2, "grid_worker", b, timeline=LATE(b) + ON_TIME(b))
    _case(db, g2, "grid_worker", b, timeline=ON_TIME(b))
    _case(db, g2, "citizen", None)
    _case(db, g1, "grid_worker", a, month=9, day=30)  # September: not in October's cohort
    _case(db, _grids(db, first_village(db, NANCHENG))[0], "citizen", None)
    return {"a": a, "b": b, "g1": g1, "g2": g2, "village": village}


def _row(t, username):
    return next(r for r in t["items"] if r["username"] == username)


def test_each_workers_indicators_by_hand(db, october):
    leader = actor(db, "leader")
    t = workers.table(db, leader, service.cut_from(db, leader, P(region=DONGCHENG)), per_page=10_000)
    a, b = _row(t, "wk.aqing"), _row(t, "wk.ahong")
    # 阿青: 4 reports, 3 valid → 75%; 2 verifications, 1 on time → 50%; grid 1: 4 accepted, 1 by the hotline → 25%
    assert a["measures"] == {"gw_reports": 4, "gw_valid": 3, "verified": 2, "verified_on_time": 1, "accepted": 4,
                             "public_accepted": 1}
    assert a["texts"]["gw_valid_rate"] == "75.00%" and a["texts"]["verification_on_time_rate"] == "50.00%"
    assert a["texts"]["missed_report_rate"] == "25.00%"
    # 阿宏: 2 reports, both valid → 100%; 3 verifications, 2 on time → 66.67%; grid 2: 3 accepted, 1 citizen → 33.33%
    assert b["measures"] == {"gw_reports": 2, "gw_valid": 2, "verified": 3, "verified_on_time": 2, "accepted": 3,
                             "public_accepted": 1}
    assert b["texts"]["gw_valid_rate"] == "100.00%" and b["texts"]["verification_on_time_rate"] == "66.67%"
    assert b["texts"]["missed_report_rate"] == "33.33%"
    assert [g["code"] for g in a["grids"]] == [october["g1"].code]
    # the workers' figures add up to the region's (the same facts)
    k = {x["key"]: x["value"] for x in service.kpis_for(db, actor(db, "leader"), P(region=DONGCHENG))["kpis"]}
    assert (t["totals"]["gw_reports"], t["totals"]["gw_valid"]) == (k["gw_reports"], k["gw_valid"]) == (6, 5)
    assert (t["totals"]["verified"], t["totals"]["verified_on_time"]) == (k["verified"], k["verified_on_time"]) == (5, 3)
    # a worker with nothing in the period is listed with 0 reports and no rates (无数据), never 0%
    idle = next(r for r in t["items"] if r["measures"]["gw_reports"] == 0 and r["measures"]["verified"] == 0)
    assert idle["texts"]["gw_reports"] == "0" and idle["texts"]["gw_valid_rate"] == "无数据"


def test_sorted_paged_and_scoped(db, october):
    leader = actor(db, "leader")
    cut = service.cut_from(db, leader, P(region=october["village"].code))
    t = workers.table(db, leader, cut, sort="verification_on_time_rate", desc=True, per_page=1)
    assert t["pages"] == t["total"] and t["items"][0]["username"] == "wk.ahong"  # 66.67% before 50%
    t2 = workers.table(db, leader, cut, sort="verification_on_time_rate", desc=True, page=2, per_page=1)
    assert t2["items"][0]["username"] == "wk.aqing"
    last = workers.table(db, leader, cut, sort="verification_on_time_rate", desc=False, page=t["pages"], per_page=1)
    assert last["items"][0]["values"]["verification_on_time_rate"] is None  # no data sorts last either way
    asc = workers.table(db, leader, cut, sort="gw_reports", desc=False, per_page=100)
    reports = [r["values"]["gw_reports"] for r in asc["items"]]
    assert reports == sorted(reports)
    most = workers.table(db, leader, cut, sort="gw_reports", desc=True, per_page=100)["items"]
    idle = [r["name"] for r in most if r["values"]["gw_reports"] == 0]
    assert [r["name"] for r in most[:2]] == ["阿青", "阿宏"] and idle == sorted(idle)  # ties in name order
    with pytest.raises(BadInput) as e:
        workers.table(db, leader, cut, sort="salary")
    assert e.value.code == "invalid_sort"
    # 南城 has neither worker; a town dispatcher of 东城 cannot look at 南城; a grid worker has no assessment
    nc = workers.table(db, leader, service.cut_from(db, leader, P(region=NANCHENG)), per_page=10_000)
    assert not {"wk.aqing", "wk.ahong"} & {r["username"] for r in nc["items"]}
    with pytest.raises(NotFound):
        workers.table_for(db, actor(db, "town.dispatcher"), P(region=NANCHENG))
    with pytest.raises(Forbidden):
        workers.table_for(db, actor(db, "grid.worker"), P())


def test_the_cases_behind_a_workers_numbers(db, october):
    leader = actor(db, "leader")
    t = workers.table(db, leader, service.cut_from(db, leader, P(region=DONGCHENG)), per_page=10_000)
    a = _row(t, "wk.aqing")
    assert "reporter=wk.aqing" in a["links"]["gw_reports"] and "source=grid_worker" in a["links"]["gw_reports"]
    assert "verifier=wk.aqing" in a["links"]["verified"] and "date_from=2026-10-01" in a["links"]["verified"]
    day = cases.local_day_start
    reported = cases.list_cases(db, leader, region=DONGCHENG, reporter="wk.aqing", source="grid_worker",
                                date_from=day("2026-10-01"), date_to=day("2026-10-31", next_day=True))
    assert reported["total"] == 4  # the September report is outside the dates
    verified = cases.list_cases(db, leader, verifier="wk.aqing", date_from=day("2026-10-01"),
                                date_to=day("2026-10-31", next_day=True))
    assert verified["total"] == 2 and {c["source"] for c in verified["items"]} == {"grid_worker", "hotline"}
    with pytest.raises(BadInput) as e:
        cases.list_cases(db, leader, reporter="nobody.here")
    assert e.value.code == "unknown_user"


def test_api_and_xlsx(client, db, october):
    login(client, "leader")
    r = client.get("/api/v1/analytics/workers", params={"value": "2026-10", "region": october["village"].code})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"][0]["label"] == "上报数" and body["sort"] == "gw_reports"
    assert body["items"][0]["username"] == "wk.aqing" and body["items"][0]["texts"]["gw_valid_rate"] == "75.00%"
    r = client.get("/api/v1/analytics/workers", params={"value": "2026-10", "sort": "age"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_sort" and "排序" in r.json()["message"]
    x = client.get("/assess/workers.xlsx", params={"value": "2026-10", "region": october["village"].code})
    assert x.status_code == 200 and "spreadsheetml" in x.headers["content-type"]
    ws = load_workbook(io.BytesIO(x.content)).active
    assert ws["A2"].value == "网格员" and ws["L2"].value == "漏报率"
    rows = {row[1]: row for row in ws.iter_rows(min_row=3, values_only=True) if row[1]}
    aq = rows["wk.aqing"]
    assert aq[3:5] == (4, 3) and aq[5].startswith('=IF(D') and "无数据" in aq[5]
    assert aq[6:8] == (2, 1) and aq[9:11] == (4, 1)
