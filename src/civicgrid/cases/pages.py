"""HTML routes of cases: the queues (console), a case with its timeline and action forms, the report form.

Every change goes through the same service functions as the API (service.report_case, service.act).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from civicgrid.access.policy import Action, Actor, can, may_bulk_act
from civicgrid.cases import service
from civicgrid.cases.engine import NOTIFY_TEXT
from civicgrid.cases.workflow import ACTION_LABELS, LEVEL_LABELS, SATISFACTION, STATES, SUPERVISION_GRADES
from civicgrid.errors import DomainError
from civicgrid.geo import service as geo
from civicgrid.matters import service as matters
from civicgrid.web.deps import current_actor, get_db, render

router = APIRouter(include_in_schema=False)
DB = Depends(get_db, scope="function")
ACTOR = Depends(current_actor)
PAGE = 20


def _default_queue(actor: Actor) -> str:
    from civicgrid.access.policy import Role

    roles = actor.roles
    if roles & {Role.VILLAGE_OPERATOR, Role.TOWN_DISPATCHER, Role.CITY_DISPATCHER}:
        return "to_accept"
    if Role.DEPARTMENT_HANDLER in roles:
        return "department"
    if Role.GRID_WORKER in roles:
        return "to_verify"
    return "all"


FILTERS = ("q", "state", "light", "source", "category", "sort", "region", "date_from", "date_to", "reporter",
           "verifier")


def _list_ctx(request: Request, db: Session, actor: Actor, queue: str | None, page: int) -> dict[str, Any]:
    from civicgrid.cases.workflow import SOURCES

    f = {k: (request.query_params.get(k) or "").strip() for k in FILTERS}
    # region / category / source / dates (local, inclusive) also arrive from the assessment drill-down
    queue = queue or ("all" if f["region"] or f["date_from"] or f["reporter"] or f["verifier"]
                      else _default_queue(actor))
    page = max(page, 1)
    result = service.list_cases(db, actor, queue=queue, text=f["q"] or None, state=f["state"] or None,
                                light=f["light"] or None, source=f["source"] or None,
                                category=f["category"] or None, sort=f["sort"] or "due", region=f["region"] or None,
                                date_from=service.local_day_start(f["date_from"]),
                                date_to=service.local_day_start(f["date_to"], next_day=True),
                                reporter=f["reporter"] or None, verifier=f["verifier"] or None,
                                limit=PAGE, offset=(page - 1) * PAGE)
    query = urlencode({"queue": queue, **{k: v for k, v in f.items() if v}})
    region_name = geo.get_region(db, actor, f["region"]).name if f["region"] else ""
    people = service.display_names(db, [f["reporter"], f["verifier"]])
    people = {"reporter": people.get(f["reporter"], ""), "verifier": people.get(f["verifier"], "")}
    bulk = may_bulk_act(actor)
    return {"queue": queue, "queues": service.QUEUES, "counts": service.queue_counts(db, actor), "result": result,
            "f": f, "query": query, "page": page, "pages": max(1, -(-result["total"] // PAGE)), "states": STATES,
            "sources": SOURCES, "sorts": service.SORTS, "classes": _classes(db, actor),
            "can_report": can(actor, Action.CASE_REPORT), "bulk": bulk, "region_name": region_name, "people": people,
            "bulk_departments": service.bulk_departments(db, actor) if bulk else [], "grades": SUPERVISION_GRADES}


def _classes(db: Session, actor: Actor) -> list[dict[str, str]]:
    """Category classes for the filter (kind · class)."""
    return [{"code": cl["code"], "name": f"{k['name']} · {cl['name']}"} for k in matters.tree(db, actor)
            for cl in k["children"]]


@router.get("/cases")
def case_list(request: Request, queue: str | None = None, page: int = 1, db: Session = DB,
              actor: Actor = ACTOR) -> Response:
    return render(request, "cases/list.html", _list_ctx(request, db, actor, queue, page), block="rows")


@router.post("/cases/bulk")
def case_bulk(request: Request, action: str = Form(""), pick: list[str] = Form([]), department: str = Form(""),
              grade: str = Form(""), note: str = Form(""), queue: str = Form(""), db: Session = DB,
              actor: Actor = ACTOR) -> Response:
    items = []
    for p in pick:
        number, _, version = p.partition("@")
        items.append((number, int(version) if version.isdigit() else None))
    payload = {k: v.strip() for k, v in {"department": department, "grade": grade, "note": note}.items() if v.strip()}
    try:
        results = service.bulk_act(db, actor, items, action, payload)
        error = None
    except DomainError as exc:
        results, error = [], exc.message_zh
    ctx = _list_ctx(request, db, actor, queue or None, 1)
    ctx.update(bulk_results=results, bulk_error=error, bulk_action=ACTION_LABELS.get(action, action),
               bulk_values=payload | {"action": action})
    return render(request, "cases/list.html", ctx, status_code=400 if error else 200)


@router.get("/cases/counts")
def case_counts(request: Request, queue: str = "all", db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "cases/_counts.html", {"queue": queue, "queues": service.QUEUES,
                                                  "counts": service.queue_counts(db, actor)})


def _detail_ctx(db: Session, actor: Actor, number: str) -> dict[str, Any]:
    detail = service.case_detail(db, actor, number)
    case = service.get_case(db, actor, number)
    names = [a["name"] for a in detail["actions"]]
    ctx: dict[str, Any] = {"c": detail, "levels": LEVEL_LABELS, "satisfaction": SATISFACTION,
                           "grades": SUPERVISION_GRADES, "errors": {}, "values": {}, "problem": None}
    if {"dispatch", "reroute"} & set(names):
        ctx["departments"] = service.dispatch_options(db, case)
    if {"recategorise", "accept"} & set(names):
        ctx["categories"] = matters.tree(db, actor)
    if "merge" in names:
        ctx["similar"] = service.similar_cases(db, actor, case)
    return ctx


@router.get("/cases/{number}")
def case_page(request: Request, number: str, done: str | None = None, db: Session = DB,
              actor: Actor = ACTOR) -> Response:
    ctx = _detail_ctx(db, actor, number)
    ctx["done"] = done
    return render(request, "cases/detail.html", ctx)


@router.post("/cases/{number}/phone")
def case_reveal_phone(request: Request, number: str, db: Session = DB, actor: Actor = ACTOR) -> Response:
    """The reporter's whole phone number (audited), for calling back."""
    from civicgrid.web.deps import client_ip

    phone = service.reveal_phone(db, actor, number, ip=client_ip(request))
    ctx = _detail_ctx(db, actor, number)
    ctx["revealed_phone"] = phone
    return render(request, "cases/detail.html", ctx)


