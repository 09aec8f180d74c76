"""Forms as people really use them: a double-clicked or re-sent submit never makes two cases or two
transitions, and a case can be worked with the keyboard alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from civicgrid.cases.models import Case, TimelineEntry
from tests.web.test_case_pages_browser import _as, _open
from tests.web.test_console_browser import _committed
from tests.cases.test_engine_loop import report

pytestmark = pytest.mark.browser


def _count(engine, model, *where):
    with sessionmaker(bind=engine)() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_double_submits_make_one_case_and_one_transition(browser, live_url, engine):
    w = _as(browser, live_url, "grid.worker", "phone")
    w.goto(live_url + "/report")
    w.get_by_label("问题简述").fill("双击提交只产生一件")
    w.locator("#category").select_option("E0102")
    w.evaluate("""() => { document.getElementById('lon').value = '113.7458';
                         document.getElementById('lat').value = '23.0628'; }""")
    # the same form sent twice at once, as a flaky network retry or a script would (the page's own guard aside)
    statuses = w.evaluate("""async () => { const f = document.getElementById('report-form');
        const send = () => fetch(f.action, { method: 'POST', body: new FormData(f), redirect: 'manual' });
        const rs = await Promise.all([send(), send()]); return rs.map((r) => r.type === 'opaqueredirect' ? 303 : r.status); }""")
    assert all(s in (303, 200) for s in statuses), statuses
    w.get_by_role("button", name="提交上报").dblclick()
    w.wait_for_url("**/cases/*")
    assert _count(engine, Case, Case.title == "双击提交只产生一件") == 1

    number = _committed(engine, lambda s: report(s, title="双击立案只立一次").number)
    v = _as(browser, live_url, "village.operator")
    v.goto(live_url + f"/cases/{number}")
    _open(v, "立案").locator("button[type=submit]").dblclick()
    expect(v.locator(".notice")).to_contain_text("操作已完成")
    with sessionmaker(bind=engine)() as s:
        case_id = s.scalar(select(Case.id).where(Case.number == number))
    assert _count(engine, TimelineEntry, TimelineEntry.case_id == case_id, TimelineEntry.action == "accept") == 1


def test_a_case_can_be_voided_with_the_keyboard_alone(browser, live_url, engine):
    number = _committed(engine, lambda s: report(s, title="键盘操作作废").number)
    v = _as(browser, live_url, "village.operator")
    v.goto(live_url + f"/cases/{number}")
    for _ in range(60):  # Tab until the 作废 button has the focus
        v.keyboard.press("Tab")
        if v.evaluate("document.activeElement.textContent.trim()") == "作废":
            break
    else:
        raise AssertionError("作废 cannot be reached with Tab")
    v.keyboard.press("Enter")  # opens its form
    v.keyboard.press("Tab")
    v.keyboard.type("重复上报,已在其他事件中处理")
    while v.evaluate("document.activeElement.type") != "submit":
        v.keyboard.press("Tab")
    v.keyboard.press("Enter")
    expect(v.locator(".badges .state")).to_have_text("已作废")


def test_a_case_outside_the_users_scope_is_a_404_page(browser, live_url, engine):
    number = _committed(engine, lambda s: report(s, title="南城的事件", grid="441900004003001").number)
    t = _as(browser, live_url, "town.dispatcher")  # 东城's dispatcher
    resp = t.goto(live_url + f"/cases/{number}")
    assert resp is not None and resp.status == 404
    expect(t.locator("h1")).to_contain_text("找不到")
    assert "南城的事件" not in t.locator("body").inner_text()
    from tests.web.conftest import _shot

    _shot(t, "case-out-of-scope-desktop")


def test_the_reporters_phone_is_masked_until_revealed(browser, live_url, engine):
    number = _committed(engine, lambda s: report(s, who="village.operator", source="citizen", title="来电反映",
                                                 reporter_name="王女士", reporter_phone="13800138000").number)
    v = _as(browser, live_url, "village.operator")
    v.goto(live_url + f"/cases/{number}")
    expect(v.locator("#reporter-phone")).to_contain_text("138****8000")
    v.get_by_role("button", name="查看完整号码").click()
    expect(v.locator("#reporter-phone")).to_contain_text("13800138000")
    expect(v.locator("#reporter-phone")).to_contain_text("本次查看已记录")
    from tests.web.conftest import _shot

    _shot(v, "case-phone-revealed-desktop")
