"""Registry import: CSV (UTF-8, GBK, GB18030 detected) and XLSX files with Chinese headers mapped to fields
(a guess the user may adjust), every row validated with the column and the reason in Chinese, an error
report as XLSX, all-or-nothing or valid-rows-only, and insert-or-update by ID number, USCC, facility code or
address. Residents are written in bulk (chunks of executemany) so a million-row file is practical.

File-level refusals: empty file, file over the size limit, unreadable encoding, merged cells, missing
required columns. Row-level errors: bad values, formulas, duplicates inside the file, unmatched addresses,
addresses outside the importer's scope.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import logging
import multiprocessing
import os
import re
import secrets
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import PatternFill
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicgrid import bulk, clock
from civicgrid.access.policy import Action, Actor, in_scope, require
from civicgrid.access.service import audit
from civicgrid.config import get_settings
from civicgrid.errors import BadInput, Conflict, DomainError, NotFound
from civicgrid.office import streamed_header, style_header, to_bytes
from civicgrid.registry import service
from civicgrid.registry.checks import CHECKS
from civicgrid.registry.models import Address, Dwelling, RegistryImport, Residence, Resident

Progress = Callable[[int, int], None]
log = logging.getLogger("civicgrid.registry.import")

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


class Table:
    """The rows of an uploaded file, read as a stream: `iter_rows()` yields (line, values, formula columns) one row
    at a time, so a million-row file never lives in memory as Python objects. Built by `read_table`, or from rows
    already in memory with `Table.from_rows` (demo data, tests)."""

    def __init__(self, headers: list[str], encoding: str, source: Callable[[], Iterator[Row]],
                 estimate: int = 0) -> None:
        self.headers = headers
        self.encoding = encoding
        self._source = source
        self.estimate = estimate  # about how many data rows (for progress bars; never used to decide anything)
        self.name = ""  # the file's name, for the import record
        # CSV without quotes: its lines are its rows, so worker processes may parse byte blocks themselves;
        # blocks(n) yields (first line number, bytes) of about n rows each
        self.blocks: Callable[[int], Iterator[tuple[int, bytes]]] | None = None
        self.csv_format: tuple[str, str] = ("utf-8", ",")  # codec, delimiter

    def iter_rows(self) -> Iterator[Row]:
        return self._source()

    @classmethod
    def from_rows(cls, headers: list[str], rows: list[list[Any]], lines: list[int] | None = None,
                  encoding: str = "UTF-8") -> Table:
        numbered = list(zip(lines or range(2, len(rows) + 2), rows))
        return cls(headers, encoding, lambda: ((n, r, frozenset()) for n, r in numbered), len(rows))


Row = tuple[int, list[Any], "frozenset[int] | set[int] | None"]
# line the user sees, values, formula column indexes (None: CSV text, a formula is a value starting with "=")


def _norm_header(h: Any) -> str:
    s = "".join(str(h or "").split()).replace("*", "").replace("(必填)", "").replace("(必填)", "")
    return s.replace("(", "(").replace(")", ")")


def read_table(data: bytes, filename: str = "") -> Table:
    """A streaming reader over a CSV or XLSX file; refuses empty, oversized, undecodable and merged-cell files."""
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
    table.name = Path(filename).name[:200]
    if not any(table.headers):
        raise BadInput("empty_file", "文件没有表头行", "No header row")
    if next(table.iter_rows(), None) is None:
        raise BadInput("empty_file", "文件只有表头,没有数据行", "No data rows")
    return table


def _encoding(data: bytes) -> tuple[str, str]:
    """(codec, label) of the file: UTF-8 (with or without BOM), else GBK, else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        codec, label = "utf-8-sig", "UTF-8"
    else:
        codec, label = "utf-8", "UTF-8"
    try:
        codecs.getincrementaldecoder(codec)().decode(data, final=True)  # validates without keeping the text
        return codec, label
    except UnicodeDecodeError:
        pass
    for codec, label in (("gbk", "GBK"), ("gb18030", "GB18030")):
        try:
            codecs.getincrementaldecoder(codec)().decode(data, final=True)
            return codec, label
        except UnicodeDecodeError:
            continue
    raise BadInput("bad_encoding", "无法识别文件编码:请另存为 UTF-8 或 GBK 编码的 CSV,或 XLSX",
                   "Encoding is neither UTF-8 nor GB18030")


