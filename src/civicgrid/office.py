"""What every XLSX civicgrid writes shares: a header row offices recognise, column widths, the bytes."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

HEADER_FILL = PatternFill("solid", fgColor="1E3A8A")


def style_header(ws: Worksheet, row: int, widths: list[int]) -> None:
    """Bold white-on-blue headers in `row`, centred and wrapped, and the columns' widths."""
    for i, width in enumerate(widths, start=1):
        cell = ws.cell(row=row, column=i)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(i)].width = width


def to_bytes(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rate_formula(num: str, den: str) -> str:
    """An Excel rate over two cells that says 无数据 (never 0%) when the denominator is zero."""
    return f'=IF({den}=0,"无数据",{num}/{den})'
