"""Coordinate systems used by Chinese map and phone software, converted to and from WGS-84.

* WGS-84: GPS receivers, surveying (CGCS2000 agrees within decimetres). The one system we store.
* GCJ-02: the obfuscated "Mars" system of Amap (高德), Tencent maps and most phone map SDKs in China.
* BD-09: Baidu's system, GCJ-02 with a second rotation/offset.

The forward WGS-84 → GCJ-02 transform is the publicly documented polynomial; it has no closed-form
inverse, so GCJ-02 → WGS-84 iterates the forward transform (fixed point, converges to < 1e-7 degrees,
i.e. centimetres, in a handful of steps). Outside mainland China the shift is not applied, as the
providers do. Every function takes scalars or numpy arrays and returns the same shape.
"""
from __future__ import annotations

import math
from enum import Enum
from typing import overload

import numpy as np

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 polynomial
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
_EARTH_R = 6371008.8  # mean Earth radius, metres (IUGG)


class CRS(str, Enum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


# what users are shown when they choose the system of coordinates they enter or upload
CRS_LABELS = {"wgs84": "WGS-84(GPS、天地图)", "gcj02": "GCJ-02(高德、腾讯)", "bd09": "BD-09(百度)"}

_ALIASES = {
    "wgs84": CRS.WGS84, "wgs-84": CRS.WGS84, "epsg:4326": CRS.WGS84, "gps": CRS.WGS84, "cgcs2000": CRS.WGS84,
    "gcj02": CRS.GCJ02, "gcj-02": CRS.GCJ02, "amap": CRS.GCJ02, "gaode": CRS.GCJ02, "tencent": CRS.GCJ02,
    "bd09": CRS.BD09, "bd-09": CRS.BD09, "baidu": CRS.BD09,
}


def parse_crs(name: str | CRS) -> CRS:
    """Accept an enum member or a common spelling ('WGS-84', 'gcj02', 'baidu', ...)."""
    if isinstance(name, CRS):
        return name
    try:
        return _ALIASES[str(name).strip().lower()]
    except KeyError:
        raise ValueError(f"unknown coordinate system {name!r}; use wgs84, gcj02 or bd09") from None


def _ret(like_lon, lon, lat):
    """Return python floats for scalar input, arrays otherwise."""
    if np.ndim(like_lon) == 0:
        return float(lon), float(lat)
    return lon, lat


def out_of_china(lon, lat):
    """True where the point lies outside the rough mainland-China box in which GCJ-02 applies."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    res = (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)
    return bool(res) if res.ndim == 0 else res


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (degrees) at a WGS-84 point."""
    x = lon - 105.0
    y = lat - 35.0
    sq = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq + common
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq + common
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqm = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqm) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqm * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat):
    lo = np.asarray(lon, dtype=float)
    la = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lo, la)
    inside = ~np.asarray(out_of_china(lo, la))
    return _ret(lon, np.where(inside, lo + dlon, lo), np.where(inside, la + dlat, la))


def gcj02_to_wgs84(lon, lat, *, tol: float = 1e-9, max_iter: int = 30):
    """Exact inverse by fixed-point iteration: find w with wgs84_to_gcj02(w) == g."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    inside = ~np.asarray(out_of_china(glon, glat))
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        dlon, dlat = _delta(wlon, wlat)
        nlon, nlat = glon - dlon, glat - dlat
        done = np.all(np.abs(nlon - wlon) < tol) and np.all(np.abs(nlat - wlat) < tol)
        wlon, wlat = nlon, nlat
        if done:
            break
    return _ret(lon, np.where(inside, wlon, glon), np.where(inside, wlat, glat))


def gcj02_to_bd09(lon, lat):
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return _ret(lon, z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006)


def bd09_to_gcj02(lon, lat, *, tol: float = 1e-10, max_iter: int = 10):
    """Baidu's published approximate inverse, refined by fixed-point iteration to be exact."""
    blon = np.asarray(lon, dtype=float)
    blat = np.asarray(lat, dtype=float)
    x, y = blon - 0.0065, blat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(max_iter):
        flon, flat = gcj02_to_bd09(glon, glat)
        elon, elat = blon - flon, blat - flat
        glon, glat = glon + elon, glat + elat
        if np.all(np.abs(elon) < tol) and np.all(np.abs(elat) < tol):
            break
    return _ret(lon, glon, glat)


def wgs84_to_bd09(lon, lat):
    g = wgs84_to_gcj02(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return _ret(lon, *gcj02_to_bd09(*g))


def bd09_to_wgs84(lon, lat):
    g = bd09_to_gcj02(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return _ret(lon, *gcj02_to_wgs84(*g))


_TO = {CRS.WGS84: lambda x, y: (x, y), CRS.GCJ02: gcj02_to_wgs84, CRS.BD09: bd09_to_wgs84}
_FROM = {CRS.WGS84: lambda x, y: (x, y), CRS.GCJ02: wgs84_to_gcj02, CRS.BD09: wgs84_to_bd09}


@overload
def to_wgs84(lon: float, lat: float, source: str | CRS) -> tuple[float, float]: ...
@overload
def to_wgs84(lon: np.ndarray, lat: np.ndarray, source: str | CRS) -> tuple[np.ndarray, np.ndarray]: ...
def to_wgs84(lon, lat, source):
    """Convert from `source` (wgs84 / gcj02 / bd09 or an alias) to WGS-84."""
    return _TO[parse_crs(source)](lon, lat)


def from_wgs84(lon, lat, target):
    """Convert WGS-84 to `target`."""
    return _FROM[parse_crs(target)](lon, lat)


def local_metric_frame(lat0: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude near latitude lat0 (equirectangular frame).

    Within a city (tens of km) the error of this frame against geodesic distance is far below a
    metre per hundred metres, which is all the snapping distance needs.
    """
    rad = math.radians(float(lat0))
    m_per_deg_lat = 111132.92 - 559.82 * math.cos(2 * rad) + 1.175 * math.cos(4 * rad)
    m_per_deg_lon = 111412.84 * math.cos(rad) - 93.5 * math.cos(3 * rad)
    return m_per_deg_lon, m_per_deg_lat


def haversine_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres."""
    lo1, la1, lo2, la2 = (np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2))
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    d = 2 * _EARTH_R * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return float(d) if np.ndim(d) == 0 else d
