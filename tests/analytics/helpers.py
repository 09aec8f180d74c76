"""Hand-made aggregate rows for the analytics tests (numbers one can check with a pencil)."""

from datetime import date

from sqlalchemy import select

from civicgrid.analytics import aggregates
from civicgrid.analytics.kpis import MEASURES
from civicgrid.geo.models import Region


def grid_of(db, village_code: str) -> Region:
    v = db.scalars(select(Region).where(Region.code == village_code)).one()
    return db.scalars(select(Region).where(Region.parent_id == v.id, Region.level == "grid")
                      .order_by(Region.code)).first()


def first_village(db, town_code: str) -> Region:
    t = db.scalars(select(Region).where(Region.code == town_code)).one()
    return db.scalars(select(Region).where(Region.parent_id == t.id, Region.level == "village")
                      .order_by(Region.code)).first()


def put(db, day: date, grid: Region, *, category_id: int = 0, department_id: int = 0, source: str = "grid_worker",
        urgency: str = "normal", **measures) -> None:
    ids = [int(x) for x in grid.path.strip("/").split("/")]
    regions = {r.id: r for r in db.scalars(select(Region).where(Region.id.in_(ids)))}
    by_level = {r.level: r.id for r in regions.values()}
    values = dict.fromkeys(MEASURES, 0)
    values.update(measures)
    key = (day, by_level["town"], by_level["village"], grid.id, category_id, department_id, source, urgency)
    conn = db.connection()
    for daily, _, cols in aggregates.LEVELS.values():  # both levels, as the after-flush hook writes them
        d, _h = aggregates.project({key: values}, {}, cols, daily in aggregates.MONTHLY)
        aggregates._upsert(conn, daily, cols, [{**dict(zip(cols, k)), **v} for k, v in d.items()], MEASURES)


def town_figures(db, day: date, town_code: str, **measures) -> None:
    put(db, day, grid_of(db, first_village(db, town_code).code), **measures)
