"""Bulletins (通报): a monthly XLSX workbook and DOCX report for a region, from the aggregates.

`generate()` computes the figures once (`figures()`), writes both files into storage under bulletins/ and
records them; the scheduler makes the city's and every town's bulletin for the month just ended.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import date
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.policy import Action, Actor, in_scope, require
from civicgrid.analytics import charts, kpis, periods, rankings, service
from civicgrid.analytics.models import Bulletin
from civicgrid.cases.service import storage
from civicgrid.errors import BadInput, NotFound
from civicgrid.geo.models import Region
from civicgrid.office import rate_formula, style_header, to_bytes

log = logging.getLogger("civicgrid.bulletins")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CHILD_UNIT = {"city": "town", "district": "town", "town": "village"}
# the columns of every per-cut sheet: raw counts, then rates as formulas over them
CUT_COUNTS = ["reported", "accepted", "due", "closed", "closed_on_time", "reworked", "supervised", "overdue_open"]
CUT_RATES = ["closure_rate", "on_time_closure_rate", "rework_rate"]


# ---------------------------------------------------------------------------------------------
# figures


def figures(session: Session, actor: Actor, region: str | None, month: str, preset: str) -> dict[str, Any]:
    if not re.fullmatch(r"\d{4}-\d{1,2}", month or ""):
        raise BadInput("invalid_month", "月份格式应为 YYYY-MM,如 2026-10", f"month must be YYYY-MM, got {month!r}",
                       extra={"field": "month"})
    p = periods.parse("month", month)
    if p.end >= clock.today():
        raise BadInput("month_not_over", f"{p.label}尚未结束,不能生成月度通报", f"{month} has not ended yet",
                       extra={"field": "month"})
    cfg = rankings.preset(preset, session)
    cut = service.resolve_cut(session, actor, p, region=region)
    unit = CHILD_UNIT.get(cut.region.level)
    out: dict[str, Any] = {"region": cut.region, "period": p, "preset": cfg, "kpis": service.kpi_table(session, cut),
                           "unit": unit, "unit_label": rankings.UNITS.get(unit or "", "")}
    out["cuts"] = {}
    if unit:
        out["cuts"][f"按{rankings.UNITS[unit]}"] = service.breakdown(session, cut, unit, CUT_RATES, extra_measures=tuple(CUT_COUNTS))
    out["cuts"]["按部门"] = [r for r in service.breakdown(session, cut, "department", CUT_RATES, extra_measures=tuple(CUT_COUNTS))]
    out["cuts"]["按分类"] = service.breakdown(session, cut, "category", CUT_RATES, extra_measures=tuple(CUT_COUNTS))
    out["cuts"]["按来源"] = service.breakdown(session, cut, "source", CUT_RATES, extra_measures=tuple(CUT_COUNTS))
    out["ranking"] = rankings.ranking(session, actor, cut, unit, cfg) if unit else None
    out["dept_ranking"] = rankings.ranking(session, actor, cut, "department", cfg)
    return out


def _kv(fig: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["key"]: k for k in fig["kpis"]["kpis"]}


# ---------------------------------------------------------------------------------------------
# XLSX


def make_xlsx(fig: dict[str, Any]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "总览"
    region, p = fig["region"], fig["period"]
    ws["A1"] = f"{region.name}{p.label}网格化服务管理考核数据"
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells("A1:E1")
    ws.append([])
    ws.append(["指标", "本期", "上期", "去年同期", "口径"])
    style_header(ws, 3, [26, 14, 14, 14, 48])
    kv = _kv(fig)
    defs = kpis.definitions(fig["preset"].kpi_config())
    row_of: dict[str, int] = {}
    for key in kpis.COUNTS:
        k = kv[key]
        ws.append([k["label"], k["value"], k["previous"], k["year_before"], "原始计数"])
        row_of[key] = ws.max_row
    for key in ("closure_rate", "on_time_closure_rate", "late_closure_rate", "dispatch_accuracy",
                "on_time_handling_rate", "rework_rate", "extension_rate", "supervision_rate", "response_rate",
                "resolution_rate", "satisfaction_rate", "gw_valid_rate", "verification_on_time_rate",
                "missed_report_rate", "separation_compliance"):
        k = defs[key]
        cells = [k.label]
        for col in "BCD":
            num = "+".join(f"{col}{row_of[m]}" if w == 1 else f"{w:g}*{col}{row_of[m]}" for m, w in k.numerator.items())
            den = f"{col}{row_of[k.denominator]}"
            cells.append(f'=IF(N({den})=0,"无数据",({num})/{den})')
        ws.append(cells + [k.formula])
        for col in "BCD":
            ws[f"{col}{ws.max_row}"].number_format = "0.00%"
    for key in kpis.STEPS:
        k = kv[f"avg_hours_{key}"]
        ws.append([k["label"] + "(小时)", k["value"], k["previous"], k["year_before"], k["formula"]])
        for col in "BCD":
            ws[f"{col}{ws.max_row}"].number_format = "0.0"
    for r in ws.iter_rows(min_row=4, max_col=4, min_col=2):
        for c in r:
            if c.value is None:
                c.value = "无数据"
                c.alignment = Alignment(horizontal="right")
    ws.freeze_panes = "B4"
    for title, rows in fig["cuts"].items():
        _cut_sheet(wb, title, rows)
    if fig["ranking"]:
        _ranking_sheet(wb, f"{fig['unit_label']}排名", fig["ranking"])
    _ranking_sheet(wb, "部门排名", fig["dept_ranking"])
    return to_bytes(wb)


def _cut_sheet(wb: Workbook, title: str, rows: list[dict[str, Any]]) -> None:
    ws = wb.create_sheet(title)
    heads = ["名称"] + [kpis.COUNTS[m] for m in CUT_COUNTS] + ["结案率", "按期结案率", "返工率"]
    ws.append(heads)
    style_header(ws, 1, [30] + [11] * len(CUT_COUNTS) + [12, 12, 12])
    col = {m: get_column_letter(i + 2) for i, m in enumerate(CUT_COUNTS)}
    for r in rows:
        ws.append([r["name"]] + [int(r["measures"][m]) for m in CUT_COUNTS])
        _rate_cells(ws, ws.max_row, col)
    if rows:
        n = ws.max_row
        ws.append(["合计"] + [f"=SUM({col[m]}2:{col[m]}{n})" for m in CUT_COUNTS])
        for c in ws[ws.max_row]:
            c.font = Font(bold=True)
        _rate_cells(ws, ws.max_row, col)
    else:
        ws.append(["本期无数据"])
    ws.freeze_panes = "B2"


def _rate_cells(ws, row: int, col: dict[str, str]) -> None:
    base = len(CUT_COUNTS) + 2
    for i, (num, den) in enumerate((("closed", "due"), ("closed_on_time", "due"), ("reworked", "accepted"))):
        c = ws.cell(row=row, column=base + i,
                    value=rate_formula(f"{col[num]}{row}", f"{col[den]}{row}"))
        c.number_format = "0.00%"
        c.alignment = Alignment(horizontal="right")


def _ranking_sheet(wb: Workbook, title: str, r: dict[str, Any]) -> None:
    ws = wb.create_sheet(title)
    cols = r["columns"]
    ws.append(["名次", "名称", kpis.COUNTS[r["config"]["volume_measure"]]] + [c["label"] for c in cols]
              + ["综合得分", "备注"])
    style_header(ws, 1, [8, 30, 12] + [14] * len(cols) + [12, 26])
    for e in r["ranked"] + r["apart"]:
        note = "末位" if e["bottom"] else e.get("reason", "")
        ws.append([e["rank"] if e["rank"] is not None else "—", e["name"], e["volume"]]
                  + [e["values"][c["key"]] if e["values"][c["key"]] is not None else "无数据" for c in cols]
                  + [e["score"] if e["score"] is not None else "—", note])
        for i in range(len(cols)):
            ws.cell(row=ws.max_row, column=4 + i).number_format = "0.00%"
        ws.cell(row=ws.max_row, column=4 + len(cols)).number_format = "0.00"
    terms = ";".join(f"{_label(t['kpi'])}{'(取 1−值)' if t['invert'] else ''}×{t['weight']:g}"
                     for t in r["config"]["terms"])
    ws.append([])
    ws.append([f"计分方法({r['config']['label']}):{terms};{kpis.COUNTS[r['config']['volume_measure']]}"
               f"少于 {r['config']['min_volume']} 的单位单列、不参与排名。"])
    ws.append([rankings.status_text(r)])
    ws.freeze_panes = "C2"


def _label(key: str) -> str:
    return kpis.definitions()[key].label


# ---------------------------------------------------------------------------------------------
# DOCX


def _pct(v: float | None) -> str:
    return "无数据" if v is None else f"{v * 100:.2f}%"


def _trend(k: dict[str, Any]) -> str:
    if k["mom"] is None:
        return ""
    pts = k["mom"] * 100
    if abs(pts) < 0.005:
        return "(与上月持平)"
    return f"(环比{'上升' if pts > 0 else '下降'} {abs(pts):.2f} 个百分点)"


def summary_paragraphs(fig: dict[str, Any]) -> list[str]:
    """The bulletin's prose, generated from the figures."""
    kv = _kv(fig)
    region, p = fig["region"], fig["period"]
    if fig["kpis"]["empty"]:
        return [f"{p.label},{region.name}无上报事件,本期无考核数据。"]
    v = lambda key: kv[key]["value"] or 0  # noqa: E731
    out = [f"{p.label},{region.name}共受理各类事件 {v('reported'):,.0f} 件,立案 {v('accepted'):,.0f} 件,"
           f"作废 {v('voided'):,.0f} 件;应结案 {v('due'):,.0f} 件,已结案 {v('closed'):,.0f} 件,"
           f"结案率 {_pct(kv['closure_rate']['value'])}{_trend(kv['closure_rate'])};按期结案 "
           f"{v('closed_on_time'):,.0f} 件,按期结案率 {_pct(kv['on_time_closure_rate']['value'])}"
           f"{_trend(kv['on_time_closure_rate'])}。"]
    out.append(f"处置过程中,派遣准确率 {_pct(kv['dispatch_accuracy']['value'])},返工 {v('reworked'):,.0f} 件"
               f"(返工率 {_pct(kv['rework_rate']['value'])}),延期 {v('extended'):,.0f} 件,督办 "
               f"{v('supervised'):,.0f} 件;目前超期未结 {v('overdue_open'):,.0f} 件。网格员上报 "
               f"{v('gw_reports'):,.0f} 件,有效上报率 {_pct(kv['gw_valid_rate']['value'])};回访 "
               f"{v('followed'):,.0f} 件,满意率 {_pct(kv['satisfaction_rate']['value'])}。")
    return out


