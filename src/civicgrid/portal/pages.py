"""HTML routes of the public portal (no log-in): report, track and rate, nearby cases.

Forms carry a double-submit CSRF token (a strict cookie echoed by the form), a signed human check and an
idempotency key; every rule lives in portal/service.py.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from civicgrid import i18n
from civicgrid.cases.pages import PHOTO_ERRORS, read_upload, report_values
from civicgrid.cases.workflow import SATISFACTION
from civicgrid.errors import DomainError
from civicgrid.portal import service
from civicgrid.web.deps import client_ip, form_token_ok, get_db, issue_form_token, render

router = APIRouter(include_in_schema=False)
DB = Depends(get_db, scope="function")
COOKIE = "cg_public_csrf"
LAYOUT = "portal/layout.html"


def _page(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
    """Render a portal page with a fresh form token (and its cookie)."""
    token = request.cookies.get(COOKIE) or uuid.uuid4().hex
    strings = i18n.js_strings(request.cookies.get(i18n.COOKIE, ""))
    response = render(request, name, {"layout": LAYOUT, "form_token": token, "js_strings": strings, **ctx},
                      status_code=status)
    issue_form_token(response, COOKIE, token)
    return response


def _expired(request: Request, token: str) -> DomainError | None:
    if form_token_ok(request, token, COOKIE):
        return None
    return DomainError("csrf_failed", "页面已过期,请刷新后重新提交", "Form token missing or wrong", status=403)


@router.get("/lang")
def choose_language(to: str = "", next: str = "/public") -> Response:
    """Switch the pages' language (a cookie for a year) and go back where the user was."""
    from civicgrid.access.pages import safe_next

    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(i18n.COOKIE, i18n.pick(to), max_age=365 * 86400, samesite="lax")
    return response


@router.get("/public")
def portal_home(request: Request) -> Response:
    return _page(request, "portal/home.html", {})


def _report_ctx(db: Session, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                key: str | None = None, suggestions: list[Any] | None = None) -> dict[str, Any]:
    return {"categories": service.catalogue(db), "values": values or {}, "errors": errors or {},
            "key": key or uuid.uuid4().hex, "challenge": service.new_challenge(), "public": True,
            "suggestions": suggestions or [], "form_action": "/public/report"}


@router.get("/public/report")
def portal_report_form(request: Request, db: Session = DB) -> Response:
    return _page(request, "cases/report.html", _report_ctx(db))


@router.post("/public/report")
def portal_report(request: Request, title: str = Form(""), category: str = Form(""), description: str = Form(""),
                  address: str = Form(""), lon: str = Form(""), lat: str = Form(""), crs: str = Form("wgs84"),
                  urgency: str = Form(""), phone: str = Form(""), answer: str = Form(""), challenge: str = Form(""),
                  idempotency_key: str = Form(""), csrf_token: str = Form(""), website: str = Form(""),
                  photo: UploadFile | None = File(None), db: Session = DB) -> Response:
    values, payload = report_values(title=title, category=category, description=description, address=address,
                                    lon=lon, lat=lat, crs=crs, urgency=urgency, phone=phone)
    try:
        problem = _expired(request, csrf_token)
        if problem:
            raise problem
        if website:  # a field people never see: only robots fill it
            raise DomainError("human_check_failed", "提交未通过人机校验", "Honeypot field filled",
                              extra={"field": "answer"})
        with db.begin_nested():
            case, code = service.report(db, payload, ip=client_ip(request) or "", challenge=challenge,
                                        answer=answer, idempotency_key=idempotency_key.strip(),
                                        photo=(read_upload(photo), photo.filename or "") if photo else None)
    except DomainError as exc:
        field = exc.extra.get("field") or ("photo" if exc.code in PHOTO_ERRORS else "_form")
        field = "lon" if field == "location" else field
        ctx = _report_ctx(db, values, {field: exc.message_zh}, idempotency_key.strip() or None,
                          exc.extra.get("suggestions", []))
        return _page(request, "cases/report.html", ctx, exc.status)
    return _page(request, "portal/done.html", {"number": case.number, "code": code, "title": case.title})


@router.get("/public/suggest")
def portal_suggest(text: str = "", db: Session = DB) -> JSONResponse:
    return JSONResponse(service.suggest(db, text))


@router.get("/public/boundaries.json")
def portal_boundaries(db: Session = DB) -> JSONResponse:
    return JSONResponse(service.boundaries(db), headers={"Cache-Control": "public, max-age=3600"})


@router.get("/public/track")
def portal_track_form(request: Request, number: str = "") -> Response:
    return _page(request, "portal/track.html", {"values": {"number": number}, "errors": {}})


@router.post("/public/track")
def portal_track(request: Request, number: str = Form(""), proof: str = Form(""), csrf_token: str = Form(""),
                 db: Session = DB) -> Response:
    try:
        problem = _expired(request, csrf_token)
        if problem:
            raise problem
        view = service.track(db, number, proof)
    except DomainError as exc:
        return _page(request, "portal/track.html", {"values": {"number": number}, "errors": {"_form": exc.message_zh}},
                     exc.status)
    return _page(request, "portal/track.html", {"values": {"number": number}, "errors": {}, "view": view,
                                                "proof": proof, "satisfaction": SATISFACTION})


@router.post("/public/rate")
def portal_rate(request: Request, number: str = Form(""), proof: str = Form(""), satisfaction: str = Form(""),
                note: str = Form(""), csrf_token: str = Form(""), db: Session = DB) -> Response:
    ctx: dict[str, Any] = {"values": {"number": number}, "proof": proof, "satisfaction": SATISFACTION, "errors": {}}
    try:
        problem = _expired(request, csrf_token)
        if problem:
            raise problem
        with db.begin_nested():
            ctx["view"] = service.rate(db, number, proof, satisfaction, note)
        ctx["rated"] = True
    except DomainError as exc:
        db.expire_all()
        ctx["errors"] = {exc.extra.get("field") or "rate": exc.message_zh}
        try:
            ctx["view"] = service.track(db, number, proof)
        except DomainError:
            ctx["errors"] = {"_form": exc.message_zh}
        return _page(request, "portal/track.html", ctx, exc.status)
    return _page(request, "portal/track.html", ctx)


@router.get("/public/nearby")
def portal_nearby(request: Request, lon: float | None = None, lat: float | None = None, radius: float = 1000,
                  db: Session = DB) -> Response:
    ctx: dict[str, Any] = {"lon": lon, "lat": lat, "radius": radius, "items": None, "errors": {}, "points": []}
    if lon is not None and lat is not None:
        try:
            ctx["items"] = service.nearby(db, lon, lat, radius)
        except DomainError as exc:
            ctx["errors"] = {"_form": exc.message_zh}
        ctx["points"] = [{"value": [i["lon"], i["lat"]], "name": i["title"], "stage": i["stage"]}
                         for i in ctx["items"] or []]
    return _page(request, "portal/nearby.html", ctx)
