"""Publishing a ranking (发布排名) and the stored ranking configurations, as their users meet them: who may,
what freezes, the clear errors (twice, a running period, filters, weights), the audit log, and that a later
change of a configuration or of the cases never changes a published ranking."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from civicgrid import clock
from civicgrid.access.models import AuditEntry
from civicgrid.analytics import rankings, service
from civicgrid.errors import BadInput, Conflict, Forbidden, NotFound
from tests.conftest import login

from .helpers import town_figures
from .test_cuts_and_rankings import DONGCHENG, NANCHENG, P, actor

CLOSURE_ONLY = {"label": "只看结案率", "terms": [{"kpi": "closure_rate", "weight": 100}], "min_volume": 10,
                "bottom_n": 1}


@pytest.fixture()
def october(db):
    # 东城 on-time 737/972 (75.82%), closure 911/972; 南城 on-time 80/100, closure 90/100
    town_figures(db, date(2026, 10, 3), DONGCHENG, reported=1020, accepted=996, due=972, closed=911,
                 closed_on_time=737, reworked=20, supervised=10)
    town_figures(db, date(2026, 10, 5), NANCHENG, reported=105, accepted=100, due=100, closed=90, closed_on_time=80,
                 reworked=5)


def _cut(db, who="leader", **kw):
    return service.cut_from(db, actor(db, who), P(**kw))


def _names(r):
    return [e["name"][:2] for e in r["ranked"]]


def test_publish_freezes_the_ranking_with_who_and_when(db, october):
    disp = actor(db, "city.dispatcher")
    cut = _cut(db)
    cfg = rankings.preset("digital_urban")
    preview = rankings.ranking(db, disp, cut, "town", cfg)
    assert not preview["published"] and preview["publishable"] and _names(preview) == ["南城", "东城"]
    published = rankings.publish(db, disp, cut, "town", cfg)
    assert published["published"] and published["published_by"] == disp.display_name
    assert published["ranked"] == preview["ranked"] and published["config"]["label"] == "数字城管综合评价"
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "ranking.publish")).one()
    assert entry.actor_name == "city.dispatcher" and entry.detail["period"] == "2026-10"
    assert entry.detail["config"] == "digital_urban" and entry.detail["ranked"][0][1] == 1
    # the cases change afterwards (东城 closes everything on time): the published table does not move
    town_figures(db, date(2026, 10, 9), DONGCHENG, reported=5000, accepted=5000, due=5000, closed=5000,
                 closed_on_time=5000)
    later = rankings.ranking(db, actor(db, "leader"), cut, "town", cfg)
    assert later["published"] and later["ranked"] == published["ranked"] and _names(later) == ["南城", "东城"]
    assert _names(rankings.compute(db, cut, "town", cfg)) == ["东城", "南城"]  # what a new computation says


def test_publishing_twice_a_running_period_or_a_filtered_cut_is_refused(db, october):
    disp = actor(db, "city.dispatcher")
    cfg = rankings.preset("digital_urban")
    rankings.publish(db, disp, _cut(db), "town", cfg)
    with pytest.raises(Conflict) as e:
        rankings.publish(db, actor(db, "admin"), _cut(db), "town", cfg)
    assert e.value.code == "ranking_already_published" and e.value.status == 409
    assert "已由" in e.value.message_zh and "不能重复发布" in e.value.message_zh
    # the same period under the other preset is a different ranking: it may be published once
    assert rankings.publish(db, disp, _cut(db), "town", rankings.preset("hotline_12345"))["published"]
    this_month = clock.today().strftime("%Y-%m")
    with pytest.raises(BadInput) as e:
        rankings.publish(db, disp, _cut(db, value=this_month), "town", cfg)
    assert e.value.code == "period_not_over" and "尚未结束" in e.value.message_zh
    with pytest.raises(BadInput) as e:
        rankings.publish(db, disp, _cut(db, value="2026-10", source="hotline"), "town", cfg)
    assert e.value.code == "ranking_not_publishable"
    running = rankings.ranking(db, disp, _cut(db, value=this_month), "town", cfg)
    assert not running["published"] and not running["final"] and not running["publishable"]


def test_who_may_publish(db, october):
    cfg = rankings.preset("digital_urban")
    with pytest.raises(Forbidden) as e:  # the leader reads rankings but does not publish them
        rankings.publish(db, actor(db, "leader"), _cut(db), "town", cfg)
    assert "发布考核排名" in e.value.message_zh
    town = actor(db, "town.dispatcher")
    with pytest.raises(NotFound):  # the city's town ranking lies outside a town dispatcher's scope
        rankings.publish(db, town, service.cut_from(db, actor(db, "leader"), P()), "town", cfg)
    r = rankings.publish(db, town, _cut(db, "town.dispatcher"), "village", cfg)  # its own villages
    assert r["published"] and r["unit"] == "village"


def test_configurations_are_checked_and_only_city_staff_edit_them(db):
    disp = actor(db, "city.dispatcher")
    cases = [({**CLOSURE_ONLY, "terms": [{"kpi": "closure_rate", "weight": 70}]}, "weights_do_not_add_up", "100"),
             ({**CLOSURE_ONLY, "terms": [{"kpi": "happiness", "weight": 100}]}, "unknown_kpi", "不存在"),
             ({**CLOSURE_ONLY, "terms": [{"kpi": "accepted", "weight": 100}]}, "kpi_not_a_rate", "不是比率"),
             ({**CLOSURE_ONLY, "terms": [{"kpi": "closure_rate", "weight": 50}] * 2}, "duplicate_kpi", "只能出现一次"),
             ({**CLOSURE_ONLY, "label": " "}, "invalid_label", "名称"),
             ({**CLOSURE_ONLY, "label": "数字城管综合评价"}, "duplicate_label", "已有"),
             ({**CLOSURE_ONLY, "min_volume": -1}, "invalid_ranking_config", "最低案件量")]
    for data, code, words in cases:
        with pytest.raises((BadInput, Conflict)) as e:
            rankings.save_config(db, disp, data)
        assert e.value.code == code and words in e.value.message_zh, (code, e.value.message_zh)
    for who in ("leader", "town.dispatcher"):
        with pytest.raises(Forbidden):
            rankings.save_config(db, actor(db, who), CLOSURE_ONLY)
    rec = rankings.save_config(db, disp, CLOSURE_ONLY)
    assert rankings.preset(f"custom-{rec.id}", db).label == "只看结案率"
    assert (f"custom-{rec.id}", "只看结案率") in rankings.choices(db)
    with pytest.raises(Conflict):
        rankings.save_config(db, actor(db, "admin"), CLOSURE_ONLY)  # the same name twice
    with pytest.raises(BadInput) as e:
        rankings.preset("custom-999999", db)
    assert e.value.code == "unknown_preset"
    edited = rankings.save_config(db, disp, {**CLOSURE_ONLY, "bottom_n": 2}, rec.id)
    assert edited.revision == 2 and edited.config["bottom_n"] == 2
    actions = [a.action for a in db.scalars(select(AuditEntry).where(AuditEntry.object_type == "ranking_config"))]
    assert actions == ["ranking_config.create", "ranking_config.update"]


def test_editing_a_configuration_never_changes_its_published_ranking(db, october):
    disp = actor(db, "city.dispatcher")
    rec = rankings.save_config(db, disp, CLOSURE_ONLY)
    key = f"custom-{rec.id}"
    cut = _cut(db)
    published = rankings.publish(db, disp, cut, "town", rankings.preset(key, db))
    assert _names(published) == ["东城", "南城"]  # closure 911/972 = 93.72% before 90/100
    # now the configuration is edited to rank by the rework rate only (lower is better)
    rankings.save_config(db, disp, {**CLOSURE_ONLY, "label": "只看返工率",
                                    "terms": [{"kpi": "rework_rate", "weight": 100, "invert": True}]}, rec.id)
    again = rankings.ranking(db, actor(db, "leader"), cut, "town", rankings.preset(key, db))
    assert again["published"] and again["ranked"] == published["ranked"]  # rework would put 东城 first too
    assert _names(rankings.compute(db, cut, "town", rankings.preset(key, db))) == ["东城", "南城"]
    assert again["config"]["label"] == "只看结案率" and again["config"]["terms"][0]["kpi"] == "closure_rate"
    # an unpublished period follows the edited configuration
    town_figures(db, date(2026, 9, 3), DONGCHENG, reported=20, accepted=20, due=20, closed=20, reworked=4)
    town_figures(db, date(2026, 9, 5), NANCHENG, reported=20, accepted=20, due=20, closed=10, reworked=1)
    sept = rankings.ranking(db, actor(db, "leader"), _cut(db, value="2026-09"), "town", rankings.preset(key, db))
    assert not sept["published"] and sept["config"]["label"] == "只看返工率" and _names(sept) == ["南城", "东城"]


def test_configuration_api(client, db, october):
    csrf = login(client, "city.dispatcher")
    r = client.post("/api/v1/analytics/ranking-configs", json={**CLOSURE_ONLY, "terms": [
        {"kpi": "closure_rate", "weight": 60}]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400 and r.json()["code"] == "weights_do_not_add_up" and r.json()["field"] == "terms"
    r = client.post("/api/v1/analytics/ranking-configs", json=CLOSURE_ONLY, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    presets = client.get("/api/v1/analytics/presets").json()
    assert [p["preset"] for p in presets] == [True, True, False] and presets[2]["key"] == key
    ranked = client.get("/api/v1/analytics/rankings", params={"value": "2026-10", "preset": key}).json()
    assert ranked["config"]["label"] == "只看结案率"
    r = client.put(f"/api/v1/analytics/ranking-configs/{r.json()['id']}",
                   json={**CLOSURE_ONLY, "bottom_n": 0}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["revision"] == 2
    pub = client.post("/api/v1/analytics/rankings/publish", params={"value": "2026-10", "preset": key},
                      headers={"X-CSRF-Token": csrf})
    assert pub.status_code == 201
    twice = client.post("/api/v1/analytics/rankings/publish", params={"value": "2026-10", "preset": key},
                        headers={"X-CSRF-Token": csrf})
    assert twice.status_code == 409 and twice.json()["code"] == "ranking_already_published"
    csrf = login(client, "leader")
    r = client.post("/api/v1/analytics/ranking-configs", json={**CLOSURE_ONLY, "label": "领导的方案"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and "维护排名方案" in r.json()["message"]


def test_bulletins_say_whether_the_ranking_is_published(client, db, october):
    import io

    from docx import Document
    from openpyxl import load_workbook

    csrf = login(client, "city.dispatcher")
    h = {"X-CSRF-Token": csrf}
    texts = []
    for publish in (False, True):
        if publish:
            assert client.post("/api/v1/analytics/rankings/publish", params={"value": "2026-10"},
                               headers=h).status_code == 201
        b = client.post("/api/v1/analytics/bulletins", json={"month": "2026-10"}, headers=h).json()
        doc = Document(io.BytesIO(client.get(b["docx"]).content))
        ws = load_workbook(io.BytesIO(client.get(b["xlsx"]).content))["镇街排名"]
        texts.append(("\n".join(p.text for p in doc.paragraphs), [c.value for c in ws["A"] if c.value]))
    (doc0, xl0), (doc1, xl1) = texts
    assert "本排名尚未发布" in doc0 and any("尚未发布" in str(v) for v in xl0)
    assert "本排名已于" in doc1 and "市指挥中心调度员" in doc1 and any("已于" in str(v) for v in xl1)
