"""Geography operations: the region tree, boundary import/export, GeoJSON for maps, the locator."""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from civicgrid import clock
from civicgrid.access.policy import Action, Actor, require
from civicgrid.config import get_settings
from civicgrid.errors import BadInput, NotFound
from civicgrid.geo import crs as crs_mod
from civicgrid.geo.codes import CODE_LENGTH, PARENT_LEVELS, check_code
from civicgrid.geo.locator import FOUND, OUTSIDE, SNAPPED, GridRef, Locator
from civicgrid.geo.models import LEVEL_ORDER, GeoState, Level, Region
from civicgrid.geo.schemas import ImportIssue, ImportReport, LocateOut

WITHIN_TOLERANCE = 0.01  # a child may stick out of its parent by 1% of its area
OVERLAP_TOLERANCE = 0.005  # siblings may overlap by 0.5% of the smaller one's area
REPAIR_TOLERANCE = 0.01  # an automatic repair may change the area by at most 1%


# ---------------------------------------------------------------------------------------------
# reading


def current_filter(on: date | None = None):
    """SQL condition: region valid on date `on` (today by default)."""
    on = on or clock.today()
    return (Region.valid_from <= on) & or_(Region.valid_to.is_(None), Region.valid_to > on)


def geometry(region: Region) -> BaseGeometry | None:
    return shapely.from_wkb(region.geom_wkb) if region.geom_wkb else None


def find_region(session: Session, code: str, *, on: date | None = None) -> Region | None:
    """The region with `code` valid on `on` (today by default)."""
    return session.scalars(select(Region).where(Region.code == code, current_filter(on))).first()


def get_region(session: Session, actor: Actor, code: str, *, on: date | None = None) -> Region:
    """A region the actor may see; outside its scope it does not exist (404)."""
    region = find_region(session, code, on=on)
    if region is None:
        raise NotFound("region", "区域不存在或不在您的管辖范围内")
    require(actor, Action.REGION_VIEW, region)
    return region


