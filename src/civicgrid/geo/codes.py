"""Division and grid codes: GB/T 2260 (6), statistical town (9) and village (12) codes, grid (15)."""

from __future__ import annotations

import re

from civicgrid.errors import BadInput

CODE_LENGTH = {"city": 6, "district": 6, "town": 9, "village": 12, "grid": 15}
# Which parent levels each level may hang under.
PARENT_LEVELS = {
    "city": (),
    "district": ("city",),
    "town": ("city", "district"),
    "village": ("town",),
    "grid": ("village",),
}

_DIGITS = re.compile(r"^\d+$")


def town_kind(segment: int) -> str:
    """Kind of a town from its 3-digit segment: subdistrict, town, township or special zone."""
    if 1 <= segment <= 99:
        return "subdistrict"
    if segment <= 199:
        return "town"
    if segment <= 399:
        return "township"
    if segment <= 599:
        return "zone"
    raise ValueError(segment)


def village_kind(segment: int) -> str:
    """Kind of a village from its segment: community (001-199), village (200-399), other (400-599)."""
    if 1 <= segment <= 199:
        return "community"
    if segment <= 399:
        return "village"
    if segment <= 599:
        return "other"
    raise ValueError(segment)


def _bad(code: str, zh: str, en: str) -> BadInput:
    return BadInput("invalid_code", f"区划代码 {code} 不合法:{zh}", f"Invalid code {code}: {en}")


def check_code(code: str, level: str, parent_code: str | None = None) -> str | None:
    """Validate a region code for its level (and its parent's code); return its kind or raise BadInput."""
    if level not in CODE_LENGTH:
        raise BadInput("invalid_level", f"未知的区域层级 {level}", f"Unknown level {level!r}")
    n = CODE_LENGTH[level]
    if not _DIGITS.match(code or ""):
        raise _bad(code, "只能包含数字", "must be digits only")
    if len(code) != n:
        raise _bad(code, f"{level} 级代码应为 {n} 位", f"a {level} code has {n} digits")
    if code[:2] in ("00",) or int(code[:2]) < 11 or int(code[:2]) > 82:
        raise _bad(code, "省级代码段不存在", "province segment out of range 11-82")
    if level == "city":
        if code[4:6] != "00" or code[2:4] == "00":
            raise _bad(code, "市级代码应形如 XXXX00", "a city code looks like XXXX00")
        kind = None
    elif level == "district":
        if code[4:6] == "00":
            raise _bad(code, "区县代码末两位不能为 00", "a district code does not end in 00")
        kind = None
    elif level == "town":
        seg = int(code[6:9])
        if not 1 <= seg <= 599:
            raise _bad(code, "乡镇段应在 001–599", "town segment must be 001-599")
        kind = town_kind(seg)
    elif level == "village":
        seg = int(code[9:12])
        if not 1 <= seg <= 599:
            raise _bad(code, "村级段应在 001–599", "village segment must be 001-599")
        kind = village_kind(seg)
    else:
        if int(code[12:15]) == 0:
            raise _bad(code, "网格序号不能为 000", "grid sequence must be 001-999")
        kind = None
    if parent_code is not None:
        expect = _expected_prefix(level, parent_code)
        if not code.startswith(expect):
            raise BadInput("code_parent_mismatch",
                           f"代码 {code} 与上级代码 {parent_code} 不一致(应以 {expect} 开头)",
                           f"Code {code} does not start with its parent's code {expect}")
    return kind


def _expected_prefix(level: str, parent_code: str) -> str:
    if level == "district":
        return parent_code[:4]
    if level == "town" and parent_code.endswith("00") and len(parent_code) == 6:
        # a city without counties (Dongguan 441900) stands in for the county
        return parent_code
    return parent_code


def grid_code(village_code: str, seq: int) -> str:
    """The 15-digit grid code: village code + 3-digit sequence."""
    if not 1 <= seq <= 999:
        raise ValueError("grid sequence must be 1..999")
    return f"{village_code}{seq:03d}"
