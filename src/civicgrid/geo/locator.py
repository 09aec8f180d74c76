"""Point → grid (and its ancestors): an in-memory Shapely STRtree over the current grid polygons.

Containment runs in degrees (a linear rescale does not change point-in-polygon); the fallback for
points just outside every grid (on a border gap, a few metres outside the city) runs in a local
equirectangular metric frame, so the snap distance is in metres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from civicgrid.geo.crs import local_metric_frame

# per-point statuses of a locate answer
FOUND = "found"
SNAPPED = "snapped"
OUTSIDE = "outside_city"


@dataclass(frozen=True)
class GridRef:
    """What the locator knows of one grid: its id and the chain of ancestors for answers."""

    id: int
    code: str
    name: str
    ancestors: tuple[tuple[str, str, str], ...]  # (level, code, name) from city down to village


class Locator:
    """Answers which grid a WGS-84 point lies in, for one point or arrays of millions."""

    def __init__(self, grids: Sequence[GridRef], geoms: Sequence[BaseGeometry], *, snap_m: float) -> None:
        if len(grids) != len(geoms):
            raise ValueError("grids and geoms differ in length")
        self.grids = list(grids)
        self.snap_m = float(snap_m)
        self._geoms = np.asarray(geoms, dtype=object)
        self.tree = shapely.STRtree(self._geoms)
        if len(geoms):
            bounds = shapely.total_bounds(self._geoms)
            lat0 = float((bounds[1] + bounds[3]) / 2)
        else:
            lat0 = 23.0
        self.kx, self.ky = local_metric_frame(lat0)
        self._metric_tree: shapely.STRtree | None = None
        self._snap_zone: BaseGeometry | None = None
        for g in self._geoms:
            shapely.prepare(g)
        self._lattice: _Lattice | None = None

    def warm(self) -> Locator:
        """Build every index now (the lattice and the snap zone), not on the first query."""
        self._grid_index()
        if self.snap_m > 0 and len(self.grids):
            self._zone()
        return self

    def _grid_index(self) -> _Lattice:
        if self._lattice is None:
            self._lattice = _Lattice(self._geoms, self.tree)
        return self._lattice

    def _metric(self) -> shapely.STRtree:
        if self._metric_tree is None:
            scale = np.array([self.kx, self.ky])
            projected = shapely.transform(self._geoms, lambda c: c * scale)
            self._metric_tree = shapely.STRtree(projected)
        return self._metric_tree

    def _zone(self) -> BaseGeometry:
        """Every grid grown by the snap distance, merged, in the metric frame: a point outside it is
        outside the city without a nearest-neighbour search."""
        if self._snap_zone is None:
            self._metric()
            merged = shapely.union_all(self._metric_tree.geometries)  # type: ignore[union-attr]
            self._snap_zone = merged.buffer(self.snap_m * 1.001, quad_segs=4)
            shapely.prepare(self._snap_zone)
        return self._snap_zone

    def locate_many(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid index per point (-1 when outside the city) and distance in metres (0 when inside)."""
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        idx = np.full(lon.shape, -1, dtype=np.int64)
        dist = np.zeros(lon.shape, dtype=float)
        if not len(self.grids) or not lon.size:
            dist[:] = np.inf
            return idx, dist
        idx[:] = self._grid_index().locate(self._geoms, lon, lat)
        missing = np.flatnonzero(idx < 0)
        dist[missing] = np.inf
        if missing.size and self.snap_m > 0:
            mx, my = lon[missing] * self.kx, lat[missing] * self.ky
            near_city = shapely.contains_xy(self._zone(), mx, my)
            missing, mx, my = missing[near_city], mx[near_city], my[near_city]
        else:
            missing = missing[:0]
        if missing.size:
            mpts = shapely.points(mx, my)
            near, d = self._metric().query_nearest(mpts, max_distance=self.snap_m, return_distance=True,
                                                   all_matches=False)
            idx[missing[near[0]]] = near[1]
            dist[missing[near[0]]] = d
        return idx, dist

    def locate(self, lon: float, lat: float) -> tuple[GridRef | None, float]:
        """The grid of one point and the distance in metres to it (0 inside, inf when outside)."""
        idx, dist = self.locate_many(np.array([lon]), np.array([lat]))
        i = int(idx[0])
        return (self.grids[i] if i >= 0 else None), float(dist[0])


