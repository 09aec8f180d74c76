"""Registry import: CSV (UTF-8, GBK, GB18030 detected) and XLSX files with Chinese headers mapped to fields
(a guess the user may adjust), every row validated with the column and the reason in Chinese, an error
report as XLSX, all-or-nothing or valid-rows-only, and insert-or-update by ID number, USCC, facility code or
address. Residents are written in bulk (chunks of executemany) so a million-row file is practical.

File-level refusals: empty file, file over the size limit, unreadable encoding, merged cells, missing
required columns. Row-level errors: bad values, formulas, duplicates inside the file, unmatched addresses,
addresses outside the importer's scope.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import PatternFill
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.policy import Action, Actor, in_scope, require
from civicgrid.access.service import audit
from civicgrid.config import get_settings
from civicgrid.errors import BadInput, NotFound
from civicgrid.office import style_header, to_bytes
from civicgrid.registry import service
from civicgrid.registry.checks import CHECKS
from civicgrid.registry.models import Address, Dwelling, RegistryChange, Residence, Resident

Progress = Callable[[int, int], None]

# kind → [(field, header, aliases, required)]
FIELDS: dict[str, list[tuple[str, str, tuple[str, ...], bool]]] = {
    "resident": [("name", "姓名", ("名字",), True),
                 ("id_number", "公民身份号码", ("身份证号", "身份证号码", "证件号码", "身份证"), True),
                 ("phone", "联系电话", ("电话", "手机", "手机号", "手机号码", "联系方式"), False),
                 ("household", "户籍类型", ("人口类型", "户籍/流动", "类型"), False),
                 ("address", "居住地址", ("现住址", "地址", "住址", "居住地"), True),
                 ("relation", "与房屋关系", ("关系",), False),
                 ("moved_in", "入住日期", ("入住时间", "居住起始日期"), False)],
    "dwelling": [("address", "房屋地址", ("地址",), True), ("use", "房屋用途", ("用途",), False),
                 ("structure", "结构", ("房屋结构",), False), ("floors", "层数", ("总层数",), False),
                 ("area_m2", "面积", ("建筑面积", "面积(平方米)"), False), ("owner_name", "房主姓名", ("房主", "业主"), False),
                 ("owner_phone", "房主电话", ("业主电话",), False),
                 ("inspection_status", "检查状态", ("出租屋检查状态",), False),
                 ("inspected_on", "检查日期", (), False)],
    "organisation": [("name", "单位名称", ("名称", "企业名称"), True),
                     ("uscc", "统一社会信用代码", ("信用代码", "社会信用代码"), False),
                     ("kind", "单位类型", ("类型",), False), ("address", "单位地址", ("地址", "经营地址"), True),
                     ("person_in_charge", "负责人", ("法定代表人", "法人"), False),
                     ("staff_count", "从业人数", ("员工人数", "人数"), False),
                     ("safety_contact", "安全联系人", (), False), ("safety_phone", "安全联系电话", (), False)],
    "facility": [("code", "设施编码", ("编码", "编号"), True), ("name", "设施名称", ("名称",), False),
                 ("kind", "设施类型", ("类型",), True), ("status", "状态", ("设施状态",), False),
                 ("lon", "经度", (), False), ("lat", "纬度", (), False), ("address", "地址", (), False),
                 ("owner_department", "权属部门", (), False), ("maintainer_department", "维护部门", (), False)],
    "address": [("town", "镇街", ("镇", "街道"), True), ("village", "村(社区)", ("社区", "村", "村社区"), True),
                ("road", "街路巷", ("路", "道路"), False), ("house_no", "门牌号", ("门牌",), False),
                ("compound", "小区", (), False), ("building", "楼栋", ("栋",), False), ("unit", "单元", (), False),
                ("floor", "楼层", (), False), ("room", "户室", ("房号", "室"), False), ("lon", "经度", (), False),
                ("lat", "纬度", (), False)],
}
KIND_LABELS = {"resident": "实有人口", "dwelling": "实有房屋", "organisation": "实有单位", "facility": "实有设施",
               "address": "标准地址"}
REPORT_COLUMNS = ("原行号", "错误说明")  # columns our error report adds; ignored when it is re-imported
CHUNK = 5000


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]  # data rows, values as read
    line_numbers: list[int]  # the row number the user sees in the file for each data row
    encoding: str
    formula_cells: dict[int, set[int]] = field(default_factory=dict)  # data row index → column indexes


def _norm_header(h: Any) -> str:
    s = "".join(str(h or "").split()).replace("*", "").replace("(必填)", "").replace("(必填)", "")
    return s.replace("(", "(").replace(")", ")")


def read_table(data: bytes, filename: str = "") -> Table:
    """Rows of a CSV or XLSX file; refuses empty, oversized, undecodable and merged-cell files."""
    limit = get_settings().registry_import_max_mb * 1024 * 1024
    if len(data) > limit:
        raise BadInput("file_too_large", f"文件超过 {get_settings().registry_import_max_mb:g} MB,请拆分后分批导入",
                       f"File larger than the limit of {limit:.0f} bytes")
    if not data.strip():
        raise BadInput("empty_file", "文件是空的", "Empty file")
    if data[:2] == b"PK" or filename.lower().endswith(".xlsx"):
        table = _read_xlsx(data)
    else:
        table = _read_csv(data)
    if not any(table.headers):
        raise BadInput("empty_file", "文件没有表头行", "No header row")
    if not table.rows:
        raise BadInput("empty_file", "文件只有表头,没有数据行", "No data rows")
    return table


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "UTF-8"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
        try:
            data.decode("gbk")
            return text, "GBK"
        except UnicodeDecodeError:
            return text, "GB18030"
    except UnicodeDecodeError:
        raise BadInput("bad_encoding", "无法识别文件编码:请另存为 UTF-8 或 GBK 编码的 CSV,或 XLSX",
                       "Encoding is neither UTF-8 nor GB18030") from None


def _read_csv(data: bytes) -> Table:
    text, encoding = _decode(data)
    if "\x00" in text[:4096]:
        raise BadInput("bad_encoding", "文件不是文本 CSV(可能是 UTF-16 或二进制文件),请另存为 UTF-8 CSV 或 XLSX",
                       "NUL bytes in CSV")
    sample = text[:4096]
    delim = max((",", "\t", ";"), key=sample.count)
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    headers = [str(h).strip() for h in next(reader, [])]
    rows, lines, formulas = [], [], {}
    for n, row in enumerate(reader, start=2):
        if not any(c.strip() for c in row):
            continue
        f = {i for i, c in enumerate(row) if c.startswith("=")}
        if f:
            formulas[len(rows)] = f
        rows.append(row)
        lines.append(n)
    return Table(headers, rows, lines, encoding, formulas)


def _read_xlsx(data: bytes) -> Table:
    try:
        wb = load_workbook(io.BytesIO(data), data_only=False)
    except Exception:
        raise BadInput("bad_file", "无法读取文件:请上传 .xlsx 或 .csv 文件", "Not a readable XLSX file") from None
    ws = wb.worksheets[0]
    merged = [str(r) for r in ws.merged_cells.ranges]
    if merged:
        raise BadInput("merged_cells", f"表格含有合并单元格({'、'.join(merged[:5])}),请取消合并并在每行填写完整后再导入",
                       f"Merged cells: {merged[:5]}", extra={"ranges": merged})
    it = ws.iter_rows()
    header_cells = next(it, ())
    headers = [str(c.value).strip() if c.value is not None else "" for c in header_cells]
    rows, lines, formulas = [], [], {}
    for cells in it:
        values = [c.value for c in cells]
        if all(v in (None, "") for v in values):
            continue
        f = {i for i, c in enumerate(cells) if c.data_type == "f"}
        if f:
            formulas[len(rows)] = f
        rows.append(["" if v is None else v for v in values])
        lines.append(cells[0].row)
    return Table(headers, rows, lines, "XLSX", formulas)


def guess_mapping(kind: str, headers: list[str]) -> dict[str, str]:
    """header → field for the headers we recognise (exact names first, then aliases)."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for exact in (True, False):
        for h in headers:
            nh = _norm_header(h)
            if h in out or not nh:
                continue
            for f, header, aliases, _req in FIELDS[kind]:
                if f in taken:
                    continue
                if nh == _norm_header(header) if exact else nh in {_norm_header(a) for a in aliases}:
                    out[h] = f
                    taken.add(f)
                    break
    return out


