"""The matter catalogue's rules: import (all or nothing, per-row errors), edit with revisions, retire, read,
and the rule snapshot a case is filed under (so later edits never change an open case's rules)."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicgrid.access.policy import Action, Actor, require
from civicgrid.access.service import audit
from civicgrid.errors import BadInput, NotFound
from civicgrid.matters.models import KINDS, LEVELS, STEPS, URGENCIES, MatterCategory, MatterRevision

RULE_FIELDS = ("filing_standard", "closing_standard", "lead_departments", "time_limits", "hours_mode",
               "village_may_close", "escalate_on_overdue", "public")
EDITABLE = ("name", "sort", "active", *RULE_FIELDS)
DEPARTMENT_LEVELS = ("town", "city")
LEVEL_LABELS = {"kind": "类型", "class": "大类", "subclass": "小类", "detail": "细类"}
KIND_LABELS = {"component": "部件", "event": "事件", "social": "社会治理事项"}
STEP_LABELS = {"accept": "受理", "dispatch": "派遣", "handle": "处置", "verify": "核查"}
URGENCY_LABELS = {"normal": "一般", "urgent": "紧急"}


def _row_errors(row: dict[str, Any], known_parent_level: str | None, department_kinds: set[str]) -> list[str]:
    """Chinese descriptions of what is wrong with one catalogue row (empty when fine)."""
    errs: list[str] = []
    code = str(row.get("code") or "").strip()
    if not code or len(code) > 20 or not code.isalnum():
        errs.append("编码必须是 1–20 位字母或数字")
    if not str(row.get("name") or "").strip():
        errs.append("名称不能为空")
    level = row.get("level")
    if level not in LEVELS:
        errs.append(f"层级应为 {'/'.join(LEVELS)} 之一")
    if row.get("kind") not in KINDS:
        errs.append(f"类型应为 {'/'.join(KINDS)} 之一")
    if level == "kind":
        if row.get("parent_code"):
            errs.append("类型节点不能有上级")
    elif level in LEVELS:
        expected = LEVELS[LEVELS.index(level) - 1]
        if known_parent_level is None:
            errs.append(f"上级编码 {row.get('parent_code')} 不存在")
        elif known_parent_level != expected:
            errs.append(f"{LEVEL_LABELS[level]}的上级应为{LEVEL_LABELS[expected]}")
    if level in ("subclass", "detail"):
        tl = row.get("time_limits") or {}
        if not isinstance(tl, dict) or "normal" not in tl:
            errs.append("缺少一般件的时限")
        else:
            for urg, steps in tl.items():
                if urg not in URGENCIES:
                    errs.append(f"未知紧急程度 {urg}")
                    continue
                for step in STEPS:
                    v = (steps or {}).get(step)
                    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
                        errs.append(f"{URGENCY_LABELS[urg]}件的{STEP_LABELS[step]}时限必须是大于 0 的小时数")
        if row.get("hours_mode", "working") not in ("working", "natural"):
            errs.append("时限单位应为 working(工作时)或 natural(自然时)")
        leads = row.get("lead_departments") or {}
        if not isinstance(leads, dict) or not any(leads.get(lv) for lv in DEPARTMENT_LEVELS):
            errs.append("至少指定一个镇街或市级主责部门")
        else:
            for lv, kind in leads.items():
                if lv not in DEPARTMENT_LEVELS:
                    errs.append(f"主责部门层级 {lv} 无效(应为 town 或 city)")
                elif kind and department_kinds and kind not in department_kinds:
                    errs.append(f"主责部门类别 {kind} 不存在")
    return errs


def _department_kinds(session: Session) -> set[str]:
    from civicgrid.access.models import Department

    return set(session.scalars(select(Department.kind).distinct()))


def _snapshot(c: MatterCategory) -> dict[str, Any]:
    return {"code": c.code, "name": c.name, "active": c.active, "revision": c.revision,
            **{f: getattr(c, f) for f in RULE_FIELDS}}


def _record_revision(session: Session, actor: Actor, c: MatterCategory) -> None:
    session.flush()
    session.add(MatterRevision(category_id=c.id, revision=c.revision, snapshot=_snapshot(c),
                               changed_by=actor.user_id or None))


def import_catalogue(session: Session, actor: Actor, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert new categories and update existing ones by code; any bad row and nothing is written.

    Errors name the row as `sheet_row` when the rows came from a spreadsheet, else their 1-based position."""
    require(actor, Action.MATTER_MANAGE)
    existing = {c.code: c for c in session.scalars(select(MatterCategory))}
    levels = {code: c.level for code, c in existing.items()}
    kinds = _department_kinds(session)
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        code = str(row.get("code") or "").strip()
        parent_level = levels.get(str(row.get("parent_code") or "")) if row.get("parent_code") else None
        errs = _row_errors(row, parent_level, kinds)
        if code in seen:
            errs.append("编码在文件中重复")
        seen.add(code)
        if code in existing and existing[code].level != row.get("level"):
            errs.append(f"已存在的编码 {code} 不能改变层级")
        if errs:
            errors.append({"row": row.get("sheet_row", i + 1), "code": code, "errors": errs})
        elif row.get("level") in LEVELS:
            levels[code] = row["level"]
    if errors:
        raise BadInput("import_invalid", f"事项清单导入未执行:{len(errors)} 行有错误,请修正后重试",
                       f"Catalogue import refused: {len(errors)} bad row(s); nothing was written",
                       extra={"errors": errors})
    created = updated = 0
    for row in rows:
        code = str(row["code"]).strip()
        c = existing.get(code)
        parent = existing.get(str(row.get("parent_code") or ""))
        values = {k: row[k] for k in EDITABLE if k in row}
        if c is None:
            c = MatterCategory(code=code, level=row["level"], kind=row["kind"],
                               parent_id=parent.id if parent else None, **values)
            session.add(c)
            session.flush()
            existing[code] = c
            created += 1
            _record_revision(session, actor, c)
        else:
            changed = {k: v for k, v in values.items() if getattr(c, k) != v}
            if parent is not None and c.parent_id != parent.id:
                c.parent_id = parent.id
                changed["parent_code"] = parent.code
            if changed:
                for k, v in values.items():
                    setattr(c, k, v)
                c.revision += 1
                updated += 1
                _record_revision(session, actor, c)
    audit(session, actor, "matters.import", "matter_catalogue", None, {"created": created, "updated": updated})
    return {"created": created, "updated": updated}


