"""The loop through the HTTP API, as integrations and pages use it."""

from __future__ import annotations

import io

import shapely
from PIL import Image
from sqlalchemy import select

from civicgrid.geo import crs
from civicgrid.geo.models import Region
from tests.conftest import login


def inside(db, code="441900003001002"):
    g = shapely.from_wkb(db.scalars(select(Region).where(Region.code == code)).one().geom_wkb)
    p = g.buffer(-0.0005).representative_point()
    return p.x, p.y


def as_user(client, user):
    client.cookies.clear()
    client.headers["X-CSRF-Token"] = login(client, user)


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buf, "JPEG")
    return buf.getvalue()


def test_hotline_ticket_with_gcj02_point_is_idempotent_and_lands_at_the_town(client, db, demo_city):
    lon, lat = inside(db)
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    h = {"Authorization": f"Bearer {demo_city.api_key}", "Idempotency-Key": "ticket-2026-0001"}
    body = {"title": "市民反映路灯不亮", "category": "C0103", "lon": glon, "lat": glat, "crs": "gcj02",
            "external_key": "12345-20261129-0001", "reporter_name": "王女士", "reporter_phone": "13800138000"}
    client.cookies.clear()
    r = client.post("/api/v1/cases", json=body, headers=h)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["source"] == "hotline" and case["level"] == "town" and case["grid"] == "岗贝社区第2网格"
    assert case["state_label"] == "待受理" and case["light"] == "green"
    again = client.post("/api/v1/cases", json=body, headers=h)
    assert again.status_code == 200 and again.json()["number"] == case["number"]
    changed = client.post("/api/v1/cases", json={**body, "title": "别的"}, headers=h)
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_mismatch"
    # the same ticket number without the key is still the same case
    other = client.post("/api/v1/cases", json=body, headers={"Authorization": h["Authorization"]})
    assert other.json()["number"] == case["number"]


def test_report_errors_are_clear(client, db):
    as_user(client, "grid.worker")
    lon, lat = inside(db)
    bad = [({"title": "x", "category": "E9999", "lon": lon, "lat": lat}, "unknown_category"),
           ({"title": "x", "category": "E01", "lon": lon, "lat": lat}, "category_not_leaf"),
           ({"title": "x", "category": "E0102", "lon": 113.0, "lat": 22.0}, "outside_city"),
           ({"title": "x", "category": "E0102", "lon": 23.0, "lat": 113.7}, "location_coordinates_swapped"),
           ({"title": "x", "category": "E0102"}, "location_required")]
    for body, code in bad:
        r = client.post("/api/v1/cases", json=body)
        assert r.status_code == 400 and r.json()["code"] == code, (code, r.text)
        assert r.json()["message"]  # Chinese message for the form
    r = client.post("/api/v1/cases", json={"category": "E0102", "lon": lon, "lat": lat})
    assert r.status_code == 422


def test_whole_loop_over_http_with_photos_versions_and_inbox(client, db):
    lon, lat = inside(db, "441900003001001")
    as_user(client, "grid.worker")
    r = client.post("/api/v1/cases", json={"title": "违规搭建铁皮棚", "category": "E0101", "lon": lon, "lat": lat})
    case = r.json()
    n = case["number"]
    up = client.post(f"/api/v1/cases/{n}/photos", files={"file": ("a.jpg", jpeg(), "image/jpeg")})
    assert up.status_code == 201, up.text
    fake = client.post(f"/api/v1/cases/{n}/photos", files={"file": ("a.jpg", b"not an image at all", "image/jpeg")})
    assert fake.status_code == 400 and fake.json()["code"] == "unsupported_file_type"
    assert client.get(up.json()["thumb_url"]).headers["content-type"] == "image/jpeg"

    as_user(client, "village.operator")
    detail = client.get(f"/api/v1/cases/{n}").json()
    assert {a["name"] for a in detail["actions"]} >= {"accept", "void", "escalate"}
    v = detail["version"]
    assert client.post(f"/api/v1/cases/{n}/actions/accept", json={"version": v}).status_code == 200
    stale = client.post(f"/api/v1/cases/{n}/actions/escalate", json={"version": v, "note": "x"})
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
    r = client.post(f"/api/v1/cases/{n}/actions/escalate", json={"version": v + 1, "note": "需执法"})
    assert r.json()["level"] == "town"

    as_user(client, "town.dispatcher")
    inbox = client.get("/api/v1/inbox").json()
    assert any(i["case"] == n and i["kind"] == "escalated" for i in inbox["items"])
    counts = client.get("/api/v1/cases/queues").json()["counts"]
    assert counts["to_dispatch"] >= 1
    r = client.post(f"/api/v1/cases/{n}/actions/dispatch", json={"department": "441900003-urban_management"})
    assert r.status_code == 200 and r.json()["state"] == "dispatched"

    as_user(client, "dept.handler")
    assert n in [c["number"] for c in client.get("/api/v1/cases", params={"queue": "department"}).json()["items"]]
    r = client.post(f"/api/v1/cases/{n}/actions/return", json={})
    assert r.status_code == 400 and r.json()["code"] == "note_required"
    client.post(f"/api/v1/cases/{n}/actions/return", json={"note": "应由住建部门处理"})
    as_user(client, "town.dispatcher")
    client.post(f"/api/v1/cases/{n}/actions/dispatch", json={"department": "441900003-urban_management",
                                                              "note": "确属执法办职责"})
    as_user(client, "dept.handler")
    client.post(f"/api/v1/cases/{n}/actions/take", json={})
    photo = client.post(f"/api/v1/cases/{n}/photos", files={"file": ("after.png", jpeg(), "image/jpeg")}).json()
    r = client.post(f"/api/v1/cases/{n}/actions/handle", json={"note": "已拆除", "photos": [photo["id"]]})
    assert r.json()["state"] == "handled"
    # the handler may not verify: 403 (not a grid worker of the grid) and never offered
    assert client.post(f"/api/v1/cases/{n}/actions/verify", json={"result": "pass", "note": "x"}).status_code == 403

    as_user(client, "grid.worker")
    r = client.post(f"/api/v1/cases/{n}/actions/verify", json={"result": "pass", "note": "现场已拆除"})
    assert r.json()["state"] == "verified"
    as_user(client, "town.dispatcher")
    r = client.post(f"/api/v1/cases/{n}/actions/close", json={})
    assert r.json()["state"] == "closed"
    timeline = r.json()["timeline"]
    assert [e["action"] for e in timeline] == ["report", "accept", "escalate", "dispatch", "return", "dispatch",
                                               "take", "handle", "verify", "close"]
    assert any(p["entry_id"] for p in r.json()["photos"])


