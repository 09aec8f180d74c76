"""Rankings of towns, villages and departments by a weighted score whose formula is configuration.

score = Σ weightᵢ × termᵢ, where a term is a rate KPI (or 1 − the rate, for the ones where lower is better)
and the weights add up to 100. Units below a minimum volume are shown apart, not ranked (one case fixed
fast must not top the table); the bottom of the table is flagged. Until it is published a ranking is computed
on each request (预览); publishing it (发布排名, an ended period only, once) stores the table with a copy of
the configuration used, who and when, and it is read back from then on: changing a configuration later
never changes a published ranking. Configurations are the presets in code plus stored ones (custom-<id>).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.models import Department, User
from civicgrid.access.policy import Action, Actor, may, require, require_city_level
from civicgrid.access.service import audit
from civicgrid.analytics import kpis, service
from civicgrid.analytics.models import RankingConfigRecord, StoredRanking
from civicgrid.analytics.service import Cut
from civicgrid.errors import BadInput, Conflict, NotFound
from civicgrid.geo.models import Region

UNITS = {"town": "镇街", "village": "村(社区)", "department": "部门"}


@dataclass(frozen=True)
class Term:
    kpi: str
    weight: float
    invert: bool = False  # use 1 − value (rates where lower is better)


@dataclass(frozen=True)
class RankingConfig:
    name: str
    label: str
    terms: tuple[Term, ...]
    volume_measure: str = "accepted"  # the raw count that must reach min_volume
    min_volume: int = 20
    bottom_n: int = 3
    kpi: dict[str, Any] = field(default_factory=dict)  # KpiConfig options (denominators, weights)

    def kpi_config(self) -> kpis.KpiConfig:
        return kpis.KpiConfig(**self.kpi)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["terms"] = [asdict(t) for t in self.terms]
        return d


def config_from_dict(d: dict[str, Any]) -> RankingConfig:
    """Read and check a configuration (from the API, a file or a stored ranking)."""
    try:
        terms = tuple(Term(str(t["kpi"]), float(t["weight"]), bool(t.get("invert", False)))
                      for t in d.get("terms") or [])
        cfg = RankingConfig(name=str(d.get("name") or "custom"), label=str(d.get("label") or "自定义"),
                            terms=terms, volume_measure=str(d.get("volume_measure", "accepted")),
                            min_volume=int(d.get("min_volume", 20)), bottom_n=int(d.get("bottom_n", 3)),
                            kpi=dict(d.get("kpi") or {}))
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput("invalid_ranking_config", "排名配置格式不正确", f"Cannot read the ranking config: {e}") from None
    validate(cfg)
    return cfg


def validate(cfg: RankingConfig) -> None:
    if not cfg.terms:
        raise BadInput("invalid_ranking_config", "排名配置至少需要一个指标", "A ranking needs at least one term",
                       extra={"field": "terms"})
    try:
        defs = kpis.definitions(cfg.kpi_config())
    except TypeError:
        raise BadInput("invalid_ranking_config", "指标口径配置有未知项", f"Unknown KPI options {cfg.kpi}") from None
    for t in cfg.terms:
        if t.kpi not in defs:
            raise BadInput("unknown_kpi", f"排名配置中的指标 {t.kpi} 不存在", f"Unknown KPI {t.kpi!r} in the ranking",
                           extra={"known": [k for k, v in defs.items() if v.unit == "rate"], "field": "terms"})
        if defs[t.kpi].unit != "rate":
            raise BadInput("kpi_not_a_rate", f"{defs[t.kpi].label}不是比率,不能加权排名",
                           f"{t.kpi} is not a rate and cannot be weighted", extra={"field": "terms"})
        if t.weight < 0:
            raise BadInput("negative_weight", "权重不能为负数", f"Negative weight for {t.kpi}", extra={"field": "terms"})
    if len({t.kpi for t in cfg.terms}) < len(cfg.terms):
        raise BadInput("duplicate_kpi", "同一指标只能出现一次", "A KPI appears twice in the ranking",
                       extra={"field": "terms"})
    total = sum(t.weight for t in cfg.terms)
    if abs(total - 100) > 1e-6:
        raise BadInput("weights_do_not_add_up", f"权重合计应为 100,当前为 {total:g}",
                       f"Weights must add up to 100, they add up to {total:g}", extra={"total": total, "field": "terms"})
    if cfg.volume_measure not in kpis.COUNTS:
        raise BadInput("unknown_volume_measure", f"最低量指标 {cfg.volume_measure} 不存在",
                       f"Unknown volume measure {cfg.volume_measure!r}", extra={"field": "volume_measure"})
    if cfg.min_volume < 0:
        raise BadInput("invalid_ranking_config", "最低案件量不能为负数", "min_volume must be >= 0",
                       extra={"field": "min_volume"})
    if cfg.bottom_n < 0:
        raise BadInput("invalid_ranking_config", "末位数不能为负数", "bottom_n must be >= 0", extra={"field": "bottom_n"})


PRESETS: dict[str, RankingConfig] = {
    # 数字城管: on-time closure ×50 + closure ×30 + (1 − rework) ×10 + (1 − supervision) ×10
    "digital_urban": RankingConfig(
        "digital_urban", "数字城管综合评价",
        (Term("on_time_closure_rate", 50), Term("closure_rate", 30), Term("rework_rate", 10, True),
         Term("supervision_rate", 10, True)), "accepted", 10, 3),
    # 12345 三率: response ×10 + resolution ×50 + satisfaction ×40 (weights unverified: configuration)
    "hotline_12345": RankingConfig(
        "hotline_12345", "12345 三率考核",
        (Term("response_rate", 10), Term("resolution_rate", 50), Term("satisfaction_rate", 40)),
        "followed", 10, 3, {"basically_satisfied_weight": 0.9}),
}
for _p in PRESETS.values():
    validate(_p)


CUSTOM = "custom-"  # key prefix of a stored configuration: custom-<id>


def preset(name: str, session: Session | None = None) -> RankingConfig:
    """The configuration under a key: a shipped preset, or (with a session) a stored one (custom-<id>)."""
    if name in PRESETS:
        return PRESETS[name]
    if session is not None and name.startswith(CUSTOM) and name[len(CUSTOM):].isdigit():
        rec = session.get(RankingConfigRecord, int(name[len(CUSTOM):]))
        if rec is not None:
            return _from_record(rec)
    labels = [label for _k, label in choices(session)] if session is not None else [p.label for p in PRESETS.values()]
    raise BadInput("unknown_preset", f"排名方案应为:{'/'.join(labels)}", f"Unknown ranking configuration {name!r}",
                   extra={"presets": list(PRESETS), "field": "preset"})


def choices(session: Session) -> list[tuple[str, str]]:
    """(key, label) of every configuration one may rank by: the presets, then the stored ones by label."""
    return [(p.name, p.label) for p in PRESETS.values()] + [
        (f"{CUSTOM}{r.id}", r.label) for r in session.scalars(select(RankingConfigRecord)
                                                              .order_by(RankingConfigRecord.label))]


def _from_record(rec: RankingConfigRecord) -> RankingConfig:
    return config_from_dict({**rec.config, "name": f"{CUSTOM}{rec.id}", "label": rec.label})


def score(values: dict[str, float | None], cfg: RankingConfig) -> float | None:
    total = 0.0
    for t in cfg.terms:
        v = values.get(t.kpi)
        if v is None:
            return None
        total += t.weight * ((1 - v) if t.invert else v)
    return round(total, 4)


def compute(session: Session, cut: Cut, unit: str, cfg: RankingConfig) -> dict[str, Any]:
    """The ranking table of `unit`s inside the cut's region for its period (nothing stored)."""
    if unit not in UNITS:
        raise BadInput("invalid_unit", f"排名对象应为:{'/'.join(UNITS.values())}", f"unit must be one of {', '.join(UNITS)}")
    kcfg = cfg.kpi_config()
    keys = sorted({t.kpi for t in cfg.terms})
    rows = {r["key"]: r for r in service.breakdown(session, cut, unit, keys, kcfg,
                                                   extra_measures=(cfg.volume_measure,)) if r["key"]}
    units = _all_units(session, cut, unit)
    ranked, apart = [], []
    for uid, (code, name) in units.items():
        r = rows.get(uid)
        vol = int(r["measures"][cfg.volume_measure]) if r else 0
        vals = {k: (r["values"][k] if r else None) for k in keys}
        entry = {"code": code, "name": name, "volume": vol, "values": vals,
                 "score": score(vals, cfg) if r else None, "rank": None, "bottom": False}
        if vol < cfg.min_volume or entry["score"] is None:
            entry["reason"] = "无案件" if vol == 0 else f"{kpis.COUNTS[cfg.volume_measure]}不足 {cfg.min_volume}"
            apart.append(entry)
        else:
            ranked.append(entry)
    ranked.sort(key=lambda e: (-e["score"], e["code"]))
    prev_score, rank = None, 0
    for i, e in enumerate(ranked, 1):
        if e["score"] != prev_score:
            rank, prev_score = i, e["score"]
        e["rank"] = rank
    n_bottom = min(cfg.bottom_n, len(ranked) - 1)  # a table of one has no bottom
    if n_bottom > 0:
        cut_score = ranked[-n_bottom]["score"]
        for e in ranked:
            e["bottom"] = e["score"] <= cut_score  # ties with the last flagged place are flagged too
    apart.sort(key=lambda e: e["code"])
    return {"unit": unit, "unit_label": UNITS[unit], "config": cfg.to_dict(), "ranked": ranked, "apart": apart,
            "columns": [{"key": k, "label": kpis.definitions(kcfg)[k].label} for k in keys]}


