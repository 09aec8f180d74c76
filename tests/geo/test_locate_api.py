"""The locator through the API: WGS-84, GCJ-02 and BD-09 input, border snapping, outside answers, bulk."""

import shapely
from sqlalchemy import select

from civicgrid.geo import crs
from civicgrid.geo.models import Region
from tests.conftest import login


def deep_inside_point(db, code):
    """A point of the grid at least ~150 m from its border."""
    g = shapely.from_wkb(db.scalars(select(Region).where(Region.code == code)).one().geom_wkb)
    inner = g.buffer(-0.0015)
    p = (inner if not inner.is_empty else g).representative_point()
    return p.x, p.y


def big_grid(db):
    rows = db.scalars(select(Region).where(Region.level == "grid").order_by(Region.area_km2.desc())).all()
    return rows[0].code


def test_wgs84_point_lands_in_its_grid_with_ancestors(client, db):
    client.headers["X-CSRF-Token"] = login(client, "grid.worker")
    code = big_grid(db)
    lon, lat = deep_inside_point(db, code)
    r = client.post("/api/v1/locate", json={"lon": lon, "lat": lat})
    body = r.json()
    assert r.status_code == 200 and body["status"] == "found"
    assert body["grid"]["code"] == code
    assert [a["level"] for a in body["ancestors"]] == ["city", "town", "village"]
    assert body["message"].startswith("位于")


def test_gcj02_and_bd09_points_land_in_the_right_grid_and_raw_would_not(client, db):
    client.headers["X-CSRF-Token"] = login(client, "town.dispatcher")
    # a grid small enough that the 600 m shift leaves it (most Dongguan grids are ~1 km across)
    for row in db.scalars(select(Region).where(Region.level == "grid").order_by(Region.area_km2)):
        lon, lat = deep_inside_point(db, row.code)
        if not shapely.from_wkb(row.geom_wkb).contains(shapely.Point(*crs.wgs84_to_gcj02(lon, lat))):
            code = row.code
            break
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    assert 550 < crs.haversine_m(lon, lat, glon, glat) < 700
    assert 1000 < crs.haversine_m(lon, lat, blon, blat) < 1400
    for (x, y, system) in ((glon, glat, "gcj02"), (blon, blat, "bd09")):
        body = client.post("/api/v1/locate", json={"lon": x, "lat": y, "crs": system}).json()
        assert body["grid"]["code"] == code, system
        assert abs(body["lon_wgs84"] - lon) < 1e-5 and abs(body["lat_wgs84"] - lat) < 1e-5
    # the same Amap coordinate read as if it were GPS misses the grid: the shift matters
    raw = client.post("/api/v1/locate", json={"lon": glon, "lat": glat}).json()
    assert (raw.get("grid") or {}).get("code") != code


def test_point_just_outside_the_city_snaps_and_far_point_is_outside(client, db):
    client.headers["X-CSRF-Token"] = login(client, "admin")
    city = shapely.from_wkb(db.scalars(select(Region).where(Region.code == "441900")).one().geom_wkb)
    edge = city.exterior if city.geom_type == "Polygon" else max(city.geoms, key=lambda p: p.area).exterior
    # walk out from the border along the outward direction: 20 m and 3 km
    c = city.centroid
    p = edge.interpolate(0.25, normalized=True)
    dx, dy = p.x - c.x, p.y - c.y
    norm = (dx * dx + dy * dy) ** 0.5
    kx, ky = crs.local_metric_frame(p.y)
    near = None
    for metres in (10, 20, 30):
        q = (p.x + dx / norm * metres / kx, p.y + dy / norm * metres / ky)
        if not city.contains(shapely.Point(q)):
            near = q
            break
    assert near is not None
    body = client.get("/api/v1/locate", params={"lon": near[0], "lat": near[1]}).json()
    assert body["status"] == "snapped" and body["distance_m"] <= 50 and "米" in body["message"]
    far = (p.x + dx / norm * 3000 / kx, p.y + dy / norm * 3000 / ky)
    body = client.get("/api/v1/locate", params={"lon": far[0], "lat": far[1]}).json()
    assert body["status"] == "outside_city" and body["message"] == "该位置不在本市网格范围内"
    assert "grid" not in body or body["grid"] is None


def test_swapped_and_foreign_coordinates_are_clear_400s(client):
    client.headers["X-CSRF-Token"] = login(client, "admin")
    r = client.post("/api/v1/locate", json={"lon": 23.02, "lat": 113.75})
    assert r.status_code == 400 and r.json()["code"] == "coordinates_swapped" and "颠倒" in r.json()["message"]
    r = client.post("/api/v1/locate", json={"lon": 2.35, "lat": 48.85})
    assert r.status_code == 400 and r.json()["code"] == "outside_china"
    r = client.post("/api/v1/locate", json={"lon": 113.75, "lat": 23.0, "crs": "epsg3857"})
    assert r.status_code == 422


def test_bulk_locate_keeps_order_and_counts_statuses(client, db):
    client.headers["X-CSRF-Token"] = login(client, "integration.12345")
    code = big_grid(db)
    lon, lat = deep_inside_point(db, code)
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    r = client.post("/api/v1/locate/bulk", json={"crs": "gcj02", "points": [[glon, glat], [2.35, 48.85],
                                                                           [130.0, 45.0]]})
    body = r.json()
    assert [x["status"] for x in body["results"]] == ["found", "outside_china", "outside_city"]
    assert body["results"][0]["grid"]["code"] == code
    assert body["counts"] == {"found": 1, "outside_china": 1, "outside_city": 1}


def test_locator_rebuilds_when_boundaries_change(client, db):
    h = {"X-CSRF-Token": login(client, "admin")}
    far = [113.0, 22.0]
    assert client.post("/api/v1/locate/bulk", json={"points": [far]}, headers=h).json()["counts"] == {
        "outside_city": 1}
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "441901", "name": "测试区"}, "geometry": None},
        {"type": "Feature", "properties": {"code": "441901001", "name": "测试镇"}, "geometry": None},
        {"type": "Feature", "properties": {"code": "441901001001", "name": "测试村"},
         "geometry": shapely.geometry.mapping(shapely.box(112.99, 21.99, 113.01, 22.01))},
        {"type": "Feature", "properties": {"code": "441901001001001", "name": "测试网格"},
         "geometry": shapely.geometry.mapping(shapely.box(112.99, 21.99, 113.01, 22.01))}]}
    assert client.post("/api/v1/regions/import", json=fc, headers=h).status_code == 200
    body = client.post("/api/v1/locate", json={"lon": far[0], "lat": far[1]}, headers=h).json()
    assert body["grid"]["code"] == "441901001001001"
