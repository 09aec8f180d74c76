"""HTML routes of assessment: the region dashboard, the wall screen (大屏) and the bulletins page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from civicgrid.access.policy import Action, Actor, can
from civicgrid.analytics import bulletins, dashboard, rankings, service
from civicgrid.analytics.schemas import CutParams
from civicgrid.web.deps import current_actor, get_db, render

router = APIRouter(include_in_schema=False)
DB = Depends(get_db, scope="function")
ACTOR = Depends(current_actor)
CUT = Depends(CutParams)


@router.get("/assess")
def region_page(request: Request, kpi: str | None = None, preset: str = "digital_urban", cut: CutParams = CUT,
                db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "assess/region.html", dashboard.context(db, actor, cut, kpi, preset))


@router.get("/assess/screen")
def screen_page(request: Request, kpi: str | None = None, preset: str = "digital_urban", cut: CutParams = CUT,
                db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "assess/screen.html", dashboard.context(db, actor, cut, kpi, preset))


@router.get("/assess/bulletins")
def bulletins_page(request: Request, done: str | None = None, db: Session = DB, actor: Actor = ACTOR) -> Response:
    home = service.home_region(db, actor)
    return render(request, "assess/bulletins.html", {
        "items": bulletins.list_bulletins(db, actor), "home": home, "done": done,
        "month": service.default_value("month"), "presets": [(p.name, p.label) for p in rankings.PRESETS.values()],
        "towns": service.children(db, home) if home.level in ("city", "district") else [],
        "can_make": can(actor, Action.BULLETIN_MANAGE)})


@router.post("/assess/bulletins")
def bulletins_make(month: str = Form(...), region: str = Form(""), preset: str = Form("digital_urban"),
                   db: Session = DB, actor: Actor = ACTOR) -> Response:
    b = bulletins.generate(db, actor, region or None, month, preset)
    return RedirectResponse(f"/assess/bulletins?done={b.id}", status_code=303)