def _read_csv(data: bytes) -> Table:
    codec, encoding = _encoding(data)
    sample = data[:8192].decode(codec, errors="ignore")
    if "\x00" in sample[:4096]:
        raise BadInput("bad_encoding", "文件不是文本 CSV(可能是 UTF-16 或二进制文件),请另存为 UTF-8 CSV 或 XLSX",
                       "NUL bytes in CSV")
    delim = max((",", "\t", ";"), key=sample[:4096].count)

    def reader() -> csv.Reader:  # type: ignore[name-defined]
        return csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding=codec, newline=""), delimiter=delim)

    headers = [str(h).strip() for h in next(reader(), [])]

    def rows() -> Iterator[Row]:
        it = reader()
        next(it, None)
        return _numbered(it, 2)

    table = Table(headers, encoding, rows, max(0, data.count(b"\n") - 1))
    if b'"' not in data and b"\n" in data:
        table.csv_format = (codec, delim)
        per_row = len(data) / max(1, table.estimate + 1)
        table.blocks = lambda rows: _line_blocks(data, max(4096, int(rows * per_row)))
    return table


def _line_blocks(data: bytes, size: int) -> Iterator[tuple[int, bytes]]:
    """(line number of the first row, bytes) of the data rows, in blocks of about `size` bytes cut after a line
    break: for files whose every line is one row (no quotes). A line break byte never occurs inside a UTF-8,
    GBK or GB18030 character."""
    pos, line = data.index(b"\n") + 1, 2
    while pos < len(data):
        end = data.find(b"\n", min(pos + size, len(data) - 1))
        end = len(data) if end < 0 else end + 1
        yield line, data[pos:end]
        line += data.count(b"\n", pos, end)
        pos = end


def _numbered(records: Iterator[list[str]], first_line: int) -> Iterator[Row]:
    """CSV records as rows: numbered as the user counts them, blank ones skipped (but counted); formula cells
    are found later by `prepare` (in a worker process for large files)."""
    return ((n, row, None) for n, row in enumerate(records, start=first_line) if any(c.strip() for c in row))


def _parse_block(codec: str, delim: str, first_line: int, block: bytes) -> list[Row]:
    """The rows of a block of CSV lines, as `_read_csv` reads them."""
    return list(_numbered(csv.reader(io.StringIO(block.decode(codec), newline=""), delimiter=delim), first_line))


_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')


def _merged_ranges(data: bytes, sheet_path: str) -> list[str]:
    """Merged ranges of a sheet, read from its XML in blocks (openpyxl's streaming mode does not report them)."""
    out: list[str] = []
    with zipfile.ZipFile(io.BytesIO(data)) as z, z.open(sheet_path) as f:
        tail = b""
        while block := f.read(1 << 20):
            buf = tail + block
            out.extend(m.decode() for m in _MERGE.findall(buf))
            tail = buf[-200:]  # a tag cut by the block boundary is found whole next time (duplicates dropped)
    return list(dict.fromkeys(out))


def _read_xlsx(data: bytes) -> Table:
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        ws = wb.worksheets[0]
        merged = _merged_ranges(data, ws._worksheet_path)  # type: ignore[union-attr]
    except Exception:
        raise BadInput("bad_file", "无法读取文件:请上传 .xlsx 或 .csv 文件", "Not a readable XLSX file") from None
    if merged:
        raise BadInput("merged_cells", f"表格含有合并单元格({'、'.join(merged[:5])}),请取消合并并在每行填写完整后再导入",
                       f"Merged cells: {merged[:5]}", extra={"ranges": merged})
    first = next(ws.iter_rows(max_row=1), ())
    headers = [str(c.value).strip() if c.value is not None else "" for c in first]
    estimate = max(0, (ws.max_row or 1) - 1)
    wb.close()

    def rows() -> Iterator[Row]:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        try:
            for n, cells in enumerate(book.worksheets[0].iter_rows(min_row=2), start=2):
                values = [getattr(c, "value", None) for c in cells]
                if all(v in (None, "") for v in values):
                    continue
                yield n, ["" if v is None else v for v in values], {
                    i for i, c in enumerate(cells) if getattr(c, "data_type", None) == "f"}
        finally:
            book.close()

    return Table(headers, "XLSX", rows, estimate)


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


