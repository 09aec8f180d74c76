"""Assessment in Chromium, continued: a city dispatcher publishes October's ranking (发布排名) and the leader
sees it published; a custom ranking configuration is made on /assess/configs (with the form's errors in
Chinese) and chosen on the dashboard; the grid-worker table drills down to a worker's cases and exports XLSX."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from civicgrid.access.models import GridAssignment, RoleAssignment, User
from civicgrid.analytics.aggregates import FACT, LEVELS
from civicgrid.analytics.models import RankingConfigRecord, StoredRanking
from civicgrid.cases.models import Case, TimelineEntry
from tests.analytics.test_workers import build_october

from .conftest import _login, _page, _shot
from .test_assess_browser import october  # noqa: F401 (a fixture: October's figures in both towns)

pytestmark = pytest.mark.browser


def _clear(db: Session) -> None:
    for daily, hist, _ in LEVELS.values():
        db.execute(delete(daily))
        db.execute(delete(hist))
    db.execute(delete(StoredRanking))
    db.execute(delete(RankingConfigRecord))


@pytest.fixture()
def no_configs_left(engine):
    """Ranking configurations made by a test are removed afterwards."""
    yield
    with Session(engine) as db:
        _clear(db)
        db.commit()


@pytest.fixture()
def worker_cases(engine):
    """The hand-made October of tests/analytics/test_workers.py, committed (cases, facts, two workers)."""
    with Session(engine, expire_on_commit=False) as db:
        made = build_october(db)
        db.commit()
    yield made
    with Session(engine) as db:
        ids = list(db.scalars(select(Case.id).where(Case.number.like("T-WK-%"))))
        db.execute(delete(TimelineEntry).where(TimelineEntry.case_id.in_(ids)))
        db.execute(delete(FACT).where(FACT.c.case_id.in_(ids)))
        db.execute(delete(Case).where(Case.id.in_(ids)))
        users = list(db.scalars(select(User.id).where(User.username.in_(["wk.aqing", "wk.ahong"]))))
        db.execute(delete(GridAssignment).where(GridAssignment.user_id.in_(users)))
        db.execute(delete(RoleAssignment).where(RoleAssignment.user_id.in_(users)))
        db.execute(delete(User).where(User.id.in_(users)))
        _clear(db)
        db.commit()


def _no_overflow(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"{width}px wide on a {page.viewport_size['width']}px screen"


def test_dispatcher_publishes_the_ranking_and_the_leader_sees_it(browser, live_url, october):  # noqa: F811
    page = _page(browser, "desktop")
    _login(page, live_url, "city.dispatcher")
    page.goto(live_url + "/assess?period=month&value=2026-10")
    ranking = page.locator(".ranking")
    assert ranking.locator(".tag.draft").inner_text() == "预览 · 未发布"
    assert "尚未发布" in ranking.inner_text()
    stale = page.context.new_page()  # a second tab still showing the unpublished ranking
    stale.goto(live_url + "/assess?period=month&value=2026-10")
    _shot(page, "assess-ranking-preview-1440")
    page.once("dialog", lambda d: d.accept())  # "确定发布吗?"
    ranking.get_by_role("button", name="发布排名").click()
    page.wait_for_url("**published=1**")
    ranking = page.locator(".ranking")
    assert ranking.locator(".tag.ok").inner_text() == "已发布"
    status = ranking.locator(".ranking-status").inner_text()
    assert "排名已发布" in status and "由 " in status and "发布" in status
    assert ranking.get_by_role("button", name="发布排名").count() == 0
    assert "南城" in ranking.locator("tbody tr").nth(0).inner_text()
    _shot(page, "assess-ranking-published-1440")
    # the second tab tries again: a clear refusal, not a second publication
    stale.once("dialog", lambda d: d.accept())
    stale.locator(".ranking").get_by_role("button", name="发布排名").click()
    stale.wait_for_load_state()
    assert "不能重复发布" in stale.locator("body").inner_text()
    _shot(stale, "assess-ranking-publish-twice-1440")
    # the leader sees who published it, and has no button
    leader = _page(browser, "phone")
    _login(leader, live_url, "leader")
    leader.goto(live_url + "/assess?period=month&value=2026-10")
    lr = leader.locator(".ranking")
    assert lr.locator(".tag.ok").inner_text() == "已发布" and "发布" in lr.locator(".ranking-status").inner_text()
    assert lr.get_by_role("button", name="发布排名").count() == 0
    _no_overflow(leader)
    _shot(leader, "assess-ranking-published-375")
    # the running month is a preview that cannot be published yet
    from civicgrid import clock

    leader.goto(live_url + f"/assess?period=month&value={clock.today():%Y-%m}")
    assert "本期尚未结束" in leader.locator(".ranking").inner_text()
    assert not page.errors and not leader.errors, (page.errors, leader.errors)


def test_custom_configuration_made_on_the_page_and_chosen_on_the_dashboard(browser, live_url, october,  # noqa: F811
                                                                          no_configs_left):
    page = _page(browser, "phone")
    _login(page, live_url, "city.dispatcher")
    page.goto(live_url + "/assess/configs")
    rows = page.locator("table.configs tbody tr")
    assert rows.count() == 2 and rows.filter(has_text="数字城管综合评价").locator(".tag").inner_text() == "内置 · 只读"
    assert page.locator("table.configs a").count() == 0  # the presets cannot be opened for editing
    form = page.locator("form.config-form")
    form.get_by_label("方案名称").fill("结案与满意")
    form.get_by_label("第 1 项指标").select_option(label="结案率")
    form.get_by_label("第 1 项权重").fill("60")
    form.get_by_label("第 2 项指标").select_option(label="返工率(越低越好)")
    form.get_by_label("第 2 项权重").fill("30")
    form.get_by_label("第 2 项计分方向").select_option(label="取 1 − 指标值")
    form.get_by_role("button", name="创建方案").click()
    error = page.locator(".field-error")
    assert error.inner_text() == "权重合计应为 100,当前为 90"
    assert page.locator("form.config-form").get_by_label("第 2 项权重").input_value() == "30"  # kept
    _no_overflow(page)
    _shot(page, "assess-configs-error-375")
    page.locator("form.config-form").get_by_label("第 2 项权重").fill("40")
    page.locator("form.config-form").get_by_role("button", name="创建方案").click()
    page.wait_for_url("**/assess/configs?done=*")
    assert "排名方案已保存" in page.locator(".notice").inner_text()
    row = page.locator("table.configs tbody tr", has_text="结案与满意")
    assert "结案率 × 60" in row.inner_text() and "返工率(1−) × 40" in row.inner_text() and "第 1 版" in row.inner_text()
    _shot(page, "assess-configs-375")
    # chosen on the dashboard: the ranking is computed under it
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(live_url + "/assess?period=month&value=2026-10")
    page.get_by_label("排名方案").select_option(label="结案与满意")
    page.get_by_role("button", name="查询").click()
    page.wait_for_url("**preset=custom-*")
    head = page.locator(".ranking h2").inner_text()
    assert "结案与满意" in head and "预览" in head
    assert [h.inner_text() for h in page.locator(".ranking thead th").all()][3:5] == ["结案率", "返工率"]
    # edit it: the page opens the stored values, and saving bumps the version
    page.goto(live_url + "/assess/configs")
    page.locator("table.configs a", has_text="结案与满意").click()
    assert page.locator("form.config-form").get_by_label("第 1 项权重").input_value() == "60"
    page.locator("form.config-form").get_by_label("末位数(标红的最后几名)").fill("1")
    page.locator("form.config-form").get_by_role("button", name="保存修改").click()
    assert "第 2 版" in page.locator("table.configs tbody tr", has_text="结案与满意").inner_text()
    _shot(page, "assess-configs-1440")
    # the leader reads the configurations but is not offered the form
    leader = _page(browser, "desktop")
    _login(leader, live_url, "leader")
    leader.goto(live_url + "/assess/configs")
    assert leader.locator("form.config-form").count() == 0 and "结案与满意" in leader.locator("table.configs").inner_text()
    assert not [e for e in page.errors if "400" not in e], page.errors  # the refused form answers 400


def test_grid_worker_table_drills_down_and_exports(browser, live_url, worker_cases, tmp_path):
    page = _page(browser, "desktop")
    _login(page, live_url, "leader")
    village = worker_cases["village"].code
    page.goto(live_url + f"/assess?period=month&value=2026-10&region={village}")
    page.locator(".assess-tabs a", has_text="网格员").click()
    page.wait_for_url("**/assess/workers?**")
    assert page.get_by_role("heading", name=f"{worker_cases['village'].name} · 2026年10月网格员考核").is_visible()
    first = page.locator(".workers tbody tr").nth(0)  # by reports, most first
    assert first.locator("td").nth(0).inner_text() == "阿青"
    assert [first.locator("td").nth(i).inner_text() for i in range(1, 7)] == [
        "4", "3", "75.00%", "2", "50.00%", "25.00%"]
    # sort by on-time verification: 阿宏 (66.67%) first
    page.locator(".workers th a", has_text="按时核查率").click()
    assert page.locator(".workers tbody tr").nth(0).locator("td").nth(0).inner_text() == "阿宏"
    assert page.locator(".workers th[aria-sort='descending']").inner_text().startswith("按时核查率")
    _shot(page, "assess-workers-1440")
    with page.expect_download() as dl:
        page.get_by_role("link", name="导出 Excel").click()
    path = tmp_path / "workers.xlsx"
    dl.value.save_as(path)
    from openpyxl import load_workbook

    ws = load_workbook(path).active
    assert ws["A2"].value == "网格员" and ws["A3"].value == "阿宏"  # the page's order
    # the number behind 阿青's reports opens her cases
    row = page.locator(".workers tbody tr", has_text="阿青")
    row.locator("td").nth(1).get_by_role("link").click()
    page.wait_for_url("**/cases?**")
    assert "reporter=wk.aqing" in page.url
    assert page.locator(".chip", has_text="上报人 阿青").is_visible()
    assert page.locator("table.cases tbody tr").filter(has_text="测试事件").count() == 4
    phone = _page(browser, "phone")
    _login(phone, live_url, "leader")
    phone.goto(live_url + f"/assess/workers?period=month&value=2026-10&region={village}")
    _no_overflow(phone)
    _shot(phone, "assess-workers-375")
    assert not page.errors and not phone.errors, (page.errors, phone.errors)
