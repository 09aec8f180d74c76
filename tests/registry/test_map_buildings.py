"""Facilities on maps and buildings floor by floor, at the service level: the facility points are scoped to the
actor's region (404 for a region outside it), filtered by kind and status, bounded with a note, drawn at the
address when they have no point of their own, entered in GCJ-02 and stored in WGS-84; building floors are
whole numbers in range, never below a registered dwelling's floor, and a new dwelling above its building's
floors is refused with a clear reason."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from civicgrid.access.service import SYSTEM
from civicgrid.errors import BadInput, Conflict, Forbidden, NotFound
from civicgrid.geo.crs import wgs84_to_gcj02
from civicgrid.geo.models import Region
from civicgrid.registry import queries, service
from civicgrid.registry.checks import check_building
from civicgrid.registry.models import Building, Dwelling
from tests.registry.conftest import make_address, make_resident, who


def _other_town_grid(db, grid: Region) -> Region:
    town = db.get(Region, db.get(Region, grid.parent_id).parent_id)
    return db.scalars(select(Region).where(Region.level == "grid", ~Region.path.startswith(town.path))).first()


def _facility(db, grid: Region, code: str, kind: str = "fire_hydrant", status: str = "in_service", **extra):
    return service.save_facility(db, SYSTEM, {"code": code, "kind": kind, "status": status,
                                              "lon": grid.centroid_lon, "lat": grid.centroid_lat, **extra})


def test_points_are_scoped_filtered_and_counted(db, demo_grid):
    other = _other_town_grid(db, demo_grid)
    _facility(db, demo_grid, "XF-1")
    _facility(db, demo_grid, "AED-1", kind="aed", status="faulty")
    _facility(db, demo_grid, "SX-1", kind="camera", status="out_of_service")
    _facility(db, other, "XF-2")  # another town: not the grid worker's
    fc = queries.facility_points(db, who(db, "grid.worker"))
    assert fc["type"] == "FeatureCollection" and fc["total"] == 3 and not fc["truncated"] and fc["note"] == ""
    assert {f["properties"]["code"] for f in fc["features"]} == {"XF-1", "AED-1", "SX-1"}
    f = fc["features"][0]
    assert f["geometry"]["type"] == "Point" and len(f["geometry"]["coordinates"]) == 2
    assert fc["counts"]["fire_hydrant"] == 1 and fc["styles"]["aed"]["label"] == "AED 除颤仪"
    # faulty and out-of-service first, so a truncated map never hides a problem
    assert [f["properties"]["status"] for f in fc["features"]][:2] == ["faulty", "out_of_service"]
    only = queries.facility_points(db, who(db, "grid.worker"), kinds=["aed", "fire_hydrant"], statuses=["faulty"])
    assert [f["properties"]["code"] for f in only["features"]] == ["AED-1"]
    assert only["counts"]["camera"] == 0 and only["counts"]["aed"] == 1  # counts ignore the kinds, not the status
    city = queries.facility_points(db, who(db, "city.dispatcher"), region_code=demo_grid.code)
    assert city["total"] == 3
    assert queries.facility_points(db, who(db, "city.dispatcher"))["total"] == 4


def test_points_outside_scope_is_not_found_and_needs_the_right(db, demo_grid):
    other = _other_town_grid(db, demo_grid)
    with pytest.raises(NotFound):
        queries.facility_points(db, who(db, "grid.worker"), region_code=other.code)
    with pytest.raises(NotFound):
        queries.facility_map_focus(db, who(db, "village.operator"), other.code)
    with pytest.raises(Forbidden):
        queries.facility_points(db, who(db, "citizen"))
    with pytest.raises(BadInput) as e:
        queries.facility_points(db, who(db, "grid.worker"), kinds=["hydrant"])
    assert e.value.code == "invalid_kind" and "消防栓" in e.value.message_zh


def test_points_are_bounded_with_a_note(db, demo_grid):
    for i in range(5):
        _facility(db, demo_grid, f"XF-{i}")
    fc = queries.facility_points(db, SYSTEM, region_code=demo_grid.code, limit=3)
    assert (fc["shown"], fc["total"], fc["truncated"], fc["limit"]) == (3, 5, True, 3)
    assert "只显示 3 个(共 5 个" in fc["note"]


def test_facility_without_point_is_drawn_at_its_address_else_noted(db, demo_grid):
    a = make_address(db, demo_grid, building="", unit="", room="", compound="", road="东城中路", house_no="8")
    f = service.save_facility(db, SYSTEM, {"code": "JG-1", "kind": "井盖", "address": a.full})
    fc = queries.facility_points(db, SYSTEM, region_code=demo_grid.code)
    assert fc["features"][0]["geometry"]["coordinates"] == [round(a.lon, 6), round(a.lat, 6)]
    assert queries.detail(db, SYSTEM, "facility", f.id)["point"] == [a.lon, a.lat]
    village_only, _ = service.ensure_address(db, SYSTEM, {**{k: getattr(a, k) for k in ("town", "village")},
                                                          "road": "学前路", "house_no": "2"})
    service.save_facility(db, SYSTEM, {"code": "JG-2", "kind": "manhole_cover", "address": village_only.full})
    fc = queries.facility_points(db, SYSTEM)
    assert fc["unlocated"] == 1 and "1 个设施没有坐标" in fc["note"]


def test_facility_entered_in_gcj02_is_stored_in_wgs84(db, demo_grid):
    glon, glat = wgs84_to_gcj02(demo_grid.centroid_lon, demo_grid.centroid_lat)
    f = service.save_facility(db, SYSTEM, {"code": "AED-9", "kind": "aed", "lon": float(glon), "lat": float(glat),
                                           "crs": "GCJ-02"})
    assert f.source_crs == "gcj02" and f.grid_id == demo_grid.id
    assert abs(f.lon - demo_grid.centroid_lon) < 1e-6 and abs(f.lat - demo_grid.centroid_lat) < 1e-6
    with pytest.raises(BadInput) as e:
        service.save_facility(db, SYSTEM, {"code": "AED-8", "kind": "aed", "lon": 113.7, "lat": 23.0, "crs": "utm"})
    assert "crs" in e.value.extra["errors"]


@pytest.mark.parametrize(("row", "field"), [({"floors": "0"}, "floors"), ({"floors": "6.5"}, "floors"),
                                             ({"floors": "六"}, "floors"), ({"floors": 201}, "floors"),
                                             ({"floors_below": "-1"}, "floors_below"),
                                             ({"structure": "土木"}, "structure")])
def test_building_checks(row, field):
    clean, errors = check_building(row, today=None)  # type: ignore[arg-type]
    assert field in errors, (row, errors)


def test_building_floors_and_dwelling_floors(db, demo_grid):
    make_resident(db, demo_grid, room="1203")  # a dwelling on floor 12 of 星河花园 3 栋
    d = db.scalars(select(Dwelling)).one()
    b = db.get(Building, d.building_id)
    assert (b.floors, b.floors_below) == (None, None)
    with pytest.raises(BadInput) as e:
        service.save_building(db, SYSTEM, {"floors": "8"}, building_id=b.id)
    assert e.value.code == "invalid_fields" and "不能少于 12" in e.value.extra["errors"]["floors"]
    service.save_building(db, SYSTEM, {"structure": "钢混", "floors": "18", "floors_below": "2"}, building_id=b.id)
    assert (b.structure, b.floors, b.floors_below) == ("steel_concrete", 18, 2)
    service.save_building(db, SYSTEM, {"name": "3号楼"}, building_id=b.id)  # an edit keeps what it does not name
    assert (b.name, b.floors) == ("3号楼", 18)
    # a dwelling above the building's floors is refused, with the reason by the address
    too_high = make_address(db, demo_grid, room="2101")
    with pytest.raises(BadInput) as e:
        service.save_dwelling(db, SYSTEM, {"address_id": too_high.id, "use": "出租"})
    assert e.value.code == "floor_above_building"
    assert "21 层" in e.value.extra["errors"]["address"] and "18 层" in e.value.extra["errors"]["address"]
    assert service.dwelling_floor_problem(db, too_high, b.id)
    with pytest.raises(BadInput):
        make_resident(db, demo_grid, seq=5, room="2101")
    under = make_address(db, demo_grid, room="-301", floor="-3")
    with pytest.raises(BadInput) as e:
        service.save_dwelling(db, SYSTEM, {"address_id": under.id})
    assert "地下 3 层" in e.value.message_zh
    ok = make_address(db, demo_grid, room="1801")
    service.save_dwelling(db, SYSTEM, {"address_id": ok.id, "use": "出租"})
    rows = queries.detail(db, SYSTEM, "building", b.id)["floor_rows"]
    assert [r["floor"] for r in rows][:2] == [18, 17] and rows[-1]["floor"] == -2 and len(rows) == 20
    by = {r["floor"]: r for r in rows}
    assert [x["label"] for x in by[12]["dwellings"]] == ["2单元1203室"] and by[12]["dwellings"][0]["residents"] == 1
    assert by[18]["dwellings"][0]["use_label"] == "出租" and by[-1]["label"] == "地下 1 层"
    hist = queries.detail(db, SYSTEM, "building", b.id)["history"]
    assert [h["action"] for h in hist] == ["update", "update"] and "floors" in hist[0]["changes"]


def test_building_create_list_and_scope(db, demo_grid):
    a = make_address(db, demo_grid, compound="榕树花园", building="7", unit="", room="")
    b = service.save_building(db, SYSTEM, {"address": a.full, "structure": "砖混", "floors": 6})
    assert b.address_id == a.id and b.name == "榕树花园7栋" and b.region_path == demo_grid.path
    with pytest.raises(Conflict):
        service.save_building(db, SYSTEM, {"address": a.full})
    no_building = make_address(db, demo_grid, compound="", building="", unit="", room="", road="东城中路", house_no="9")
    with pytest.raises(BadInput) as e:
        service.save_building(db, SYSTEM, {"address_id": no_building.id})
    assert "楼栋一级" in e.value.extra["errors"]["address"]
    lst = queries.list_records(db, who(db, "grid.worker"), "building", queries.Filters(kind="brick_concrete"))
    assert lst["total"] == 1 and lst["items"][0]["floors"] == 6 and lst["items"][0]["structure_label"] == "砖混"
    other = make_address(db, _other_town_grid(db, demo_grid), compound="远方花园", building="1", unit="", room="")
    far = service.save_building(db, SYSTEM, {"address_id": other.id})
    with pytest.raises(NotFound):
        service.save_building(db, who(db, "grid.worker"), {"floors": 3}, building_id=far.id)
    with pytest.raises(NotFound):
        queries.detail(db, who(db, "village.operator"), "building", far.id)
    with pytest.raises(Forbidden):
        service.save_building(db, who(db, "leader"), {"floors": 3}, building_id=b.id)
