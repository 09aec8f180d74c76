"""Rankings of towns, villages and departments by a weighted score whose formula is configuration.

score = Σ weightᵢ × termᵢ, where a term is a rate KPI (or 1 − the rate, for the ones where lower is better)
and the weights add up to 100. Units below a minimum volume are shown apart, not ranked (one case fixed
fast must not top the table); the bottom of the table is flagged. A ranking for a period that has ended
is stored with the configuration used the first time it is asked for, and read back from then on:
changing a preset later never changes a published ranking.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.models import Department
from civicgrid.access.policy import Action, Actor, require
from civicgrid.analytics import kpis, service
from civicgrid.analytics.models import StoredRanking
from civicgrid.analytics.service import Cut
from civicgrid.errors import BadInput
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
        raise BadInput("invalid_ranking_config", "排名配置至少需要一个指标", "A ranking needs at least one term")
    try:
        defs = kpis.definitions(cfg.kpi_config())
    except TypeError:
        raise BadInput("invalid_ranking_config", "指标口径配置有未知项", f"Unknown KPI options {cfg.kpi}") from None
    for t in cfg.terms:
        if t.kpi not in defs:
            raise BadInput("unknown_kpi", f"排名配置中的指标 {t.kpi} 不存在", f"Unknown KPI {t.kpi!r} in the ranking",
                           extra={"known": [k for k, v in defs.items() if v.unit == "rate"]})
        if defs[t.kpi].unit != "rate":
            raise BadInput("kpi_not_a_rate", f"{defs[t.kpi].label}不是比率,不能加权排名",
                           f"{t.kpi} is not a rate and cannot be weighted")
        if t.weight < 0:
            raise BadInput("negative_weight", "权重不能为负数", f"Negative weight for {t.kpi}")
    total = sum(t.weight for t in cfg.terms)
    if abs(total - 100) > 1e-6:
        raise BadInput("weights_do_not_add_up", f"权重合计应为 100,当前为 {total:g}",
                       f"Weights must add up to 100, they add up to {total:g}", extra={"total": total})
    if cfg.volume_measure not in kpis.COUNTS:
        raise BadInput("unknown_volume_measure", f"最低量指标 {cfg.volume_measure} 不存在",
                       f"Unknown volume measure {cfg.volume_measure!r}")
    if cfg.min_volume < 0 or cfg.bottom_n < 0:
        raise BadInput("invalid_ranking_config", "最低案件量和末位数不能为负数", "min_volume and bottom_n must be >= 0")


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


def preset(name: str) -> RankingConfig:
    if name not in PRESETS:
        raise BadInput("unknown_preset", f"排名方案应为:{'/'.join(p.label for p in PRESETS.values())}",
                       f"Unknown preset {name!r}", extra={"presets": list(PRESETS)})
    return PRESETS[name]


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


def ranking(session: Session, actor: Actor, cut: Cut, unit: str, cfg: RankingConfig) -> dict[str, Any]:
    """The ranking for a cut: a stored one for an ended period under a preset, else computed (and stored)."""
    require(actor, Action.ANALYTICS_VIEW, cut.region)
    ended = cut.period.end < clock.today()
    storable = ended and cfg.name in PRESETS and cut.department is None and cut.category is None \
        and cut.source is None and cut.urgency is None
    if storable:
        found = session.scalars(select(StoredRanking).where(
            StoredRanking.unit == unit, StoredRanking.scope_region_id == cut.region.id,
            StoredRanking.period_start == cut.period.start, StoredRanking.period_end == cut.period.end,
            StoredRanking.preset == cfg.name)).first()
        if found is not None:
            return {**found.rows[0], "stored": True, "stored_at": found.created_at.isoformat(),
                    "config": found.config, "period": cut.describe()["period"], "region": cut.describe()["region"]}
    table = compute(session, cut, unit, cfg)
    out = {**table, "stored": False, "final": ended, "period": cut.describe()["period"],
           "region": cut.describe()["region"]}
    if storable:
        try:
            with session.begin_nested():
                session.add(StoredRanking(unit=unit, scope_region_id=cut.region.id, period_start=cut.period.start,
                                          period_end=cut.period.end, preset=cfg.name, config=cfg.to_dict(),
                                          rows=[table], created_by=actor.user_id or None))
        except IntegrityError:  # stored meanwhile by another request: read that one
            return ranking(session, actor, cut, unit, cfg)
        out["stored"] = True
    return out
