"""The one policy module: may this actor do this action to this object?

Routes and services ask `require(actor, action, obj)`. An object outside the actor's scope is
NotFound (404, it does not exist for them); an action their roles do not carry is Forbidden (403)
with the reason. Nothing else in the code base decides permissions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from civicgrid.errors import Forbidden, NotFound


class Role(StrEnum):
    ADMIN = "admin"
    CITY_DISPATCHER = "city_dispatcher"
    TOWN_DISPATCHER = "town_dispatcher"
    VILLAGE_OPERATOR = "village_operator"
    GRID_WORKER = "grid_worker"
    DEPARTMENT_HANDLER = "department_handler"
    MEDIATOR = "mediator"
    LEADER = "leader"
    CITIZEN = "citizen"
    INTEGRATION = "integration"


ROLE_LABELS: dict[Role, str] = {
    Role.ADMIN: "系统管理员",
    Role.CITY_DISPATCHER: "市级调度员",
    Role.TOWN_DISPATCHER: "镇街调度员",
    Role.VILLAGE_OPERATOR: "村级工作站操作员",
    Role.GRID_WORKER: "网格员",
    Role.DEPARTMENT_HANDLER: "部门处置人员",
    Role.MEDIATOR: "调解员",
    Role.LEADER: "领导(只读)",
    Role.CITIZEN: "市民",
    Role.INTEGRATION: "系统对接",
}

# Which region levels a role's region scope may sit at; None = the role is scoped by department.
ROLE_SCOPE_LEVELS: dict[Role, tuple[str, ...] | None] = {
    Role.ADMIN: ("city", "district"),
    Role.CITY_DISPATCHER: ("city", "district"),
    Role.TOWN_DISPATCHER: ("town",),
    Role.VILLAGE_OPERATOR: ("village",),
    Role.GRID_WORKER: ("village",),
    Role.DEPARTMENT_HANDLER: None,
    Role.MEDIATOR: ("town", "village"),
    Role.LEADER: ("city", "district", "town", "village"),
    Role.CITIZEN: (),
    Role.INTEGRATION: ("city", "district", "town"),
}


class Action(StrEnum):
    REGION_VIEW = "region.view"
    REGION_IMPORT = "region.import"
    REGION_EXPORT = "region.export"
    LOCATE = "locate"
    DEPARTMENT_VIEW = "department.view"
    DEPARTMENT_MANAGE = "department.manage"
    CENTRE_VIEW = "centre.view"
    USER_VIEW = "user.view"
    USER_MANAGE = "user.manage"
    AUDIT_VIEW = "audit.view"
    APIKEY_MANAGE = "apikey.manage"
    MATTER_VIEW = "matter.view"
    MATTER_MANAGE = "matter.manage"
    CASE_REPORT = "case.report"
    CASE_VIEW = "case.view"
    CALENDAR_MANAGE = "calendar.manage"
    REGISTRY_VIEW = "registry.view"
    REGISTRY_EDIT = "registry.edit"
    REGISTRY_IMPORT = "registry.import"
    REGISTRY_EXPORT = "registry.export"
    PERSON_UNMASK = "person.unmask"
    SENSITIVE_TAG_VIEW = "sensitive_tag.view"
    ANALYTICS_VIEW = "analytics.view"
    BULLETIN_MANAGE = "bulletin.manage"
    RANKING_PUBLISH = "ranking.publish"
    RANKING_CONFIG_MANAGE = "ranking_config.manage"


_STAFF_READ = {Action.REGION_VIEW, Action.REGION_EXPORT, Action.LOCATE, Action.DEPARTMENT_VIEW,
               Action.CENTRE_VIEW, Action.MATTER_VIEW}

_CASE_WORK = {Action.CASE_REPORT, Action.CASE_VIEW}

# registry (二标四实): who reads, edits, imports and exports base data; who sees whole personal numbers and
# sensitive tags (special-population classes). Admin has every action.
_REGISTRY: dict[Role, frozenset[Action]] = {
    Role.CITY_DISPATCHER: frozenset({Action.REGISTRY_VIEW, Action.REGISTRY_EDIT, Action.REGISTRY_IMPORT,
                                     Action.REGISTRY_EXPORT}),
    Role.TOWN_DISPATCHER: frozenset({Action.REGISTRY_VIEW, Action.REGISTRY_EDIT, Action.REGISTRY_IMPORT,
                                     Action.REGISTRY_EXPORT, Action.PERSON_UNMASK, Action.SENSITIVE_TAG_VIEW}),
    Role.VILLAGE_OPERATOR: frozenset({Action.REGISTRY_VIEW, Action.REGISTRY_EDIT, Action.REGISTRY_IMPORT,
                                      Action.REGISTRY_EXPORT, Action.PERSON_UNMASK, Action.SENSITIVE_TAG_VIEW}),
    Role.GRID_WORKER: frozenset({Action.REGISTRY_VIEW, Action.REGISTRY_EDIT, Action.PERSON_UNMASK}),
    Role.MEDIATOR: frozenset({Action.REGISTRY_VIEW}),
    Role.LEADER: frozenset({Action.REGISTRY_VIEW}),
    Role.INTEGRATION: frozenset({Action.REGISTRY_VIEW}),
}
_ASSESS = {Action.ANALYTICS_VIEW, Action.BULLETIN_MANAGE}  # dashboards, rankings, bulletins of one's own scope
# publishing a ranking is the command centre's official act for its own scope (a town dispatcher its town's
# village ranking, a city dispatcher the city's); the leader role stays read-only. Ranking configurations
# (custom weights) are set once for the whole city: admin and city dispatchers at city level (require_city_level)
_RANKING_PUBLISH = {Action.RANKING_PUBLISH}

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.CITY_DISPATCHER: frozenset(_STAFF_READ | _CASE_WORK | _ASSESS | _RANKING_PUBLISH
                                    | {Action.USER_VIEW, Action.RANKING_CONFIG_MANAGE}),
    Role.TOWN_DISPATCHER: frozenset(_STAFF_READ | _CASE_WORK | _ASSESS | _RANKING_PUBLISH | {Action.USER_VIEW}),
    Role.VILLAGE_OPERATOR: frozenset(_STAFF_READ | _CASE_WORK | {Action.USER_VIEW}),
    Role.GRID_WORKER: frozenset({Action.REGION_VIEW, Action.LOCATE, Action.DEPARTMENT_VIEW, Action.MATTER_VIEW}
                                | _CASE_WORK),
    Role.DEPARTMENT_HANDLER: frozenset({Action.REGION_VIEW, Action.LOCATE, Action.DEPARTMENT_VIEW,
                                        Action.MATTER_VIEW} | _CASE_WORK),
    Role.MEDIATOR: frozenset({Action.REGION_VIEW, Action.LOCATE, Action.DEPARTMENT_VIEW, Action.MATTER_VIEW,
                              Action.CASE_VIEW}),
    Role.LEADER: frozenset(_STAFF_READ | {Action.USER_VIEW, Action.CASE_VIEW, Action.ANALYTICS_VIEW}),
    Role.CITIZEN: frozenset({Action.LOCATE, Action.MATTER_VIEW} | _CASE_WORK),
    Role.INTEGRATION: frozenset({Action.REGION_VIEW, Action.REGION_EXPORT, Action.LOCATE,
                                 Action.DEPARTMENT_VIEW, Action.MATTER_VIEW} | _CASE_WORK),
}

PERMISSIONS = {role: actions | _REGISTRY.get(role, frozenset()) for role, actions in PERMISSIONS.items()}

ACTION_LABELS: dict[Action, str] = {
    Action.REGION_VIEW: "查看区域",
    Action.REGION_IMPORT: "导入区域边界",
    Action.REGION_EXPORT: "导出区域边界",
    Action.LOCATE: "坐标定位",
    Action.DEPARTMENT_VIEW: "查看部门",
    Action.DEPARTMENT_MANAGE: "管理部门",
    Action.CENTRE_VIEW: "查看指挥中心",
    Action.USER_VIEW: "查看用户",
    Action.USER_MANAGE: "管理用户与角色",
    Action.AUDIT_VIEW: "查看审计日志",
    Action.APIKEY_MANAGE: "管理接口密钥",
    Action.MATTER_VIEW: "查看事项清单",
    Action.MATTER_MANAGE: "维护事项清单",
    Action.CASE_REPORT: "上报事件",
    Action.CASE_VIEW: "查看事件",
    Action.CALENDAR_MANAGE: "维护节假日安排",
    Action.REGISTRY_VIEW: "查看基础数据",
    Action.REGISTRY_EDIT: "维护基础数据",
    Action.REGISTRY_IMPORT: "导入基础数据",
    Action.REGISTRY_EXPORT: "导出基础数据",
    Action.PERSON_UNMASK: "查看完整证件号码和电话",
    Action.SENSITIVE_TAG_VIEW: "查看特殊人群标签",
    Action.ANALYTICS_VIEW: "查看考核统计",
    Action.BULLETIN_MANAGE: "生成考核通报",
    Action.RANKING_PUBLISH: "发布考核排名",
    Action.RANKING_CONFIG_MANAGE: "维护排名方案",
}


@dataclass(frozen=True)
class Grant:
    """One role held in one scope; region_path is the materialised path of the scope region."""

    role: Role
    region_id: int | None = None
    region_path: str | None = None
    department_id: int | None = None


@dataclass(frozen=True)
class Actor:
    """Who is acting: resolved once per request from a session cookie or an API key."""

    user_id: int
    username: str
    display_name: str
    grants: tuple[Grant, ...] = ()
    grid_ids: frozenset[int] = field(default_factory=frozenset)
    via_api_key: bool = False

    @property
    def roles(self) -> set[Role]:
        return {g.role for g in self.grants}

    def has_role(self, *roles: Role) -> bool:
        return any(g.role in roles for g in self.grants)

    def scope_paths(self, action: Action | None = None) -> list[str]:
        """Region paths whose subtrees the actor sees (for `action` if given), outermost only."""
        paths = sorted({g.region_path for g in self.grants
                        if g.region_path and (action is None or action in PERMISSIONS[g.role])})
        out: list[str] = []
        for p in paths:  # sorted: an ancestor comes before its descendants
            if not any(p.startswith(q) for q in out):
                out.append(p)
        return out


def _allowed(actor: Actor, action: Action) -> bool:
    return any(action in PERMISSIONS[g.role] for g in actor.grants)


def can(actor: Actor, action: Action) -> bool:
    """Whether any of the actor's roles carries `action` (scope aside)."""
    return _allowed(actor, action)


