"""Locator benchmark: how fast civicgrid puts points into grids, against baselines run in the same process.

What it measures, on the full demo city (2,958 grids of Dongguan) built into a temporary SQLite database:

1. demo build time (the whole city through the services);
2. bulk: N random points (default 1,000,000) located by civicgrid's vectorised locator, against
   geopandas.sjoin (the usual tool for this job) and a per-point Shapely loop on a sample; the answers of
   civicgrid and geopandas are compared point by point;
3. bulk with GCJ-02 input (conversion included) against WGS-84 input;
4. single points: p50 / p99 latency of `POST /api/v1/locate` through the ASGI app, against the bare
   `/health` endpoint of the same app (so the ratio shows what locating adds to a request).

Run:  .venv/bin/pip install -e ".[bench]" && .venv/bin/python benchmarks/locate_bench.py [--points 1000000]
Nothing here is a test; figures vary with the machine, ratios much less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(fn, *args, repeat: int = 3, **kwargs):
    """Best of `repeat` wall-clock runs, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--single", type=int, default=2000, help="single-point requests to time")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="civicgrid-bench-"))
    os.environ["CIVICGRID_DATABASE_URL"] = f"sqlite:///{tmp / 'bench.db'}"
    os.environ["CIVICGRID_LOG_JSON"] = "false"
    os.environ["CIVICGRID_LOG_LEVEL"] = "WARNING"

    import geopandas as gpd
    import shapely
    from fastapi.testclient import TestClient

    from civicgrid.access.service import SYSTEM
    from civicgrid.app import create_app
    from civicgrid.db import get_engine, unit_of_work
    from civicgrid.demo import build_demo
    from civicgrid.geo import crs
    from civicgrid.geo import service as geo
    from civicgrid.migrate import upgrade

    print(f"civicgrid locator benchmark — {args.points:,} points, python {sys.version.split()[0]}, "
          f"shapely {shapely.__version__}, geopandas {gpd.__version__}")
    upgrade(get_engine())
    t0 = time.perf_counter()
    with unit_of_work() as s:
        summary = build_demo(s)
    build_s = time.perf_counter() - t0
    print(f"\n1. demo city: {summary.towns} towns, {summary.villages} villages, {summary.grids} grids, "
          f"{summary.workers} workers built in {build_s:.1f} s")

    with unit_of_work() as s:
        t0 = time.perf_counter()
        loc = geo.build_locator(s)
        index_s = time.perf_counter() - t0
        city = shapely.from_wkb(s.scalar(geo.select(geo.Region.geom_wkb).where(geo.Region.code == "441900")))
    print(f"   locator over {len(loc.grids)} grids (STRtree, 256×256 lattice, snap zone) built in {index_s * 1000:.0f} ms")

    rng = np.random.default_rng(args.seed)
    minx, miny, maxx, maxy = city.bounds
    lon = rng.uniform(minx, maxx, args.points)
    lat = rng.uniform(miny, maxy, args.points)

    # --- 2. bulk, WGS-84
    ours_s, (idx, dist) = timed(loc.locate_many, lon, lat)
    grids = gpd.GeoDataFrame({"gi": np.arange(len(loc.grids))}, geometry=list(loc._geoms), crs="EPSG:4326")

    def sjoin():
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        j = gpd.sjoin(pts, grids, how="left", predicate="intersects")
        j = j[~j.index.duplicated(keep="first")]
        return j["gi"].to_numpy()

    gpd_s, gi = timed(sjoin)
    gi = np.where(np.isnan(gi.astype(float)), -1, gi).astype(np.int64)
    inside = dist == 0
    agree = float(np.mean(idx[inside] == gi[inside])) if inside.any() else 1.0
    snapped = int(np.sum((idx >= 0) & (dist > 0)))

    sample = min(20_000, args.points)
    prepared = list(loc._geoms)

    def loop():
        out = np.full(sample, -1)
        for k in range(sample):
            p = shapely.Point(lon[k], lat[k])
            for c in loc.tree.query(p):
                if prepared[c].intersects(p):
                    out[k] = c
                    break
        return out

    loop_s, _ = timed(loop, repeat=1)
    loop_per_m = loop_s / sample * args.points

    print(f"\n2. bulk locate, {args.points:,} random points in the city's bounding box "
          f"({inside.mean():.1%} inside a grid, {snapped:,} snapped within {loc.snap_m:.0f} m)")
    print(f"   civicgrid Locator.locate_many   {ours_s:8.2f} s   {args.points / ours_s / 1e6:6.2f} M points/s")
    print(f"   geopandas.sjoin (baseline)      {gpd_s:8.2f} s   {args.points / gpd_s / 1e6:6.2f} M points/s")
    print(f"   per-point Shapely loop (est.)   {loop_per_m:8.2f} s   (timed on {sample:,} points)")
    print(f"   throughput ratio civicgrid / sjoin: {gpd_s / ours_s:.2f} (goal ≥ 1.0); "
          f"civicgrid / per-point loop: {loop_per_m / ours_s:.0f}")
    print(f"   answers equal to sjoin for points inside a grid: {agree:.4%}")

    # --- 3. GCJ-02 input
    glon, glat = crs.wgs84_to_gcj02(lon, lat)

    def with_conversion():
        wl, wa = crs.to_wgs84(glon, glat, "gcj02")
        return loc.locate_many(wl, wa)

    gcj_s, (gidx, _) = timed(with_conversion)
    same = float(np.mean(gidx == idx))
    print(f"\n3. bulk locate from GCJ-02 (exact inverse + locate): {gcj_s:.2f} s, "
          f"{gcj_s / ours_s:.2f}× the WGS-84 time; same grid as the WGS-84 points: {same:.4%}")

    # --- 4a. single points, in process (the service call a route makes, without HTTP)
    one_ms = []
    with unit_of_work() as s:
        for k in range(args.single):
            t = time.perf_counter()
            geo.locate_point(s, SYSTEM, float(lon[k]), float(lat[k]))
            one_ms.append((time.perf_counter() - t) * 1000)
    raw_ms = []
    for k in range(args.single):
        t = time.perf_counter()
        loc.locate(float(lon[k]), float(lat[k]))
        raw_ms.append((time.perf_counter() - t) * 1000)
    print(f"\n4a. single-point locate in process, {args.single:,} points")
    print(f"   service locate_point  p50 {np.percentile(one_ms, 50):6.3f} ms   p99 {np.percentile(one_ms, 99):6.3f} ms")
    print(f"   Locator.locate        p50 {np.percentile(raw_ms, 50):6.3f} ms   p99 {np.percentile(raw_ms, 99):6.3f} ms")

    # --- 4. single points through the API
    app = create_app()
    with TestClient(app) as client:
        with unit_of_work() as s:
            key = __import__("civicgrid.access.service", fromlist=["x"]).create_api_key(
                s, SYSTEM, "integration.12345", "bench")
        h = {"Authorization": f"Bearer {key}"}
        for _ in range(50):  # warm up (the locator is built on the first call)
            client.post("/api/v1/locate", json={"lon": float(lon[0]), "lat": float(lat[0])}, headers=h)
            client.get("/health")

        def lat_ms(call, n):
            out = []
            for k in range(n):
                t = time.perf_counter()
                call(k)
                out.append((time.perf_counter() - t) * 1000)
            return out

        loc_ms = lat_ms(lambda k: client.post("/api/v1/locate", headers=h,
                                              json={"lon": float(lon[k]), "lat": float(lat[k]), "crs": "wgs84"}),
                        args.single)
        base_ms = lat_ms(lambda k: client.get("/health"), args.single)

    def pct(v, q):
        return float(np.percentile(v, q))

    print(f"\n4b. single-point POST /api/v1/locate (API key, in-process ASGI client), {args.single:,} requests")
    print(f"   locate   p50 {pct(loc_ms, 50):6.2f} ms   p99 {pct(loc_ms, 99):6.2f} ms   mean {statistics.mean(loc_ms):6.2f} ms")
    print(f"   /health  p50 {pct(base_ms, 50):6.2f} ms   p99 {pct(base_ms, 99):6.2f} ms   (baseline: same app, no locating)")
    print(f"   ratio locate / health p50: {pct(loc_ms, 50) / pct(base_ms, 50):.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
