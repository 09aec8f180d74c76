"""Access operations: log-in and sessions, API keys, users and role assignments, departments, audit."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.models import (ApiKey, AuditEntry, CommandCentre, Department, GridAssignment,
                                     RoleAssignment, User, WebSession)
from civicgrid.access.policy import (ROLE_LABELS, ROLE_SCOPE_LEVELS, Action, Actor, Grant, Role, in_scope,
                                     require)
from civicgrid.config import get_settings
from civicgrid.errors import BadInput, Conflict, NotFound, Unauthenticated
from civicgrid.geo.models import Region

_hasher = PasswordHasher()
MIN_PASSWORD = 8
SYSTEM = Actor(user_id=0, username="system", display_name="系统", grants=(Grant(role=Role.ADMIN, region_path="/"),))


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash of password."""
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    """At least 8 characters mixing letters and digits."""
    if len(password) < MIN_PASSWORD or password.isdigit() or password.isalpha():
        raise BadInput("weak_password", "密码至少 8 位,且须同时包含字母和数字",
                       "Password needs at least 8 characters with letters and digits", extra={"field": "password"})


def audit(session: Session, actor: Actor | None, action: str, object_type: str | None = None,
          object_id: Any = None, detail: dict[str, Any] | None = None, ip: str | None = None) -> None:
    """Append one audit entry (in the caller's transaction)."""
    session.add(AuditEntry(at=clock.now(), actor_id=actor.user_id if actor and actor.user_id else None,
                           actor_name=actor.username if actor else "anonymous", action=action,
                           object_type=object_type, object_id=str(object_id) if object_id is not None else None,
                           detail=detail or {}, ip=ip))


# ---------------------------------------------------------------------------------------------
# actors


def load_actor(session: Session, user: User, *, via_api_key: bool = False) -> Actor:
    """Resolve a user's grants (with their scope region paths) and grids into an Actor."""
    rows = session.execute(
        select(RoleAssignment.role, RoleAssignment.region_id, Region.path, RoleAssignment.department_id)
        .outerjoin(Region, Region.id == RoleAssignment.region_id)
        .where(RoleAssignment.user_id == user.id)).all()
    grants = []
    for role, region_id, path, dept_id in rows:
        if dept_id is not None:
            dpath = session.execute(select(Region.id, Region.path).join(Department, Department.region_id == Region.id)
                                    .where(Department.id == dept_id)).first()
            grants.append(Grant(role=Role(role), department_id=dept_id, region_id=dpath.id if dpath else None,
                                region_path=dpath.path if dpath else None))
        else:
            grants.append(Grant(role=Role(role), region_id=region_id, region_path=path))
    grids = frozenset(session.scalars(select(GridAssignment.grid_id).where(GridAssignment.user_id == user.id)))
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name,
                 grants=tuple(grants), grid_ids=grids, via_api_key=via_api_key)


# ---------------------------------------------------------------------------------------------
# log-in, sessions, password


def login(session: Session, username: str, password: str, *, ip: str | None = None) -> tuple[str, str, User]:
    """Check the password (argon2), lock after repeated failures; return (session token, csrf, user)."""
    s = get_settings()
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    now = clock.now()
    fail = Unauthenticated("invalid_credentials", "用户名或密码错误", "Wrong username or password")
    fail.keep_changes = True  # the failure count and the audit entry must survive the error
    if user is None or not user.active or user.password_hash is None:
        audit(session, None, "login.failed", "user", username[:60], {"reason": "unknown_or_inactive"}, ip)
        raise fail
    if user.locked_until and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        audit(session, None, "login.failed", "user", user.id, {"reason": "locked"}, ip)
        locked = Unauthenticated("account_locked", f"连续登录失败次数过多,账号已锁定,请 {minutes} 分钟后再试",
                                 f"Account locked after repeated failures; try again in {minutes} min")
        locked.keep_changes = True
        raise locked
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user.failed_logins += 1
        detail: dict[str, Any] = {"reason": "wrong_password", "failures": user.failed_logins}
        if user.failed_logins >= s.lockout_threshold:
            user.locked_until = now + timedelta(minutes=s.lockout_minutes)
            user.failed_logins = 0
            detail["locked_until"] = user.locked_until.isoformat()
        audit(session, None, "login.failed", "user", user.id, detail, ip)
        raise fail from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    session.add(WebSession(token_hash=_sha(token), user_id=user.id, csrf_token=csrf, created_at=now,
                           expires_at=now + timedelta(hours=s.session_hours)))
    audit(session, Actor(user.id, user.username, user.display_name), "login", "user", user.id, {}, ip)
    return token, csrf, user


