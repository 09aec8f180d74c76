"""Workflows as data: for each kind of case, its states and actions (from → to, who may act, what it needs).

The engine (cases/engine.py) is the only code that applies them. "Who" is a set of *parties*, relations
between an actor and a case computed by the policy module (access/policy.case_parties):

* holder      a dispatcher of the command centre holding the case (village operator, town or city dispatcher)
* department  a handler of the department the case is dispatched to
* grid        a grid worker assigned to the case's grid
* supervisor  a town or city dispatcher above the case's holder (督办)
* reporter    the user who reported the case
* staff       any staff member who may see the case (comments)
"""

from __future__ import annotations

from dataclasses import dataclass, field

STATES: dict[str, str] = {
    "reported": "待受理",
    "accepted": "待派遣",
    "dispatched": "待签收",
    "in_handling": "处置中",
    "returned": "已退回",
    "handled": "待核查",
    "verified": "待结案",
    "parked": "挂账",
    "closed": "已结案",
    "voided": "已作废",
    "merged": "已合并",
}
TERMINAL = frozenset({"closed", "voided", "merged"})
OPEN = frozenset(STATES) - TERMINAL

# which step's time limit runs in each state (parked cases have no running deadline but stay counted)
STEP_OF_STATE: dict[str, str | None] = {
    "reported": "accept", "accepted": "dispatch", "returned": "dispatch", "dispatched": "handle",
    "in_handling": "handle", "handled": "verify", "verified": "verify", "parked": None,
    "closed": None, "voided": None, "merged": None,
}

ANY_OPEN = tuple(sorted(OPEN))


@dataclass(frozen=True)
class ActionSpec:
    """One action: where it may start, where it goes (None: the state does not change), who, what it needs."""

    name: str
    label: str
    from_states: tuple[str, ...]
    to_state: str | None
    who: frozenset[str]
    requires: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    levels: tuple[str, ...] = ("village", "town", "city")  # holder levels at which it is offered
    style: str = "default"  # how a page shows the button: primary | default | danger


def _a(name: str, label: str, frm: tuple[str, ...] | str, to: str | None, who: str, requires: str = "",
       optional: str = "", levels: tuple[str, ...] = ("village", "town", "city"), style: str = "default") -> ActionSpec:
    return ActionSpec(name, label, (frm,) if isinstance(frm, str) else frm, to, frozenset(who.split()),
                      tuple(requires.split()), tuple(optional.split()), levels, style)


@dataclass(frozen=True)
class Workflow:
    kind: str
    label: str
    actions: dict[str, ActionSpec] = field(default_factory=dict)


EVENT_ACTIONS = [
    _a("accept", "立案", "reported", "accepted", "holder", optional="note category urgency", style="primary"),
    _a("void", "作废", "reported", "voided", "holder", requires="note", style="danger"),
    _a("escalate", "上报上级", ("reported", "accepted", "returned"), None, "holder", requires="note",
       levels=("village", "town")),
    _a("delegate", "下派", ("reported", "accepted", "returned"), None, "holder", requires="note",
       levels=("town", "city")),
    _a("handle_locally", "自行处置", ("accepted", "returned"), "handled", "holder", requires="note",
       optional="photos", levels=("village",), style="primary"),
    _a("dispatch", "派遣", ("accepted", "returned"), "dispatched", "holder", requires="department",
       optional="note", levels=("town", "city"), style="primary"),
    _a("reroute", "改派", "dispatched", "dispatched", "holder", requires="department note", levels=("town", "city")),
    _a("take", "签收", "dispatched", "in_handling", "department", optional="note", style="primary"),
    _a("return", "退回", ("dispatched", "in_handling"), "returned", "department", requires="note", style="danger"),
    _a("handle", "处置完成", "in_handling", "handled", "department", requires="note", optional="photos",
       style="primary"),
    _a("request_extension", "申请延期", ("dispatched", "in_handling"), None, "department", requires="hours note"),
    _a("approve_extension", "批准延期", ("dispatched", "in_handling"), None, "holder", optional="note"),
    _a("reject_extension", "驳回延期", ("dispatched", "in_handling"), None, "holder", requires="note"),
    _a("park", "挂账", ("dispatched", "in_handling"), "parked", "holder", requires="note"),
    _a("unpark", "解除挂账", "parked", "in_handling", "holder", optional="note"),
    _a("verify", "核查", "handled", None, "grid", requires="result note", optional="photos", style="primary"),
    _a("close", "结案", "verified", "closed", "holder", optional="note", style="primary"),
    _a("follow_up", "回访", "closed", None, "holder reporter", requires="satisfaction", optional="note"),
    _a("supervise", "督办", ANY_OPEN, None, "supervisor", requires="grade note"),
    _a("recategorise", "改分类", ("reported", "accepted", "returned", "dispatched"), None, "holder",
       requires="category", optional="note urgency"),
    _a("merge", "合并到主案件", ("reported", "accepted"), "merged", "holder", requires="master", optional="note"),
    _a("comment", "备注", ANY_OPEN + ("closed",), None, "staff", requires="note"),
]

WORKFLOWS: dict[str, Workflow] = {
    "event": Workflow("event", "事件", {a.name: a for a in EVENT_ACTIONS}),
}

# actions only the engine performs (no actor may choose them)
SYSTEM_ACTIONS = {"report": "上报", "overdue": "超期", "due_soon": "即将超期", "auto_escalate": "超期自动上报",
                  "close_with_master": "随主案件结案"}

ACTION_LABELS = {**SYSTEM_ACTIONS, **{a.name: a.label for a in EVENT_ACTIONS}}

LEVEL_RANK = {"village": 0, "town": 1, "city": 2}
LEVEL_LABELS = {"village": "村(社区)工作站", "town": "镇街指挥中心", "city": "市指挥中心"}
SOURCES = {"grid_worker": "网格员上报", "citizen": "市民上报", "hotline": "12345 热线", "department": "部门移交"}
SUPERVISION_GRADES = {"ordinary": "一般督办", "yellow": "黄牌督办", "red": "红牌督办"}
SATISFACTION = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
URGENCY = {"normal": "一般", "urgent": "紧急"}
