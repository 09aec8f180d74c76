"""The demo's partitioner tiles a parent polygon into n contiguous, similar pieces."""
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon

from civicgrid.geo.partition import order_west_east_north_south, partition

L_SHAPE = Polygon([(113.70, 22.90), (113.80, 22.90), (113.80, 22.93), (113.73, 22.93),
                   (113.73, 23.00), (113.70, 23.00)])


def _check_tiling(parent, pieces, n):
    assert len(pieces) == n
    assert all(p.is_valid and not p.is_empty for p in pieces)
    union = shapely.union_all(pieces)
    assert abs(union.area - parent.area) / parent.area < 1e-6
    assert union.symmetric_difference(parent).area / parent.area < 1e-6
    overlap = sum(p.area for p in pieces) - union.area
    assert overlap / parent.area < 1e-6


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=10_000))
def test_tiles_an_l_shaped_parent(n, seed):
    pieces = partition(L_SHAPE, n, seed=seed)
    _check_tiling(L_SHAPE, pieces, n)
    # contiguous: a connected parent gives single polygons
    assert all(p.geom_type == "Polygon" for p in pieces)


def test_pieces_have_similar_area():
    pieces = partition(L_SHAPE, 12, seed=7)
    areas = sorted(p.area for p in pieces)
    assert areas[-1] / areas[0] < 3.5


def test_same_seed_same_result():
    a = partition(L_SHAPE, 8, seed=3)
    b = partition(L_SHAPE, 8, seed=3)
    assert all(x.equals(y) for x, y in zip(a, b))


def test_reading_order_runs_north_to_south_then_west_to_east():
    boxes = [shapely.box(x, y, x + 1, y + 1) for y in (1, 0) for x in (2, 0, 1)]
    # rows: y=1 (north) first, then y=0; within a row x ascending
    order = order_west_east_north_south(boxes)
    got = [(boxes[i].bounds[0], boxes[i].bounds[1]) for i in order]
    assert got == [(0, 1), (1, 1), (2, 1), (0, 0), (1, 0), (2, 0)]
