"""The analytics API as users meet it: scope, errors, rankings, bulletins (files an office would keep)."""

import io
from datetime import date

from docx import Document
from openpyxl import load_workbook

from tests.conftest import login

from .helpers import town_figures

DONGCHENG, NANCHENG = "441900003", "441900004"


def _figures(db):
    town_figures(db, date(2026, 10, 3), DONGCHENG, reported=1020, accepted=996, due=972, closed=911,
                 closed_on_time=737, closed_late=174, reworked=20, supervised=10, overdue_open=12, gw_reports=800,
                 gw_valid=780)
    town_figures(db, date(2026, 10, 5), NANCHENG, reported=105, accepted=100, due=100, closed=90, closed_on_time=80,
                 reworked=5)
    town_figures(db, date(2026, 9, 5), NANCHENG, reported=90, accepted=80, due=80, closed=60, closed_on_time=60)


def test_leader_reads_kpis_of_the_city_and_a_town(client, db):
    _figures(db)
    login(client, "leader")
    r = client.get("/api/v1/analytics/kpis", params={"period": "month", "value": "2026-10", "region": DONGCHENG})
    assert r.status_code == 200, r.text
    k = {x["key"]: x for x in r.json()["kpis"]}
    assert k["closure_rate"]["text"] == "93.72%" and k["on_time_closure_rate"]["text"] == "75.82%"
    b = client.get("/api/v1/analytics/breakdown", params={"by": "town", "value": "2026-10", "kpis": "closure_rate"})
    assert {row["name"][:2] for row in b.json()["rows"]} == {"东城", "南城"}


def test_town_dispatcher_sees_only_its_town(client, db):
    _figures(db)
    login(client, "town.dispatcher")
    r = client.get("/api/v1/analytics/kpis", params={"value": "2026-10"})
    assert r.status_code == 200 and r.json()["cut"]["region"]["code"] == DONGCHENG
    for region in (NANCHENG, "441900"):
        r = client.get("/api/v1/analytics/kpis", params={"value": "2026-10", "region": region})
        assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_roles_without_assessment_are_refused(client, db):
    login(client, "grid.worker")
    r = client.get("/api/v1/analytics/kpis", params={"value": "2026-10"})
    assert r.status_code == 403 and "查看考核统计" in r.json()["message"]


