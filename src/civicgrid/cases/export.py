"""A filtered case list as the files an office expects: XLSX (formatted, frozen header, filters) and CSV
(UTF-8 with a byte-order mark, so Excel opens Chinese correctly)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from civicgrid import clock
from civicgrid.office import style_header, to_bytes

MAX_ROWS = 100_000
COLUMNS: list[tuple[str, str, int]] = [
    ("事件编号", "number", 18), ("标题", "title", 28), ("状态", "state_label", 10), ("来源", "source_label", 12),
    ("分类", "category_name", 16), ("分类编码", "category", 10), ("紧急程度", "urgency_label", 8),
    ("当前层级", "level_label", 14), ("承办中心", "holder", 18), ("处置部门", "department", 22),
    ("网格", "grid", 20), ("地址", "address", 28), ("上报时间", "reported_at", 18), ("当前期限", "due_at", 18),
    ("亮灯", "light_label", 8), ("督办", "supervision_label", 10), ("结案时间", "closed_at", 18),
    ("满意度", "satisfaction_label", 10),
]
SATISFACTION_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
TIMES = ("reported_at", "due_at", "closed_at")


def _value(item: dict[str, Any], field: str) -> Any:
    if field == "satisfaction_label":
        return SATISFACTION_LABELS.get(item.get("satisfaction") or "", "")
    v = item.get(field)
    if field in TIMES and v:
        return datetime.fromisoformat(v).astimezone(clock.CHINA_TZ).replace(tzinfo=None)
    return "" if v is None else v


def to_xlsx(items: list[dict[str, Any]], title: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "事件清单"
    ws.append([title])
    ws.append([f"导出时间:{clock.now().astimezone(clock.CHINA_TZ):%Y-%m-%d %H:%M},共 {len(items)} 件"])
    ws.append([h for h, _, _ in COLUMNS])
    for it in items:
        ws.append([_value(it, f) for _, f, _ in COLUMNS])
    ws["A1"].font = Font(bold=True, size=14)
    style_header(ws, 3, [w for _, _, w in COLUMNS])
    for i, (_, field, _) in enumerate(COLUMNS, start=1):
        if field in TIMES:
            for row in ws.iter_rows(min_row=4, min_col=i, max_col=i):
                row[0].number_format = "yyyy-mm-dd hh:mm"
    ws.freeze_panes = "B4"
    ws.auto_filter.ref = f"A3:{get_column_letter(len(COLUMNS))}{max(3, ws.max_row)}"
    return to_bytes(wb)


def to_csv(items: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([h for h, _, _ in COLUMNS])
    for it in items:
        row = []
        for _, f, _ in COLUMNS:
            v = _value(it, f)
            row.append(v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else v)
        w.writerow(row)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
