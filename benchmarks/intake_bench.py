"""Intake benchmark: how fast civicgrid takes in cases and moves them through the closed loop, against
baselines run in the same process.

What it measures, on the full demo city (2,958 grids of Dongguan), built by `civicgrid demo --no-serve --cases 0`
into a fresh database (SQLite: a temporary file; PostgreSQL: a database `civicgrid_bench` created for the run
and dropped at the end):

1. case intake over HTTP: `POST /api/v1/cases` (12345 hotline API key, random points inside real grids, a few
   common categories) against the bare `GET /health` of the same server, under a concurrent asyncio + httpx load
   generator; requests/s, p50 / p99 latency and errors for each, and the throughput ratio intake / health
   (goal ≥ 0.25). The server is one `civicgrid serve` (a single uvicorn process) on the same machine as the load
   generator, so both compete for its cores (the run prints how many there are and how busy each side was);
2. full lifecycles in process, no HTTP: report → accept → escalate → dispatch → take → handle → verify → close
   (E0101 in grid 441900003001001, the demo log-ins), through `cases.service.report_case` and
   `cases.engine.apply` in one `unit_of_work` transaction (rolled back), against a baseline of bare SQLAlchemy
   Core inserts of the same number of rows (9 per lifecycle: the case and its 8 timeline entries), one statement
   per row, in the same kind of transaction;
3. demo history: `demo_history.build_history(session, N)` on a fresh copy of the SQLite demo city; seconds,
   cases/s, steps/s and the time extrapolated (linearly) to Dongguan's year of 70,000 cases.

Run:  .venv/bin/python benchmarks/intake_bench.py [--db sqlite|postgres|both] [--seconds 15] [--concurrency 16]
      [--lifecycles 300] [--history 2000]
PostgreSQL must accept `postgres@127.0.0.1:5432` (see --pg-url). httpx ships with the test client.
Nothing here is a test; figures vary with the machine, ratios much less.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CATEGORIES = ("E0102", "E0103", "E0501", "E0504", "C0103", "S0202")
TITLES = {"E0102": "路边有暴露垃圾", "E0103": "路面油污不洁", "E0501": "流动摊贩占道经营", "E0504": "店铺出店经营",
          "C0103": "路灯不亮", "S0202": "电动车违规停放充电"}
GOAL = 0.25
LIFECYCLE = ("report", "accept", "escalate", "dispatch", "take", "handle", "verify", "close")
ROWS_PER_LIFECYCLE = 1 + len(LIFECYCLE)  # the case and one timeline entry per action
DEMO_GRID = "441900003001001"
DEMO_DEPARTMENT = "441900003-urban_management"


# ---------------------------------------------------------------------------------------------
# subprocesses: the CLI and the server


def cli_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "civicgrid"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "civicgrid.cli"]


def sub_env(url: str, storage: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CIVICGRID_DATABASE_URL=url, CIVICGRID_STORAGE_DIR=str(storage), CIVICGRID_LOG_JSON="false",
               CIVICGRID_LOG_LEVEL="WARNING", CIVICGRID_SWEEP_INTERVAL_S="0")
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 1800) -> str:
    p = subprocess.run(cli_cmd() + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"civicgrid {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    return p.stdout


def build_city(url: str, env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """`civicgrid demo --no-serve --cases 0`, then a fresh 12345 API key; (build seconds, key)."""
    t0 = time.perf_counter()
    run_cli(["demo", "--no-serve", "--cases", "0"], env, cwd)
    build_s = time.perf_counter() - t0
    lines = [ln.strip() for ln in run_cli(["apikey", "integration.12345"], env, cwd).splitlines() if ln.strip()]
    key = lines[-1]
    if not key.startswith("cg_"):
        raise RuntimeError(f"unexpected apikey output: {lines!r}")
    return build_s, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux); 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def start_server(env: dict[str, str], cwd: Path, log: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    fh = open(log, "wb")
    proc = subprocess.Popen(cli_cmd() + ["serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=cwd,
                            stdout=fh, stderr=subprocess.STDOUT)
    fh.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"server did not answer /health within 120 s:\n{log.read_text(errors='replace')[-3000:]}")


def stop_server(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# databases


def pg_admin(pg_url: str, sql: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(f"{pg_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as c:
            c.execute(text(sql))
    finally:
        eng.dispose()


def sample_points(url: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, int, float]:
    """n random points inside real grids: each grid's representative point jittered, kept when still inside."""
    import shapely
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from civicgrid.db import make_engine
    from civicgrid.geo.models import Region

    eng = make_engine(url)
    try:
        with Session(eng) as s:
            wkbs = s.scalars(select(Region.geom_wkb).where(Region.level == "grid", Region.valid_to.is_(None),
                                                           Region.geom_wkb.is_not(None))).all()
    finally:
        eng.dispose()
    geoms = shapely.from_wkb(list(wkbs))
    reps = shapely.get_coordinates(shapely.point_on_surface(geoms))
    b = shapely.bounds(geoms)
    idx = rng.integers(0, len(geoms), n)
    x = reps[idx, 0] + rng.normal(0, 0.2, n) * (b[idx, 2] - b[idx, 0])
    y = reps[idx, 1] + rng.normal(0, 0.2, n) * (b[idx, 3] - b[idx, 1])
    inside = shapely.contains_xy(geoms[idx], x, y)
    x[~inside], y[~inside] = reps[idx[~inside], 0], reps[idx[~inside], 1]
    return np.column_stack([x, y]), len(geoms), float(inside.mean())


