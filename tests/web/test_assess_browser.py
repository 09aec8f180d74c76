"""Assessment pages in Chromium: a leader opens the dashboard and drills down to the cases behind a number;
the wall screen at 1920×1080; a town dispatcher sees only its own town (also on a 375 px phone)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from civicgrid.analytics.aggregates import LEVELS
from civicgrid.analytics.models import StoredRanking
from tests.analytics.helpers import town_figures

from .conftest import ARTIFACTS, _login, _page

pytestmark = pytest.mark.browser


@pytest.fixture()
def october(engine):
    """Committed aggregate rows for October 2026 in both demo towns (removed afterwards)."""
    with Session(engine) as db:
        town_figures(db, date(2026, 10, 3), "441900003", reported=1020, accepted=996, due=972, closed=911,
                     closed_on_time=737, reworked=20, supervised=10, overdue_open=3)
        town_figures(db, date(2026, 10, 8), "441900004", reported=120, accepted=110, due=100, closed=95,
                     closed_on_time=90, reworked=2)
        db.commit()
    yield
    with Session(engine) as db:
        for daily, hist, _ in LEVELS.values():
            db.execute(delete(daily))
            db.execute(delete(hist))
        db.execute(delete(StoredRanking))
        db.commit()


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=name != "assess-screen-1920")


def test_leader_dashboard_drills_down_to_the_cases(browser, live_url, october):
    page = _page(browser, "desktop")
    page.set_viewport_size({"width": 1920, "height": 1080})
    _login(page, live_url, "leader")
    page.get_by_role("link", name="考核").click()
    page.goto(live_url + "/assess?period=month&value=2026-10")
    assert page.get_by_role("heading", name="东莞市 · 2026年10月考核").is_visible()
    cards = page.locator(".card.kpi")
    assert cards.filter(has_text="立案数").locator(".kpi-value").inner_text() == "1,106"
    page.wait_for_selector("#heat canvas")
    _shot(page, "assess-city-1920")
    # the ranking: 南城 (90/100 on time) above 东城 (737/972), the bottom flagged
    rows = page.locator(".ranking tbody tr")
    assert "南城" in rows.nth(0).inner_text() and "末位" in rows.nth(1).inner_text()
    # drill down: city → town → village
    page.locator(".grid-table a", has_text="东城街道").first.click()
    assert page.get_by_role("heading", name="东城街道 · 2026年10月考核").is_visible()
    assert page.locator(".card.kpi", has_text="结案率").first.locator(".kpi-value").inner_text() == "93.72%"
    assert page.locator(".crumbs a", has_text="东莞市").is_visible()
    village = page.locator(".grid-table tbody tr", has_text="1").first  # the village with the cases
    vname = village.locator("a").first.inner_text()
    village.locator("a").first.click()
    assert page.get_by_role("heading", name=f"{vname} · 2026年10月考核").is_visible()
    # the case list behind a number keeps the region and the period
    page.locator(".card.kpi", has_text="结案数").locator("a").click()
    page.wait_for_url("**/cases?**")
    assert "date_from=2026-10-01" in page.url and "date_to=2026-10-31" in page.url and "state=closed" in page.url
    # the wall screen fits 1920×1080 without scrolling
    page.goto(live_url + "/assess/screen?period=month&value=2026-10")
    page.wait_for_selector("#heat canvas")
    assert page.evaluate("document.documentElement.scrollHeight") <= 1080
    assert page.locator(".scard", has_text="按期结案率").is_visible()
    _shot(page, "assess-screen-1920")
    assert not page.errors, page.errors


def test_town_dispatcher_sees_only_its_town(browser, live_url, october):
    page = _page(browser, "phone")
    _login(page, live_url, "town.dispatcher")
    page.goto(live_url + "/assess?period=month&value=2026-10")
    assert page.get_by_role("heading", name="东城街道 · 2026年10月考核").is_visible()
    assert page.locator(".crumbs a").count() == 0  # nothing above its own town
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1  # no sideways scrolling
    _shot(page, "assess-town-375")
    r = page.goto(live_url + "/assess?period=month&value=2026-10&region=441900004")
    assert r.status == 404 and "无权查看" in page.content()
    r = page.goto(live_url + "/assess/screen?period=month&value=2026-10&region=441900")
    assert r.status == 404
    assert not [e for e in page.errors if "404" not in e], page.errors
