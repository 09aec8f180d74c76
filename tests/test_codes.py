"""Division and grid codes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicgrid.errors import BadInput
from civicgrid.geo.codes import check_code, grid_code, town_kind, village_kind


def test_real_dongguan_codes_are_accepted_with_their_kind():
    assert check_code("441900", "city") is None
    assert check_code("441900003", "town", "441900") == "subdistrict"
    assert check_code("441900101", "town", "441900") == "town"
    assert check_code("441900401", "town", "441900") == "zone"
    assert check_code("441900003001", "village", "441900003") == "community"
    assert check_code("441900101201", "village", "441900101") == "village"
    assert check_code("441900003001007", "grid", "441900003001") is None


@pytest.mark.parametrize("code,level,parent,err", [
    ("44190", "city", None, "invalid_code"),
    ("44190A", "city", None, "invalid_code"),
    ("441901", "city", None, "invalid_code"),  # a city code ends in 00
    ("441300003", "town", "441900", "code_parent_mismatch"),
    ("441900000", "town", "441900", "invalid_code"),
    ("441900700", "town", "441900", "invalid_code"),
    ("441900003000", "village", "441900003", "invalid_code"),
    ("441900003001000", "grid", "441900003001", "invalid_code"),
    ("441900003002001", "grid", "441900003001", "code_parent_mismatch"),
    ("991900", "city", None, "invalid_code"),
])
def test_malformed_codes_are_rejected_with_a_stable_code(code, level, parent, err):
    with pytest.raises(BadInput) as exc:
        check_code(code, level, parent)
    assert exc.value.code == err
    assert exc.value.message_zh  # a Chinese message for the user


def test_grid_code_is_village_code_plus_three_digit_sequence():
    assert grid_code("441900003001", 7) == "441900003001007"
    with pytest.raises(ValueError):
        grid_code("441900003001", 1000)


@given(st.integers(1, 999))
def test_every_grid_sequence_makes_a_valid_grid_code(seq):
    code = grid_code("441900003001", seq)
    assert check_code(code, "grid", "441900003001") is None
    assert int(code[-3:]) == seq


def test_segment_kinds_follow_the_statistical_ranges():
    assert [town_kind(s) for s in (1, 99, 100, 199, 200, 399, 400, 599)] == [
        "subdistrict", "subdistrict", "town", "town", "township", "township", "zone", "zone"]
    assert [village_kind(s) for s in (1, 199, 200, 399, 498)] == [
        "community", "community", "village", "village", "other"]