def _set_font(run, size: float, bold: bool = False, east: str = "宋体", color: RGBColor | None = None) -> None:
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.name = east
    run._element.rPr.rFonts.set(qn("w:eastAsia"), east)
    if color is not None:
        run.font.color.rgb = color


def _para(doc, text: str, size: float = 14, bold: bool = False, align=None, indent: bool = True,
          east: str = "仿宋", color: RGBColor | None = None):
    para = doc.add_paragraph()
    if align is not None:
        para.alignment = align
    if indent:
        para.paragraph_format.first_line_indent = Pt(size * 2)
    para.paragraph_format.line_spacing = 1.4
    _set_font(para.add_run(text), size, bold, east, color)
    return para


def _table(doc, heads: list[str], rows: list[list[str]], widths: list[float], flagged: set[int] = frozenset()):
    t = doc.add_table(rows=1, cols=len(heads))
    t.style = "Table Grid"
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    t.autofit = False
    for i, h in enumerate(heads):
        cell = t.rows[0].cells[i]
        cell.text = ""
        _set_font(cell.paragraphs[0].add_run(h), 9.5, True, "黑体")
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    for ri, r in enumerate(rows):
        cells = t.add_row().cells
        for i, v in enumerate(r):
            cells[i].text = ""
            _set_font(cells[i].paragraphs[0].add_run(v), 9.5, False, "宋体",
                      RGBColor(0xB9, 0x1C, 0x1C) if ri in flagged else None)
            cells[i].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER if i != 1 else WD_ALIGN_PARAGRAPH.LEFT
    for i, w in enumerate(widths):
        t.columns[i].width = Cm(w)
        for cell in t.columns[i].cells:
            cell.width = Cm(w)
    doc.add_paragraph()  # air between a table and the next heading
    return t


