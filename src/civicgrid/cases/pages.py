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

from civicgrid.access.policy import Action, Actor, can
from civicgrid.cases import service
from civicgrid.cases.engine import NOTIFY_TEXT
from civicgrid.cases.workflow import LEVEL_LABELS, SATISFACTION, STATES, SUPERVISION_GRADES
from civicgrid.errors import DomainError
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


@router.get("/cases")
def case_list(request: Request, queue: str | None = None, q: str | None = None, state: str | None = None,
              light: str | None = None, page: int = 1, region: str | None = None, category: str | None = None,
              source: str | None = None, date_from: str | None = None, date_to: str | None = None,
              db: Session = DB, actor: Actor = ACTOR) -> Response:
    # region/category/source/date_from/date_to (local dates, inclusive) arrive from the assessment drill-down
    queue = queue or ("all" if region or date_from else _default_queue(actor))
    page = max(page, 1)
    result = service.list_cases(db, actor, queue=queue, text=q or None, state=state or None, light=light or None,
                                region=region or None, category=category or None, source=source or None,
                                date_from=service.local_day_start(date_from), date_to=service.local_day_start(
                                    date_to, next_day=True), limit=PAGE, offset=(page - 1) * PAGE)
    counts = service.queue_counts(db, actor)
    ctx = {"queue": queue, "queues": service.QUEUES, "counts": counts, "result": result, "q": q or "",
           "state": state or "", "light": light or "", "page": page, "pages": max(1, -(-result["total"] // PAGE)),
           "states": STATES, "can_report": can(actor, Action.CASE_REPORT),
           "filters_qs": urlencode({k: v for k, v in {"region": region, "category": category, "source": source,
                                                       "date_from": date_from, "date_to": date_to}.items() if v})}
    return render(request, "cases/list.html", ctx, block="rows")


@router.get("/cases/counts")
def case_counts(request: Request, queue: str = "all", db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "cases/list.html", {"queue": queue, "queues": service.QUEUES,
                                               "counts": service.queue_counts(db, actor)}, block="counts")


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
    return ctx


@router.get("/cases/{number}")
def case_page(request: Request, number: str, done: str | None = None, db: Session = DB,
              actor: Actor = ACTOR) -> Response:
    ctx = _detail_ctx(db, actor, number)
    ctx["done"] = done
    return render(request, "cases/detail.html", ctx)


@router.post("/cases/{number}/act/{action}")
def case_act(request: Request, number: str, action: str, version: str = Form(""), note: str = Form(""),
             department: str = Form(""), category: str = Form(""), urgency: str = Form(""), result: str = Form(""),
             satisfaction: str = Form(""), hours: str = Form(""), grade: str = Form(""), master: str = Form(""),
             target_region: str = Form(""), photo: UploadFile | None = File(None), db: Session = DB,
             actor: Actor = ACTOR) -> Response:
    given = {"note": note, "department": department, "category": category, "urgency": urgency, "result": result,
             "satisfaction": satisfaction, "hours": hours, "grade": grade, "master": master,
             "target_region": target_region}
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
            data = _read_upload(photo)
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


def _read_upload(upload: UploadFile | None) -> bytes:
    """The bytes of an optional upload, read up to one byte past the limit (the checker refuses it)."""
    from civicgrid.config import get_settings

    if upload is None or not upload.filename:
        return b""
    return upload.file.read(int(get_settings().upload_max_mb * 1024 * 1024) + 1)


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


@router.post("/report")
def report_submit(request: Request, title: str = Form(""), category: str = Form(""), description: str = Form(""),
                  address: str = Form(""), lon: str = Form(""), lat: str = Form(""), crs: str = Form("wgs84"),
                  urgency: str = Form(""), idempotency_key: str = Form(""), photo: UploadFile | None = File(None),
                  db: Session = DB, actor: Actor = ACTOR) -> Response:
    values = {"title": title.strip(), "category": category.strip(), "description": description.strip(),
              "address": address.strip(), "lon": lon.strip(), "lat": lat.strip(), "crs": crs.strip() or "wgs84",
              "urgency": urgency.strip()}
    payload: dict[str, Any] = {k: v for k, v in values.items() if v and k not in ("lon", "lat")}
    try:
        if values["lon"] and values["lat"]:
            payload["lon"], payload["lat"] = float(values["lon"]), float(values["lat"])
    except ValueError:
        pass
    key = idempotency_key.strip() or None
    try:
        with db.begin_nested():
            case, created = service.report_case(db, actor, payload, idempotency_key=key, client="web")
            data = _read_upload(photo) if created else b""
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
