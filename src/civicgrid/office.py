"""What every XLSX civicgrid writes shares: a header row offices recognise, column widths, the bytes."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

HEADER_FILL = PatternFill("solid", fgColor="1E3A8A")
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)


def style_header(ws: Worksheet, row: int, widths: list[int]) -> None:
    """Bold white-on-blue headers in `row`, centred and wrapped, and the columns' widths."""
    for i, width in enumerate(widths, start=1):
        cell = ws.cell(row=row, column=i)
        cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGN
        ws.column_dimensions[get_column_letter(i)].width = width


def streamed_header(ws: Any, values: list[Any], widths: list[int]) -> None:
    """The same header as style_header, as the first row of a write-only (streamed) sheet, with a frozen pane."""
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    cells = []
    for v in values:
        c = WriteOnlyCell(ws, v)
        c.font, c.fill, c.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGN
        cells.append(c)
    ws.append(cells)


def to_bytes(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