@dataclass
class Checked:
    kind: str
    table: Table
    mapping: dict[str, str]
    unknown: list[str]
    clean: list[dict[str, Any] | None]  # None for rows with errors
    errors: list[dict[str, Any]]  # {"row", "column", "field", "message"}

    @property
    def valid(self) -> int:
        return sum(1 for c in self.clean if c is not None)


def check(session: Session, actor: Actor, kind: str, table: Table, mapping: dict[str, str] | None = None,
          progress: Progress | None = None) -> Checked:
    """Validate every row; file-level problems (missing columns) raise, row problems are listed."""
    if kind not in FIELDS:
        raise NotFound("import kind", f"不支持的导入类型:{kind}")
    require(actor, Action.REGISTRY_IMPORT)
    fields = {f: (h, req) for f, h, _a, req in FIELDS[kind]}
    mapping = {h: f for h, f in (mapping or guess_mapping(kind, table.headers)).items()
               if f in fields and h in table.headers}
    dup = [f for f in set(mapping.values()) if list(mapping.values()).count(f) > 1]
    if dup:
        raise BadInput("mapping_duplicate", "多个列对应了同一字段:" + "、".join(fields[f][0] for f in dup),
                       f"Several columns map to {dup}")
    missing = [fields[f][0] for f, (_h, req) in fields.items() if req and f not in mapping.values()]
    if missing:
        raise BadInput("missing_columns", f"缺少必需的列:{'、'.join(missing)}(可在“列对应”中指定)",
                       f"Missing required columns: {missing}", extra={"missing": missing})
    unknown = [h for h in table.headers if h and h not in mapping and h not in REPORT_COLUMNS]
    col_of = {f: table.headers.index(h) for h, f in mapping.items()}
    header_of = {f: h for h, f in mapping.items()}
    today = clock.today()
    run = CHECKS.get(kind)
    m = service.matcher(session)
    seen: dict[str, int] = {}
    matches: dict[str, Any] = {}  # address text → match (people of one dwelling share it)
    clean: list[dict[str, Any] | None] = []
    errors: list[dict[str, Any]] = []
    total = len(table.rows)
    for i, row in enumerate(table.rows):
        line = table.line_numbers[i]
        values = {f: (row[c] if c < len(row) else "") for f, c in col_of.items()}
        errs: dict[str, str] = {}
        for c in table.formula_cells.get(i, ()):  # formulas are never evaluated or stored
            f = mapping.get(table.headers[c] if c < len(table.headers) else "")
            if f:
                errs[f] = "单元格是公式,请改为直接填写数值"
        if kind == "address":
            p, village, e = service.check_address(session, values)
            out: dict[str, Any] = {"levels": values, "key": p.key()}
            errs.update({k: v for k, v in e.items() if k not in errs})
            for f in ("lon", "lat"):
                try:
                    out[f] = float(values[f]) if values.get(f) not in (None, "") else None
                except (TypeError, ValueError):
                    errs[f] = f"“{values[f]}”不是数字"
            if village is not None and not in_scope(actor, village, Action.REGISTRY_IMPORT):
                errs["village"] = "该村(社区)不在您的管辖范围内"
        else:
            out, e = run(values, today=today)  # type: ignore[misc]
            errs.update({k: v for k, v in e.items() if k not in errs})
        key = {"resident": out.get("id_number"), "organisation": out.get("uscc"), "facility": out.get("code"),
               "address": out.get("key"), "dwelling": None}[kind]
        if key:
            if key in seen:
                f = {"resident": "id_number", "organisation": "uscc", "facility": "code", "address": "road"}[kind]
                errs.setdefault(f, f"与第 {seen[key]} 行重复")
            else:
                seen[key] = line
        if kind in ("resident", "dwelling", "organisation") or (kind == "facility" and out.get("address")):
            text = out.get("address") or ""
            if text and "address" not in errs:
                mm = matches.get(text)
                if mm is None:
                    mm = matches[text] = m.match(text)
                if mm.address_id is None:
                    cands = [m.levels[a].display() for a, _ in mm.candidates[:2]]
                    errs["address"] = ("地址不能唯一确定" if mm.status == "unsure" else "地址未匹配到标准地址") + (
                        f",可能是:{'、'.join(cands)}" if cands else "")
                else:
                    out["address_id"] = mm.address_id
                    out["_match"] = mm.status
        if errs:
            for f, msg in errs.items():
                errors.append({"row": line, "column": header_of.get(f, fields.get(f, ("",))[0]), "field": f,
                               "message": msg})
            clean.append(None)
        else:
            clean.append(out)
        if progress and (i % 1000 == 0 or i == total - 1):
            progress(i + 1, total)
    _check_scope(session, actor, clean, errors, table, header_of)
    return Checked(kind, table, mapping, unknown, clean, errors)


