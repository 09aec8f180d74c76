"""GB 11643 ID numbers, GB 32100 USCCs and phone numbers: fixed examples from the standards and properties."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicgrid.registry.ids import (USCC_CHARS, InvalidCode, make_id_number, make_uscc, parse_id_number,
                                    parse_phone, parse_uscc)

TODAY = date(2026, 11, 29)


def test_published_id_example_passes_and_derives_birth_sex_origin():
    info = parse_id_number("11010519491231002X", today=TODAY)
    assert info.birth_date == date(1949, 12, 31)
    assert info.sex == "female"  # sequence 002 is even
    assert info.origin_code == "110105"


def test_lower_case_x_and_full_width_digits_are_normalised():
    assert parse_id_number("１１０１０５１９４９１２３１００２x", today=TODAY).number == "11010519491231002X"


@pytest.mark.parametrize("raw,code", [
    ("11010519491231002", "id_length"),
    ("110105194912310021", "id_check"),
    ("11010519490231002X", "id_birth_date"),  # 31 February... (check digit irrelevant: date first)
    ("1101051949123A002X", "id_chars"),
    ("", "id_missing"),
])
def test_bad_id_numbers_are_refused_with_a_reason(raw, code):
    with pytest.raises(InvalidCode) as e:
        parse_id_number(raw, today=TODAY)
    assert e.value.code == code
    assert e.value.message  # Chinese words for the user


def test_impossible_and_future_birth_dates():
    with pytest.raises(InvalidCode) as e:
        parse_id_number(make_id_number("441900", date(2027, 1, 5), 11), today=TODAY)
    assert e.value.code == "id_birth_future"
    with pytest.raises(InvalidCode) as e:
        parse_id_number("44190020230230011" + "0", today=TODAY)
    assert e.value.code == "id_birth_date"


births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
origins = st.integers(100000, 899999).map(str)


@given(origins, births, st.integers(0, 999))
def test_made_numbers_pass_and_round_trip(origin, birth, seq):
    n = make_id_number(origin, birth, seq)
    info = parse_id_number(n, today=TODAY)
    assert (info.birth_date, info.origin_code) == (birth, origin)
    assert info.sex == ("male" if seq % 2 else "female")


@given(origins, births, st.integers(0, 999), st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_change_is_caught(origin, birth, seq, pos, delta):
    n = make_id_number(origin, birth, seq)
    bad = n[:pos] + str((int(n[pos]) + delta) % 10) + n[pos + 1:]
    with pytest.raises(InvalidCode):
        parse_id_number(bad, today=TODAY)


@given(origins, births, st.integers(0, 999))
def test_future_births_never_pass(origin, birth, seq):
    future = TODAY + timedelta(days=1 + (birth.toordinal() % 3000))
    with pytest.raises(InvalidCode):
        parse_id_number(make_id_number(origin, future, seq), today=TODAY)


@pytest.mark.parametrize("code", ["91350100M000100Y43", "12440300MB2C92173E"])
def test_published_uscc_examples_pass(code):
    assert parse_uscc(code) == code


@pytest.mark.parametrize("raw,code", [
    ("91350100M000100Y44", "uscc_check"),
    ("91350100M000100YI3", "uscc_chars"),  # I is not in the set
    ("Z1350100M000100Y43", "uscc_chars"),
    ("B1350100M000100Y43", "uscc_authority"),
    ("91350100M000100Y4", "uscc_length"),
])
def test_bad_usccs_are_refused(raw, code):
    with pytest.raises(InvalidCode) as e:
        parse_uscc(raw)
    assert e.value.code == code


def test_every_authority_character_is_accepted_not_only_1_5_9_y():
    for a in "123456789ANY":
        assert parse_uscc(make_uscc(a + "1", "441900", "MA4UX12B"))


org8 = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8)


@given(st.sampled_from("123456789ANY"), org8, st.integers(0, 17), st.integers(1, 30))
def test_any_single_uscc_character_change_is_caught(auth, org, pos, delta):
    code = make_uscc(auth + "1", "441900", org)
    assert parse_uscc(code) == code
    bad = code[:pos] + USCC_CHARS[(USCC_CHARS.index(code[pos]) + delta) % 31] + code[pos + 1:]
    with pytest.raises(InvalidCode):
        parse_uscc(bad)


@pytest.mark.parametrize("raw,out", [("138 1234 5678", "13812345678"), ("+86-13812345678", "13812345678"),
                                     ("0769-22331234", "076922331234")])
def test_phones_are_normalised(raw, out):
    assert parse_phone(raw) == out


@pytest.mark.parametrize("raw", ["12812345678", "1381234567", "abc"])
def test_bad_phones(raw):
    with pytest.raises(InvalidCode):
        parse_phone(raw)
