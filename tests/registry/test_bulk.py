"""civicgrid.bulk: rows written through the driver read back exactly as the ORM would have written them."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import func, select

from civicgrid import bulk
from civicgrid.registry.models import RegistryChange, Residence


def test_driver_rows_read_back_like_orm_rows(db):
    at = datetime(2026, 11, 29, 3, 4, 5, 123456, tzinfo=timezone.utc)
    shared: dict = {}
    rows = [(ids, "resident", 900 + n, at, None, "导入", "import", changes)
            for n, (ids, changes) in enumerate(zip(bulk.reserve_ids(db, RegistryChange.__table__, 4),
                                                   [shared, {"姓名": ["甲", "乙"]}, shared, {"n": [1, 2]}]))]
    assert bulk.insert_rows(db, RegistryChange.__table__, ("id", "entity", "entity_id", "at", "actor_id",
                                                           "actor_name", "action", "changes"), iter(rows)) == 4
    got = db.scalars(select(RegistryChange).where(RegistryChange.entity_id >= 900)
                     .order_by(RegistryChange.entity_id)).all()
    assert [r.id for r in got] == [r[0] for r in rows]
    assert [r.changes for r in got] == [{}, {"姓名": ["甲", "乙"]}, {}, {"n": [1, 2]}]
    assert all(r.at == at and r.actor_id is None and r.actor_name == "导入" for r in got)
    # the reserved ids are taken: the next ORM insert gets a fresh one
    db.add(RegistryChange(entity="resident", entity_id=999, at=at, actor_name="x", action="edit", changes={}))
    db.flush()
    assert db.scalar(select(RegistryChange.id).where(RegistryChange.entity_id == 999)) > rows[-1][0]


def test_dates_and_nulls(db, demo_grid):
    from tests.registry.conftest import make_resident

    r = make_resident(db, demo_grid)
    ids = bulk.reserve_ids(db, Residence.__table__, 2)
    bulk.insert_rows(db, Residence.__table__, ("id", "resident_id", "dwelling_id", "relation", "moved_in", "moved_out"),
                     [(ids[0], r.id, r.dwelling_id, "tenant", date(2020, 2, 29), None),
                      (ids[1], r.id, r.dwelling_id, "owner", date(2020, 2, 29), date(2021, 1, 1))])
    got = {x.id: x for x in db.scalars(select(Residence).where(Residence.id.in_(ids)))}
    assert (got[ids[0]].moved_in, got[ids[0]].moved_out) == (date(2020, 2, 29), None)
    assert got[ids[1]].moved_out == date(2021, 1, 1) and got[ids[1]].relation == "owner"


def test_reserved_ids_are_fresh_and_distinct(db):
    """Ids come back as the range drawn; when the drawn ids are not consecutive (another session drawing
    meanwhile; simulated on PostgreSQL with a sequence stepping by 2) they come back one by one, still unused."""
    from sqlalchemy import text

    first = bulk.reserve_ids(db, RegistryChange.__table__, 3)
    assert len(set(first)) == 3
    if db.get_bind().dialect.name == "postgresql":
        seq = db.execute(text("SELECT pg_get_serial_sequence('reg_changes', 'id')")).scalar_one()
        db.execute(text(f"ALTER SEQUENCE {seq} INCREMENT BY 2"))
        try:
            gaps = bulk.reserve_ids(db, RegistryChange.__table__, 4)
        finally:
            db.execute(text(f"ALTER SEQUENCE {seq} INCREMENT BY 1"))
        assert len(set(gaps)) == 4 and min(gaps) > max(first) and max(gaps) - min(gaps) == 6
    else:  # SQLite: the next ids after the highest stored, under the write lock, to be inserted at once
        gaps = bulk.reserve_ids(db, RegistryChange.__table__, 4)
    at = datetime(2026, 11, 29, tzinfo=timezone.utc)
    rows = [(i, "resident", 1, at, None, "x", "import", {}) for i in gaps]
    bulk.insert_rows(db, RegistryChange.__table__, ("id", "entity", "entity_id", "at", "actor_id", "actor_name",
                                                    "action", "changes"), rows)
    assert db.scalar(select(func.count()).select_from(RegistryChange).where(RegistryChange.id.in_(gaps))) == 4
