"""Standard addresses: the levels, a parser that splits free-text Chinese addresses into them, and a matcher
(exact on the normalised key first, then fuzzy over candidates sharing numbers or names, with a confidence).

Levels: town / village / road (street-road-lane) / house number / compound / building / unit / floor / room;
the city is implied. Normalisation turns full-width characters half-width (NFKC), traditional forms of the
level words into simplified ones, Chinese numerals of buildings, units and floors into digits, and names
into their short form (东城街道 → 东城, 岗贝社区居民委员会 → 岗贝), so that the key is stable.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from functools import lru_cache

LEVELS = ("town", "village", "road", "house_no", "compound", "building", "unit", "floor", "room")
LEVEL_LABELS = {"town": "镇街", "village": "村(社区)", "road": "街路巷", "house_no": "门牌号", "compound": "小区",
                "building": "楼栋", "unit": "单元", "floor": "楼层", "room": "户室"}
TRADITIONAL = str.maketrans("號棟東區單層門廣場園莊圍鎮村樓綫線街巷", "号栋东区单层门广场园庄围镇村楼线线街巷")
CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
PREFIXES = ("中华人民共和国", "广东省", "广东", "东莞市", "东莞")
TOWN_SUFFIXES = ("街道办事处", "街道", "镇", "园区", "新区")
VILLAGE_SUFFIXES = ("社区居民委员会", "村民委员会", "居民委员会", "居委会", "村委会", "社区", "村")

_NUM = r"(?:\d+|[零〇一二两三四五六七八九十百]+|[A-Za-z])"
_RE_ROAD = re.compile(r"^(.{1,20}?(?:大道|大街|路|街|巷|道|坊|里))(?=\d|[零〇一二两三四五六七八九十百]+号|$)")
_RE_HOUSE = re.compile(r"^(\d+(?:[-之]\d+)?)号(?!楼)")
_RE_COMPOUND = re.compile(r"^(.{1,20}?(?:小区|花园|新村|公寓|大厦|广场|山庄|苑|城|庭|园|楼|工业区))(?=\d|[A-Za-z]|第|[一二三四五六七八九十]+[栋座幢号]|$)")
_RE_BUILDING = re.compile(rf"^第?({_NUM})(?:栋|座|幢|号楼|号)")
_RE_UNIT = re.compile(rf"^第?({_NUM})单元")
_RE_FLOOR = re.compile(rf"^第?(-?{_NUM})(?:层|楼)")
_RE_ROOM = re.compile(r"^(\d+)(?:室|房|号房)?$")


def cn_number(s: str) -> str:
    """Chinese numerals up to 999 as digits ('十二' → '12'); anything else unchanged (upper-cased letters)."""
    if not s or s.isdigit():
        return str(int(s)) if s else s
    if all(ch in CN_DIGITS or ch in "十百" for ch in s):
        total, cur = 0, 0
        for ch in s:
            if ch == "百":
                total += (cur or 1) * 100
                cur = 0
            elif ch == "十":
                total += (cur or 1) * 10
                cur = 0
            else:
                cur = CN_DIGITS[ch]
        return str(total + cur)
    return s.upper()


def normalise_text(text: str) -> str:
    """Half-width, simplified level words, no blanks or punctuation."""
    s = unicodedata.normalize("NFKC", str(text or "")).translate(TRADITIONAL)
    return re.sub(r"[\s,,。.、()()\[\]【】#]+", "", s)


def short_name(name: str, suffixes: Iterable[str]) -> str:
    """岗贝社区居民委员会 → 岗贝, 东城街道 → 东城 (never shortened to nothing)."""
    n = normalise_text(name)
    for suf in suffixes:
        if n.endswith(suf) and len(n) > len(suf):
            return n[: -len(suf)]
    return n


def display_village(name: str) -> str:
    """岗贝社区居民委员会 → 岗贝社区, 石排村民委员会 → 石排村: the name people write in an address."""
    for suffix, repl in (("社区居民委员会", "社区"), ("居民委员会", "社区"), ("村民委员会", "村")):
        if name.endswith(suffix):
            return name[: -len(suffix)] + repl
    return name


@dataclass(frozen=True)
class Parsed:
    """An address split into levels; empty string = level absent. `rest` is what could not be placed."""

    town: str = ""
    village: str = ""
    road: str = ""
    house_no: str = ""
    compound: str = ""
    building: str = ""
    unit: str = ""
    floor: str = ""
    room: str = ""
    rest: str = ""

    def levels(self) -> dict[str, str]:
        return {lv: getattr(self, lv) for lv in LEVELS}

    def key(self) -> str:
        """The exact-match key: normalised levels joined (floor left out: rooms carry it)."""
        return "|".join(getattr(self, lv) for lv in LEVELS if lv != "floor")

    def display(self, town_name: str = "", village_name: str = "") -> str:
        parts = [town_name or self.town, village_name or self.village, self.road,
                 f"{self.house_no}号" if self.house_no else "", self.compound,
                 f"{self.building}栋" if self.building else "", f"{self.unit}单元" if self.unit else "",
                 f"{self.room}室" if self.room else (f"{self.floor}层" if self.floor else "")]
        return "".join(p for p in parts if p)


@dataclass
class Gazetteer:
    """Short names of the towns and villages the parser recognises, and which town each village lies in."""

    towns: set[str] = field(default_factory=set)
    villages: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # village → towns

    def add(self, town: str, village: str | None = None) -> None:
        t = short_name(town, TOWN_SUFFIXES)
        self.towns.add(t)
        if village:
            self.villages[short_name(village, VILLAGE_SUFFIXES)].add(t)


ROAD_WORDS = ("大道", "大街", "路", "街", "巷", "道")


def _take_known(s: str, names: Iterable[str], suffixes: tuple[str, ...]) -> tuple[str, str]:
    """The longest known name at the start of s (not when it is the start of a road: 光明 in 光明路)."""
    best = ""
    for n in names:
        if s.startswith(n) and len(n) > len(best) and not s[len(n):].startswith(ROAD_WORDS):
            best = n
    if not best:
        return "", s
    s = s[len(best):]
    for suf in suffixes:
        if s.startswith(suf):
            s = s[len(suf):]
            break
    return best, s


def canonical(levels: dict[str, str]) -> Parsed:
    """Levels as entered in a form or file, normalised the way the parser normalises them."""
    p = Parsed(town=short_name(levels.get("town", ""), TOWN_SUFFIXES),
               village=short_name(levels.get("village", ""), VILLAGE_SUFFIXES),
               road=normalise_text(levels.get("road", "")),
               house_no=normalise_text(levels.get("house_no", "")).removesuffix("号"),
               compound=normalise_text(levels.get("compound", "")),
               building=cn_number(re.sub(r"(栋|座|幢|号楼)$", "", normalise_text(levels.get("building", "")))),
               unit=cn_number(normalise_text(levels.get("unit", "")).removesuffix("单元")),
               floor=cn_number(re.sub(r"(层|楼)$", "", normalise_text(levels.get("floor", "")))),
               room=normalise_text(levels.get("room", "")).removesuffix("室").removesuffix("房"))
    return _with_floor(p)


def _with_floor(p: Parsed) -> Parsed:
    if p.room and not p.floor and p.room.isdigit() and len(p.room) >= 3:
        return replace(p, floor=str(int(p.room[:-2])))
    return p


def parse(text: str, gazetteer: Gazetteer | None = None) -> Parsed:
    """Split a free-text address into standard levels (missing levels stay empty)."""
    g = gazetteer or Gazetteer()
    s = normalise_text(text)
    for pre in PREFIXES:
        if s.startswith(pre):
            s = s[len(pre):]
    for pre in PREFIXES:  # 广东省东莞市: both
        if s.startswith(pre):
            s = s[len(pre):]
    out: dict[str, str] = {}
    town, s = _take_known(s, g.towns, TOWN_SUFFIXES)
    if not town:
        m = re.match(r"^(.{1,6}?)(街道办事处|街道|镇)", s)
        if m:
            town, s = m.group(1), s[m.end():]
    out["town"] = town
    village, s = _take_known(s, g.villages, VILLAGE_SUFFIXES)
    if not village:
        m = re.match(r"^(.{1,8}?)(社区居民委员会|居民委员会|村民委员会|社区|村)(?!路|街|道)", s)
        if m and not re.search(r"(路|街|巷|道)", m.group(1)):
            village, s = m.group(1), s[m.end():]
    out["village"] = village
    for lv, rx in (("road", _RE_ROAD), ("house_no", _RE_HOUSE), ("compound", _RE_COMPOUND),
                   ("building", _RE_BUILDING), ("unit", _RE_UNIT), ("floor", _RE_FLOOR), ("room", _RE_ROOM)):
        m = rx.match(s)
        if m:
            v = m.group(1)
            out[lv] = cn_number(v) if lv in ("building", "unit", "floor") else v
            s = s[m.end():]
    return _with_floor(Parsed(**out, rest=s))


# ---------------------------------------------------------------------------------------------
# matching

WEIGHTS = {"town": 1.0, "village": 1.5, "road": 2.0, "house_no": 2.0, "compound": 2.0, "building": 2.0,
           "unit": 1.0, "floor": 0.5, "room": 2.0}
MISSING = {"town": 0.9, "village": 0.9, "road": 0.6, "compound": 0.6, "floor": 0.9}  # query lacks a level
NUMERIC = ("house_no", "building", "unit", "floor", "room")
SURE, UNSURE = 0.9, 0.6


@dataclass(frozen=True)
class Match:
    """The outcome of matching one address: 'exact', 'fuzzy' (sure), 'unsure' (candidates) or 'none'."""

    status: str
    address_id: int | None
    confidence: float
    candidates: tuple[tuple[int, float], ...] = ()
    parsed: Parsed | None = None


@lru_cache(maxsize=200_000)
def _ratio(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b).ratio()


def _sim(level: str, q: str, c: str) -> float:
    if q == c:
        return 1.0
    if not q:
        return MISSING.get(level, 0.3)
    if level in NUMERIC:
        return 0.0
    return _ratio(q, c)


def score(q: Parsed, c: Parsed) -> float:
    """0..1: how well the query's levels agree with a candidate's (levels the candidate lacks do not count)."""
    num = den = 0.0
    for lv in LEVELS:
        cv = getattr(c, lv)
        qv = getattr(q, lv)
        if not cv and not qv:
            continue
        w = WEIGHTS[lv]
        den += w
        num += w * (_sim(lv, qv, cv) if cv else 0.3)
    if q.rest:  # text the parser could not place counts against every candidate
        den += 2.0
    return num / den if den else 0.0


class Matcher:
    """In-memory index of standard addresses: exact key lookup, then candidates sharing numbers or names."""

    def __init__(self, gazetteer: Gazetteer | None = None) -> None:
        self.gazetteer = gazetteer or Gazetteer()
        self._by_key: dict[str, int] = {}
        self.by_text: dict[str, int] = {}  # the stored full text → id (-1 when two addresses read the same)
        self.levels: dict[int, Parsed] = {}
        self._blocks: dict[str, list[int]] = defaultdict(list)
        self._pending: list[int] = []  # added, not yet in by_key and blocks (imports mostly find text as stored)

    def add(self, address_id: int, p: Parsed, full: str = "") -> None:
        if full:
            self.by_text[full] = address_id if self.by_text.get(full, address_id) == address_id else -1
        self.levels[address_id] = p
        self._pending.append(address_id)

    def _index(self) -> None:
        """Key and blocks of the addresses added since the last parsed match."""
        for address_id in self._pending:
            p = self.levels[address_id]
            self._by_key[p.key()] = address_id
            for b in self._block_keys(p):
                self._blocks[b].append(address_id)
            if p.road:
                self._blocks[f"road:{p.road}"].append(address_id)
        self._pending = []

    @property
    def by_key(self) -> dict[str, int]:
        if self._pending:
            self._index()
        return self._by_key

    @property
    def blocks(self) -> dict[str, list[int]]:
        if self._pending:
            self._index()
        return self._blocks

    @staticmethod
    def _sure(scored: list[tuple[float, int]]) -> bool:
        second = scored[1][0] if len(scored) > 1 else 0.0
        return bool(scored) and scored[0][0] >= SURE and scored[0][0] - second >= 0.05

    @staticmethod
    def _block_keys(p: Parsed) -> list[str]:
        """Blocking keys, most specific first: a candidate shares a road and number, a compound and building,
        or all the numbers; the last key (numbers without the house) is used only when the others find nothing."""
        keys = [f"n:{p.house_no}|{p.building}|{p.unit}|{p.room}"]
        if p.road:
            keys.append(f"r:{p.road}|{p.house_no}")
        if p.compound:
            keys.append(f"c:{p.compound}|{p.building}")
        keys.append(f"b:{p.building}|{p.unit}|{p.room}")
        return keys

    def match(self, text: str | Parsed, *, limit: int = 5) -> Match:
        if isinstance(text, str) and self.by_text.get(text.strip(), -1) >= 0:  # a standard address, as written
            hit = self.by_text[text.strip()]
            return Match("exact", hit, 1.0, ((hit, 1.0),), self.levels[hit])
        q = text if isinstance(text, Parsed) else parse(text, self.gazetteer)
        hit = self.by_key.get(q.key())
        if hit is not None:
            return Match("exact", hit, 1.0, ((hit, 1.0),), q)
        # stages, most specific first; stop at the first stage that yields a sure answer
        numbers, *names, weak = self._block_keys(q)
        stages = [[numbers], names, [weak], [f"road:{q.road}"] if q.road else []]
        cands: set[int] = set()
        scored: list[tuple[float, int]] = []
        for keys in stages:
            fresh: set[int] = set()
            for b in keys:
                ids = self.blocks.get(b, ())
                if len(ids) <= 2000:
                    fresh.update(ids)
            fresh -= cands
            if not fresh:
                continue
            cands |= fresh
            scored = sorted(scored + [(score(q, self.levels[i]), i) for i in fresh], reverse=True)[:limit]
            if self._sure(scored):
                break
        top = tuple((i, round(s, 3)) for s, i in scored)
        if not scored or scored[0][0] < UNSURE:
            return Match("none", None, round(scored[0][0], 3) if scored else 0.0, top, q)
        best = scored[0][0]
        if self._sure(scored):
            return Match("fuzzy", scored[0][1], round(best, 3), top, q)
        return Match("unsure", None, round(best, 3), top, q)