ERROR_LIMIT = 100_000  # errors kept for the report; rows beyond are counted, not listed


@dataclass
class Checked:
    """What a pass over a file found: counts, the errors (first ERROR_LIMIT) and the first rows for the preview."""

    kind: str
    table: Table
    mapping: dict[str, str]
    unknown: list[str]
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"row", "column", "field", "message"}
    total: int = 0
    valid: int = 0
    error_rows: int = 0
    sample: list[list[Any]] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    import_id: int | None = None  # the import record (导入记录) once written


Prepared = tuple[int, dict[str, Any], dict[str, str]]  # line, cleaned values, {field: problem}


@dataclass(frozen=True)
class Spec:
    """What the per-row checks need (picklable, so worker processes can run them)."""

    kind: str
    col_of: dict[str, int]
    field_of_column: dict[int, str]
    today: date


def prepare(spec: Spec, chunk: list[Row]) -> list[Prepared]:
    """The row checks that need no database: values by field, formulas refused, the kind's own checks; for
    residents the personal numbers of good rows are sealed here too (the costly part, done in parallel)."""
    out: list[Prepared] = []
    run = CHECKS.get(spec.kind)
    for line, row, formulas in chunk:
        values = {f: (row[c] if c < len(row) else "") for f, c in spec.col_of.items()}
        errs: dict[str, str] = {}
        if formulas is None:
            formulas = [i for i, v in enumerate(row) if v[:1] == "="]
        for c in formulas:  # formulas are never evaluated or stored
            f = spec.field_of_column.get(c)
            if f:
                errs[f] = "单元格是公式,请改为直接填写数值"
        if spec.kind == "address":
            clean: dict[str, Any] = {"levels": values}
            for f in ("lon", "lat"):
                try:
                    clean[f] = float(values[f]) if values.get(f) not in (None, "") else None
                except (TypeError, ValueError):
                    errs[f] = f"“{values[f]}”不是数字"
        else:
            clean, e = run(values, today=spec.today)  # type: ignore[misc]
            errs.update({k: v for k, v in e.items() if k not in errs})
        out.append((line, clean, errs))
    if spec.kind == "resident":
        good = [c for _l, c, e in out if not e]
        for c, ids, phone in zip(good, service.seal_many([c["id_number"] for c in good], "resident.id_number"),
                                 service.seal_many([c.get("phone") for c in good], "resident.phone")):
            c["_sealed"] = (ids, phone)
    return out


def prepare_packed(spec: Spec, chunk: list[Row]) -> tuple[tuple[str, ...], list[Any]]:
    """`prepare` in a worker process, its result packed for the trip back: a good row's values as a tuple in one
    key order, equal values (dates above all) one object, so pickle sends each once. Unpickling a chunk of
    dicts each holding its own dates cost the importing process more than a tenth of a large import."""
    out = prepare(spec, chunk)
    keys: dict[str, None] = {}
    for _l, c, e in out:
        if not e:
            keys.update(dict.fromkeys(c))
    order = tuple(keys)
    shared: dict[Any, Any] = {}
    rows: list[Any] = []
    for line, c, e in out:
        if e:  # a bad row's partial values still take part in the checks across rows (duplicates)
            rows.append((line, c, e))
            continue
        rows.append((line, tuple(shared.setdefault(v, v) if type(v) is date else v
                                 for v in map(c.get, order)), None))
    return order, rows


def prepare_block(spec: Spec, csv_format: tuple[str, str], first_line: int, block: bytes
                  ) -> tuple[tuple[str, ...], list[Any]]:
    """A worker's whole share of a plain CSV: parse its block of lines, check, seal and pack."""
    return prepare_packed(spec, _parse_block(*csv_format, first_line, block))


def unpack(packed: tuple[tuple[str, ...], list[Any]]) -> list[Prepared]:
    """The rows `prepare_packed` sent, as `prepare` returns them."""
    order, rows = packed
    return [(line, values, e) if e else (line, dict(zip(order, values)), {}) for line, values, e in rows]