def _all_units(session: Session, cut: Cut, unit: str) -> dict[int, tuple[str, str]]:
    if unit == "department":
        sub = select(Region.id).where(Region.path.startswith(cut.region.path))
        return {d.id: (d.code, d.name) for d in session.scalars(
            select(Department).where(Department.region_id.in_(sub), Department.active.is_(True)))}
    if not service._below(cut.region.level, unit):
        raise BadInput("invalid_unit", f"{cut.region.name}之下没有{UNITS[unit]}可排名",
                       f"No {unit} below a {cut.region.level}")
    return {r.id: (r.code, r.name) for r in session.scalars(select(Region).where(
        Region.path.startswith(cut.region.path), Region.level == unit, Region.valid_to.is_(None)))}


def publishable(cut: Cut) -> bool:
    """Only a whole scope's ranking is published: no department, category, source or urgency filter."""
    return cut.department is None and cut.category is None and cut.source is None and cut.urgency is None


def _published(session: Session, cut: Cut, unit: str, key: str) -> StoredRanking | None:
    return session.scalars(select(StoredRanking).where(
        StoredRanking.unit == unit, StoredRanking.scope_region_id == cut.region.id,
        StoredRanking.period_start == cut.period.start, StoredRanking.period_end == cut.period.end,
        StoredRanking.preset == key)).first()


