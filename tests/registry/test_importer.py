"""Registry import: the bad inputs of the issue one by one, insert-or-update, both modes, and a failed
all-or-nothing import leaving the registry exactly as it was."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from civicgrid.access.service import SYSTEM
from civicgrid.errors import BadInput
from civicgrid.registry import importer
from civicgrid.registry.ids import make_id_number
from civicgrid.registry.models import Address, Dwelling, RegistryChange, RegistryImport, Residence, Resident
from tests.registry.conftest import make_address, who

HEAD = "姓名,身份证号,手机,户籍类型,现住址\n"


def pid(seq: int) -> str:
    return make_id_number("441900", date(1988, 5, 17), seq)


@pytest.fixture()
def addr(db, demo_grid) -> Address:
    return make_address(db, demo_grid)


def run(db, data: bytes | str, *, kind: str = "resident", mode: str = "all", filename: str = "x.csv",
        actor=SYSTEM, mapping=None):
    raw = data.encode() if isinstance(data, str) else data
    checked = importer.check(db, actor, kind, importer.read_table(raw, filename), mapping)
    return checked, importer.commit(db, actor, checked, mode=mode)


def counts(db) -> tuple[int, ...]:
    return tuple(db.scalar(select(func.count()).select_from(m)) for m in (Resident, Dwelling, Residence,
                                                                           RegistryChange, RegistryImport, Address))


def test_good_csv_imports_and_reimport_updates(db, addr):
    text = HEAD + f"张三,{pid(11)},13800000001,流动人口,{addr.full}\n李四,{pid(12)},,户籍,{addr.full}\n"
    _c, res = run(db, text)
    assert (res["created"], res["updated"]) == (2, 0)
    people = {r.name: r for r in db.scalars(select(Resident))}
    assert people["李四"].household == "registered" and people["张三"].phone_masked == "138****0001"
    _c, res = run(db, text.replace("张三", "张叁"))
    assert (res["created"], res["updated"]) == (0, 2)
    assert db.scalar(select(Resident.name).where(Resident.id == people["张三"].id)) == "张叁"


def test_messy_address_spelling_matches(db, addr):
    messy = addr.full.replace("3栋", "三栋").replace("12号", "１２號")
    _c, res = run(db, HEAD + f"张三,{pid(11)},,,{messy}\n")
    assert res["created"] == 1


@pytest.mark.parametrize("bad,column,words", [
    (lambda a: f"张三,{pid(11)[:-1]}{'0' if pid(11)[-1] != '0' else '1'},,,{a}", "身份证号", "校验位"),
    (lambda a: f"张三,{make_id_number('441900', date(1990, 2, 30) if False else date(1990, 2, 28), 1)[:10]}0230"
               f"{make_id_number('441900', date(1990, 2, 28), 1)[14:]},,,{a}", "身份证号", "不存在"),
    (lambda a: f"张三,{make_id_number('441900', date.today() + timedelta(days=400), 1)},,,{a}", "身份证号", "晚于今天"),
    (lambda a: f",{pid(11)},,,{a}", "姓名", "不能为空"),
    (lambda a: f"张三,{pid(11)},12345,,{a}", "手机", "电话"),
    (lambda a: f"张三,{pid(11)},,外星人,{a}", "户籍类型", "无效"),
    (lambda a: f"张三,{pid(11)},,,火星基地1号", "现住址", "未匹配"),
])
def test_bad_rows_name_their_column(db, addr, bad, column, words):
    checked = importer.check(db, SYSTEM, "resident", importer.read_table((HEAD + bad(addr.full) + "\n").encode()))
    assert checked.valid == 0
    e = checked.errors[0]
    assert (e["row"], e["column"]) == (2, column) and words in e["message"], e


def test_duplicate_ids_in_one_file(db, addr):
    checked = importer.check(db, SYSTEM, "resident", importer.read_table(
        (HEAD + f"张三,{pid(11)},,,{addr.full}\n李四,{pid(11)},,,{addr.full}\n").encode()))
    assert [(e["row"], e["message"]) for e in checked.errors] == [(3, "与第 2 行重复")]


def test_missing_required_columns_and_unknown_headers(db, addr):
    with pytest.raises(BadInput) as e:
        importer.check(db, SYSTEM, "resident", importer.read_table("姓名,手机\n张三,13800000000\n".encode()))
    assert e.value.code == "missing_columns" and "公民身份号码" in e.value.message_zh
    checked = importer.check(db, SYSTEM, "resident", importer.read_table(
        ("姓名,证件,住在哪,备注\n" + f"张三,{pid(11)},{addr.full},好人\n").encode()),
        mapping={"姓名": "name", "证件": "id_number", "住在哪": "address"})
    assert checked.unknown == ["备注"] and checked.valid == 1


@pytest.mark.parametrize("encoding,label", [("gbk", "GBK"), ("gb18030", "GB18030"), ("utf-8-sig", "UTF-8")])
def test_chinese_encodings_are_detected(db, addr, encoding, label):
    name = "𠀀三" if encoding == "gb18030" else "张三"  # a character only GB18030 (not GBK) encodes
    t = importer.read_table((HEAD + f"{name},{pid(11)},,,{addr.full}\n").encode(encoding))
    assert t.encoding == label and next(t.iter_rows())[1][0] == name


def test_undecodable_file(db):
    with pytest.raises(BadInput) as e:
        importer.read_table("姓名\n张三\n".encode("utf-16"))
    assert e.value.code == "bad_encoding"


def xlsx(rows, merge: str | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    if merge:
        ws.merge_cells(merge)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_formulas_are_row_errors_and_merged_cells_refuse_the_file(db, addr):
    head = ["姓名", "公民身份号码", "居住地址"]
    checked = importer.check(db, SYSTEM, "resident", importer.read_table(
        xlsx([head, ["张三", pid(11), addr.full], ["=A2", pid(12), addr.full]]), "a.xlsx"))
    assert checked.valid == 1 and checked.errors[0]["row"] == 3 and "公式" in checked.errors[0]["message"]
    with pytest.raises(BadInput) as e:
        importer.read_table(xlsx([head, ["张三", pid(11), addr.full], ["", pid(12), addr.full]], "A2:A3"), "a.xlsx")
    assert e.value.code == "merged_cells" and "A2:A3" in e.value.message_zh


@pytest.mark.parametrize("data", [b"", b"   \n", "姓名,公民身份号码,居住地址\n".encode()])
def test_empty_files(db, data):
    with pytest.raises(BadInput) as e:
        importer.read_table(data)
    assert e.value.code == "empty_file"


def test_too_large_file(db, monkeypatch):
    from civicgrid.config import get_settings

    monkeypatch.setattr(get_settings(), "registry_import_max_mb", 0.001)
    with pytest.raises(BadInput) as e:
        importer.read_table(b"x" * 2000)
    assert e.value.code == "file_too_large"


def test_failed_all_or_nothing_import_leaves_registry_exactly_as_it_was(db, addr):
    run(db, HEAD + f"王五,{pid(1)},,,{addr.full}\n")
    before = counts(db)
    snapshot = [(r.id, r.name, r.phone_hash) for r in db.scalars(select(Resident).order_by(Resident.id))]
    text = HEAD + f"王伍,{pid(1)},13900000000,,{addr.full}\n赵六,{pid(2)},,,{addr.full}\n钱七,123,,,{addr.full}\n"
    with pytest.raises(BadInput) as e:
        run(db, text)
    assert e.value.code == "import_invalid" and e.value.extra["error_rows"] == 1
    db.expire_all()
    assert counts(db) == before
    assert [(r.id, r.name, r.phone_hash) for r in db.scalars(select(Resident).order_by(Resident.id))] == snapshot


def test_valid_rows_only_mode_and_error_report_round_trip(db, addr):
    text = HEAD + f"赵六,{pid(2)},,,{addr.full}\n钱七,123,,,{addr.full}\n孙八,{pid(3)},,,火星\n"
    checked, res = run(db, text, mode="valid")
    assert (res["created"], res["skipped"], res["error_rows"]) == (1, 2, 2)
    report = load_workbook(io.BytesIO(importer.error_report(checked))).active
    rows = list(report.iter_rows(values_only=True))
    assert rows[0][-2:] == ("原行号", "错误说明") and [r[-2] for r in rows[1:]] == [3, 4]
    assert "身份证号" in rows[1][-1]
    # the operator fixes the named rows in the report and imports the report itself
    wb = load_workbook(io.BytesIO(importer.error_report(checked)))
    ws = wb.active
    ws.cell(row=2, column=2, value=pid(7))
    ws.cell(row=3, column=5, value=addr.full)
    buf = io.BytesIO()
    wb.save(buf)
    _c, res = run(db, buf.getvalue(), filename="fixed.xlsx")
    assert (res["created"], res["error_rows"]) == (2, 0)


def test_rows_outside_the_importers_scope_are_refused(db, addr):
    from civicgrid.geo.models import Region

    other = db.scalars(select(Region).where(Region.level == "grid", ~Region.path.startswith(
        addr.region_path.rsplit("/", 2)[0] + "/"))).first()
    far = make_address(db, other)
    checked = importer.check(db, who(db, "village.operator"), "resident", importer.read_table(
        (HEAD + f"张三,{pid(11)},,,{far.full}\n").encode()))
    assert checked.errors[0]["message"] == "该地址不在您的管辖范围内"


def test_roles_without_import_right_are_refused(db, addr):
    from civicgrid.errors import Forbidden

    with pytest.raises(Forbidden):
        importer.check(db, who(db, "grid.worker"), "resident", importer.read_table((HEAD + "a,b,,,c\n").encode()))


def test_organisations_and_addresses_import_with_upsert(db, addr, demo_grid):
    from civicgrid.registry.ids import make_uscc

    village = db.get(type(demo_grid), demo_grid.parent_id)
    town = db.get(type(demo_grid), village.parent_id)
    a_csv = f"镇街,村(社区),街路巷,门牌号\n{town.name},{village.name},学前路,5\n{town.name},{village.name},学前路,7\n"
    _c, res = run(db, a_csv, kind="address")
    assert res["created"] == 2
    _c, res = run(db, a_csv, kind="address")
    assert (res["created"], res["updated"]) == (0, 2)
    code = make_uscc("92", "441900", "L1234567")
    o_csv = f"单位名称,统一社会信用代码,单位类型,单位地址\n学前五金店,{code},商铺,{town.name}{village.name}学前路5号\n"
    _c, res = run(db, o_csv, kind="organisation")
    assert res["created"] == 1
    _c, res = run(db, o_csv.replace("学前五金店", "学前五金批发"), kind="organisation")
    assert res["updated"] == 1


def test_organisations_without_uscc_are_matched_by_name_and_address(db, addr):
    csv = f"单位名称,单位类型,单位地址,从业人数\n街口小卖部,商铺,{addr.full},2\n"
    _c, res = run(db, csv, kind="organisation")
    assert res["created"] == 1
    _c, res = run(db, csv.replace(",2\n", ",3\n"), kind="organisation")
    assert (res["created"], res["updated"]) == (0, 1)


def test_worker_processes_give_the_same_result_as_checking_in_process(db, addr, monkeypatch):
    """Large files are checked and sealed by worker processes: same errors, same rows, numbers sealed with the
    importing process's keys (the worker is forced here with a tiny threshold)."""
    from civicgrid.config import get_settings
    from civicgrid.registry import crypto, service

    rows = [f"居民{i},{pid(300 + i)},1380000{i:04d},流动,{addr.full}" for i in range(12)]
    rows[3] = f"居民3,{pid(303)[:-1]}{'0' if pid(303)[-1] != '0' else '1'},,流动,{addr.full}"  # bad check digit
    rows[7] = f"居民7,{pid(300)},,流动,{addr.full}"  # the same ID as row 2 of the file
    data = (HEAD + "\n".join(rows) + "\n").encode()
    serial = importer.check(db, SYSTEM, "resident", importer.read_table(data))
    monkeypatch.setenv("CIVICGRID_REGISTRY_IMPORT_PARALLEL_ROWS", "1")
    monkeypatch.setenv("CIVICGRID_REGISTRY_IMPORT_WORKERS", "1")
    get_settings.cache_clear()
    try:
        table = importer.read_table(data)
        assert importer.workers_for(table, "resident") == 1
        done = importer.import_table(db, SYSTEM, "resident", table, mode="valid")
    finally:
        get_settings.cache_clear()
    assert done.errors == serial.errors and len(done.errors) == 2
    assert (done.created, done.valid) == (10, serial.valid)
    keyring = crypto.keyring()
    people = {r.name: r for r in db.scalars(select(Resident).where(Resident.name.like("居民%")))}
    assert keyring.decrypt(people["居民5"].id_enc, "resident.id_number") == pid(305)
    assert people["居民5"].id_hash == service.number_hash(pid(305), "id_number")
    assert keyring.decrypt(people["居民5"].phone_enc, "resident.phone") == "13800000005"