def _check_scope(session: Session, actor: Actor, clean: list[dict[str, Any] | None], errors: list[dict[str, Any]],
                 table: Table, header_of: dict[str, str]) -> None:
    """Rows whose address lies outside the importer's scope become errors."""
    ids = {c["address_id"] for c in clean if c and c.get("address_id")}
    if not ids:
        return
    paths: dict[int, str] = {}
    id_list = list(ids)
    for k in range(0, len(id_list), 900):
        paths.update(session.execute(select(Address.id, Address.region_path)
                                     .where(Address.id.in_(id_list[k:k + 900]))).all())
    scopes = actor.scope_paths(Action.REGISTRY_IMPORT)
    for i, c in enumerate(clean):
        if c and c.get("address_id") and not any(paths[c["address_id"]].startswith(p) for p in scopes):
            errors.append({"row": table.line_numbers[i], "column": header_of.get("address", "地址"),
                           "field": "address", "message": "该地址不在您的管辖范围内"})
            clean[i] = None


# ---------------------------------------------------------------------------------------------
# writing


def commit(session: Session, actor: Actor, checked: Checked, *, mode: str = "all",
           progress: Progress | None = None) -> dict[str, Any]:
    """Write the checked rows: mode 'all' refuses the whole file if any row is bad; 'valid' writes the good ones.

    Writes run in a savepoint, so a failure part-way leaves the registry exactly as it was."""
    if mode not in ("all", "valid"):
        raise BadInput("bad_mode", "导入方式应为“全部成功才导入”或“只导入正确的行”", "mode must be all or valid")
    kind = checked.kind
    if checked.errors and mode == "all":
        raise BadInput("import_invalid", f"{KIND_LABELS[kind]}导入未执行:{len({e['row'] for e in checked.errors})} "
                       f"行有错误,请下载错误报告修正后重试", "Import refused: rows with errors; nothing was written",
                       extra={"errors": checked.errors[:500], "error_rows": len({e['row'] for e in checked.errors})})
    rows = [c for c in checked.clean if c is not None]
    with session.begin_nested():
        if kind == "resident":
            created, updated = _write_residents(session, actor, rows, progress)
        else:
            created, updated = _write_each(session, actor, kind, rows, progress)
    result = {"created": created, "updated": updated, "skipped": len(checked.clean) - len(rows),
              "error_rows": len({e["row"] for e in checked.errors})}
    audit(session, actor, "registry.import", kind, None, result)
    return result


