"""HTML routes of the registry (基础数据): lists with filters and paging, details with history, create/edit
forms with errors next to fields, the import wizard (upload → mapping and preview → error report → import)
and the grid page. Every change goes through registry.service / registry.importer, as the API does."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from civicgrid.access.policy import Action, Actor, can
from civicgrid.geo.crs import CRS_LABELS
from civicgrid.errors import DomainError, NotFound
from civicgrid.registry import importer, queries, service
from civicgrid.registry.api import PLURAL, read_upload
from civicgrid.registry.schemas import (CHANGE_LABELS, ENTITY_LABELS, FACILITY_KIND_LABELS, FACILITY_STATUS_LABELS,
                                        HOUSEHOLD_LABELS, INSPECTION_LABELS, ORG_KIND_LABELS, RELATION_LABELS,
                                        STRUCTURE_LABELS, TAGS, USE_LABELS)
from civicgrid.db import get_sessionmaker
from civicgrid.web.deps import client_ip, current_actor, get_db, render

router = APIRouter(include_in_schema=False)
DB = Depends(get_db, scope="function")
ACTOR = Depends(current_actor)
SINGULAR = {v: k for k, v in PLURAL.items()}
KIND_FILTERS = {"resident": HOUSEHOLD_LABELS, "dwelling": USE_LABELS, "organisation": ORG_KIND_LABELS,
                "facility": FACILITY_KIND_LABELS, "building": STRUCTURE_LABELS}
# entity → form fields: (name, label, options or input type, required)
FORMS: dict[str, list[tuple[str, str, Any, bool]]] = {
    "resident": [("name", "姓名", "text", True), ("id_number", "公民身份号码", "text", True),
                 ("phone", "联系电话", "tel", False), ("household", "户籍类型", HOUSEHOLD_LABELS, True),
                 ("address", "居住地址", "text", True), ("relation", "与房屋关系", RELATION_LABELS, False),
                 ("moved_in", "入住日期", "date", False)],
    "dwelling": [("address", "房屋地址(标准地址)", "text", True), ("use", "房屋用途", USE_LABELS, True),
                 ("structure", "结构", STRUCTURE_LABELS, False), ("floors", "层数", "number", False),
                 ("area_m2", "面积(平方米)", "number", False), ("owner_name", "房主姓名", "text", False),
                 ("owner_phone", "房主电话", "tel", False),
                 ("inspection_status", "出租屋检查状态", INSPECTION_LABELS, False),
                 ("inspected_on", "检查日期", "date", False)],
    "organisation": [("name", "单位名称", "text", True), ("uscc", "统一社会信用代码", "text", False),
                     ("kind", "单位类型", ORG_KIND_LABELS, True), ("address", "单位地址(标准地址)", "text", True),
                     ("person_in_charge", "负责人", "text", False), ("staff_count", "从业人数", "number", False),
                     ("safety_contact", "安全联系人", "text", False), ("safety_phone", "安全联系电话", "tel", False)],
    "facility": [("code", "设施编码", "text", True), ("name", "设施名称", "text", False),
                 ("kind", "设施类型", FACILITY_KIND_LABELS, True), ("status", "状态", FACILITY_STATUS_LABELS, True),
                 ("lon", "经度", "text", False), ("lat", "纬度", "text", False), ("crs", "坐标系", CRS_LABELS, False),
                 ("address", "地址(无坐标时必填)", "text", False), ("owner_department", "权属部门", "text", False),
                 ("maintainer_department", "维护部门", "text", False)],
    "address": [("town", "镇街", "text", True), ("village", "村(社区)", "text", True), ("road", "街路巷", "text", False),
                ("house_no", "门牌号", "text", False), ("compound", "小区", "text", False),
                ("building", "楼栋", "text", False), ("unit", "单元", "text", False), ("floor", "楼层", "text", False),
                ("room", "户室", "text", False), ("lon", "经度(WGS-84,可选)", "text", False),
                ("lat", "纬度(WGS-84,可选)", "text", False)],
    "building": [("address", "楼栋地址(标准地址,到楼栋)", "text", True), ("name", "楼栋名称", "text", False),
                 ("structure", "建筑结构", STRUCTURE_LABELS, True), ("floors", "地上层数", "number", False),
                 ("floors_below", "地下层数", "number", False)],
}
# fields an edit may not change (a resident's ID number is its identity; a building is where its address is)
FIXED_ON_EDIT = {"resident": {"id_number", "address", "relation", "moved_in"}, "building": {"address"}}
# forms whose point may be picked on a map (the lon and lat fields)
PICK_ON_MAP = ("facility", "address")
# entity → field → label, for the change history ("name" is 姓名 for a resident, 设施名称 for a facility)
FIELD_LABELS = {e: {name: label.split("(")[0] for name, label, _o, _r in fields} for e, fields in FORMS.items()}


def _ctx(actor: Actor, entity: str) -> dict[str, Any]:
    return {"entity": entity, "page_kind": entity, "plural": SINGULAR[entity], "labels": ENTITY_LABELS, "plurals": SINGULAR,
            "may_edit": can(actor, Action.REGISTRY_EDIT), "may_import": can(actor, Action.REGISTRY_IMPORT),
            "may_export": can(actor, Action.REGISTRY_EXPORT)}


def _entity(plural: str) -> str:
    if plural not in PLURAL:
        raise NotFound(plural, "没有这类基础数据")
    return PLURAL[plural]


@router.get("/registry")
def home(actor: Actor = ACTOR) -> Response:
    return RedirectResponse("/registry/residents", status_code=303)


@router.get("/registry/grid")
def grid_page(request: Request, code: str = "", db: Session = DB, actor: Actor = ACTOR) -> Response:
    """A grid's (or village's, town's) counts and its first records of each kind."""
    if not code and actor.grid_ids:
        from civicgrid.geo.service import codes_by_id

        code = sorted(codes_by_id(db, set(actor.grid_ids)).values())[0]
    summary = queries.grid_summary(db, actor, code) if code else None
    lists = {e: queries.list_records(db, actor, e, queries.Filters(region_code=code, size=10))
             for e in ("resident", "dwelling", "organisation", "facility")} if code else {}
    focus = queries.facility_map_focus(db, actor, code) if code else None
    return render(request, "registry/grid.html", {**_ctx(actor, "resident"), "page_kind": "grid", "code": code, "summary": summary,
                                                  "lists": lists, "kind_labels": KIND_FILTERS, "focus": focus, "f": None})


