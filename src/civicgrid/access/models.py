"""Departments, command centres, users, role assignments with scopes, API keys, sessions, audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicgrid.clock import now
from civicgrid.db import Base, UTCDateTime


# the kinds of functional departments and their short Chinese names (a city may add more)
DEPARTMENT_KINDS: dict[str, str] = {
    "public_security": "公安",
    "fire": "消防",
    "housing": "住建",
    "urban_management": "城管执法",
    "market_regulation": "市场监管",
    "emergency": "应急管理",
    "environment": "生态环境",
    "transport": "交通运输",
    "water": "水务",
    "health": "卫健",
    "human_resources": "人社",
    "civil_affairs": "民政",
    "justice": "司法",
    "education": "教育",
}


class Department(Base):
    """A functional department (职能部门) at city or town level, answerable for matters in its remit."""

    __tablename__ = "departments"
    __table_args__ = (CheckConstraint("level in ('city','town')", name="level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(10))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), default=None)
    active: Mapped[bool] = mapped_column(default=True)


class CommandCentre(Base):
    """A command centre (综治中心/指挥调度中心): one per city and town, a workstation per village."""

    __tablename__ = "command_centres"
    __table_args__ = (CheckConstraint("level in ('city','district','town','village')", name="level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), unique=True)
    phone: Mapped[str | None] = mapped_column(String(30), default=None)


class User(Base):
    """A person who may log in (staff, grid worker, citizen) or an integration's service account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class RoleAssignment(Base):
    """A role held by a user within a scope: a region subtree or a department."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "region_id", "department_id"),
        CheckConstraint("not (region_id is not null and department_id is not null)", name="one_scope"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(30))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), default=None, index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class GridAssignment(Base):
    """A grid worker's duty in a grid (a worker may hold several grids, a grid several workers)."""

    __tablename__ = "grid_assignments"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), primary_key=True, index=True)
    since: Mapped[date] = mapped_column(Date)


class ApiKey(Base):
    """A bearer key for an integration; only a SHA-256 of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class WebSession(Base):
    """A page log-in; the cookie carries the token, the table its SHA-256."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Append-only audit log: log-ins, failed log-ins, admin changes, unmasking."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    actor_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str | None] = mapped_column(String(40), default=None)
    object_id: Mapped[str | None] = mapped_column(String(60), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