def test_import_refuses_a_dwelling_above_its_buildings_floors(db, demo_grid):
    from civicgrid.registry import service
    from civicgrid.registry.models import Building
    from tests.registry.conftest import make_resident

    make_resident(db, demo_grid, room="1203")
    b = db.get(Building, db.scalars(select(Dwelling.building_id)).one())
    service.save_building(db, SYSTEM, {"floors": "18"}, building_id=b.id)
    too_high = make_address(db, demo_grid, room="2101")
    fits = make_address(db, demo_grid, room="1801")
    checked = importer.check(db, SYSTEM, "resident", importer.read_table(
        (HEAD + f"王五,{pid(41)},,,{too_high.full}\n赵六,{pid(42)},,,{fits.full}\n").encode()))
    assert checked.valid == 1 and len(checked.errors) == 1
    e = checked.errors[0]
    assert e["row"] == 2 and e["column"] == "现住址" and "21 层" in e["message"] and "18 层" in e["message"], e


def test_a_running_import_blocks_a_second_start_until_it_goes_silent(db, addr, tmp_path, monkeypatch):
    """A second start while an import runs is refused; an import whose process died (no progress for minutes,
    e.g. a restart) reads as interrupted and may be started again."""
    import os
    import time

    from civicgrid.config import get_settings
    from civicgrid.errors import Conflict

    monkeypatch.setenv("CIVICGRID_STORAGE_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        token = importer.save_upload(SYSTEM, "resident", "a.csv", (HEAD + f"张三,{pid(11)},,,{addr.full}\n").encode())
        importer._write_status(token, {"state": "running", "kind": "resident", "done": 0, "total": 1})
        with pytest.raises(Conflict) as e:
            importer.start(SYSTEM, token, factory=None)
        assert e.value.code == "import_running"
        old = time.time() - importer.STALE_S - 5
        os.utime(importer._status_path(token), (old, old))
        st = importer.status(SYSTEM, token)
        assert (st["state"], st["code"]) == ("failed", "import_interrupted") and "已中断" in st["message"]
    finally:
        get_settings.cache_clear()


def test_import_record_is_each_created_residents_history(db, addr):
    """One record per imported file (who, which file, what it did) instead of a history row per resident: the
    resident's page still says who created it, when, and from which file; the importer sees the record listed."""
    from civicgrid.registry import queries

    op = who(db, "village.operator")
    text = HEAD + f"张三,{pid(11)},13800000001,流动人口,{addr.full}\n李四,{pid(12)},,户籍,{addr.full}\n"
    _c, res = run(db, text, filename="四月走访.csv", actor=op, mode="valid")
    rec = db.get(RegistryImport, res["import_id"])
    assert (rec.kind, rec.filename, rec.mode, rec.actor_id, rec.total, rec.created, rec.updated) == (
        "resident", "四月走访.csv", "valid", op.user_id, 2, 2, 0) and rec.finished_at is not None
    zhang = db.scalars(select(Resident).where(Resident.name == "张三")).one()
    assert zhang.import_id == rec.id
    assert db.scalar(select(func.count()).select_from(RegistryChange)
                     .where(RegistryChange.entity == "resident")) == 0
    first = queries.detail(db, op, "resident", zhang.id)["history"][0]
    assert (first["action"], first["actor"], first["source"]) == ("import", op.display_name, "四月走访.csv")
    # re-importing updates: the update is a history entry of its own, after the import that created the person
    _c, again = run(db, text.replace("张三", "张叁"), filename="五月复核.csv", actor=op)
    hist = queries.detail(db, op, "resident", zhang.id)["history"]
    assert [h["action"] for h in hist] == ["import", "import_update"] and hist[0]["source"] == "四月走访.csv"
    assert hist[1]["changes"]["name"] == ["张三", "张叁"]
    mine = queries.imports(db, op)
    assert [(i["filename"], i["created"], i["updated"]) for i in mine] == [("五月复核.csv", 0, 2),
                                                                          ("四月走访.csv", 2, 0)]
    assert queries.imports(db, who(db, "town.dispatcher")) == []  # someone else's imports are not listed


def test_refused_import_leaves_no_record(db, addr):
    before = counts(db)
    with pytest.raises(BadInput):
        run(db, HEAD + f"张三,{pid(11)},,,{addr.full}\n李四,bad,,,{addr.full}\n")
    assert counts(db) == before


def _rows_by_blocks(table, data: bytes, size: int) -> list:
    out = []
    for first, block in importer._line_blocks(data, size):
        out.extend(importer._parse_block(*table.csv_format, first, block))
    return out


@pytest.mark.parametrize("encoding,newline", [("utf-8", "\n"), ("utf-8-sig", "\r\n"), ("gbk", "\n"),
                                              ("gb18030", "\r\n")])
def test_workers_parse_line_blocks_as_the_reader_does(encoding, newline):
    """Plain CSV (no quotes) is cut into blocks of lines that worker processes parse themselves: the same rows
    with the same line numbers as reading the file whole, blank lines skipped but counted, whatever the
    encoding and line ending, at any block size."""
    lines = ["姓名,身份证号,手机,户籍类型,现住址"] + [
        ("" if i % 7 == 3 else f"居民{i},{pid(i)},=1+{i},流动,东城街道{i}号") for i in range(40)]
    data = newline.join(lines).encode(encoding) + (newline.encode() if encoding != "gbk" else b"")
    table = importer.read_table(data)
    assert table.blocks is not None
    whole = [(n, r) for n, r, _f in table.iter_rows()]
    for size in (1, 37, 200, 10_000):
        assert [(n, r) for n, r, _f in _rows_by_blocks(table, data, size)] == whole
    assert importer.read_table('姓名,现住址\n"张,三",东城\n'.encode()).blocks is None  # quotes: read in order