UNIQUE = {"resident": ("id_number", "id_number"), "organisation": ("uscc", "uscc"), "facility": ("code", "code"),
          "address": ("key", "road")}  # kind → (the value no two rows of a file may share, the field its error names)


class _Pass:
    """One pass over a file: checks chunk by chunk (so memory stays flat), remembering only what spans chunks:
    the keys seen (duplicates inside the file), address matches and the scope of matched addresses."""

    def __init__(self, session: Session, actor: Actor, kind: str, table: Table,
                 mapping: dict[str, str] | None) -> None:
        if kind not in FIELDS:
            raise NotFound("import kind", f"不支持的导入类型:{kind}")
        require(actor, Action.REGISTRY_IMPORT)
        self.session, self.actor, self.kind, self.table = session, actor, kind, table
        self.fields = {f: (h, req) for f, h, _a, req in FIELDS[kind]}
        mapping = {h: f for h, f in (mapping or guess_mapping(kind, table.headers)).items()
                   if f in self.fields and h in table.headers}
        dup = [f for f in set(mapping.values()) if list(mapping.values()).count(f) > 1]
        if dup:
            raise BadInput("mapping_duplicate", "多个列对应了同一字段:" + "、".join(self.fields[f][0] for f in dup),
                           f"Several columns map to {dup}")
        missing = [self.fields[f][0] for f, (_h, req) in self.fields.items() if req and f not in mapping.values()]
        if missing:
            raise BadInput("missing_columns", f"缺少必需的列:{'、'.join(missing)}(可在“列对应”中指定)",
                           f"Missing required columns: {missing}", extra={"missing": missing})
        unknown = [h for h in table.headers if h and h not in mapping and h not in REPORT_COLUMNS]
        self.result = Checked(kind, table, mapping, unknown)
        self.col_of = {f: table.headers.index(h) for h, f in mapping.items()}
        self.header_of = {f: h for h, f in mapping.items()}
        self.spec = Spec(kind, self.col_of, {i: mapping[h] for i, h in enumerate(table.headers) if h in mapping},
                         clock.today())
        self.matcher = service.matcher(session)
        self.seen: dict[str, int] = {}
        self.matches: dict[str, Any] = {}  # address text → match, this chunk and the one before (people of
        self.before: dict[str, Any] = {}  # one dwelling are usually neighbours in a file; memory stays flat)
        self.allowed: dict[int, bool] = {}  # address id → within the importer's scope
        self.floors: dict[str, Any] = {}  # building key → its registered floors
        self.scopes = actor.scope_paths(Action.REGISTRY_IMPORT)

    def chunks(self, size: int = CHUNK) -> Iterator[list[Row]]:
        chunk: list[Row] = []
        for row in self.table.iter_rows():
            if len(self.result.sample) < 20:
                self.result.sample.append(row[1])
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def error(self, line: int, f: str, msg: str) -> None:
        if len(self.result.errors) < ERROR_LIMIT:
            self.result.errors.append({"row": line, "column": self.header_of.get(f, self.fields.get(f, ("",))[0]),
                                       "field": f, "message": msg})

    def check(self, chunk: list[Row], prepared: list[Prepared] | None = None) -> list[dict[str, Any]]:
        """The chunk's good rows, cleaned; its bad rows become errors. `prepared`: the chunk's row checks already
        done (by a worker process); otherwise they run here."""
        kind, session = self.kind, self.session
        self.before, self.matches = self.matches, {}
        if prepared is None:
            prepared = prepare(self.spec, chunk)
        checked: list[tuple[int, dict[str, Any] | None, dict[str, str]]] = []
        key_field, dup_field = UNIQUE.get(kind, (None, ""))
        located, seen = kind in ("resident", "dwelling", "organisation"), self.seen
        for line, out, errs in prepared:
            if kind == "address":
                p, village, e = service.check_address(session, out["levels"])
                out["key"] = p.key()
                errs.update({k: v for k, v in e.items() if k not in errs})
                if village is not None and not in_scope(self.actor, village, Action.REGISTRY_IMPORT):
                    errs["village"] = "该村(社区)不在您的管辖范围内"
            key = out.get(key_field) if key_field else None
            if key:
                if key in seen:
                    errs.setdefault(dup_field, f"与第 {seen[key]} 行重复")
                else:
                    seen[key] = line
            if located or (kind == "facility" and out.get("address")):
                text = out.get("address") or ""
                if text and "address" not in errs:
                    mm = self.matches.get(text) or self.before.get(text)
                    if mm is None:
                        mm = self.matcher.match(text)
                    self.matches[text] = mm
                    if mm.address_id is None:
                        cands = [self.matcher.levels[a].display() for a, _ in mm.candidates[:2]]
                        errs["address"] = ("地址不能唯一确定" if mm.status == "unsure" else "地址未匹配到标准地址") + (
                            f",可能是:{'、'.join(cands)}" if cands else "")
                    else:
                        out["address_id"] = mm.address_id
                        out["_match"] = mm.status
            checked.append((line, None if errs else out, errs))
        if kind in ("resident", "dwelling"):  # a new dwelling must fit its building's floors
            at = {c["address_id"] for _l, c, _e in checked if c and c.get("address_id")}
            bad = service.floor_problems(session, {a: self.matcher.levels[a] for a in at}, self.floors)
            for n, (line, c, errs) in enumerate(checked):
                if c and c.get("address_id") in bad:
                    checked[n] = (line, None, {"address": bad[c["address_id"]]})
        self._scope(checked)
        good = []
        for line, out, errs in checked:
            self.result.total += 1
            if errs:
                self.result.error_rows += 1
                for f, msg in errs.items():
                    self.error(line, f, msg)
            else:
                assert out is not None
                good.append(out)
        self.result.valid += len(good)
        return good

    def _scope(self, checked: list[tuple[int, dict[str, Any] | None, dict[str, str]]]) -> None:
        """Rows whose address lies outside the importer's scope become errors."""
        allowed = self.allowed
        need = list({c["address_id"] for _l, c, _e in checked if c and c.get("address_id")} - allowed.keys())
        for aid, path in bulk.select_in(self.session, select(Address.id, Address.region_path), Address.id, need):
            allowed[aid] = any(path.startswith(p) for p in self.scopes)
        for n, (line, c, errs) in enumerate(checked):
            if c and c.get("address_id") and not allowed[c["address_id"]]:
                checked[n] = (line, None, {"address": "该地址不在您的管辖范围内"})


