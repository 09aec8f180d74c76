"""Pydantic models of the geography API."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RegionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "code": "441900003001", "name": "岗贝社区居民委员会", "level": "village", "kind": "community",
        "parent_code": "441900003", "centroid": [113.7612, 23.0405], "area_km2": 0.61,
        "valid_from": "2023-06-30", "valid_to": None}})

    code: str
    name: str
    level: str
    kind: str | None = None
    parent_code: str | None = None
    centroid: tuple[float, float] | None = None
    area_km2: float | None = None
    valid_from: date
    valid_to: date | None = None


class RegionNode(BaseModel):
    code: str
    name: str
    level: str
    children: list[RegionNode] = Field(default_factory=list)
    child_count: int = 0


class PersonRef(BaseModel):
    username: str
    display_name: str


class RegionDetail(RegionOut):
    model_config = ConfigDict(json_schema_extra={"example": {
        "code": "441900003001001", "name": "岗贝社区第1网格", "level": "grid", "parent_code": "441900003001",
        "centroid": [113.7601, 23.0411], "area_km2": 0.12, "valid_from": "2023-06-30",
        "ancestors": [{"level": "city", "code": "441900", "name": "东莞市"},
                      {"level": "town", "code": "441900003", "name": "东城街道"},
                      {"level": "village", "code": "441900003001", "name": "岗贝社区居民委员会"}],
        "counts": {}, "workers": [{"username": "gw0001", "display_name": "陈志强"}]}})

    ancestors: list[dict[str, str]] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    workers: list[PersonRef] = Field(default_factory=list)
    centre: str | None = None


CrsName = Literal["wgs84", "gcj02", "bd09"]


class LocateIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"lon": 113.7518, "lat": 23.0207, "crs": "gcj02"}})

    lon: float = Field(description="经度 longitude")
    lat: float = Field(description="纬度 latitude")
    crs: CrsName = Field(default="wgs84", description="坐标系: wgs84 (GPS), gcj02 (高德/腾讯), bd09 (百度)")


class LocateOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "status": "found", "message": "位于 东城街道 岗贝社区 第1网格", "lon_wgs84": 113.7469, "lat_wgs84": 23.0232,
        "distance_m": 0.0, "grid": {"code": "441900003001001", "name": "岗贝社区第1网格"},
        "ancestors": [{"level": "city", "code": "441900", "name": "东莞市"}]}})

    status: Literal["found", "snapped", "outside_city", "outside_china", "coordinates_swapped", "invalid"]
    message: str
    lon_wgs84: float | None = None
    lat_wgs84: float | None = None
    distance_m: float | None = None
    grid: dict[str, str] | None = None
    ancestors: list[dict[str, str]] = Field(default_factory=list)


class BulkLocateIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "crs": "wgs84", "points": [[113.7518, 23.0207], [113.95, 22.95]]}})

    crs: CrsName = "wgs84"
    points: list[tuple[float, float]] = Field(max_length=100_000, description="[[lon, lat], ...]")


class BulkLocateOut(BaseModel):
    results: list[LocateOut]
    counts: dict[str, int]


class ImportIssue(BaseModel):
    feature: int
    code: str | None = None
    error: str
    message: str


class ImportReport(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "created": 12, "replaced": 0, "warnings": [
            {"feature": 3, "code": "441900003001002", "error": "repaired_geometry",
             "message": "边界自相交,已自动修复(面积变化 0.01%)"}]}})

    created: int = 0
    replaced: int = 0
    warnings: list[ImportIssue] = Field(default_factory=list)


GeoJSON = dict[str, Any]