def in_scope(actor: Actor, obj: Any, action: Action | None = None) -> bool:
    """Whether obj lies in the actor's scope. Regions by path; other objects by their region path."""
    path = getattr(obj, "path", None) if not isinstance(obj, str) else obj
    if path is None:
        path = getattr(obj, "region_path", None)
    if path is None:
        return True
    return any(path.startswith(p) for p in actor.scope_paths(action))


def require(actor: Actor, action: Action, obj: Any = None) -> None:
    """Raise NotFound if obj is outside the actor's scope, Forbidden if no role carries action."""
    if obj is not None and not in_scope(actor, obj, None):
        raise NotFound(type(obj).__name__.lower())
    if not _allowed(actor, action):
        roles = "、".join(ROLE_LABELS[r] for r in sorted(actor.roles)) or "无角色"
        raise Forbidden(
            "forbidden",
            f"您的角色({roles})无权执行“{ACTION_LABELS[action]}”",
            f"None of your roles ({', '.join(sorted(actor.roles)) or 'none'}) may perform {action.value}",
            extra={"action": action.value},
        )
    if obj is not None and not in_scope(actor, obj, action):
        raise NotFound(type(obj).__name__.lower())


def may(actor: Actor, action: Action, obj: Any) -> bool:
    """Whether the actor may take `action` on obj (role and scope): what a page asks before offering a button."""
    return _allowed(actor, action) and in_scope(actor, obj, action)


