"""The public portal in Chromium, as a citizen on a phone: report without an account (map pick, photo, human
check), get a number and a query code, track it, rate it after the staff closed it, see nearby cases without
personal data. Screenshots at phone and desktop sizes go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from civicgrid.cases.models import Case
from civicgrid.cases import service
from tests.cases.test_engine_loop import actor, point_in
from tests.portal.test_portal_service import work_to_closed
from tests.web.conftest import _page, _shot
from tests.web.test_case_pages_browser import _context_page, _photo

pytestmark = pytest.mark.browser


def _answer(page) -> str:
    a, b = map(int, re.findall(r"\d+", page.locator("label[for=answer]").inner_text()))
    return str(a + b)


def test_a_citizen_reports_tracks_and_rates_through_the_portal(browser, live_url, engine, tmp_path):
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as s:
        lon, lat = point_in(s, "441900003001001")  # a grid of 岗贝社区, where the demo staff work
    p = _context_page(browser, "phone", geolocation={"longitude": lon, "latitude": lat}, permissions=["geolocation"])
    p.goto(live_url + "/public")
    _shot(p, "portal-home-phone")
    p.get_by_role("link", name="我要反映问题").click()
    expect(p.locator("#pick-map[data-ready='1']")).to_be_visible(timeout=15000)
    p.get_by_label("问题简述").fill("小区门口垃圾堆放三天无人清理")
    expect(p.locator("#cat-suggest .chip").first).to_be_visible(timeout=5000)  # suggested from the title
    p.locator("#cat-suggest .chip", has_text="暴露垃圾").click()
    p.locator("#pick-map").scroll_into_view_if_needed()
    box = p.locator("#pick-map").bounding_box()
    p.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(p.locator("#loc-text")).to_contain_text("地图选点")
    p.get_by_role("button", name="使用当前位置").click()  # then the phone's own position
    expect(p.locator("#loc-text")).to_contain_text("当前位置")
    p.get_by_label("手机号").fill("13800138000")
    p.locator("#photo").set_input_files(_photo(tmp_path))
    p.get_by_label(re.compile("验证")).fill("0")  # wrong first: the error sits next to the field, input is kept
    p.get_by_role("button", name="提交上报").click()
    expect(p.locator("#answer + .field-error, .field-error")).to_contain_text("验证题回答不正确")
    expect(p.get_by_label("问题简述")).to_have_value("小区门口垃圾堆放三天无人清理")
    expect(p.get_by_label("手机号")).to_have_value("13800138000")
    _shot(p, "portal-report-error-phone")
    p.locator("#photo").set_input_files(_photo(tmp_path))
    p.get_by_label(re.compile("验证")).fill(_answer(p))
    _shot(p, "portal-report-filled-phone")
    p.get_by_role("button", name="提交上报").click()
    expect(p.locator("h1")).to_contain_text("提交成功")
    number, code = p.locator("#case-number").inner_text(), p.locator("#query-code").inner_text()
    _shot(p, "portal-done-phone")

    p.locator(".portal-done").get_by_role("link", name="查询进度").click()
    expect(p.get_by_label("事件编号")).to_have_value(number)
    p.get_by_label("查询码或手机号").fill("WRONG1")
    p.get_by_role("button", name="查询").click()
    expect(p.locator(".alert")).to_contain_text("未找到该编号的事件")
    p.get_by_label("查询码或手机号").fill(code)
    p.get_by_role("button", name="查询").click()
    expect(p.locator("#stage")).to_have_text("已收到")
    _shot(p, "portal-track-phone")

    # the staff work the case (their pages are tested in test_case_pages_browser.py)
    with factory() as s:
        case = s.scalars(select(Case).where(Case.number == number)).one()
        assert case.source == "citizen" and "13800138000" not in case.reporter_phone  # encrypted at rest
        assert service.reveal_phone(s, actor(s, "village.operator"), number) == "13800138000"
        work_to_closed(s, case, "已清运垃圾并冲洗地面")
        s.commit()

    d = _page(browser, "desktop")
    d.goto(live_url + f"/public/track?number={number}")
    d.get_by_label("查询码或手机号").fill("13800138000")  # the phone works as well as the code
    d.get_by_role("button", name="查询").click()
    expect(d.locator("#stage")).to_have_text("已办结")
    expect(d.locator("#progress")).to_contain_text("已清运垃圾并冲洗地面")
    d.get_by_label("基本满意").check()
    d.get_by_label("意见建议").fill("处理及时,谢谢")
    _shot(d, "portal-rate-desktop")
    d.get_by_role("button", name="提交评价").click()
    expect(d.locator("#rating")).to_have_text("基本满意")
    expect(d.get_by_role("button", name="提交评价")).to_have_count(0)
    _shot(d, "portal-rated-desktop")
    with factory() as s:
        assert s.scalars(select(Case.satisfaction).where(Case.number == number)).one() == "basically_satisfied"

    for size, page in (("phone", p), ("desktop", d)):
        with factory() as s:
            lon, lat = s.execute(select(Case.lon, Case.lat).where(Case.number == number)).one()
        page.goto(live_url + f"/public/nearby?lon={lon}&lat={lat}&radius=1000")
        expect(page.locator("#nearby-map[data-ready='1']")).to_be_visible(timeout=15000)
        expect(page.locator(".nearby-list")).to_contain_text("小区门口垃圾堆放三天无人清理")
        body = page.locator("main").inner_text()
        assert "13800138000" not in body and number not in body and "尾号" not in body
        _shot(page, f"portal-nearby-{size}")
    # a foreign resident switches the portal to English
    p.get_by_role("link", name="English").click()
    expect(p.locator("h1")).to_have_text("Nearby")
    p.goto(live_url + "/public/report")
    expect(p.get_by_label("What is the problem?")).to_be_visible()
    expect(p.locator("#pick-map[data-ready='1']")).to_be_visible(timeout=15000)
    p.get_by_role("button", name="Use my location").click()
    expect(p.locator("#loc-text")).to_contain_text("My location")
    _shot(p, "portal-report-en-phone")
    p.get_by_role("link", name="中文").click()
    expect(p.locator("h1")).to_have_text("反映问题")
    for page in (p, d):
        assert not page.errors, page.errors  # type: ignore[attr-defined]


def test_a_portal_form_without_its_cookie_is_refused_and_keeps_nothing(browser, live_url, engine):
    page = _page(browser, "desktop")
    page.goto(live_url + "/public/report")
    page.context.clear_cookies()  # as after a long pause or a forged cross-site post
    page.get_by_label("问题简述").fill("测试过期表单")
    page.locator("#category").select_option("E0102")
    page.get_by_label(re.compile("验证")).fill(_answer(page))
    page.get_by_role("button", name="提交上报").click()
    expect(page.locator(".alert")).to_contain_text("页面已过期")
    expect(page.get_by_label("问题简述")).to_have_value("测试过期表单")
    with sessionmaker(bind=engine)() as s:
        assert s.scalars(select(Case).where(Case.title == "测试过期表单")).first() is None
