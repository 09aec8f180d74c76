"""The public portal's rules: a human check, rate limits, anonymous intake through the case service, tracking by
number and query code, nearby cases without personal data, and the reporter's rating after closing.

Anonymous reports are filed by one system account, 公众门户 (username ``portal``, no password, cannot log in).
Whoever proves a case's query code acts as that account for that one case only, so the engine's own rules
(the reporter may rate a closed case) apply unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.models import Department, User
from civicgrid.access.policy import Actor, Grant, Role
from civicgrid.cases import service as cases
from civicgrid.cases.models import Case, TimelineEntry
from civicgrid.cases.workflow import SATISFACTION
from civicgrid.config import get_settings
from civicgrid.errors import BadInput, Conflict, DomainError, NotFound
from civicgrid.portal.models import PublicReport

PORTAL_USERNAME = "portal"
PORTAL_NAME = "公众门户"
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud over the phone
NEARBY_DAYS = 90

# what a citizen reads instead of the internal states
STAGES = {"reported": "已收到", "accepted": "已受理", "returned": "已受理", "dispatched": "办理中",
          "in_handling": "办理中", "parked": "办理中", "handled": "核查中", "verified": "核查中", "closed": "已办结",
          "voided": "不予受理", "merged": "已并案"}
STAGE_ORDER = ["已收到", "已受理", "办理中", "核查中", "已办结"]
MILESTONES = {"report": "收到上报", "accept": "立案受理", "dispatch": "派遣至承办单位", "reroute": "改派承办单位",
              "take": "承办单位签收", "handle": "承办单位处置完成", "handle_locally": "社区自行处置完成",
              "close": "办结", "void": "不予受理", "merge": "与相同问题合并办理", "follow_up": "回访评价",
              "close_with_master": "随相同问题一并办结"}


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


def _key(purpose: str) -> bytes:
    return hashlib.sha256(f"civicgrid-portal|{purpose}|{get_settings().secret_key}".encode()).digest()


def keyed_hash(purpose: str, value: str) -> str:
    return hmac.new(_key(purpose), value.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------------
# the human check: a small sum, signed, valid for 20 minutes, usable once (its nonce is stored with the case)

def new_challenge() -> dict[str, str]:
    a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    body = {"s": a + b, "e": int(clock.now().timestamp()) + 1200, "n": secrets.token_hex(8)}
    raw = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()
    sig = hmac.new(_key("challenge"), raw.encode(), hashlib.sha256).hexdigest()[:32]
    return {"question": f"{a} 加 {b} 等于几?", "a": str(a), "b": str(b), "token": f"{raw}.{sig}"}


def check_challenge(token: str, answer: str) -> str:
    """The challenge's nonce when the answer is right and the token genuine and fresh; else BadInput."""
    wrong = BadInput("human_check_failed", "验证题回答不正确,请重新计算后填写", "Human check failed",
                     extra={"field": "answer"})
    raw, _, sig = (token or "").partition(".")
    good = hmac.new(_key("challenge"), raw.encode(), hashlib.sha256).hexdigest()[:32]
    if not raw or not hmac.compare_digest(sig, good):
        raise wrong
    body = json.loads(base64.urlsafe_b64decode(raw.encode()))
    if body["e"] < clock.now().timestamp():
        raise BadInput("human_check_expired", "验证题已过期,请回答新的验证题", "Human check expired",
                       extra={"field": "answer"})
    answer = (answer or "").strip()
    if not answer.isdigit() or int(answer) != body["s"]:  # int() also reads full-width digits
        raise wrong
    return str(body["n"])


# ---------------------------------------------------------------------------------------------
# intake

def portal_actor(session: Session) -> Actor:
    """The portal's system account, created on first use; it has no password and cannot log in."""
    user = session.scalars(select(User).where(User.username == PORTAL_USERNAME)).first()
    if user is None:
        user = User(username=PORTAL_USERNAME, display_name=PORTAL_NAME, password_hash=None)
        session.add(user)
        session.flush()
    return Actor(user_id=user.id, username=user.username, display_name=PORTAL_NAME,
                 grants=(Grant(role=Role.CITIZEN),))


def query_code(idempotency_key: str) -> str:
    """The reporter's 查询码, derived from the form's key, so a repeated submit shows the same code."""
    digest = hmac.new(_key("code"), idempotency_key.encode(), hashlib.sha256).digest()
    return "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in digest[:6])


