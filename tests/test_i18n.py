"""The i18n layer: every wrapped string of the pages and every script string has an English entry; the
portal speaks English after /lang?to=en, Chinese by default; the language switch only goes back on-site."""

from __future__ import annotations

import re
from pathlib import Path

from civicgrid import i18n

TEMPLATES = Path(i18n.__file__).parent / "web" / "templates"


def _wrapped() -> set[str]:
    out = set()
    for path in TEMPLATES.rglob("*.html"):
        out.update(m.group(2) for m in re.finditer(r'''_\(\s*(["'])(.*?)\1''', path.read_text(encoding="utf-8")))
    return out


def test_every_wrapped_and_script_string_has_an_english_entry():
    en = i18n.catalogue("en")
    wrapped = _wrapped()
    assert len(wrapped) > 50
    assert sorted(s for s in wrapped | set(i18n.JS_STRINGS) if s not in en) == []
    # placeholders survive translation
    for zh, text in en.items():
        assert set(re.findall(r"{\w+}", zh)) == set(re.findall(r"{\w+}", text)), zh


def test_portal_states_and_messages_are_translated():
    from civicgrid.cases.workflow import SATISFACTION
    from civicgrid.portal.service import MILESTONES, STAGES

    en = i18n.catalogue("en")
    for zh in {*STAGES.values(), *MILESTONES.values(), *SATISFACTION.values()}:
        assert zh in en, zh


def test_the_portal_in_english_and_back(client):
    assert "反映问题" in client.get("/public").text  # Chinese by default
    r = client.get("/lang", params={"to": "en", "next": "/public/report"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/public/report"
    page = client.get("/public/report").text
    assert 'lang="en"' in page and "Report a problem" in page and "Use my location" in page
    assert re.search(r"Check: what is \d plus \d\?", page)
    assert "中文" in page  # the way back
    client.get("/lang", params={"to": "zh-CN"})
    assert "反映问题" in client.get("/public").text


def test_the_language_switch_only_goes_back_on_site(client):
    r = client.get("/lang", params={"to": "en", "next": "https://evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/"
    r = client.get("/lang", params={"to": "xx"}, follow_redirects=False)
    assert 'cg_lang="zh-CN"' in r.headers["set-cookie"] or "cg_lang=zh-CN" in r.headers["set-cookie"]
