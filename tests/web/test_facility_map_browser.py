"""Facilities and buildings in a real browser: a village operator opens the facility map of the village, turns
one kind off (its points go), clicks an AED and lands on its page with its place on a small map; a dispatcher
turns the facility layer on over the console map; the facility form picks its point on a map; a building's
page lists its dwellings floor by floor. Screenshots at 375 px and 1440 px go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
import shapely
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from civicgrid.access.models import GridAssignment, User
from civicgrid.access.service import SYSTEM
from civicgrid.geo.models import Region
from civicgrid.registry import service
from tests.web.conftest import SIZES, _login, _page, _shot

KINDS = ("fire_hydrant", "camera", "camera", "manhole_cover", "emergency_shelter", "fire_hydrant")


def _spots(poly, n: int, offset: int) -> list[shapely.Point]:
    """n points inside a grid, well apart (a lattice over its box, kept where it is inside, away from the edge)."""
    x0, y0, x1, y1 = poly.bounds
    inner = poly.buffer(-(x1 - x0) * 0.06)
    pts = [shapely.Point(x0 + (x1 - x0) * i / 9, y0 + (y1 - y0) * j / 9) for j in range(1, 9) for i in range(1, 9)]
    pts = [p for p in pts if inner.contains(p)]
    return [pts[(offset + k * 3) % len(pts)] for k in range(n)]


def _seed(engine, size: str) -> dict:
    """Facilities of several kinds in the grid worker's village, an AED alone in another of its grids, and a
    building with dwellings on three floors: committed like real base data."""
    tag = "D" if size == "desktop" else "P"
    with sessionmaker(bind=engine, expire_on_commit=False)() as s:
        uid = s.scalars(select(User.id).where(User.username == "grid.worker")).one()
        grid = s.get(Region, s.scalars(select(GridAssignment.grid_id).where(GridAssignment.user_id == uid)).first())
        village = s.get(Region, grid.parent_id)
        town = s.get(Region, village.parent_id)
        other = s.scalars(select(Region).where(Region.parent_id == village.id, Region.level == "grid",
                                               Region.id != grid.id).order_by(Region.code)).first()
        spots = _spots(shapely.from_wkb(grid.geom_wkb), len(KINDS), 0 if tag == "D" else 1)
        for i, (kind, p) in enumerate(zip(KINDS, spots, strict=True)):
            service.save_facility(s, SYSTEM, {"code": f"BT{tag}-{i}", "kind": kind, "lon": p.x, "lat": p.y,
                                              "status": "faulty" if i == 1 else "in_service",
                                              "name": f"测试{kind}{tag}{i}"})
        p = _spots(shapely.from_wkb(other.geom_wkb), 1, 2 if tag == "D" else 30)[0]
        aed = service.save_facility(s, SYSTEM, {"code": f"BT{tag}-AED", "kind": "aed", "lon": p.x, "lat": p.y,
                                                "name": f"村委会门口AED{tag}"})
        rooms = [f"{f}0{r}" for f in (1, 2, 3) for r in (1, 2)]
        levels = {"town": town.name, "village": village.name, "road": "学前路", "house_no": "5",
                  "compound": f"丰泰花园{tag}", "building": "2"}
        for room in rooms:
            a, _ = service.ensure_address(s, SYSTEM, {**levels, "room": room}, lon=grid.centroid_lon,
                                          lat=grid.centroid_lat)
            service.save_dwelling(s, SYSTEM, {"address_id": a.id, "use": "出租" if room.endswith("1") else "自住"})
        building = service.save_building(s, SYSTEM, {"structure": "砖混", "floors": 6, "floors_below": 1},
                                         building_id=service.building_of(s, SYSTEM, a))
        s.commit()
        return {"village": village.code, "aed": (aed.id, aed.lon, aed.lat, aed.code), "building": building.id}


@pytest.mark.parametrize("size", list(SIZES))
def test_facility_map_toggle_click_detail_console_layer_form_and_building(browser, live_url, engine, size):
    seeded = _seed(engine, size)
    page = _page(browser, size)
    _login(page, live_url, "village.operator")
    page.goto(live_url + f"/registry/facilities?view=map&region={seeded['village']}")
    fac = page.locator("#fac-map")
    expect(page.locator("#fac-map[data-ready='1']")).to_have_count(1, timeout=30_000)
    shown = int(fac.get_attribute("data-facilities"))
    cameras = int(page.locator("#fc-camera").inner_text())
    assert shown >= len(KINDS) + 1 and cameras >= 2
    _shot(page, f"registry-facility-map-{size}")
    page.locator("input[name=fac-kind][value=camera]").uncheck()  # 监控摄像头 off: its points go
    expect(page.locator("#fac-map[data-ready='1']")).to_have_count(1, timeout=15_000)
    expect(fac).to_have_attribute("data-facilities", str(shown - cameras))
    _shot(page, f"registry-facility-map-no-cameras-{size}")
    # a click on the AED opens its page
    fid, lon, lat, code = seeded["aed"]
    fac.scroll_into_view_if_needed()
    xy = page.evaluate("([x, y]) => window.cgMap.convertToPixel('geo', [x, y])", [lon, lat])
    box = fac.bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    page.wait_for_url(re.compile(rf"/registry/facilities/{fid}$"))
    expect(page.locator("h1")).to_contain_text(code)
    expect(page.locator("#facility-map[data-ready='1']")).to_have_count(1, timeout=15_000)
    expect(page.locator(".facts")).to_contain_text("AED 除颤仪")
    _shot(page, f"registry-facility-detail-{size}")
    # the facility form: a click on the map fills the point (WGS-84)
    page.goto(live_url + "/registry/facilities/new")
    expect(page.locator("#form-pick-map[data-ready='1']")).to_have_count(1, timeout=15_000)
    page.locator("#f-crs").select_option("gcj02")
    pick = page.locator("#form-pick-map")
    pick.scroll_into_view_if_needed()
    b = pick.bounding_box()
    page.mouse.click(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    expect(page.locator("#f-lon")).to_have_value(re.compile(r"^11[34]\.\d{6}$"))
    expect(page.locator("#f-crs")).to_have_value("wgs84")
    _shot(page, f"registry-facility-form-pick-{size}")
    # the building, floor by floor
    page.goto(live_url + f"/registry/buildings/{seeded['building']}")
    floors = page.locator("table.floors")
    expect(floors).to_contain_text("6 层")
    expect(floors).to_contain_text("地下 1 层")
    expect(floors.locator("tr", has_text="3 层")).to_contain_text("301室")
    _shot(page, f"registry-building-floors-{size}")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= SIZES[size]["width"], width  # nothing wider than the screen
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    page.context.close()

    # the dispatcher's console map: the facility layer, off until ticked
    t = _page(browser, size)
    _login(t, live_url, "town.dispatcher")
    t.goto(live_url + f"/map?region={seeded['village']}")
    t.wait_for_selector("#map[data-ready='1']", timeout=30_000)
    assert t.locator("#map").get_attribute("data-facilities") is None
    t.locator("#show-facilities").check()
    expect(t.locator("#map[data-facilities]")).to_have_count(1, timeout=15_000)
    assert int(t.locator("#map").get_attribute("data-facilities")) >= len(KINDS) + 1
    expect(t.locator("#fc-aed")).not_to_have_text("–")
    _shot(t, f"map-facility-layer-{size}")
    width = t.evaluate("document.documentElement.scrollWidth")
    assert width <= SIZES[size]["width"], width
    assert not t.errors, t.errors  # type: ignore[attr-defined]
    t.context.close()