def get_category(session: Session, actor: Actor, code: str) -> MatterCategory:
    require(actor, Action.MATTER_VIEW)
    c = session.scalars(select(MatterCategory).where(MatterCategory.code == code)).first()
    if c is None:
        raise NotFound("matter category", f"事项 {code} 不存在")
    return c


def update_category(session: Session, actor: Actor, code: str, changes: dict[str, Any]) -> MatterCategory:
    """Edit one category's name or rules; a new revision is recorded. Open cases keep the rules they were filed under."""
    require(actor, Action.MATTER_MANAGE)
    c = get_category(session, actor, code)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise BadInput("invalid_field", f"不可修改的字段:{'、'.join(sorted(unknown))}",
                       f"Fields not editable: {', '.join(sorted(unknown))}")
    row = {**_snapshot(c), "level": c.level, "kind": c.kind, **changes}
    parent = session.get(MatterCategory, c.parent_id) if c.parent_id else None
    row["parent_code"] = parent.code if parent else None
    errs = _row_errors(row, parent.level if parent else None, _department_kinds(session))
    if errs:
        raise BadInput("invalid_category", ";".join(errs), "Invalid category: " + "; ".join(errs),
                       extra={"errors": errs})
    for k, v in changes.items():
        setattr(c, k, v)
    c.revision += 1
    _record_revision(session, actor, c)
    audit(session, actor, "matters.update", "matter_category", c.code, {"changes": sorted(changes)})
    return c


FIELD_LABELS = {"name": "名称", "sort": "排序", "active": "启用", "filing_standard": "立案标准",
                "closing_standard": "结案标准", "lead_departments": "主责部门", "time_limits": "时限",
                "hours_mode": "时限单位", "village_may_close": "村级可自行处置", "escalate_on_overdue": "超期自动上报",
                "public": "市民可选"}