def _init_worker(keys: tuple[str, str, str]) -> None:
    """A worker process seals with the same keys as the process that started it."""
    os.environ["CIVICGRID_REGISTRY_KEYS"], os.environ["CIVICGRID_REGISTRY_HASH_KEY"], \
        os.environ["CIVICGRID_SECRET_KEY"] = keys
    get_settings.cache_clear()


def workers_for(table: Table, kind: str) -> int:
    """How many worker processes an import of this file uses (0: checks run in the importing process)."""
    s = get_settings()
    if kind != "resident" or table.estimate < s.registry_import_parallel_rows:
        return 0
    n = s.registry_import_workers
    return max(0, min(4, (os.cpu_count() or 1) - 1) if n < 0 else n)


def _stream(p: _Pass) -> Iterator[tuple[list[Row], list[Prepared] | None]]:
    """The file's chunks with their row checks: done here, or for large files by worker processes a few chunks
    ahead of the writer (the order of rows, and so every result, is the same either way)."""
    workers = workers_for(p.table, p.kind)
    if not workers:
        for chunk in p.chunks():
            yield chunk, None
        return
    s = get_settings()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=((s.registry_keys, s.registry_hash_key, s.secret_key),)) as pool:
        ahead: deque[tuple[list[Row], Future[Any]]] = deque()
        t = p.table
        if t.blocks is not None:  # the workers read the file too: the writer never parses it
            p.result.sample = [r for _n, r, _f in itertools.islice(t.iter_rows(), 20)]
            jobs: Iterator[tuple[list[Row], Callable[..., Any], tuple[Any, ...]]] = (
                ([], prepare_block, (p.spec, t.csv_format, n, b)) for n, b in t.blocks(CHUNK))
        else:
            jobs = ((c, prepare_packed, (p.spec, c)) for c in p.chunks())
        for chunk, fn, args in jobs:
            ahead.append((chunk, pool.submit(fn, *args)))
            if len(ahead) > workers + 1:
                c, f = ahead.popleft()
                yield c, unpack(f.result())
        while ahead:
            c, f = ahead.popleft()
            yield c, unpack(f.result())


