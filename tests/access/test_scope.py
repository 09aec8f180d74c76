"""Roles, scopes and the policy: out of scope is 404, a forbidden action is 403 with the reason."""

from civicgrid.access.policy import Action, Actor, Grant, Role, can, require
from civicgrid.errors import Forbidden, NotFound
from tests.conftest import login

import pytest


class Obj:
    def __init__(self, path):
        self.path = path


def test_policy_scope_and_action_are_separate_answers():
    town = Actor(1, "t", "t", (Grant(Role.TOWN_DISPATCHER, 2, "/1/2/"),))
    require(town, Action.REGION_VIEW, Obj("/1/2/5/"))
    with pytest.raises(NotFound):
        require(town, Action.REGION_VIEW, Obj("/1/3/"))
    with pytest.raises(Forbidden) as exc:
        require(town, Action.USER_MANAGE, Obj("/1/2/5/"))
    assert "镇街调度员" in exc.value.message_zh
    # out of scope wins over forbidden: the object does not exist for them
    with pytest.raises(NotFound):
        require(town, Action.USER_MANAGE, Obj("/1/3/"))
    assert not can(Actor(2, "c", "c", (Grant(Role.CITIZEN),)), Action.REGION_VIEW)


def test_town_dispatcher_sees_its_town_and_not_the_other(client, demo_city):
    login(client, "town.dispatcher")
    tree = client.get("/api/v1/regions/tree").json()
    assert [n["code"] for n in tree] == ["441900003"]
    assert client.get("/api/v1/regions/441900003").status_code == 200
    r = client.get("/api/v1/regions/441900004")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert client.get("/api/v1/regions/441900").status_code == 404
    r = client.get("/api/v1/regions/geojson", params={"parent": "441900004", "level": "grid"})
    assert r.status_code == 404
    grids = client.get("/api/v1/regions", params={"level": "grid"}).json()
    assert grids and all(g["code"].startswith("441900003") for g in grids)


def test_each_demo_role_sees_what_it_may(client, demo_city):
    expect = {"admin": "441900", "city.dispatcher": "441900", "leader": "441900", "town.dispatcher": "441900003",
              "mediator": "441900003", "dept.handler": "441900003", "village.operator": "441900003001",
              "grid.worker": "441900003001", "integration.12345": "441900"}
    for user, root in expect.items():
        client.cookies.clear()
        login(client, user)
        tree = client.get("/api/v1/regions/tree").json()
        assert [n["code"] for n in tree] == [root], user
    client.cookies.clear()
    login(client, "citizen")
    r = client.get("/api/v1/regions/tree")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_non_admin_cannot_manage_users_or_import(client):
    csrf = login(client, "city.dispatcher")
    h = {"X-CSRF-Token": csrf}
    r = client.post("/api/v1/users", json={"username": "x.y", "display_name": "x"}, headers=h)
    assert r.status_code == 403 and "管理用户" in r.json()["message"]
    r = client.post("/api/v1/regions/import", json={"type": "FeatureCollection", "features": []}, headers=h)
    assert r.status_code == 403


def test_admin_manages_users_roles_and_grids(client):
    csrf = login(client, "admin")
    h = {"X-CSRF-Token": csrf}
    r = client.post("/api/v1/users", json={"username": "wang.fang", "display_name": "王芳", "password": "grid2026a"},
                    headers=h)
    assert r.status_code == 201 and r.json()["can_log_in"]
    r = client.post("/api/v1/users/wang.fang/roles", json={"role": "grid_worker", "region_code": "441900003"},
                    headers=h)
    assert r.status_code == 400 and r.json()["code"] == "scope_level"
    r = client.post("/api/v1/users/wang.fang/roles", json={"role": "grid_worker", "region_code": "441900003001"},
                    headers=h)
    assert r.status_code == 201
    assert r.json()["roles"][0]["role_label"] == "网格员"
    r = client.post("/api/v1/users/wang.fang/grids", json={"grid_codes": ["441900003001001"]}, headers=h)
    assert r.json()["grids"] == [{"code": "441900003001001", "name": r.json()["grids"][0]["name"]}]
    r = client.post("/api/v1/users/wang.fang/roles", json={"role": "department_handler", "region_code": "441900003"},
                    headers=h)
    assert r.status_code == 400 and r.json()["code"] == "scope_required"
    r = client.post("/api/v1/users/wang.fang/roles",
                    json={"role": "department_handler", "department_code": "441900003-fire"}, headers=h)
    assert r.status_code == 201
    r = client.post("/api/v1/users", json={"username": "wang.fang", "display_name": "重复"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "username_taken"
    users = client.get("/api/v1/users", params={"role": "grid_worker", "region": "441900003001"}).json()
    assert users["total"] >= 2 and all(u["roles"] for u in users["items"])
    r = client.patch("/api/v1/users/wang.fang", json={"active": False}, headers=h)
    assert r.status_code == 200 and r.json()["active"] is False


def test_town_dispatcher_lists_only_users_of_its_town(client):
    login(client, "town.dispatcher")
    page = client.get("/api/v1/users", params={"role": "grid_worker", "limit": 500}).json()
    assert page["total"] > 0
    for u in page["items"]:
        assert all(r["region_code"].startswith("441900003") for r in u["roles"])
    other = client.get("/api/v1/users", params={"role": "grid_worker", "region": "441900004"})
    assert other.status_code == 404


def test_departments_and_centres_are_listed_in_scope(client):
    login(client, "town.dispatcher")
    depts = client.get("/api/v1/departments").json()
    names = {d["name"] for d in depts}
    assert "东城街道派出所" in names and "东莞市公安局" in names
    assert not any(d["region_code"] == "441900004" for d in depts)
    centres = client.get("/api/v1/command-centres").json()
    assert centres[0]["name"] == "东城街道综治中心"
    assert all(c["region_code"].startswith("441900003") for c in centres)
