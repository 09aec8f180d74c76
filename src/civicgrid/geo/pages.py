"""HTML routes of the geography domain: the map of the region a user may see; regions and boundary import for
administrators."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from civicgrid.access.policy import Action, Actor, can
from civicgrid.errors import BadInput
from civicgrid.geo import service
from civicgrid.geo.crs import CRS_LABELS
from civicgrid.web.deps import current_actor, get_db, render

router = APIRouter(include_in_schema=False)


@router.get("/map")
def map_page(request: Request, region: str | None = None, db: Session = Depends(get_db, scope="function"),
             actor: Actor = Depends(current_actor)) -> Response:
    return render(request, "geo/map.html", service.map_context(db, actor, region))


@router.get("/admin/regions")
def regions_admin(request: Request, db: Session = Depends(get_db, scope="function"),
                  actor: Actor = Depends(current_actor)) -> Response:
    return _regions_page(request, db, actor)


def _regions_page(request: Request, db: Session, actor: Actor, *, status: int = 200, **extra) -> Response:
    from civicgrid.geo.models import LEVEL_LABELS

    ctx = {"tree": service.region_tree(db, actor, depth=2), "levels": LEVEL_LABELS, "crs_names": CRS_NAMES,
           "can_import": can(actor, Action.REGION_IMPORT), "can_export": can(actor, Action.REGION_EXPORT),
           "replace": False, "crs": "wgs84", **extra}
    return render(request, "admin/regions.html", ctx, status_code=status)


CRS_NAMES = CRS_LABELS
MAX_UPLOAD = 50 * 1024 * 1024


@router.post("/admin/regions/import")
def regions_import(request: Request, file: UploadFile | None = File(None), replace: bool = Form(False),
                   crs: str = Form("wgs84"), db: Session = Depends(get_db, scope="function"),
                   actor: Actor = Depends(current_actor)) -> Response:
    data = file.file.read(MAX_UPLOAD + 1) if file is not None and file.filename else b""
    try:
        if crs not in CRS_NAMES:
            raise BadInput("invalid_crs", "未知的坐标系", f"Unknown CRS {crs!r}")
        if not data:
            raise BadInput("no_file", "请选择要导入的 GeoJSON 文件", "No file")
        if len(data) > MAX_UPLOAD:
            raise BadInput("file_too_large", "文件超过 50 MB", "File larger than 50 MB")
        try:
            fc = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            raise BadInput("invalid_geojson", "文件不是有效的 JSON(请上传 UTF-8 编码的 GeoJSON)", "Not JSON") from None
        with db.begin_nested():
            report = service.import_geojson(db, actor, fc, replace=replace, source_crs=crs)
    except BadInput as exc:
        return _regions_page(request, db, actor, status=exc.status, import_error=exc.message_zh,
                             issues=exc.extra.get("errors", []), warnings=exc.extra.get("warnings", []),
                             replace=replace, crs=crs)
    return _regions_page(request, db, actor, imported=report, warnings=[w.model_dump() for w in report.warnings])
