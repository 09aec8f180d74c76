"""HTML routes of the access domain: log-in, log-out, password change."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from civicgrid.access import service
from civicgrid.access.api import set_session_cookie
from civicgrid.access.policy import Action, Actor, can
from civicgrid.errors import BadInput, Conflict, Unauthenticated
from civicgrid.web.deps import (LOGIN_CSRF_COOKIE, SESSION_COOKIE, client_ip, current_actor, form_token_ok, get_db,
                                issue_form_token, render, templates)

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


# ---------------------------------------------------------------------------------------------
# administration: users and their roles, departments, command centres, the audit log

DB = Depends(get_db, scope="function")
ACTOR = Depends(current_actor)
USER_PAGE = 20
AUDIT_PAGE = 50
AUDIT_LABELS = {
    "login": "登录", "login.failed": "登录失败", "logout": "退出登录", "password.change": "修改密码",
    "user.create": "新建用户", "user.update": "修改用户", "role.assign": "授予角色", "role.revoke": "撤销角色",
    "grid.assign": "分配网格", "grid_worker.bulk_create": "批量导入网格员", "department.create": "新建部门",
    "centre.create": "新建指挥中心", "apikey.create": "创建接口密钥", "apikey.revoke": "吊销接口密钥",
    "matters.import": "导入事项清单", "matters.update": "修改事项", "region.import": "导入区域边界",
    "calendar.load": "载入节假日安排",
}


@router.get("/admin")
def admin_home(request: Request, actor: Actor = ACTOR) -> Response:
    return render(request, "admin/index.html", {})


def _users_ctx(request: Request, db: Session, actor: Actor, page: int) -> dict:
    from urllib.parse import urlencode

    f = {k: (request.query_params.get(k) or "").strip() for k in ("q", "role", "region")}
    page = max(page, 1)
    result = service.list_users(db, actor, q=f["q"] or None, role=f["role"] or None, region_code=f["region"] or None,
                                limit=USER_PAGE, offset=(page - 1) * USER_PAGE)
    return {"f": f, "result": result, "page": page, "pages": max(1, -(-result["total"] // USER_PAGE)),
            "query": urlencode({k: v for k, v in f.items() if v}), "regions": service.region_choices(db, actor),
            "values": {}, "errors": {}}


@router.get("/admin/users")
def admin_users(request: Request, page: int = 1, db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "admin/users.html", _users_ctx(request, db, actor, page))


@router.post("/admin/users")
def admin_user_create(request: Request, username: str = Form(""), display_name: str = Form(""),
                      password: str = Form(""), db: Session = DB, actor: Actor = ACTOR) -> Response:
    try:
        with db.begin_nested():
            user = service.create_user(db, actor, username=username, display_name=display_name,
                                       password=password or None)
    except (BadInput, Conflict) as exc:
        ctx = _users_ctx(request, db, actor, 1)
        ctx.update(values={"username": username, "display_name": display_name},
                   errors={exc.extra.get("field", "username"): exc.message_zh})
        return render(request, "admin/users.html", ctx, status_code=exc.status)
    return RedirectResponse(f"/admin/users/{quote(user.username)}?done=created", status_code=303)


DONE = {"created": "用户已创建,可以为其授予角色。", "name": "姓名已保存。", "activate": "账号已启用。",
        "deactivate": "账号已停用,其登录已全部退出。", "password": "密码已重置。", "unlock": "账号已解锁。",
        "role": "角色已授予。", "revoke": "角色已撤销。", "grids": "网格已分配。"}


def _user_page(request: Request, db: Session, actor: Actor, username: str, *, status: int = 200,
               errors: dict | None = None, values: dict | None = None) -> Response:
    user = service.get_user(db, actor, username)
    manage = can(actor, Action.USER_MANAGE)
    ctx = {"u": user, "manage": manage, "errors": errors or {}, "values": values or {},
           "done": DONE.get(request.query_params.get("done") or ""),
           "choices": service.assignment_choices(db, actor) if manage else None,
           "grids": service.grid_choices(db, actor, username)
           if manage and any(r["role"] == "grid_worker" for r in user["roles"]) else []}
    return render(request, "admin/user.html", ctx, status_code=status)


@router.get("/admin/users/{username}")
def admin_user(request: Request, username: str, db: Session = DB, actor: Actor = ACTOR) -> Response:
    return _user_page(request, db, actor, username)


def _user_change(request: Request, db: Session, actor: Actor, username: str, done: str, work,
                 values: dict | None = None) -> Response:
    """Run one change in a savepoint; a refused change re-renders the page with the error next to its field."""
    try:
        with db.begin_nested():
            work()
    except (BadInput, Conflict) as exc:
        field = exc.extra.get("field") or done
        return _user_page(request, db, actor, username, status=exc.status, errors={field: exc.message_zh},
                          values=values)
    return RedirectResponse(f"/admin/users/{quote(username)}?done={done}", status_code=303)


@router.post("/admin/users/{username}/update")
def admin_user_update(request: Request, username: str, change: str = Form(""), display_name: str = Form(""),
                      password: str = Form(""), db: Session = DB, actor: Actor = ACTOR) -> Response:
    kwargs = {"name": {"display_name": display_name.strip()}, "activate": {"active": True},
              "deactivate": {"active": False}, "password": {"password": password}, "unlock": {"unlock": True}}
    if change not in kwargs:
        raise BadInput("invalid_change", "未知的操作", f"Unknown change {change!r}")
    if change == "name" and not display_name.strip():
        return _user_page(request, db, actor, username, status=400, errors={"display_name": "姓名不能为空"})
    return _user_change(request, db, actor, username, change,
                        lambda: service.update_user(db, actor, username, **kwargs[change]),
                        {"display_name": display_name})


@router.post("/admin/users/{username}/roles")
def admin_role_assign(request: Request, username: str, role: str = Form(""), region_code: str = Form(""),
                      department_code: str = Form(""), db: Session = DB, actor: Actor = ACTOR) -> Response:
    from civicgrid.access.policy import ROLE_SCOPE_LEVELS, Role

    # the form has both pickers; only the one the role is scoped by counts
    levels = ROLE_SCOPE_LEVELS.get(Role(role)) if role in Role.__members__.values() else ()
    region = region_code.strip() if levels else None
    dept = department_code.strip() if levels is None else None
    values = {"role": role, "region_code": region_code, "department_code": department_code}
    field = {None: "department_code", (): "role"}.get(levels, "region_code")  # type: ignore[arg-type]
    if role and levels != () and not (region or dept):
        return _user_page(request, db, actor, username, status=400, values=values,
                          errors={field: "请选择部门" if levels is None else "请选择管辖区域"})

    def work() -> None:
        service.assign_role(db, actor, username, role, region_code=region or None, department_code=dept or None)

    return _user_change(request, db, actor, username, "role", work, values)


@router.post("/admin/users/{username}/roles/{assignment_id}/revoke")
def admin_role_revoke(request: Request, username: str, assignment_id: int, db: Session = DB,
                      actor: Actor = ACTOR) -> Response:
    return _user_change(request, db, actor, username, "revoke",
                        lambda: service.revoke_role(db, actor, username, assignment_id))


@router.post("/admin/users/{username}/grids")
def admin_grids_assign(request: Request, username: str, grid_codes: list[str] = Form([]), db: Session = DB,
                       actor: Actor = ACTOR) -> Response:
    if not grid_codes:
        return _user_page(request, db, actor, username, status=400, errors={"grid_codes": "请至少选择一个网格"})
    return _user_change(request, db, actor, username, "grids",
                        lambda: service.assign_grids(db, actor, username, grid_codes))


def _departments_ctx(request: Request, db: Session, actor: Actor) -> dict:
    from civicgrid.access.models import DEPARTMENT_KINDS

    f = {k: (request.query_params.get(k) or "").strip() for k in ("region", "kind")}
    items = service.list_departments(db, actor, region_code=f["region"] or None, kind=f["kind"] or None)
    regions = service.region_choices(db, actor, ("city", "district", "town"))
    return {"f": f, "items": items, "kinds": DEPARTMENT_KINDS, "regions": regions, "values": {}, "errors": {},
            "done": request.query_params.get("done") == "1"}


@router.get("/admin/departments")
def admin_departments(request: Request, db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "admin/departments.html", _departments_ctx(request, db, actor))


def _create(request: Request, db: Session, actor: Actor, values: dict[str, str], required: dict[str, str],
            create, page: str, ctx) -> Response:
    """A create form: missing fields, then the service (in a savepoint); errors shown next to their fields."""
    errors = {f: msg for f, msg in required.items() if not values[f].strip()}
    if not errors:
        try:
            with db.begin_nested():
                create()
        except (BadInput, Conflict) as exc:
            errors = {exc.extra.get("field", next(iter(required))): exc.message_zh}
    if errors:
        context = ctx(request, db, actor)
        context.update(values=values, errors=errors)
        return render(request, f"admin/{page}.html", context, status_code=400)
    return RedirectResponse(f"/admin/{page}?done=1", status_code=303)


@router.post("/admin/departments")
def admin_department_create(request: Request, code: str = Form(""), name: str = Form(""), kind: str = Form(""),
                            region_code: str = Form(""), db: Session = DB, actor: Actor = ACTOR) -> Response:
    return _create(request, db, actor, {"code": code, "name": name, "kind": kind, "region_code": region_code},
                   {"code": "请填写部门代码", "name": "请填写部门名称", "kind": "请选择部门类别",
                    "region_code": "请选择所属区域"},
                   lambda: service.create_department(db, actor, code=code.strip(), name=name.strip(), kind=kind,
                                                     region_code=region_code),
                   "departments", _departments_ctx)


CENTRE_LEVELS = {"city": "市指挥中心", "district": "区县指挥中心", "town": "镇街指挥中心", "village": "村(社区)工作站"}


def _centres_ctx(request: Request, db: Session, actor: Actor) -> dict:
    level = (request.query_params.get("level") or "").strip()
    return {"level": level, "levels": CENTRE_LEVELS, "items": service.list_command_centres(db, actor, level=level or None),
            "regions": service.region_choices(db, actor), "values": {}, "errors": {},
            "done": request.query_params.get("done") == "1"}


@router.get("/admin/centres")
def admin_centres(request: Request, db: Session = DB, actor: Actor = ACTOR) -> Response:
    return render(request, "admin/centres.html", _centres_ctx(request, db, actor))


@router.post("/admin/centres")
def admin_centre_create(request: Request, region_code: str = Form(""), name: str = Form(""), db: Session = DB,
                        actor: Actor = ACTOR) -> Response:
    return _create(request, db, actor, {"region_code": region_code, "name": name},
                   {"region_code": "请选择区域", "name": "请填写名称"},
                   lambda: service.create_command_centre(db, actor, region_code=region_code, name=name.strip()),
                   "centres", _centres_ctx)


@router.get("/admin/audit")
def admin_audit(request: Request, action: str = "", page: int = 1, db: Session = DB,
                actor: Actor = ACTOR) -> Response:
    page = max(page, 1)
    rows = service.list_audit(db, actor, action=action or None, limit=AUDIT_PAGE + 1,
                              offset=(page - 1) * AUDIT_PAGE)
    return render(request, "admin/audit.html", {"rows": rows[:AUDIT_PAGE], "more": len(rows) > AUDIT_PAGE,
                                                 "page": page, "action": action, "labels": AUDIT_LABELS})


_DETAIL_KEYS = {"username": "用户名", "role": "角色", "region": "区域", "department": "部门", "name": "名称",
                "code": "代码", "created": "新增", "updated": "更新", "replaced": "替换", "warnings": "警告",
                "changes": "修改", "grids": "网格", "count": "数量", "reason": "原因", "failures": "连续失败",
                "display_name": "姓名", "active": "启用", "password": "密码", "unlock": "解锁", "prefix": "密钥前缀"}
_REASONS = {"unknown_or_inactive": "账号不存在或已停用", "locked": "账号已锁定", "wrong_password": "密码错误"}


def audit_detail(detail: dict | None) -> str:
    """An audit entry's details as a short Chinese line (role codes and reasons in words, internal ids left out)."""
    from civicgrid.access.policy import ROLE_LABELS, Role
    from civicgrid.matters.service import FIELD_LABELS

    parts = []
    for key, value in (detail or {}).items():
        if key not in _DETAIL_KEYS or value in (None, "", [], {}):
            continue
        if key == "role" and value in Role.__members__.values():
            value = ROLE_LABELS[Role(value)]
        elif key == "reason":
            value = _REASONS.get(value, value)
        elif key == "password":
            value = "已重置"
        elif isinstance(value, bool):
            value = "是" if value else "否"
        elif isinstance(value, list):
            value = "、".join(FIELD_LABELS.get(str(v), str(v)) for v in value)
        elif isinstance(value, dict):
            value = "、".join(_DETAIL_KEYS.get(k, k) for k in value)
        parts.append(f"{_DETAIL_KEYS[key]}:{value}")
    return ";".join(parts)


templates.env.filters["audit_detail"] = audit_detail
