"""The admin pages in Chromium: create a user and grant a scoped role, the new user logs in; field errors in
Chinese; non-admins refused; a catalogue edit makes a revision; XLSX round trip and a refused file's per-row
report; a refused GeoJSON import. Screenshots of every admin page at desktop and phone size go to
test-artifacts/.

The live server commits to the session's demo city, so the test uses a fresh username, edits a category no
other test reads (and puts it back), and revokes the role it granted."""

from __future__ import annotations

import io
import json
import uuid

import openpyxl
import pytest
from playwright.sync_api import expect

from tests.web.conftest import SIZES, _login, _page, _shot

ADMIN_PAGES = {"admin": "/admin", "admin-users": "/admin/users", "admin-user": "/admin/users/grid.worker",
               "admin-departments": "/admin/departments", "admin-centres": "/admin/centres",
               "admin-audit": "/admin/audit", "admin-matters": "/admin/matters",
               "admin-matter": "/admin/matters/E0103", "admin-regions": "/admin/regions"}


def _admin(browser, live_url, size="desktop"):
    page = _page(browser, size)
    _login(page, live_url, "admin")
    return page


@pytest.mark.parametrize("size", list(SIZES))
def test_every_admin_page_at_desktop_and_phone(browser, live_url, size):
    page = _admin(browser, live_url, size)
    for name, path in ADMIN_PAGES.items():
        r = page.goto(live_url + path)
        assert r is not None and r.status == 200, (path, r and r.status)
        expect(page.locator("nav.admin-tabs")).to_be_visible()
        _shot(page, f"{name}-{size}")
    expect(page.locator("nav.mainnav")).to_contain_text("管理")
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_admin_creates_a_village_operator_who_logs_in(browser, live_url):
    name = f"op.{uuid.uuid4().hex[:6]}"
    page = _admin(browser, live_url)
    page.goto(live_url + "/admin/users")
    form = page.locator("#new-user form")
    # a bad username: the Chinese error next to the field, what was typed kept
    form.get_by_label("用户名").fill("坏 名字!")
    form.get_by_label("姓名").fill("测试操作员")
    form.get_by_label("初始密码(至少 8 位,含字母和数字)").fill("Abcd1234x")
    form.get_by_role("button", name="创建用户").click()
    expect(page.locator("#username-error")).to_contain_text("用户名只能包含字母、数字")
    expect(page.locator("#new-user").get_by_label("姓名")).to_have_value("测试操作员")
    _shot(page, "admin-user-create-error-desktop")
    form = page.locator("#new-user form")
    form.get_by_label("用户名").fill(name)
    form.get_by_label("初始密码(至少 8 位,含字母和数字)").fill("Abcd1234x")
    form.get_by_role("button", name="创建用户").click()
    expect(page.locator(".notice")).to_contain_text("用户已创建")
    # grant 村级工作站操作员 for 岗贝社区: the region picker offers villages only
    role = page.locator("#add-role")
    role.get_by_label("角色").select_option("village_operator")
    expect(role.locator("#department_code")).to_be_hidden()
    assert role.locator('#region_code option[data-level="town"]').first.is_disabled()
    role.locator("#region_code").select_option("441900003001")
    _shot(page, "admin-user-add-role-desktop")
    role.get_by_role("button", name="授予角色").click()
    expect(page.locator(".notice")).to_contain_text("角色已授予")
    expect(page.locator("table.cases")).to_contain_text("村级工作站操作员")
    expect(page.locator("table.cases")).to_contain_text("岗贝")
    # the same grant twice is refused in Chinese
    role = page.locator("#add-role")
    role.get_by_label("角色").select_option("village_operator")
    role.locator("#region_code").select_option("441900003001")
    role.get_by_role("button", name="授予角色").click()
    expect(page.locator("#add-role .field-error")).to_contain_text("已拥有此角色")
    _shot(page, "admin-user-roles-desktop")
    # the new user logs in and lands on its queues, scoped to its village
    other = _page(browser, "phone")
    _login(other, live_url, name, "Abcd1234x")
    expect(other).to_have_url(live_url + "/cases")
    expect(other.locator(".queue-tabs")).to_contain_text("待受理")
    expect(other.locator(".who")).to_contain_text("测试操作员")
    _shot(other, "admin-new-user-lands-phone")
    other.context.close()
    # clean up: revoke the role through its button (the shared demo city keeps no extra operator)
    page.once("dialog", lambda d: d.accept())
    page.locator("table.cases").get_by_role("button", name="撤销").click()
    expect(page.locator(".notice")).to_contain_text("角色已撤销")
    page.goto(live_url + f"/admin/audit?action=role.assign")
    expect(page.locator("table.cases")).to_contain_text("村级工作站操作员")
    page.context.close()


@pytest.mark.parametrize("user,status,text", [("grid.worker", 403, "没有权限"),
                                              ("dept.handler", 403, "没有权限")])
def test_non_admins_get_an_error_page_not_a_crash(browser, live_url, user, status, text):
    page = _page(browser, "phone")
    _login(page, live_url, user)
    r = page.goto(live_url + "/admin/users")
    assert r is not None and r.status == status
    expect(page.locator("h1")).to_contain_text(text)
    expect(page.locator("nav.mainnav")).not_to_contain_text("管理")
    _shot(page, f"admin-refused-{user}-phone")
    page.context.close()


