"""Row checks of the registry, shared by forms, the API and the importer so all three report the same Chinese
words: each returns the cleaned values and a {field: message} map."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from civicgrid.registry.ids import InvalidCode, parse_id_number, parse_phone, parse_uscc
from civicgrid.geo.crs import parse_crs
from civicgrid.registry.models import (DWELLING_USES, FACILITY_KINDS, FACILITY_STATUSES, HOUSEHOLDS,
                                       INSPECTION_STATUSES, ORG_KINDS, RELATIONS, STRUCTURES)
from civicgrid.registry.schemas import (FACILITY_KIND_LABELS, FACILITY_STATUS_LABELS, HOUSEHOLD_LABELS,
                                        INSPECTION_LABELS, ORG_KIND_LABELS, RELATION_LABELS, STRUCTURE_LABELS,
                                        USE_LABELS, inverse)


_INVERSE: dict[int, tuple[dict[str, str], dict[str, str]]] = {}


def _inverse(labels: dict[str, str]) -> dict[str, str]:
    """inverse(labels), computed once per label table (they are module constants)."""
    hit = _INVERSE.get(id(labels))
    if hit is None or hit[0] is not labels:
        hit = _INVERSE[id(labels)] = (labels, inverse(labels))
    return hit[1]


def enum_value(value: Any, labels: dict[str, str], allowed: tuple[str, ...], field: str, what: str,
          errors: dict[str, str], default: str | None = None,
          aliases: dict[str, str] | None = None) -> str | None:
    v = str(value or "").strip()
    v = (aliases or {}).get(v, v)
    if not v and default is not None:
        return default
    code = _inverse(labels).get(v)
    if code not in allowed:
        errors[field] = f"{what}“{v}”无效,应为:" + "、".join(labels[a] for a in allowed)
        return None
    return code


def int_value(value: Any, field: str, what: str, errors: dict[str, str], lo: int, hi: int) -> int | None:
    """An optional whole number in [lo, hi]: "12", 12 and 12.0 pass; "12.5", "十二" and out-of-range values
    put their reason in errors."""
    if value in (None, ""):
        return None
    try:
        f = float(str(value).strip())
        if f != int(f):
            raise ValueError
        n = int(f)
    except (TypeError, ValueError, OverflowError):
        errors[field] = f"{what}“{value}”应为整数"
        return None
    if not lo <= n <= hi:
        errors[field] = f"{what}“{value}”应在 {lo} 到 {hi} 之间"
        return None
    return n


def date_value(value: Any, field: str, what: str, errors: dict[str, str]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    s = str(value).strip().replace("/", "-").replace(".", "-").replace("年", "-").replace("月", "-").rstrip("日")
    try:
        return date.fromisoformat("-".join(p.zfill(2) for p in s.split("-")))
    except ValueError:
        errors[field] = f"{what}“{value}”不是有效日期(例如 2024-03-01)"
        return None


def _optional(row: dict[str, Any], field: str, parse: Callable[[str], str], out: dict[str, Any],
              errors: dict[str, str]) -> None:
    """An optional coded field (phone, USCC): normalised into out when given, its problem into errors."""
    raw = str(row.get(field) or "").strip()
    if raw:
        try:
            out[field] = parse(raw)
        except InvalidCode as e:
            errors[field] = e.message


def check_resident(row: dict[str, Any], *, today: date) -> tuple[dict[str, Any], dict[str, str]]:
    """Name, ID number (GB 11643; birth date, sex, origin derived), phone, household, relation, move-in date."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"name": "".join(str(row.get("name") or "").split())}
    if not out["name"]:
        errors["name"] = "姓名不能为空"
    elif len(out["name"]) > 50:
        errors["name"] = "姓名过长"
    try:
        info = parse_id_number(str(row.get("id_number") or ""), today=today)
        out.update(id_number=info.number, birth_date=info.birth_date, sex=info.sex, origin_code=info.origin_code)
    except InvalidCode as e:
        errors["id_number"] = e.message
    _optional(row, "phone", parse_phone, out, errors)
    out["household"] = enum_value(row.get("household"), HOUSEHOLD_LABELS, HOUSEHOLDS, "household", "户籍类型", errors,
                             "floating", {"户籍": "registered", "本地": "registered", "流动": "floating",
                                          "外来": "floating"})
    out["relation"] = enum_value(row.get("relation"), RELATION_LABELS, RELATIONS, "relation", "与房屋关系", errors, "tenant")
    out["moved_in"] = date_value(row.get("moved_in"), "moved_in", "入住日期", errors) or today
    if out["moved_in"] > today:
        errors["moved_in"] = "入住日期不能晚于今天"
    out["address"] = str(row.get("address") or "").strip()
    return out, errors


