"""Registry over HTTP: the JSON API (list, detail, create with field errors, unmask, import wizard, export)
and the pages (list, detail, form errors next to fields, import preview), as a logged-in operator sees them."""

from __future__ import annotations

import io
import re
from datetime import date

from openpyxl import load_workbook

from civicgrid.registry.ids import make_id_number
from tests.conftest import login
from tests.registry.conftest import make_address


def test_api_create_list_detail_unmask_and_export(client, db, demo_grid):
    a = make_address(db, demo_grid)
    csrf = login(client, "village.operator")
    h = {"X-CSRF-Token": csrf}
    pid = make_id_number("441900", date(1985, 3, 9), 21)
    r = client.post("/api/v1/registry/residents", json={"name": "陈一", "id_number": pid, "phone": "13911112222",
                                                        "address": a.full}, headers=h)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["id_number"] == "4419**********" + pid[-4:]
    bad = client.post("/api/v1/registry/residents", json={"name": "陈二", "id_number": pid[:-1] + "0",
                                                          "address": a.full}, headers=h)
    assert bad.status_code == 400 and "id_number" in bad.json()["errors"] and "校验位" in bad.json()["message"]
    lst = client.get("/api/v1/registry/residents", params={"q": "13911112222"}).json()
    assert lst["total"] == 1 and lst["items"][0]["phone"] == "139****2222"
    full = client.post(f"/api/v1/registry/residents/{rid}/unmask", headers=h).json()
    assert full["id_number"] == pid
    audit = client.get("/api/v1/audit", params={"action": "registry.unmask"})
    if audit.status_code == 200:  # village operators may not read the audit log; the admin test covers it
        assert audit.json()
    x = client.get("/api/v1/registry/residents/export.xlsx", params={"q": "陈一"})
    ws = load_workbook(io.BytesIO(x.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "姓名" and rows[1][0] == "陈一" and "*" in rows[1][1]
    assert client.get(f"/api/v1/registry/grids/{demo_grid.code}/summary").json()["counts"]["resident"]["total"] == 1


def test_api_import_wizard(client, db, demo_grid):
    a = make_address(db, demo_grid)
    csrf = login(client, "village.operator")
    h = {"X-CSRF-Token": csrf}
    good, bad = make_id_number("441900", date(1990, 1, 1), 31), "12345"
    csv = f"姓名,身份证号,现住址,备注\n甲,{good},{a.full},\n乙,{bad},{a.full},\n".encode("gbk")
    up = client.post("/api/v1/registry/imports/resident", files={"file": ("r.csv", csv, "text/csv")}, headers=h)
    assert up.status_code == 200, up.text
    pv = up.json()
    assert (pv["encoding"], pv["valid"], pv["error_rows"], pv["unknown_headers"]) == ("GBK", 1, 1, ["备注"])
    rep = client.get(f"/api/v1/registry/imports/{pv['token']}/errors.xlsx")
    assert rep.status_code == 200 and load_workbook(io.BytesIO(rep.content)).active.max_row == 2
    refused = client.post(f"/api/v1/registry/imports/{pv['token']}/commit", json={"mode": "all"}, headers=h)
    assert refused.status_code == 400 and refused.json()["code"] == "import_invalid"
    assert client.get("/api/v1/registry/residents", params={"q": good}).json()["total"] == 0
    done = client.post(f"/api/v1/registry/imports/{pv['token']}/commit", json={"mode": "valid"}, headers=h).json()
    assert (done["created"], done["skipped"]) == (1, 1)
    # the import is on record: listed for its importer (the refused attempt is not), on the page too, and the
    # new resident's history names the file
    mine = client.get("/api/v1/registry/imports").json()
    assert [(i["id"], i["filename"], i["total"], i["created"], i["error_rows"]) for i in mine] == [
        (done["import_id"], "r.csv", 2, 1, 1)]
    page = client.get("/registry/import").text
    assert "我的导入记录" in page and "r.csv" in page and "只导入正确的行" in page
    rid = client.get("/api/v1/registry/residents", params={"q": good}).json()["items"][0]["id"]
    first = client.get(f"/api/v1/registry/residents/{rid}").json()["history"][0]
    assert (first["action"], first["source"]) == ("import", "r.csv")
    assert "文件:r.csv" in client.get(f"/registry/residents/{rid}").text


def test_grid_worker_may_not_import_and_citizen_sees_nothing(client, db, demo_grid):
    csrf = login(client, "grid.worker")
    r = client.post("/api/v1/registry/imports/resident", files={"file": ("r.csv", b"a\n1\n", "text/csv")},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    client.cookies.clear()
    login(client, "citizen")
    assert client.get("/api/v1/registry/residents").status_code == 403


def test_pages_list_detail_form_errors(client, db, demo_grid):
    a = make_address(db, demo_grid)
    csrf = login(client, "village.operator")
    page = client.get("/registry/residents", params={"q": "查无此人"})
    assert page.status_code == 200 and "基础数据" in page.text and "没有找到实有人口" in page.text
    r = client.post("/registry/residents/new", data={"csrf_token": csrf, "name": "", "id_number": "123",
                                                     "household": "floating", "address": a.full})
    assert r.status_code == 400
    assert "姓名不能为空" in r.text and "身份证号码应为 18 位" in r.text
    pid = make_id_number("441900", date(1979, 7, 7), 41)
    r = client.post("/registry/residents/new", data={"csrf_token": csrf, "name": "周七", "id_number": pid,
                                                     "household": "registered", "address": a.full},
                    follow_redirects=False)
    assert r.status_code == 303
    detail = client.get(r.headers["location"])
    assert "周七" in detail.text and "户籍人口" in detail.text and pid not in detail.text
    assert "registered" not in detail.text
    un = client.post(r.headers["location"].split("?")[0] + "/unmask", headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert pid in un.text
    grid = client.get("/registry/grid", params={"code": demo_grid.code})
    assert "周七" in grid.text and "实有人口" in grid.text


def test_resident_page_moves_and_tags(client, db, demo_grid):
    from tests.registry.conftest import make_resident

    r = make_resident(db, demo_grid)
    b = make_address(db, demo_grid, room="0808")
    csrf = login(client, "village.operator")
    bad = client.post(f"/registry/residents/{r.id}/move", data={"csrf_token": csrf, "address": "火星基地1号"})
    assert bad.status_code == 400 and "未匹配到任何标准地址" in bad.text
    ok = client.post(f"/registry/residents/{r.id}/move", data={"csrf_token": csrf, "address": b.full,
                                                                "relation": "tenant"})
    assert ok.status_code == 200 and "808室" in ok.text and "至今" in ok.text  # followed the redirect
    t = client.post(f"/registry/residents/{r.id}/tags", data={"csrf_token": csrf, "tag": "community_correction"})
    assert t.status_code == 200 and "社区矫正对象" in t.text
    client.cookies.clear()
    login(client, "grid.worker")  # may view, may not see sensitive tags
    page = client.get(f"/registry/residents/{r.id}")
    assert page.status_code == 200 and "社区矫正对象" not in page.text


def test_editing_a_facility_or_dwelling_keeps_what_the_form_does_not_change(client, db, demo_grid):
    from civicgrid.access.service import SYSTEM
    from civicgrid.registry import service
    from tests.registry.conftest import make_resident

    from civicgrid.access.models import Department
    from sqlalchemy import select

    dept = db.scalars(select(Department).where(Department.level == "town")).first()
    f = service.save_facility(db, SYSTEM, {"code": "XF-9", "kind": "fire_hydrant", "lon": demo_grid.centroid_lon,
                                           "lat": demo_grid.centroid_lat, "maintainer_department": dept.name})
    r = make_resident(db, demo_grid)
    service.save_dwelling(db, SYSTEM, {"structure": "砖混", "use": "出租"}, dwelling_id=r.dwelling_id)
    db.flush()
    login(client, "admin")
    form = client.get(f"/registry/facilities/{f.id}/edit").text
    assert f'value="{dept.name}"' in form
    form = client.get(f"/registry/dwellings/{r.dwelling_id}/edit").text
    assert re.search(r"<option value=\"brick_concrete\"\s+selected>砖混</option>", form), form[form.find("f-structure"):][:300]


def test_pages_create_address_organisation_and_facility(client, db, demo_grid):
    from civicgrid.geo.models import Region
    from civicgrid.registry.ids import make_uscc

    village = db.get(Region, demo_grid.parent_id)
    town = db.get(Region, village.parent_id)
    csrf = login(client, "village.operator")
    r = client.post("/registry/addresses/new", data={
        "csrf_token": csrf, "town": town.name, "village": village.name, "road": "学前路", "house_no": "9",
        "lon": str(demo_grid.centroid_lon), "lat": str(demo_grid.centroid_lat)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    assert "学前路9号" in page and demo_grid.name in page
    r = client.post("/registry/organisations/new", data={
        "csrf_token": csrf, "name": "学前便利店", "uscc": make_uscc("92", "441900", "L7654321"), "kind": "shop",
        "address": "学前路9号", "staff_count": "3"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert "学前便利店" in client.get(r.headers["location"]).text
    r = client.post("/registry/facilities/new", data={
        "csrf_token": csrf, "code": "AED-001", "name": "便利店门口", "kind": "aed", "status": "in_service",
        "lon": "", "lat": "", "address": ""})
    assert r.status_code == 400 and "请填写地址或经纬度" in r.text
    r = client.post("/registry/facilities/new", data={
        "csrf_token": csrf, "code": "AED-001", "name": "便利店门口", "kind": "aed", "status": "in_service",
        "address": "学前路9号"}, follow_redirects=False)
    assert r.status_code == 303
    assert "AED 除颤仪" in client.get(r.headers["location"]).text
