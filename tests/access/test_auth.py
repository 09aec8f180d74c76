"""Log-in, sessions, CSRF, lock-out, password change, API keys, audit."""

from datetime import timedelta

from sqlalchemy import select

from civicgrid import clock
from civicgrid.access.models import AuditEntry, User, WebSession
from tests.conftest import PASSWORD, login


def test_login_sets_session_and_me_shows_roles(client):
    login(client, "town.dispatcher")
    me = client.get("/api/v1/me").json()
    assert me["username"] == "town.dispatcher"
    assert [r["label"] for r in me["roles"]] == ["镇街调度员"]


def test_wrong_password_is_401_with_chinese_message_and_audited(client, db):
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope12345"})
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_credentials"
    assert r.json()["message"] == "用户名或密码错误"
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "login.failed")).all()
    assert entries and entries[-1].detail["reason"] == "wrong_password"


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client):
    r = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"


def test_lockout_after_repeated_failures_even_with_the_right_password(client, db):
    for _ in range(5):
        client.post("/api/v1/auth/login", json={"username": "leader", "password": "wrong-pass1"})
    r = client.post("/api/v1/auth/login", json={"username": "leader", "password": PASSWORD})
    assert r.status_code == 401
    assert r.json()["code"] == "account_locked"
    assert "锁定" in r.json()["message"]
    user = db.scalars(select(User).where(User.username == "leader")).one()
    with clock.frozen(user.locked_until + timedelta(seconds=1)):
        assert client.post("/api/v1/auth/login", json={"username": "leader", "password": PASSWORD}).status_code == 200


def test_requests_without_login_are_401_and_pages_redirect_to_login(client):
    r = client.get("/api/v1/regions/tree")
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    r = client.get("/map", follow_redirects=False, headers={"accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fmap")


def test_expired_session_is_refused(client, db):
    login(client, "admin")
    row = db.scalars(select(WebSession)).all()[-1]
    with clock.frozen(row.expires_at + timedelta(minutes=1)):
        r = client.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["code"] == "session_expired"


def test_unsafe_request_without_csrf_token_is_403(client):
    csrf = login(client, "admin")
    body = {"username": "new.user", "display_name": "新用户"}
    r = client.post("/api/v1/users", json=body)
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    r = client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201


def test_logout_ends_the_session(client):
    csrf = login(client, "admin")
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_password_change_checks_old_password_and_strength(client):
    csrf = login(client, "mediator")
    h = {"X-CSRF-Token": csrf}
    r = client.post("/api/v1/me/password", json={"old_password": "bad", "new_password": "abc12345x"}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == "wrong_password"
    r = client.post("/api/v1/me/password", json={"old_password": PASSWORD, "new_password": "short1"}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == "weak_password"
    r = client.post("/api/v1/me/password", json={"old_password": PASSWORD, "new_password": "newpass2026"}, headers=h)
    assert r.status_code == 204
    client.cookies.clear()
    assert client.post("/api/v1/auth/login", json={"username": "mediator", "password": PASSWORD}).status_code == 401
    login(client, "mediator", "newpass2026")


def test_api_key_authenticates_without_csrf_and_can_be_revoked(client, demo_city):
    key = demo_city.api_key
    client.cookies.clear()
    r = client.get("/api/v1/regions/tree", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    r = client.post("/api/v1/locate", json={"lon": 113.75, "lat": 23.04},
                    headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    r = client.get("/api/v1/me", headers={"Authorization": "Bearer cg_deadbeef_nope"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
    csrf = login(client, "admin")
    prefix = key.split("_")[1]
    assert client.delete(f"/api/v1/api-keys/{prefix}", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.clear()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_login_and_admin_changes_are_in_the_audit_log(client):
    csrf = login(client, "admin")
    client.post("/api/v1/users", json={"username": "audit.me", "display_name": "审计"}, headers={"X-CSRF-Token": csrf})
    log = client.get("/api/v1/audit").json()
    actions = [e["action"] for e in log]
    assert "login" in actions and "user.create" in actions
    assert next(e for e in log if e["action"] == "user.create")["actor"] == "admin"


def test_grid_worker_without_password_cannot_log_in(client):
    r = client.post("/api/v1/auth/login", json={"username": "gw00002", "password": ""})
    assert r.status_code in (401, 422)
