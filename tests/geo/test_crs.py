"""Coordinate conversions: known offsets in Dongguan, exact inverses, vectorised forms."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.geo import crs

# Dongguan city hall area (WGS-84)
LON, LAT = 113.7518, 23.0207

lon_cn = st.floats(min_value=98.0, max_value=134.0)
lat_cn = st.floats(min_value=18.0, max_value=53.0)


def test_dongguan_shifts_match_the_published_magnitudes():
    glon, glat = crs.wgs84_to_gcj02(LON, LAT)
    blon, blat = crs.wgs84_to_bd09(LON, LAT)
    # reference.md: ~612 m to GCJ-02, ~1.25 km to BD-09; GCJ-02 moves east and north here
    assert 550 < crs.haversine_m(LON, LAT, glon, glat) < 700
    assert 1000 < crs.haversine_m(LON, LAT, blon, blat) < 1400
    assert glon > LON and glat < LAT + 0.01


def test_known_amap_pair():
    # Tiananmen flagpole: WGS-84 (116.391248, 39.905446) is shown by Amap at about (116.397477, 39.906851)
    glon, glat = crs.wgs84_to_gcj02(116.391248, 39.905446)
    assert crs.haversine_m(glon, glat, 116.397477, 39.906851) < 30


@settings(max_examples=200, deadline=None)
@given(lon_cn, lat_cn)
def test_gcj02_inverse_is_exact(lon, lat):
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert crs.haversine_m(lon, lat, *back) < 0.01


@settings(max_examples=200, deadline=None)
@given(lon_cn, lat_cn)
def test_bd09_round_trip(lon, lat):
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert crs.haversine_m(lon, lat, *back) < 0.05


def test_outside_china_is_not_shifted():
    assert crs.out_of_china(2.35, 48.85)  # Paris
    assert crs.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert not crs.out_of_china(LON, LAT)


def test_vectorised_equals_scalar():
    lon = np.array([113.75, 113.9, 114.1])
    lat = np.array([22.9, 23.0, 22.7])
    vx, vy = crs.to_wgs84(lon, lat, "bd09")
    for i in range(3):
        sx, sy = crs.to_wgs84(float(lon[i]), float(lat[i]), "BD-09")
        assert vx[i] == pytest.approx(sx, abs=1e-12) and vy[i] == pytest.approx(sy, abs=1e-12)


def test_aliases_and_unknown_name():
    assert crs.parse_crs("Amap") is crs.CRS.GCJ02
    assert crs.parse_crs("baidu") is crs.CRS.BD09
    with pytest.raises(ValueError):
        crs.parse_crs("epsg:3857")


def test_local_metric_frame_agrees_with_haversine():
    kx, ky = crs.local_metric_frame(LAT)
    d = crs.haversine_m(LON, LAT, LON + 0.01, LAT + 0.01)
    approx = ((0.01 * kx) ** 2 + (0.01 * ky) ** 2) ** 0.5
    assert abs(d - approx) / d < 0.005