def _ranking_rows(r: dict[str, Any]) -> tuple[list[str], list[list[str]], set[int], list[float]]:
    cols = r["columns"]
    heads = ["名次", "单位", kpis.COUNTS[r["config"]["volume_measure"]]] + [c["label"] for c in cols] + ["得分"]
    rows, flagged = [], set()
    for i, e in enumerate(r["ranked"]):
        rows.append([str(e["rank"]), e["name"], str(e["volume"])] + [_pct(e["values"][c["key"]]) for c in cols]
                    + [f"{e['score']:.2f}"])
        if e["bottom"]:
            flagged.add(i)
    widths = [1.2, 3.6, 1.5] + [round(8.0 / max(1, len(cols)), 2)] * len(cols) + [1.7]
    return heads, rows, flagged, widths


def make_docx(fig: dict[str, Any], issued: date | None = None) -> bytes:
    region, p = fig["region"], fig["period"]
    issued = issued or clock.today()
    doc = Document()
    sec = doc.sections[0]
    sec.page_height, sec.page_width = Cm(29.7), Cm(21.0)
    sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin = Cm(3.0), Cm(2.5), Cm(2.6), Cm(2.4)
    _para(doc, f"{region.name}网格化服务管理", 22, True, WD_ALIGN_PARAGRAPH.CENTER, False, "黑体",
          RGBColor(0xC0, 0x00, 0x00))
    _para(doc, f"{p.label}考核通报", 22, True, WD_ALIGN_PARAGRAPH.CENTER, False, "黑体", RGBColor(0xC0, 0x00, 0x00))
    _para(doc, f"{region.name}网格化服务管理指挥中心　　　　{issued.year}年{issued.month}月{issued.day}日", 12,
          False, WD_ALIGN_PARAGRAPH.CENTER, False, "仿宋")
    _para(doc, "—" * 24, 12, False, WD_ALIGN_PARAGRAPH.CENTER, False, "宋体", RGBColor(0xC0, 0x00, 0x00))
    _para(doc, f"现将{p.label}{region.name}网格化服务管理事件办理情况及考核结果通报如下:", 14)
    _para(doc, "一、总体情况", 14, True, indent=True, east="黑体")
    for text in summary_paragraphs(fig):
        _para(doc, text, 14)
    n = 2
    chinese = "一二三四五六七八"
    r = fig["ranking"]
    if r is not None:
        _para(doc, f"{chinese[n - 1]}、各{fig['unit_label']}考核排名", 14, True, east="黑体")
        n += 1
        cfg = r["config"]
        terms = "、".join(f"{_label(t['kpi'])}{'(反向)' if t['invert'] else ''}占 {t['weight']:g} 分"
                         for t in cfg["terms"])
        _para(doc, f"按“{cfg['label']}”计分:{terms};{kpis.COUNTS[cfg['volume_measure']]}少于 "
                   f"{cfg['min_volume']} 件的单位单列、不参与排名。{rankings.status_text(r)}", 14)
        if r["ranked"]:
            first = r["ranked"][0]
            _para(doc, f"本期排名第一的是{first['name']}(得分 {first['score']:.2f})。", 14)
            heads, rows, flagged, widths = _ranking_rows(r)
            _table(doc, heads, rows, widths, flagged)
            png = charts.bar_chart(f"{p.label}各{fig['unit_label']}综合得分",
                                   [(e["name"], e["score"], e["bottom"]) for e in r["ranked"]], "分", 100)
            doc.add_picture(io.BytesIO(png), width=Cm(15.5))
            doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
            _para(doc, f"图:{p.label}各{fig['unit_label']}综合得分(红色为末位)", 10.5, False,
                  WD_ALIGN_PARAGRAPH.CENTER, False, "宋体")
        else:
            _para(doc, "本期没有达到最低案件量的单位,不作排名。", 14)
        if r["apart"]:
            names = "、".join(e["name"] for e in r["apart"][:12]) + ("等" if len(r["apart"]) > 12 else "")
            _para(doc, f"以下单位案件量不足或无案件,单列不排名:{names}。", 14)
    d = fig["dept_ranking"]
    if d["ranked"]:
        _para(doc, f"{chinese[n - 1]}、职能部门处置情况", 14, True, east="黑体")
        n += 1
        heads, rows, flagged, widths = _ranking_rows(d)
        _table(doc, heads, rows[:15], widths, {i for i in flagged if i < 15})
    _para(doc, f"{chinese[n - 1]}、存在问题及工作要求", 14, True, east="黑体")
    bottoms = [e["name"] for e in (r["ranked"] if r else []) if e["bottom"]] + \
        [e["name"] for e in d["ranked"] if e["bottom"]]
    kv = _kv(fig)
    if bottoms:
        _para(doc, f"{'、'.join(bottoms)}本期排名靠后。请上述单位认真分析原因,于下月 10 日前将整改情况报送"
                   f"{region.name}网格化服务管理指挥中心。", 14)
    if (kv["overdue_open"]["value"] or 0) > 0:
        _para(doc, f"截至通报之日,仍有 {kv['overdue_open']['value']:,.0f} 件事件超期未结,各责任单位要加快办理,"
                   "逾期未办结的将纳入督办。", 14)
    _para(doc, "附件:考核数据表(XLSX)", 14)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# generating, listing, downloading