def test_scope_denial_is_404_and_wrong_role_403(client, db):
    lon, lat = inside(db)
    as_user(client, "grid.worker")
    n = client.post("/api/v1/cases", json={"title": "暴露垃圾", "category": "E0102", "lon": lon, "lat": lat}).json()["number"]
    as_user(client, "citizen")
    assert client.get(f"/api/v1/cases/{n}").status_code == 404
    as_user(client, "leader")
    assert client.get(f"/api/v1/cases/{n}").status_code == 200
    r = client.post(f"/api/v1/cases/{n}/actions/accept", json={})
    assert r.status_code == 403 and r.json()["allowed"] == []


def test_catalogue_round_trips_through_xlsx_and_edits_do_not_touch_open_cases(client, db):
    as_user(client, "grid.worker")
    lon, lat = inside(db)
    n = client.post("/api/v1/cases", json={"title": "暴露垃圾", "category": "E0102", "lon": lon, "lat": lat}).json()["number"]
    as_user(client, "admin")
    x = client.get("/api/v1/matters/export.xlsx")
    assert x.headers["content-type"].startswith("application/vnd.openxmlformats")
    r = client.post("/api/v1/matters/import.xlsx", files={"file": ("m.xlsx", x.content, "application/octet-stream")})
    assert r.status_code == 200 and r.json() == {"created": 0, "updated": 0}, r.text
    new_limits = {"normal": {"accept": 2, "dispatch": 2, "handle": 30, "verify": 3},
                  "urgent": {"accept": 0.5, "dispatch": 0.5, "handle": 8, "verify": 1}}
    r = client.patch("/api/v1/matters/E0102", json={"time_limits": new_limits})
    assert r.status_code == 200 and r.json()["revision"] == 2
    bad = client.patch("/api/v1/matters/E0102", json={"time_limits": {"normal": {"accept": -1}}})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_category"
    as_user(client, "village.operator")
    detail = client.get(f"/api/v1/cases/{n}").json()
    assert detail["rules"]["revision"] == 1 and detail["rules"]["time_limits"]["normal"]["handle"] == 7.0


def test_filtered_list_exports_as_xlsx_and_csv(client, db):
    import openpyxl

    lon, lat = inside(db)
    as_user(client, "grid.worker")
    n = client.post("/api/v1/cases", json={"title": "导出测试垃圾", "category": "E0102", "lon": lon, "lat": lat}).json()["number"]
    as_user(client, "village.operator")
    x = client.get("/api/v1/cases/export.xlsx", params={"queue": "to_accept"})
    assert x.status_code == 200 and "attachment" in x.headers["content-disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert rows[0][0] == "事件编号" and any(r[0] == n and r[2] == "待受理" for r in rows[1:])
    c = client.get("/api/v1/cases/export.csv", params={"q": "导出测试"})
    text = c.content.decode("utf-8")
    assert text.startswith("\ufeff事件编号") and n in text and text.count("\n") == 2
    assert client.get("/api/v1/cases/export.pdf").status_code == 400


def test_category_is_proposed_from_the_text_and_the_calendar_takes_a_notice(client, db):
    as_user(client, "grid.worker")
    top = client.get("/api/v1/matters/suggest", params={"text": "路边有一堆暴露垃圾"}).json()
    assert top[0]["code"] == "E0102" and top[0]["path"] == ["事件", "市容环境", "暴露垃圾"]
    lon, lat = inside(db)
    r = client.post("/api/v1/cases", json={"title": "小区门口违章停车堵塞通道", "category": "", "lon": lon, "lat": lat})
    assert r.status_code == 400 and r.json()["suggestions"][0]["code"] == "E0502"
    # the working calendar: only an admin loads a year's notice; a bad line is named
    notice = "date,type\n2027-01-01,休\n2027-02-06,班\n"
    assert client.put("/api/v1/calendar/notices/2027", content=notice,
                      headers={"content-type": "text/plain"}).status_code == 403
    as_user(client, "admin")
    bad = client.put("/api/v1/calendar/notices/2027", content="2027-13-01,休",
                     headers={"content-type": "text/plain"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_holiday_notice"
    ok = client.put("/api/v1/calendar/notices/2027", content=notice, headers={"content-type": "text/plain"})
    assert ok.status_code == 200 and ok.json() == {"year": 2027, "holidays": 1, "workdays": 1}
    years = {y["year"]: y["source"] for y in client.get("/api/v1/calendar").json()}
    assert years[2027] == "override" and years[2026] == "library"
