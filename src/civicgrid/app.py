"""The ASGI application: routers of every domain, static assets, error rendering."""

from __future__ import annotations

from contextlib import asynccontextmanager

import logging
import time
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from civicgrid import __version__
from civicgrid.config import get_settings
from civicgrid.errors import DomainError, Unauthenticated
from civicgrid.logs import configure_logging
from civicgrid.web.deps import render, wants_html

log = logging.getLogger("civicgrid.http")

API_DESCRIPTION = """
civicgrid (智网) — grid-based social governance: regions from city to grid, the locator,
departments, command centres, users and role scopes.

Authentication: a session cookie (pages; unsafe methods need the `X-CSRF-Token` header) or
`Authorization: Bearer cg_<prefix>_<secret>` for integrations. Errors are JSON
`{"code": stable machine code, "message": Chinese message, "detail": English detail}`; a record
outside your scope is 404, an action your roles do not carry is 403.
"""


def create_app(sessionmaker=None) -> FastAPI:
    """Build the application; tests pass their own sessionmaker."""
    configure_logging()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from civicgrid.cases.jobs import Scheduler
        from civicgrid.db import get_sessionmaker

        from civicgrid.analytics.bulletins import monthly_due

        scheduler = Scheduler(sessionmaker or get_sessionmaker(), get_settings().sweep_interval_s)
        scheduler.start()
        # monthly bulletins: checked hourly while the sweep runs (off when the sweep is off, e.g. in tests)
        monthly = Scheduler(sessionmaker or get_sessionmaker(), 3600 if get_settings().sweep_interval_s > 0 else 0,
                            job=monthly_due, name="bulletins")
        monthly.start()
        yield
        monthly.stop()
        scheduler.stop()

    app = FastAPI(title="civicgrid 智网", version=__version__, description=API_DESCRIPTION, lifespan=lifespan,
                  openapi_tags=[{"name": "geo", "description": "区域、边界与定位 Regions, boundaries, locator"},
                                {"name": "access", "description": "用户、角色、部门 Users, roles, departments"},
                                {"name": "cases", "description": "事件闭环 Cases and the closed loop"},
                                {"name": "matters", "description": "事项清单 Matter catalogue"},
                                {"name": "registry", "description": "二标四实基础数据 Base-data registry"},
                                {"name": "analytics", "description": "考核统计、排名与通报 Assessment"},
                                {"name": "system", "description": "运行状态 Health"}])
    app.state.sessionmaker = sessionmaker
    static = Path(__file__).parent / "web" / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    from civicgrid.access import api as access_api
    from civicgrid.access import pages as access_pages
    from civicgrid.geo import api as geo_api
    from civicgrid.geo import pages as geo_pages

    from civicgrid.cases import api as cases_api
    from civicgrid.matters import api as matters_api

    app.include_router(geo_api.router)
    app.include_router(cases_api.router)
    app.include_router(matters_api.router)
    app.include_router(access_api.router)
    app.include_router(access_pages.router)
    app.include_router(geo_pages.router)
    from civicgrid.cases import pages as cases_pages

    app.include_router(cases_pages.router)
    from civicgrid.portal import pages as portal_pages

    app.include_router(portal_pages.router)
    from civicgrid.matters import pages as matters_pages

    app.include_router(matters_pages.router)
    from civicgrid.registry import api as registry_api
    from civicgrid.registry import pages as registry_pages

    app.include_router(registry_api.router)
    app.include_router(registry_pages.router)
    from civicgrid.analytics import api as analytics_api
    from civicgrid.analytics import pages as analytics_pages

    app.include_router(analytics_api.router)
    app.include_router(analytics_pages.router)

    @app.get("/health", tags=["system"], summary="运行状态 Health check")
    def health(request: Request) -> JSONResponse:
        from civicgrid.db import get_sessionmaker

        factory = request.app.state.sessionmaker or get_sessionmaker()
        try:
            with factory() as s:
                s.execute(text("select 1"))
            return JSONResponse({"status": "ok", "database": "ok", "version": __version__})
        except Exception as exc:  # the point of /health is to report any failure
            return JSONResponse({"status": "error", "database": str(exc)[:200]}, status_code=503)

    @app.middleware("http")
    async def access_log(request: Request, call_next):
        start = time.perf_counter()
        response: Response = await call_next(request)
        if not request.url.path.startswith("/static"):
            log.info("request", extra={"method": request.method, "path": request.url.path,
                                       "status": response.status_code,
                                       "ms": round((time.perf_counter() - start) * 1000, 1)})
        return response

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        if isinstance(exc, Unauthenticated) and wants_html(request) and request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        if wants_html(request):
            return render(request, "error.html", {"error": exc}, status_code=exc.status)
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", [])), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        body = {"code": "validation_error", "message": "请求参数格式错误,请检查后重试",
                "detail": "Request validation failed", "errors": errors}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        msg = {404: "页面或记录不存在", 405: "不支持该请求方法"}.get(exc.status_code, "请求失败")
        err = DomainError(code, msg, str(exc.detail), status=exc.status_code)
        if wants_html(request):
            return render(request, "error.html", {"error": err}, status_code=exc.status_code)
        return JSONResponse(err.to_dict(), status_code=exc.status_code)

    return app