def check_dwelling(row: dict[str, Any], *, today: date) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {
        "use": enum_value(row.get("use"), USE_LABELS, DWELLING_USES, "use", "房屋用途", errors, "owner_occupied"),
        "structure": enum_value(row.get("structure"), STRUCTURE_LABELS, STRUCTURES, "structure", "结构", errors, "other"),
        "inspection_status": enum_value(row.get("inspection_status"), INSPECTION_LABELS, INSPECTION_STATUSES,
                                   "inspection_status", "检查状态", errors, "not_inspected"),
        "owner_name": str(row.get("owner_name") or "").strip(),
        "inspected_on": date_value(row.get("inspected_on"), "inspected_on", "检查日期", errors),
        "address": str(row.get("address") or "").strip()}
    out["floors"] = int_value(row.get("floors"), "floors", "层数", errors, 1, MAX_FLOORS)
    out["area_m2"] = None
    if row.get("area_m2") not in (None, ""):
        try:
            out["area_m2"] = float(row["area_m2"])
            if out["area_m2"] <= 0:
                raise ValueError
        except (TypeError, ValueError):
            errors["area_m2"] = f"面积“{row['area_m2']}”应为正数"
    if out["inspected_on"] and out["inspected_on"] > today:
        errors["inspected_on"] = "检查日期不能晚于今天"
    _optional(row, "owner_phone", parse_phone, out, errors)
    return out, errors


def check_organisation(row: dict[str, Any], *, today: date) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"name": str(row.get("name") or "").strip(),
                           "kind": enum_value(row.get("kind"), ORG_KIND_LABELS, ORG_KINDS, "kind", "单位类型", errors,
                                         "enterprise"),
                           "person_in_charge": str(row.get("person_in_charge") or "").strip(),
                           "safety_contact": str(row.get("safety_contact") or "").strip(),
                           "address": str(row.get("address") or "").strip()}
    if not out["name"]:
        errors["name"] = "单位名称不能为空"
    out["uscc"] = None
    _optional(row, "uscc", parse_uscc, out, errors)
    out["staff_count"] = int_value(row.get("staff_count"), "staff_count", "从业人数", errors, 0, 10_000_000)
    _optional(row, "safety_phone", parse_phone, out, errors)
    return out, errors


def check_facility(row: dict[str, Any], *, today: date) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"code": str(row.get("code") or "").strip(), "name": str(row.get("name") or "").strip(),
                           "kind": enum_value(row.get("kind"), FACILITY_KIND_LABELS, FACILITY_KINDS, "kind", "设施类型",
                                         errors),
                           "status": enum_value(row.get("status"), FACILITY_STATUS_LABELS, FACILITY_STATUSES, "status",
                                           "状态", errors, "in_service"),
                           "address": str(row.get("address") or "").strip(),
                           "owner_department": str(row.get("owner_department") or "").strip(),
                           "maintainer_department": str(row.get("maintainer_department") or "").strip()}
    if not out["code"]:
        errors["code"] = "设施编码不能为空"
    for f, lo, hi, what in (("lon", 73, 136, "经度"), ("lat", 3, 54, "纬度")):
        v = row.get(f)
        out[f] = None
        if v in (None, ""):
            continue
        try:
            out[f] = float(v)
            if not lo <= out[f] <= hi:
                raise ValueError
        except (TypeError, ValueError):
            errors[f] = f"{what}“{v}”不在中国范围内"
    if (out["lon"] is None) != (out["lat"] is None):
        errors["lat"] = "经度和纬度须同时填写"
    try:
        out["crs"] = parse_crs(str(row.get("crs") or "wgs84")).value
    except ValueError:
        errors["crs"] = f"坐标系“{row.get('crs')}”无效,应为:WGS-84、GCJ-02 或 BD-09"
    if out["lon"] is None and not out["address"]:
        errors["address"] = "请填写地址或经纬度"
    return out, errors


MAX_FLOORS = 200  # above ground; the tallest buildings have about 130
MAX_FLOORS_BELOW = 20


def check_building(row: dict[str, Any], *, today: date) -> tuple[dict[str, Any], dict[str, str]]:
    """Name, structure and floors above (1–200) and below ground (0–20) of a building (楼栋)."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {
        "name": str(row.get("name") or "").strip(),
        "structure": enum_value(row.get("structure"), STRUCTURE_LABELS, STRUCTURES, "structure", "建筑结构", errors,
                                "other"),
        "floors": int_value(row.get("floors"), "floors", "地上层数", errors, 1, MAX_FLOORS),
        "floors_below": int_value(row.get("floors_below"), "floors_below", "地下层数", errors, 0, MAX_FLOORS_BELOW),
        "address": str(row.get("address") or "").strip()}
    if len(out["name"]) > 100:
        errors["name"] = "楼栋名称过长(最多 100 字)"
    return out, errors


CHECKS = {"resident": check_resident, "dwelling": check_dwelling, "organisation": check_organisation,
          "facility": check_facility}
