"""The closed loop through the pages, across roles, in Chromium: report on a phone with the browser's
location and a photo, accept and escalate at the village, dispatch at the town, a wrong dispatch returned,
re-dispatch, handle with a photo, verify on site, close. Screenshots of every page go to test-artifacts/."""

from __future__ import annotations

import io

import shapely
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from civicgrid.geo.models import Region
from tests.web.conftest import ARTIFACTS, SIZES, _login, _page, _shot


def _photo(tmp_path, name="scene.jpg"):
    path = tmp_path / name
    Image.new("RGB", (320, 240), (180, 90, 30)).save(path, "JPEG")
    return str(path)


def _as(browser, live_url, user, size="desktop", **ctx):
    page = _page(browser, size) if not ctx else _context_page(browser, size, **ctx)
    _login(page, live_url, user)
    return page


def _context_page(browser, size, **ctx):
    c = browser.new_context(viewport=SIZES[size], locale="zh-CN", **ctx)
    page = c.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
    return page


def _open(page, label):
    """The form of one action (its <details> opened if it was not)."""
    details = page.locator("details.action").filter(
        has=page.locator("summary", has_text=label)).first
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return details.locator("form")


def _act(page, label, shot, **fields):
    form = _open(page, label)
    for name, value in fields.items():
        if name == "photo":
            form.locator("input[name=photo]").set_input_files(value)
        elif name in ("department",):
            form.locator(f"select[name={name}]").select_option(value)
        elif name in ("result", "satisfaction"):
            form.locator(f"input[name={name}][value={value}]").check()
        else:
            form.locator(f"[name={name}]").fill(str(value))
    _shot(page, shot)
    form.locator("button[type=submit]").click()
    expect(page.locator(".notice")).to_contain_text("操作已完成")


