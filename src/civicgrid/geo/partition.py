"""Split a polygon into n compact, contiguous pieces of similar area (demo villages and grids).

Real village and grid boundaries are not public for Dongguan (see data/dongguan/README.md), so the
demo draws them: sample points uniformly inside the parent, cluster them with k-means (Lloyd's
algorithm, k-means++ seeding) in a local metric frame, take the Voronoi cells of the cluster centres
and clip them to the parent. The pieces then tile the parent exactly (no gaps, no overlaps beyond
floating-point noise), and each holds roughly the same number of samples, i.e. similar area.

Clipping a Voronoi cell to a non-convex parent can leave a cell in several parts; small detached
parts are handed to the neighbour with which they share the longest border, so each piece is one
polygon wherever the parent itself is (a parent made of islands keeps its islands).
"""
from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry


def _polys(g: BaseGeometry) -> list[Polygon]:
    if g.is_empty:
        return []
    if isinstance(g, Polygon):
        return [g]
    return [p for p in getattr(g, "geoms", []) if isinstance(p, Polygon) and not p.is_empty] + [
        q for p in getattr(g, "geoms", []) if not isinstance(p, Polygon) for q in _polys(p)]


def _as_area(g: BaseGeometry) -> BaseGeometry:
    """Keep only the areal parts of a clipping result (drop stray lines and points)."""
    ps = _polys(g)
    if not ps:
        return Polygon()
    return ps[0] if len(ps) == 1 else MultiPolygon(ps)


def _sample(poly: BaseGeometry, count: int, rng: np.random.Generator, sx: float) -> np.ndarray:
    """Uniform random points inside poly, returned in the scaled frame (x * sx, y)."""
    minx, miny, maxx, maxy = poly.bounds
    shapely.prepare(poly)
    out: list[np.ndarray] = []
    have = 0
    fill = max(poly.area / max((maxx - minx) * (maxy - miny), 1e-18), 0.02)
    while have < count:
        m = int((count - have) / fill * 1.3) + 16
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        keep = shapely.contains_xy(poly, x, y)
        if keep.any():
            out.append(np.column_stack([x[keep] * sx, y[keep]]))
            have += int(keep.sum())
    return np.vstack(out)[:count]


def _kmeans(pts: np.ndarray, k: int, rng: np.random.Generator, iterations: int) -> np.ndarray:
    # k-means++ seeding
    centres = np.empty((k, 2))
    centres[0] = pts[rng.integers(len(pts))]
    d2 = ((pts - centres[0]) ** 2).sum(1)
    for i in range(1, k):
        total = d2.sum()
        j = rng.choice(len(pts), p=d2 / total) if total > 0 else rng.integers(len(pts))
        centres[i] = pts[j]
        d2 = np.minimum(d2, ((pts - centres[i]) ** 2).sum(1))
    for _ in range(iterations):
        lab = _assign(pts, centres)
        for i in range(k):
            mine = pts[lab == i]
            if len(mine):
                centres[i] = mine.mean(0)
            else:  # an empty cluster restarts at the point worst served by the others
                far = ((pts - centres[lab]) ** 2).sum(1).argmax()
                centres[i] = pts[far]
    # Lloyd means may fall outside a non-convex parent; move each centre to its cluster's medoid-ish
    # nearest sample so its Voronoi cell surely contains samples of the parent.
    lab = _assign(pts, centres)
    for i in range(k):
        mine = pts[lab == i]
        if len(mine):
            centres[i] = mine[((mine - centres[i]) ** 2).sum(1).argmin()]
    return centres


