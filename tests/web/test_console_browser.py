"""The dispatcher's console in Chromium: bulk dispatch from a queue with per-case results, merging a duplicate
picked from the list of nearby similar cases, and the console map with cases coloured by their light."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from civicgrid.cases.models import Case
from tests.cases.test_engine_loop import do, report
from tests.web.conftest import _shot
from tests.web.test_case_pages_browser import _as, _open

pytestmark = pytest.mark.browser


def _committed(engine, fn):
    with sessionmaker(bind=engine, expire_on_commit=False)() as s:
        out = fn(s)
        s.commit()
        return out


def test_bulk_dispatch_from_the_queue(browser, live_url, engine):
    def make(s):
        out = []
        for title in ("批量派遣一", "批量派遣二"):
            c = report(s, title=title)
            do(s, "village.operator", c, "accept")
            do(s, "village.operator", c, "escalate", note="需镇街派遣")
            out.append(c.number)
        return out
    numbers = _committed(engine, make)
    t = _as(browser, live_url, "town.dispatcher")
    t.goto(live_url + "/cases?queue=to_dispatch&sort=new")
    for n in numbers:
        t.get_by_label(f"选择 {n}").check()
    expect(t.locator("#bulk-count")).to_have_text("2")
    t.locator("#bulk-action").select_option("dispatch")
    t.locator("#bulk-department").select_option("441900003-urban_management")
    _shot(t, "console-bulk-desktop")
    t.locator("#bulk-submit").click()
    expect(t.locator("#bulk-result")).to_contain_text("成功 2 件")
    _shot(t, "console-bulk-done-desktop")
    with sessionmaker(bind=engine)() as s:
        assert set(s.scalars(select(Case.state).where(Case.number.in_(numbers)))) == {"dispatched"}
    t.locator("#bulk-action").select_option("supervise")
    t.locator("#bulk-submit").click()  # nothing ticked
    expect(t.locator(".alert")).to_contain_text("请先勾选要处理的事件")


def test_merge_a_duplicate_picked_from_nearby_similar_cases(browser, live_url, engine):
    def make(s):
        return report(s, title="路口垃圾(先报)").number, report(s, title="路口垃圾(重复)").number
    master, dup = _committed(engine, make)
    v = _as(browser, live_url, "village.operator")
    v.goto(live_url + f"/cases/{dup}")
    form = _open(v, "合并到主案件")
    form.locator(f"input[name=master][value='{master}']").check()
    form.locator("[name=note]").fill("同一处垃圾,重复上报") if form.locator("[name=note]").count() else None
    _shot(v, "case-merge-similar-desktop")
    form.locator("button[type=submit]").click()
    expect(v.locator(".notice")).to_contain_text("操作已完成")
    expect(v.locator(".badges .state")).to_have_text("已合并")


def _inside_away_from(geom, point, min_deg=0.0008):
    """A point inside geom at least min_deg from point (so a click hits the grid, not a case dot)."""
    import shapely

    box = geom.bounds
    for i in range(1, 40):
        for j in range(1, 40):
            p = shapely.Point(box[0] + (box[2] - box[0]) * i / 40, box[1] + (box[3] - box[1]) * j / 40)
            if geom.buffer(-0.0003).contains(p) and p.distance(point) > min_deg:
                return p
    raise AssertionError("no inner point found")


def test_console_map_shows_cases_by_light_and_a_grid_click_shows_its_cases(browser, live_url, engine):
    import shapely

    from civicgrid.geo.models import Region

    number = _committed(engine, lambda s: report(s, title="地图上的事件").number)
    with sessionmaker(bind=engine)() as s:
        grid = shapely.from_wkb(s.scalars(select(Region.geom_wkb).where(Region.code == "441900003001001")).one())
        lon, lat = s.execute(select(Case.lon, Case.lat).where(Case.number == number)).one()
    for size in ("desktop", "phone"):
        t = _as(browser, live_url, "town.dispatcher", size)
        t.goto(live_url + "/map?region=441900003001")  # the village 岗贝, inside the dispatcher's town
        t.wait_for_selector("#map[data-ready='1'][data-cases]", timeout=30_000)
        assert int(t.locator("#map").get_attribute("data-cases")) >= 1
        assert int(t.locator("#lc-green").inner_text()) >= 1
        if size == "phone":
            _shot(t, "map-cases-phone")
            continue
        p = _inside_away_from(grid, shapely.Point(lon, lat))
        xy = t.evaluate("([x, y]) => window.cgMap.convertToPixel('geo', [x, y])", [p.x, p.y])
        box = t.locator("#map").bounding_box()
        t.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
        panel = t.locator("#grid-panel")
        expect(panel).to_contain_text("未结案")
        expect(panel.locator("ul.grid-cases")).to_contain_text("地图上的事件")
        _shot(t, "map-cases-grid-panel-desktop")
        panel.get_by_role("link", name="查看该网格全部事件").click()
        expect(t.locator(".total")).to_contain_text("件")
        expect(t.locator("table.cases")).to_contain_text("地图上的事件")
        _shot(t, "cases-of-a-grid-desktop")
        t.goto(live_url + "/map?region=441900003001")
        t.wait_for_selector("#map[data-ready='1'][data-cases]", timeout=30_000)
        xy = t.evaluate("([x, y]) => window.cgMap.convertToPixel('geo', [x, y])", [lon, lat])
        box = t.locator("#map").bounding_box()
        t.mouse.click(box["x"] + xy[0], box["y"] + xy[1])  # a case dot opens its case
        t.wait_for_url("**/cases/*")
        assert not t.errors, t.errors  # type: ignore[attr-defined]


def test_a_new_case_appears_on_the_right_dispatchers_screen_within_seconds(browser, live_url, engine):
    v = _as(browser, live_url, "village.operator")  # 岗贝's workstation: the grid's case lands here
    v.goto(live_url + "/cases?queue=to_accept&sort=new")
    before = v.locator(".queue-tabs a[data-queue=to_accept] .badge").inner_text()
    t = _as(browser, live_url, "town.dispatcher")  # the town does not accept village reports
    t.goto(live_url + "/cases?queue=to_accept")
    number = _committed(engine, lambda s: report(s, title="实时出现的新事件").number)
    expect(v.locator("table.cases")).to_contain_text(number, timeout=15_000)  # no reload
    expect(v.locator(".queue-tabs a[data-queue=to_accept] .badge")).not_to_have_text(before, timeout=15_000)
    _shot(v, "console-live-new-case-desktop")
    t.wait_for_timeout(11_000)  # a full refresh period later the town's queue still does not show it
    assert number not in t.locator("#rows").inner_text()
