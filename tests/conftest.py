"""Test fixtures: a migrated database (SQLite by default, PostgreSQL when CIVICGRID_DATABASE_URL says so)
holding a small demo city (two towns), a per-test transaction rolled back afterwards, and personas."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from civicgrid.access.service import SYSTEM
from civicgrid.db import make_engine
from civicgrid.demo import DEMO_PASSWORD, DemoSummary, build_demo
from civicgrid.geo import service as geo_service
from civicgrid.migrate import upgrade
from civicgrid.models import metadata

PASSWORD = DEMO_PASSWORD

# Property tests draw the same examples on every run, so CI is reproducible; explore new ones locally with
# HYPOTHESIS_PROFILE=explore (and keep any failure it finds as an @example).
hypothesis_settings.register_profile("deterministic", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


def _test_url() -> str:
    url = os.environ.get("CIVICGRID_DATABASE_URL", "")
    if url.startswith("postgresql"):
        return url
    path = Path(tempfile.mkdtemp(prefix="civicgrid-test-")) / "test.db"
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def db_url() -> str:
    url = _test_url()
    os.environ["CIVICGRID_DATABASE_URL"] = url
    os.environ["CIVICGRID_STORAGE_DIR"] = tempfile.mkdtemp(prefix="civicgrid-files-")
    os.environ["CIVICGRID_SWEEP_INTERVAL_S"] = "0"  # tests run the sweep themselves
    from civicgrid.config import get_settings
    from civicgrid.db import get_engine, get_sessionmaker

    get_settings.cache_clear()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    if eng.dialect.name == "postgresql":
        with eng.begin() as conn:
            metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def demo_city(engine: Engine) -> DemoSummary:
    """Two towns of Dongguan (东城, 南城) with their villages, grids, workers and demo accounts, committed."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session:
        summary = build_demo(session, towns_limit=2)
        session.commit()
    return summary


@pytest.fixture()
def db(engine: Engine, demo_city: DemoSummary) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test (services may 'commit' savepoints)."""
    conn = engine.connect()
    trans = conn.begin()
    factory = sessionmaker(bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint")
    session = factory()
    session.info["factory"] = factory
    try:
        yield session
    finally:
        session.close()
        trans.rollback()
        conn.close()
        geo_service.reset_locator_cache()
        from civicgrid.cases.deadlines import forget_calendar

        forget_calendar()  # a holiday notice loaded in a rolled-back test must not linger


@pytest.fixture()
def client(db: Session) -> Iterator[TestClient]:
    from civicgrid.app import create_app

    app = create_app(sessionmaker=db.info["factory"])
    with TestClient(app) as c:
        yield c


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the API; returns the CSRF token for unsafe requests."""
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["csrf_token"]


@pytest.fixture()
def system():
    return SYSTEM
