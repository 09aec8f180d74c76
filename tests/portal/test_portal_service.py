"""The public portal's rules: the human check, rate limits, anonymous intake, tracking by number and query code
or phone, nearby cases without personal data, and rating only after closing, once."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import timedelta

import pytest

from civicgrid import clock
from civicgrid.errors import BadInput, Conflict, DomainError, NotFound
from civicgrid.portal import service as portal
from tests.cases.test_engine_loop import do, point_in

GRID = "441900003001001"


def solve(ch: dict[str, str]) -> str:
    a, b = map(int, re.findall(r"\d+", ch["question"]))
    return str(a + b)


def submit(db, *, ip="10.0.0.1", phone="", key=None, title="小区门口垃圾堆放", **extra):
    lon, lat = point_in(db, GRID)
    ch = portal.new_challenge()
    payload = {"title": title, "category": "E0102", "lon": lon, "lat": lat, "phone": phone, **extra}
    return portal.report(db, payload, ip=ip, challenge=ch["token"], answer=solve(ch),
                         idempotency_key=key or uuid.uuid4().hex)


def work_to_closed(db, case, result: str) -> None:
    """The staff take a 岗贝 case around the loop: village → town → department → grid verification → closed."""
    do(db, "village.operator", case, "accept")
    do(db, "village.operator", case, "escalate", note="需执法部门处理")
    do(db, "town.dispatcher", case, "dispatch", department="441900003-urban_management")
    do(db, "dept.handler", case, "take")
    do(db, "dept.handler", case, "handle", note=result)
    do(db, "grid.worker", case, "verify", result="pass", note="现场已恢复")
    do(db, "town.dispatcher", case, "close")


def test_an_anonymous_report_lands_at_the_village_as_a_citizen_case_with_a_query_code(db):
    case, code = submit(db)
    assert case.source == "citizen" and case.state == "reported" and case.level == "village"
    assert case.reporter_name == "匿名市民" and case.reporter_phone == ""
    assert re.fullmatch(r"[2-9A-Z]{6}", code) and not set(code) & set("01OI")
    view = portal.track(db, case.number, code)
    assert view["stage"] == "已收到" and view["stage_index"] == 0
    assert view["milestones"][0]["label"] == "收到上报"
    assert view["may_rate"] is False


def test_tracking_by_phone_and_the_same_answer_for_a_wrong_code_or_number(db):
    case, code = submit(db, phone="138 0013 8000")
    assert case.reporter_name == "市民(手机尾号8000)"
    assert portal.track(db, case.number, "13800138000")["number"] == case.number
    assert portal.track(db, case.number, code.lower())["number"] == case.number  # codes are read aloud
    messages = set()
    for number, proof in ((case.number, "ZZZZZZ"), ("20260101" + "9999999", code), (case.number, "13900000000")):
        with pytest.raises(NotFound) as e:
            portal.track(db, number, proof)
        messages.add(e.value.message_zh)
    assert len(messages) == 1  # no hint which of the two was wrong


@pytest.mark.parametrize("answer, code", [("", "human_check_failed"), ("99", "human_check_failed"),
                                          ("abc", "human_check_failed")])
def test_a_wrong_human_check_is_refused_next_to_its_field(db, answer, code):
    ch = portal.new_challenge()
    lon, lat = point_in(db, GRID)
    with pytest.raises(BadInput) as e:
        portal.report(db, {"title": "x", "category": "E0102", "lon": lon, "lat": lat}, ip="1.1.1.1",
                      challenge=ch["token"], answer=answer, idempotency_key=uuid.uuid4().hex)
    assert e.value.code == code and e.value.extra["field"] == "answer"


def test_a_tampered_or_expired_or_reused_check_is_refused(db):
    ch = portal.new_challenge()
    raw, sig = ch["token"].split(".")
    body = json.loads(base64.urlsafe_b64decode(raw))
    body["s"] = 2
    forged = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode() + "." + sig
    with pytest.raises(BadInput):
        portal.check_challenge(forged, "2")
    with clock.frozen(clock.now() + timedelta(minutes=21)), pytest.raises(BadInput) as e:
        portal.check_challenge(ch["token"], solve(ch))
    assert e.value.code == "human_check_expired"
    lon, lat = point_in(db, GRID)
    payload = {"title": "井盖缺失", "category": "E0102", "lon": lon, "lat": lat}
    portal.report(db, dict(payload), ip="2.2.2.2", challenge=ch["token"], answer=solve(ch),
                  idempotency_key=uuid.uuid4().hex)
    with pytest.raises(BadInput) as e:
        portal.report(db, dict(payload, title="另一个"), ip="2.2.2.2", challenge=ch["token"], answer=solve(ch),
                      idempotency_key=uuid.uuid4().hex)
    assert e.value.code == "human_check_used"


def test_a_double_submit_makes_one_case_and_shows_the_same_code(db):
    key = uuid.uuid4().hex
    first, code1 = submit(db, key=key)
    again, code2 = submit(db, key=key)
    assert again.id == first.id and code1 == code2


def test_rate_limits_per_address_and_per_phone(db):
    for _ in range(5):
        submit(db, ip="10.9.9.9")
    with pytest.raises(DomainError) as e:
        submit(db, ip="10.9.9.9")
    assert e.value.status == 429 and e.value.code == "rate_limited"
    submit(db, ip="10.9.9.8")  # another address is not affected
    with clock.frozen(clock.now() + timedelta(hours=1, minutes=1)):
        submit(db, ip="10.9.9.9")  # the hour has passed


def test_a_bad_phone_number_is_refused(db):
    with pytest.raises(BadInput) as e:
        submit(db, phone="12345")
    assert e.value.extra["field"] == "phone"


def test_rating_only_after_closing_and_only_once_through_the_engine(db):
    case, code = submit(db, phone="13800138001")
    with pytest.raises(Conflict) as e:
        portal.rate(db, case.number, code, "satisfied")
    assert e.value.code == "not_closed_yet"
    work_to_closed(db, case, "垃圾已清运")
    view = portal.track(db, case.number, code)
    assert view["stage"] == "已办结" and view["result"] == "垃圾已清运" and view["may_rate"]
    assert view["department"]
    with pytest.raises(BadInput):
        portal.rate(db, case.number, code, "")
    view = portal.rate(db, case.number, "13800138001", "basically_satisfied", "处理及时")
    assert view["satisfaction"] == "基本满意" and not view["may_rate"]
    assert case.satisfaction == "basically_satisfied"
    with pytest.raises(Conflict) as e:
        portal.rate(db, case.number, code, "dissatisfied")
    assert e.value.code == "already_rated"


def test_nearby_lists_cases_around_a_point_without_personal_data(db):
    case, _ = submit(db, phone="13800138002", title="路灯不亮", description="我叫张三,家住3栋")
    lon, lat = point_in(db, GRID)
    items = portal.nearby(db, lon, lat, 500)
    mine = [i for i in items if i["title"] == "路灯不亮"]
    assert mine and mine[0]["stage"] == "已收到" and mine[0]["distance_m"] == 100
    text = json.dumps(items, default=str, ensure_ascii=False)
    assert "13800138002" not in text and "张三" not in text and case.number not in text
    assert "路灯不亮" not in [i["title"] for i in portal.nearby(db, lon + 0.2, lat, 1000)]  # about 20 km away
    with pytest.raises(BadInput):
        portal.nearby(db, 500, 20)
