"""Pydantic models of the case API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ReportIn(BaseModel):
    """A new case. Give a point (lon/lat in wgs84, gcj02 or bd09) or, without one, the grid code."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "title": "岗贝路口暴露垃圾", "category": "E0102", "lon": 113.7602, "lat": 23.0535, "crs": "gcj02",
        "description": "路口东侧一堆生活垃圾,约 2 立方米", "urgency": "normal", "address": "东城街道岗贝路 12 号旁"}})

    title: str = Field(min_length=1, max_length=200, description="标题")
    category: str = Field(description="事项分类编码(小类或细类)")
    lon: float | None = None
    lat: float | None = None
    crs: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    grid_code: str | None = Field(default=None, description="无坐标时指定网格")
    address: str = Field(default="", max_length=300)
    description: str = Field(default="", max_length=5000)
    urgency: Literal["normal", "urgent"] = "normal"
    source: Literal["grid_worker", "citizen", "hotline", "department"] | None = None
    external_key: str | None = Field(default=None, max_length=60, description="外部编号,如 12345 工单号")
    reporter_name: str | None = Field(default=None, max_length=60)
    reporter_phone: str | None = Field(default=None, max_length=20)


class ActionIn(BaseModel):
    """One action on a case. `version` is the case version the user saw (stale: 409)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "version": 3, "note": "已派城管执法办处理", "department": "441900003-urban_management"}})

    version: int | None = None
    note: str | None = Field(default=None, max_length=2000)
    department: str | None = None
    category: str | None = None
    urgency: Literal["normal", "urgent"] | None = None
    result: Literal["pass", "fail"] | None = None
    satisfaction: Literal["satisfied", "basically_satisfied", "dissatisfied"] | None = None
    hours: float | None = None
    grade: Literal["ordinary", "yellow", "red"] | None = None
    master: str | None = None
    target_region: str | None = None
    photos: list[int] | None = None
    lon: float | None = None
    lat: float | None = None

    def payload(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None and k != "version"}


class CaseList(BaseModel):
    total: int
    items: list[dict[str, Any]]


class BulkItem(BaseModel):
    number: str
    version: int | None = Field(None, description="the version the user saw; a case changed since is refused (409)")


class BulkIn(BaseModel):
    """One action for several cases: dispatch (department, note) or supervise (grade, note)."""

    items: list[BulkItem] = Field(min_length=1, max_length=100)
    department: str | None = None
    grade: str | None = None
    note: str | None = None