def _rate_limit(session: Session, ip_hash: str, phone_hash: str | None) -> None:
    s = get_settings()
    now = clock.now()
    per_hour = session.scalar(select(func.count()).where(PublicReport.ip_hash == ip_hash,
                                                         PublicReport.created_at > now - timedelta(hours=1))) or 0
    per_day = session.scalar(select(func.count()).where(PublicReport.ip_hash == ip_hash,
                                                        PublicReport.created_at > now - timedelta(days=1))) or 0
    if per_hour >= s.portal_reports_per_hour or per_day >= s.portal_reports_per_day:
        raise RateLimited(message_zh="提交过于频繁,请稍后再试;紧急情况请拨打 12345 热线",
                          detail="Too many reports from this address; try again later")
    if phone_hash:
        by_phone = session.scalar(select(func.count()).where(
            PublicReport.phone_hash == phone_hash, PublicReport.created_at > now - timedelta(days=1))) or 0
        if by_phone >= s.portal_reports_per_day:
            raise RateLimited(message_zh="该手机号今天提交的问题已达上限,请明天再试",
                              detail="Daily limit for this phone number reached", extra={"field": "phone"})


def report(session: Session, payload: dict[str, Any], *, ip: str, challenge: str, answer: str,
           idempotency_key: str, photo: tuple[bytes, str] | None = None) -> tuple[Case, str]:
    """File an anonymous report (with an optional photo). Returns the case and the reporter's query code."""
    if not idempotency_key or len(idempotency_key) < 16:
        raise BadInput("form_key_missing", "表单已失效,请刷新页面后重新填写", "Form key missing or too short")
    phone = str(payload.pop("phone", "") or "").strip().replace(" ", "").replace("-", "")
    if phone and not PHONE_RE.match(phone):
        raise BadInput("invalid_phone", "手机号格式不正确(11 位,以 1 开头)", "Phone must be an 11-digit mainland mobile",
                       extra={"field": "phone"})
    nonce = check_challenge(challenge, answer)
    actor = portal_actor(session)
    ip_hash = keyed_hash("ip", ip or "unknown")
    phone_hash = keyed_hash("phone", phone) if phone else None
    _rate_limit(session, ip_hash, phone_hash)
    payload.update(source="citizen", reporter_name=f"市民(手机尾号{phone[-4:]})" if phone else "匿名市民",
                   reporter_phone=phone)
    case, created = cases.report_case(session, actor, payload, idempotency_key=idempotency_key, client="portal")
    if created:
        if session.scalar(select(func.count()).where(PublicReport.challenge == nonce)):
            raise BadInput("human_check_used", "验证题已使用过,请回答新的验证题", "Human check already used",
                           extra={"field": "answer"})
        session.add(PublicReport(case_id=case.id, code_hash=keyed_hash("code", query_code(idempotency_key)),
                                 phone_hash=phone_hash, ip_hash=ip_hash, challenge=nonce))
        session.flush()
        if photo and photo[0]:
            cases.attach_to_report(session, case, cases.add_photo(session, actor, case.number, *photo))
    return case, query_code(idempotency_key)


def catalogue(session: Session) -> list[dict[str, Any]]:
    """The categories the public may choose from."""
    from civicgrid.matters import service as matters

    return matters.tree(session, portal_actor(session), public_only=True)


def suggest(session: Session, text: str) -> list[dict[str, Any]]:
    from civicgrid.matters import service as matters

    return matters.suggest(session, portal_actor(session), text[:500], limit=3, public_only=True)


def boundaries(session: Session) -> dict[str, Any]:
    """Town boundaries of the city for the portal's maps (public geography, simplified)."""
    from civicgrid.access.service import SYSTEM
    from civicgrid.geo import service as geo

    return geo.regions_geojson(session, SYSTEM, level="town", simplify_m=60)


# ---------------------------------------------------------------------------------------------
# tracking, nearby, rating

