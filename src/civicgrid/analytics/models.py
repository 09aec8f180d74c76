"""Analytics tables: per-case facts, daily aggregates, step-time histograms, stored rankings and bulletins.

The aggregate tables carry no foreign keys (0 stands for "none"): they are derived data, rebuildable from
the cases by `civicgrid analytics rebuild`, and kept in step with every change of a case in the same
transaction (aggregates.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicgrid.analytics.kpis import COUNTS, DURATIONS
from civicgrid.clock import now
from civicgrid.db import Base, UTCDateTime

KEY_COLUMNS = ("day", "town_id", "village_id", "grid_id", "category_id", "department_id", "source", "urgency")
TOWN_KEY_COLUMNS = ("day", "town_id", "category_id", "department_id", "source", "urgency")  # the town rollup
SUMMARY_KEY_COLUMNS = ("day", "town_id", "category_id")  # the monthly summary: no department, source, urgency


def _measure_columns(cls_dict: dict[str, Any]) -> None:
    for m in COUNTS:
        cls_dict[m] = mapped_column(Integer, default=0, nullable=False)
    for m in DURATIONS:
        cls_dict[m] = mapped_column(Float if m.endswith("_hours") else Integer, default=0, nullable=False)


class _Buckets:
    """A histogram row: how many cases took a step within one time bucket (kpis.bucket_of)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step: Mapped[str] = mapped_column(String(10))
    bucket: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer, default=0)


class _TownKeyed:
    day: Mapped[date] = mapped_column(Date)  # the local (China) date the case was reported: its cohort
    town_id: Mapped[int] = mapped_column(Integer, default=0)
    category_id: Mapped[int] = mapped_column(Integer, default=0)
    department_id: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(20), default="")
    urgency: Mapped[str] = mapped_column(String(10), default="")


class _Keyed:
    day: Mapped[date] = mapped_column(Date)  # the local (China) date the case was reported: its cohort
    town_id: Mapped[int] = mapped_column(Integer, default=0)
    village_id: Mapped[int] = mapped_column(Integer, default=0)
    grid_id: Mapped[int] = mapped_column(Integer, default=0)
    category_id: Mapped[int] = mapped_column(Integer, default=0)
    department_id: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(20), default="")
    urgency: Mapped[str] = mapped_column(String(10), default="")


class CaseFact(_Keyed, Base):
    """What one case contributes now: its cut keys, raw counts (0/1 or counts) and step-time buckets."""

    __tablename__ = "analytics_case_facts"

    case_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hist: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[step, bucket], ...]
    _measure_columns(locals())


class DailyAggregate(_Keyed, Base):
    """Summed facts per reporting day × grid × category × department × source × urgency."""

    __tablename__ = "analytics_daily"
    __table_args__ = (UniqueConstraint(*KEY_COLUMNS, name="uq_analytics_daily_key"),
                      Index("ix_analytics_daily_day_town", "day", "town_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    _measure_columns(locals())


class StepHistogram(_Keyed, _Buckets, Base):
    """Number of cases per step-time bucket, with the same keys (percentiles of step times)."""

    __tablename__ = "analytics_step_hist"
    __table_args__ = (UniqueConstraint(*KEY_COLUMNS, "step", "bucket", name="uq_analytics_step_hist_key"),
                      Index("ix_analytics_step_hist_day_town", "day", "town_id"))


class TownDailyAggregate(_TownKeyed, Base):
    """The same sums without village and grid: what city and town dashboards read (far fewer rows)."""

    __tablename__ = "analytics_daily_town"
    __table_args__ = (UniqueConstraint(*TOWN_KEY_COLUMNS, name="uq_analytics_daily_town_key"),
                      Index("ix_analytics_daily_town_day", "day", "town_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    _measure_columns(locals())


class TownStepHistogram(_TownKeyed, _Buckets, Base):
    __tablename__ = "analytics_step_hist_town"
    __table_args__ = (UniqueConstraint(*TOWN_KEY_COLUMNS, "step", "bucket", name="uq_analytics_step_hist_town_key"),
                      Index("ix_analytics_step_hist_town_day", "day", "town_id"))


class TownMonthlyAggregate(_TownKeyed, Base):
    """The town rollup per month (`day` holds the month's first day): whole-month periods read this."""

    __tablename__ = "analytics_monthly_town"
    __table_args__ = (UniqueConstraint(*TOWN_KEY_COLUMNS, name="uq_analytics_monthly_town_key"),
                      Index("ix_analytics_monthly_town_day", "day", "town_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    _measure_columns(locals())


class TownMonthlyHistogram(_TownKeyed, _Buckets, Base):
    __tablename__ = "analytics_step_hist_monthly_town"
    __table_args__ = (UniqueConstraint(*TOWN_KEY_COLUMNS, "step", "bucket",
                                       name="uq_analytics_step_hist_monthly_town_key"),
                      Index("ix_analytics_step_hist_monthly_town_day", "day", "town_id"))


class _SummaryKeyed:
    day: Mapped[date] = mapped_column(Date)  # the month's first day
    town_id: Mapped[int] = mapped_column(Integer, default=0)
    category_id: Mapped[int] = mapped_column(Integer, default=0)


class MonthlySummary(_SummaryKeyed, Base):
    """Town × category × month: what the city and town dashboards read for whole months without other filters."""

    __tablename__ = "analytics_monthly_summary"
    __table_args__ = (UniqueConstraint(*SUMMARY_KEY_COLUMNS, name="uq_analytics_monthly_summary_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    _measure_columns(locals())


class MonthlySummaryHistogram(_SummaryKeyed, _Buckets, Base):
    __tablename__ = "analytics_step_hist_monthly_summary"
    __table_args__ = (UniqueConstraint(*SUMMARY_KEY_COLUMNS, "step", "bucket",
                                       name="uq_analytics_step_hist_monthly_summary_key"),)


class StoredRanking(Base):
    """A ranking as published (发布排名): its period, scope, the configuration used (a copy, under its key in
    `preset`: a preset name or custom-<id>) and the table, never recomputed; created_by/created_at say who
    published it and when."""

    __tablename__ = "analytics_rankings"
    __table_args__ = (UniqueConstraint("unit", "scope_region_id", "period_start", "period_end", "preset",
                                       name="uq_analytics_rankings_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit: Mapped[str] = mapped_column(String(12))             # town | village | department
    scope_region_id: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    preset: Mapped[str] = mapped_column(String(40))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    rows: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    created_by: Mapped[int | None] = mapped_column(Integer, default=None)


class RankingConfigRecord(Base):
    """A custom ranking configuration (terms, minimum volume, bottom N) set by city staff on /assess/configs.

    Selected by its key `custom-<id>`; the shipped presets stay in code (rankings.PRESETS). Editing one bumps
    `revision`; published rankings keep the copy of the configuration they were computed with."""

    __tablename__ = "analytics_ranking_configs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(60), unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # terms, volume_measure, min_volume, bottom_n, kpi
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    created_by: Mapped[int | None] = mapped_column(Integer, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_by: Mapped[int | None] = mapped_column(Integer, default=None)


class Bulletin(Base):
    """A generated bulletin (通报): its files live in storage under bulletins/."""

    __tablename__ = "analytics_bulletins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_id: Mapped[int] = mapped_column(Integer, index=True)
    region_path: Mapped[str] = mapped_column(String(200), default="")
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    xlsx_key: Mapped[str] = mapped_column(String(200))
    docx_key: Mapped[str] = mapped_column(String(200))
    scheduled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    created_by: Mapped[int | None] = mapped_column(Integer, default=None)