def _write_each(session: Session, actor: Actor, kind: str, rows: list[dict[str, Any]],
                progress: Progress | None) -> tuple[int, int]:
    created = updated = 0
    for n, r in enumerate(rows):
        if kind == "address":
            _a, new = service.ensure_address(session, actor, r["levels"], lon=r.get("lon"), lat=r.get("lat"))
        elif kind == "dwelling":
            existing = session.scalars(select(Dwelling.id).where(Dwelling.address_id == r["address_id"])).first()
            service.save_dwelling(session, actor, r, dwelling_id=existing)
            new = existing is None
        elif kind == "organisation":
            from civicgrid.registry.models import Organisation

            same = (Organisation.uscc == r["uscc"]) if r.get("uscc") else (
                (Organisation.name == r["name"]) & (Organisation.address_id == r["address_id"]))
            existing = session.scalars(select(Organisation.id).where(same)).first()
            service.save_organisation(session, actor, r, organisation_id=existing)
            new = existing is None
        else:
            from civicgrid.registry.models import Facility

            existing = session.scalars(select(Facility.id).where(Facility.code == r["code"])).first()
            service.save_facility(session, actor, r, facility_id=existing)
            new = existing is None
        created += new
        updated += not new
        if progress and (n % 500 == 0 or n == len(rows) - 1):
            progress(n + 1, len(rows))
    return created, updated


