"""The matter catalogue as an Excel workbook an office edits: Chinese headers and values, one row per node.

Round trip: export → edit in Excel/WPS → import. Reading turns Chinese labels back into codes and reports
every unreadable cell by row and column; the rules themselves are checked by service.import_catalogue.
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicgrid.access.models import DEPARTMENT_KINDS
from civicgrid.access.policy import Action, Actor, require
from civicgrid.errors import BadInput
from civicgrid.office import style_header, to_bytes
from civicgrid.matters.models import STEPS, MatterCategory
from civicgrid.matters.service import KIND_LABELS, LEVEL_LABELS, STEP_LABELS, URGENCY_LABELS

MODE_LABELS = {"working": "工作时", "natural": "自然时"}
YES, NO = "是", "否"

# (header, field, width)
COLUMNS: list[tuple[str, str, int]] = [
    ("编码", "code", 10), ("名称", "name", 22), ("层级", "level", 8), ("类型", "kind", 12), ("上级编码", "parent_code", 10),
    ("立案标准", "filing_standard", 40), ("结案标准", "closing_standard", 40),
    ("镇街主责部门", "lead_town", 14), ("市级主责部门", "lead_city", 14), ("时限单位", "hours_mode", 10),
    *[(f"{URGENCY_LABELS[u]}-{STEP_LABELS[s]}(小时)", f"tl_{u}_{s}", 12) for u in ("normal", "urgent") for s in STEPS],
    ("村级可自行处置", "village_may_close", 14), ("超期自动上报", "escalate_on_overdue", 14),
    ("市民可选", "public", 10), ("启用", "active", 8),
]
BOOL_FIELDS = ("village_may_close", "escalate_on_overdue", "public", "active")


def _inverse(d: dict[str, str]) -> dict[str, str]:
    return {v: k for k, v in d.items()} | {k: k for k in d}


def export_catalogue(session: Session, actor: Actor) -> bytes:
    """The whole catalogue (retired nodes included) as XLSX bytes."""
    require(actor, Action.MATTER_VIEW)
    rows = list(session.scalars(select(MatterCategory).order_by(MatterCategory.code)))
    codes = {c.id: c.code for c in rows}
    wb = Workbook()
    ws = wb.active
    ws.title = "事项清单"
    ws.append([h for h, _, _ in COLUMNS])
    for c in rows:
        leads = c.lead_departments or {}
        values: dict[str, Any] = {
            "code": c.code, "name": c.name, "level": LEVEL_LABELS[c.level], "kind": KIND_LABELS[c.kind],
            "parent_code": codes.get(c.parent_id or 0, ""), "filing_standard": c.filing_standard,
            "closing_standard": c.closing_standard,
            "lead_town": DEPARTMENT_KINDS.get(leads.get("town") or "", leads.get("town") or ""),
            "lead_city": DEPARTMENT_KINDS.get(leads.get("city") or "", leads.get("city") or ""),
            "hours_mode": MODE_LABELS.get(c.hours_mode, c.hours_mode) if c.is_leaf_level else "",
            **{f: (YES if getattr(c, f) else NO) for f in BOOL_FIELDS},
        }
        for u in ("normal", "urgent"):
            for s in STEPS:
                values[f"tl_{u}_{s}"] = (c.time_limits or {}).get(u, {}).get(s)
        if not c.is_leaf_level:
            for f in ("village_may_close", "escalate_on_overdue", "public"):
                values[f] = ""
        ws.append([values.get(f) for _, f, _ in COLUMNS])
    style_header(ws, 1, [w for _, _, w in COLUMNS])
    ws.freeze_panes = "C2"
    ws.auto_filter.ref = ws.dimensions
    n = max(ws.max_row, 2)
    lists = {"level": list(LEVEL_LABELS.values()), "kind": list(KIND_LABELS.values()),
             "hours_mode": list(MODE_LABELS.values()), **{f: [YES, NO] for f in BOOL_FIELDS}}
    for i, (_, field, _) in enumerate(COLUMNS, start=1):
        if field in lists:
            dv = DataValidation(type="list", formula1='"' + ",".join(lists[field]) + '"', allow_blank=True)
            ws.add_data_validation(dv)
            dv.add(f"{get_column_letter(i)}2:{get_column_letter(i)}{n + 500}")
    notes = wb.create_sheet("说明")
    for line in ("本表为事项清单。示例数据(标注“示例数据”)请按本市规定修改后导入。",
                 "层级:类型 > 大类 > 小类 > 细类;小类和细类须填写时限、时限单位和至少一个主责部门。",
                 "主责部门填写部门类别:" + "、".join(DEPARTMENT_KINDS.values()) + "。",
                 "导入时任何一行有错误,整个文件都不会写入,并逐行列出错误。",
                 "修改规则只影响此后新上报的事件;已上报的事件按其上报时的规则办理。"):
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    return to_bytes(wb)


def read_catalogue(data: bytes) -> list[dict[str, Any]]:
    """Rows for import_catalogue from an XLSX file; unreadable cells are reported per row and column."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise BadInput("bad_file", "无法读取文件:请上传 .xlsx 格式的事项清单", "Not a readable XLSX file") from None
    ws = wb["事项清单"] if "事项清单" in wb.sheetnames else wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(it, ())]
    by_header = {h: f for h, f, _ in COLUMNS}
    missing = [h for h, f, _ in COLUMNS if h not in header and f in ("code", "name", "level", "kind")]
    if missing:
        raise BadInput("missing_columns", f"缺少必需的列:{'、'.join(missing)}", f"Missing columns: {missing}")
    index = {by_header[h]: i for i, h in enumerate(header) if h in by_header}
    levels, kinds, modes = _inverse(LEVEL_LABELS), _inverse(KIND_LABELS), _inverse(MODE_LABELS)
    depts = _inverse(DEPARTMENT_KINDS)
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for r, values in enumerate(it, start=2):
        if values is None or all(v in (None, "") for v in values):
            continue

        def cell(field: str) -> Any:
            i = index.get(field)
            v = values[i] if i is not None and i < len(values) else None
            return v.strip() if isinstance(v, str) else v

        errs: list[str] = []
        row: dict[str, Any] = {"code": str(cell("code") or "").strip(), "name": str(cell("name") or "").strip(),
                               "sheet_row": r}
        for field, table, header_zh in (("level", levels, "层级"), ("kind", kinds, "类型")):
            v = cell(field)
            if v not in table:
                errs.append(f"{header_zh}“{v or ''}”无效")
            else:
                row[field] = table[v]
        row["parent_code"] = str(cell("parent_code") or "").strip() or None
        for f in ("filing_standard", "closing_standard"):
            row[f] = str(cell(f) or "")
        for f in BOOL_FIELDS:
            v = cell(f)
            if v in (None, ""):
                continue
            if v not in (YES, NO, True, False):
                errs.append(f"{[h for h, ff, _ in COLUMNS if ff == f][0]} 应为“是”或“否”")
            else:
                row[f] = v in (YES, True)
        if row.get("level") in ("subclass", "detail"):
            mode = cell("hours_mode") or "工作时"
            if mode not in modes:
                errs.append(f"时限单位“{mode}”无效(工作时/自然时)")
            else:
                row["hours_mode"] = modes[mode]
            leads = {}
            for lv, field in (("town", "lead_town"), ("city", "lead_city")):
                v = cell(field)
                if v in (None, ""):
                    continue
                if v not in depts:
                    errs.append(f"主责部门“{v}”不存在")
                else:
                    leads[lv] = depts[v]
            row["lead_departments"] = leads
            limits: dict[str, dict[str, float]] = {}
            for u in ("normal", "urgent"):
                for s in STEPS:
                    v = cell(f"tl_{u}_{s}")
                    if v in (None, ""):
                        continue
                    try:
                        limits.setdefault(u, {})[s] = float(v)
                    except (TypeError, ValueError):
                        errs.append(f"{URGENCY_LABELS[u]}-{STEP_LABELS[s]} 时限“{v}”不是数字")
            row["time_limits"] = limits
        if errs:
            errors.append({"row": r, "code": row["code"], "errors": errs})
        rows.append(row)
    if errors:
        raise BadInput("import_invalid", f"事项清单导入未执行:{len(errors)} 行有错误,请修正后重试",
                       f"Catalogue import refused: {len(errors)} bad row(s); nothing was written",
                       extra={"errors": errors})
    return rows