@router.post("/cases/{number}/act/{action}")
def case_act(request: Request, number: str, action: str, version: str = Form(""), note: str = Form(""),
             department: str = Form(""), category: str = Form(""), urgency: str = Form(""), result: str = Form(""),
             satisfaction: str = Form(""), hours: str = Form(""), grade: str = Form(""), master: str = Form(""),
             master_number: str = Form(""),
             target_region: str = Form(""), photo: UploadFile | None = File(None), db: Session = DB,
             actor: Actor = ACTOR) -> Response:
    given = {"note": note, "department": department, "category": category, "urgency": urgency, "result": result,
             "satisfaction": satisfaction, "hours": hours, "grade": grade,
             "master": master.strip() or master_number.strip(), "target_region": target_region}
    values = {k: v.strip() for k, v in given.items() if v and v.strip()}
    payload: dict[str, Any] = dict(values)
    if "hours" in payload:
        try:
            payload["hours"] = float(payload["hours"])
        except ValueError:
            payload["hours"] = -1
    expected = int(version) if version.isdigit() else None
    try:
        with db.begin_nested():  # the upload and the action stand or fall together
            data = read_upload(photo)
            if data:
                att = service.add_photo(db, actor, number, data, photo.filename or "")  # type: ignore[union-attr]
                payload["photos"] = [att.id]
            service.act(db, actor, number, action, payload, expected_version=expected, client="web")
    except DomainError as exc:
        db.expire_all()
        ctx = _detail_ctx(db, actor, number)
        field = exc.extra.get("field") or ("photo" if exc.code in PHOTO_ERRORS else "_form")
        ctx.update(errors={field: exc.message_zh}, values=values, failed=action, problem=exc)
        return render(request, "cases/detail.html", ctx, status_code=exc.status)
    return RedirectResponse(f"/cases/{number}?done={action}", status_code=303)


PHOTO_ERRORS = ("unsupported_file_type", "corrupt_image", "file_too_large", "image_too_large", "empty_file")