def _proven_case(session: Session, number: str, proof: str) -> tuple[Case, PublicReport]:
    """The case whose number and query code (or the phone number given when reporting) match; else 404,
    the same answer whichever of the two was wrong."""
    missing = NotFound("case", "未找到该编号的事件,或查询码/手机号不正确")
    number, proof = (number or "").strip(), (proof or "").strip().replace(" ", "").upper()
    if not number or not proof:
        raise missing
    row = session.execute(select(Case, PublicReport).join(PublicReport, PublicReport.case_id == Case.id)
                          .where(Case.number == number)).first()
    if row is None:
        raise missing
    case, pub = row
    ok = hmac.compare_digest(keyed_hash("code", proof), pub.code_hash) or (
        pub.phone_hash is not None and hmac.compare_digest(keyed_hash("phone", proof), pub.phone_hash))
    if not ok:
        raise missing
    return case, pub


def _current(session: Session, case: Case) -> Case:
    """A merged case is answered by its master's progress."""
    while case.state == "merged" and case.master_id:
        case = session.get(Case, case.master_id) or case
        if case.state != "merged":
            break
    return case


def public_view(session: Session, case: Case) -> dict[str, Any]:
    """What anyone holding the query code may read: no names of people, no phone numbers."""
    live = _current(session, case)
    dept = session.get(Department, live.department_id) if live.department_id else None
    entries = session.scalars(select(TimelineEntry).where(TimelineEntry.case_id == live.id,
                                                          TimelineEntry.action.in_(list(MILESTONES)))
                              .order_by(TimelineEntry.seq)).all()
    result = next((e.note for e in reversed(entries) if e.action in ("handle", "handle_locally")), None)
    stage = STAGES[case.state] if case.state != "merged" else STAGES[live.state]
    return {
        "number": case.number, "title": case.title, "category_name": case.rules.get("name", ""),
        "address": case.address, "reported_at": case.reported_at, "stage": stage,
        "stage_index": STAGE_ORDER.index(stage) if stage in STAGE_ORDER else -1, "stages": STAGE_ORDER,
        "merged": case.state == "merged", "department": dept.name if dept else None,
        "closed": live.state == "closed", "closed_at": live.closed_at, "result": result if live.closed else None,
        "satisfaction": SATISFACTION.get(case.satisfaction or ""), "may_rate": case.state == "closed"
        and case.satisfaction is None,
        "milestones": [{"at": e.at, "label": MILESTONES[e.action]} for e in entries],
    }


def track(session: Session, number: str, proof: str) -> dict[str, Any]:
    case, _ = _proven_case(session, number, proof)
    return public_view(session, case)


def rate(session: Session, number: str, proof: str, satisfaction: str, note: str = "") -> dict[str, Any]:
    """The reporter's rating of a closed case (回访评价), applied through the engine as the follow-up action."""
    case, _ = _proven_case(session, number, proof)
    if satisfaction not in SATISFACTION:
        raise BadInput("satisfaction_required", "请选择满意、基本满意或不满意", "satisfaction required",
                       extra={"field": "satisfaction"})
    if case.state != "closed":
        raise Conflict("not_closed_yet", "事件办结后才能评价", "The case is not closed yet")
    if case.satisfaction is not None:
        raise Conflict("already_rated", "您已评价过该事件,感谢反馈", "Already rated")
    actor = portal_actor(session)
    cases.act(session, actor, case.number, "follow_up", {"satisfaction": satisfaction, "note": note.strip()[:500]},
              client="portal")
    return public_view(session, case)


def nearby(session: Session, lon: float, lat: float, radius_m: float = 1000.0, limit: int = 50) -> list[dict[str, Any]]:
    """Cases of the last 90 days within radius_m of a WGS-84 point: category, title, stage, date, a position
    rounded to about 100 m and the distance rounded up to 100 m (so no exact point can be triangulated).
    No numbers, names, phones or descriptions."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadInput("invalid_location", "坐标超出范围", "lon/lat out of range", extra={"field": "location"})
    radius_m = min(max(radius_m, 100.0), 5000.0)
    since = clock.now() - timedelta(days=NEARBY_DAYS)
    out = []
    for c, dist in cases.cases_near(session, lon, lat, radius_m, Case.reported_at >= since,
                                    Case.state.not_in(("voided", "merged")), limit=limit * 4):
        out.append({"title": c.title, "category_name": c.rules.get("name", ""), "stage": STAGES[c.state],
                    "reported_at": c.reported_at, "distance_m": max(100, math.ceil(dist / 100) * 100),
                    "lon": round(c.lon or 0, 3), "lat": round(c.lat or 0, 3)})
    return out[:limit]

