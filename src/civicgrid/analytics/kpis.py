"""Every KPI of assessment in one place: the raw counts kept, and each KPI's formula over them.

Raw counts ("measures") are what the aggregates store (see aggregates.py); KPIs are computed from summed
measures at query time, so a city can change a formula (a denominator, the weight of "basically
satisfied") without recomputing anything. The formulas are documented in docs/kpis.md; the city-dependent
variants are a `KpiConfig`.

Cohort rule: a case counts in the period (and the region, category, department...) it was *reported* in;
its status (closed, closed on time, overdue...) is its status now. 应结案 (due for closing) = accepted cases
that are closed or have run past a time limit (the sweep marks them); those still inside their time limits
are not yet due — exactly reference.md §5.
"""

from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any

from civicgrid.errors import BadInput

STEPS: dict[str, str] = {"accept": "受理", "dispatch": "派遣", "handle": "处置", "verify": "核查"}

# raw counts kept per case and summed in the aggregates: name -> Chinese label
COUNTS: dict[str, str] = {
    "reported": "上报数",
    "accepted": "立案数",
    "voided": "作废数",
    "dispatched": "派遣数",
    "dispatched_ok": "准确派遣数",
    "handled": "处置数",
    "handled_on_time": "按期处置数",
    "due": "应结案数",
    "closed": "结案数",
    "closed_on_time": "按期结案数",
    "closed_late": "超期结案数",
    "overdue_open": "超期未结数",
    "overdue_ever": "超期数",
    "reworked": "返工数",
    "extended": "延期数",
    "supervised": "督办数",
    "returned": "退回数",
    "followed": "有效回访数",
    "responded": "已响应数",
    "solved": "已解决数",
    "satisfied": "满意数",
    "basically_satisfied": "基本满意数",
    "dissatisfied": "不满意数",
    "gw_reports": "网格员上报数",
    "gw_valid": "网格员有效上报数",
    "public_accepted": "群众/热线上报立案数",
    "verified": "核查次数",
    "verified_on_time": "按时核查次数",
    "separation_checked": "结案核验数",
    "separation_ok": "采办分离合规数",
}
# per step: number of cases that went through it and the total hours it took
DURATIONS: list[str] = [f"{s}_{m}" for s in STEPS for m in ("n", "hours")]
MEASURES: list[str] = list(COUNTS) + DURATIONS


@dataclass(frozen=True)
class KpiConfig:
    """The city-dependent choices in the formulas (reference.md §5)."""

    rework_denominator: str = "accepted"         # "accepted" (立案数) or "due" (应结案数)
    basically_satisfied_weight: float = 0.9      # 12345: (满意 + 0.9 × 基本满意) / 有效回访
    extension_denominator: str = "accepted"

    def __post_init__(self) -> None:
        for name in ("rework_denominator", "extension_denominator"):
            if getattr(self, name) not in ("accepted", "due"):
                raise BadInput("invalid_kpi_config", f"{name} 只能是 accepted 或 due",
                               f"{name} must be 'accepted' or 'due'")
        if not 0 <= self.basically_satisfied_weight <= 1:
            raise BadInput("invalid_kpi_config", "基本满意权重应在 0–1 之间",
                           "basically_satisfied_weight must be within [0, 1]")


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    unit: str                       # count | rate | hours
    numerator: dict[str, float] = field(default_factory=dict)  # weighted sum of measures
    denominator: str | None = None  # a measure (None for counts and hours)
    higher_is_better: bool = True
    formula: str = ""


def _count(key: str, better: bool = True) -> Kpi:
    return Kpi(key, COUNTS[key], "count", {key: 1.0}, None, better, COUNTS[key])


def definitions(cfg: KpiConfig | None = None) -> dict[str, Kpi]:
    """Every KPI under a configuration, keyed by its stable name (built once per configuration)."""
    return dict(_definitions(cfg or KpiConfig()))


@lru_cache(maxsize=64)
def _definitions(cfg: KpiConfig) -> dict[str, Kpi]:
    w = cfg.basically_satisfied_weight
    rework_den, ext_den = cfg.rework_denominator, cfg.extension_denominator
    out: list[Kpi] = [_count(k, k not in ("voided", "overdue_open", "overdue_ever", "reworked", "extended",
                                          "supervised", "returned", "closed_late", "dissatisfied"))
                      for k in COUNTS]
    out += [
        Kpi("closure_rate", "结案率", "rate", {"closed": 1}, "due", True, "结案数 / 应结案数"),
        Kpi("on_time_closure_rate", "按期结案率", "rate", {"closed_on_time": 1}, "due", True, "按期结案数 / 应结案数"),
        Kpi("late_closure_rate", "超期结案率", "rate", {"closed_late": 1}, "due", False, "超期结案数 / 应结案数"),
        Kpi("dispatch_accuracy", "派遣准确率", "rate", {"dispatched_ok": 1}, "dispatched", True,
            "准确派遣数(未被退回)/ 派遣数"),
        Kpi("on_time_handling_rate", "按期处置率", "rate", {"handled_on_time": 1}, "handled", True,
            "按期处置数 / 处置数"),
        Kpi("rework_rate", "返工率", "rate", {"reworked": 1}, rework_den, False,
            f"返工数 / {COUNTS[rework_den]}"),
        Kpi("extension_rate", "延期率", "rate", {"extended": 1}, ext_den, False, f"延期数 / {COUNTS[ext_den]}"),
        Kpi("supervision_rate", "督办率", "rate", {"supervised": 1}, "accepted", False, "督办数 / 立案数"),
        Kpi("overdue_open_rate", "超期未结率", "rate", {"overdue_open": 1}, "accepted", False, "超期未结数 / 立案数"),
        Kpi("response_rate", "响应率", "rate", {"responded": 1}, "followed", True, "已响应数 / 有效回访数"),
        Kpi("resolution_rate", "解决率", "rate", {"solved": 1}, "followed", True, "已解决数 / 有效回访数"),
        Kpi("satisfaction_rate", "满意率", "rate", {"satisfied": 1, "basically_satisfied": w}, "followed", True,
            f"(满意数 + {w:g} × 基本满意数) / 有效回访数"),
        Kpi("gw_valid_rate", "网格员有效上报率", "rate", {"gw_valid": 1}, "gw_reports", True,
            "网格员有效上报数 / 网格员上报数"),
        Kpi("verification_on_time_rate", "按时核查率", "rate", {"verified_on_time": 1}, "verified", True,
            "按时核查次数 / 核查次数"),
        Kpi("missed_report_rate", "漏报率", "rate", {"public_accepted": 1}, "accepted", False,
            "群众/热线上报立案数 / 立案数"),
        Kpi("separation_compliance", "采办分离合规率", "rate", {"separation_ok": 1}, "separation_checked", True,
            "采办分离合规数 / 结案核验数"),
    ]
    for step, zh in STEPS.items():
        out.append(Kpi(f"avg_hours_{step}", f"{zh}平均用时", "hours", {f"{step}_hours": 1}, f"{step}_n", False,
                       f"{zh}环节总用时 / {zh}环节案件数(小时)"))
        out.append(Kpi(f"p90_hours_{step}", f"{zh}用时90分位", "hours", {}, None, False,
                       f"{zh}环节用时的第 90 百分位(小时,按分桶直方图插值)"))
    return {k.key: k for k in out}


