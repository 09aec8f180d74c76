"""Matter categories (a tree: kind → class → subclass → detail) and the revision history of their rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicgrid.clock import now
from civicgrid.db import Base, UTCDateTime

KINDS = ("component", "event", "social")
LEVELS = ("kind", "class", "subclass", "detail")
STEPS = ("accept", "dispatch", "handle", "verify")
URGENCIES = ("normal", "urgent")


class MatterCategory(Base):
    """One node of the catalogue. Leaves (subclass or detail) carry the rules cases are filed under."""

    __tablename__ = "matter_categories"
    __table_args__ = (
        CheckConstraint("level in ('kind','class','subclass','detail')", name="level"),
        CheckConstraint("kind in ('component','event','social')", name="kind"),
        CheckConstraint("hours_mode in ('working','natural')", name="hours_mode"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("matter_categories.id"), default=None, index=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    # rules (meaningful on leaves)
    filing_standard: Mapped[str] = mapped_column(Text, default="")
    closing_standard: Mapped[str] = mapped_column(Text, default="")
    # lead department kind per level, e.g. {"town": "urban_management", "city": "urban_management"}
    lead_departments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # hours per step per urgency, e.g. {"normal": {"accept": 1, "dispatch": 1, "handle": 24, "verify": 2}}
    time_limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    hours_mode: Mapped[str] = mapped_column(String(10), default="working")
    village_may_close: Mapped[bool] = mapped_column(default=False)
    escalate_on_overdue: Mapped[bool] = mapped_column(default=False)
    public: Mapped[bool] = mapped_column(default=True)  # citizens may pick it on the portal
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    @property
    def is_leaf_level(self) -> bool:
        return self.level in ("subclass", "detail")


class MatterRevision(Base):
    """Every saved state of a category's rules: who changed what, when (the catalogue's own audit)."""

    __tablename__ = "matter_revisions"
    __table_args__ = (UniqueConstraint("category_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("matter_categories.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
