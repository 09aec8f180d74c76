"""JSON routes of assessment: KPIs by cut, breakdowns, trends, rankings, bulletins. Parse, call, return."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from civicgrid.access.policy import Actor
from civicgrid.analytics import bulletins, rankings, service, workers
from civicgrid.analytics.schemas import BulletinIn, CutParams, RankingConfigIn, StoredConfigIn
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


@router.get("/presets", summary="排名方案(内置方案与自定义方案) Ranking configurations: presets and stored ones")
def presets(db: Session = DB, actor: Actor = ACTOR) -> list[dict[str, Any]]:
    return rankings.list_configs(db, actor)


@router.post("/ranking-configs", status_code=201, summary="新建排名方案 Create a ranking configuration (city level)")
def config_create(body: StoredConfigIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return rankings.config_out(rankings.save_config(db, actor, body.model_dump()))


@router.put("/ranking-configs/{config_id}", summary="修改排名方案(已发布的排名不变) Edit a ranking configuration")
def config_update(config_id: int, body: StoredConfigIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return rankings.config_out(rankings.save_config(db, actor, body.model_dump(), config_id))


@router.get("/rankings", summary="排名(已发布的排名按发布时的配置保存,不再变化) Ranking of towns, villages or departments")
def ranking(unit: str = Query("town", description="town / village / department"),
            preset: str = Query("digital_urban", description="排名方案:内置方案名或 custom-<id>"),
            cut: CutParams = CUT, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return rankings.ranking(db, actor, service.cut_from(db, actor, cut), unit, rankings.preset(preset, db))


@router.post("/rankings/publish", status_code=201,
             summary="发布排名(已结束的时段,每个方案只发布一次) Publish (freeze) the ranking of an ended period")
def ranking_publish(unit: str = Query("town", description="town / village / department"),
                    preset: str = Query("digital_urban"), cut: CutParams = CUT, db: Session = DB,
                    actor: Actor = ACTOR) -> dict[str, Any]:
    return rankings.publish(db, actor, service.cut_from(db, actor, cut), unit, rankings.preset(preset, db))


@router.post("/rankings/preview", summary="按自定义权重试算排名(不保存) Preview a ranking under a custom config")
def ranking_preview(body: RankingConfigIn, unit: str = Query("town"), cut: CutParams = CUT, db: Session = DB,
                    actor: Actor = ACTOR) -> dict[str, Any]:
    return rankings.ranking(db, actor, service.cut_from(db, actor, cut), unit,
                            rankings.config_from_dict(body.model_dump()))


@router.get("/workers", summary="网格员指标(按人) Grid-worker indicators per worker")
def worker_table(sort: str = Query("gw_reports", description="name / " + " / ".join(workers.COLUMNS)),
                 desc: bool = True, page: int = Query(1, ge=1), cut: CutParams = CUT, db: Session = DB,
                 actor: Actor = ACTOR) -> dict[str, Any]:
    return workers.table_for(db, actor, cut, sort, desc, page)


@router.get("/workers.xlsx", summary="导出网格员指标 XLSX of the grid-worker table", response_class=Response)
def worker_xlsx(sort: str = "gw_reports", desc: bool = True, cut: CutParams = CUT, db: Session = DB,
                actor: Actor = ACTOR) -> Response:
    return xlsx_response(*workers.xlsx_for(db, actor, cut, sort, desc))


def xlsx_response(data: bytes, filename: str) -> Response:
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"})


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
