"""HTML routes of assessment: the region dashboard (and publishing its ranking), the grid-worker table, the
ranking configurations, the wall screen (大屏) and the bulletins page."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from civicgrid.access.policy import Action, Actor, can
from civicgrid.analytics import bulletins, dashboard, kpis, periods, rankings, service, workers
from civicgrid.analytics.api import xlsx_response
from civicgrid.analytics.schemas import CutParams
from civicgrid.errors import BadInput, Conflict
from civicgrid.web.deps import current_actor, get_db, render

router = APIRouter(include_in_schema=False)
DB = Depends(get_db, scope="function")
ACTOR = Depends(current_actor)
CUT = Depends(CutParams)


@router.get("/assess")
def region_page(request: Request, kpi: str | None = None, preset: str = "digital_urban", published: str = "",
                cut: CutParams = CUT, db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "assess/region.html",
                  {**dashboard.context(db, actor, cut, kpi, preset), "just_published": bool(published)})


@router.post("/assess/rankings/publish")
def ranking_publish(unit: str = Form(...), preset: str = Form("digital_urban"), region: str = Form(""),
                    period: str = Form("month"), value: str = Form(""), date_from: str = Form(""),
                    date_to: str = Form(""), db: Session = DB, actor: Actor = ACTOR) -> Response:
    params = CutParams(period=period, value=value or None, date_from=_day(date_from), date_to=_day(date_to),
                       region=region or None, department=None, category=None, source=None, urgency=None)
    rankings.publish(db, actor, service.cut_from(db, actor, params), unit, rankings.preset(preset, db))
    q = dashboard.cut_query(params, preset=preset, published="1")
    return RedirectResponse("/assess?" + urlencode(q) + "#ranking", status_code=303)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise BadInput("invalid_date", f"日期格式应为 YYYY-MM-DD:{text}", f"Bad date {text!r}") from None


@router.get("/assess/workers")
def workers_page(request: Request, sort: str = "gw_reports", desc: bool = True, page: int = 1,
                 cut: CutParams = CUT, db: Session = DB, actor: Actor = ACTOR) -> Response:
    c = service.cut_from(db, actor, cut)
    t = workers.table(db, actor, c, sort, desc, page)
    base = dashboard.cut_query(cut, c.region.code)
    return render(request, "assess/workers.html", {
        **t, "region": c.region, "period": c.period, "params": cut, "kinds": periods.KINDS,
        "options": dashboard.filter_options(db, actor), "tabs": dashboard.tabs(cut), "base": urlencode(base),
        "xlsx": "/assess/workers.xlsx?" + urlencode({**base, "sort": sort, "desc": desc})})


@router.get("/assess/workers.xlsx")
def workers_xlsx(sort: str = "gw_reports", desc: bool = True, cut: CutParams = CUT, db: Session = DB,
                 actor: Actor = ACTOR) -> Response:
    return xlsx_response(*workers.xlsx_for(db, actor, cut, sort, desc))


# ---------------------------------------------------------------------------------------------
# ranking configurations

FORM_ROWS = 6  # term rows offered by the form


def _configs_ctx(db: Session, actor: Actor, editing: Any = None) -> dict[str, Any]:
    defs = kpis.definitions()
    return {"configs": rankings.list_configs(db, actor), "can_manage": rankings.may_manage_configs(db, actor),
            "rates": [(k, d.label, d.higher_is_better) for k, d in defs.items() if d.unit == "rate"],
            "counts": list(kpis.COUNTS.items()), "rows": FORM_ROWS, "editing": editing, "errors": {},
            "values": rankings.form_values(editing), "tabs": dashboard.tabs(None)}


@router.get("/assess/configs")
def configs_page(request: Request, done: str = "", db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "assess/configs.html", {**_configs_ctx(db, actor), "done": done})


@router.get("/assess/configs/{config_id}")
def config_page(request: Request, config_id: int, db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "assess/configs.html", _configs_ctx(db, actor, rankings.get_config(db, actor, config_id)))


def _save(request: Request, db: Session, actor: Actor, config_id: int | None, label: str, kpi: list[str],
          weight: list[str], invert: list[str], volume_measure: str, min_volume: str, bottom_n: str) -> Response:
    values = {"label": label, "kpi": kpi, "weight": weight, "invert": invert, "volume_measure": volume_measure,
              "min_volume": min_volume, "bottom_n": bottom_n}
    try:
        with db.begin_nested():
            data = rankings.form_data(label, kpi, weight, invert, volume_measure, min_volume, bottom_n)
            rec = rankings.save_config(db, actor, data, config_id)
    except (BadInput, Conflict) as exc:
        editing = rankings.get_config(db, actor, config_id) if config_id else None
        ctx = _configs_ctx(db, actor, editing)
        ctx.update(values=values, errors={exc.extra.get("field", "form"): exc.message_zh})
        return render(request, "assess/configs.html", ctx, status_code=400)
    return RedirectResponse(f"/assess/configs?done={rec.id}", status_code=303)


@router.post("/assess/configs")
def config_create(request: Request, label: str = Form(""), kpi: list[str] = Form([]), weight: list[str] = Form([]),
                  invert: list[str] = Form([]), volume_measure: str = Form("accepted"), min_volume: str = Form(""),
                  bottom_n: str = Form(""), db: Session = DB, actor: Actor = ACTOR) -> Response:
    return _save(request, db, actor, None, label, kpi, weight, invert, volume_measure, min_volume, bottom_n)


@router.post("/assess/configs/{config_id}")
def config_update(request: Request, config_id: int, label: str = Form(""), kpi: list[str] = Form([]),
                  weight: list[str] = Form([]), invert: list[str] = Form([]), volume_measure: str = Form("accepted"),
                  min_volume: str = Form(""), bottom_n: str = Form(""), db: Session = DB,
                  actor: Actor = ACTOR) -> Response:
    return _save(request, db, actor, config_id, label, kpi, weight, invert, volume_measure, min_volume, bottom_n)


@router.get("/assess/screen")
def screen_page(request: Request, kpi: str | None = None, preset: str = "digital_urban", cut: CutParams = CUT,
                db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "assess/screen.html", dashboard.context(db, actor, cut, kpi, preset))


@router.get("/assess/bulletins")
def bulletins_page(request: Request, done: str | None = None, db: Session = DB, actor: Actor = ACTOR) -> Response:
    home = service.home_region(db, actor)
    return render(request, "assess/bulletins.html", {
        "items": bulletins.list_bulletins(db, actor), "home": home, "done": done,
        "month": service.default_value("month"), "presets": rankings.choices(db),
        "towns": service.children(db, home) if home.level in ("city", "district") else [],
        "can_make": can(actor, Action.BULLETIN_MANAGE)})


@router.post("/assess/bulletins")
def bulletins_make(month: str = Form(...), region: str = Form(""), preset: str = Form("digital_urban"),
                   db: Session = DB, actor: Actor = ACTOR) -> Response:
    b = bulletins.generate(db, actor, region or None, month, preset)
    return RedirectResponse(f"/assess/bulletins?done={b.id}", status_code=303)
