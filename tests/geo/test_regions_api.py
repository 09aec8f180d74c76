"""Region tree, GeoJSON for maps, import checks, export round trip, redraws with validity dates."""

import copy
import json
from datetime import date, timedelta

import shapely
from shapely.geometry import box, mapping
from sqlalchemy import select

from civicgrid import clock
from civicgrid.geo.models import Region
from tests.conftest import login


def fc(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def feat(code, name, geom, **props):
    g = geom if isinstance(geom, dict) else mapping(geom)
    return {"type": "Feature", "properties": {"code": code, "name": name, **props}, "geometry": g}


def admin(client):
    return {"X-CSRF-Token": login(client, "admin")}


def village_geom(db, code="441900003001"):
    r = db.scalars(select(Region).where(Region.code == code)).one()
    return shapely.from_wkb(r.geom_wkb), r


def test_tree_has_city_towns_villages_with_counts(client, demo_city):
    login(client, "admin")
    tree = client.get("/api/v1/regions/tree", params={"depth": 2}).json()
    city = tree[0]
    assert city["code"] == "441900" and city["name"] == "东莞市" and city["level"] == "city"
    assert [t["code"] for t in city["children"]] == ["441900003", "441900004"]
    dongcheng = city["children"][0]
    assert dongcheng["name"] == "东城街道" and dongcheng["child_count"] == len(dongcheng["children"]) > 10
    assert dongcheng["children"][0]["name"] == "岗贝社区居民委员会"


def test_region_detail_of_a_grid_names_village_town_and_workers(client):
    login(client, "admin")
    g = client.get("/api/v1/regions/441900003001001").json()
    assert g["level"] == "grid" and g["parent_code"] == "441900003001"
    assert [a["code"] for a in g["ancestors"]] == ["441900", "441900003", "441900003001"]
    assert 3 <= len(g["workers"]) <= 4 and g["workers"][0]["display_name"]
    assert g["area_km2"] > 0
    v = client.get("/api/v1/regions/441900003001").json()
    assert v["centre"] == "岗贝社区工作站" and v["counts"]["grid"] >= 1


def test_geojson_is_simplified_on_request_and_smaller(client):
    login(client, "admin")
    full = client.get("/api/v1/regions/geojson", params={"parent": "441900003", "level": "grid"})
    assert full.headers["content-type"].startswith("application/geo+json")
    simple = client.get("/api/v1/regions/geojson", params={"parent": "441900003", "level": "grid", "simplify": 30})
    a, b = full.json(), simple.json()
    assert len(a["features"]) == len(b["features"]) > 50
    assert len(simple.content) < len(full.content)
    assert {f["properties"]["level"] for f in b["features"]} == {"grid"}
    bad = client.get("/api/v1/regions/geojson", params={"level": "grid", "simplify": -1})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"


def test_export_then_reimport_as_redraw_keeps_old_version(client, db):
    h = admin(client)
    exported = client.get("/api/v1/regions/export", params={"root": "441900003001", "level": "grid"})
    assert "attachment" in exported.headers["content-disposition"]
    data = exported.json()
    assert data["features"] and all(f["properties"]["level"] == "grid" for f in data["features"])
    one = copy.deepcopy(data)
    one["features"] = data["features"][:1]
    code = one["features"][0]["properties"]["code"]
    r = client.post("/api/v1/regions/import", json=one, headers=h)
    assert r.status_code == 400 and r.json()["errors"][0]["error"] == "duplicate_code"
    start = clock.today() + timedelta(days=1)
    r = client.post("/api/v1/regions/import", params={"replace": True, "valid_from": start.isoformat()},
                    json=one, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["replaced"] == 1
    versions = db.scalars(select(Region).where(Region.code == code).order_by(Region.valid_from)).all()
    assert len(versions) == 2 and versions[0].valid_to == start and versions[1].valid_from == start
    # today the old version still answers; from tomorrow the new one, with the workers moved over
    assert client.get(f"/api/v1/regions/{code}").json()["valid_to"] == start.isoformat()
    with clock.frozen(clock.now() + timedelta(days=2)):
        login(client, "admin")  # the session of two days ago has expired
        later = client.get(f"/api/v1/regions/{code}").json()
    assert later["valid_from"] == start.isoformat() and len(later["workers"]) >= 3


def test_import_new_grids_and_every_bad_input_is_reported_per_feature(client, db):
    h = admin(client)
    vg, _ = village_geom(db)
    minx, miny, maxx, maxy = vg.bounds
    # an empty village to cut: first a new village under 东城 is not possible without space, so redraw tests use
    # codes in the existing village; all of these must fail and write nothing
    before = db.scalar(select(Region.id).order_by(Region.id.desc()).limit(1))
    far = box(120.0, 30.0, 120.01, 30.01)
    selfx = {"type": "Polygon", "coordinates": [[[minx, miny], [maxx, maxy], [maxx, miny], [minx, maxy], [minx, miny]]]}
    swapped = box(miny, minx, miny + 0.001, minx + 0.001)
    outside_china = box(2.0, 48.0, 2.01, 48.01)
    bad = fc(
        feat("441900003001901", "远处网格", far),
        feat("441900003001902", "自相交", selfx),
        feat("441900003001903", "颠倒", swapped),
        feat("441900003001904", "国外", outside_china),
        feat("441900099001001", "无上级", vg.representative_point().buffer(0.0005)),
        feat("4419000030019", "坏代码", vg.representative_point().buffer(0.0005)),
        feat("441900003001001", "重复", vg.representative_point().buffer(0.0005)),
        {"type": "Feature", "properties": {"code": "441900003001905", "name": "坏几何"},
         "geometry": {"type": "Polygon", "coordinates": [[[1, 2]]]}},
    )
    r = client.post("/api/v1/regions/import", json=bad, headers=h)
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "import_invalid" and "导入未执行" in body["message"]
    errs = {e["code"]: e["error"] for e in body["errors"]}
    assert errs["441900003001901"] == "outside_parent"
    assert errs["441900003001902"] in ("invalid_geometry", "outside_parent", "sibling_overlap")
    assert errs["441900003001903"] == "coordinates_swapped"
    assert errs["441900003001904"] == "outside_china"
    assert errs["441900099001001"] == "unknown_parent"
    assert errs["4419000030019"] == "invalid_code"
    assert errs["441900003001001"] == "duplicate_code"
    assert errs["441900003001905"] == "malformed_geometry"
    assert db.scalar(select(Region.id).order_by(Region.id.desc()).limit(1)) == before


def test_overlapping_new_grid_is_rejected(client, db):
    h = admin(client)
    g1 = shapely.from_wkb(db.scalars(select(Region).where(Region.code == "441900003001001")).one().geom_wkb)
    r = client.post("/api/v1/regions/import", json=fc(feat("441900003001950", "压盖", g1)), headers=h)
    assert r.status_code == 400 and r.json()["errors"][0]["error"] == "sibling_overlap"


def test_self_touching_ring_is_repaired_with_a_warning_and_bowtie_rejected(client, db):
    h = admin(client)
    # a district without a boundary, so its towns are not checked against one
    r = client.post("/api/v1/regions/import", headers=h, json=fc(
        {"type": "Feature", "properties": {"code": "441901", "name": "测试区"}, "geometry": None}))
    assert r.status_code == 200 and r.json()["created"] == 1
    touch = {"type": "Polygon", "coordinates": [[[113.01, 22.01], [113.03, 22.01], [113.02, 22.02],
                                                 [113.03, 22.03], [113.01, 22.03], [113.02, 22.02],
                                                 [113.01, 22.01]]]}
    r = client.post("/api/v1/regions/import", json=fc(feat("441901002", "回环", touch)), headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["warnings"][0]["error"] == "repaired_geometry"
    # a bow-tie loses half its meaning when repaired: refused with the reason
    bow = {"type": "Polygon", "coordinates": [[[113.05, 22.05], [113.10, 22.10], [113.10, 22.05],
                                               [113.05, 22.10], [113.05, 22.05]]]}
    r = client.post("/api/v1/regions/import", json=fc(feat("441901001", "蝴蝶", bow)), headers=h)
    body = r.json()
    if r.status_code == 200:  # repaired into two triangles of the same total area
        assert body["warnings"][0]["error"] == "repaired_geometry"
    else:
        assert body["errors"][0]["error"] == "invalid_geometry" and "Self-intersection" in body["errors"][0]["message"]


def test_unsupported_crs_and_not_a_feature_collection(client):
    h = admin(client)
    r = client.post("/api/v1/regions/import", json={"type": "Feature"}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == "invalid_geojson"
    r = client.post("/api/v1/regions/import", headers=h, json={
        "type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:3857"}}, "features": []})
    assert r.status_code == 400 and r.json()["code"] == "unsupported_crs"


def test_history_query_by_date(client):
    login(client, "admin")
    old = client.get("/api/v1/regions", params={"level": "town", "on": "2020-01-01"}).json()
    assert old == []  # the code set is valid from 2023-06-30
    now = client.get("/api/v1/regions", params={"level": "town", "on": date(2024, 1, 1).isoformat()}).json()
    assert [t["code"] for t in now] == ["441900003", "441900004"]
    assert json.dumps(now, ensure_ascii=False).count("东城街道") == 1


def test_asking_for_the_parents_own_level_returns_its_outline(client):
    """A grid worker scoped to one village can draw that village, not its siblings."""
    login(client, "grid.worker")
    r = client.get("/api/v1/regions/geojson", params={"parent": "441900003001", "level": "village"})
    assert r.status_code == 200
    assert [f["properties"]["code"] for f in r.json()["features"]] == ["441900003001"]
    assert client.get("/api/v1/regions/geojson", params={"parent": "441900003", "level": "village"}).status_code == 404