def check(session: Session, actor: Actor, kind: str, table: Table, mapping: dict[str, str] | None = None,
          progress: Progress | None = None) -> Checked:
    """Validate every row without writing (the wizard's preview); file-level problems (missing columns) raise."""
    p = _Pass(session, actor, kind, table, mapping)
    for chunk, prepared in _stream(p):
        p.check(chunk, prepared)
        if progress:
            progress(p.result.total, max(table.estimate, p.result.total))
    return p.result


# ---------------------------------------------------------------------------------------------
# writing


def import_table(session: Session, actor: Actor, kind: str, table: Table, mapping: dict[str, str] | None = None,
                 *, mode: str = "all", progress: Progress | None = None) -> Checked:
    """Check and write a file in one streaming pass, chunk by chunk.

    mode 'all' writes nothing unless every row is valid: chunks are written as they pass, in a savepoint that is
    rolled back (the registry exactly as it was) and the import refused with every error once a bad row shows;
    mode 'valid' writes the good rows and reports the bad ones."""
    if mode not in ("all", "valid"):
        raise BadInput("bad_mode", "导入方式应为“全部成功才导入”或“只导入正确的行”", "mode must be all or valid")
    p = _Pass(session, actor, kind, table, mapping)
    r = p.result
    try:
        with session.begin_nested():
            record = RegistryImport(kind=kind, filename=table.name, mode=mode, actor_id=actor.user_id or None,
                                    actor_name=actor.display_name, started_at=clock.now())
            session.add(record)
            session.flush()
            r.import_id = record.id
            for chunk, prepared in _stream(p):
                good = p.check(chunk, prepared)
                if mode == "valid" or not r.error_rows:
                    if kind == "resident":
                        c, u = _write_residents(session, actor, good, record.id)
                    else:
                        c, u = _write_each(session, actor, kind, good)
                    r.created += c
                    r.updated += u
                if progress:
                    progress(r.total, max(table.estimate, r.total))
            if r.error_rows and mode == "all":
                raise BadInput("import_invalid", f"{KIND_LABELS[kind]}导入未执行:{r.error_rows} 行有错误,"
                               "请下载错误报告修正后重试", "Import refused: rows with errors; nothing was written",
                               extra={"errors": r.errors[:500], "error_rows": r.error_rows})
            record.total, record.created, record.updated, record.error_rows = r.total, r.created, r.updated, \
                r.error_rows
            record.finished_at = clock.now()
    except BaseException:
        service.forget_caches(session)  # addresses or buildings made in the rolled-back savepoint are gone
        raise
    audit(session, actor, "registry.import", kind, None, summary(r))
    return r


def summary(r: Checked) -> dict[str, Any]:
    """What an import did, for the page, the API and the audit log."""
    return {"created": r.created, "updated": r.updated, "skipped": r.error_rows, "error_rows": r.error_rows,
            "import_id": r.import_id}


def commit(session: Session, actor: Actor, checked: Checked, *, mode: str = "all",
           progress: Progress | None = None) -> dict[str, Any]:
    """Write a file that `check` has seen (checked again while writing, so nothing changed in between slips in)."""
    return summary(import_table(session, actor, checked.kind, checked.table, checked.mapping, mode=mode,
                                progress=progress))


def _write_each(session: Session, actor: Actor, kind: str, rows: list[dict[str, Any]]) -> tuple[int, int]:
    created = updated = 0
    for r in rows:
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
    return created, updated


RESIDENT_COLUMNS = ("id", "name", "id_enc", "id_hash", "id_masked", "phone_enc", "phone_hash", "phone_masked",
                    "birth_date", "sex", "origin_code", "household", "dwelling_id", "grid_id", "region_path",
                    "import_id", "created_at", "updated_at")


