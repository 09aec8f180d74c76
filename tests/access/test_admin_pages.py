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
