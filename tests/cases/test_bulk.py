"""Bulk dispatch and supervision from a queue: each case on its own, refusals reported per case."""

from __future__ import annotations

import pytest

from civicgrid.cases import service
from civicgrid.errors import BadInput
from tests.cases.test_engine_loop import actor, do, report

URBAN = "441900003-urban_management"


def _at_town(db, n):
    out = []
    for _ in range(n):
        c = report(db)
        do(db, "village.operator", c, "accept")
        do(db, "village.operator", c, "escalate", note="需镇街派遣")
        out.append(c)
    return out


def test_bulk_dispatch_applies_each_case_and_reports_the_ones_it_could_not(db):
    a, b = _at_town(db, 2)
    still_at_village = report(db)
    stale = _at_town(db, 1)[0]
    seen = stale.version
    do(db, "town.dispatcher", stale, "comment", note="先看看")  # changed after the dispatcher's list was drawn
    town = actor(db, "town.dispatcher")
    results = service.bulk_act(db, town, [(a.number, a.version), (b.number, None),
                                          (still_at_village.number, None), (stale.number, seen)],
                               "dispatch", {"department": URBAN})
    by = {r["number"]: r for r in results}
    assert by[a.number]["ok"] and by[b.number]["ok"]
    assert a.state == b.state == "dispatched"
    assert not by[still_at_village.number]["ok"] and still_at_village.state == "reported"
    assert by[stale.number]["code"] == "stale_version" and stale.state == "accepted"
    assert all(r["message"] for r in results if not r["ok"])  # a reason in Chinese for each refusal


def test_bulk_supervise_needs_a_note_and_only_supervisors_may(db):
    cases = _at_town(db, 2)
    for c in cases:
        do(db, "town.dispatcher", c, "dispatch", department=URBAN)
    town = actor(db, "town.dispatcher")
    results = service.bulk_act(db, town, [(c.number, None) for c in cases], "supervise", {"grade": "yellow"})
    assert {r["code"] for r in results} == {"note_required"}
    results = service.bulk_act(db, town, [(c.number, None) for c in cases], "supervise",
                               {"grade": "yellow", "note": "请加快处置"})
    assert all(r["ok"] for r in results) and {c.supervision for c in cases} == {"yellow"}
    results = service.bulk_act(db, actor(db, "dept.handler"), [(cases[0].number, None)], "supervise",
                               {"grade": "red", "note": "x"})
    assert not results[0]["ok"] and cases[0].supervision == "yellow"


@pytest.mark.parametrize("action, items, code", [("close", [("1", None)], "bulk_not_allowed"),
                                                 ("dispatch", [], "nothing_selected"),
                                                 ("dispatch", [("1", None)] * 101, "too_many")])
def test_bulk_refuses_what_it_cannot_do(db, action, items, code):
    with pytest.raises(BadInput) as e:
        service.bulk_act(db, actor(db, "town.dispatcher"), items, action, {})
    assert e.value.code == code


def test_similar_cases_are_the_ones_the_engine_would_merge(db):
    first = report(db)
    dup = report(db)
    other_kind = report(db, category="E0101")
    sims = service.similar_cases(db, actor(db, "village.operator"), dup)
    numbers = [s["number"] for s in sims]
    assert first.number in numbers and other_kind.number not in numbers and dup.number not in numbers
    do(db, "village.operator", dup, "merge", master=first.number)
    assert dup.state == "merged"