def count_cases(url: str) -> int:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from civicgrid.cases.models import Case
    from civicgrid.db import make_engine

    eng = make_engine(url)
    try:
        with Session(eng) as s:
            return int(s.scalar(select(func.count()).select_from(Case)) or 0)
    finally:
        eng.dispose()


# ---------------------------------------------------------------------------------------------
# load generator


@dataclass
class Load:
    name: str
    seconds: float = 0.0
    lat_ms: list[float] = field(default_factory=list)
    ok: int = 0
    errors: int = 0
    first_error: str | None = None
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0  # successful requests only

    def pct(self, q: float) -> float:
        return float(np.percentile(self.lat_ms, q)) if self.lat_ms else float("nan")


async def _load(base: str, name: str, method: str, path: str, body_fn, headers: dict[str, str],
                concurrency: int, seconds: float, seed: int, timeout: float) -> Load:
    import httpx

    out = Load(name)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout, headers=headers) as client:
        deadline = time.perf_counter() + seconds

        async def worker(k: int) -> None:
            rng = random.Random(seed * 1000 + k)
            while time.perf_counter() < deadline:
                body = body_fn(rng) if body_fn else None
                t = time.perf_counter()
                try:
                    r = await client.request(method, path, json=body)
                    good, text = 200 <= r.status_code < 300, None if 200 <= r.status_code < 300 else (
                        f"HTTP {r.status_code}: {r.text[:500]}")
                except httpx.HTTPError as exc:
                    good, text = False, f"{type(exc).__name__}: {exc}"
                out.lat_ms.append((time.perf_counter() - t) * 1000)
                if good:
                    out.ok += 1
                else:
                    out.errors += 1
                    out.first_error = out.first_error or text

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        out.seconds = time.perf_counter() - t0
        out.client_cpu = time.process_time() - c0
    return out


def load(base: str, name: str, method: str, path: str, body_fn, headers: dict[str, str], concurrency: int,
         seconds: float, seed: int, server_pid: int, timeout: float) -> Load:
    s0 = cpu_seconds(server_pid)
    out = asyncio.run(_load(base, name, method, path, body_fn, headers, concurrency, seconds, seed, timeout))
    out.server_cpu = cpu_seconds(server_pid) - s0
    return out