def _write_residents(session: Session, actor: Actor, rows: list[dict[str, Any]],
                     progress: Progress | None) -> tuple[int, int]:
    """Bulk insert new residents (with their dwellings and residences), update existing ones by ID number."""
    created = updated = 0
    now = clock.now()
    for k in range(0, len(rows), CHUNK):
        chunk = rows[k:k + CHUNK]
        sealed = []
        for r in chunk:
            id_enc, id_hash, id_mask = service.seal(r["id_number"], "resident.id_number")
            ph = service.seal(r.get("phone"), "resident.phone")
            sealed.append((r, id_enc, id_hash, id_mask, ph))
        hashes = [s[2] for s in sealed]
        existing = dict(session.execute(select(Resident.id_hash, Resident.id)
                                        .where(Resident.id_hash.in_(hashes))).all())
        addr_ids = list({r["address_id"] for r in chunk})
        addrs = {a.id: a for a in session.scalars(select(Address).where(Address.id.in_(addr_ids)))}
        dwell = dict(session.execute(select(Dwelling.address_id, Dwelling.id)
                                     .where(Dwelling.address_id.in_(addr_ids))).all())
        missing = [a for a in addr_ids if a not in dwell]
        if missing:
            uses = {r["address_id"]: ("rented" if r["household"] == "floating" else "owner_occupied") for r in chunk}
            session.execute(insert(Dwelling.__table__), [
                {"address_id": a, "use": uses[a], "structure": "other", "grid_id": addrs[a].grid_id,
                 "region_path": addrs[a].region_path, "owner_name": "", "owner_phone_masked": "",
                 "building_id": service.building_of(session, actor, addrs[a]),
                 "inspection_status": "not_inspected", "created_at": now, "updated_at": now} for a in missing])
            dwell.update(session.execute(select(Dwelling.address_id, Dwelling.id)
                                         .where(Dwelling.address_id.in_(missing))).all())
        new_rows, res_rows = [], []
        for r, id_enc, id_hash, id_mask, (ph_enc, ph_hash, ph_mask) in sealed:
            if id_hash in existing:
                service.update_resident(session, actor, existing[id_hash],
                                        {"name": r["name"], "phone": r.get("phone") or None,
                                         "household": r["household"]})
                res = session.get(Resident, existing[id_hash])
                if res is not None and res.dwelling_id != dwell[r["address_id"]]:
                    service._move(session, actor, res, session.get(Dwelling, dwell[r["address_id"]]),  # type: ignore[arg-type]
                                  r["relation"], max(r["moved_in"], _last_move_in(session, res.id)))
                updated += 1
                continue
            a = addrs[r["address_id"]]
            new_rows.append({"name": r["name"], "id_enc": id_enc, "id_hash": id_hash, "id_masked": id_mask,
                             "phone_enc": ph_enc, "phone_hash": ph_hash, "phone_masked": ph_mask,
                             "birth_date": r["birth_date"], "sex": r["sex"], "origin_code": r["origin_code"],
                             "household": r["household"], "dwelling_id": dwell[a.id], "grid_id": a.grid_id,
                             "region_path": a.region_path, "created_at": now, "updated_at": now})
            res_rows.append((dwell[a.id], r["relation"], r["moved_in"]))
        if new_rows:
            # plain executemany (RETURNING over many rows is slow to splice), then the ids by their unique hash
            session.execute(insert(Resident.__table__), new_rows)
            by_hash = dict(session.execute(select(Resident.id_hash, Resident.id).where(
                Resident.id_hash.in_([r["id_hash"] for r in new_rows]))).all())
            ids = [by_hash[r["id_hash"]] for r in new_rows]
            session.execute(insert(Residence.__table__), [{"resident_id": rid, "dwelling_id": d, "relation": rel,
                                                 "moved_in": mi} for rid, (d, rel, mi) in zip(ids, res_rows)])
            session.execute(insert(RegistryChange.__table__), [
                {"entity": "resident", "entity_id": rid, "at": now, "actor_id": actor.user_id or None,
                 "actor_name": actor.display_name, "action": "import", "changes": {}} for rid in ids])
            created += len(ids)
        if progress:
            progress(min(k + CHUNK, len(rows)), len(rows))
    return created, updated


