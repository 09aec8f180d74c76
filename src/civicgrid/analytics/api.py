"""JSON routes of assessment: KPIs by cut, breakdowns, trends, rankings, bulletins. Parse, call, return."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from civicgrid.access.policy import Actor
from civicgrid.analytics import bulletins, rankings, service
from civicgrid.analytics.schemas import BulletinIn, CutParams, RankingConfigIn
from civicgrid.web.deps import current_actor, get_db

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
DB = Depends(get_db, scope="function")
ACTOR = Depends(current_actor)
CUT = Depends(CutParams)


def _keys(kpis: str | None) -> list[str]:
    return [k.strip() for k in (kpis or "").split(",") if k.strip()]


@router.get("/kpis", summary="指标(按区域、部门、分类、来源、紧急程度、时段)及环比、同比 KPIs of a cut")
def kpis(cut: CutParams = CUT, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return service.kpis_for(db, actor, cut)


@router.get("/breakdown", summary="按维度分组的指标 KPIs per town/village/grid/department/category/...")
def breakdown(by: str = Query(..., description="town / village / grid / department / category / source / urgency / "
                                               "day / month"),
              kpis: str | None = Query(None, description="逗号分隔的指标名,默认全部"),
              cut: CutParams = CUT, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return service.breakdown_for(db, actor, cut, by, _keys(kpis))


@router.get("/presets", summary="排名方案 Ranking presets")
def presets(actor: Actor = ACTOR) -> list[dict[str, Any]]:
    return [p.to_dict() for p in rankings.PRESETS.values()]


@router.get("/rankings", summary="排名(往期排名按当时的配置保存,不再变化) Ranking of towns, villages or departments")
def ranking(unit: str = Query("town", description="town / village / department"),
            preset: str = Query("digital_urban"), cut: CutParams = CUT, db: Session = DB,
            actor: Actor = ACTOR) -> dict[str, Any]:
    return rankings.ranking(db, actor, service.cut_from(db, actor, cut), unit, rankings.preset(preset))


@router.post("/rankings/preview", summary="按自定义权重试算排名(不保存) Preview a ranking under a custom config")
def ranking_preview(body: RankingConfigIn, unit: str = Query("town"), cut: CutParams = CUT, db: Session = DB,
                    actor: Actor = ACTOR) -> dict[str, Any]:
    return rankings.ranking(db, actor, service.cut_from(db, actor, cut), unit,
                            rankings.config_from_dict(body.model_dump()))


@router.get("/bulletins", summary="通报列表 Bulletins of the actor's scope")
def bulletin_list(db: Session = DB, actor: Actor = ACTOR) -> list[dict[str, Any]]:
    return bulletins.list_bulletins(db, actor)


@router.post("/bulletins", status_code=201, summary="生成月度通报 Generate a monthly bulletin (XLSX + DOCX)")
def bulletin_make(body: BulletinIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return bulletins.summary(bulletins.generate(db, actor, body.region, body.month, body.preset))


@router.get("/bulletins/{bulletin_id}.{fmt}", summary="下载通报 Download a bulletin", response_class=Response)
def bulletin_download(bulletin_id: int, fmt: str, db: Session = DB, actor: Actor = ACTOR) -> Response:
    data, mime, filename = bulletins.download(db, actor, bulletin_id, fmt)
    return Response(data, media_type=mime, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{filename}"})
