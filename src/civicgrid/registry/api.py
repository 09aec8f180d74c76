"""JSON routes of the registry (二标四实) under /api/v1/registry."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Depends, File, Query, Request, Response, UploadFile
from sqlalchemy.orm import Session

from civicgrid.access.policy import Actor
from civicgrid.config import get_settings
from civicgrid.errors import BadInput, NotFound
from civicgrid.registry import importer, queries, service
from civicgrid.registry.schemas import (FACILITY_KIND_LABELS, AddressIn, BuildingIn, DwellingIn, FacilityIn, MoveIn, OrganisationIn, ResidentEdit,
                                        ResidentIn, TagIn)
from civicgrid.web.deps import client_ip, current_actor, get_db

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])
DB = Depends(get_db, scope="function")
ACTOR = Depends(current_actor)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PLURAL = {"residents": "resident", "dwellings": "dwelling", "organisations": "organisation",
          "facilities": "facility", "addresses": "address", "buildings": "building"}


def _entity(plural: str) -> str:
    if plural not in PLURAL:
        raise NotFound(plural, "没有这类基础数据")
    return PLURAL[plural]


def _xlsx(data: bytes, name: str) -> Response:
    return Response(data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def read_upload(file: UploadFile) -> bytes:
    """The uploaded bytes, refusing files over the limit without reading all of them."""
    limit = int(get_settings().registry_import_max_mb * 1024 * 1024)
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise BadInput("file_too_large", f"文件超过 {get_settings().registry_import_max_mb:g} MB,请拆分后分批导入",
                       "File larger than the limit")
    return data


def filters(q: str = Query("", max_length=100, description="姓名、证件号码、电话、地址或单位名称"),
            region: str = Query("", description="镇街、村(社区)或网格编码"), kind: str = "", tag: str = "",
            status: str = Query("", description="设施状态 in_service | faulty | out_of_service"),
            page: int = Query(1, ge=1), size: int = Query(50, ge=1, le=queries.PAGE_MAX)) -> queries.Filters:
    return queries.Filters(q=q, region_code=region, kind=kind, tag=tag, status=status, page=page, size=size)


@router.get("/addresses/match", summary="地址解析与匹配 Parse and match a free-text address")
def match(text: str = Query(..., min_length=1, max_length=300, examples=["东城街道岗贝社区东城路12号星河花园3栋1203"]),
          db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return service.match_address(db, actor, text)


@router.get("/grids/{code}/summary", summary="网格(或村、镇街)基础数据统计")
def summary(code: str, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return queries.grid_summary(db, actor, code)


@router.get("/imports", summary="我的导入记录 My latest imports (newest first)")
def my_imports(limit: int = Query(20, ge=1, le=200), db: Session = DB, actor: Actor = ACTOR) -> list[dict[str, Any]]:
    return queries.imports(db, actor, limit=limit)


@router.get("/imports/templates/{kind}.xlsx", summary="导入模板", response_class=Response)
def template(kind: str, actor: Actor = ACTOR) -> Response:
    if kind not in importer.FIELDS:
        raise NotFound(kind, "没有这类导入模板")
    return _xlsx(importer.template(kind), f"{kind}-template.xlsx")


@router.post("/imports/{kind}", summary="上传导入文件并预检 Upload a file and preview the check")
def upload(kind: str, file: UploadFile = File(...), db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return importer.upload(db, actor, kind, file.filename or "", read_upload(file))


@router.post("/imports/{token}/check", summary="按调整后的列对应重新预检")
def recheck(token: str, mapping: dict[str, str] = Body({}, embed=True), db: Session = DB,
            actor: Actor = ACTOR) -> dict[str, Any]:
    return importer.recheck(db, actor, token, mapping)


@router.get("/imports/{token}/errors.xlsx", summary="下载错误报告", response_class=Response)
def errors(token: str, mapping: str = Query("", description="JSON 列对应"), db: Session = DB,
           actor: Actor = ACTOR) -> Response:
    return _xlsx(importer.report_for(db, actor, token, json.loads(mapping) if mapping else None), "errors.xlsx")


@router.post("/imports/{token}/commit", summary="执行导入 (mode: all 全部成功才导入 | valid 只导入正确的行)")
def commit(token: str, mode: str = Body("all", embed=True), mapping: dict[str, str] = Body({}, embed=True),
           db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return importer.run(db, actor, token, mapping=mapping, mode=mode)


@router.post("/addresses", summary="新建(或取得)标准地址", status_code=201)
def create_address(body: AddressIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    levels = body.model_dump(exclude={"lon", "lat"})
    a, _ = service.ensure_address(db, actor, levels, lon=body.lon, lat=body.lat)
    return queries.detail(db, actor, "address", a.id)


@router.post("/residents", summary="登记实有人口", status_code=201)
def create_resident(body: ResidentIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return queries.detail(db, actor, "resident", service.create_resident(db, actor, body.model_dump()).id)


@router.patch("/residents/{rid}", summary="修改实有人口")
def edit_resident(rid: int, body: ResidentEdit, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    service.update_resident(db, actor, rid, body.model_dump(exclude_none=True))
    return queries.detail(db, actor, "resident", rid)


@router.post("/residents/{rid}/move", summary="迁居(保留居住历史)")
def move(rid: int, body: MoveIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    service.move_resident(db, actor, rid, body.model_dump())
    return queries.detail(db, actor, "resident", rid)


@router.post("/residents/{rid}/tags", summary="添加人员标签", status_code=201)
def tag(rid: int, body: TagIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    service.add_tag(db, actor, rid, body.model_dump())
    return queries.detail(db, actor, "resident", rid)


@router.post("/residents/{rid}/unmask", summary="查看完整证件号码和电话(记入审计日志)")
def unmask(rid: int, request: Request, db: Session = DB, actor: Actor = ACTOR) -> dict[str, str]:
    return service.unmask_resident(db, actor, rid, ip=client_ip(request))


@router.post("/dwellings", summary="登记实有房屋", status_code=201)
def create_dwelling(body: DwellingIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return queries.detail(db, actor, "dwelling", service.save_dwelling(db, actor, body.model_dump()).id)


@router.patch("/dwellings/{did}", summary="修改实有房屋")
def edit_dwelling(did: int, body: DwellingIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    service.save_dwelling(db, actor, body.model_dump(), dwelling_id=did)
    return queries.detail(db, actor, "dwelling", did)


@router.post("/organisations", summary="登记实有单位", status_code=201)
def create_org(body: OrganisationIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return queries.detail(db, actor, "organisation", service.save_organisation(db, actor, body.model_dump()).id)


@router.patch("/organisations/{oid}", summary="修改实有单位")
def edit_org(oid: int, body: OrganisationIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    service.save_organisation(db, actor, body.model_dump(), organisation_id=oid)
    return queries.detail(db, actor, "organisation", oid)


@router.post("/facilities", summary="登记实有设施", status_code=201)
def create_facility(body: FacilityIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return queries.detail(db, actor, "facility", service.save_facility(db, actor, body.model_dump()).id)


@router.patch("/facilities/{fid}", summary="修改实有设施")
def edit_facility(fid: int, body: FacilityIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    service.save_facility(db, actor, body.model_dump(), facility_id=fid)
    return queries.detail(db, actor, "facility", fid)


@router.get("/facilities/points", summary="设施地图点位 GeoJSON(限本人管辖范围,可按类型、状态筛选,数量有上限)",
            responses={200: {"content": {"application/geo+json": {}}}})
def facility_points(region: str = Query("", description="镇街、村(社区)或网格编码"),
                    kind: list[str] = Query([], description="设施类型,可多选: " + "、".join(
                        f"{k}={v}" for k, v in FACILITY_KIND_LABELS.items())),
                    status: list[str] = Query([], description="状态,可多选: in_service | faulty | out_of_service"),
                    q: str = Query("", max_length=100, description="设施名称或编码"),
                    limit: int = Query(queries.POINTS_MAX, ge=1, le=queries.POINTS_MAX),
                    db: Session = DB, actor: Actor = ACTOR) -> Response:
    fc = queries.facility_points(db, actor, region_code=region, kinds=kind, statuses=status, q=q, limit=limit)
    return Response(json.dumps(fc, ensure_ascii=False, separators=(",", ":")), media_type="application/geo+json")


@router.post("/buildings", summary="登记楼栋(结构、地上/地下层数)", status_code=201)
def create_building(body: BuildingIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return queries.detail(db, actor, "building", service.save_building(db, actor, body.model_dump()).id)


@router.patch("/buildings/{bid}", summary="修改楼栋(结构、层数;不得低于已登记房屋所在楼层)")
def edit_building(bid: int, body: BuildingIn, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    service.save_building(db, actor, body.model_dump(exclude_unset=True), building_id=bid)
    return queries.detail(db, actor, "building", bid)


@router.get("/{plural}/export.xlsx", summary="导出筛选结果 XLSX(证件号码和电话为脱敏显示)", response_class=Response)
def export(plural: str, f: queries.Filters = Depends(filters), db: Session = DB, actor: Actor = ACTOR) -> Response:
    return _xlsx(queries.export_xlsx(db, actor, _entity(plural), f), f"{plural}.xlsx")


@router.get("/{plural}", summary="列表(筛选、分页,限本人管辖范围)")
def list_(plural: str, f: queries.Filters = Depends(filters), db: Session = DB,
          actor: Actor = ACTOR) -> dict[str, Any]:
    return queries.list_records(db, actor, _entity(plural), f)


@router.get("/{plural}/{rid}", summary="详情(含变更与居住历史)")
def get(plural: str, rid: int, db: Session = DB, actor: Actor = ACTOR) -> dict[str, Any]:
    return queries.detail(db, actor, _entity(plural), rid)