def _last_move_in(session: Session, resident_id: int) -> date:
    return session.scalar(select(Residence.moved_in).where(Residence.resident_id == resident_id)
                          .order_by(Residence.moved_in.desc()).limit(1)) or date.min


# ---------------------------------------------------------------------------------------------
# reports, templates and the upload store the wizard uses between its steps


def error_report(checked: Checked) -> bytes:
    """The rows with errors, as uploaded, plus their row number and what is wrong: fix and re-import this file."""
    wb = Workbook()
    ws = wb.active
    ws.title = "错误报告"
    headers = [h for h in checked.table.headers if h not in REPORT_COLUMNS]
    ws.append([*headers, *REPORT_COLUMNS])
    by_row: dict[int, list[dict[str, Any]]] = {}
    for e in checked.errors:
        by_row.setdefault(e["row"], []).append(e)
    red = PatternFill("solid", fgColor="FECACA")
    idx = {h: i for i, h in enumerate(checked.table.headers)}
    for i, row in enumerate(checked.table.rows):
        line = checked.table.line_numbers[i]
        if line not in by_row:
            continue
        values = [_safe(row[idx[h]]) if idx[h] < len(row) else "" for h in headers]
        ws.append([*values, line, ";".join(f"{e['column']}:{e['message']}" for e in by_row[line])])
        for e in by_row[line]:
            if e["column"] in headers:
                ws.cell(row=ws.max_row, column=headers.index(e["column"]) + 1).fill = red
    style_header(ws, 1, [16] * len(headers) + [8, 60])
    ws.freeze_panes = "A2"
    return to_bytes(wb)


def _safe(v: Any) -> Any:
    """Text that a spreadsheet would run as a formula is written as plain text."""
    return "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") and not v[1:2].isdigit() else v


def template(kind: str) -> bytes:
    """An empty XLSX with the standard headers of a kind (required ones marked *)."""
    wb = Workbook()
    ws = wb.active
    ws.title = KIND_LABELS[kind]
    ws.append([h + ("*" if req else "") for _f, h, _a, req in FIELDS[kind]])
    style_header(ws, 1, [16] * len(FIELDS[kind]))
    return to_bytes(wb)