def _published_view(session: Session, found: StoredRanking, cut: Cut) -> dict[str, Any]:
    user = session.get(User, found.created_by) if found.created_by else None
    return {**found.rows[0], "stored": True, "published": True, "final": True, "publishable": True,
            "stored_at": found.created_at.isoformat(), "published_at": found.created_at.isoformat(),
            "published_by": user.display_name if user else "系统", "published_text": _local(found.created_at),
            "config": found.config, "key": found.preset,
            "period": cut.describe()["period"], "region": cut.describe()["region"]}


def ranking(session: Session, actor: Actor, cut: Cut, unit: str, cfg: RankingConfig) -> dict[str, Any]:
    """The ranking for a cut: the published one if there is one (frozen, whatever the configuration or the
    cases say now), else computed now: a preview (预览), final once the period has ended and it is published."""
    require(actor, Action.ANALYTICS_VIEW, cut.region)
    ended = cut.period.end < clock.today()
    if publishable(cut):
        found = _published(session, cut, unit, cfg.name)
        if found is not None:
            return _published_view(session, found, cut)
    table = compute(session, cut, unit, cfg)
    return {**table, "stored": False, "published": False, "final": ended, "publishable": ended and publishable(cut),
            "key": cfg.name, "period": cut.describe()["period"], "region": cut.describe()["region"]}