def test_town_dispatcher_sees_its_town_read_only(browser, live_url):
    page = _page(browser, "desktop")
    _login(page, live_url, "town.dispatcher")
    page.goto(live_url + "/admin/users?q=operator")
    expect(page.locator("table.cases")).to_contain_text("village.operator")
    expect(page.locator("#new-user")).to_have_count(0)
    _shot(page, "admin-users-town-desktop")
    page.goto(live_url + "/admin/users/village.operator")
    expect(page.locator("#add-role")).to_have_count(0)
    expect(page.get_by_role("button", name="撤销")).to_have_count(0)
    _shot(page, "admin-user-town-desktop")
    page.goto(live_url + "/admin/regions")
    expect(page.locator("#region-tree")).to_contain_text("岗贝")
    expect(page.locator("#regions-import")).to_have_count(0)
    _shot(page, "admin-regions-town-desktop")
    r = page.goto(live_url + "/admin/users?region=441900004")
    assert r is not None and r.status == 404
    expect(page.locator("h1")).to_contain_text("找不到")
    page.context.close()


def test_catalogue_edit_makes_a_revision_and_xlsx_round_trips(browser, live_url, tmp_path):
    page = _admin(browser, live_url)
    page.goto(live_url + "/admin/matters/E0103")
    before = page.locator("#revisions tbody tr").count()
    original = page.get_by_label("立案标准").input_value()
    page.get_by_label("立案标准").fill(original + "(测试修改)")
    page.get_by_label("一般件处置时限(小时)").fill("-3")
    page.get_by_role("button", name="保存(生成新版本)").click()
    expect(page.locator(".alert")).to_contain_text("处置时限必须是大于 0 的小时数")
    expect(page.get_by_label("立案标准")).to_have_value(original + "(测试修改)")
    _shot(page, "admin-matter-error-desktop")
    page.get_by_label("一般件处置时限(小时)").fill("5")
    page.get_by_role("button", name="保存(生成新版本)").click()
    expect(page.locator(".notice")).to_contain_text("已保存为第")
    expect(page.locator("#revisions tbody tr")).to_have_count(before + 1)
    expect(page.locator("#revisions tbody tr").first).to_contain_text("立案标准、时限")
    _shot(page, "admin-matter-saved-desktop")
    # XLSX: download, upload the same file (nothing changes), then a broken copy is refused row by row
    page.goto(live_url + "/admin/matters")
    with page.expect_download() as dl:
        page.get_by_role("link", name="导出 Excel").click()
    path = tmp_path / "matters.xlsx"
    dl.value.save_as(path)
    page.locator("#file").set_input_files(str(path))
    page.get_by_role("button", name="导入 Excel", exact=True).click()
    expect(page.locator("#import-result")).to_contain_text("导入完成:新增 0 项,更新 0 项")
    wb = openpyxl.load_workbook(path)
    ws = wb["事项清单"]
    header = [c.value for c in ws[1]]
    ws.cell(row=3, column=header.index("层级") + 1, value="大大类")
    ws.cell(row=5, column=header.index("名称") + 1, value="")
    broken = tmp_path / "broken.xlsx"
    wb.save(broken)
    page.locator("#file").set_input_files(str(broken))
    page.get_by_role("button", name="导入 Excel", exact=True).click()
    result = page.locator("#import-result")
    expect(result).to_contain_text("导入未执行")
    expect(result).to_contain_text("第 3 行")
    expect(result).to_contain_text("层级“大大类”无效")
    _shot(page, "admin-matters-import-error-desktop")
    # put the category back as it was (one more revision)
    page.goto(live_url + "/admin/matters/E0103")
    page.get_by_label("立案标准").fill(original)
    page.get_by_label("一般件处置时限(小时)").fill("4")
    page.get_by_role("button", name="保存(生成新版本)").click()
    expect(page.locator(".notice")).to_contain_text("已保存为第")
    page.context.close()


def test_a_bad_geojson_is_refused_feature_by_feature(browser, live_url, tmp_path):
    square = {"type": "Polygon", "coordinates": [[[120, 30], [120.01, 30], [120.01, 30.01], [120, 30.01], [120, 30]]]}
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "无代码"}, "geometry": square},
        {"type": "Feature", "properties": {"code": "441900003998", "name": "远方村"}, "geometry": square}]}
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    page = _admin(browser, live_url)
    page.goto(live_url + "/admin/regions")
    page.locator("#geo-file").set_input_files(str(path))
    page.get_by_label("文件坐标系").select_option("gcj02")
    page.get_by_role("button", name="导入边界").click()
    result = page.locator("#import-result")
    expect(result).to_contain_text("导入未执行")
    expect(result).to_contain_text("第 1 个要素:缺少 code 属性")
    expect(result).to_contain_text("441900003998")
    expect(page.get_by_label("文件坐标系")).to_have_value("gcj02")
    _shot(page, "admin-regions-import-error-desktop")
    (tmp_path / "not.json").write_bytes(io.BytesIO(b"\x00not json").getvalue())
    page.locator("#geo-file").set_input_files(str(tmp_path / "not.json"))
    page.get_by_role("button", name="导入边界").click()
    expect(page.locator("#import-result")).to_contain_text("不是有效的 JSON")
    page.context.close()
