"""The address parser and matcher: levels, normalisation, exact then fuzzy matching with candidates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicgrid.registry.address import Gazetteer, Matcher, Parsed, canonical, cn_number, parse

G = Gazetteer()
G.add("东城街道", "岗贝社区居民委员会")
G.add("东城街道", "光明社区居民委员会")
G.add("南城街道", "石竹社区居民委员会")


def test_full_address_splits_into_levels():
    p = parse("广东省东莞市东城街道岗贝社区东城路12号星河花园3栋2单元1203室", G)
    assert p == Parsed(town="东城", village="岗贝", road="东城路", house_no="12", compound="星河花园", building="3",
                       unit="2", floor="12", room="1203")


@pytest.mark.parametrize("text", [
    "东城岗贝东城路１２号星河花园三栋二单元1203",  # full-width digits, Chinese numerals, no 室
    "东城街道岗贝社区居民委员会東城路12號星河花园3棟2单元1203房",  # traditional forms, full village name
    "东城 岗贝 东城路12号 星河花园 第3栋 2单元 1203室",  # blanks, 第
])
def test_variants_normalise_to_the_same_key(text):
    assert parse(text, G).key() == parse("东城街道岗贝社区东城路12号星河花园3栋2单元1203室", G).key()


def test_a_road_named_like_a_village_stays_a_road():
    assert parse("光明路8号", G).road == "光明路" and parse("光明路8号", G).village == ""


@pytest.mark.parametrize("cn,n", [("三", "3"), ("十", "10"), ("十二", "12"), ("二十三", "23"), ("一百零五", "105")])
def test_chinese_numerals(cn, n):
    assert cn_number(cn) == n


def _matcher() -> Matcher:
    m = Matcher(G)
    for i, room in enumerate(("1201", "1202", "1203", "1301")):
        m.add(i + 1, canonical({"town": "东城街道", "village": "岗贝社区", "road": "东城路", "house_no": "12",
                                "compound": "星河花园", "building": "3", "unit": "2", "room": room}))
    m.add(9, canonical({"town": "南城街道", "village": "石竹社区", "road": "鸿福路", "house_no": "88"}))
    return m


def test_exact_then_fuzzy_then_unsure_then_none():
    m = _matcher()
    assert m.match("东城街道岗贝社区东城路12号星河花园3栋2单元1203室").status == "exact"
    r = m.match("东城路12号星河花园3栋2单元1203")  # missing town and village
    assert (r.status, r.address_id) == ("fuzzy", 3) and r.confidence >= 0.9
    r = m.match("东城街道岗贝社区东城路12号星海花园3栋2单元1203室")  # a typo in the compound
    assert r.address_id == 3 or (r.status == "unsure" and r.candidates[0][0] == 3)
    r = m.match("星河花园3栋2单元")  # no room: several rooms fit
    assert r.status in ("unsure", "none") and r.address_id is None
    assert m.match("火星基地1号").status == "none"


rooms = st.integers(1, 40).flatmap(lambda f: st.integers(1, 8).map(lambda r: f"{f}{r:02d}"))


@given(st.integers(1, 300), st.integers(1, 30), st.integers(1, 6), rooms)
def test_displayed_levels_parse_back(house, building, unit, room):
    p = canonical({"town": "东城", "village": "岗贝", "road": "东城路", "house_no": str(house), "compound": "星河花园",
                   "building": str(building), "unit": str(unit), "room": room})
    assert parse(p.display("东城街道", "岗贝社区"), G) == p
