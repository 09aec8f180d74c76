"""HTML routes of the access domain: log-in, log-out, password change."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from civicgrid.access import service
from civicgrid.access.api import set_session_cookie
from civicgrid.access.policy import Actor
from civicgrid.errors import BadInput, Unauthenticated
from civicgrid.web.deps import (LOGIN_CSRF_COOKIE, SESSION_COOKIE, client_ip, current_actor, form_token_ok, get_db,
                                issue_form_token, render)

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after log-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def login_form(request: Request, *, status: int = 200, **ctx) -> Response:
    token = secrets.token_urlsafe(24)
    ctx.setdefault("next", safe_next(request.query_params.get("next")))
    response = render(request, "access/login.html", {"login_csrf": token, **ctx}, status_code=status)
    issue_form_token(response, token=token)
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    notice = "您已退出登录。" if request.query_params.get("bye") else None
    return login_form(request, notice=notice)


@router.post("/login")
def login_submit(request: Request, username: str = Form(""), password: str = Form(""),
                 csrf_token: str = Form(""), next: str = Form("/map"), db: Session = Depends(get_db, scope="function")) -> Response:
    if not form_token_ok(request, csrf_token):
        return login_form(request, status=403, username=username, next=safe_next(next),
                          error="页面已过期(CSRF 校验失败),请重新登录")
    try:
        token, _csrf, _user = service.login(db, username, password, ip=client_ip(request))
    except Unauthenticated as exc:
        return login_form(request, status=401, username=username, next=safe_next(next), error=exc.message_zh)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> Response:
    service.logout(db, request.cookies.get(SESSION_COOKIE, ""), ip=client_ip(request))
    response = RedirectResponse("/login?bye=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/account/password")
def password_page(request: Request, actor: Actor = Depends(current_actor)) -> Response:
    return render(request, "access/password.html", {"errors": {}})


@router.post("/account/password")
def password_submit(request: Request, old_password: str = Form(""), new_password: str = Form(""),
                    db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> Response:
    try:
        service.change_password(db, actor, old_password, new_password, ip=client_ip(request))
    except BadInput as exc:
        field = exc.extra.get("field", "new_password")
        return render(request, "access/password.html", {"errors": {field: exc.message_zh}}, status_code=400)
    return render(request, "access/password.html", {"errors": {}, "done": True})


@router.get("/")
def home(actor: Actor = Depends(current_actor)) -> Response:
    """Desk staff land on their queues, grid workers and citizens on their phone workbench, others on the map."""
    from civicgrid.access.policy import Role

    desks = {Role.VILLAGE_OPERATOR, Role.TOWN_DISPATCHER, Role.CITY_DISPATCHER, Role.DEPARTMENT_HANDLER}
    if actor.roles & desks:
        return RedirectResponse("/cases", status_code=303)
    if actor.roles & {Role.GRID_WORKER, Role.CITIZEN}:  # on a phone: the workbench
        return RedirectResponse("/work", status_code=303)
    return RedirectResponse("/map", status_code=303)
