"""What the portal keeps beside a case: the reporter's query code, and hashes used for rate limits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from civicgrid.clock import now
from civicgrid.db import Base, UTCDateTime


class PublicReport(Base):
    """One case reported through the public portal (no account). Only keyed hashes are stored here."""

    __tablename__ = "public_reports"
    __table_args__ = (Index("ix_public_reports_ip", "ip_hash", "created_at"),
                      Index("ix_public_reports_phone", "phone_hash", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64))          # the 查询码 given to the reporter
    phone_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    ip_hash: Mapped[str] = mapped_column(String(64))
    challenge: Mapped[str] = mapped_column(String(32), unique=True)  # a human check is used once
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