def _assign(pts: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(2)
    return d.argmin(1)


def _merge_fragments(pieces: list[BaseGeometry]) -> list[BaseGeometry]:
    """Give each detached minor part of a piece to the neighbour sharing its longest border."""
    pieces = list(pieces)
    for i in range(len(pieces)):
        parts = _polys(pieces[i])
        if len(parts) <= 1:
            continue
        parts.sort(key=lambda p: p.area, reverse=True)
        keep = [parts[0]]
        for frag in parts[1:]:
            fb = frag.boundary
            best, best_len = -1, 0.0
            for j, other in enumerate(pieces):
                if j == i or other.is_empty:
                    continue
                if not frag.buffer(1e-9).intersects(other):
                    continue
                shared = fb.intersection(other.buffer(1e-9)).length
                if shared > best_len:
                    best, best_len = j, shared
            if best >= 0 and best_len > 0:
                pieces[best] = _as_area(shapely.union(pieces[best], frag))
            else:
                keep.append(frag)  # an island of the parent: nothing to merge with
        pieces[i] = keep[0] if len(keep) == 1 else MultiPolygon(keep)
    return pieces


def partition(polygon: BaseGeometry, n: int, *, seed: int = 0, iterations: int = 12,
              samples_per_part: int = 60) -> list[BaseGeometry]:
    """Exactly n non-empty, valid (Multi)Polygons that tile `polygon` (lon/lat degrees)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if polygon.is_empty or polygon.area <= 0:
        raise ValueError("cannot partition an empty polygon")
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    polygon = _as_area(polygon)
    if n == 1:
        return [polygon]
    rng = np.random.default_rng(seed)
    lat0 = polygon.centroid.y
    sx = math.cos(math.radians(lat0)) if abs(lat0) < 89 else 1.0
    pts = _sample(polygon, n * samples_per_part, rng, sx)
    centres = _kmeans(pts, n, rng, iterations)
    minx, miny, maxx, maxy = polygon.bounds
    pad = max(maxx - minx, maxy - miny) + 1.0
    env = shapely.box(minx * sx - pad, miny - pad, maxx * sx + pad, maxy + pad)
    cells = shapely.voronoi_polygons(shapely.multipoints(centres), extend_to=env)
    cells = list(shapely.get_parts(cells))
    # match cells to centres (a cell contains exactly its own generator)
    by_centre: list[BaseGeometry | None] = [None] * n
    for cell in cells:
        inside = np.flatnonzero(shapely.contains_xy(cell, centres[:, 0], centres[:, 1]))
        for i in inside:
            if by_centre[i] is None:
                by_centre[i] = cell
                break
    scale_back = lambda c: np.column_stack([c[:, 0] / sx, c[:, 1]])  # noqa: E731
    pieces: list[BaseGeometry] = []
    for cell in by_centre:
        if cell is None:  # duplicate generator: leave empty and repair below
            pieces.append(Polygon())
            continue
        cell_deg = shapely.transform(cell, scale_back)
        pieces.append(_as_area(shapely.intersection(polygon, cell_deg)))
    pieces = _merge_fragments(pieces)
    pieces = [shapely.make_valid(p) if not p.is_valid else p for p in pieces]
    pieces = [_as_area(p) for p in pieces]
    _fill_empty(pieces)
    return pieces


def _fill_empty(pieces: list[BaseGeometry]) -> None:
    """Guarantee n non-empty pieces: split the largest piece in two for every empty one."""
    for i, p in enumerate(pieces):
        if not p.is_empty:
            continue
        j = max(range(len(pieces)), key=lambda k: pieces[k].area)
        big = pieces[j]
        minx, miny, maxx, maxy = big.bounds
        if maxx - minx >= maxy - miny:
            mid = (minx + maxx) / 2
            a, b = shapely.box(minx - 1, miny - 1, mid, maxy + 1), shapely.box(mid, miny - 1, maxx + 1, maxy + 1)
        else:
            mid = (miny + maxy) / 2
            a, b = shapely.box(minx - 1, miny - 1, maxx + 1, mid), shapely.box(minx - 1, mid, maxx + 1, maxy + 1)
        pieces[j] = _as_area(big.intersection(a))
        pieces[i] = _as_area(big.intersection(b))


def order_west_east_north_south(geoms: list[BaseGeometry], band: float | None = None) -> list[int]:
    """Indices of geoms in reading order: rows from north to south, west to east within a row.

    Rows are horizontal bands of height `band` (default: the extent divided into about sqrt(n)
    rows), judged by each piece's representative point, so codes read like a printed map.
    """
    if not geoms:
        return []
    pts = [g.representative_point() for g in geoms]
    ys = np.array([p.y for p in pts])
    xs = np.array([p.x for p in pts])
    if band is None:
        rows = max(1, round(math.sqrt(len(geoms))))
        band = (ys.max() - ys.min()) / rows or 1.0
        band *= 1.0000001  # the northernmost point falls in row 0, not a row of its own
    row = np.floor((ys.max() - ys) / band).astype(int)
    return sorted(range(len(geoms)), key=lambda i: (row[i], xs[i], -ys[i]))