@router.get("/registry/import")
def import_page(request: Request, kind: str = "resident", db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "registry/import.html", {**_ctx(actor, "resident"), "page_kind": "import", "kind": kind,
                                                    "step": "upload", "history": queries.imports(db, actor),
                                                    "kinds": importer.KIND_LABELS, "error": None})


@router.post("/registry/import")
def import_upload(request: Request, kind: str = Form("resident"), file: UploadFile = File(...), db: Session = DB,
                  actor: Actor = ACTOR) -> Response:
    ctx = {**_ctx(actor, "resident"), "page_kind": "import", "kind": kind, "kinds": importer.KIND_LABELS}
    try:
        pv = importer.upload(db, actor, kind, file.filename or "", read_upload(file))
    except DomainError as exc:
        return render(request, "registry/import.html", {**ctx, "step": "upload", "error": exc}, status_code=exc.status)
    return render(request, "registry/import.html", {**ctx, "step": "preview", "pv": pv, "error": None})


def _mapping(form: dict[str, Any]) -> dict[str, str]:
    return {k[4:]: v for k, v in form.items() if k.startswith("map:") and v}


@router.post("/registry/import/{token}")
async def import_step(request: Request, token: str, db: Session = DB, actor: Actor = ACTOR) -> Response:
    """Re-check with the adjusted mapping, or import (button `go`)."""
    form = dict(await request.form())
    return await run_in_threadpool(_import_step, request, token, form, db, actor)


def _import_step(request: Request, token: str, form: dict[str, Any], db: Session, actor: Actor) -> Response:
    mapping = _mapping(form)
    ctx = {**_ctx(actor, "resident"), "page_kind": "import", "kinds": importer.KIND_LABELS, "error": None,
           "mapping_json": json.dumps(
        mapping, ensure_ascii=False)}
    if form.get("go"):  # runs in the background; the page follows its progress
        st = importer.start(actor, token, factory=request.app.state.sessionmaker or get_sessionmaker(),
                            mapping=mapping, mode=str(form.get("mode") or "all"))
        return render(request, "registry/import.html", {**ctx, "step": "running", "token": token, "st": st,
                                                        "kind": st["kind"]})
    pv = importer.recheck(db, actor, token, mapping)
    return render(request, "registry/import.html", {**ctx, "step": "preview", "pv": pv, "kind": pv["kind"]})


