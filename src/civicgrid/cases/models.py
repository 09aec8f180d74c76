"""Cases (one table for every kind), their append-only timeline, photos, idempotency keys and the inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicgrid.clock import now
from civicgrid.db import Base, UTCDateTime


class Case(Base):
    """One problem going around the closed loop. Its state changes only through cases.engine.apply."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_open_due", "closed", "due_at"),
        Index("ix_cases_holder", "holder_region_id", "state"),
        Index("ix_cases_department", "department_id", "state"),
        Index("ix_cases_region_path", "region_path"),
        UniqueConstraint("source", "external_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)       # shown to people, e.g. 4419-20261129-000123
    kind: Mapped[str] = mapped_column(String(20), default="event")      # event | hazard | dispute | petition | task
    state: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    closed: Mapped[bool] = mapped_column(default=False)                 # in a terminal state (closed, voided, merged)
    source: Mapped[str] = mapped_column(String(20))                     # grid_worker | citizen | hotline | department
    external_key: Mapped[str | None] = mapped_column(String(60), default=None)  # e.g. the hotline ticket number
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    # category and the rules it was filed under (a snapshot: later catalogue edits do not change them)
    category_id: Mapped[int] = mapped_column(ForeignKey("matter_categories.id"), index=True)
    category_code: Mapped[str] = mapped_column(String(20))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    urgency: Mapped[str] = mapped_column(String(10), default="normal")
    # where: WGS-84, the input system, and the grid (the version valid when reported) with its ancestors
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    source_crs: Mapped[str] = mapped_column(String(10), default="wgs84")
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), default=None, index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), default=None)
    town_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), default=None)
    region_path: Mapped[str] = mapped_column(String(200), default="")  # the grid's path: scopes are prefixes
    # who holds it now: a command centre level and region, or a department
    level: Mapped[str] = mapped_column(String(10))                       # village | town | city
    holder_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    holder_path: Mapped[str] = mapped_column(String(200), default="")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), default=None)
    dispatched_by_level: Mapped[str | None] = mapped_column(String(10), default=None)
    # people (collect/handle separation is checked against these)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    reporter_name: Mapped[str] = mapped_column(String(60), default="")
    reporter_phone: Mapped[str] = mapped_column(String(120), default="")  # encrypted (registry.crypto); "" = none
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    verifier_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    # deadlines of the current step and the lights
    step: Mapped[str | None] = mapped_column(String(10), default=None)    # accept | dispatch | handle | verify
    step_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    handle_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # for on-time handling
    overdue: Mapped[bool] = mapped_column(default=False)   # the current step ran past due (set by the sweep)
    ever_overdue: Mapped[bool] = mapped_column(default=False)
    warned: Mapped[bool] = mapped_column(default=False)    # "due soon" sent for the current step
    # exceptions and counters
    supervision: Mapped[str | None] = mapped_column(String(10), default=None)  # ordinary | yellow | red
    extension_requested_hours: Mapped[float | None] = mapped_column(Float, default=None)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    returns: Mapped[int] = mapped_column(Integer, default=0)
    reworks: Mapped[int] = mapped_column(Integer, default=0)
    parked: Mapped[bool] = mapped_column(default=False)
    master_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None, index=True)
    satisfaction: Mapped[str | None] = mapped_column(String(20), default=None)
    # milestones
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    __mapper_args__ = {"version_id_col": version}  # a concurrent change makes the other UPDATE fail: 409


class TimelineEntry(Base):
    """One thing that happened to a case; never updated or deleted (the case's audit)."""

    __tablename__ = "case_timeline"
    __table_args__ = (UniqueConstraint("case_id", "seq"),
                      Index("ix_case_timeline_actor_action", "actor_id", "action"))  # who verified what

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    actor_name: Mapped[str] = mapped_column(String(60), default="")
    role: Mapped[str] = mapped_column(String(30), default="")
    action: Mapped[str] = mapped_column(String(30))
    from_state: Mapped[str | None] = mapped_column(String(20), default=None)
    to_state: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the action's payload and its effects
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    client: Mapped[str] = mapped_column(String(20), default="api")   # api | web | h5 | cli | system | demo


class Attachment(Base):
    """A photo on a case, stored by content hash behind the storage interface."""

    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("case_timeline.id"), default=None)
    key: Mapped[str] = mapped_column(String(120))
    thumb_key: Mapped[str] = mapped_column(String(120))
    mime: Mapped[str] = mapped_column(String(30))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class IdempotencyKey(Base):
    """A retried intake with the same key returns the same case; a different body is a 409."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("actor_key", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_key: Mapped[str] = mapped_column(String(60))   # user id, or "anon:<ip>" for the public portal
    key: Mapped[str] = mapped_column(String(100))
    body_hash: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Notification(Base):
    """The inbox: one message to one user about one case."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None)
    kind: Mapped[str] = mapped_column(String(20))  # new_task | returned | rework | due_soon | overdue | supervised | escalated
    message: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class HolidayNotice(Base):
    """An official holiday notice for a year, loaded by an administrator (the working calendar's data)."""

    __tablename__ = "holiday_notices"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200), default="")
    loaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
