"""HTML routes of the matter catalogue (administration): the tree, one category's rules with their revisions,
XLSX export and import. Every change goes through the same service functions as the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from civicgrid.access.models import DEPARTMENT_KINDS
from civicgrid.access.policy import Action, Actor, can
from civicgrid.errors import BadInput
from civicgrid.matters import service, xlsx
from civicgrid.matters.models import STEPS, URGENCIES
from civicgrid.web.deps import current_actor, get_db, render, templates

router = APIRouter(include_in_schema=False)
DB = Depends(get_db, scope="function")
ACTOR = Depends(current_actor)
MAX_UPLOAD = 5 * 1024 * 1024
LABELS = {"levels": service.LEVEL_LABELS, "kinds": service.KIND_LABELS, "steps": service.STEP_LABELS,
          "urgencies": service.URGENCY_LABELS, "modes": xlsx.MODE_LABELS, "departments": DEPARTMENT_KINDS,
          "step_codes": STEPS, "urgency_codes": URGENCIES}


def _hours(value: Any) -> str:
    """Hours as people write them: 24 小时, 0.5 小时."""
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value:g} 小时"


def _number(value: Any) -> Any:
    """A number as typed in a form (1 rather than 1.0); anything else unchanged."""
    return f"{value:g}" if isinstance(value, float) else value


templates.env.filters["hours"] = _hours
templates.env.filters["number"] = _number


def _tree_page(request: Request, db: Session, actor: Actor, *, status: int = 200, **extra: Any) -> Response:
    ctx = {"tree": service.tree(db, actor, include_retired=True), "manage": can(actor, Action.MATTER_MANAGE),
           **LABELS, **extra}
    return render(request, "admin/matters.html", ctx, status_code=status)


@router.get("/admin/matters")
def matters_page(request: Request, db: Session = DB, actor: Actor = ACTOR) -> Response:
    return _tree_page(request, db, actor)


@router.post("/admin/matters/import")
def matters_import(request: Request, file: UploadFile | None = File(None), db: Session = DB,
                   actor: Actor = ACTOR) -> Response:
    data = file.file.read(MAX_UPLOAD + 1) if file is not None and file.filename else b""
    try:
        if not data:
            raise BadInput("no_file", "请选择要导入的 .xlsx 文件", "No file")
        if len(data) > MAX_UPLOAD:
            raise BadInput("file_too_large", "文件超过 5 MB", "File larger than 5 MB")
        with db.begin_nested():
            result = service.import_catalogue(db, actor, xlsx.read_catalogue(data))
    except BadInput as exc:
        return _tree_page(request, db, actor, status=exc.status, import_error=exc.message_zh,
                          import_rows=exc.extra.get("errors", []))
    return _tree_page(request, db, actor, imported=result)


def _limit(value: str) -> Any:
    """An hours field as typed: a number when it is one, else the text (the service says what is wrong)."""
    value = value.strip()
    try:
        return float(value) if value else None
    except ValueError:
        return value


async def form_fields(request: Request) -> dict[str, str]:
    """The text fields of a posted form (already parsed for the CSRF check, so this costs nothing)."""
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


def _changes(text: dict[str, str], leaf: bool) -> dict[str, Any]:
    """What update_category accepts, from the edit form: names and flags, and on leaves the rules."""
    changes: dict[str, Any] = {"name": text.get("name", "").strip(), "active": "active" in text}
    sort = text.get("sort", "").strip()
    changes["sort"] = int(sort) if sort.lstrip("-").isdigit() else 0
    if leaf:
        changes.update({f: text.get(f, "").strip() for f in ("filing_standard", "closing_standard")})
        changes.update({f: f in text for f in ("village_may_close", "escalate_on_overdue", "public")})
        changes["hours_mode"] = text.get("hours_mode", "working")
        changes["lead_departments"] = {lv: text[f"lead_{lv}"] for lv in service.DEPARTMENT_LEVELS
                                       if text.get(f"lead_{lv}")}
        limits: dict[str, dict[str, Any]] = {}
        for u in URGENCIES:
            steps = {s: _limit(text.get(f"tl_{u}_{s}", "")) for s in STEPS}
            if u == "normal" or any(v is not None for v in steps.values()):
                limits[u] = steps
        changes["time_limits"] = limits
    return changes


def _category_page(request: Request, db: Session, actor: Actor, code: str, *, status: int = 200,
                   values: dict[str, Any] | None = None, errors: list[str] | None = None) -> Response:
    c = service.get_category(db, actor, code)
    ctx = {"c": {**service.to_out(c), **(values or {})}, "leaf": c.is_leaf_level,
           "path": service.category_path_names(db, c), "revisions": service.revisions(db, actor, code),
           "manage": can(actor, Action.MATTER_MANAGE), "errors": errors or [],
           "done": request.query_params.get("done") == "1", **LABELS}
    return render(request, "admin/matter.html", ctx, status_code=status)


@router.get("/admin/matters/{code}")
def matter_page(request: Request, code: str, db: Session = DB, actor: Actor = ACTOR) -> Response:
    return _category_page(request, db, actor, code)


@router.post("/admin/matters/{code}")
def matter_save(request: Request, code: str, fields: dict[str, str] = Depends(form_fields), db: Session = DB,
                actor: Actor = ACTOR) -> Response:
    changes = _changes(fields, service.get_category(db, actor, code).is_leaf_level)
    try:
        with db.begin_nested():
            service.update_category(db, actor, code, changes)
    except BadInput as exc:
        return _category_page(request, db, actor, code, status=exc.status, values=changes,
                              errors=exc.extra.get("errors") or [exc.message_zh])
    return RedirectResponse(f"/admin/matters/{code}?done=1", status_code=303)
