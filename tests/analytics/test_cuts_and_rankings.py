"""Cuts, period comparisons, bad input and rankings on hand-computed aggregate rows."""

from datetime import date

import pytest
from sqlalchemy import select

from civicgrid import clock
from civicgrid.access.models import User
from civicgrid.access.service import load_actor
from civicgrid.analytics import periods, rankings, service
from civicgrid.errors import BadInput, Forbidden, NotFound
from civicgrid.geo.models import Region

from .helpers import first_village, grid_of, put, town_figures

DONGCHENG, NANCHENG = "441900003", "441900004"
OCT = periods.month(2026, 10)


def actor(db, username):
    return load_actor(db, db.scalars(select(User).where(User.username == username)).one())


class P:  # CutParams without FastAPI
    def __init__(self, period="month", value="2026-10", date_from=None, date_to=None, **filters):
        self.period, self.value, self.date_from, self.date_to = period, value, date_from, date_to
        self._f = {"region": None, "department": None, "category": None, "source": None, "urgency": None, **filters}

    def filters(self):
        return self._f


@pytest.fixture()
def figures(db):
    # 东城 in October: 立案 996, 应结案 972, 结案 911, 按期 737 (the reference check), split over two days
    town_figures(db, date(2026, 10, 3), DONGCHENG, reported=600, accepted=596, due=580, closed=540,
                 closed_on_time=437, reworked=10, supervised=4, followed=50, responded=48, solved=45, satisfied=40,
                 basically_satisfied=5)
    town_figures(db, date(2026, 10, 20), DONGCHENG, reported=420, accepted=400, due=392, closed=371,
                 closed_on_time=300, reworked=10, supervised=6)
    # 南城: October and September (for month over month) and October last year (year over year)
    town_figures(db, date(2026, 10, 5), NANCHENG, reported=105, accepted=100, due=100, closed=90,
                 closed_on_time=80, reworked=5, supervised=0)
    town_figures(db, date(2026, 9, 5), NANCHENG, reported=90, accepted=80, due=80, closed=60, closed_on_time=60)
    town_figures(db, date(2025, 10, 5), NANCHENG, reported=50, accepted=50, due=50, closed=25, closed_on_time=20)


def _kpi(table, key):
    return next(k for k in table["kpis"] if k["key"] == key)


def test_town_kpis_match_the_reference_figures(db, figures):
    t = service.kpis_for(db, actor(db, "leader"), P(region=DONGCHENG))
    assert _kpi(t, "accepted")["value"] == 996 and _kpi(t, "due")["value"] == 972
    assert _kpi(t, "closure_rate")["text"] == "93.72%"
    assert _kpi(t, "on_time_closure_rate")["text"] == "75.82%"
    assert t["cut"]["region"]["name"] == "东城街道" or "东城" in t["cut"]["region"]["name"]


def test_city_sums_its_towns_and_compares_with_last_month_and_last_year(db, figures):
    t = service.kpis_for(db, actor(db, "leader"), P(region=NANCHENG))
    closure = _kpi(t, "closure_rate")
    assert closure["value"] == pytest.approx(0.9)
    assert closure["mom"] == pytest.approx(0.9 - 0.75)        # September: 60/80
    assert closure["yoy"] == pytest.approx(0.9 - 0.5)         # October 2025: 25/50
    assert _kpi(t, "reported")["mom"] == pytest.approx(105 / 90 - 1)
    city = service.kpis_for(db, actor(db, "leader"), P())
    assert _kpi(city, "accepted")["value"] == 996 + 100


def test_village_grid_and_custom_period_cuts(db, figures):
    v = first_village(db, DONGCHENG)
    g = grid_of(db, v.code)
    leader = actor(db, "leader")
    assert _kpi(service.kpis_for(db, leader, P(region=v.code)), "accepted")["value"] == 996
    assert _kpi(service.kpis_for(db, leader, P(region=g.code)), "accepted")["value"] == 996
    t = service.kpis_for(db, leader, P(period="custom", value=None, date_from="2026-10-01", date_to="2026-10-10",
                                       region=DONGCHENG))
    assert _kpi(t, "accepted")["value"] == 596
    # a grid with no cases: empty, not zeros that look like data
    other = db.scalars(select(Region).where(Region.level == "grid", Region.id != g.id,
                                            Region.path.startswith(v.path))).first()
    e = service.kpis_for(db, leader, P(region=other.code))
    assert e["empty"] and _kpi(e, "closure_rate")["value"] is None and _kpi(e, "reported")["value"] is None
    assert _kpi(e, "closure_rate")["text"] == "无数据"


def test_breakdown_by_town_names_them(db, figures):
    b = service.breakdown_for(db, actor(db, "leader"), P(), "town", ["closure_rate", "accepted"])
    names = {r["name"]: r["values"] for r in b["rows"]}
    assert len(names) == 2 and all(v["accepted"] > 0 for v in names.values())
    with pytest.raises(BadInput):
        service.breakdown_for(db, actor(db, "leader"), P(region=g_code(db)), "town", [])


def g_code(db):
    return grid_of(db, first_village(db, DONGCHENG).code).code


@pytest.mark.parametrize("params,code", [
    (dict(category="Z9999"), "unknown_category"),
    (dict(source="fax"), "unknown_source"),
    (dict(period="custom", value=None, date_from="2026-10-10", date_to="2026-10-01"), "invalid_date_range"),
    (dict(period="custom", value=None, date_from="2026-10-10"), "empty_period"),
    (dict(value="2026-13"), "invalid_period"),
    (dict(period="fortnight"), "invalid_period_kind"),
    (dict(value="2019-01"), "before_any_data"),
    (dict(period="year", value="2099"), "future_period"),
])
def test_bad_input_is_a_clear_error(db, figures, params, code):
    with pytest.raises(BadInput) as e:
        service.kpis_for(db, actor(db, "leader"), P(**params))
    assert e.value.code == code and e.value.message_zh