def ancestors(session: Session, region: Region) -> list[Region]:
    """Ancestors from the root down to the parent."""
    ids = [int(x) for x in region.path.strip("/").split("/")[:-1] if x]
    if not ids:
        return []
    rows = {r.id: r for r in session.scalars(select(Region).where(Region.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def to_out(region: Region, parent_code: str | None) -> dict[str, Any]:
    c = (region.centroid_lon, region.centroid_lat) if region.centroid_lon is not None else None
    return {"code": region.code, "name": region.name, "level": region.level, "kind": region.kind,
            "parent_code": parent_code, "centroid": c,
            "area_km2": round(region.area_km2, 4) if region.area_km2 is not None else None,
            "valid_from": region.valid_from, "valid_to": region.valid_to}


def region_detail(session: Session, actor: Actor, code: str) -> dict[str, Any]:
    """A region with its ancestors, child counts, command centre and (for grids) its workers."""
    from civicgrid.access import service as access_service

    region = get_region(session, actor, code)
    anc = ancestors(session, region)
    out = to_out(region, anc[-1].code if anc else None)
    out["ancestors"] = [{"level": a.level, "code": a.code, "name": a.name} for a in anc]
    counts: dict[str, int] = {}
    rows = session.execute(
        select(Region.level, func.count()).where(Region.path.startswith(region.path), Region.id != region.id,
                                                 current_filter()).group_by(Region.level))
    for level, n in rows:
        counts[level] = n
    out["counts"] = counts
    out["workers"] = access_service.grid_workers(session, region)
    out["centre"] = access_service.centre_name(session, region)
    return out


def visible_roots(session: Session, actor: Actor) -> list[Region]:
    """The outermost regions the actor may see."""
    paths = actor.scope_paths(Action.REGION_VIEW)
    if not paths:
        return []
    ids = [int(p.strip("/").split("/")[-1]) for p in paths]
    return list(session.scalars(select(Region).where(Region.id.in_(ids), current_filter())
                                .order_by(Region.code)))


def region_tree(session: Session, actor: Actor, *, root_code: str | None = None,
                depth: int = 2) -> list[dict[str, Any]]:
    """The tree below the actor's scope roots (or below root_code), `depth` levels deep."""
    require(actor, Action.REGION_VIEW)
    roots = [get_region(session, actor, root_code)] if root_code else visible_roots(session, actor)
    out = []
    for root in roots:
        rows = list(session.scalars(
            select(Region).where(Region.path.startswith(root.path), current_filter()).order_by(Region.code)))
        base_depth = root.path.count("/")
        kids: dict[int | None, list[Region]] = defaultdict(list)
        for r in rows:
            kids[r.parent_id].append(r)

        def node(r: Region) -> dict[str, Any]:
            n: dict[str, Any] = {"code": r.code, "name": r.name, "level": r.level,
                                 "child_count": len(kids[r.id]), "children": []}
            if r.path.count("/") - base_depth < depth:
                n["children"] = [node(c) for c in kids[r.id]]
            return n

        out.append(node(root))
    return out


def list_regions(session: Session, actor: Actor, *, parent_code: str | None = None,
                 level: str | None = None, on: date | None = None) -> list[Region]:
    """Current regions in the actor's scope, below parent_code and/or of one level.

    Asking for the parent's own level returns the parent itself (its outline), so a page scoped to
    one village can draw that village without being allowed to see its siblings."""
    require(actor, Action.REGION_VIEW)
    if level is not None and level not in CODE_LENGTH:
        raise BadInput("invalid_level", f"未知的区域层级 {level}", f"Unknown level {level!r}")
    q = select(Region).where(current_filter(on))
    if parent_code:
        parent = get_region(session, actor, parent_code, on=on)
        q = q.where(Region.path.startswith(parent.path))
        if level != parent.level:
            q = q.where(Region.id != parent.id)
    paths = actor.scope_paths(Action.REGION_VIEW)
    q = q.where(or_(*[Region.path.startswith(p) for p in paths])) if paths else q.where(False)
    if level:
        q = q.where(Region.level == level)
    return list(session.scalars(q.order_by(Region.code)))


def _round_coords(geom: BaseGeometry, digits: int = 6) -> BaseGeometry:
    return shapely.transform(geom, lambda c: np.round(c, digits))


def regions_geojson(session: Session, actor: Actor, *, parent_code: str | None = None,
                    level: str | None = None, simplify_m: float = 0.0) -> dict[str, Any]:
    """A FeatureCollection of current regions, simplified by simplify_m metres for drawing."""
    if simplify_m < 0 or simplify_m > 5000:
        raise BadInput("invalid_tolerance", "简化容差应在 0–5000 米之间", "simplify must be 0..5000 metres")
    regions = list_regions(session, actor, parent_code=parent_code, level=level)
    parents = codes_by_id(session, {r.parent_id for r in regions if r.parent_id})
    geoms = shapely.from_wkb([r.geom_wkb for r in regions if r.geom_wkb is not None])
    if simplify_m > 0 and len(geoms):
        geoms = shapely.simplify(geoms, simplify_m / 111_000.0, preserve_topology=True)
    features = []
    gi = iter(geoms)
    for r in regions:
        if r.geom_wkb is None:
            continue
        g = _round_coords(next(gi))
        features.append({"type": "Feature", "geometry": mapping(g), "properties": {
            "code": r.code, "name": r.name, "level": r.level, "kind": r.kind,
            "parent_code": parents.get(r.parent_id) if r.parent_id else None,
            "valid_from": r.valid_from.isoformat(), "valid_to": r.valid_to.isoformat() if r.valid_to else None,
            "area_km2": round(r.area_km2 or 0, 4), "cp": [r.centroid_lon, r.centroid_lat]}})
    return {"type": "FeatureCollection", "features": features}


def export_geojson(session: Session, actor: Actor, *, root_code: str | None = None,
                   level: str | None = None) -> dict[str, Any]:
    """Every current region (of one level, below root) with full-precision boundaries, re-importable."""
    require(actor, Action.REGION_EXPORT)
    return regions_geojson(session, actor, parent_code=root_code, level=level, simplify_m=0.0)


def codes_by_id(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    out: dict[int, str] = {}
    id_list = list(ids)
    for i in range(0, len(id_list), 900):
        out.update(dict(session.execute(select(Region.id, Region.code).where(Region.id.in_(id_list[i:i + 900])))
                        .all()))
    return out


# ---------------------------------------------------------------------------------------------
# import


@dataclass
class RegionInput:
    """One region to import: geometry already in WGS-84 lon/lat."""

    code: str
    name: str
    level: str | None = None
    parent_code: str | None = None
    geom: BaseGeometry | None = None
    valid_from: date | None = None
    kind: str | None = None


def infer_level(code: str) -> str | None:
    n = len(code or "")
    if n == 6:
        return "city" if code.endswith("00") else "district"
    return {9: "town", 12: "village", 15: "grid"}.get(n)


def infer_parent_code(code: str, level: str) -> str | None:
    if level == "city":
        return None
    if level == "district":
        return code[:4] + "00"
    if level == "town":
        return code[:6]
    if level == "village":
        return code[:9]
    return code[:12]


def parse_feature_collection(data: Any) -> tuple[list[RegionInput], list[ImportIssue]]:
    """GeoJSON FeatureCollection → region inputs, with per-feature errors for malformed ones."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(
            data.get("features"), list):
        raise BadInput("invalid_geojson", "文件不是 GeoJSON FeatureCollection",
                       "Expected a GeoJSON FeatureCollection with a features array")
    crs_name = (((data.get("crs") or {}).get("properties") or {}).get("name") or "").lower()
    if crs_name and not any(s in crs_name for s in ("crs84", "4326", "4490", "wgs")):
        raise BadInput("unsupported_crs", f"不支持的坐标参照系 {crs_name},请使用 WGS-84 经纬度",
                       f"Unsupported CRS {crs_name}; use WGS-84 lon/lat (or convert with ?crs=gcj02)")
    out: list[RegionInput] = []
    errors: list[ImportIssue] = []
    for i, feat in enumerate(data["features"]):
        props = (feat or {}).get("properties") or {}
        code = str(props.get("code") or props.get("adcode") or "").strip()
        name = str(props.get("name") or "").strip()
        if not code:
            errors.append(ImportIssue(feature=i, error="missing_code", message="缺少 code 属性"))
            continue
        if not name:
            errors.append(ImportIssue(feature=i, code=code, error="missing_name", message="缺少 name 属性"))
            continue
        try:
            geom = shape(feat["geometry"]) if feat.get("geometry") else None
        except Exception as exc:  # shapely raises several kinds on malformed coordinates
            errors.append(ImportIssue(feature=i, code=code, error="malformed_geometry",
                                      message=f"几何格式错误: {exc}"))
            continue
        vf = props.get("valid_from")
        try:
            valid_from = date.fromisoformat(vf) if vf else None
        except (TypeError, ValueError):
            errors.append(ImportIssue(feature=i, code=code, error="invalid_date",
                                      message=f"valid_from 日期格式错误: {vf}"))
            continue
        out.append(RegionInput(code=code, name=name, level=props.get("level") or None,
                               parent_code=(str(props["parent_code"]) if props.get("parent_code") else None),
                               geom=geom, valid_from=valid_from))
    return out, errors


def _check_geometry(i: int, item: RegionInput, warnings: list[ImportIssue],
                    errors: list[ImportIssue]) -> BaseGeometry | None:
    g = item.geom
    if g is None:
        if item.level in ("village", "grid"):
            errors.append(ImportIssue(feature=i, code=item.code, error="missing_geometry",
                                      message="村(社区)和网格必须有边界"))
        return None
    if g.geom_type not in ("Polygon", "MultiPolygon"):
        errors.append(ImportIssue(feature=i, code=item.code, error="not_polygon",
                                  message=f"边界必须是面(Polygon/MultiPolygon),收到 {g.geom_type}"))
        return None
    if g.is_empty:
        errors.append(ImportIssue(feature=i, code=item.code, error="empty_geometry", message="边界为空"))
        return None
    minx, miny, maxx, maxy = g.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    if all(map(math.isfinite, (cx, cy))) and crs_mod.out_of_china(cx, cy) and not crs_mod.out_of_china(cy, cx):
        errors.append(ImportIssue(feature=i, code=item.code, error="coordinates_swapped",
                                  message="经纬度顺序颠倒:GeoJSON 坐标应为 [经度, 纬度]"))
        return None
    if not all(map(math.isfinite, (minx, miny, maxx, maxy))) or minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        errors.append(ImportIssue(feature=i, code=item.code, error="coordinates_out_of_range",
                                  message="坐标超出经纬度范围"))
        return None
    if crs_mod.out_of_china(cx, cy):
        errors.append(ImportIssue(feature=i, code=item.code, error="outside_china",
                                  message="边界不在中国境内,请检查坐标系"))
        return None
    if not g.is_valid:
        reason = shapely.is_valid_reason(g)
        fixed = shapely.make_valid(g)
        if fixed.geom_type == "GeometryCollection":
            polys = [p for p in fixed.geoms if p.geom_type in ("Polygon", "MultiPolygon")]
            fixed = shapely.union_all(polys) if polys else shapely.Polygon()
        base = shapely.Polygon(g.exterior) if g.geom_type == "Polygon" else shapely.union_all(
            [shapely.Polygon(p.exterior) for p in g.geoms])
        ref_area = max(base.area, 1e-18)
        change = abs(fixed.area - g.area) / ref_area if g.area else 1.0
        if fixed.is_empty or not fixed.is_valid or fixed.geom_type not in ("Polygon", "MultiPolygon") \
                or change > REPAIR_TOLERANCE:
            errors.append(ImportIssue(feature=i, code=item.code, error="invalid_geometry",
                                      message=f"边界无效且无法自动修复: {reason}"))
            return None
        warnings.append(ImportIssue(feature=i, code=item.code, error="repaired_geometry",
                                    message=f"边界无效({reason}),已自动修复,面积变化 {change:.2%}"))
        g = fixed
    return g


def _area_km2(g: BaseGeometry) -> float:
    c = g.centroid
    kx, ky = crs_mod.local_metric_frame(c.y)
    return g.area * kx * ky / 1e6


def bump_boundary_version(session: Session) -> int:
    state = session.get(GeoState, 1)
    if state is None:
        state = GeoState(id=1, boundary_version=0)
        session.add(state)
    state.boundary_version += 1
    return state.boundary_version


def import_regions(session: Session, actor: Actor, items: list[RegionInput], *,
                   replace: bool = False, valid_from: date | None = None,
                   prior_errors: list[ImportIssue] | None = None) -> ImportReport:
    """Check every region (codes, parents, geometry, containment, sibling overlap) and write all or none."""
    require(actor, Action.REGION_IMPORT)
    errors = list(prior_errors or [])
    warnings: list[ImportIssue] = []
    today = clock.today()
    seen: dict[str, int] = {}
    checked: list[tuple[int, RegionInput, BaseGeometry | None]] = []
    for i, item in enumerate(items):
        level = item.level or infer_level(item.code)
        if level is None:
            errors.append(ImportIssue(feature=i, code=item.code, error="invalid_code",
                                      message=f"无法从代码 {item.code} 判断层级(应为 6/9/12/15 位数字)"))
            continue
        item.level = level
        item.parent_code = item.parent_code or infer_parent_code(item.code, level)
        try:
            item_kind = check_code(item.code, level, item.parent_code)
        except BadInput as exc:
            errors.append(ImportIssue(feature=i, code=item.code, error=exc.code, message=exc.message_zh))
            continue
        if item.code in seen:
            errors.append(ImportIssue(feature=i, code=item.code, error="duplicate_code",
                                      message=f"代码 {item.code} 在文件中重复(第 {seen[item.code] + 1} 个要素)"))
            continue
        seen[item.code] = i
        # an operator's explicit date wins over the file's, which wins over today
        item.valid_from = valid_from or item.valid_from or today
        g = _check_geometry(i, item, warnings, errors)
        item.kind = item_kind
        checked.append((i, item, g))

    codes = [it.code for _, it, _ in checked]
    parent_codes = {it.parent_code for _, it, _ in checked if it.parent_code}
    existing: dict[str, Region] = {}
    wanted = list(set(codes) | parent_codes)
    for k in range(0, len(wanted), 900):
        for r in session.scalars(select(Region).where(Region.code.in_(wanted[k:k + 900]), current_filter())):
            existing[r.code] = r
    new_by_code = {it.code: (i, it, g) for i, it, g in checked}

    for i, it, _ in checked:
        if it.code in existing and not replace:
            errors.append(ImportIssue(feature=i, code=it.code, error="duplicate_code",
                                      message=f"代码 {it.code} 已存在(如需重新划分请使用替换模式)"))
        if it.parent_code:
            plevel = new_by_code[it.parent_code][1].level if it.parent_code in new_by_code else (
                existing[it.parent_code].level if it.parent_code in existing else None)
            if plevel is None:
                errors.append(ImportIssue(feature=i, code=it.code, error="unknown_parent",
                                          message=f"上级区域 {it.parent_code} 不存在"))
            elif plevel not in PARENT_LEVELS[it.level or ""]:
                errors.append(ImportIssue(feature=i, code=it.code, error="wrong_parent_level",
                                          message=f"{it.level} 不能隶属于 {plevel} 级区域 {it.parent_code}"))

    # later checks only look at features that passed the ones above: one root cause per feature
    failed = {e.feature for e in errors}
    checked_ok = [t for t in checked if t[0] not in failed]

    def parent_geom(code: str | None) -> BaseGeometry | None:
        if not code:
            return None
        if code in new_by_code:
            return new_by_code[code][2]
        r = existing.get(code)
        return geometry(r) if r else None

    # containment
    parent_cache: dict[str, BaseGeometry | None] = {}
    for i, it, g in checked_ok:
        if g is None or not it.parent_code:
            continue
        if it.parent_code not in parent_cache:
            pg = parent_geom(it.parent_code)
            if pg is not None:
                shapely.prepare(pg)
            parent_cache[it.parent_code] = pg
        pg = parent_cache[it.parent_code]
        if pg is None or pg.contains(g):
            continue
        outside = g.difference(pg).area / max(g.area, 1e-18)
        if outside > WITHIN_TOLERANCE:
            errors.append(ImportIssue(feature=i, code=it.code, error="outside_parent",
                                      message=f"{it.name} 有 {outside:.1%} 的面积超出上级区域 {it.parent_code}"))

    # sibling overlap (new against new and against existing siblings that stay)
    failed = {e.feature for e in errors}
    by_parent: dict[str | None, list[tuple[str, BaseGeometry]]] = defaultdict(list)
    for i, it, g in checked:
        if g is not None and i not in failed:
            by_parent[it.parent_code].append((it.code, g))
    for pcode, new_sibs in by_parent.items():
        sibs = list(new_sibs)
        parent = existing.get(pcode) if pcode else None
        if parent is not None:
            for r in session.scalars(select(Region).where(Region.parent_id == parent.id, current_filter(),
                                                          Region.geom_wkb.is_not(None))):
                if r.code not in new_by_code:
                    sibs.append((r.code, geometry(r)))
        if len(sibs) < 2:
            continue
        geoms = np.array([g for _, g in sibs], dtype=object)
        tree = shapely.STRtree(geoms)
        a, b = tree.query(geoms, predicate="intersects")
        keep = a < b
        n_new = len(new_sibs)
        for x, y in zip(a[keep], b[keep]):
            if x >= n_new and y >= n_new:
                continue
            inter = shapely.intersection(geoms[x], geoms[y]).area
            ratio = inter / max(min(geoms[x].area, geoms[y].area), 1e-18)
            if ratio > OVERLAP_TOLERANCE:
                mine, other = (sibs[x][0], sibs[y][0]) if x < n_new else (sibs[y][0], sibs[x][0])
                errors.append(ImportIssue(feature=new_by_code[mine][0], code=mine, error="sibling_overlap",
                                          message=f"{mine} 与 {other} 重叠 {ratio:.1%}"))

    if errors:
        errors.sort(key=lambda e: e.feature)
        raise BadInput("import_invalid", f"导入未执行:{len(errors)} 处错误,请修正后重试",
                       f"Import refused: {len(errors)} error(s); nothing was written",
                       extra={"errors": [e.model_dump() for e in errors],
                              "warnings": [w.model_dump() for w in warnings]})

    report = ImportReport(warnings=warnings)
    order = {lvl: k for k, lvl in enumerate(LEVEL_ORDER)}
    created: dict[str, Region] = {}
    for i, it, g in sorted(checked, key=lambda t: order[Level(t[1].level)]):
        parent = created.get(it.parent_code or "") or existing.get(it.parent_code or "")
        old = existing.get(it.code)
        if old is not None:  # replace mode
            report.replaced += 1
            if it.level == "grid":
                _retire_and_redraw(session, old, it, g, parent)
            else:
                _set_geometry(old, g)
                old.name = it.name
            created[it.code] = old
            continue
        region = Region(code=it.code, name=it.name, level=it.level, kind=it.kind,
                        parent_id=parent.id if parent else None, valid_from=it.valid_from)
        _set_geometry(region, g)
        session.add(region)
        session.flush()
        region.path = (parent.path if parent else "/") + f"{region.id}/"
        created[it.code] = region
        report.created += 1
    bump_boundary_version(session)
    from civicgrid.access.service import audit

    audit(session, actor, "region.import", "region", None,
          {"created": report.created, "replaced": report.replaced, "warnings": len(warnings)})
    session.flush()
    return report


def _set_geometry(region: Region, g: BaseGeometry | None) -> None:
    if g is None:
        region.geom_wkb = None
        return
    region.geom_wkb = shapely.to_wkb(g)
    region.min_lon, region.min_lat, region.max_lon, region.max_lat = g.bounds
    c = g.representative_point() if not g.centroid.within(g) else g.centroid
    region.centroid_lon, region.centroid_lat = round(c.x, 7), round(c.y, 7)
    region.area_km2 = _area_km2(g)


def _retire_and_redraw(session: Session, old: Region, it: RegionInput, g: BaseGeometry | None,
                       parent: Region | None) -> None:
    """A redrawn grid: the old version ends where the new begins; old cases keep the old grid."""
    from civicgrid.access.service import move_grid_assignments

    start = it.valid_from or clock.today()
    if start <= old.valid_from:
        raise BadInput("invalid_validity", f"网格 {old.code} 的新版本生效日期须晚于 {old.valid_from}",
                       f"New version of {old.code} must start after {old.valid_from}")
    old.valid_to = start
    new = Region(code=it.code, name=it.name, level=it.level, kind=old.kind,
                 parent_id=parent.id if parent else old.parent_id, valid_from=start)
    _set_geometry(new, g)
    session.add(new)
    session.flush()
    new.path = (parent.path if parent else "/") + f"{new.id}/"
    move_grid_assignments(session, old.id, new.id)


def import_geojson(session: Session, actor: Actor, data: Any, *, replace: bool = False,
                   source_crs: str = "wgs84", valid_from: date | None = None) -> ImportReport:
    """Import a GeoJSON FeatureCollection (converted from GCJ-02/BD-09 when source_crs says so)."""
    items, errors = parse_feature_collection(data)
    if source_crs != "wgs84":
        for it in items:
            if it.geom is not None:
                it.geom = shapely.transform(
                    it.geom, lambda c: np.column_stack(crs_mod.to_wgs84(c[:, 0], c[:, 1], source_crs)))
    return import_regions(session, actor, items, replace=replace, valid_from=valid_from, prior_errors=errors)


# ---------------------------------------------------------------------------------------------
# locator


@dataclass
class _LocatorCache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    key: tuple[str, int] | None = None
    window: tuple[date, date] = (date.min, date.min)  # the days for which the cached set of grids holds
    locator: Locator | None = None


_cache = _LocatorCache()


def build_locator(session: Session, *, on: date | None = None, snap_m: float | None = None) -> Locator:
    """A fresh locator over the grids valid on `on`."""
    grids = list(session.execute(
        select(Region.id, Region.code, Region.name, Region.path, Region.geom_wkb)
        .where(Region.level == "grid", current_filter(on), Region.geom_wkb.is_not(None)).order_by(Region.code)))
    anc_ids = {int(x) for g in grids for x in g.path.strip("/").split("/")[:-1]}
    names: dict[int, tuple[str, str, str]] = {}
    ids = list(anc_ids)
    for k in range(0, len(ids), 900):
        for rid, level, code, name in session.execute(
                select(Region.id, Region.level, Region.code, Region.name).where(Region.id.in_(ids[k:k + 900]))):
            names[rid] = (level, code, name)
    refs = [GridRef(id=g.id, code=g.code, name=g.name,
                    ancestors=tuple(names[int(x)] for x in g.path.strip("/").split("/")[:-1] if int(x) in names))
            for g in grids]
    geoms = shapely.from_wkb([g.geom_wkb for g in grids])
    return Locator(refs, list(geoms), snap_m=get_settings().locate_snap_m if snap_m is None else snap_m).warm()


def _validity_window(session: Session, day: date) -> tuple[date, date]:
    """The longest span around `day` in which no region starts or ends (the current set stays the same)."""
    points = {d for d in session.scalars(select(Region.valid_from).distinct())} | {
        d for d in session.scalars(select(Region.valid_to).where(Region.valid_to.is_not(None)).distinct())}
    lo = max((d for d in points if d <= day), default=date.min)
    hi = min((d for d in points if d > day), default=date.max)
    return lo, hi


def get_locator(session: Session) -> Locator:
    """The process's locator, rebuilt when boundaries change or today leaves the span its grids are valid for."""
    state = session.get(GeoState, 1)
    version = state.boundary_version if state else 0
    bind = session.get_bind()
    key = (str(getattr(bind, "engine", bind).url), version)
    today = clock.today()
    with _cache.lock:
        lo, hi = _cache.window
        if _cache.key != key or _cache.locator is None or not (lo <= today < hi):
            _cache.locator = build_locator(session)
            _cache.key = key
            _cache.window = _validity_window(session, today)
        return _cache.locator


STATUS_MESSAGES = {
    "outside_city": "该位置不在本市网格范围内",
    "outside_china": "坐标不在中国境内,请检查坐标系和经纬度",
    "coordinates_swapped": "经纬度顺序颠倒:请先填经度(lon)再填纬度(lat)",
    "invalid": "坐标无效",
}


def _precheck(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Per-point status before locating: '' when fine, else invalid / outside_china / swapped."""
    status = np.full(lon.shape, "", dtype=object)
    finite = np.isfinite(lon) & np.isfinite(lat)
    bad = ~finite | (np.abs(lat) > 90) | (np.abs(lon) > 180)
    status[bad] = "invalid"
    oc = np.zeros(lon.shape, dtype=bool)
    oc[finite] = crs_mod.out_of_china(lon[finite], lat[finite])
    status[oc & ~bad] = "outside_china"
    # (lat, lon) sent as (lon, lat): out of range or abroad as given, inside China when swapped
    sw = np.zeros(lon.shape, dtype=bool)
    sw[oc] = ~np.asarray(crs_mod.out_of_china(lat[oc], lon[oc]), dtype=bool)
    status[sw] = "coordinates_swapped"
    return status


def locate_arrays(session: Session, lon: np.ndarray, lat: np.ndarray, crs: str = "wgs84"):
    """Vectorised locate: (WGS-84 lon, lat, grid index or -1, distance m, precheck status)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    status = _precheck(lon, lat)
    ok = status == ""
    wlon, wlat = lon.copy(), lat.copy()
    if crs != "wgs84" and ok.any():
        wlon[ok], wlat[ok] = crs_mod.to_wgs84(lon[ok], lat[ok], crs)
    loc = get_locator(session)
    idx = np.full(lon.shape, -1, dtype=np.int64)
    dist = np.full(lon.shape, np.inf)
    if ok.any():
        idx[ok], dist[ok] = loc.locate_many(wlon[ok], wlat[ok])
    return loc, wlon, wlat, idx, dist, status


def _answer(loc: Locator, lon: float, lat: float, i: int, d: float, pre: str) -> dict[str, Any]:
    if pre:
        return {"status": pre, "message": STATUS_MESSAGES[pre]}
    if i < 0:
        return {"status": OUTSIDE, "message": STATUS_MESSAGES[OUTSIDE], "lon_wgs84": round(lon, 7),
                "lat_wgs84": round(lat, 7)}
    ref = loc.grids[i]
    status = FOUND if d == 0 else SNAPPED
    path = " ".join(n for lvl, _, n in ref.ancestors if lvl != "city")
    msg = f"位于 {path} {ref.name}" if status == FOUND else f"距 {ref.name} {d:.0f} 米,已归入该网格"
    return {"status": status, "message": msg, "lon_wgs84": round(lon, 7), "lat_wgs84": round(lat, 7),
            "distance_m": round(d, 1), "grid": {"code": ref.code, "name": ref.name},
            "ancestors": [{"level": lvl, "code": c, "name": n} for lvl, c, n in ref.ancestors]}


def locate_point(session: Session, actor: Actor, lon: float, lat: float, crs: str = "wgs84") -> LocateOut:
    """The grid of one point; points outside China or with swapped axes are bad input (400)."""
    require(actor, Action.LOCATE)
    loc, wlon, wlat, idx, dist, status = locate_arrays(session, np.array([lon]), np.array([lat]), crs)
    pre = status[0]
    if pre:
        raise BadInput(pre, STATUS_MESSAGES[pre], {
            "outside_china": "Point is outside China: check the coordinate system and axis order",
            "coordinates_swapped": "Latitude and longitude look swapped: send lon first, then lat",
            "invalid": "Coordinates are not finite numbers in range"}[pre])
    return LocateOut(**_answer(loc, float(wlon[0]), float(wlat[0]), int(idx[0]), float(dist[0]), ""))


def locate_points(session: Session, actor: Actor, points: list[tuple[float, float]],
                  crs: str = "wgs84") -> dict[str, Any]:
    """Bulk locate: one answer per point, in order, with per-status counts."""
    require(actor, Action.LOCATE)
    arr = np.asarray(points, dtype=float).reshape(-1, 2) if points else np.zeros((0, 2))
    loc, wlon, wlat, idx, dist, status = locate_arrays(session, arr[:, 0], arr[:, 1], crs)
    results = [_answer(loc, float(wlon[k]), float(wlat[k]), int(idx[k]), float(dist[k]), status[k])
               for k in range(len(arr))]
    counts: dict[str, int] = defaultdict(int)
    for r in results:
        counts[r["status"]] += 1
    return {"results": results, "counts": dict(counts)}


def map_context(session: Session, actor: Actor, region_code: str | None) -> dict[str, Any]:
    """What the map page needs: the focused region, its ancestors, and the towns/villages to pick from."""
    roots = visible_roots(session, actor)
    if region_code:
        focus = get_region(session, actor, region_code)
    elif roots:
        focus = roots[0]
    else:
        return {"focus": None, "roots": [], "choices": [], "crumbs": []}
    crumbs = [a for a in ancestors(session, focus) if any(a.path.startswith(r.path) for r in roots)]
    choices = list(session.scalars(select(Region).where(Region.parent_id == focus.id, current_filter(),
                                                        Region.level != "grid").order_by(Region.code)))
    counts = dict(session.execute(select(Region.level, func.count()).where(
        Region.path.startswith(focus.path), Region.id != focus.id, current_filter()).group_by(Region.level)).all())
    mine = sorted(codes_by_id(session, set(actor.grid_ids)).values()) if actor.grid_ids else []
    return {"focus": focus, "roots": roots, "choices": choices, "crumbs": crumbs, "counts": counts, "mine": mine}


def reset_locator_cache() -> None:
    """Forget the process's locator (tests roll back boundary changes under the same version number)."""
    with _cache.lock:
        _cache.key = None
        _cache.locator = None
