"""The registry in a real browser: an operator imports a messy GBK file, downloads the error report, fixes the
rows it names, re-imports the fixed report, and finds the people by grid. Screenshots at phone and desktop
sizes go to test-artifacts/."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from civicgrid.access.models import GridAssignment, User
from civicgrid.access.service import SYSTEM
from civicgrid.geo.models import Region
from civicgrid.registry import service
from civicgrid.registry.ids import make_id_number
from tests.web.conftest import SIZES, _login, _page, _shot


@pytest.mark.parametrize("size", list(SIZES))
def test_operator_imports_fixes_reimports_and_finds_people_by_grid(browser, live_url, engine, size):
    seq, sn = (100, "林") if size == "desktop" else (200, "郑")
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as s:  # standard addresses of the operator's village, committed like real base data
        uid = s.scalars(select(User.id).where(User.username == "grid.worker")).one()
        grid = s.get(Region, s.scalars(select(GridAssignment.grid_id).where(GridAssignment.user_id == uid)).first())
        village = s.get(Region, grid.parent_id)
        town = s.get(Region, village.parent_id)
        full = []
        for room in (f"{seq + 1}", f"{seq + 2}"):
            a, _ = service.ensure_address(s, SYSTEM, {"town": town.name, "village": village.name, "road": "东城路",
                                                      "house_no": "88", "compound": "榕树花园", "building": "5",
                                                      "room": room}, lon=grid.centroid_lon, lat=grid.centroid_lat)
            full.append(a.full)
        s.commit()
        grid_code, grid_name = grid.code, grid.name
    ids = [make_id_number("441900", date(1980 + i, 3, 3), seq + i) for i in range(4)]
    messy_addr = full[0].replace("88号", "88號").replace("5栋", "五栋").replace(f"{seq + 1}室", f"{seq + 1}")
    rows = [(f"{sn}一", ids[0], "13800001111", "流动", messy_addr),
            (f"{sn}二", ids[1][:-1] + ("0" if ids[1][-1] != "0" else "1"), "", "户籍", full[1]),  # wrong check digit
            (f"{sn}三", ids[2], "", "流动", "火星基地1号"),  # matches no standard address
            (f"{sn}四", ids[3], "", "流动", full[1])]
    csv = ("姓名,身份证号,手机,户籍类型,现住址\n" + "".join(",".join(r) + "\n" for r in rows)).encode("gbk")

    page = _page(browser, size)
    _login(page, live_url, "village.operator")
    page.goto(live_url + "/registry/import")
    page.locator("#file").set_input_files(files=[{"name": "人口.csv", "mimeType": "text/csv", "buffer": csv}])
    page.get_by_role("button", name="上传并检查").click()
    expect(page.locator(".stats")).to_contain_text("2可导入")
    expect(page.locator("table.errors")).to_contain_text("校验位")
    expect(page.locator("table.errors")).to_contain_text("未匹配到标准地址")
    expect(page.get_by_text("GBK")).to_be_visible()
    _shot(page, f"registry-import-preview-{size}")
    with page.expect_download() as dl:
        page.locator("#error-report").click()
    report = load_workbook(io.BytesIO(open(dl.value.path(), "rb").read()))
    # all-or-nothing first: the import runs in the background with a progress bar, then is refused whole
    page.get_by_label("全部正确才导入").check()
    page.get_by_role("button", name="开始导入").click()
    expect(page.locator("progress")).to_be_visible()
    _shot(page, f"registry-import-running-{size}")
    expect(page.get_by_role("alert")).to_contain_text("没有写入任何数据", timeout=15000)
    expect(page.get_by_role("alert")).to_contain_text("2 行有错误")
    expect(page.locator("#error-report")).to_be_visible()
    _shot(page, f"registry-import-refused-{size}")
    page.go_back()
    page.get_by_label("只导入正确的").check()
    page.get_by_role("button", name="开始导入").click()
    expect(page.get_by_role("status")).to_contain_text("新建 2 条", timeout=15000)

    # fix the rows the report names, in the report itself, and upload it again
    ws = report.active
    header = [c.value for c in ws[1]]
    assert header[-2:] == ["原行号", "错误说明"] and ws.max_row == 3
    for r in range(2, ws.max_row + 1):
        if ws.cell(r, header.index("姓名") + 1).value == f"{sn}二":
            ws.cell(r, header.index("身份证号") + 1, ids[1])
        else:
            ws.cell(r, header.index("现住址") + 1, full[0])
    buf = io.BytesIO()
    report.save(buf)
    page.goto(live_url + "/registry/import")
    page.locator("#file").set_input_files(files=[{"name": "错误报告.xlsx", "buffer": buf.getvalue(),
                                                  "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    page.get_by_role("button", name="上传并检查").click()
    expect(page.locator(".stats")).to_contain_text("0有错误")
    page.get_by_role("button", name="开始导入").click()
    expect(page.get_by_role("status")).to_contain_text("新建 2 条", timeout=15000)
    _shot(page, f"registry-import-done-{size}")
    # both imports are on record for the operator (the refused attempt is not), newest first
    page.goto(live_url + "/registry/import")
    history = page.locator("table.imports tbody tr")  # (the other screen size's run imported before this one)
    expect(history.first).to_contain_text("错误报告.xlsx")
    expect(history.nth(1)).to_contain_text("人口.csv")
    expect(history.nth(1)).to_contain_text("只导入正确的行")
    _shot(page, f"registry-import-history-{size}")

    page.goto(live_url + f"/registry/grid?code={grid_code}")
    expect(page.locator("h1")).to_have_text(grid_name)
    for name in (f"{sn}一", f"{sn}二", f"{sn}三", f"{sn}四"):
        page.goto(live_url + f"/registry/residents?region={grid_code}&q={name}")
        expect(page.locator("table.reg")).to_contain_text(name)
    expect(page.locator("table.reg")).to_contain_text("*" * 10)  # masked ID numbers in lists
    _shot(page, f"registry-list-{size}")
    page.get_by_role("link", name=f"{sn}四").click()
    expect(page.get_by_text("居住历史")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("文件:人口.csv")  # created by the first import
    page.get_by_role("button", name="查看完整号码(将记录审计)").click()
    expect(page.locator("#numbers-block")).to_contain_text(ids[3])
    _shot(page, f"registry-detail-{size}")
    page.goto(live_url + f"/registry/grid?code={grid_code}")
    _shot(page, f"registry-grid-{size}")
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    # a form with a wrong ID number shows the reason next to the field and keeps what was typed
    page.goto(live_url + "/registry/residents/new")
    page.get_by_label("姓名").fill(f"{sn}五")
    page.get_by_label("公民身份号码").fill(ids[0][:-1] + ("0" if ids[0][-1] != "0" else "1"))
    page.get_by_label("居住地址").fill(full[0])
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".field-error")).to_contain_text("校验位")
    expect(page.get_by_label("姓名")).to_have_value(f"{sn}五")
    _shot(page, f"registry-form-error-{size}")  # (answered 400: the console notes the status, nothing else)
    page.context.close()
