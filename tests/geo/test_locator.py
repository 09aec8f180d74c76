"""The in-memory locator on a synthetic 4×4 block of grids: inside, borders, snapping, outside."""
import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.geo import crs
from civicgrid.geo.locator import GridRef, Locator

X0, Y0, STEP = 113.70, 22.95, 0.01  # 16 cells of about 1 km
CELLS = [shapely.box(X0 + i * STEP, Y0 + j * STEP, X0 + (i + 1) * STEP, Y0 + (j + 1) * STEP)
         for j in range(4) for i in range(4)]
REFS = [GridRef(id=k, code=f"441900003001{k + 1:03d}", name=f"第{k + 1}网格", ancestors=()) for k in range(16)]
LOC = Locator(REFS, CELLS, snap_m=50)

inside = st.tuples(st.integers(0, 3), st.integers(0, 3), st.floats(0.01, 0.99), st.floats(0.01, 0.99))


@settings(max_examples=200, deadline=None)
@given(inside)
def test_a_point_inside_a_cell_gets_that_cell(p):
    i, j, fx, fy = p
    idx, dist = LOC.locate_many(np.array([X0 + (i + fx) * STEP]), np.array([Y0 + (j + fy) * STEP]))
    assert idx[0] == j * 4 + i and dist[0] == 0


def test_a_point_on_a_shared_border_gets_one_cell_deterministically():
    lon, lat = np.array([X0 + STEP]), np.array([Y0 + 0.5 * STEP])  # the border of cells 0 and 1
    a = LOC.locate_many(lon, lat)[0][0]
    assert a in (0, 1) and all(LOC.locate_many(lon, lat)[0][0] == a for _ in range(5))


@settings(max_examples=60, deadline=None)
@given(st.floats(1.0, 45.0), st.floats(0.05, 0.95))
def test_a_point_just_outside_snaps_to_the_nearest_cell_with_the_distance_in_metres(metres, fy):
    kx, _ = crs.local_metric_frame(Y0 + 0.02)
    lon = X0 + 4 * STEP + metres / kx  # east of the block, beside cells 3, 7, 11, 15
    lat = Y0 + (2 + fy) * STEP         # beside cell 11
    idx, dist = LOC.locate_many(np.array([lon]), np.array([lat]))
    assert idx[0] == 11
    true = crs.haversine_m(X0 + 4 * STEP, lat, lon, lat)
    assert abs(dist[0] - true) < 0.5 + 0.01 * true


def test_beyond_the_snap_distance_is_outside_and_empty_input_is_fine():
    kx, _ = crs.local_metric_frame(Y0)
    idx, dist = LOC.locate_many(np.array([X0 - 80 / kx, 120.0]), np.array([Y0 + 0.005, 30.0]))
    assert list(idx) == [-1, -1] and np.isinf(dist).all()
    idx, dist = LOC.locate_many(np.array([]), np.array([]))
    assert idx.size == 0


def test_bulk_equals_one_by_one():
    rng = np.random.default_rng(3)
    lon = rng.uniform(X0 - 0.002, X0 + 4 * STEP + 0.002, 5000)
    lat = rng.uniform(Y0 - 0.002, Y0 + 4 * STEP + 0.002, 5000)
    idx, dist = LOC.locate_many(lon, lat)
    for k in range(0, 5000, 97):
        ref, d = LOC.locate(float(lon[k]), float(lat[k]))
        assert (ref.id if ref else -1) == idx[k] and (d == dist[k] or (np.isinf(d) and np.isinf(dist[k])))
