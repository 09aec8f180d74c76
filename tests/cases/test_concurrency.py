"""Concurrent actions on one case: exactly one succeeds, the others get 409 (PostgreSQL, real threads)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import sessionmaker

from civicgrid.access.models import User
from civicgrid.access.service import load_actor
from civicgrid.cases import engine, service
from civicgrid.cases.models import Case, IdempotencyKey, Notification, TimelineEntry
from civicgrid.db import unit_of_work
from civicgrid.errors import Conflict
from tests.cases.test_engine_loop import point_in


@pytest.fixture()
def committed_case(engine_pg):
    factory = sessionmaker(bind=engine_pg, expire_on_commit=False)
    with unit_of_work(factory) as s:
        who = load_actor(s, s.scalars(select(User).where(User.username == "grid.worker")).one())
        lon, lat = point_in(s, "441900003001003")
        case, _ = service.report_case(s, who, {"title": "并发测试", "category": "E0102", "lon": lon, "lat": lat})
        number = case.number
    yield factory, number
    with unit_of_work(factory) as s:
        cid = s.scalar(select(Case.id).where(Case.number == number))
        for model in (Notification, TimelineEntry, IdempotencyKey):
            s.execute(delete(model).where(model.case_id == cid))
        s.execute(delete(Case).where(Case.id == cid))


@pytest.fixture()
def engine_pg(engine, demo_city):
    if engine.dialect.name != "postgresql":
        pytest.skip("row-level concurrency is tested on PostgreSQL (SQLite serialises writers)")
    return engine


def test_two_dispatchers_accepting_at_once_one_wins(committed_case):
    factory, number = committed_case
    barrier = threading.Barrier(4)
    results: list[str] = []

    def worker(action: str, payload: dict) -> None:
        with factory() as s:
            who = load_actor(s, s.scalars(select(User).where(User.username == "village.operator")).one())
            case = s.scalars(select(Case).where(Case.number == number)).one()
            barrier.wait()
            try:
                engine.apply(s, who, case, action, payload)
                s.commit()
                results.append("ok")
            except Conflict as exc:
                s.rollback()
                results.append(exc.code)

    threads = [threading.Thread(target=worker, args=a) for a in
               [("accept", {}), ("accept", {}), ("void", {"note": "重复"}), ("accept", {})]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results.count("ok") == 1, results
    assert all(r == "stale_version" for r in results if r != "ok"), results
    with factory() as s:
        case = s.scalars(select(Case).where(Case.number == number)).one()
        entries = s.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case.id)).all()
        assert len(entries) == 2  # the report and the one winning action
        assert engine.replay(entries) == case.state


def test_the_same_report_sent_twice_at_once_makes_one_case(engine_pg):
    import uuid

    factory = sessionmaker(bind=engine_pg, expire_on_commit=False)
    key = uuid.uuid4().hex
    barrier = threading.Barrier(3)
    numbers: list[tuple[str, bool]] = []

    def send() -> None:
        with unit_of_work(factory) as s:
            who = load_actor(s, s.scalars(select(User).where(User.username == "grid.worker")).one())
            lon, lat = point_in(s, "441900003001003")
            barrier.wait()
            case, created = service.report_case(s, who, {"title": "同时重复提交", "category": "E0102", "lon": lon,
                                                         "lat": lat}, idempotency_key=key)
            numbers.append((case.number, created))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({n for n, _ in numbers}) == 1 and sorted(c for _, c in numbers) == [False, False, True]
    with unit_of_work(factory) as s:
        cid = s.scalar(select(Case.id).where(Case.number == numbers[0][0]))
        for model in (Notification, TimelineEntry, IdempotencyKey):
            s.execute(delete(model).where(model.case_id == cid))
        s.execute(delete(Case).where(Case.id == cid))