def _write_residents(session: Session, actor: Actor, rows: list[dict[str, Any]], import_id: int | None
                     ) -> tuple[int, int]:
    """One chunk: new residents (with their residences; their history is the import record they point to)
    written in bulk through the driver; residents already registered (same ID number) updated (a history entry
    each), and moved when their dwelling changed."""
    if not rows:
        return 0, 0
    now = clock.now()
    sealed = [(r, *r["_sealed"]) for r in rows]
    existing = dict(bulk.select_in(session, select(Resident.id_hash, Resident.id), Resident.id_hash,
                                   [s[1][1] for s in sealed]))
    uses = {r["address_id"]: ("rented" if r["household"] == "floating" else "owner_occupied") for r in rows}
    dwell, place = service.dwellings_for(session, actor, uses)
    updated = 0
    new = []
    for r, ids, phone in sealed:
        if ids[1] in existing:
            _update_resident(session, actor, existing[ids[1]], r, dwell[r["address_id"]])
            updated += 1
        else:
            new.append((r, ids, phone))
    if new:
        session.flush()
        keys = bulk.reserve_ids(session, Resident.__table__, len(new))  # their residences refer to them
        people, stays = [], []
        for k, (r, (id_enc, id_hash, id_mask), (ph_enc, ph_hash, ph_mask)) in enumerate(new):
            d = dwell[r["address_id"]]
            grid_id, path = place[r["address_id"]]
            people.append((keys[k], r["name"], id_enc, id_hash, id_mask, ph_enc, ph_hash, ph_mask, r["birth_date"],
                           r["sex"], r["origin_code"], r["household"], d, grid_id, path, import_id, now, now))
            stays.append((keys[k], d, r["relation"], r["moved_in"]))
        bulk.insert_rows(session, Resident.__table__, RESIDENT_COLUMNS, people)
        bulk.insert_rows(session, Residence.__table__, ("resident_id", "dwelling_id", "relation", "moved_in"), stays)
    return len(new), updated


def _update_resident(session: Session, actor: Actor, resident_id: int, r: dict[str, Any], dwelling_id: int) -> None:
    service.update_resident(session, actor, resident_id, {"name": r["name"], "phone": r.get("phone") or None,
                                                          "household": r["household"]}, action="import_update")
    res = session.get(Resident, resident_id)
    if res is not None and res.dwelling_id != dwelling_id:
        service._move(session, actor, res, session.get(Dwelling, dwelling_id),  # type: ignore[arg-type]
                      r["relation"], max(r["moved_in"], _last_move_in(session, res.id)))


def _last_move_in(session: Session, resident_id: int) -> date:
    return session.scalar(select(Residence.moved_in).where(Residence.resident_id == resident_id)
                          .order_by(Residence.moved_in.desc()).limit(1)) or date.min


# ---------------------------------------------------------------------------------------------
# reports, templates and the upload store the wizard uses between its steps