def _store() -> Path:
    p = Path(get_settings().storage_dir) / "registry-imports"
    p.mkdir(parents=True, exist_ok=True)
    return p


def save_upload(actor: Actor, kind: str, filename: str, data: bytes) -> str:
    """Keep an uploaded file between the wizard's steps; returns its token (only its uploader may use it)."""
    read_table(data, filename)  # refuse unreadable files at once
    token = secrets.token_urlsafe(16)
    (_store() / f"{token}.bin").write_bytes(data)
    (_store() / f"{token}.json").write_text(json.dumps({"user_id": actor.user_id, "kind": kind,
                                                        "filename": filename}))
    return token


def load_upload(actor: Actor, token: str) -> tuple[str, str, bytes]:
    meta_path = _store() / f"{token}.json"
    if not token.replace("-", "").replace("_", "").isalnum() or not meta_path.exists():
        raise NotFound("upload", "上传的文件已过期,请重新上传")
    meta = json.loads(meta_path.read_text())
    if meta["user_id"] != actor.user_id:
        raise NotFound("upload", "上传的文件已过期,请重新上传")
    return meta["kind"], meta["filename"], (_store() / f"{token}.bin").read_bytes()


def preview(checked: Checked, limit: int = 20) -> dict[str, Any]:
    """What the wizard shows: encoding, the mapping, ignored columns, counts, first rows and first errors."""
    labels = {f: h for f, h, _a, _r in FIELDS[checked.kind]}
    return {"kind": checked.kind, "encoding": checked.table.encoding, "headers": checked.table.headers,
            "mapping": checked.mapping, "fields": labels, "unknown_headers": checked.unknown,
            "total": len(checked.table.rows), "valid": checked.valid,
            "error_rows": len({e["row"] for e in checked.errors}), "errors": checked.errors[:200],
            "sample": [[str(v) for v in r] for r in checked.table.rows[:limit]]}


# ---------------------------------------------------------------------------------------------
# the wizard's steps (API and pages call these)


def upload(session: Session, actor: Actor, kind: str, filename: str, data: bytes) -> dict[str, Any]:
    """Step 1: keep the file and check it with the guessed mapping; returns a token and the preview."""
    require(actor, Action.REGISTRY_IMPORT)
    if kind not in FIELDS:
        raise NotFound("import kind", f"不支持的导入类型:{kind}")
    token = save_upload(actor, kind, filename, data)
    return {"token": token, "filename": filename, **preview(check(session, actor, kind, read_table(data, filename)))}


def recheck(session: Session, actor: Actor, token: str, mapping: dict[str, str] | None = None) -> dict[str, Any]:
    """Step 2: check the kept file again with the user's mapping."""
    kind, filename, data = load_upload(actor, token)
    return {"token": token, "filename": filename,
            **preview(check(session, actor, kind, read_table(data, filename), mapping or None))}


def report_for(session: Session, actor: Actor, token: str, mapping: dict[str, str] | None = None) -> bytes:
    """Step 3: the error report of the kept file."""
    kind, filename, data = load_upload(actor, token)
    return error_report(check(session, actor, kind, read_table(data, filename), mapping or None))


def run(session: Session, actor: Actor, token: str, *, mapping: dict[str, str] | None = None, mode: str = "all",
        progress: Progress | None = None) -> dict[str, Any]:
    """Step 4: import the kept file."""
    kind, filename, data = load_upload(actor, token)
    checked = check(session, actor, kind, read_table(data, filename), mapping or None, progress)
    return {"kind": kind, **commit(session, actor, checked, mode=mode, progress=progress)}


def import_file(session: Session, actor: Actor, kind: str, filename: str, data: bytes, *, mode: str = "all",
                mapping: dict[str, str] | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """One step (CLI, API): check and import a file."""
    checked = check(session, actor, kind, read_table(data, filename), mapping, progress)
    return {"kind": kind, **commit(session, actor, checked, mode=mode, progress=progress)}
