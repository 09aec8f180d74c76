"""Typed settings read from environment variables (prefix CIVICGRID_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of a civicgrid process; see README "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="CIVICGRID_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/civicgrid.db",
        description="SQLAlchemy URL; SQLite file under ./var by default, postgresql+psycopg://... for production",
    )
    secret_key: str = Field(
        default="dev-insecure-change-me",
        description="Signs CSRF tokens and derives other secrets; set it in production",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    session_hours: float = Field(default=12.0, description="Idle lifetime of a log-in session")
    lockout_threshold: int = Field(default=5, description="Failed log-ins in a row before the account locks")
    lockout_minutes: int = Field(default=15, description="How long a locked account stays locked")
    locate_snap_m: float = Field(
        default=50.0, description="A point this close to a grid (outside every grid) is given that grid"
    )
    cookie_secure: bool = False
    work_periods: str = Field(default="08:30-12:00,14:00-17:30",
                              description="Working periods of a working day (local time) for working-hour deadlines")
    warn_share: float = Field(default=0.8, description="Share of a step's time after which its light turns yellow")
    merge_distance_m: float = Field(default=200.0, description="Duplicates to merge lie within this distance")
    merge_window_hours: float = Field(default=72.0, description="... and were reported within these hours")
    storage_dir: str = Field(default="var/files", description="Where photos are stored (local storage)")
    sweep_interval_s: float = Field(default=300.0, description="Deadline sweep period in the server; 0 turns it off")
    upload_max_mb: float = Field(default=10.0, description="Largest photo accepted")
    portal_reports_per_hour: int = Field(default=5, description="Public portal: reports per hour from one address")
    portal_reports_per_day: int = Field(default=20, description="Public portal: reports per day from one address "
                                                                "or one phone number")
    registry_keys: str = Field(
        default="", description="Registry field-encryption keys 'kid:base64(32 bytes)', comma-separated, newest "
                                "first (the first encrypts, all decrypt); empty = derived from secret_key (dev only)")
    registry_hash_key: str = Field(
        default="", description="Key of the keyed hash used for exact search of ID and phone numbers; never rotates "
                                "with registry_keys; empty = derived from secret_key (dev only)")
    registry_import_max_mb: float = Field(default=100.0, description="Largest registry import file accepted")
    registry_import_workers: int = Field(
        default=-1, description="Worker processes that check rows and encrypt numbers of large imports while the "
                                "main process writes; -1 = one less than the CPU count (at most 4), 0 = none")
    registry_import_parallel_rows: int = Field(
        default=20000, description="Files of about this many rows or more use the worker processes")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        raw = self.database_url.split("///", 1)[-1]
        return None if raw in ("", ":memory:") else Path(raw)


@lru_cache
def get_settings() -> Settings:
    return Settings()