def generate(session: Session, actor: Actor, region: str | None, month: str, preset: str = "digital_urban",
             scheduled: bool = False) -> Bulletin:
    require(actor, Action.BULLETIN_MANAGE)
    fig = figures(session, actor, region, month, preset)
    r, p = fig["region"], fig["period"]
    xlsx, docx = make_xlsx(fig), make_docx(fig)
    stamp = clock.now().strftime("%Y%m%d%H%M%S")
    base = f"bulletins/{r.code}/{p.value}/{stamp}"
    store = storage()
    store.put(f"{base}.xlsx", xlsx)
    store.put(f"{base}.docx", docx)
    b = Bulletin(region_id=r.id, region_path=r.path, period_start=p.start, period_end=p.end,
                 title=f"{r.name}{p.label}考核通报", xlsx_key=f"{base}.xlsx", docx_key=f"{base}.docx",
                 scheduled=scheduled, created_at=clock.now(), created_by=actor.user_id or None)
    session.add(b)
    session.flush()
    return b


def summary(b: Bulletin) -> dict[str, Any]:
    return {"id": b.id, "title": b.title, "period_start": b.period_start.isoformat(),
            "period_end": b.period_end.isoformat(), "scheduled": b.scheduled, "created_at": b.created_at.isoformat(),
            "xlsx": f"/api/v1/analytics/bulletins/{b.id}.xlsx", "docx": f"/api/v1/analytics/bulletins/{b.id}.docx"}


