"""Request plumbing shared by every domain's api.py and pages.py: the session, the actor, CSRF, rendering."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from civicgrid.access import service as access_service
from civicgrid.access.policy import ROLE_LABELS, Actor, can
from civicgrid.db import get_sessionmaker, unit_of_work
from civicgrid.errors import Forbidden, Unauthenticated
from civicgrid.registry.schemas import FACILITY_LEGEND

SESSION_COOKIE = "cg_session"
LOGIN_CSRF_COOKIE = "cg_login_csrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
TEMPLATES_DIR = Path(__file__).parent / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals.update(role_labels=ROLE_LABELS, can=can, facility_legend=FACILITY_LEGEND)


def _localtime(value: Any, fmt: str = "%m-%d %H:%M") -> str:
    """An ISO time (or datetime) shown in China time, as people read it: 11-29 09:30."""
    from datetime import datetime

    from civicgrid import clock

    if not value:
        return ""
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = dt.astimezone(clock.CHINA_TZ)
    if local.year != clock.now().astimezone(clock.CHINA_TZ).year:
        fmt = "%Y-" + fmt
    return local.strftime(fmt)


templates.env.filters["localtime"] = _localtime


def get_db(request: Request) -> Iterator[Session]:
    """One transaction per request: commit when the handler returns, roll back when it raises; a request that
    may write (not GET/HEAD/OPTIONS) takes SQLite's write lock first (see `unit_of_work`)."""
    factory = getattr(request.app.state, "sessionmaker", None) or get_sessionmaker()
    with unit_of_work(factory, writes=request.method not in SAFE_METHODS) as session:
        yield session


def issue_form_token(response: Response, cookie: str = LOGIN_CSRF_COOKIE, token: str | None = None) -> str:
    """CSRF for forms of people not logged in (log-in, public portal): a random token in a strict cookie that
    the form must echo (double submit)."""
    token = token or secrets.token_urlsafe(24)
    response.set_cookie(cookie, token, httponly=True, samesite="strict", max_age=3600)
    return token


def form_token_ok(request: Request, sent: str, cookie: str = LOGIN_CSRF_COOKIE) -> bool:
    held = request.cookies.get(cookie, "")
    return bool(held) and bool(sent) and secrets.compare_digest(held, sent)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def current_actor(request: Request, db: Session = Depends(get_db, scope="function")) -> Actor:
    """The actor of a request: a bearer API key, or a session cookie (unsafe methods then need CSRF)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        # database work runs in the thread pool: blocking the event loop would stall every other request
        actor = await run_in_threadpool(access_service.api_key_actor, db, auth[7:].strip())
        request.state.actor = actor
        return actor
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated()
    actor, csrf = await run_in_threadpool(access_service.session_actor, db, token)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get("csrf_token")  # type: ignore[assignment]
        if not sent or not secrets.compare_digest(str(sent), csrf):
            raise Forbidden("csrf_failed", "页面已过期或来源不明(CSRF 校验失败),请刷新后重试",
                            "CSRF token missing or wrong; reload the page and retry")
    request.state.actor = actor
    request.state.csrf = csrf
    if request.method in SAFE_METHODS and wants_html(request):  # the top bar's unread badge
        request.state.unread = await run_in_threadpool(_unread, db, actor.user_id)
    return actor


def _unread(db: Session, user_id: int) -> int:
    from sqlalchemy import func, select

    from civicgrid.cases.models import Notification

    return db.scalar(select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def wants_html(request: Request) -> bool:
    """Pages get HTML errors; /api, /health and /docs callers get JSON."""
    path = request.url.path
    return not (path.startswith("/api") or path.startswith("/health")) and "text/html" in request.headers.get(
        "accept", "text/html")


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
           block: str | None = None) -> HTMLResponse:
    """Render a page, or only its named block when htmx asks (HX-Request) and block is given."""
    from civicgrid import i18n

    locale = i18n.pick(request.cookies.get(i18n.COOKIE))
    ctx: dict[str, Any] = {"request": request, "actor": getattr(request.state, "actor", None),
                           "_": i18n.Translator(locale), "locale": locale, "locales": i18n.LOCALES,
                           "csrf_token": getattr(request.state, "csrf", ""),
                           "unread_notes": getattr(request.state, "unread", 0)}
    ctx.update(context or {})
    if block and request.headers.get("hx-request"):
        tmpl = templates.env.get_template(name)
        html = "".join(tmpl.blocks[block](tmpl.new_context(ctx)))
        return HTMLResponse(html, status_code=status_code)
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
