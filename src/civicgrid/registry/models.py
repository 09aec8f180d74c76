"""二标四实 tables: standard addresses, buildings and dwellings, residents (with residences and tags),
organisations, facilities, and one change history for all of them.

Every located record carries `grid_id` and `region_path` (its grid's materialised path, or its village's when
it has no grid) so scope is one indexed prefix filter. Personal numbers are stored encrypted (`*_enc`), with
a keyed hash (`*_hash`) for exact search and the mask (`*_masked`) lists show.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civicgrid.clock import now
from civicgrid.db import Base, UTCDateTime

DWELLING_USES = ("owner_occupied", "rented", "commercial", "vacant")
STRUCTURES = ("steel_concrete", "brick_concrete", "steel", "brick_wood", "other")
INSPECTION_STATUSES = ("not_inspected", "passed", "hazard", "rectified")
HOUSEHOLDS = ("registered", "floating")
RELATIONS = ("owner", "family", "tenant", "other")
ORG_KINDS = ("enterprise", "shop", "school", "hospital", "social_org", "government", "other")
FACILITY_KINDS = ("fire_hydrant", "camera", "aed", "manhole_cover", "emergency_shelter", "other")
FACILITY_STATUSES = ("in_service", "faulty", "out_of_service")
CRS_NAMES = ("wgs84", "gcj02", "bd09")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} in (" + ",".join(f"'{v}'" for v in values) + ")"


class Located:
    """Columns every located registry record shares."""

    grid_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), default=None, index=True)
    region_path: Mapped[str] = mapped_column(String(200), default="", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class Address(Located, Base):
    """A standard address: its levels (empty = none), a code, a location, its village and grid."""

    __tablename__ = "reg_addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    town: Mapped[str] = mapped_column(String(50), default="")
    village: Mapped[str] = mapped_column(String(50), default="")
    road: Mapped[str] = mapped_column(String(50), default="")
    house_no: Mapped[str] = mapped_column(String(20), default="")
    compound: Mapped[str] = mapped_column(String(50), default="")
    building: Mapped[str] = mapped_column(String(20), default="")
    unit: Mapped[str] = mapped_column(String(20), default="")
    floor: Mapped[str] = mapped_column(String(10), default="")
    room: Mapped[str] = mapped_column(String(20), default="")
    full: Mapped[str] = mapped_column(String(300))
    key: Mapped[str] = mapped_column(String(300), unique=True)  # normalised levels, the exact-match key
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), default=None)


class Building(Located, Base):
    """A building (楼栋) at a building-level address: its structure and floors above (`floors`) and below
    ground (`floors_below`); empty until someone records them."""

    __tablename__ = "reg_buildings"
    __table_args__ = (CheckConstraint(_in("structure", STRUCTURES), name="structure"),
                      CheckConstraint("floors is null or floors between 1 and 200", name="floors"),
                      CheckConstraint("floors_below is null or floors_below between 0 and 20", name="floors_below"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("reg_addresses.id"), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    structure: Mapped[str] = mapped_column(String(20), default="other")
    floors: Mapped[int | None] = mapped_column(Integer, default=None)  # above ground
    floors_below: Mapped[int | None] = mapped_column(Integer, default=None)


class Dwelling(Located, Base):
    """A dwelling (实有房屋): use, owner, and for rentals (出租屋) the inspection status."""

    __tablename__ = "reg_dwellings"
    __table_args__ = (CheckConstraint(_in("use", DWELLING_USES), name="use"),
                      CheckConstraint(_in("structure", STRUCTURES), name="structure"),
                      CheckConstraint(_in("inspection_status", INSPECTION_STATUSES), name="inspection_status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("reg_addresses.id"), unique=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("reg_buildings.id"), default=None, index=True)
    use: Mapped[str] = mapped_column(String(20), default="owner_occupied")
    structure: Mapped[str] = mapped_column(String(20), default="other")
    floors: Mapped[int | None] = mapped_column(Integer, default=None)
    area_m2: Mapped[float | None] = mapped_column(Float, default=None)
    owner_name: Mapped[str] = mapped_column(String(50), default="")
    owner_phone_enc: Mapped[str | None] = mapped_column(String(120), default=None)
    owner_phone_hash: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    owner_phone_masked: Mapped[str] = mapped_column(String(20), default="")
    rental_since: Mapped[date | None] = mapped_column(Date, default=None)
    inspection_status: Mapped[str] = mapped_column(String(20), default="not_inspected")
    inspected_on: Mapped[date | None] = mapped_column(Date, default=None)


class Resident(Located, Base):
    """A person living in the city (实有人口), registered (户籍) or floating (流动)."""

    __tablename__ = "reg_residents"
    __table_args__ = (CheckConstraint(_in("household", HOUSEHOLDS), name="household"),
                      CheckConstraint("sex in ('male','female')", name="sex"),
                      Index("ix_reg_residents_name", "name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    id_enc: Mapped[str] = mapped_column(String(120))
    id_hash: Mapped[str] = mapped_column(String(40), unique=True)
    id_masked: Mapped[str] = mapped_column(String(20))
    phone_enc: Mapped[str | None] = mapped_column(String(120), default=None)
    phone_hash: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    phone_masked: Mapped[str] = mapped_column(String(20), default="")
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(6))
    origin_code: Mapped[str] = mapped_column(String(6))
    household: Mapped[str] = mapped_column(String(10), default="floating")
    dwelling_id: Mapped[int | None] = mapped_column(ForeignKey("reg_dwellings.id"), default=None, index=True)
    # the import that created this resident (its history shows it): one record for a file's million rows
    import_id: Mapped[int | None] = mapped_column(ForeignKey("reg_imports.id"), default=None)


class Residence(Base):
    """A resident living in a dwelling from moved_in to moved_out (open = still there); history is kept."""

    __tablename__ = "reg_residences"
    __table_args__ = (CheckConstraint(_in("relation", RELATIONS), name="relation"),
                      CheckConstraint("moved_out is null or moved_out >= moved_in", name="dates"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("reg_residents.id"), index=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("reg_dwellings.id"), index=True)
    relation: Mapped[str] = mapped_column(String(10), default="other")
    moved_in: Mapped[date] = mapped_column(Date)
    moved_out: Mapped[date | None] = mapped_column(Date, default=None)


class ResidentTag(Base):
    """A class a resident belongs to for a time (elderly living alone, community correction ...)."""

    __tablename__ = "reg_resident_tags"
    __table_args__ = (CheckConstraint("valid_to is null or valid_to >= valid_from", name="validity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("reg_residents.id"), index=True)
    tag: Mapped[str] = mapped_column(String(30))
    sensitive: Mapped[bool] = mapped_column(default=False)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, default=None)
    note: Mapped[str] = mapped_column(Text, default="")


class Organisation(Located, Base):
    """An organisation (实有单位): enterprise, shop, school, hospital, social organisation ..."""

    __tablename__ = "reg_organisations"
    __table_args__ = (CheckConstraint(_in("kind", ORG_KINDS), name="kind"),
                      Index("ix_reg_organisations_name", "name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True, default=None)
    kind: Mapped[str] = mapped_column(String(20), default="enterprise")
    address_id: Mapped[int | None] = mapped_column(ForeignKey("reg_addresses.id"), default=None, index=True)
    person_in_charge: Mapped[str] = mapped_column(String(50), default="")
    staff_count: Mapped[int | None] = mapped_column(Integer, default=None)
    safety_contact: Mapped[str] = mapped_column(String(50), default="")
    safety_phone_enc: Mapped[str | None] = mapped_column(String(120), default=None)
    safety_phone_hash: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    safety_phone_masked: Mapped[str] = mapped_column(String(20), default="")


class Facility(Located, Base):
    """A facility (实有设施): hydrant, camera, AED, manhole cover, shelter ... with its keepers."""

    __tablename__ = "reg_facilities"
    __table_args__ = (CheckConstraint(_in("kind", FACILITY_KINDS), name="kind"),
                      CheckConstraint(_in("status", FACILITY_STATUSES), name="status"),
                      CheckConstraint(_in("source_crs", CRS_NAMES), name="source_crs"),
                      Index("ix_reg_facilities_kind_status", "kind", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="in_service")
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    source_crs: Mapped[str] = mapped_column(String(10), default="wgs84")  # lon/lat are WGS-84; as entered in
    address_id: Mapped[int | None] = mapped_column(ForeignKey("reg_addresses.id"), default=None)
    owner_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), default=None)
    maintainer_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), default=None)


class RegistryChange(Base):
    """One change to a registry record (created, edited, imported, moved): who, when, which fields (masked)."""

    __tablename__ = "reg_changes"
    __table_args__ = (Index("ix_reg_changes_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(String(20))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RegistryImport(Base):
    """One import of a file (导入记录): what, by whom, when, and what it did. Residents it created point to it
    instead of each carrying a history row of their own."""

    __tablename__ = "reg_imports"
    __table_args__ = (CheckConstraint("mode in ('all','valid')", name="mode"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(200), default="")
    mode: Mapped[str] = mapped_column(String(10), default="all")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    total: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    error_rows: Mapped[int] = mapped_column(Integer, default=0)