def test_bad_input_has_stable_codes_and_chinese_messages(client, db):
    _figures(db)
    csrf = login(client, "leader")
    cases = [({"period": "custom", "date_from": "2026-10-10", "date_to": "2026-10-01"}, "invalid_date_range"),
             ({"value": "2026-10", "category": "NOPE"}, "unknown_category"),
             ({"value": "2001-01"}, "before_any_data"),
             ({"value": "2026-10", "by": "planet"}, "invalid_breakdown")]
    for params, code in cases:
        url = "/api/v1/analytics/breakdown" if "by" in params else "/api/v1/analytics/kpis"
        r = client.get(url, params=params)
        assert r.status_code == 400 and r.json()["code"] == code, r.text
        assert r.json()["message"] and r.json()["detail"]
    r = client.post("/api/v1/analytics/rankings/preview", params={"value": "2026-10"},
                    json={"terms": [{"kpi": "closure_rate", "weight": 70}]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400 and r.json()["code"] == "weights_do_not_add_up" and "100" in r.json()["message"]


def test_ranking_api_previews_then_publishes(client, db):
    _figures(db)
    csrf = login(client, "city.dispatcher")
    r = client.get("/api/v1/analytics/rankings", params={"value": "2026-10", "unit": "town"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["published"] and body["publishable"] and [e["rank"] for e in body["ranked"]] == [1, 2]
    assert body["ranked"][0]["name"].startswith("南城")  # 80% on time beats 75.82%
    r = client.post("/api/v1/analytics/rankings/publish", params={"value": "2026-10", "unit": "town"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    assert r.json()["published"] and r.json()["published_by"] and r.json()["ranked"] == body["ranked"]
    again = client.get("/api/v1/analytics/rankings", params={"value": "2026-10", "unit": "town"}).json()
    assert again["published"] and again["published_at"] == r.json()["published_at"]


def test_bulletin_generated_listed_and_downloaded(client, db):
    _figures(db)
    csrf = login(client, "city.dispatcher")
    r = client.post("/api/v1/analytics/bulletins", json={"month": "2026-10"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    b = r.json()
    assert "2026年10月" in b["title"]
    assert any(x["id"] == b["id"] for x in client.get("/api/v1/analytics/bulletins").json())
    wb = load_workbook(io.BytesIO(client.get(b["xlsx"]).content))
    assert {"总览", "按镇街", "按部门", "按分类", "按来源", "镇街排名", "部门排名"} <= set(wb.sheetnames)
    ws = wb["按镇街"]
    assert ws.freeze_panes == "B2" and ws["A1"].value == "名称"
    assert str(ws["J2"].value).startswith("=IF(D2=0") and ws["J2"].number_format == "0.00%"  # 结案率 = 结案/应结案
    assert ws.cell(row=ws.max_row, column=1).value == "合计" and "SUM" in str(ws.cell(row=ws.max_row, column=2).value)
    doc = Document(io.BytesIO(client.get(b["docx"]).content))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "2026年10月考核通报" in text and "结案率 93.38%" in text  # the city's figures: 1001 / 1072
    assert "东城街道本期排名靠后" in text  # the bottom unit is named
    assert doc.tables and doc.inline_shapes  # a ranking table and a chart image
    # a town dispatcher cannot download the city's bulletin (outside its scope)
    login(client, "town.dispatcher")
    assert client.get(b["docx"]).status_code == 404
    assert all(x["id"] != b["id"] for x in client.get("/api/v1/analytics/bulletins").json())


def test_bulletin_for_a_month_not_over_is_refused(client, db):
    csrf = login(client, "city.dispatcher")
    r = client.post("/api/v1/analytics/bulletins", json={"month": "2099-01"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400 and r.json()["code"] == "month_not_over"


def test_monthly_job_makes_each_bulletin_once(client, db):
    from civicgrid import clock
    from civicgrid.analytics.bulletins import monthly_due
    from civicgrid.clock import CHINA_TZ
    from datetime import datetime

    _figures(db)
    with clock.frozen(datetime(2026, 11, 2, 9, 0, tzinfo=CHINA_TZ)):
        assert monthly_due(db) == {"bulletins": 3}  # the city and its two towns, for October
        assert monthly_due(db) == {"bulletins": 0}
    login(client, "leader")
    titles = [b["title"] for b in client.get("/api/v1/analytics/bulletins").json() if b["scheduled"]]
    assert len(titles) == 3 and all("2026年10月" in t for t in titles)


def test_bulletins_page_lists_and_generates(client, db):
    _figures(db)
    csrf = login(client, "city.dispatcher")
    page = client.get("/assess/bulletins")
    assert page.status_code == 200 and "生成月度通报" in page.text and "还没有通报" in page.text
    r = client.post("/assess/bulletins", data={"month": "2026-10", "region": "441900003", "preset": "digital_urban",
                                               "csrf_token": csrf}, follow_redirects=True)
    assert r.status_code == 200 and "通报已生成" in r.text and "东城街道2026年10月考核通报" in r.text
    login(client, "leader")
    page = client.get("/assess/bulletins")
    assert "东城街道2026年10月考核通报" in page.text and "生成月度通报" not in page.text  # leaders read only


def test_region_page_shows_twelve_months_and_links_to_cases(client, db):
    import html
    import json
    import re

    _figures(db)
    login(client, "leader")
    page = client.get("/assess", params={"value": "2026-10", "region": DONGCHENG})
    assert page.status_code == 200
    trend = json.loads(html.unescape(re.search(r"data-trend='([^']*)'", page.text)[1]))
    assert [r["key"] for r in trend][0] == "2025-11" and len(trend) == 12
    assert "/cases?queue=all&amp;region=441900003&amp;date_from=2026-10-01&amp;date_to=2026-10-31" in page.text
    assert "93.72%" in page.text and "东城街道 · 2026年10月考核" in page.text


def test_region_page_filters_by_source_department_category_and_urgency(client, db):
    _figures(db)  # every hand-made case came from grid workers, with normal urgency
    login(client, "leader")
    base = {"value": "2026-10", "region": DONGCHENG}
    page = client.get("/assess", params=base | {"source": "grid_worker"}).text
    assert "93.72%" in page
    for name in ("department", "category", "source", "urgency"):
        assert f'<select name="{name}">' in page
    assert "12345 热线" in page and "东城街道综合行政执法办" in page
    assert 'value="grid_worker" selected' in page
    hotline = client.get("/assess", params=base | {"source": "hotline"}).text
    assert "无上报事件:无数据" in hotline and "93.72%" not in hotline
    urgent = client.get("/assess", params=base | {"urgency": "urgent"}).text
    assert "无上报事件:无数据" in urgent
    # drill-down links keep the filter
    assert "source=grid_worker" in client.get("/assess", params={"value": "2026-10", "source": "grid_worker"}).text
    bad = client.get("/assess", params=base | {"category": "NOPE"})
    assert bad.status_code in (400, 404) and "分类" in bad.text


def test_unit_table_shows_each_units_change_from_last_month(client, db):
    _figures(db)  # 南城: on-time closure 80/100 in October, 60/80 in September (+5 points); 东城 has no September
    login(client, "leader")
    page = client.get("/assess", params={"value": "2026-10"}).text
    table = page[page.index("各镇街情况"):]
    nancheng = table[table.index("南城街道"):][:600]
    assert "80.00%" in nancheng and "↑ 5.00 个百分点" in nancheng
    dongcheng = table[table.index("东城街道"):][:600]
    assert "无数据" in dongcheng  # no September to compare with: no data, not a made-up change