def session_actor(session: Session, token: str) -> tuple[Actor, str]:
    """The actor and CSRF token behind a session cookie; an expired session is 401 and is extended on use."""
    row = session.get(WebSession, _sha(token))
    now = clock.now()
    if row is None:
        raise Unauthenticated("session_invalid", "登录已失效,请重新登录", "Session not found; log in again")
    if row.expires_at <= now:
        session.delete(row)
        raise Unauthenticated("session_expired", "登录已过期,请重新登录", "Session expired; log in again")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthenticated("session_invalid", "账号已停用", "Account disabled")
    new_expiry = now + timedelta(hours=get_settings().session_hours)
    if (new_expiry - row.expires_at).total_seconds() > 300:
        row.expires_at = new_expiry
    return load_actor(session, user), row.csrf_token


def logout(session: Session, token: str, *, ip: str | None = None) -> None:
    """End a page session."""
    row = session.get(WebSession, _sha(token))
    if row is not None:
        user = session.get(User, row.user_id)
        session.delete(row)
        if user:
            audit(session, Actor(user.id, user.username, user.display_name), "logout", "user", user.id, {}, ip)


def change_password(session: Session, actor: Actor, old: str, new: str, *, ip: str | None = None) -> None:
    """Change one's own password: the old one must match; other sessions end."""
    user = session.get(User, actor.user_id)
    if user is None or user.password_hash is None:
        raise NotFound("user")
    try:
        _hasher.verify(user.password_hash, old)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise BadInput("wrong_password", "原密码不正确", "Old password is wrong", extra={"field": "old_password"}) from None
    if old == new:
        raise BadInput("same_password", "新密码不能与原密码相同", "New password equals the old one",
                       extra={"field": "new_password"})
    check_password_strength(new)
    user.password_hash = hash_password(new)
    user.password_changed_at = clock.now()
    audit(session, actor, "password.change", "user", user.id, {}, ip)


# ---------------------------------------------------------------------------------------------
# API keys


def create_api_key(session: Session, actor: Actor, username: str, name: str) -> str:
    """A new bearer key for a user (shown once): cg_<prefix>_<secret>."""
    require(actor, Action.APIKEY_MANAGE)
    user = _get_user(session, actor, username)
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    session.add(ApiKey(user_id=user.id, name=name, prefix=prefix, key_hash=_sha(secret), created_at=clock.now()))
    audit(session, actor, "apikey.create", "user", user.id, {"name": name, "prefix": prefix})
    return f"cg_{prefix}_{secret}"


def api_key_actor(session: Session, key: str) -> Actor:
    """The actor behind a bearer key; unknown or revoked keys are 401."""
    bad = Unauthenticated("invalid_api_key", "接口密钥无效或已吊销", "Invalid or revoked API key")
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "cg":
        raise bad
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == parts[1])).first()
    if row is None or row.revoked_at is not None or not secrets.compare_digest(row.key_hash, _sha(parts[2])):
        raise bad
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise bad
    now = clock.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 300:
        row.last_used_at = now  # at most every five minutes: a busy integration must not write on every call
    return load_actor(session, user, via_api_key=True)


def revoke_api_key(session: Session, actor: Actor, prefix: str) -> None:
    """Revoke a key by its prefix."""
    require(actor, Action.APIKEY_MANAGE)
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if row is None:
        raise NotFound("api key")
    row.revoked_at = clock.now()
    audit(session, actor, "apikey.revoke", "api_key", prefix)


# ---------------------------------------------------------------------------------------------
# users and role assignments