@router.get("/registry/import/{token}/progress")
def import_progress(request: Request, token: str, actor: Actor = ACTOR) -> Response:
    """The progress fragment the running step polls (it stops polling once the import has ended)."""
    st = importer.status(actor, token)
    return render(request, "registry/_import_progress.html", {"token": token, "st": st,
                                                              "kinds": importer.KIND_LABELS, "plurals": SINGULAR})


@router.get("/registry/import/{token}/errors.xlsx")
def import_errors(token: str, mapping: str = "", db: Session = DB, actor: Actor = ACTOR) -> Response:
    data = importer.report_for(db, actor, token, json.loads(mapping) if mapping else None)
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="errors.xlsx"'})


@router.get("/registry/{plural}")
def list_page(request: Request, plural: str, q: str = "", region: str = "", kind: str = "", tag: str = "",
              status: str = "", view: str = "list", page: int = 1, db: Session = DB, actor: Actor = ACTOR) -> Response:
    """A filtered list; facilities also as a map of the same filters (view=map)."""
    entity = _entity(plural)
    f = queries.Filters(q=q, region_code=region, kind=kind, tag=tag, status=status, page=max(page, 1), size=20)
    tags = {k: v[0] for k, v in TAGS.items() if not v[1] or can(actor, Action.SENSITIVE_TAG_VIEW)}
    ctx = {**_ctx(actor, entity), "f": f, "kinds": KIND_FILTERS.get(entity, {}), "tags": tags,
           "statuses": FACILITY_STATUS_LABELS if entity == "facility" else {},
           "view": "map" if entity == "facility" and view == "map" else "list"}
    if ctx["view"] == "map":
        return render(request, "registry/list.html", {**ctx, "focus": queries.facility_map_focus(db, actor, region)})
    return render(request, "registry/list.html", {**ctx, "result": queries.list_records(db, actor, entity, f)},
                  block="rows")


def _form_ctx(actor: Actor, entity: str, values: dict[str, Any], errors: dict[str, str],
              record_id: int | None = None) -> dict[str, Any]:
    fields = FORMS[entity]
    if record_id:
        fields = [f for f in fields if f[0] not in FIXED_ON_EDIT.get(entity, ())]
    return {**_ctx(actor, entity), "fields": fields, "values": values, "errors": errors, "record_id": record_id,
            "pick_on_map": entity in PICK_ON_MAP}


@router.get("/registry/{plural}/new")
def new_page(request: Request, plural: str, address: str = "", actor: Actor = ACTOR) -> Response:
    entity = _entity(plural)
    return render(request, "registry/form.html", _form_ctx(actor, entity, {"address": address}, {}))


def _save(db: Session, actor: Actor, entity: str, values: dict[str, Any], record_id: int | None) -> int:
    if entity == "resident":
        return (service.update_resident(db, actor, record_id, values) if record_id
                else service.create_resident(db, actor, values)).id
    if entity == "address":
        lon = float(values["lon"]) if values.get("lon") else None
        lat = float(values["lat"]) if values.get("lat") else None
        return service.ensure_address(db, actor, {k: v for k, v in values.items() if k not in ("lon", "lat")},
                                      lon=lon, lat=lat)[0].id
    save = {"dwelling": service.save_dwelling, "organisation": service.save_organisation,
            "facility": service.save_facility, "building": service.save_building}[entity]
    key = {"dwelling": "dwelling_id", "organisation": "organisation_id", "facility": "facility_id",
           "building": "building_id"}[entity]
    return save(db, actor, values, **{key: record_id}).id


@router.post("/registry/{plural}/new")
async def create_submit(request: Request, plural: str, db: Session = DB, actor: Actor = ACTOR) -> Response:
    form = {k: v for k, v in (await request.form()).items() if k != "csrf_token"}
    return await run_in_threadpool(_submit, request, _entity(plural), None, form, db, actor)


@router.post("/registry/{plural}/{rid}/edit")
async def edit_submit(request: Request, plural: str, rid: int, db: Session = DB, actor: Actor = ACTOR) -> Response:
    form = {k: v for k, v in (await request.form()).items() if k != "csrf_token"}
    return await run_in_threadpool(_submit, request, _entity(plural), rid, form, db, actor)


