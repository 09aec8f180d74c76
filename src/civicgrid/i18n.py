"""The i18n layer: pages are written in Chinese (zh-CN, the default and the source language) and wrapped in
``_()``; other locales translate from catalogues ``locale/<code>.json`` mapping the Chinese text to theirs.

A user picks a language with ``/lang?to=en`` (a cookie); nothing follows the browser's Accept-Language, since
government staff share machines whose browsers are often set to English. Missing entries fall back to Chinese,
and ``tests/test_i18n.py`` checks that every wrapped string of the translated pages has an entry.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT = "zh-CN"
LOCALES = {"zh-CN": "中文", "en": "English"}
COOKIE = "cg_lang"
CATALOGUES = Path(__file__).parent / "locale"


# what forms.js and portal.js show; pages hand them over translated as window.cgT
JS_STRINGS = ("未选择照片", "浏览器不支持定位,请在地图上点选", "正在定位…", "当前位置",
              "无法获取定位(未授权或无信号),请在地图上点选", "地图选点", "提交中…", "最近使用:",
              "已收到", "已受理", "办理中", "核查中", "已办结", "不予受理")


@lru_cache
def catalogue(locale: str) -> dict[str, str]:
    path = CATALOGUES / f"{locale}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def translate(text: str, locale: str = DEFAULT, **values: Any) -> str:
    """The text in the locale (Chinese when the locale or the entry is missing), with {name} values filled in."""
    out = text if locale == DEFAULT else catalogue(locale).get(text, text)
    return out.format(**values) if values else out


def pick(value: str | None) -> str:
    return value if value in LOCALES else DEFAULT


class Translator:
    """The ``_`` of one request's templates."""

    def __init__(self, locale: str) -> None:
        self.locale = pick(locale)

    def __call__(self, text: str, **values: Any) -> str:
        return translate(text, self.locale, **values)


def js_strings(locale: str) -> dict[str, str]:
    return {} if pick(locale) == DEFAULT else {s: translate(s, locale) for s in JS_STRINGS}