def require_city_level(actor: Actor, action: Action, city: Any) -> None:
    """Raise Forbidden unless the actor holds `action` over the whole city (`city`, the root region): for
    settings that apply city-wide, such as ranking configurations."""
    require(actor, action)
    if not in_scope(actor, city, action):
        raise Forbidden("city_level_only", f"“{ACTION_LABELS[action]}”只能由市级人员操作",
                        f"{action.value} needs a city-level scope", extra={"action": action.value})


# ---------------------------------------------------------------------------------------------
# cases: the parties an actor is to a case (the workflow's "who" is a set of these)

LEVEL_ROLE = {"village": Role.VILLAGE_OPERATOR, "town": Role.TOWN_DISPATCHER, "city": Role.CITY_DISPATCHER}
ROLE_LEVEL = {v: k for k, v in LEVEL_ROLE.items()}
_LEVEL_RANK = {"village": 0, "town": 1, "city": 2}


def case_parties(actor: Actor, case: Any) -> set[str]:
    """Relations of the actor to the case: holder, department, grid, supervisor, reporter, staff.

    `case` needs: region_path (its grid's path), level and holder_path (the command centre holding it),
    department_id, grid_id, reporter_id and state."""
    out: set[str] = set()
    if case.reporter_id is not None and case.reporter_id == actor.user_id:
        out.add("reporter")
    for g in actor.grants:
        covers = bool(g.region_path) and case.region_path.startswith(g.region_path)
        if g.role == LEVEL_ROLE.get(case.level) and g.region_path == case.holder_path:
            out.add("holder")
        if g.role in ROLE_LEVEL and covers and (
                _LEVEL_RANK[ROLE_LEVEL[g.role]] > _LEVEL_RANK[case.level]
                or (ROLE_LEVEL[g.role] == case.level and case.department_id is not None
                    and getattr(case, "state", None) in ("dispatched", "in_handling", "parked"))):
            out.add("supervisor")  # a centre above the holder, or the holder urging its department
        if g.role == Role.DEPARTMENT_HANDLER and case.department_id is not None \
                and g.department_id == case.department_id:
            out.update({"department", "staff"})
        if g.role == Role.GRID_WORKER and case.grid_id in actor.grid_ids:
            out.update({"grid", "staff"})
        if covers and g.role in (Role.INTEGRATION, Role.LEADER):  # read-only
            out.add("viewer")
        elif covers and g.role not in (Role.CITIZEN, Role.DEPARTMENT_HANDLER) \
                and Action.CASE_VIEW in PERMISSIONS[g.role]:
            out.add("staff")
    return out


