"""KPI formulas on hand-computed fixtures (reference.md §5)."""

import pytest

from civicgrid.analytics import kpis
from civicgrid.analytics.kpis import KpiConfig, compute, fmt
from civicgrid.errors import BadInput


def test_reference_check_996_972_911_737():
    # 立案 996, 应结案 972 (24 still inside their limits), 结案 911, 按期 737
    v = compute({"accepted": 996, "due": 972, "closed": 911, "closed_on_time": 737, "closed_late": 174})
    assert fmt(v["closure_rate"], "rate") == "93.72%"
    assert fmt(v["on_time_closure_rate"], "rate") == "75.82%"
    assert round(v["late_closure_rate"], 4) == round(174 / 972, 4)


def test_rework_denominator_is_city_configuration():
    m = {"accepted": 200, "due": 160, "reworked": 8}
    assert compute(m)["rework_rate"] == pytest.approx(0.04)                      # / 立案数
    assert compute(m, cfg=KpiConfig(rework_denominator="due"))["rework_rate"] == pytest.approx(0.05)  # / 应结案数
    with pytest.raises(BadInput):
        KpiConfig(rework_denominator="reported")


def test_12345_three_rates_weight_basically_satisfied():
    m = {"followed": 50, "responded": 48, "solved": 40, "satisfied": 30, "basically_satisfied": 10,
         "dissatisfied": 10}
    v = compute(m)
    assert v["response_rate"] == pytest.approx(0.96)
    assert v["resolution_rate"] == pytest.approx(0.80)
    assert v["satisfaction_rate"] == pytest.approx((30 + 0.9 * 10) / 50)  # 0.78
    assert compute(m, cfg=KpiConfig(basically_satisfied_weight=0.8))["satisfaction_rate"] == pytest.approx(0.76)


def test_grid_worker_indicators_and_separation():
    v = compute({"gw_reports": 120, "gw_valid": 108, "accepted": 150, "public_accepted": 15, "verified": 40,
                 "verified_on_time": 36, "separation_checked": 100, "separation_ok": 100})
    assert v["gw_valid_rate"] == pytest.approx(0.9)
    assert v["missed_report_rate"] == pytest.approx(0.1)
    assert v["verification_on_time_rate"] == pytest.approx(0.9)
    assert v["separation_compliance"] == 1.0


def test_empty_denominator_is_no_data_not_zero():
    v = compute({"reported": 3})
    assert v["closure_rate"] is None and fmt(v["closure_rate"], "rate") == "无数据"
    assert v["reported"] == 3 and v["closed"] == 0
    assert v["p90_hours_handle"] is None


def test_average_and_percentile_of_step_times():
    v = compute({"handle_n": 4, "handle_hours": 10.0}, hists={"handle": {kpis.bucket_of(h): 1 for h in ()}})
    assert v["avg_hours_handle"] == 2.5
    hist: dict[int, int] = {}
    for h in [1.0] * 9 + [100.0]:
        hist[kpis.bucket_of(h)] = hist.get(kpis.bucket_of(h), 0) + 1
    p90 = kpis.percentile(hist, 0.9)
    lo, hi = kpis.bucket_bounds(kpis.bucket_of(1.0))
    assert lo <= p90 <= hi  # 90% of the cases took about an hour
    assert kpis.percentile(hist, 0.95) > 70  # the slow one shows in the tail


def test_change_month_over_month():
    assert kpis.change(0.80, 0.75, "rate") == pytest.approx(0.05)  # percentage points
    assert kpis.change(120, 100, "count") == pytest.approx(0.2)
    assert kpis.change(None, 100, "count") is None and kpis.change(5, 0, "count") is None
    assert kpis.change(0, 0, "count") == 0


def test_every_kpi_has_a_label_and_formula():
    for k in kpis.definitions().values():
        assert k.label and k.formula and k.unit in ("count", "rate", "hours")