KPI_KEYS = list(definitions())


def require_kpi(key: str, cfg: KpiConfig | None = None) -> Kpi:
    d = definitions(cfg)
    if key not in d:
        raise BadInput("unknown_kpi", f"未知指标 {key}", f"Unknown KPI {key!r}", extra={"known": list(d)})
    return d[key]


# ---------------------------------------------------------------------------------------------
# step-time histogram (for percentiles): geometric buckets, 25% wide, from 3 minutes to ~2,800 hours

HIST_BASE_H = 0.05
HIST_RATIO = 1.25
HIST_BUCKETS = 50


def bucket_of(hours: float) -> int:
    if hours < HIST_BASE_H * HIST_RATIO:
        return 0
    return min(HIST_BUCKETS - 1, int(math.log(hours / HIST_BASE_H) / math.log(HIST_RATIO)))


def bucket_bounds(b: int) -> tuple[float, float]:
    lo = 0.0 if b == 0 else HIST_BASE_H * HIST_RATIO ** b
    return lo, HIST_BASE_H * HIST_RATIO ** (b + 1)


def percentile(hist: dict[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a bucketed distribution, interpolated inside its bucket; None if empty."""
    total = sum(hist.values())
    if total <= 0:
        return None
    target = q * total
    seen = 0
    for b in sorted(hist):
        n = hist[b]
        if n <= 0:
            continue
        if seen + n >= target:
            lo, hi = bucket_bounds(b)
            return lo + (hi - lo) * max(0.0, min(1.0, (target - seen) / n))
        seen += n
    return bucket_bounds(max(hist))[1]


# ---------------------------------------------------------------------------------------------
# computing KPIs from summed measures


def compute(measures: dict[str, float], hists: dict[str, dict[int, int]] | None = None,
            cfg: KpiConfig | None = None, keys: list[str] | None = None) -> dict[str, float | None]:
    """KPI values from summed raw counts. A rate over an empty denominator is None (no data), never 0."""
    out: dict[str, float | None] = {}
    for key, k in definitions(cfg).items():
        if keys is not None and key not in keys:
            continue
        if key.startswith("p90_hours_"):
            out[key] = percentile((hists or {}).get(key.removeprefix("p90_hours_"), {}), 0.9)
            continue
        num = sum(w * float(measures.get(m) or 0) for m, w in k.numerator.items())
        if k.denominator is None:
            out[key] = num
        else:
            den = float(measures.get(k.denominator) or 0)
            out[key] = num / den if den > 0 else None
    return out


def measures_for(keys: list[str], cfg: KpiConfig | None = None) -> list[str]:
    """The raw counts these KPIs need (always with `reported`, which tells data from no data)."""
    d = definitions(cfg)
    out = {"reported"}
    for key in keys:
        k = d[key]
        out.update(k.numerator)
        if k.denominator:
            out.add(k.denominator)
    return [m for m in MEASURES if m in out]


def change(current: float | None, previous: float | None, unit: str) -> float | None:
    """Month-over-month / year-over-year change: rates in percentage points, counts and hours relative."""
    if current is None or previous is None:
        return None
    if unit == "rate":
        return current - previous
    if previous == 0:
        return 0.0 if current == 0 else None  # from nothing: no percentage to show
    return (current - previous) / previous


def fmt(value: float | None, unit: str) -> str:
    """How a page shows a value: 93.72%, 1,234, 5.3 小时; 无数据 when there is none."""
    if value is None:
        return "无数据"
    if unit == "rate":
        return f"{value * 100:.2f}%"
    if unit == "hours":
        return f"{value:.1f} 小时"
    return f"{value:,.0f}"


def as_dict(cfg: KpiConfig) -> dict[str, Any]:
    return {"rework_denominator": cfg.rework_denominator, "extension_denominator": cfg.extension_denominator,
            "basically_satisfied_weight": cfg.basically_satisfied_weight}
