"""Identifier checks: citizen ID numbers (GB 11643) and unified social credit codes (GB 32100).

Both return what they derive from a valid code and raise `InvalidCode` (with a stable code and a Chinese
message) otherwise, so the importer, the forms and the API report the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from operator import mul

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_AUTHORITIES = "123456789ANY"
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 organisation code inside a USCC (characters 9-17)
OLDEST_BIRTH = date(1890, 1, 1)
_HALF_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


class InvalidCode(ValueError):
    """A code that fails its standard's rules: `code` is stable, `message` is what a user reads."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class IdInfo:
    """What a citizen ID number tells: the normalised number, birth date, sex and division of origin."""

    number: str
    birth_date: date
    sex: str  # "male" | "female"
    origin_code: str  # 6-digit GB/T 2260 code of the issuing division (may be an abolished one)


def normalise_id(raw: str) -> str:
    """Strip blanks, make full-width characters half-width and the check letter upper case."""
    s = str(raw or "")
    if not s.isascii() or not s.isalnum():  # the usual clean value skips the work
        s = "".join(s.split()).translate(_HALF_WIDTH)
    return s.upper()


def id_check_char(first17: str) -> str:
    """The MOD 11-2 check character of the first 17 digits."""
    return ID_CHECK[sum(map(mul, map(int, first17), ID_WEIGHTS)) % 11]


def parse_id_number(raw: str, *, today: date) -> IdInfo:
    """Validate an 18-character ID number and derive birth date, sex and origin; raise InvalidCode otherwise."""
    s = normalise_id(raw)
    if not s:
        raise InvalidCode("id_missing", "身份证号码不能为空")
    if len(s) != 18:
        raise InvalidCode("id_length", f"身份证号码应为 18 位,实为 {len(s)} 位")
    if not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "X"):
        raise InvalidCode("id_chars", "身份证号码前 17 位应为数字,最后一位为数字或 X")
    if s[0] == "0":
        raise InvalidCode("id_region", "身份证号码的地区码无效")
    try:
        birth = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        raise InvalidCode("id_birth_date", f"身份证号码中的出生日期 {s[6:14]} 不存在") from None
    if birth > today:
        raise InvalidCode("id_birth_future", f"身份证号码中的出生日期 {birth.isoformat()} 晚于今天")
    if birth < OLDEST_BIRTH:
        raise InvalidCode("id_birth_date", f"身份证号码中的出生日期 {birth.isoformat()} 不合理")
    if id_check_char(s[:17]) != s[17]:
        raise InvalidCode("id_check", "身份证号码校验位错误(可能有数字录错)")
    return IdInfo(number=s, birth_date=birth, sex="male" if int(s[16]) % 2 else "female", origin_code=s[:6])


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters."""
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return USCC_CHARS[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """The GB 11714 check character of an organisation code's first 8 characters."""
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(first8, ORG_WEIGHTS))
    v = 11 - total % 11
    return {10: "X", 11: "0"}.get(v, str(v))


def parse_uscc(raw: str) -> str:
    """Validate a unified social credit code (full character set); return it normalised or raise InvalidCode."""
    s = normalise_id(raw)
    if not s:
        raise InvalidCode("uscc_missing", "统一社会信用代码不能为空")
    if len(s) != 18:
        raise InvalidCode("uscc_length", f"统一社会信用代码应为 18 位,实为 {len(s)} 位")
    bad = sorted({c for c in s if c not in USCC_CHARS})
    if bad:
        raise InvalidCode("uscc_chars", f"统一社会信用代码含有不允许的字符:{''.join(bad)}(不使用 I、O、S、V、Z)")
    if s[0] not in USCC_AUTHORITIES:
        raise InvalidCode("uscc_authority", f"统一社会信用代码第 1 位(登记管理部门){s[0]} 无效")
    if not s[2:8].isdigit():
        raise InvalidCode("uscc_region", "统一社会信用代码第 3–8 位应为行政区划代码")
    if uscc_check_char(s[:17]) != s[17]:
        raise InvalidCode("uscc_check", "统一社会信用代码校验位错误(可能有字符录错)")
    if org_code_check_char(s[8:16]) != s[16]:
        raise InvalidCode("uscc_org_check", "统一社会信用代码中的组织机构代码(第 9–17 位)校验位错误")
    return s


def make_id_number(origin: str, birth: date, seq: int) -> str:
    """A valid ID number for demo data and tests: 6-digit origin, birth date, 3-digit sequence."""
    first17 = f"{origin}{birth:%Y%m%d}{seq % 1000:03d}"
    return first17 + id_check_char(first17)


def make_uscc(authority_kind: str, region: str, org8: str) -> str:
    """A valid USCC for demo data and tests from 2 leading characters, a 6-digit division and 8 org characters."""
    org = org8 + org_code_check_char(org8)
    first17 = f"{authority_kind}{region}{org}"
    return first17 + uscc_check_char(first17)


def parse_phone(raw: str) -> str:
    """A mainland mobile (11 digits from 13x-19x) or a fixed line with area code; +86 and separators dropped."""
    s = normalise_id(raw).replace("-", "").replace("(", "").replace(")", "")
    if s.startswith("+86"):
        s = s[3:]
    elif s.startswith("0086"):
        s = s[4:]
    if not s.isdigit():
        raise InvalidCode("phone_chars", "电话号码只能包含数字")
    if len(s) == 11 and s[0] == "1":
        if s[1] not in "3456789":
            raise InvalidCode("phone_prefix", f"手机号码号段 {s[:3]} 不存在")
        return s
    if s.startswith("0") and 10 <= len(s) <= 12:
        return s
    raise InvalidCode("phone_length", "电话号码应为 11 位手机号或带区号的固定电话")