def http_phase(db: str, url: str, env: dict[str, str], cwd: Path, key: str, args, rng: np.random.Generator,
               log: Path) -> dict:
    t0 = time.perf_counter()
    points, n_grids, inside = sample_points(url, 5000, rng)
    sample_s = time.perf_counter() - t0
    print(f"   {len(points):,} report points sampled inside {n_grids:,} grids ({inside:.0%} jittered, the rest at "
          f"the representative point) in {sample_s:.2f} s")

    def body(r: random.Random) -> dict:
        x, y = points[r.randrange(len(points))]
        cat = r.choice(CATEGORIES)
        return {"title": TITLES[cat], "category": cat, "lon": float(x), "lat": float(y),
                "description": f"{TITLES[cat]},请尽快处理。(benchmark)"}

    before = count_cases(url)
    proc = None
    try:
        proc, base = start_server(env, cwd, log)
        auth = {"Authorization": f"Bearer {key}"}
        common = dict(concurrency=args.concurrency, server_pid=proc.pid, timeout=args.timeout)
        # the baseline first: should intake break the server, the baseline is still measured on a sound one
        if args.warmup > 0:
            w = load(base, "warm-up", "GET", "/health", None, {}, seconds=args.warmup, seed=1, **common)
            print(f"   warm-up {args.warmup:g} s: {w.ok + w.errors} health requests")
        health = load(base, "GET /health", "GET", "/health", None, {}, seconds=args.seconds, seed=2, **common)
        if args.warmup > 0:
            w = load(base, "warm-up", "POST", "/api/v1/cases", body, auth, seconds=args.warmup, seed=3, **common)
            print(f"   warm-up {args.warmup:g} s: {w.ok + w.errors} intake requests" +
                  (f", {w.errors} errors; first: {w.first_error}" if w.errors else ""))
        intake = load(base, "POST /api/v1/cases", "POST", "/api/v1/cases", body, auth, seconds=args.seconds,
                      seed=4, **common)
    finally:
        stop_server(proc)
    hint = server_errors(log)
    stored = count_cases(url) - before
    ratio = intake.rps / health.rps if health.rps else float("nan")
    for r in (intake, health):
        print(f"   {r.name:<20} {r.rps:8.1f} ok req/s   p50 {r.pct(50):7.1f} ms   p99 {r.pct(99):7.1f} ms   "
              f"errors {r.errors}   server CPU {r.server_cpu / r.seconds:4.0%}   load-generator CPU "
              f"{r.client_cpu / r.seconds:4.0%} (of one core)")
        if r.first_error:
            print(f"      first error: {r.first_error}")
    print(f"   throughput ratio intake / health: {ratio:.2f} (goal ≥ {GOAL}); cases stored by the server during the "
          f"run: {stored:,}")
    if hint:
        print(f"   server log, {hint[0]} exception lines; the last ones:")
        for line in hint[1]:
            print(f"      {line}")
    return {"db": db, "intake": intake, "health": health, "ratio": ratio, "stored": stored}