def _submit(request: Request, entity: str, rid: int | None, values: dict[str, Any], db: Session,
            actor: Actor) -> Response:
    """Save in a savepoint: an error rolls back everything the attempt wrote, and the form comes back."""
    try:
        with db.begin_nested():
            new_id = _save(db, actor, entity, values, rid)
    except DomainError as exc:
        service.forget_caches(db)
        errors = dict(exc.extra.get("errors") or {})
        if not set(errors) & {f[0] for f in FORMS[entity]}:
            errors["_form"] = exc.message_zh
        return render(request, "registry/form.html", _form_ctx(actor, entity, values, errors, rid),
                      status_code=exc.status)
    return RedirectResponse(f"/registry/{SINGULAR[entity]}/{new_id}?saved=1", status_code=303)


@router.get("/registry/{plural}/{rid}")
def detail_page(request: Request, plural: str, rid: int, saved: int = 0, db: Session = DB,
                actor: Actor = ACTOR) -> Response:
    entity = _entity(plural)
    rec = queries.detail(db, actor, entity, rid)
    return render(request, "registry/detail.html", {**_ctx(actor, entity), "rec": rec, "saved": saved,
                                                    "change_labels": CHANGE_LABELS, "full": None,
                                                    "field_labels": FIELD_LABELS[entity], **_detail_extra(actor)})


@router.get("/registry/{plural}/{rid}/edit")
def edit_page(request: Request, plural: str, rid: int, db: Session = DB, actor: Actor = ACTOR) -> Response:
    entity = _entity(plural)
    rec = queries.detail(db, actor, entity, rid)
    service.get_record(db, actor, entity, rid, Action.REGISTRY_EDIT)
    values = {k: ("" if rec.get(k) is None else rec.get(k)) for k, *_ in FORMS[entity]}
    for k in ("phone", "owner_phone", "safety_phone"):
        values.pop(k, None)  # masked: leave empty = unchanged
    if entity == "facility":
        values["crs"] = "wgs84"  # stored points are WGS-84 whatever they were entered in
    return render(request, "registry/form.html", _form_ctx(actor, entity, values, {}, rid))


@router.post("/registry/residents/{rid}/move")
def move_submit(request: Request, rid: int, address: str = Form(""), relation: str = Form("tenant"),
                moved_in: str = Form(""), db: Session = DB, actor: Actor = ACTOR) -> Response:
    return _resident_action(request, db, actor, rid, "move", lambda: service.move_resident(
        db, actor, rid, {"address": address, "relation": relation, "moved_in": moved_in}))


@router.post("/registry/residents/{rid}/tags")
def tag_submit(request: Request, rid: int, tag: str = Form(""), valid_from: str = Form(""),
               valid_to: str = Form(""), note: str = Form(""), db: Session = DB, actor: Actor = ACTOR) -> Response:
    return _resident_action(request, db, actor, rid, "tag", lambda: service.add_tag(
        db, actor, rid, {"tag": tag, "valid_from": valid_from, "valid_to": valid_to, "note": note}))


def _resident_action(request: Request, db: Session, actor: Actor, rid: int, name: str, run: Any) -> Response:
    """Run a resident action in a savepoint; on a refusal the page comes back with the reason by the form."""
    try:
        with db.begin_nested():
            run()
    except DomainError as exc:
        service.forget_caches(db)
        rec = queries.detail(db, actor, "resident", rid)
        return render(request, "registry/detail.html", {**_ctx(actor, "resident"), "rec": rec, "saved": 0,
                                                        "change_labels": CHANGE_LABELS, "full": None,
                                                        "field_labels": FIELD_LABELS["resident"], "failed": name,
                                                        "problem": exc.message_zh, **_detail_extra(actor)},
                      status_code=exc.status)
    return RedirectResponse(f"/registry/residents/{rid}?saved=1", status_code=303)


def _detail_extra(actor: Actor) -> dict[str, Any]:
    return {"relations": RELATION_LABELS,
            "tag_choices": {k: v[0] for k, v in TAGS.items() if not v[1] or can(actor, Action.SENSITIVE_TAG_VIEW)}}


@router.post("/registry/residents/{rid}/unmask")
def unmask(request: Request, rid: int, db: Session = DB, actor: Actor = ACTOR) -> Response:
    full = service.unmask_resident(db, actor, rid, ip=client_ip(request))
    rec = queries.detail(db, actor, "resident", rid)
    return render(request, "registry/detail.html", {**_ctx(actor, "resident"), "rec": rec, "saved": 0,
                                                    "change_labels": CHANGE_LABELS, "full": full,
                                                    "field_labels": FIELD_LABELS["resident"]}, block="numbers")
