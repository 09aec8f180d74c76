"""The admin pages over HTTP: each page renders for the admin, scopes hold for others, forms keep what was typed."""

from __future__ import annotations

import pytest

from tests.conftest import login

PAGES = ["/admin", "/admin/users", "/admin/users/village.operator", "/admin/departments", "/admin/centres",
         "/admin/audit", "/admin/matters", "/admin/matters/E0102", "/admin/regions"]


def html(client, path):
    return client.get(path, headers={"accept": "text/html"})


@pytest.mark.parametrize("path", PAGES)
def test_every_admin_page_renders_for_the_admin(client, path):
    login(client, "admin")
    r = html(client, path)
    assert r.status_code == 200, r.text[:2000]
    assert "管理" in r.text


def test_town_dispatcher_sees_only_its_town_read_only(client, db, system):
    from civicgrid.access import service

    other = service.list_users(db, system, region_code="441900004", role="grid_worker", limit=1)["items"][0]
    login(client, "town.dispatcher")
    assert html(client, f"/admin/users/{other['username']}").status_code == 404
    r = html(client, "/admin/users?q=operator")
    assert r.status_code == 200 and "新建用户" not in r.text
    assert "village.operator" in r.text
    assert html(client, "/admin/users?region=441900004").status_code == 404


def test_grid_worker_is_refused(client):
    login(client, "grid.worker")
    r = html(client, "/admin/users")
    assert r.status_code == 403 and "没有权限" in r.text
    assert ">管理<" not in html(client, "/admin").text.split("</header>")[0]


def _csrf(client):
    """The CSRF token of the logged-in page session (as a form field)."""
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', html(client, "/admin/users").text).group(1)


def test_role_form_refuses_a_wrong_level_next_to_the_field_and_keeps_the_choice(client):
    login(client, "admin")
    token = _csrf(client)
    r = client.post("/admin/users/grid.worker/roles", headers={"accept": "text/html"},
                    data={"csrf_token": token, "role": "town_dispatcher", "region_code": "441900003001"})
    assert r.status_code == 400
    assert "镇街调度员的管辖范围应为镇街级区域" in r.text
    assert 'value="441900003001" data-level="village" selected' in r.text
    r = client.post("/admin/users/grid.worker/roles", headers={"accept": "text/html"},
                    data={"csrf_token": token, "role": "department_handler", "region_code": "441900003"})
    assert r.status_code == 400 and "请选择部门" in r.text


def test_user_page_changes_go_through_the_service_and_are_audited(client, db):
    from civicgrid.access.models import User
    from sqlalchemy import select

    login(client, "admin")
    token = _csrf(client)
    r = client.post("/admin/users/leader/update", data={"csrf_token": token, "change": "password", "password": "short"},
                    headers={"accept": "text/html"})
    assert r.status_code == 400 and "密码至少 8 位" in r.text
    r = client.post("/admin/users/leader/update", data={"csrf_token": token, "change": "deactivate"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/users/leader?done=deactivate"
    assert db.scalars(select(User).where(User.username == "leader")).one().active is False
    page = html(client, "/admin/audit?action=user.update").text
    assert "修改用户" in page and ">leader</a>" in page and "启用:否" in page


def test_department_and_centre_forms_keep_what_was_typed(client):
    login(client, "admin")
    token = _csrf(client)
    r = client.post("/admin/departments", headers={"accept": "text/html"},
                    data={"csrf_token": token, "code": "", "name": "东城街道测试科", "kind": "water",
                          "region_code": "441900003"})
    assert r.status_code == 400 and "请填写部门代码" in r.text and 'value="东城街道测试科"' in r.text
    r = client.post("/admin/departments", data={"csrf_token": token, "code": "T-0001", "name": "东城街道测试科",
                                                "kind": "water", "region_code": "441900003"}, follow_redirects=False)
    assert r.status_code == 303
    assert "东城街道测试科" in html(client, "/admin/departments?region=441900003&kind=water").text
    r = client.post("/admin/centres", headers={"accept": "text/html"},
                    data={"csrf_token": token, "region_code": "441900003", "name": "第二个中心"})
    assert r.status_code == 409 or r.status_code == 400
    assert "已有指挥中心" in r.text


def test_catalogue_import_without_a_file_says_so(client):
    login(client, "admin")
    r = client.post("/admin/matters/import", headers={"accept": "text/html"}, data={"csrf_token": _csrf(client)})
    assert r.status_code == 400 and "请选择要导入的 .xlsx 文件" in r.text


def test_geojson_import_replaces_a_village_and_reports_it(client):
    login(client, "admin")
    fc = client.get("/api/v1/regions/export", params={"root": "441900003001", "level": "village"}).content
    assert b"441900003001" in fc
    token = _csrf(client)
    r = client.post("/admin/regions/import", headers={"accept": "text/html"},
                    data={"csrf_token": token, "replace": "true", "crs": "wgs84"},
                    files={"file": ("village.geojson", fc, "application/geo+json")})
    assert r.status_code == 200, r.text[-2000:]
    assert "导入完成:新增 0 个,替换 1 个区域" in r.text
    r = client.post("/admin/regions/import", headers={"accept": "text/html"},
                    data={"csrf_token": token, "crs": "wgs84"},
                    files={"file": ("village.geojson", fc, "application/geo+json")})
    assert r.status_code == 400 and "已存在(如需重新划分请使用替换模式)" in r.text


def test_a_village_operator_sees_its_grids_on_the_regions_page(client):
    login(client, "village.operator")
    r = html(client, "/admin/regions")
    assert r.status_code == 200 and "网格 6 个" in r.text and "第1网格" in r.text and "导入边界" not in r.text
