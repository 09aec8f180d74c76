"""The grid worker's phone (375 px): the workbench after log-in, reporting with the category chosen last time
offered as a chip, the latest reports on the workbench. The department handler lands on its own queue."""

from __future__ import annotations

import pytest
import shapely
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from civicgrid.geo.models import Region
from tests.web.conftest import _shot
from tests.web.test_case_pages_browser import _as

pytestmark = pytest.mark.browser


def test_grid_worker_workbench_and_recent_categories_on_the_phone(browser, live_url, engine):
    with sessionmaker(bind=engine)() as s:
        g = shapely.from_wkb(s.scalars(select(Region.geom_wkb).where(Region.code == "441900003001001")).one())
        p = g.buffer(-0.0004).representative_point()
    w = _as(browser, live_url, "grid.worker", "phone", geolocation={"longitude": p.x, "latitude": p.y},
            permissions=["geolocation"])
    expect(w).to_have_url(live_url + "/work")
    expect(w.locator(".tiles")).to_contain_text("待核查")
    expect(w.locator(".tiles")).to_contain_text("我的网格")
    _shot(w, "workbench-phone")
    for i, title in enumerate(("井盖破损有安全隐患", "人行道井盖又松动了")):
        w.get_by_role("link", name="+ 上报问题").click()
        w.get_by_label("问题简述").fill(title)
        if i == 0:
            w.locator("#cat-search").fill("井盖")
            w.locator("#category").select_option(label="井盖破损或缺失")
        else:
            chip = w.locator("#cat-recent .chip", has_text="井盖破损或缺失")
            expect(chip).to_be_visible()  # what this phone chose last time
            _shot(w, "report-recent-category-phone")
            chip.click()
            expect(w.locator("#category")).to_have_value(w.locator("#category option", has_text="井盖破损或缺失").first.get_attribute("value"))
        w.get_by_role("button", name="使用当前位置").click()
        expect(w.locator("#loc-text")).to_contain_text("当前位置")
        w.get_by_role("button", name="提交上报").click()
        expect(w.locator(".notice")).to_contain_text("已上报")
        w.get_by_role("link", name="工作台").click()
    expect(w.locator(".mini-cases").last).to_contain_text("人行道井盖又松动了")
    _shot(w, "workbench-after-reports-phone")
    assert not w.errors, w.errors  # type: ignore[attr-defined]


def test_department_handler_lands_on_its_department_queue(browser, live_url):
    for size in ("phone", "desktop"):
        h = _as(browser, live_url, "dept.handler", size)
        expect(h.locator(".queue-tabs a[aria-current]")).to_contain_text("本部门待办")
        _shot(h, f"handler-queue-{size}")
        h.goto(live_url + "/cases?queue=due_soon")
        expect(h.locator(".queue-tabs a[aria-current]")).to_contain_text("即将超期")
        h.context.close()