class _Lattice:
    """A regular lattice over the grids' extent: each cell knows the grids that touch it, and a cell lying
    wholly inside one grid answers without any geometry test. Points in mixed cells are tested against
    their cell's few candidates with the vectorised `intersects_xy` (no Point objects are made)."""

    def __init__(self, geoms: np.ndarray, tree: shapely.STRtree, cells: int = 256) -> None:
        self.n = cells
        if not len(geoms):
            self.x0 = self.y0 = 0.0
            self.dx = self.dy = 1.0
            self.pure = np.full(1, -1)
            self.start = np.zeros(2, dtype=np.int64)
            self.cand = np.zeros(0, dtype=np.int64)
            self.n = 1
            return
        minx, miny, maxx, maxy = shapely.total_bounds(geoms)
        self.x0, self.y0 = float(minx), float(miny)
        self.dx = (float(maxx) - self.x0) / cells or 1e-9
        self.dy = (float(maxy) - self.y0) / cells or 1e-9
        ix, iy = np.meshgrid(np.arange(cells), np.arange(cells), indexing="xy")
        ix, iy = ix.ravel(), iy.ravel()
        boxes = shapely.box(self.x0 + ix * self.dx, self.y0 + iy * self.dy,
                            self.x0 + (ix + 1) * self.dx, self.y0 + (iy + 1) * self.dy)
        cell_of = iy * cells + ix
        # candidates: grids whose polygon intersects the cell, in grid order per cell
        c, g = tree.query(boxes, predicate="intersects")
        order = np.lexsort((g, c))
        c, g = c[order], g[order]
        self.cand = g.astype(np.int64)
        self.start = np.searchsorted(c, np.arange(cells * cells + 1)).astype(np.int64)
        # pure cells: one grid covers the whole cell
        self.pure = np.full(cells * cells, -1, dtype=np.int64)
        wc, wg = tree.query(boxes, predicate="within")
        counts = np.diff(self.start)
        one = counts[wc] == 1
        self.pure[cell_of[wc[one]]] = wg[one]

    def locate(self, geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        out = np.full(lon.shape, -1, dtype=np.int64)
        ix = np.floor((lon - self.x0) / self.dx)
        iy = np.floor((lat - self.y0) / self.dy)
        inside = (ix >= 0) & (ix < self.n) & (iy >= 0) & (iy < self.n)
        pts = np.flatnonzero(inside)
        cell = (iy[pts] * self.n + ix[pts]).astype(np.int64)
        pure = self.pure[cell]
        out[pts] = pure
        mixed = pts[pure < 0]
        mcell = cell[pure < 0]
        counts = self.start[mcell + 1] - self.start[mcell]
        has = counts > 0
        mixed, mcell, counts = mixed[has], mcell[has], counts[has]
        if not mixed.size:
            return out
        # expand to (point, candidate) pairs and test them all at once
        p = np.repeat(mixed, counts)
        offs = np.arange(p.size) - np.repeat(np.cumsum(counts) - counts, counts)
        g = self.cand[np.repeat(self.start[mcell], counts) + offs]
        hit = shapely.intersects_xy(geoms[g], lon[p], lat[p])
        p, g = p[hit], g[hit]
        # the first hit per point wins: candidates are in grid order, so a point on a shared border gets
        # the lower-numbered grid, deterministically (p is sorted because mixed is)
        first = np.ones(p.shape, dtype=bool)
        first[1:] = p[1:] != p[:-1]
        out[p[first]] = g[first]
        return out