def _user_paths(session: Session, user_ids: list[int]) -> dict[int, list[str]]:
    """Region paths of each user's assignments (department assignments via the department's region)."""
    out: dict[int, list[str]] = {u: [] for u in user_ids}
    for k in range(0, len(user_ids), 900):
        chunk = user_ids[k:k + 900]
        rows = session.execute(
            select(RoleAssignment.user_id, Region.path)
            .outerjoin(Department, Department.id == RoleAssignment.department_id)
            .join(Region, Region.id == func.coalesce(RoleAssignment.region_id, Department.region_id))
            .where(RoleAssignment.user_id.in_(chunk)))
        for uid, path in rows:
            out[uid].append(path)
    return out


def user_in_scope(actor: Actor, paths: list[str]) -> bool:
    """A user is visible when one of its assignments lies in the actor's scope (or it has none)."""
    return not paths or any(in_scope(actor, p) for p in paths)


def _get_user(session: Session, actor: Actor, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user_in_scope(actor, _user_paths(session, [user.id])[user.id]):
        raise NotFound("user", "用户不存在或不在您的管辖范围内")
    return user


def user_out(session: Session, user: User) -> dict[str, Any]:
    rows = session.execute(
        select(RoleAssignment.id, RoleAssignment.role, Region.code, Region.name, Department.code, Department.name)
        .outerjoin(Region, Region.id == RoleAssignment.region_id)
        .outerjoin(Department, Department.id == RoleAssignment.department_id)
        .where(RoleAssignment.user_id == user.id).order_by(RoleAssignment.id)).all()
    grids = session.execute(select(Region.code, Region.name).join(GridAssignment, GridAssignment.grid_id == Region.id)
                            .where(GridAssignment.user_id == user.id).order_by(Region.code)).all()
    return {
        "username": user.username, "display_name": user.display_name, "active": user.active,
        "locked": bool(user.locked_until and user.locked_until > clock.now()),
        "can_log_in": user.password_hash is not None,
        "roles": [{"id": r[0], "role": r[1], "role_label": ROLE_LABELS[Role(r[1])],
                   "region_code": r[2], "region_name": r[3], "department_code": r[4], "department_name": r[5]}
                  for r in rows],
        "grids": [{"code": c, "name": n} for c, n in grids],
    }


def get_user(session: Session, actor: Actor, username: str) -> dict[str, Any]:
    """One user in the actor's scope."""
    require(actor, Action.USER_VIEW)
    return user_out(session, _get_user(session, actor, username))


def list_users(session: Session, actor: Actor, *, role: str | None = None, region_code: str | None = None,
               q: str | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Users in the actor's scope, filtered by role, region subtree or name, a page at a time."""
    require(actor, Action.USER_VIEW)
    paths = actor.scope_paths(Action.USER_VIEW)
    scope_ids = (select(RoleAssignment.user_id)
                 .outerjoin(Department, Department.id == RoleAssignment.department_id)
                 .join(Region, Region.id == func.coalesce(RoleAssignment.region_id, Department.region_id))
                 .where(or_(*[Region.path.startswith(p) for p in paths]) if paths else False))
    if region_code:
        from civicgrid.geo.service import get_region

        reg = get_region(session, actor, region_code)
        scope_ids = scope_ids.where(Region.path.startswith(reg.path))
    if role:
        if role not in Role.__members__.values():
            raise BadInput("invalid_role", f"未知角色 {role}", f"Unknown role {role!r}")
        scope_ids = scope_ids.where(RoleAssignment.role == role)
    query = select(User).where(User.id.in_(scope_ids))
    if q:
        query = query.where(or_(User.username.contains(q), User.display_name.contains(q)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    users = session.scalars(query.order_by(User.username).limit(min(limit, 500)).offset(offset)).all()
    return {"total": total, "items": [user_out(session, u) for u in users]}


def create_user(session: Session, actor: Actor, *, username: str, display_name: str,
                password: str | None = None) -> User:
    """A new user; without a password the account cannot log in until one is set."""
    require(actor, Action.USER_MANAGE)
    username = username.strip()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise BadInput("invalid_username", "用户名只能包含字母、数字和 . _ -", "Username: letters, digits, . _ - only",
                       extra={"field": "username"})
    if session.scalar(select(func.count()).where(User.username == username)):
        raise Conflict("username_taken", f"用户名 {username} 已被使用", f"Username {username} is taken",
                       extra={"field": "username"})
    if password is not None:
        check_password_strength(password)
    user = User(username=username, display_name=display_name.strip() or username,
                password_hash=hash_password(password) if password else None, created_at=clock.now())
    session.add(user)
    session.flush()
    audit(session, actor, "user.create", "user", user.id, {"username": username})
    return user


def update_user(session: Session, actor: Actor, username: str, *, display_name: str | None = None,
                active: bool | None = None, password: str | None = None, unlock: bool = False) -> User:
    """Change a user's name, active flag or password, or unlock it."""
    require(actor, Action.USER_MANAGE)
    user = _get_user(session, actor, username)
    changes: dict[str, Any] = {}
    if display_name is not None:
        user.display_name = changes["display_name"] = display_name
    if active is not None:
        user.active = changes["active"] = active
        if not active:
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    if password is not None:
        check_password_strength(password)
        user.password_hash = hash_password(password)
        changes["password"] = "reset"
    if unlock:
        user.locked_until = None
        user.failed_logins = 0
        changes["unlock"] = True
    audit(session, actor, "user.update", "user", user.id, changes)
    return user


def assign_role(session: Session, actor: Actor, username: str, role: str, *, region_code: str | None = None,
                department_code: str | None = None) -> RoleAssignment:
    """Give a user a role within a scope: a region at the level the role expects, or a department."""
    from civicgrid.geo.service import get_region

    require(actor, Action.USER_MANAGE)
    try:
        r = Role(role)
    except ValueError:
        raise BadInput("invalid_role", f"未知角色 {role}", f"Unknown role {role!r}", extra={"field": "role"}) from None
    user = _get_user(session, actor, username)
    levels = ROLE_SCOPE_LEVELS[r]
    region_id = dept_id = None
    if levels is None:
        if not department_code or region_code:
            raise BadInput("scope_required", f"{ROLE_LABELS[r]}的范围必须是一个部门",
                           f"{r.value} is scoped by a department", extra={"field": "department_code"})
        dept = session.scalars(select(Department).where(Department.code == department_code)).first()
        if dept is None:
            raise NotFound("department", "部门不存在")
        region = session.get(Region, dept.region_id)
        require(actor, Action.USER_MANAGE, region)
        dept_id = dept.id
    elif levels == ():
        if region_code or department_code:
            raise BadInput("scope_not_allowed", f"{ROLE_LABELS[r]}不设管辖范围", f"{r.value} takes no scope")
    else:
        if not region_code or department_code:
            raise BadInput("scope_required", f"{ROLE_LABELS[r]}的范围必须是一个区域",
                           f"{r.value} is scoped by a region", extra={"field": "region_code"})
        region = get_region(session, actor, region_code)
        if region.level not in levels:
            from civicgrid.geo.models import LEVEL_LABELS

            names = "或".join(LEVEL_LABELS[lv] for lv in levels)
            raise BadInput("scope_level", f"{ROLE_LABELS[r]}的管辖范围应为{names}级区域",
                           f"{r.value} must be scoped at level {'/'.join(levels)}", extra={"field": "region_code"})
        require(actor, Action.USER_MANAGE, region)
        region_id = region.id
    exists = session.scalars(select(RoleAssignment).where(
        RoleAssignment.user_id == user.id, RoleAssignment.role == r.value,
        RoleAssignment.region_id.is_(None) if region_id is None else RoleAssignment.region_id == region_id,
        RoleAssignment.department_id.is_(None) if dept_id is None else RoleAssignment.department_id == dept_id)).first()
    if exists:
        raise Conflict("duplicate_assignment", "该用户已拥有此角色和范围", "User already holds this role in this scope")
    ra = RoleAssignment(user_id=user.id, role=r.value, region_id=region_id, department_id=dept_id,
                        created_at=clock.now())
    session.add(ra)
    session.flush()
    audit(session, actor, "role.assign", "user", user.id,
          {"role": r.value, "region": region_code, "department": department_code})
    return ra


def revoke_role(session: Session, actor: Actor, username: str, assignment_id: int) -> None:
    """Remove one role assignment from a user."""
    require(actor, Action.USER_MANAGE)
    user = _get_user(session, actor, username)
    ra = session.get(RoleAssignment, assignment_id)
    if ra is None or ra.user_id != user.id:
        raise NotFound("role assignment")
    session.delete(ra)
    audit(session, actor, "role.revoke", "user", user.id, {"role": ra.role, "assignment": assignment_id})


def assign_grids(session: Session, actor: Actor, username: str, grid_codes: list[str]) -> None:
    """Put a grid worker on duty in grids (each must be a current grid in the actor's scope)."""
    from civicgrid.geo.service import get_region

    require(actor, Action.USER_MANAGE)
    user = _get_user(session, actor, username)
    today = clock.today()
    have = set(session.scalars(select(GridAssignment.grid_id).where(GridAssignment.user_id == user.id)))
    for code in grid_codes:
        grid = get_region(session, actor, code)
        if grid.level != "grid":
            raise BadInput("not_a_grid", f"{code} 不是网格", f"{code} is not a grid", extra={"field": "grid_codes"})
        if grid.id not in have:
            session.add(GridAssignment(user_id=user.id, grid_id=grid.id, since=today))
            have.add(grid.id)
    audit(session, actor, "grid.assign", "user", user.id, {"grids": grid_codes})


def region_choices(session: Session, actor: Actor,
                   levels: tuple[str, ...] = ("city", "district", "town", "village")) -> list[dict[str, Any]]:
    """Regions of the given levels in the actor's scope, for pickers: code, name, level and its Chinese label."""
    from civicgrid.geo.models import LEVEL_LABELS
    from civicgrid.geo.service import list_regions

    return [{"code": r.code, "name": r.name, "level": r.level, "level_label": LEVEL_LABELS[r.level]}
            for level in levels for r in list_regions(session, actor, level=level)]


def assignment_choices(session: Session, actor: Actor) -> dict[str, Any]:
    """What a role form offers: roles (Chinese label, the region levels each may be scoped at, or a department),
    the regions and departments in the actor's scope."""
    require(actor, Action.USER_MANAGE)
    roles = [{"value": r.value, "label": ROLE_LABELS[r], "levels": list(ROLE_SCOPE_LEVELS[r] or ()),
              "by_department": ROLE_SCOPE_LEVELS[r] is None} for r in Role]
    return {"roles": roles, "regions": region_choices(session, actor),
            "departments": list_departments(session, actor)}


def grid_choices(session: Session, actor: Actor, username: str) -> list[dict[str, Any]]:
    """Current grids of the villages where a user is a grid worker (those it may be put on duty in)."""
    from civicgrid.geo.service import list_regions

    require(actor, Action.USER_MANAGE)
    user = _get_user(session, actor, username)
    villages = session.scalars(select(Region.code).join(RoleAssignment, RoleAssignment.region_id == Region.id)
                               .where(RoleAssignment.user_id == user.id,
                                      RoleAssignment.role == Role.GRID_WORKER.value).order_by(Region.code))
    return [{"code": g.code, "name": g.name} for v in villages
            for g in list_regions(session, actor, parent_code=v, level="grid")]


def move_grid_assignments(session: Session, old_grid_id: int, new_grid_id: int) -> None:
    """When a grid is redrawn, its workers move to the new version."""
    session.execute(update(GridAssignment).where(GridAssignment.grid_id == old_grid_id)
                    .values(grid_id=new_grid_id))


def grid_workers(session: Session, region: Region) -> list[dict[str, str]]:
    """The workers on duty in a grid (empty for other levels)."""
    if region.level != "grid":
        return []
    rows = session.execute(select(User.username, User.display_name)
                           .join(GridAssignment, GridAssignment.user_id == User.id)
                           .where(GridAssignment.grid_id == region.id, User.active).order_by(User.username))
    return [{"username": u, "display_name": n} for u, n in rows]


def centre_name(session: Session, region: Region) -> str | None:
    """The command centre or workstation of a region, if it has one."""
    return session.scalar(select(CommandCentre.name).where(CommandCentre.region_id == region.id))


# ---------------------------------------------------------------------------------------------
# departments and command centres


def create_department(session: Session, actor: Actor, *, code: str, name: str, kind: str,
                      region_code: str, parent_code: str | None = None) -> Department:
    """A department at the city (or district) or town level of region_code."""
    from civicgrid.geo.service import get_region

    require(actor, Action.DEPARTMENT_MANAGE)
    region = get_region(session, actor, region_code)
    require(actor, Action.DEPARTMENT_MANAGE, region)
    level = {"city": "city", "district": "city", "town": "town"}.get(region.level)
    if level is None:
        raise BadInput("scope_level", "部门只能设在市、区县或镇街", "Departments sit at city, district or town level",
                       extra={"field": "region_code"})
    if session.scalar(select(func.count()).where(Department.code == code)):
        raise Conflict("department_code_taken", f"部门代码 {code} 已存在", f"Department code {code} exists",
                       extra={"field": "code"})
    parent_id = None
    if parent_code:
        parent = session.scalars(select(Department).where(Department.code == parent_code)).first()
        if parent is None:
            raise NotFound("department", "上级部门不存在")
        parent_id = parent.id
    dept = Department(code=code, name=name, kind=kind, level=level, region_id=region.id, parent_id=parent_id)
    session.add(dept)
    session.flush()
    audit(session, actor, "department.create", "department", dept.id, {"code": code, "name": name})
    return dept


def list_departments(session: Session, actor: Actor, *, region_code: str | None = None,
                     kind: str | None = None) -> list[dict[str, Any]]:
    """Departments of regions in the actor's scope (and those above it, whose cases reach it)."""
    require(actor, Action.DEPARTMENT_VIEW)
    q = select(Department, Region.code, Region.name, Region.path).join(Region, Region.id == Department.region_id)
    if region_code:
        from civicgrid.geo.service import get_region

        q = q.where(Department.region_id == get_region(session, actor, region_code).id)
    if kind:
        q = q.where(Department.kind == kind)
    out = []
    for d, rcode, rname, rpath in session.execute(q.order_by(Department.level, Region.code, Department.code)):
        if in_scope(actor, rpath) or any(p.startswith(rpath) for p in actor.scope_paths()):
            out.append({"code": d.code, "name": d.name, "kind": d.kind, "level": d.level,
                        "region_code": rcode, "region_name": rname, "active": d.active})
    return out


def create_command_centre(session: Session, actor: Actor, *, region_code: str, name: str) -> CommandCentre:
    """The command centre of a city, district or town, or the workstation of a village."""
    from civicgrid.geo.service import get_region

    require(actor, Action.DEPARTMENT_MANAGE)
    region = get_region(session, actor, region_code)
    if region.level == "grid":
        raise BadInput("scope_level", "网格不设指挥中心", "Grids have no command centre")
    if session.scalar(select(func.count()).where(CommandCentre.region_id == region.id)):
        raise Conflict("centre_exists", f"{region.name} 已有指挥中心", f"{region.code} already has a centre")
    c = CommandCentre(name=name, level=region.level, region_id=region.id)
    session.add(c)
    session.flush()
    audit(session, actor, "centre.create", "command_centre", c.id, {"region": region_code, "name": name})
    return c


def list_command_centres(session: Session, actor: Actor, *, level: str | None = None) -> list[dict[str, Any]]:
    """Command centres in the actor's scope."""
    require(actor, Action.CENTRE_VIEW)
    paths = actor.scope_paths(Action.CENTRE_VIEW)
    q = (select(CommandCentre, Region.code, Region.name).join(Region, Region.id == CommandCentre.region_id)
         .where(or_(*[Region.path.startswith(p) for p in paths]) if paths else False))
    if level:
        q = q.where(CommandCentre.level == level)
    return [{"name": c.name, "level": c.level, "region_code": code, "region_name": name}
            for c, code, name in session.execute(q.order_by(Region.code))]


def list_audit(session: Session, actor: Actor, *, action: str | None = None, limit: int = 100,
               offset: int = 0) -> list[dict[str, Any]]:
    """The audit log, newest first; entries about a user name it (object_user)."""
    require(actor, Action.AUDIT_VIEW)
    q = select(AuditEntry)
    if action:
        q = q.where(AuditEntry.action == action)
    rows = list(session.scalars(q.order_by(AuditEntry.id.desc()).limit(min(limit, 1000)).offset(offset)))
    user_ids = {int(a.object_id) for a in rows if a.object_type == "user" and (a.object_id or "").isdigit()}
    names = dict(session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all()) if user_ids else {}
    return [{"at": a.at.isoformat(), "actor": a.actor_name, "action": a.action, "object_type": a.object_type,
             "object_id": a.object_id, "detail": a.detail, "ip": a.ip,
             "object_user": names.get(int(a.object_id)) if a.object_type == "user" and (a.object_id or "").isdigit()
             else None} for a in rows]


def create_grid_workers(session: Session, actor: Actor, rows: list[dict[str, Any]]) -> int:
    """Bulk-create grid workers: each row {username, display_name, grid_codes[, password]}; all or none.

    The worker's role is scoped to the village of its grids (all of them must lie in one village).
    """
    from civicgrid.geo.service import current_filter

    require(actor, Action.USER_MANAGE)
    errors: list[dict[str, Any]] = []
    names = [r["username"] for r in rows]
    dup = _dups(names)
    taken: set[str] = set()
    for k in range(0, len(names), 900):
        taken.update(session.scalars(select(User.username).where(User.username.in_(names[k:k + 900]))))
    all_codes = sorted({c for r in rows for c in r["grid_codes"]})
    grids: dict[str, tuple[int, int | None, str]] = {}
    for k in range(0, len(all_codes), 900):
        for gid, code, parent_id, path in session.execute(
                select(Region.id, Region.code, Region.parent_id, Region.path)
                .where(Region.code.in_(all_codes[k:k + 900]), Region.level == "grid", current_filter())):
            grids[code] = (gid, parent_id, path)
    for i, r in enumerate(rows):
        if r["username"] in dup or r["username"] in taken:
            errors.append({"row": i, "username": r["username"], "error": "username_taken"})
        missing = [c for c in r["grid_codes"] if c not in grids or not in_scope(actor, grids[c][2])]
        if missing or not r["grid_codes"]:
            errors.append({"row": i, "username": r["username"], "error": "unknown_grid", "grids": missing})
        elif len({grids[c][1] for c in r["grid_codes"]}) != 1:
            errors.append({"row": i, "username": r["username"], "error": "grids_in_several_villages"})
        if r.get("password"):
            try:
                check_password_strength(r["password"])
            except BadInput:
                errors.append({"row": i, "username": r["username"], "error": "weak_password"})
    if errors:
        raise BadInput("import_invalid", f"网格员导入未执行:{len(errors)} 处错误", f"{len(errors)} row error(s)",
                       extra={"errors": errors[:200]})
    now, today = clock.now(), clock.today()
    user_rows = [{"username": r["username"], "display_name": r["display_name"],
                  "password_hash": hash_password(r["password"]) if r.get("password") else None,
                  "active": True, "failed_logins": 0, "created_at": now} for r in rows]
    for k in range(0, len(user_rows), 2000):
        session.execute(User.__table__.insert(), user_rows[k:k + 2000])
    ids: dict[str, int] = {}
    for k in range(0, len(names), 900):
        ids.update(dict(session.execute(select(User.username, User.id).where(User.username.in_(names[k:k + 900])))
                        .all()))
    roles = [{"user_id": ids[r["username"]], "role": Role.GRID_WORKER.value,
              "region_id": grids[r["grid_codes"][0]][1], "department_id": None, "created_at": now} for r in rows]
    duty = [{"user_id": ids[r["username"]], "grid_id": grids[c][0], "since": today} for r in rows
            for c in dict.fromkeys(r["grid_codes"])]
    for k in range(0, len(roles), 2000):
        session.execute(RoleAssignment.__table__.insert(), roles[k:k + 2000])
    for k in range(0, len(duty), 2000):
        session.execute(GridAssignment.__table__.insert(), duty[k:k + 2000])
    audit(session, actor, "grid_worker.bulk_create", "user", None, {"count": len(rows)})
    return len(rows)


def _dups(names: list[str]) -> set[str]:
    seen: set[str] = set()
    out: set[str] = set()
    for n in names:
        (out if n in seen else seen).add(n)
    return out
