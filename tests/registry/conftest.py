"""Registry builders: personas as actors, a standard address in the demo grid, residents through the service."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from civicgrid.access.models import GridAssignment, User
from civicgrid.access.service import SYSTEM, load_actor
from civicgrid.geo.models import Region
from civicgrid.registry import service
from civicgrid.registry.ids import make_id_number

PERSONAS = ("admin", "city.dispatcher", "town.dispatcher", "village.operator", "grid.worker", "dept.handler",
            "mediator", "leader", "citizen", "integration.12345")


def who(db, username: str):
    return load_actor(db, db.scalars(select(User).where(User.username == username)).one())


@pytest.fixture()
def demo_grid(db) -> Region:
    """The grid.worker's grid (in the village.operator's village, in the town.dispatcher's town)."""
    uid = db.scalars(select(User.id).where(User.username == "grid.worker")).one()
    gid = db.scalars(select(GridAssignment.grid_id).where(GridAssignment.user_id == uid)).first()
    return db.get(Region, gid)


def levels_in(db, grid: Region, **extra: str) -> dict[str, Any]:
    village = db.get(Region, grid.parent_id)
    town = db.get(Region, village.parent_id)
    return {"town": town.name, "village": village.name, "road": "东城路", "house_no": "12", "compound": "星河花园",
            "building": "3", "unit": "2", "room": "1203", **extra}


def make_address(db, grid: Region, actor=SYSTEM, **extra: str):
    a, _ = service.ensure_address(db, actor, levels_in(db, grid, **extra), lon=grid.centroid_lon,
                                  lat=grid.centroid_lat)
    return a


def make_resident(db, grid: Region, *, seq: int = 1, name: str = "张三", actor=SYSTEM, room: str = "1203",
                  phone: str = "13812345678", **extra: Any):
    a = make_address(db, grid, room=room)
    return service.create_resident(db, actor, {"name": name, "id_number": make_id_number(
        "441900", date(1990, 1, 1), seq), "phone": phone, "address_id": a.id, **extra})