def list_bulletins(session: Session, actor: Actor) -> list[dict[str, Any]]:
    require(actor, Action.ANALYTICS_VIEW)
    rows = session.scalars(select(Bulletin).order_by(Bulletin.period_start.desc(), Bulletin.id.desc())).all()
    return [summary(b) for b in rows if in_scope(actor, b.region_path, Action.ANALYTICS_VIEW)]


def download(session: Session, actor: Actor, bulletin_id: int, fmt: str) -> tuple[bytes, str, str]:
    b = session.get(Bulletin, bulletin_id)
    if b is None or fmt not in ("xlsx", "docx"):
        raise NotFound("bulletin", "通报不存在")
    region = session.get(Region, b.region_id)
    require(actor, Action.ANALYTICS_VIEW, region)
    from urllib.parse import quote

    data = storage().get(b.xlsx_key if fmt == "xlsx" else b.docx_key)
    name = quote(f"{b.title}.{fmt}")
    return data, XLSX_MIME if fmt == "xlsx" else DOCX_MIME, name


def monthly_due(session: Session) -> dict[str, int]:
    """The scheduled job: the city's and every town's bulletin for the month just ended, once each."""
    from civicgrid.access.service import SYSTEM

    today = clock.today()
    last = periods.parse("month", service.default_value("month"))
    made: list[Bulletin] = []
    city = session.scalars(select(Region).where(Region.parent_id.is_(None))).first()
    if city is None or service.first_day(session) is None:
        return {"bulletins": 0}
    targets = [city] + list(session.scalars(select(Region).where(Region.level == "town", Region.valid_to.is_(None))))
    for r in targets:
        exists = session.scalars(select(Bulletin.id).where(Bulletin.region_id == r.id,
                                                           Bulletin.period_start == last.start,
                                                           Bulletin.scheduled.is_(True))).first()
        if exists:
            continue
        try:
            with session.begin_nested():
                made.append(generate(session, SYSTEM, r.code, last.value, scheduled=True))
        except BadInput as e:  # e.g. a month before any data: nothing to report
            log.info("no bulletin", extra={"region": r.code, "reason": e.code})
    return {"bulletins": len(made)}