def require_case_view(actor: Actor, case: Any) -> set[str]:
    """The actor's parties to a case it may see; a case it may not see is NotFound (404)."""
    if not can(actor, Action.CASE_VIEW):
        raise NotFound("case", "事件不存在或无权查看")
    parties = case_parties(actor, case)
    if not parties:
        raise NotFound("case", "事件不存在或无权查看")
    return parties


WORKING_PARTIES = frozenset({"holder", "supervisor", "department", "grid"})


def may_unmask_case(actor: Actor, case: Any) -> bool:
    """Whether the actor may see a case's personal numbers (the reporter's phone) in full: it works the case
    and its roles may unmask personal numbers."""
    return can(actor, Action.PERSON_UNMASK) and bool(case_parties(actor, case) & WORKING_PARTIES)


def require_case_unmask(actor: Actor, case: Any) -> None:
    require_case_view(actor, case)
    if not may_unmask_case(actor, case):
        raise Forbidden("cannot_unmask", "只有承办本事件且有权查看个人号码的人员可以查看完整电话",
                        "Only staff working the case whose roles may unmask personal numbers")


def may_bulk_act(actor: Actor) -> bool:
    """Whether queue pages offer bulk dispatch and supervision: town and city centres (each case is still
    checked by the engine on its own)."""
    return actor.has_role(Role.TOWN_DISPATCHER, Role.CITY_DISPATCHER)
