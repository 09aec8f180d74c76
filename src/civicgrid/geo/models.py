"""Regions: one tree from city to grid, with boundaries stored as WGS-84 WKB."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (CheckConstraint, Date, Float, ForeignKey, Index, Integer, LargeBinary, String,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from civicgrid.clock import now
from civicgrid.db import Base, UTCDateTime


class Level(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    TOWN = "town"
    VILLAGE = "village"
    GRID = "grid"


LEVEL_ORDER = [Level.CITY, Level.DISTRICT, Level.TOWN, Level.VILLAGE, Level.GRID]
LEVEL_LABELS = {Level.CITY: "市", Level.DISTRICT: "区县", Level.TOWN: "镇街", Level.VILLAGE: "村(社区)",
                Level.GRID: "网格"}


class Region(Base):
    """A node of the city's tree; a grid is a region of level `grid` under a village."""

    __tablename__ = "regions"
    __table_args__ = (
        UniqueConstraint("code", "valid_from"),
        CheckConstraint("level in ('city','district','town','village','grid')", name="level"),
        CheckConstraint("valid_to is null or valid_to > valid_from", name="validity"),
        Index("ix_regions_parent_level", "parent_id", "level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(15), index=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str | None] = mapped_column(String(20), default=None)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), default=None)
    path: Mapped[str] = mapped_column(String(200), index=True, default="")
    geom_wkb: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    min_lon: Mapped[float | None] = mapped_column(Float, default=None)
    min_lat: Mapped[float | None] = mapped_column(Float, default=None)
    max_lon: Mapped[float | None] = mapped_column(Float, default=None)
    max_lat: Mapped[float | None] = mapped_column(Float, default=None)
    centroid_lon: Mapped[float | None] = mapped_column(Float, default=None)
    centroid_lat: Mapped[float | None] = mapped_column(Float, default=None)
    area_km2: Mapped[float | None] = mapped_column(Float, default=None)
    valid_from: Mapped[date] = mapped_column(Date, default=date(2000, 1, 1))
    valid_to: Mapped[date | None] = mapped_column(Date, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    def is_current(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or self.valid_to > on)


class GeoState(Base):
    """One row: a counter bumped whenever boundaries change, so every process rebuilds its index."""

    __tablename__ = "geo_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    boundary_version: Mapped[int] = mapped_column(Integer, default=0)