def revisions(session: Session, actor: Actor, code: str) -> list[dict[str, Any]]:
    """A category's saved states, newest first: when, by whom, and which fields (in Chinese) each changed."""
    from civicgrid.access.models import User

    c = get_category(session, actor, code)
    rows = session.execute(select(MatterRevision, User.display_name)
                           .outerjoin(User, User.id == MatterRevision.changed_by)
                           .where(MatterRevision.category_id == c.id).order_by(MatterRevision.revision)).all()
    out: list[dict[str, Any]] = []
    before: dict[str, Any] | None = None
    for rev, who in rows:
        snap = rev.snapshot or {}
        changed = ([FIELD_LABELS[k] for k in FIELD_LABELS if snap.get(k) != before.get(k)]
                   if before is not None else [])
        out.append({"revision": rev.revision, "at": rev.changed_at, "by": who or "系统",
                    "changed": changed, "first": before is None})
        before = snap
    return out[::-1]


def tree(session: Session, actor: Actor, *, include_retired: bool = False,
         public_only: bool = False) -> list[dict[str, Any]]:
    """The catalogue as nested nodes in code order."""
    require(actor, Action.MATTER_VIEW)
    q = select(MatterCategory).order_by(MatterCategory.sort, MatterCategory.code)
    if not include_retired:
        q = q.where(MatterCategory.active.is_(True))
    rows = list(session.scalars(q))
    nodes = {c.id: {**to_out(c), "children": []} for c in rows}
    roots: list[dict[str, Any]] = []
    for c in rows:
        node = nodes[c.id]
        if public_only and c.level in ("subclass", "detail") and not c.public:
            continue
        (nodes[c.parent_id]["children"] if c.parent_id in nodes else roots).append(node)
    return roots


def to_out(c: MatterCategory) -> dict[str, Any]:
    return {"code": c.code, "name": c.name, "level": c.level, "kind": c.kind, "active": c.active,
            "revision": c.revision, **{f: getattr(c, f) for f in RULE_FIELDS}}


def filing_rules(session: Session, code: str) -> tuple[MatterCategory, dict[str, Any]]:
    """The leaf a case may be filed under and the snapshot of its rules (kept on the case)."""
    c = session.scalars(select(MatterCategory).where(MatterCategory.code == code)).first()
    if c is None:
        raise BadInput("unknown_category", f"事项分类 {code} 不存在", f"Unknown category {code}",
                       extra={"field": "category"})
    if not c.active:
        raise BadInput("retired_category", f"事项分类 {c.name} 已停用,请选择其他分类",
                       f"Category {code} is retired", extra={"field": "category"})
    if c.level not in ("subclass", "detail"):
        raise BadInput("category_not_leaf", f"请选择到小类:{c.name} 下还有细分",
                       f"Category {code} is not a leaf (subclass or detail)", extra={"field": "category"})
    return c, _snapshot(c)


def category_path_names(session: Session, c: MatterCategory) -> list[str]:
    """Names from the kind down to c, for display (事件 › 市容环境 › 暴露垃圾)."""
    out = [c.name]
    while c.parent_id:
        c = session.get(MatterCategory, c.parent_id)  # type: ignore[assignment]
        out.append(c.name)
    return out[::-1]


def _bigrams(text: str) -> set[str]:
    t = "".join(ch for ch in text if not ch.isspace())
    return {t[i:i + 2] for i in range(len(t) - 1)} | set(t)


def suggest(session: Session, actor: Actor, text: str, *, limit: int = 3,
            public_only: bool = False) -> list[dict[str, Any]]:
    """Leaves whose names (and their class's) best match a free-text description, for the category picker."""
    require(actor, Action.MATTER_VIEW)
    words = _bigrams(text or "")
    if not words:
        return []
    rows = list(session.scalars(select(MatterCategory).where(MatterCategory.active.is_(True))))
    by_id = {c.id: c for c in rows}
    scored = []
    for c in rows:
        if c.level not in ("subclass", "detail") or (public_only and not c.public):
            continue
        parent = by_id.get(c.parent_id or 0)
        name_grams = _bigrams(c.name)
        score = 2 * len(words & {g for g in name_grams if len(g) == 2}) + len(words & name_grams) * 0.5
        if parent is not None:
            score += 0.3 * len(words & _bigrams(parent.name))
        if score > 0:
            scored.append((score, c))
    scored.sort(key=lambda t: (-t[0], t[1].code))
    return [{"code": c.code, "name": c.name, "path": category_path_names(session, c), "score": round(sc, 2)}
            for sc, c in scored[:limit]]