def read_upload(upload: UploadFile | None) -> bytes:
    """The bytes of an optional upload, read up to one byte past the limit (the checker refuses it)."""
    from civicgrid.config import get_settings

    if upload is None or not upload.filename:
        return b""
    return upload.file.read(int(get_settings().upload_max_mb * 1024 * 1024) + 1)


# the queues a phone user's workbench shows first, by role
WORK_TILES = {"grid_worker": ("to_verify", "mine", "overdue"), "citizen": ("mine",)}


@router.get("/work")
def workbench(request: Request, db: Session = DB, actor: Actor = ACTOR) -> Response:
    """A phone user's start page: report, the tasks waiting, my latest reports, my grid, messages."""
    counts = service.queue_counts(db, actor)
    tiles = []
    for g in actor.grants:
        tiles += [q for q in WORK_TILES.get(g.role.value, ()) if q in counts and q not in tiles]
    ctx = {"counts": counts, "tiles": tiles or [q for q, n in counts.items() if n][:4], "queues": service.QUEUES,
           "verify": service.list_cases(db, actor, queue="to_verify", limit=5)["items"] if "to_verify" in tiles else [],
           "mine": service.list_cases(db, actor, queue="mine", sort="new", limit=5)["items"],
           "can_report": can(actor, Action.CASE_REPORT), "has_grid": bool(actor.grid_ids)}
    return render(request, "cases/work.html", ctx)


@router.get("/inbox")
def inbox_page(request: Request, unread: bool = False, page: int = 1, db: Session = DB,
               actor: Actor = ACTOR) -> Response:
    page = max(page, 1)
    box = service.inbox(db, actor, unread_only=unread, limit=PAGE, offset=(page - 1) * PAGE)
    return render(request, "cases/inbox.html", {"box": box, "unread": unread, "page": page,
                                                "pages": max(1, -(-box["total"] // PAGE)),
                                                "kinds": NOTIFY_TEXT})


@router.post("/inbox/read")
def inbox_mark_read(request: Request, id: int | None = Form(None), db: Session = DB,
                    actor: Actor = ACTOR) -> Response:
    service.mark_read(db, actor, [id] if id else None)
    return RedirectResponse("/inbox", status_code=303)


@router.get("/report")
def report_page(request: Request, db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "cases/report.html", _report_ctx(db, actor))


def _report_ctx(db: Session, actor: Actor) -> dict[str, Any]:
    return {"categories": matters.tree(db, actor), "errors": {}, "values": {}, "key": uuid.uuid4().hex}


def report_values(**form: str) -> tuple[dict[str, str], dict[str, Any]]:
    """A report form's fields as typed (to show again on error) and as the intake payload."""
    values = {k: (v or "").strip() for k, v in form.items()}
    values["crs"] = values.get("crs") or "wgs84"
    payload: dict[str, Any] = {k: v for k, v in values.items() if v and k not in ("lon", "lat")}
    try:
        if values.get("lon") and values.get("lat"):
            payload["lon"], payload["lat"] = float(values["lon"]), float(values["lat"])
    except ValueError:
        pass
    return values, payload


@router.post("/report")
def report_submit(request: Request, title: str = Form(""), category: str = Form(""), description: str = Form(""),
                  address: str = Form(""), lon: str = Form(""), lat: str = Form(""), crs: str = Form("wgs84"),
                  urgency: str = Form(""), idempotency_key: str = Form(""), photo: UploadFile | None = File(None),
                  db: Session = DB, actor: Actor = ACTOR) -> Response:
    values, payload = report_values(title=title, category=category, description=description, address=address,
                                    lon=lon, lat=lat, crs=crs, urgency=urgency)
    key = idempotency_key.strip() or None
    try:
        with db.begin_nested():
            case, created = service.report_case(db, actor, payload, idempotency_key=key, client="web")
            data = read_upload(photo) if created else b""
            if data:
                att = service.add_photo(db, actor, case.number, data, photo.filename or "")  # type: ignore[union-attr]
                service.attach_to_report(db, case, att)
    except DomainError as exc:
        ctx = _report_ctx(db, actor)
        field = exc.extra.get("field") or ("photo" if exc.code in PHOTO_ERRORS else "_form")
        if field == "location":
            field = "lon"
        ctx.update(errors={field: exc.message_zh}, values=values, key=key or ctx["key"],
                   suggestions=exc.extra.get("suggestions", []))
        return render(request, "cases/report.html", ctx, status_code=exc.status)
    return RedirectResponse(f"/cases/{case.number}?done=report", status_code=303)
