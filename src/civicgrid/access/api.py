"""JSON routes of the access domain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from civicgrid.access import schemas as s
from civicgrid.access import service
from civicgrid.access.policy import ROLE_LABELS, Actor
from civicgrid.config import get_settings
from civicgrid.web.deps import SESSION_COOKIE, client_ip, current_actor, get_db

router = APIRouter(prefix="/api/v1", tags=["access"])


def me_out(actor: Actor, csrf: str | None) -> dict[str, Any]:
    return {"username": actor.username, "display_name": actor.display_name, "csrf_token": csrf,
            "roles": [{"role": g.role.value, "label": ROLE_LABELS[g.role]} for g in actor.grants]}


@router.post("/auth/login", response_model=s.MeOut, summary="登录 Log in (sets the session cookie)")
def login(body: s.LoginIn, request: Request, response: Response, db: Session = Depends(get_db, scope="function")) -> dict[str, Any]:
    token, csrf, user = service.login(db, body.username, body.password, ip=client_ip(request))
    set_session_cookie(response, token)
    return me_out(service.load_actor(db, user), csrf)


def set_session_cookie(response: Response, token: str) -> None:
    st = get_settings()
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=st.cookie_secure,
                        max_age=int(st.session_hours * 3600))


@router.post("/auth/logout", status_code=204, summary="退出 Log out")
def logout(request: Request, response: Response, db: Session = Depends(get_db, scope="function"),
           actor: Actor = Depends(current_actor)) -> None:
    service.logout(db, request.cookies.get(SESSION_COOKIE, ""), ip=client_ip(request))
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me", response_model=s.MeOut, summary="当前用户 Who am I")
def me(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return me_out(actor, getattr(request.state, "csrf", None))


@router.post("/me/password", status_code=204, summary="修改密码 Change password")
def change_password(body: s.PasswordChangeIn, request: Request, db: Session = Depends(get_db, scope="function"),
                    actor: Actor = Depends(current_actor)) -> None:
    service.change_password(db, actor, body.old_password, body.new_password, ip=client_ip(request))


@router.get("/users", response_model=s.UserPage, summary="用户列表 Users in scope")
def list_users(role: str | None = None, region: str | None = None, q: str | None = None,
               limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
               db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return service.list_users(db, actor, role=role, region_code=region, q=q, limit=limit, offset=offset)


@router.post("/users", response_model=s.UserOut, status_code=201, summary="新建用户 Create user")
def create_user(body: s.UserCreate, db: Session = Depends(get_db, scope="function"),
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    user = service.create_user(db, actor, username=body.username, display_name=body.display_name,
                               password=body.password)
    return service.user_out(db, user)


@router.get("/users/{username}", response_model=s.UserOut, summary="用户详情 User")
def get_user(username: str, db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return service.get_user(db, actor, username)


@router.patch("/users/{username}", response_model=s.UserOut, summary="修改用户 Update user")
def update_user(username: str, body: s.UserUpdate, db: Session = Depends(get_db, scope="function"),
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    user = service.update_user(db, actor, username, display_name=body.display_name, active=body.active,
                               password=body.password, unlock=body.unlock)
    return service.user_out(db, user)


@router.post("/users/{username}/roles", response_model=s.UserOut, status_code=201, summary="授予角色 Assign role")
def assign_role(username: str, body: s.RoleAssignIn, db: Session = Depends(get_db, scope="function"),
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    service.assign_role(db, actor, username, body.role, region_code=body.region_code,
                        department_code=body.department_code)
    return service.get_user(db, actor, username)


@router.delete("/users/{username}/roles/{assignment_id}", status_code=204, summary="撤销角色 Revoke role")
def revoke_role(username: str, assignment_id: int, db: Session = Depends(get_db, scope="function"),
                actor: Actor = Depends(current_actor)) -> None:
    service.revoke_role(db, actor, username, assignment_id)


@router.post("/users/{username}/grids", response_model=s.UserOut, summary="分配网格 Assign grids")
def assign_grids(username: str, body: s.GridAssignIn, db: Session = Depends(get_db, scope="function"),
                 actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    service.assign_grids(db, actor, username, body.grid_codes)
    return service.get_user(db, actor, username)


@router.get("/departments", response_model=list[s.DepartmentOut], summary="部门列表 Departments")
def list_departments(region: str | None = None, kind: str | None = None, db: Session = Depends(get_db, scope="function"),
                     actor: Actor = Depends(current_actor)) -> list[dict[str, Any]]:
    return service.list_departments(db, actor, region_code=region, kind=kind)


@router.post("/departments", response_model=s.DepartmentOut, status_code=201, summary="新建部门 Create department")
def create_department(body: s.DepartmentIn, db: Session = Depends(get_db, scope="function"),
                      actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    service.create_department(db, actor, code=body.code, name=body.name, kind=body.kind,
                              region_code=body.region_code, parent_code=body.parent_code)
    return next(d for d in service.list_departments(db, actor, region_code=body.region_code) if d["code"] == body.code)


@router.get("/command-centres", response_model=list[s.CentreOut], summary="指挥中心 Command centres")
def list_centres(level: str | None = None, db: Session = Depends(get_db, scope="function"),
                 actor: Actor = Depends(current_actor)) -> list[dict[str, Any]]:
    return service.list_command_centres(db, actor, level=level)


@router.post("/api-keys", response_model=s.ApiKeyOut, status_code=201, summary="签发接口密钥 Issue API key")
def create_api_key(body: s.ApiKeyIn, db: Session = Depends(get_db, scope="function"),
                   actor: Actor = Depends(current_actor)) -> dict[str, str]:
    return {"key": service.create_api_key(db, actor, body.username, body.name)}


@router.delete("/api-keys/{prefix}", status_code=204, summary="吊销接口密钥 Revoke API key")
def revoke_api_key(prefix: str, db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> None:
    service.revoke_api_key(db, actor, prefix)


@router.get("/audit", summary="审计日志 Audit log")
def audit_log(action: str | None = None, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
              db: Session = Depends(get_db, scope="function"), actor: Actor = Depends(current_actor)) -> list[dict[str, Any]]:
    return service.list_audit(db, actor, action=action, limit=limit, offset=offset)
