"""JSON routes of the matter catalogue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, File, Query, Response, UploadFile
from sqlalchemy.orm import Session

from civicgrid.access.policy import Actor
from civicgrid.matters import service, xlsx
from civicgrid.web.deps import current_actor, get_db

router = APIRouter(prefix="/api/v1", tags=["matters"])
DB = Depends(get_db, scope="function")
ACTOR = Depends(current_actor)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/matters", summary="事项清单(树) Matter catalogue")
def tree(retired: bool = Query(False, description="包含已停用的分类"), public: bool = Query(False),
         db: Session = DB, actor: Actor = ACTOR) -> list[dict[str, Any]]:
    return service.tree(db, actor, include_retired=retired, public_only=public)


@router.get("/matters/export.xlsx", summary="导出事项清单 XLSX", response_class=Response)
def export_xlsx(db: Session = DB, actor: Actor = ACTOR) -> Response:
    data = xlsx.export_catalogue(db, actor)
    return Response(data, media_type=XLSX, headers={"Content-Disposition": 'attachment; filename="matters.xlsx"'})


@router.post("/matters/import.xlsx", summary="导入事项清单 XLSX (全部成功或全部不写入)")
def import_xlsx(file: UploadFile = File(...), db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    rows = xlsx.read_catalogue(file.file.read(5 * 1024 * 1024 + 1))
    return service.import_catalogue(db, actor, rows)


@router.post("/matters/import", summary="导入事项清单 JSON (全部成功或全部不写入)")
def import_json(rows: list[dict[str, Any]] = Body(...), db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return service.import_catalogue(db, actor, rows)


@router.get("/matters/suggest", summary="根据描述推荐分类 Suggest categories for a description")
def suggest(text: str = Query(..., min_length=1, max_length=500, examples=["路口有一堆生活垃圾没人清理"]),
            limit: int = Query(3, ge=1, le=10), db: Session = DB, actor: Actor = ACTOR) -> list[dict[str, Any]]:
    return service.suggest(db, actor, text, limit=limit)


@router.get("/matters/{code}", summary="事项详情 Category")
def get(code: str, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return service.to_out(service.get_category(db, actor, code))


@router.patch("/matters/{code}", summary="修改事项规则 Edit a category (new revision; open cases keep theirs)")
def patch(code: str, changes: dict[str, Any] = Body(..., examples=[{"time_limits": {
              "normal": {"accept": 1, "dispatch": 1, "handle": 14, "verify": 2},
              "urgent": {"accept": 0.17, "dispatch": 0.17, "handle": 4, "verify": 1}}}]),
          db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return service.to_out(service.update_category(db, actor, code, changes))