def test_the_whole_loop_in_the_browser(browser, live_url, engine, tmp_path):
    with sessionmaker(bind=engine)() as s:
        g = shapely.from_wkb(s.scalars(select(Region).where(Region.code == "441900003001001")).one().geom_wkb)
        p = g.buffer(-0.0004).representative_point()
    # 1. the grid worker reports on the phone, located by the browser (GPS), with a photo
    w = _as(browser, live_url, "grid.worker", "phone", geolocation={"longitude": p.x, "latitude": p.y},
            permissions=["geolocation"])
    w.goto(live_url + "/report")
    w.get_by_label("问题简述").fill("岗贝路口暴露垃圾无人清理")
    expect(w.locator("#cat-suggest .chip").first).to_contain_text("暴露垃圾")
    w.locator("#cat-suggest .chip").first.click()
    w.get_by_role("button", name="使用当前位置").click()
    expect(w.locator("#loc-text")).to_contain_text("当前位置")
    w.locator("#photo").set_input_files(_photo(tmp_path))
    _shot(w, "report-filled-phone")
    w.get_by_role("button", name="提交上报").click()
    expect(w.locator(".notice")).to_contain_text("已上报")
    number = w.url.split("/cases/")[1].split("?")[0]
    expect(w.locator(".photos img")).to_have_count(1)
    _shot(w, "case-reported-phone")
    w.context.close()

    # 2. the village workstation accepts and escalates (it may not close this category itself? it may: choose escalate)
    v = _as(browser, live_url, "village.operator")
    v.goto(live_url + "/cases?queue=to_accept")
    expect(v.locator("table.cases")).to_contain_text(number)
    _shot(v, "queue-to-accept-desktop")
    v.goto(live_url + f"/cases/{number}")
    _act(v, "立案", "case-accept-desktop")
    _act(v, "上报上级", "case-escalate-desktop", note="需镇街协调执法力量")
    v.context.close()

    # 3. the town dispatches to the wrong department first
    t = _as(browser, live_url, "town.dispatcher")
    expect(t.locator(".navbadge")).to_be_visible()  # the escalation is in the dispatcher's inbox
    t.goto(live_url + "/inbox?unread=1")
    expect(t.locator("ul.inbox")).to_contain_text(number)
    expect(t.locator("ul.inbox")).to_contain_text("上报待处理")
    _shot(t, "inbox-desktop")
    t.locator("ul.inbox li", has_text=number).first.get_by_role("link").click()
    _act(t, "派遣", "case-dispatch-desktop", department="441900003-housing")
    expect(t.locator(".facts")).to_contain_text("规划建设办")
    # which returns it (its handler is dh-441900003-housing: no password; the engine test covers it),
    # so the dispatcher re-routes to the lead department
    _act(t, "改派", "case-reroute-desktop", department="441900003-urban_management", note="属执法办职责")
    t.context.close()

    # 4. the department returns with a reason, gets it again, takes and handles it with a photo
    d = _as(browser, live_url, "dept.handler")
    d.goto(live_url + f"/cases/{number}")
    form = _open(d, "退回")
    form.locator("button[type=submit]").click()  # no reason given: the browser keeps the form open
    expect(form.locator("textarea[name=note]")).to_be_visible()
    _act(d, "退回", "case-return-desktop", note="垃圾清运属环卫所,请改派")
    d.context.close()
    t = _as(browser, live_url, "town.dispatcher")
    t.goto(live_url + "/cases?queue=returned")
    expect(t.locator("table.cases")).to_contain_text(number)
    t.goto(live_url + f"/cases/{number}")
    _act(t, "派遣", "case-redispatch-desktop", department="441900003-urban_management", note="确属执法办")
    t.context.close()
    d = _as(browser, live_url, "dept.handler")
    d.goto(live_url + "/cases?queue=department")
    expect(d.locator("table.cases")).to_contain_text(number)
    d.goto(live_url + f"/cases/{number}")
    _act(d, "签收", "case-take-desktop")
    _act(d, "处置完成", "case-handle-desktop", note="已清运", photo=_photo(tmp_path, "after.jpg"))
    d.context.close()

    # 5. the grid worker verifies on site (phone), the town closes
    w = _as(browser, live_url, "grid.worker", "phone")
    w.goto(live_url + "/cases?queue=to_verify")
    expect(w.locator("table.cases")).to_contain_text(number)
    _shot(w, "queue-to-verify-phone")
    w.goto(live_url + f"/cases/{number}")
    _act(w, "核查", "case-verify-phone", result="pass", note="现场已清理干净")
    w.context.close()
    t = _as(browser, live_url, "town.dispatcher")
    t.goto(live_url + f"/cases/{number}")
    _act(t, "结案", "case-close-desktop")
    expect(t.locator(".badges")).to_contain_text("已结案")
    story = t.locator(".timeline li")
    expect(story).to_have_count(11)  # report … close, every step a line of the story
    _shot(t, "case-closed-desktop")
    t.context.close()


def test_a_stale_form_explains_and_offers_reload(browser, live_url, engine):
    with sessionmaker(bind=engine)() as s:
        g = shapely.from_wkb(s.scalars(select(Region).where(Region.code == "441900003001002")).one().geom_wkb)
        p = g.representative_point()
    w = _as(browser, live_url, "grid.worker", geolocation={"longitude": p.x, "latitude": p.y},
            permissions=["geolocation"])
    w.goto(live_url + "/report")
    w.get_by_label("问题简述").fill("路灯不亮")
    w.locator("#category").select_option("C0103")
    w.get_by_role("button", name="使用当前位置").click()
    expect(w.locator("#loc-text")).to_contain_text("当前位置")
    w.get_by_role("button", name="提交上报").click()
    number = w.url.split("/cases/")[1].split("?")[0]
    w.context.close()
    a = _as(browser, live_url, "village.operator")
    b = _as(browser, live_url, "village.operator")
    a.goto(live_url + f"/cases/{number}")
    b.goto(live_url + f"/cases/{number}")
    _act(a, "立案", "stale-first-desktop")
    form = _open(b, "作废")
    form.locator("textarea[name=note]").fill("重复")
    form.locator("button[type=submit]").click()
    expect(b.locator(".alert")).to_contain_text("已被他人更新")
    expect(b.get_by_role("link", name="刷新")).to_be_visible()
    _shot(b, "case-stale-desktop")
    assert (ARTIFACTS / "case-stale-desktop.png").exists()
    a.context.close()
    b.context.close()
