"""Every page at phone (375 px), desktop and wall-screen (1920×1080) sizes: it renders without script errors,
nothing is wider than the screen (no sideways scrolling on a phone), no English state names or raw enum values
leak into the text, and a screenshot is saved for people to look at. Uploads that are not images or too big
are refused with a clear message next to the field."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from civicgrid.cases.workflow import STATES
from tests.web.conftest import _shot
from tests.web.test_case_pages_browser import _as, _context_page

pytestmark = pytest.mark.browser

SIZES = {"phone": {"width": 375, "height": 740}, "desktop": {"width": 1440, "height": 900},
         "wall": {"width": 1920, "height": 1080}}
PAGES = {
    "village.operator": ["/cases", "/cases?queue=all&sort=new", "/inbox", "/report", "/map", "/account/password",
                         "/registry/buildings", "/registry/facilities?view=map", "/registry/facilities/new"],
    "town.dispatcher": ["/cases?queue=to_dispatch", "/map", "/assess/workers?period=year", "/assess/configs"],
    "grid.worker": ["/work", "/cases?queue=to_verify", "/map"],
    "dept.handler": ["/cases", "/cases?queue=overdue"],
    None: ["/login", "/public", "/public/report", "/public/track", "/public/nearby", "/no-such-page"],
}
ENUMS = re.compile(r"\b(" + "|".join(sorted(STATES, key=len, reverse=True)) + r"|village_operator|grid_worker)\b")


def _check(page, name):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"{name}: {width}px wide on a {page.viewport_size['width']}px screen"
    text = page.locator("body").inner_text()
    assert not ENUMS.search(text), f"{name}: raw value {ENUMS.search(text).group(0)!r} shown"
    _shot(page, name)


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_fits_and_speaks_chinese(browser, live_url, size):
    for user, urls in PAGES.items():
        base = "phone" if size == "phone" else "desktop"
        page = _as(browser, live_url, user, base) if user else _context_page(browser, base)
        page.set_viewport_size(SIZES[size])
        for url in urls:
            page.goto(live_url + url)
            for chart in ("#map", "#fac-map"):
                if page.locator(chart).count():
                    page.wait_for_selector(f"{chart}[data-ready='1']", timeout=30_000)
            slug = re.sub(r"[^a-z0-9]+", "-", url.lower()).strip("-") or "home"
            _check(page, f"page-{user or 'public'}-{slug}-{size}")
        assert not [e for e in page.errors if "404" not in e], page.errors  # type: ignore[attr-defined]
        page.context.close()


def test_a_case_page_at_every_size(browser, live_url, engine):
    from sqlalchemy.orm import sessionmaker

    from tests.cases.test_engine_loop import report

    with sessionmaker(bind=engine, expire_on_commit=False)() as s:
        number = report(s, title="各尺寸下的事件页").number
        s.commit()
    for size in SIZES:
        page = _as(browser, live_url, "village.operator", "phone" if size == "phone" else "desktop")
        page.set_viewport_size(SIZES[size])
        page.goto(live_url + f"/cases/{number}")
        page.wait_for_selector("#case-map[data-ready='1']", timeout=15_000)  # its grid and point on a map
        _check(page, f"page-case-detail-{size}")
        page.context.close()


def test_uploads_that_are_not_images_or_too_big_are_refused_next_to_the_field(browser, live_url, tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_bytes(b"%PDF-1.4 this is not a picture")
    big = tmp_path / "huge.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"0" * (11 * 1024 * 1024))
    page = _as(browser, live_url, "grid.worker", "phone")
    for path, message in ((fake, "图片"), (big, "过大")):
        page.goto(live_url + "/report")
        page.get_by_label("问题简述").fill("上传检查")
        page.locator("#category").select_option("E0102")
        page.locator("#photo").set_input_files(str(path))
        page.evaluate("""() => { document.getElementById('lon').value = '113.7458';
                                 document.getElementById('lat').value = '23.0628'; }""")
        page.get_by_role("button", name="提交上报").click()
        error = page.locator("#photo ~ .field-error, .file-pick ~ .field-error").first
        expect(error).to_contain_text(message)
        expect(page.get_by_label("问题简述")).to_have_value("上传检查")  # what was typed is kept
    _shot(page, "report-upload-refused-phone")
