"""Aggregates kept incrementally with every case change equal a from-scratch rebuild."""

import pytest

from civicgrid.access.service import SYSTEM
from civicgrid.analytics import aggregates
from civicgrid.demo_history import build_history, create_demo_staff


def _assert_equal(db):
    facts, daily, hist = aggregates.compute_all(db)
    for level, (table, _, cols) in aggregates.LEVELS.items():
        want_daily, want_hist = aggregates.project(daily, hist, cols, table in aggregates.MONTHLY)
        s_daily, s_hist = aggregates.stored(db, level)
        assert set(s_daily) == set(want_daily), level
        for k, v in want_daily.items():
            for m, x in v.items():
                assert s_daily[k][m] == pytest.approx(x, abs=1e-6), (level, k, m)
        assert s_hist == want_hist, level
    return facts, daily


def test_incremental_equals_rebuild_over_simulated_history(db):
    create_demo_staff(db, SYSTEM)
    build_history(db, 300, seed=7, days=90)
    facts, daily = _assert_equal(db)
    assert len(facts) >= 300
    totals = {m: sum(v[m] for v in daily.values()) for m in ("reported", "accepted", "closed", "due", "reworked",
                                                            "overdue_ever", "followed", "voided")}
    assert totals["reported"] == len(facts)
    assert 0 < totals["closed"] <= totals["due"] <= totals["accepted"] < totals["reported"]
    assert totals["reworked"] > 0 and totals["overdue_ever"] > 0 and totals["followed"] > 0
    # a rebuild writes exactly the same rows
    aggregates.rebuild(db)
    _assert_equal(db)


def _reported(db):
    daily, _ = aggregates.stored(db, "summary")
    return sum(v["reported"] for v in daily.values())


def test_aggregates_commit_and_roll_back_with_the_case(db):
    from tests.cases.test_engine_loop import do, report

    before = _reported(db)
    case = report(db)
    db.commit()
    assert _reported(db) == before + 1
    do(db, "village.operator", case, "accept")
    db.commit()
    facts, _, _ = aggregates.compute_all(db)
    assert facts[case.id][1]["accepted"] == 1
    _assert_equal(db)
    report(db, title="又一处垃圾")
    db.rollback()  # the report never happened: neither did its counts
    assert _reported(db) == before + 1
