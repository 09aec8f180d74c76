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
        pts = shapely.points(lon, lat)
        pairs = self.tree.query(pts, predicate="intersects")
        if pairs.shape[1]:
            # a point on a shared border touches two grids: keep the lower index, deterministically
            order = np.lexsort((pairs[1], pairs[0]))
            p, g = pairs[0][order], pairs[1][order]
            first = np.ones(p.shape, dtype=bool)
            first[1:] = p[1:] != p[:-1]
            idx[p[first]] = g[first]
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