def publish(session: Session, actor: Actor, cut: Cut, unit: str, cfg: RankingConfig) -> dict[str, Any]:
    """发布排名: freeze the ranking of an ended period with the configuration used, who and when (audited).
    Publishing the same ranking (unit, scope, period, configuration) twice is a conflict."""
    require(actor, Action.ANALYTICS_VIEW, cut.region)
    require(actor, Action.RANKING_PUBLISH, cut.region)
    if not publishable(cut):
        raise BadInput("ranking_not_publishable", "只能发布不带部门、分类、来源、紧急程度筛选的排名",
                       "Only a ranking without department, category, source or urgency filters can be published")
    if not cut.period.end < clock.today():
        raise BadInput("period_not_over", f"{cut.period.label}尚未结束,不能发布排名(可先查看预览)",
                       f"{cut.period.value} has not ended; a ranking can be published only after its period",
                       extra={"field": "period"})
    found = _published(session, cut, unit, cfg.name)
    if found is None:
        table = compute(session, cut, unit, cfg)
        try:
            with session.begin_nested():
                found = StoredRanking(unit=unit, scope_region_id=cut.region.id, period_start=cut.period.start,
                                      period_end=cut.period.end, preset=cfg.name, config=cfg.to_dict(),
                                      rows=[table], created_by=actor.user_id or None)
                session.add(found)
        except IntegrityError:  # published meanwhile by another request
            found = _published(session, cut, unit, cfg.name)
        else:
            audit(session, actor, "ranking.publish", "ranking", found.id,
                  {"unit": unit, "region": cut.region.code, "period": cut.period.value,
                   "period_start": cut.period.start.isoformat(), "period_end": cut.period.end.isoformat(),
                   "config": cfg.name, "label": cfg.label,
                   "ranked": [[e["name"], e["rank"], e["score"]] for e in table["ranked"]]})
            return _published_view(session, found, cut)
    view = _published_view(session, found, cut)
    raise Conflict("ranking_already_published",
                   f"{cut.period.label}{cut.region.name}{UNITS[unit]}排名({view['config']['label']})已由"
                   f"{view['published_by']}于 {view['published_text']} 发布,不能重复发布",
                   f"This ranking was already published by {view['published_by']} at {found.created_at.isoformat()}",
                   extra={"published_at": view["published_at"], "published_by": view["published_by"]})


def status_text(r: dict[str, Any]) -> str:
    """One sentence on whether a ranking is published (for bulletins)."""
    if r.get("published"):
        return f"本排名已于 {r['published_text']} 由{r['published_by']}发布,按发布时的口径和数据保存。"
    return "本排名尚未发布,为生成时的预览结果,数字仍会随案件办理变化。"


def _local(at: datetime) -> str:
    return clock.aware(at).astimezone(clock.CHINA_TZ).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------------------------------
# stored (custom) configurations, edited on /assess/configs by city staff


