"""Request shapes of the analytics API."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Query
from pydantic import BaseModel, Field


class CutParams:
    """Query parameters that choose a cut (used as a FastAPI dependency by the API and the pages)."""

    def __init__(self, period: str = Query("month", description="day / week / month / quarter / year / custom"),
                 value: str | None = Query(None, description="2026-10-03 / 2026-W40 / 2026-10 / 2026-Q3 / 2026"),
                 date_from: date | None = Query(None, description="custom: first day"),
                 date_to: date | None = Query(None, description="custom: last day (inclusive)"),
                 region: str | None = Query(None, description="区域代码(市、镇街、村、网格),默认为本人辖区"),
                 department: str | None = Query(None, description="部门代码"),
                 category: str | None = Query(None, description="事项分类代码(任一级)"),
                 source: str | None = Query(None, description="grid_worker / citizen / hotline / department"),
                 urgency: str | None = Query(None, description="normal / urgent")) -> None:
        self.period, self.value, self.date_from, self.date_to = period, value, date_from, date_to
        self.region, self.department, self.category = region or None, department or None, category or None
        self.source, self.urgency = source or None, urgency or None

    def filters(self) -> dict[str, Any]:
        return {"region": self.region, "department": self.department, "category": self.category,
                "source": self.source, "urgency": self.urgency}


class TermIn(BaseModel):
    kpi: str
    weight: float
    invert: bool = False


class RankingConfigIn(BaseModel):
    name: str = "custom"
    label: str = "自定义"
    terms: list[TermIn] = Field(default_factory=list)
    volume_measure: str = "accepted"
    min_volume: int = 20
    bottom_n: int = 3
    kpi: dict[str, Any] = Field(default_factory=dict)


class StoredConfigIn(BaseModel):
    """A stored ranking configuration (its key becomes custom-<id>)."""

    label: str
    terms: list[TermIn] = Field(default_factory=list)
    volume_measure: str = "accepted"
    min_volume: int = 10
    bottom_n: int = 3
    kpi: dict[str, Any] = Field(default_factory=dict)


class BulletinIn(BaseModel):
    region: str | None = None
    month: str = Field(..., description="YYYY-MM")
    preset: str = "digital_urban"
