"""Facility points and buildings over HTTP: the GeoJSON endpoint (scope → 404 outside the region, 403 without
the right, 400 with a stable code for a bad kind, truncation note), building create/edit with field errors,
and the pages (facility map view, console map layer only for roles that see base data, building floors)."""

from __future__ import annotations

from sqlalchemy import select

from civicgrid.access.service import SYSTEM
from civicgrid.geo.crs import wgs84_to_bd09
from civicgrid.geo.models import Region
from civicgrid.registry import service
from civicgrid.registry.models import Dwelling
from tests.conftest import login
from tests.registry.conftest import make_address, make_resident


def _other_town_grid(db, grid: Region) -> Region:
    town = db.get(Region, db.get(Region, grid.parent_id).parent_id)
    return db.scalars(select(Region).where(Region.level == "grid", ~Region.path.startswith(town.path))).first()


def _hydrant(db, grid: Region, code: str, **extra):
    return service.save_facility(db, SYSTEM, {"code": code, "kind": "fire_hydrant", "lon": grid.centroid_lon,
                                              "lat": grid.centroid_lat, **extra})


def test_points_endpoint_scope_filters_and_errors(client, db, demo_grid):
    other = _other_town_grid(db, demo_grid)
    _hydrant(db, demo_grid, "XF-A")
    _hydrant(db, demo_grid, "XF-B", status="faulty")
    _hydrant(db, other, "XF-C")
    login(client, "grid.worker")
    r = client.get("/api/v1/registry/facilities/points")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection" and sorted(f["properties"]["code"] for f in body["features"]) == ["XF-A", "XF-B"]
    r = client.get("/api/v1/registry/facilities/points", params={"status": "faulty", "kind": ["fire_hydrant", "aed"]})
    assert [f["properties"]["code"] for f in r.json()["features"]] == ["XF-B"]
    r = client.get("/api/v1/registry/facilities/points", params={"limit": 1})
    assert r.json()["truncated"] is True and "只显示 1 个(共 2 个" in r.json()["note"]
    assert client.get("/api/v1/registry/facilities/points", params={"region": other.code}).status_code == 404
    bad = client.get("/api/v1/registry/facilities/points", params={"kind": "hydrant"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_kind"
    assert client.get("/api/v1/registry/facilities/points", params={"limit": 0}).status_code == 422
    client.cookies.clear()
    login(client, "dept.handler")  # no base data at all
    assert client.get("/api/v1/registry/facilities/points").status_code == 403


def test_facility_api_takes_baidu_coordinates(client, db, demo_grid):
    csrf = login(client, "village.operator")
    blon, blat = wgs84_to_bd09(demo_grid.centroid_lon, demo_grid.centroid_lat)
    r = client.post("/api/v1/registry/facilities", headers={"X-CSRF-Token": csrf}, json={
        "code": "AED-BD", "kind": "aed", "lon": float(blon), "lat": float(blat), "crs": "bd09"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["source_crs"] == "bd09" and out["grid"]["code"] == demo_grid.code
    assert abs(out["lon"] - demo_grid.centroid_lon) < 1e-6


def test_building_api_floors_and_scope(client, db, demo_grid):
    make_resident(db, demo_grid, room="1203")
    bid = db.scalars(select(Dwelling.building_id)).one()
    far = service.save_building(db, SYSTEM, {"address_id": make_address(
        db, _other_town_grid(db, demo_grid), compound="远方花园", building="1", unit="", room="").id})
    csrf = login(client, "grid.worker")
    h = {"X-CSRF-Token": csrf}
    r = client.patch(f"/api/v1/registry/buildings/{bid}", json={"floors": 10}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == "invalid_fields" and "floors" in r.json()["errors"]
    r = client.patch(f"/api/v1/registry/buildings/{bid}", json={"structure": "steel_concrete", "floors": 26,
                                                               "floors_below": 1}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["structure_label"], out["floors"], out["floors_below"], out["dwellings"]) == ("钢混", 26, 1, 1)
    assert [row["floor"] for row in out["floor_rows"]][:1] == [26] and out["floor_rows"][-1]["label"] == "地下 1 层"
    assert client.patch(f"/api/v1/registry/buildings/{far.id}", json={"floors": 3}, headers=h).status_code == 404
    assert client.get(f"/api/v1/registry/buildings/{far.id}").status_code == 404
    lst = client.get("/api/v1/registry/buildings").json()
    assert lst["total"] == 1 and lst["items"][0]["id"] == bid
    too_high = make_address(db, demo_grid, room="2701")
    r = client.post("/api/v1/registry/dwellings", json={"address_id": too_high.id}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == "floor_above_building" and "27 层" in r.json()["message"]


def test_pages_facility_map_console_layer_and_building_floors(client, db, demo_grid):
    _hydrant(db, demo_grid, "XF-P")
    make_resident(db, demo_grid, room="0302")
    bid = db.scalars(select(Dwelling.building_id)).one()
    csrf = login(client, "village.operator")
    page = client.get("/registry/facilities", params={"view": "map", "status": "faulty"})
    assert page.status_code == 200 and 'id="fac-map"' in page.text and 'data-status="faulty"' in page.text
    assert "消防栓" in page.text and "/static/cgmap.js" in page.text and "<table" not in page.text
    other = _other_town_grid(db, demo_grid)
    assert client.get("/registry/facilities", params={"view": "map", "region": other.code}).status_code == 404
    assert 'id="show-facilities"' in client.get("/map").text
    grid_page = client.get("/registry/grid", params={"code": demo_grid.code}).text
    assert 'id="fac-map"' in grid_page and f'data-focus="{demo_grid.code}"' in grid_page
    f = client.get("/registry/facilities", params={"q": "XF-P"}).text
    assert 'aria-current="page">列表' in f
    detail = client.get(f"/registry/buildings/{bid}").text
    assert "分层房屋" in detail and "302室" in detail
    r = client.post(f"/registry/buildings/{bid}/edit", data={"csrf_token": csrf, "name": "", "structure": "砖混",
                                                             "floors": "2", "floors_below": "一"})
    assert r.status_code == 400 and "地下层数“一”应为整数" in r.text
    r = client.post(f"/registry/buildings/{bid}/edit", data={"csrf_token": csrf, "name": "", "structure": "砖混",
                                                             "floors": "2", "floors_below": ""})
    assert r.status_code == 400 and "地上层数不能少于 3" in r.text
    r = client.post(f"/registry/buildings/{bid}/edit", data={"csrf_token": csrf, "name": "", "structure": "砖混",
                                                             "floors": "6", "floors_below": "0"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "6 层" in page and "砖混" in page and "建筑结构" in page
    client.cookies.clear()
    login(client, "dept.handler")  # sees the map, not base data: no facility layer
    assert 'id="show-facilities"' not in client.get("/map").text
