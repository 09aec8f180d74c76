"""HTML routes of the geography domain: the map of the region a user may see."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from civicgrid.access.policy import Actor
from civicgrid.geo import service
from civicgrid.web.deps import current_actor, get_db, render

router = APIRouter(include_in_schema=False)


@router.get("/map")
def map_page(request: Request, region: str | None = None, db: Session = Depends(get_db, scope="function"),
             actor: Actor = Depends(current_actor)) -> Response:
    return render(request, "geo/map.html", service.map_context(db, actor, region))