def test_unknown_region_or_department_and_scope(db, figures):
    leader = actor(db, "leader")
    with pytest.raises(NotFound):
        service.kpis_for(db, leader, P(region="441900999"))
    with pytest.raises(NotFound):
        service.kpis_for(db, leader, P(department="no-such-dept"))
    town = actor(db, "town.dispatcher")  # 东城's dispatcher
    assert service.kpis_for(db, town, P())["cut"]["region"]["code"] == DONGCHENG  # defaults to its own town
    with pytest.raises(NotFound):
        service.kpis_for(db, town, P(region=NANCHENG))
    with pytest.raises(NotFound):
        service.kpis_for(db, town, P(region="441900"))
    with pytest.raises(Forbidden):
        service.kpis_for(db, actor(db, "grid.worker"), P())


def test_ranking_scores_min_volume_bottom_and_stored_config(db, figures, monkeypatch):
    leader = actor(db, "leader")
    cut = service.cut_from(db, leader, P())
    cfg = rankings.preset("digital_urban")
    r = rankings.ranking(db, leader, cut, "town", cfg)
    assert not r["published"] and r["final"] and r["publishable"]  # October has ended: a preview until published
    by = {e["name"]: e for e in r["ranked"]}
    dc = next(e for n, e in by.items() if "东城" in n)
    # 737/972×50 + 911/972×30 + (1 − 20/996)×10 + (1 − 10/996)×10
    assert dc["score"] == pytest.approx(737 / 972 * 50 + 911 / 972 * 30 + (1 - 20 / 996) * 10 + (1 - 10 / 996) * 10,
                                        abs=1e-3)
    nc = next(e for n, e in by.items() if "南城" in n)
    assert nc["score"] == pytest.approx(80 / 100 * 50 + 90 / 100 * 30 + 0.95 * 10 + 10, abs=1e-3)
    assert [e["rank"] for e in r["ranked"]] == [1, 2]
    # published, then the preset changes: the published October ranking does not
    rankings.publish(db, actor(db, "city.dispatcher"), cut, "town", cfg)
    changed = rankings.RankingConfig("digital_urban", "改过的", (rankings.Term("closure_rate", 100),), "accepted", 1, 1)
    again = rankings.ranking(db, leader, cut, "town", changed)
    assert again["stored"] and again["ranked"] == r["ranked"] and again["config"]["label"] == "数字城管综合评价"
    # a village ranking: villages under the minimum volume shown apart, not ranked
    v = rankings.compute(db, service.cut_from(db, leader, P(region=DONGCHENG)), "village", cfg)
    assert len(v["ranked"]) == 1 and len(v["apart"]) >= 1 and all(e["rank"] is None for e in v["apart"])
    assert v["apart"][0]["reason"] == "无案件"


def test_bottom_of_the_table_is_flagged(db):
    leader = actor(db, "leader")
    for i, code in enumerate([DONGCHENG, NANCHENG]):
        town_figures(db, date(2026, 10, 3), code, reported=30, accepted=30, due=30, closed=30 - i * 10,
                     closed_on_time=30 - i * 10)
    cfg = rankings.RankingConfig("t", "t", (rankings.Term("closure_rate", 100),), "accepted", 20, 1)
    r = rankings.compute(db, service.cut_from(db, leader, P()), "town", cfg)
    assert [e["bottom"] for e in r["ranked"]] == [False, True]
    assert "南城" in r["ranked"][-1]["name"]


@pytest.mark.parametrize("config,code", [
    ({"terms": [{"kpi": "closure_rate", "weight": 60}, {"kpi": "rework_rate", "weight": 30}]}, "weights_do_not_add_up"),
    ({"terms": [{"kpi": "happiness_rate", "weight": 100}]}, "unknown_kpi"),
    ({"terms": [{"kpi": "accepted", "weight": 100}]}, "kpi_not_a_rate"),
    ({"terms": []}, "invalid_ranking_config"),
    ({"terms": [{"kpi": "closure_rate", "weight": 100}], "kpi": {"rework_denominator": "x"}}, "invalid_kpi_config"),
])
def test_bad_weight_configurations(config, code):
    with pytest.raises(BadInput) as e:
        rankings.config_from_dict(config)
    assert e.value.code == code


def test_periods():
    assert periods.parse("quarter", "2026-Q1").previous() == periods.quarter(2025, 4)
    assert periods.parse("week", "2026-W40").start == date(2026, 9, 28)
    assert periods.parse("month", "2026-03").year_before() == periods.month(2025, 3)
    assert periods.parse("day", "2026-03-01").previous().start == date(2026, 2, 28)
    assert clock.today()  # the clock is the one source of "today"


def test_trend_has_every_month_and_empty_months_are_empty(db, figures):
    leader = actor(db, "leader")
    cut = service.cut_from(db, leader, P(region=NANCHENG, period="custom", value=None, date_from="2026-06-01",
                                         date_to="2026-10-31"))
    t = service.trend(db, cut, ["reported", "closure_rate"])  # longer than a quarter: by month
    assert [r["key"] for r in t] == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    assert t[2]["values"]["reported"] is None  # August: no cases, not zero
    assert t[3]["values"]["reported"] == 90 and t[4]["values"]["closure_rate"] == pytest.approx(0.9)
    days = service.trend(db, service.cut_from(db, leader, P(region=NANCHENG)), ["reported"])
    assert len(days) == 31 and days[4]["key"] == "2026-10-05" and days[4]["values"]["reported"] == 105
