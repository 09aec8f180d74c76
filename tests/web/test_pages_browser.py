"""Pages in a real browser (Debian's Chromium through Playwright): log-in, the map per role, a grid's
panel, scope denial. Screenshots of every page at phone and desktop sizes go to test-artifacts/."""

from __future__ import annotations

import pytest
import shapely
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from civicgrid.geo.models import Region
from tests.conftest import PASSWORD
from tests.web.conftest import SIZES, _login, _page, _shot


@pytest.mark.parametrize("size", list(SIZES))
def test_wrong_password_shows_chinese_error_and_keeps_username(browser, live_url, size):
    page = _page(browser, size)
    page.goto(live_url + "/map")
    expect(page).to_have_url(live_url + "/login?next=%2Fmap")
    _shot(page, f"login-{size}")
    page.get_by_label("用户名").fill("city.dispatcher")
    page.get_by_label("密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_text("用户名或密码错误")).to_be_visible()
    expect(page.get_by_label("用户名")).to_have_value("city.dispatcher")
    _shot(page, f"login-error-{size}")
    # then the right password lands on the page first asked for
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(live_url + "/map")
    page.context.close()


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("user,scope_name,count_text", [
    ("city.dispatcher", "东莞市", "镇街"),
    ("town.dispatcher", "东城街道", "村(社区)"),
    ("grid.worker", "岗贝社区居民委员会", "网格"),
])
def test_map_shows_the_users_scope(browser, live_url, size, user, scope_name, count_text):
    page = _page(browser, size)
    _login(page, live_url, user)
    # desk staff land on their queues, grid workers on their phone workbench
    expect(page).to_have_url(live_url + ("/work" if user == "grid.worker" else "/cases"))
    page.goto(live_url + "/map")
    expect(page.locator("#focus-name")).to_have_text(scope_name)
    expect(page.locator(".stats")).to_contain_text(count_text)
    page.wait_for_selector("#map[data-ready='1']", timeout=30_000)
    assert not page.locator("#map-loading").count()
    assert page.errors == []  # type: ignore[attr-defined]
    if user == "grid.worker":  # a grid worker's own grids are marked on the map and in the legend
        expect(page.locator(".legend")).to_contain_text("我的网格")
        assert page.locator("#map").get_attribute("data-mine") == "441900003001001"
    _shot(page, f"map-{user}-{size}")
    page.context.close()


def test_clicking_a_grid_shows_its_code_village_and_workers(browser, live_url, engine):
    with sessionmaker(bind=engine)() as s:
        grid = s.scalars(select(Region).where(Region.code == "441900003001002")).one()
        p = shapely.from_wkb(grid.geom_wkb).representative_point()
    page = _page(browser, "desktop")
    _login(page, live_url, "town.dispatcher")
    page.goto(live_url + "/map?region=441900003001")
    page.wait_for_selector("#map[data-ready='1'][data-cases]", timeout=30_000)
    page.get_by_label("在地图上显示").uncheck()  # case dots (other tests' cases) would take the click
    page.wait_for_selector("#map[data-cases='0']")
    xy = page.evaluate("([x, y]) => window.cgMap.convertToPixel('geo', [x, y])", [p.x, p.y])
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    panel = page.locator("#grid-panel")
    expect(panel).to_contain_text("441900003001002")
    expect(panel).to_contain_text("岗贝社区居民委员会")
    expect(panel).to_contain_text("东城街道")
    assert panel.locator("ul.workers li").count() >= 1
    _shot(page, "map-grid-panel-desktop")
    page.context.close()


def test_region_outside_scope_is_a_404_page(browser, live_url):
    page = _page(browser, "desktop")
    _login(page, live_url, "town.dispatcher")
    resp = page.goto(live_url + "/map?region=441900004")  # 南城 is not the dispatcher's town
    assert resp is not None and resp.status == 404
    expect(page.locator("body")).to_contain_text("不存在")
    _shot(page, "map-out-of-scope-desktop")
    page.context.close()
