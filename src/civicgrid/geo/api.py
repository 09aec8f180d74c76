"""JSON routes of the geography domain: parse, call one service function, return."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from civicgrid.access.policy import Actor
from civicgrid.geo import service
from civicgrid.geo.schemas import (BulkLocateIn, BulkLocateOut, CrsName, ImportReport, LocateIn, LocateOut,
                                   RegionDetail, RegionNode, RegionOut)
from civicgrid.web.deps import current_actor, get_db

router = APIRouter(prefix="/api/v1", tags=["geo"])

LevelName = Literal["city", "district", "town", "village", "grid"]


@router.get("/regions/tree", response_model=list[RegionNode], summary="区域树 Region tree")
def region_tree(root: str | None = Query(None, description="根区域代码,缺省为本人管辖范围", examples=["441900003"]),
                depth: int = Query(2, ge=0, le=4, description="展开层数"),
                db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> list[dict[str, Any]]:
    return service.region_tree(db, actor, root_code=root, depth=depth)


@router.get("/regions/geojson", summary="区域边界 GeoJSON (可简化)",
            responses={200: {"content": {"application/geo+json": {}}}})
def regions_geojson(parent: str | None = Query(None, examples=["441900003"]),
                    level: LevelName | None = Query(None, examples=["grid"]),
                    simplify: float = Query(0.0, ge=0, le=5000, description="简化容差(米),0 为不简化"),
                    db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> Response:
    fc = service.regions_geojson(db, actor, parent_code=parent, level=level, simplify_m=simplify)
    return Response(json.dumps(fc, ensure_ascii=False, separators=(",", ":")), media_type="application/geo+json")


@router.get("/regions/export", summary="导出区域边界 GeoJSON 文件 Export")
def export_regions(root: str | None = Query(None), level: LevelName | None = Query(None),
                   db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> Response:
    fc = service.export_geojson(db, actor, root_code=root, level=level)
    name = f"regions-{root or 'all'}-{level or 'all'}.geojson"
    return Response(json.dumps(fc, ensure_ascii=False), media_type="application/geo+json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/regions/import", response_model=ImportReport, summary="导入区域边界 GeoJSON Import",
             description="一次导入为一个事务:任一要素出错则全部不写入,返回 400 及逐要素错误列表。")
def import_regions(fc: dict[str, Any] = Body(..., examples=[{"type": "FeatureCollection", "features": [
                       {"type": "Feature", "properties": {"code": "441900003001001", "name": "岗贝社区第1网格"},
                        "geometry": {"type": "Polygon", "coordinates": [[[113.75, 23.04], [113.76, 23.04],
                                                                         [113.76, 23.05], [113.75, 23.04]]]}}]}]),
                   replace: bool = Query(False, description="替换已存在的同代码区域(网格重新划分)"),
                   crs: CrsName = Query("wgs84", description="文件坐标系"),
                   valid_from: date | None = Query(None, description="生效日期,缺省为今天"),
                   db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> ImportReport:
    return service.import_geojson(db, actor, fc, replace=replace, source_crs=crs, valid_from=valid_from)


@router.get("/regions", response_model=list[RegionOut], summary="区域列表 Regions")
def list_regions(parent: str | None = Query(None, examples=["441900003"]),
                 level: LevelName | None = Query(None), on: date | None = Query(None, description="历史日期"),
                 db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> list[dict[str, Any]]:
    regions = service.list_regions(db, actor, parent_code=parent, level=level, on=on)
    codes = service.codes_by_id(db, {r.parent_id for r in regions if r.parent_id})
    return [service.to_out(r, codes.get(r.parent_id) if r.parent_id else None) for r in regions]


@router.get("/regions/{code}", response_model=RegionDetail, summary="区域详情 Region detail")
def region_detail(code: str, db: Session = Depends(get_db, scope="function"),
                  actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return service.region_detail(db, actor, code)


@router.post("/locate", response_model=LocateOut, summary="坐标定位到网格 Locate a point")
def locate(body: LocateIn, db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> LocateOut:
    return service.locate_point(db, actor, body.lon, body.lat, body.crs)


@router.get("/locate", response_model=LocateOut, summary="坐标定位(GET)")
def locate_get(lon: float = Query(..., examples=[113.7518]), lat: float = Query(..., examples=[23.0207]),
               crs: CrsName = Query("wgs84"), db: Session = Depends(get_db, scope="function"),
               actor: Actor = Depends(current_actor)) -> LocateOut:
    return service.locate_point(db, actor, lon, lat, crs)


@router.post("/locate/bulk", response_model=BulkLocateOut, summary="批量定位 Bulk locate (≤100,000 points)")
def locate_bulk(body: BulkLocateIn, db: Session = Depends(get_db, scope="function"),
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return service.locate_points(db, actor, body.points, body.crs)