def list_configs(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """The presets (read-only, shipped in code) and the stored configurations, for the configuration page."""
    require(actor, Action.ANALYTICS_VIEW)
    users = {}
    out = [{**p.to_dict(), "key": p.name, "preset": True, "id": None, "revision": None, "updated_at": None,
            "updated_by": None} for p in PRESETS.values()]
    for r in session.scalars(select(RankingConfigRecord).order_by(RankingConfigRecord.label)):
        if r.updated_by and r.updated_by not in users:
            u = session.get(User, r.updated_by)
            users[r.updated_by] = u.display_name if u else ""
        out.append({**_from_record(r).to_dict(), "key": f"{CUSTOM}{r.id}", "preset": False, "id": r.id,
                    "revision": r.revision, "updated_at": r.updated_at, "updated_by": users.get(r.updated_by, "")})
    defs = kpis.definitions()
    for c in out:
        for t in c["terms"]:
            t["label"] = defs[t["kpi"]].label if t["kpi"] in defs else t["kpi"]
        c["volume_label"] = kpis.COUNTS.get(c["volume_measure"], c["volume_measure"])
    return out


def get_config(session: Session, actor: Actor, config_id: int) -> RankingConfigRecord:
    require(actor, Action.ANALYTICS_VIEW)
    rec = session.get(RankingConfigRecord, config_id)
    if rec is None:
        raise NotFound("ranking_config", "排名方案不存在")
    return rec


def save_config(session: Session, actor: Actor, data: dict[str, Any], config_id: int | None = None
                ) -> RankingConfigRecord:
    """Create (config_id None) or edit a stored configuration: checked by validate(), audited. Published
    rankings keep the copy they were published with."""
    require_city_level(actor, Action.RANKING_CONFIG_MANAGE, service.city(session))
    label = str(data.get("label") or "").strip()
    if not label or len(label) > 60:
        raise BadInput("invalid_label", "方案名称不能为空,最多 60 个字", "label must be 1-60 characters",
                       extra={"field": "label"})
    cfg = config_from_dict({**data, "name": "custom", "label": label})
    clash = session.scalars(select(RankingConfigRecord).where(RankingConfigRecord.label == label,
                                                              RankingConfigRecord.id != (config_id or 0))).first()
    if clash is not None or label in {p.label for p in PRESETS.values()}:
        raise Conflict("duplicate_label", f"已有名为“{label}”的排名方案", f"A configuration named {label!r} exists",
                       extra={"field": "label"})
    body = {k: v for k, v in cfg.to_dict().items() if k not in ("name", "label")}
    if config_id is None:
        rec = RankingConfigRecord(label=label, config=body, revision=1, created_by=actor.user_id or None,
                                  updated_by=actor.user_id or None)
        session.add(rec)
        session.flush()
        audit(session, actor, "ranking_config.create", "ranking_config", rec.id, {"label": label, **body})
        return rec
    rec = get_config(session, actor, config_id)
    if not data.get("kpi") and rec.config.get("kpi"):  # the form does not edit the formula options: keep them
        body["kpi"] = rec.config["kpi"]
    before = {"label": rec.label, **rec.config}
    rec.label, rec.config, rec.revision = label, body, rec.revision + 1
    rec.updated_at, rec.updated_by = clock.now(), actor.user_id or None
    session.flush()
    audit(session, actor, "ranking_config.update", "ranking_config", rec.id,
          {"before": before, "after": {"label": label, **body}, "revision": rec.revision})
    return rec


def may_manage_configs(session: Session, actor: Actor) -> bool:
    """Whether the configuration page offers editing (the same rule save_config enforces)."""
    return may(actor, Action.RANKING_CONFIG_MANAGE, service.city(session))


def form_values(rec: RankingConfigRecord | None) -> dict[str, Any]:
    """What the configuration form shows: a stored configuration, or the defaults of a new one."""
    c = rec.config if rec is not None else {"terms": [], "volume_measure": "accepted", "min_volume": 10, "bottom_n": 3}
    return {"label": rec.label if rec is not None else "", "kpi": [t["kpi"] for t in c["terms"]],
            "weight": [f"{t['weight']:g}" for t in c["terms"]], "invert": ["1" if t["invert"] else "" for t in c["terms"]],
            "volume_measure": c["volume_measure"], "min_volume": str(c["min_volume"]), "bottom_n": str(c["bottom_n"])}


def config_out(rec: RankingConfigRecord) -> dict[str, Any]:
    return {**_from_record(rec).to_dict(), "key": f"{CUSTOM}{rec.id}", "id": rec.id, "revision": rec.revision}


def form_data(label: str, kpi: list[str], weight: list[str], invert: list[str], volume_measure: str,
              min_volume: str, bottom_n: str) -> dict[str, Any]:
    """A configuration from the page's form (rows of KPI, weight and direction; empty rows skipped)."""
    terms = []
    for i, key in enumerate(kpi):
        w = (weight[i] if i < len(weight) else "").strip()
        if not key.strip() and not w:
            continue
        if not key.strip():
            raise BadInput("invalid_ranking_config", f"第 {i + 1} 行没有选择指标", f"row {i + 1}: no KPI",
                           extra={"field": "terms"})
        try:
            wv = float(w)
        except ValueError:
            raise BadInput("invalid_weight", f"第 {i + 1} 行的权重应为数字", f"row {i + 1}: weight is not a number",
                           extra={"field": "terms"}) from None
        terms.append({"kpi": key.strip(), "weight": wv, "invert": (invert[i] if i < len(invert) else "") == "1"})
    out: dict[str, Any] = {"label": label, "terms": terms, "volume_measure": volume_measure or "accepted"}
    for name, text, zh in (("min_volume", min_volume, "最低案件量"), ("bottom_n", bottom_n, "末位数")):
        try:
            out[name] = int(text.strip())
        except ValueError:
            raise BadInput("invalid_ranking_config", f"{zh}应为整数", f"{name} must be an integer",
                           extra={"field": name}) from None
    return out