def server_errors(log: Path) -> tuple[int, list[str]] | None:
    """How many exception lines the server logged, and the last distinct ones (None when there are none)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    exc = [ln.strip() for ln in lines if ln and not ln.startswith(" ") and ("Error" in ln or "Exception" in ln)
           and not ln.startswith("Traceback")]
    if not exc:
        return None
    last: list[str] = []
    for ln in reversed(exc):
        if ln[:200] not in last:
            last.insert(0, ln[:200])
        if len(last) == 3:
            break
    return len(exc), last


# ---------------------------------------------------------------------------------------------
# 2. lifecycles in process


class _Rollback(Exception):
    """Raised to leave unit_of_work without committing."""


def lifecycle_phase(url: str, n: int, seed: int) -> dict:
    import shapely
    from sqlalchemy import Column, Integer, MetaData, String, Table, Text, func, select
    from sqlalchemy.orm import sessionmaker

    from civicgrid.access.models import User
    from civicgrid.access.service import load_actor
    from civicgrid.cases import engine as case_engine
    from civicgrid.cases import service as case_service
    from civicgrid.db import make_engine, unit_of_work
    from civicgrid.geo.models import Region
    from civicgrid.models import metadata

    eng = make_engine(url)
    factory = sessionmaker(bind=eng, expire_on_commit=False)
    rng = random.Random(seed)
    res: dict = {}
    try:
        with unit_of_work(factory) as s:
            who = {name: load_actor(s, s.scalars(select(User).where(User.username == name)).one())
                   for name in ("grid.worker", "village.operator", "town.dispatcher", "dept.handler")}
            gw, vo, td, dh = (who[k] for k in ("grid.worker", "village.operator", "town.dispatcher", "dept.handler"))
            grid = s.scalars(select(Region).where(Region.code == DEMO_GRID, Region.level == "grid",
                                                  Region.valid_to.is_(None))).one()
            g = shapely.from_wkb(grid.geom_wkb)
            rep = g.representative_point()
            minx, miny, maxx, maxy = g.bounds
            pts = []
            while len(pts) < 200:
                x = rep.x + rng.gauss(0, 0.15) * (maxx - minx)
                y = rep.y + rng.gauss(0, 0.15) * (maxy - miny)
                pts.append((x, y) if shapely.contains_xy(g, x, y) else (rep.x, rep.y))

            def one(k: int) -> None:
                x, y = pts[k % len(pts)]
                case, _ = case_service.report_case(s, gw, {
                    "title": "发现违规搭建铁皮棚", "category": "E0101", "lon": x, "lat": y,
                    "description": "路边新搭铁皮棚约 20 平方米(benchmark)"}, client="bench")
                case_engine.apply(s, vo, case, "accept", {}, client="bench")
                case_engine.apply(s, vo, case, "escalate", {"note": "超出村级处置能力,请镇街派遣"}, client="bench")
                case_engine.apply(s, td, case, "dispatch", {"department": DEMO_DEPARTMENT}, client="bench")
                case_engine.apply(s, dh, case, "take", {}, client="bench")
                case_engine.apply(s, dh, case, "handle", {"note": "已依法拆除"}, client="bench")
                case_engine.apply(s, gw, case, "verify", {"result": "pass", "note": "经现场核查已处置到位"},
                                  client="bench")
                case_engine.apply(s, td, case, "close", {}, client="bench")
                if case.state != "closed":
                    raise RuntimeError(f"lifecycle ended in state {case.state}")

            def table_counts() -> dict[str, int]:
                return {t.name: int(s.scalar(select(func.count()).select_from(t)) or 0)
                        for t in metadata.sorted_tables}

            # baseline table: a few columns like a timeline entry's, created in this transaction (rolled back)
            bm = MetaData()
            rows = Table("bench_baseline_rows", bm, Column("id", Integer, primary_key=True),
                         Column("case_no", String(20), index=True), Column("seq", Integer),
                         Column("action", String(30)), Column("note", Text), Column("at", String(40)))
            rows.create(s.connection())
            ins = rows.insert()

            def bare(count: int, start: int) -> None:
                for i in range(start, start + count):
                    s.execute(ins, {"case_no": f"B{i // ROWS_PER_LIFECYCLE:07d}", "seq": i % ROWS_PER_LIFECYCLE,
                                    "action": LIFECYCLE[i % len(LIFECYCLE)], "note": "经现场核查已处置到位",
                                    "at": "2026-01-01T08:00:00+08:00"})

            for k in range(3):  # warm-up: locator, calendar, compiled statements
                one(k)
            bare(3 * ROWS_PER_LIFECYCLE, 0)

            before = table_counts()
            t0 = time.perf_counter()
            for k in range(n):
                one(3 + k)
            s.flush()
            res["engine_s"] = time.perf_counter() - t0
            after = table_counts()
            res["written"] = {t: after[t] - before[t] for t in after if after[t] != before[t]}

            nrows = n * ROWS_PER_LIFECYCLE
            t0 = time.perf_counter()
            bare(nrows, 10_000_000)
            res["bare_s"] = time.perf_counter() - t0
            res["bare_rows"] = nrows
            raise _Rollback
    except _Rollback:
        pass
    finally:
        eng.dispose()
    res["n"] = n
    return res


# ---------------------------------------------------------------------------------------------
# 3. demo history


def history_phase(url: str, n: int) -> dict:
    from sqlalchemy.orm import sessionmaker

    from civicgrid.access.service import SYSTEM
    from civicgrid.db import make_engine, unit_of_work
    from civicgrid.demo_history import build_history, create_demo_staff

    eng = make_engine(url)
    factory = sessionmaker(bind=eng, expire_on_commit=False)
    try:
        with unit_of_work(factory) as s:
            staff = create_demo_staff(s, SYSTEM)  # `civicgrid demo` made them already: expect 0
        with unit_of_work(factory) as s:
            t0 = time.perf_counter()
            result = build_history(s, n)
            build_s = time.perf_counter() - t0
            t1 = time.perf_counter()
        total_s = time.perf_counter() - t0
        commit_s = time.perf_counter() - t1
    finally:
        eng.dispose()
    return {"n": n, "staff": staff, "build_s": build_s, "commit_s": commit_s, "total_s": total_s, **result}


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--seconds", type=float, default=15, help="measured load per endpoint and database")
    ap.add_argument("--warmup", type=float, default=2, help="warm-up load per endpoint before measuring")
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent client connections")
    ap.add_argument("--timeout", type=float, default=30, help="per-request timeout of the load generator (s)")
    ap.add_argument("--lifecycles", type=int, default=300, help="in-process full lifecycles (0 skips)")
    ap.add_argument("--history", type=int, default=2000, help="demo history cases (0 skips)")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432",
                    help="PostgreSQL server URL, without the database name")
    ap.add_argument("--pg-name", default="civicgrid_bench", help="database created for the run and dropped after")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    tmp = Path(tempfile.mkdtemp(prefix="civicgrid-intake-"))
    storage = tmp / "files"
    sqlite_url = f"sqlite:///{tmp / 'bench.db'}"
    city_copy = tmp / "city-copy.db"
    # the in-process parts read their settings from this process's environment
    os.environ.update(CIVICGRID_DATABASE_URL=sqlite_url, CIVICGRID_STORAGE_DIR=str(storage),
                      CIVICGRID_LOG_JSON="false", CIVICGRID_LOG_LEVEL="WARNING", CIVICGRID_SWEEP_INTERVAL_S="0")

    import httpx
    import sqlalchemy

    rng = np.random.default_rng(args.seed)
    cores = os.cpu_count() or 1
    print(f"civicgrid intake benchmark — python {sys.version.split()[0]}, sqlalchemy {sqlalchemy.__version__}, "
          f"httpx {httpx.__version__}, {cores} CPU cores")
    print(f"the server is ONE uvicorn process (`civicgrid serve`) on this same {cores}-core machine as the asyncio "
          f"load generator ({args.concurrency} connections, {args.seconds:g} s per endpoint after {args.warmup:g} s "
          f"warm-up); both compete for the cores")

    http_results: list[dict] = []
    builds: dict[str, float] = {}
    engine_res = hist_res = None
    pg_created = False
    try:
        print("\n1. case intake over HTTP against /health of the same server")
        need_sqlite = "sqlite" in dbs or args.lifecycles > 0 or args.history > 0
        if need_sqlite:
            env = sub_env(sqlite_url, storage)
            builds["sqlite"], key = build_city(sqlite_url, env, tmp)
            print(f"   [sqlite] demo city built by `civicgrid demo --no-serve --cases 0` in {builds['sqlite']:.1f} s")
            if args.history > 0:  # a pristine copy of the city for part 3, before any case is written
                src, dst = sqlite3.connect(tmp / "bench.db"), sqlite3.connect(city_copy)
                with dst:
                    src.backup(dst)
                src.close()
                dst.close()
            if "sqlite" in dbs:
                print("   [sqlite]")
                http_results.append(http_phase("sqlite", sqlite_url, env, tmp, key, args, rng, tmp / "serve-sqlite.log"))
        if "postgres" in dbs:
            pg_url = f"{args.pg_url}/{args.pg_name}"
            pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)')
            pg_admin(args.pg_url, f'CREATE DATABASE "{args.pg_name}"')
            pg_created = True
            env = sub_env(pg_url, storage)
            builds["postgres"], key = build_city(pg_url, env, tmp)
            print(f"   [postgres] demo city built in {builds['postgres']:.1f} s (database {args.pg_name})")
            http_results.append(http_phase("postgres", pg_url, env, tmp, key, args, rng, tmp / "serve-pg.log"))
            pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)')
            pg_created = False

        if args.lifecycles > 0:
            print(f"\n2. full lifecycles in process (SQLite, no HTTP): {args.lifecycles} × E0101 "
                  f"{' → '.join(LIFECYCLE)}")
            engine_res = lifecycle_phase(sqlite_url, args.lifecycles, args.seed)
            e = engine_res
            n_act = e["n"] * len(LIFECYCLE)
            print(f"   engine       {e['engine_s']:7.2f} s   {e['n'] / e['engine_s']:8.1f} lifecycles/s   "
                  f"{n_act / e['engine_s']:8.1f} actions/s")
            print(f"   bare inserts {e['bare_s']:7.2f} s   {e['bare_rows'] / e['bare_s']:8.1f} rows/s "
                  f"({e['bare_rows']:,} rows = {ROWS_PER_LIFECYCLE} per lifecycle, one Core INSERT each, same "
                  f"transaction)")
            print(f"   engine time / bare-insert time: {e['engine_s'] / e['bare_s']:.1f}×")
            per = ", ".join(f"{t} {v / e['n']:g}" for t, v in sorted(e["written"].items()))
            print(f"   rows the engine wrote per lifecycle (not counting updates): {per}; rolled back")

        if args.history > 0:
            print(f"\n3. demo history: build_history({args.history}) on a fresh copy of the SQLite demo city")
            hist_res = history_phase(f"sqlite:///{city_copy}", args.history)
            h = hist_res
            refused = sum(h.get("refused", {}).values())
            print(f"   staff created by create_demo_staff: {h['staff']} (the demo made them)")
            print(f"   {h['cases']:,} cases, {h['steps']:,} steps in {h['total_s']:.1f} s (commit {h['commit_s']:.1f} s): "
                  f"{h['cases'] / h['total_s']:.0f} cases/s, {h['steps'] / h['total_s']:.0f} steps/s; "
                  f"actions the engine refused: {refused}")
            print(f"   states: {dict(sorted(h['states'].items()))}")
            print(f"   extrapolated (linear) to 70,000 cases: {70_000 * h['total_s'] / max(h['cases'], 1) / 60:.1f} min")
    finally:
        if pg_created:
            try:
                pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)')
            except Exception as exc:  # report, but do not hide the original error
                print(f"could not drop database {args.pg_name}: {exc}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)

    # ---- report
    print("\n" + "=" * 100)
    print(f"SUMMARY  ({cores} cores; server: one uvicorn process; load generator on the same machine, "
          f"{args.concurrency} connections, {args.seconds:g} s per endpoint)")
    if http_results:
        print(f"{'db':<9}{'endpoint':<21}{'ok req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'srv CPU':>9}"
              f"{'ratio intake/health':>22}")
        for r in http_results:
            for x in (r["intake"], r["health"]):
                ratio = (f"{r['ratio']:.2f} (goal ≥ {GOAL})" if x is r["intake"] else "")
                print(f"{r['db']:<9}{x.name:<21}{x.rps:9.1f}{x.pct(50):9.1f}{x.pct(99):9.1f}{x.errors:8d}"
                      f"{x.server_cpu / x.seconds:9.0%}{ratio:>22}")
        if any(r["intake"].errors or r["health"].errors for r in http_results):
            print("NOTE: errors above: a ratio measured with failing requests says little; see the server log lines "
                  "printed in section 1")
        print("demo build: " + ", ".join(f"{k} {v:.1f} s" for k, v in builds.items()))
    if engine_res:
        e = engine_res
        print(f"engine lifecycles (SQLite, in process): {e['n'] / e['engine_s']:.1f} lifecycles/s, "
              f"{e['n'] * len(LIFECYCLE) / e['engine_s']:.0f} actions/s; "
              f"{e['engine_s'] / e['bare_s']:.1f}× the time of {e['bare_rows']:,} bare Core inserts")
    if hist_res:
        h = hist_res
        print(f"demo history (SQLite): {h['cases']:,} cases in {h['total_s']:.1f} s = {h['cases'] / h['total_s']:.0f} "
              f"cases/s, {h['steps'] / h['total_s']:.0f} steps/s; 70,000 cases ≈ "
              f"{70_000 * h['total_s'] / max(h['cases'], 1) / 60:.1f} min (linear)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