def error_report(checked: Checked) -> bytes:
    """The rows with errors, as uploaded, plus their row number and what is wrong: fix and re-import this file."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("错误报告")
    headers = [h for h in checked.table.headers if h not in REPORT_COLUMNS]
    by_row: dict[int, list[dict[str, Any]]] = {}
    for e in checked.errors:
        by_row.setdefault(e["row"], []).append(e)
    streamed_header(ws, [*headers, *REPORT_COLUMNS], [16] * len(headers) + [8, 60])
    red = PatternFill("solid", fgColor="FECACA")
    idx = {h: i for i, h in enumerate(checked.table.headers)}
    for line, row, _f in checked.table.iter_rows():
        errs = by_row.get(line)
        if not errs:
            continue
        bad = {e["column"] for e in errs}
        cells = []
        for h in headers:
            c = WriteOnlyCell(ws, _safe(row[idx[h]]) if idx[h] < len(row) else "")
            if h in bad:
                c.fill = red
            cells.append(c)
        ws.append([*cells, line, ";".join(f"{e['column']}:{e['message']}" for e in errs)])
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
            "total": checked.total, "valid": checked.valid, "error_rows": checked.error_rows,
            "errors": checked.errors[:200], "sample": [[str(v) for v in r] for r in checked.sample[:limit]]}


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
    """Step 4: import the kept file (checked again while it is written)."""
    kind, filename, data = load_upload(actor, token)
    r = import_table(session, actor, kind, read_table(data, filename), mapping or None, mode=mode, progress=progress)
    return {"kind": kind, **summary(r)}


def import_file(session: Session, actor: Actor, kind: str, filename: str, data: bytes, *, mode: str = "all",
                mapping: dict[str, str] | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """One step (API, scripts): check and import a file."""
    r = import_table(session, actor, kind, read_table(data, filename), mapping, mode=mode, progress=progress)
    return {"kind": kind, **summary(r)}


# ---------------------------------------------------------------------------------------------
# imports from the page run in the background: the page polls their progress


STALE_S = 300  # a running import writes its progress at least every chunk; silence this long means it died


def _status_path(token: str) -> Path:
    return _store() / f"{token}.status.json"


def _write_status(token: str, status: dict[str, Any]) -> None:
    tmp = _status_path(token).with_suffix(".tmp")
    tmp.write_text(json.dumps(status, ensure_ascii=False))
    tmp.replace(_status_path(token))  # readers never see half a file


def start(actor: Actor, token: str, *, factory: Any, mapping: dict[str, str] | None = None,
          mode: str = "all") -> dict[str, Any]:
    """Start importing a kept file in a background thread with its own transaction; returns its first status.

    The file is checked again while it is written; progress (rows done of about how many) is kept beside the
    upload so any web worker can answer the page's polling; a second start while one runs is refused."""
    require(actor, Action.REGISTRY_IMPORT)
    if mode not in ("all", "valid"):
        raise BadInput("bad_mode", "导入方式应为“全部成功才导入”或“只导入正确的行”", "mode must be all or valid")
    kind, filename, data = load_upload(actor, token)
    current = status(actor, token)
    if current.get("state") == "running":
        raise Conflict("import_running", "该文件正在导入,请等待完成", "This file is already being imported")
    first = {"state": "running", "kind": kind, "filename": filename, "done": 0,
             "total": read_table(data, filename).estimate, "mode": mode, "mapping": mapping or {},
             "started_at": clock.now().isoformat()}
    _write_status(token, first)
    threading.Thread(target=_job, args=(actor, token, mapping, mode, factory, first), daemon=True,
                     name=f"civicgrid-import-{token[:6]}").start()
    return first


def _job(actor: Actor, token: str, mapping: dict[str, str] | None, mode: str, factory: Any,
         st: dict[str, Any]) -> None:
    from civicgrid.db import unit_of_work

    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or done >= total:
            last[0] = now
            _write_status(token, {**st, "done": done, "total": total})

    try:
        # write-locked from the start on SQLite: a read snapshot taken before the starting request committed
        # could not be upgraded to a write, and the import failed with "database is locked"
        with unit_of_work(factory, writes=True) as session:
            result = run(session, actor, token, mapping=mapping, mode=mode, progress=progress)
        _write_status(token, {**st, "state": "done", "done": st["total"], "result": result,
                              "finished_at": clock.now().isoformat()})
    except DomainError as exc:
        _write_status(token, {**st, "state": "failed", "code": exc.code, "message": exc.message_zh,
                              "error_rows": exc.extra.get("error_rows", 0), "finished_at": clock.now().isoformat()})
    except Exception:  # the log has the trace; the page says what the user can do
        log.exception("registry import failed")
        _write_status(token, {**st, "state": "failed", "code": "internal_error",
                              "message": "导入时发生内部错误,未写入任何数据,请联系管理员", "error_rows": 0,
                              "finished_at": clock.now().isoformat()})


def status(actor: Actor, token: str) -> dict[str, Any]:
    """The state of the kept file's import: {} before any, then running (done/total), done (result) or failed."""
    load_upload(actor, token)  # only the uploader may ask
    p = _status_path(token)
    if not p.exists():
        return {}
    st = json.loads(p.read_text())
    if st.get("state") == "running" and time.time() - p.stat().st_mtime > STALE_S:
        # no progress for minutes: the process running it has gone (a restart); its transaction rolled back
        st.update(state="failed", code="import_interrupted", error_rows=0,
                  message="导入已中断(服务曾重启),请重新开始导入")
    if st.get("total"):
        st["percent"] = min(100, round(100 * st["done"] / st["total"]))
    return st
