"""Assessment at history scale: the city dashboard's queries and a town ranking on SQLite and PostgreSQL,
against DuckDB computing the same KPIs from the same cases exported to Parquet in the same run; and the time
to generate the city's monthly bulletin.

    .venv/bin/python benchmarks/analytics_bench.py --cases 1000000 --backends sqlite,postgresql \\
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/cg_assess_bench

The bulk writer (benchmark only) draws each case's life (report, accept or void, dispatch, returns, handling,
extensions, verification and rework, closing, follow-up, overdue marks) as a case row and a timeline, cut at
"now" like a live system; then `analytics.aggregates.case_fact` — the function the after-flush hook runs
for every change — turns it into the per-case fact, so the aggregates are exactly what the engine path would
keep for those timelines. Facts are summed into both aggregate levels and written directly. DuckDB reads the
per-case facts (one row per case, the raw data) from Parquet.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=timezone.utc)
MONTH = "2026-10"


class E:
    __slots__ = ("seq", "at", "action", "data")

    def __init__(self, seq, at, action, data=None):
        self.seq, self.at, self.action, self.data = seq, at, action, data or {}


class C:  # the case fields case_fact reads
    __slots__ = ("id", "state", "source", "urgency", "reported_at", "accepted_at", "dispatched_at", "handled_at",
                 "handle_due_at", "closed_at", "grid_id", "village_id", "town_id", "category_id", "department_id",
                 "overdue", "ever_overdue", "reworks", "extensions", "returns", "supervision", "reporter_id",
                 "handler_id", "verifier_id", "closed")


def lognorm(rng, median, sigma=0.9):
    return median * math.exp(rng.gauss(0, sigma))


def draw_case(rng, i, grid, cats, depts_by_town):
    """One case's life as the engine would record it, cut at NOW."""
    gid, vid, tid = grid
    c = C()
    c.id, c.grid_id, c.village_id, c.town_id = i, gid, vid, tid
    c.category_id = rng.choice(cats)
    c.source = rng.choices(("grid_worker", "citizen", "hotline", "department"), (0.62, 0.12, 0.24, 0.02))[0]
    c.urgency = "urgent" if rng.random() < 0.06 else "normal"
    t = NOW - timedelta(days=365 * rng.random())
    c.reported_at = t
    ev = [("report", t, {})]
    state = "reported"
    c.accepted_at = c.dispatched_at = c.handled_at = c.handle_due_at = c.closed_at = None
    c.department_id, c.reworks, c.extensions, c.returns, c.supervision = None, 0, 0, 0, None
    c.reporter_id, c.handler_id, c.verifier_id = 1000 + i % 5000, None, None
    c.ever_overdue = False
    t += timedelta(hours=lognorm(rng, 0.4))
    if rng.random() < 0.03:
        ev.append(("void", t, {}))
        state = "voided"
    else:
        ev.append(("accept", t, {}))
        state = "accepted"
        local = rng.random() < 0.3
        if not local:
            t += timedelta(hours=lognorm(rng, 0.5))
            ev.append(("dispatch", t, {}))
            state = "dispatched"
            c.department_id = rng.choice(depts_by_town[tid])
            if rng.random() < 0.05:
                t += timedelta(hours=lognorm(rng, 2))
                ev.append(("return", t, {}))
                c.returns = 1
                t += timedelta(hours=lognorm(rng, 1))
                ev.append(("dispatch", t, {}))
            due = t + timedelta(hours=48)
            t += timedelta(hours=lognorm(rng, 1))
            ev.append(("take", t, {}))
            if rng.random() < 0.03:
                ev.append(("approve_extension", t + timedelta(hours=2), {}))
                c.extensions = 1
                due += timedelta(hours=48)
        else:
            due = t + timedelta(hours=24)
        if rng.random() < 0.02:
            ev.append(("supervise", t + timedelta(hours=1), {"grade": "ordinary"}))
            c.supervision = "ordinary"
        handled_at = t + timedelta(hours=lognorm(rng, 14, 1.1))
        if handled_at > due:
            ev.append(("overdue", due, {"step": "handle"}))
        ev.append(("handle_locally" if local else "handle", handled_at, {}))
        t = handled_at
        for r in range(2):
            t += timedelta(hours=lognorm(rng, 3))
            fail = rng.random() < 0.06 and r == 0
            ev.append(("verify", t, {"result": "fail" if fail else "pass"}))
            if not fail:
                break
            t += timedelta(hours=lognorm(rng, 8))
            ev.append(("handle_locally" if local else "handle", t, {}))
        t += timedelta(hours=lognorm(rng, 0.5))
        ev.append(("close", t, {}))
        if rng.random() < 0.6:
            sat = rng.choices(("satisfied", "basically_satisfied", "dissatisfied"), (0.85, 0.1, 0.05))[0]
            ev.append(("follow_up", t + timedelta(hours=lognorm(rng, 24)), {"satisfaction": sat}))
        c.handle_due_at = due
    # cut at now: the case is where its last past event left it
    ev = [e for e in ev if e[1] <= NOW]
    entries = [E(n + 1, at, a, d) for n, (a, at, d) in enumerate(ev)]
    state = "reported"
    for a, at, d in ev:
        if a == "accept":
            state, c.accepted_at = "accepted", at
        elif a == "void":
            state, c.closed_at = "voided", at
        elif a == "dispatch":
            state, c.dispatched_at = "dispatched", c.dispatched_at or at
        elif a == "return":
            state = "returned"
        elif a == "take":
            state = "in_handling"
        elif a in ("handle", "handle_locally"):
            state, c.handled_at, c.handler_id = "handled", at, 9000 + i % 700
        elif a == "overdue":
            c.ever_overdue = True
        elif a == "verify":
            c.verifier_id = 20000 + i % 3000
            if d["result"] == "fail":
                state, c.handled_at, c.reworks = ("in_handling" if c.department_id else "accepted"), None, 1
            else:
                state = "verified"
        elif a == "close":
            state, c.closed_at = "closed", at
    c.state = state
    c.closed = state in ("closed", "voided")
    c.overdue = (not c.closed) and c.handle_due_at is not None and c.handle_due_at < NOW \
        and state in ("dispatched", "in_handling", "accepted", "returned")
    c.ever_overdue = c.ever_overdue or c.overdue
    if c.dispatched_at is None:
        c.department_id = None
    return c, entries


def generate(n, seed, grids, cats, depts_by_town):
    """Per-case facts as columns (memory-light arrays), through the hook's own case_fact."""
    from array import array

    import pyarrow as pa

    from civicgrid.analytics.aggregates import case_fact
    from civicgrid.analytics.kpis import DURATIONS, MEASURES, STEPS

    rng = random.Random(seed)
    ints = ["day", "town_id", "village_id", "grid_id", "category_id", "department_id"] + \
        [m for m in MEASURES if m not in DURATIONS or m.endswith("_n")] + [f"{s}_bucket" for s in STEPS]
    cols = {k: array("i") for k in ints}
    cols.update({m: array("d") for m in DURATIONS if m.endswith("_hours")})
    strs = {"source": [], "urgency": []}
    epoch = date(1970, 1, 1).toordinal()
    for i in range(1, n + 1):
        c, entries = draw_case(rng, i, rng.choice(grids), cats, depts_by_town)
        key, m, h = case_fact(c, entries)
        cols["day"].append(key[0].toordinal() - epoch)
        for k, v in zip(("town_id", "village_id", "grid_id", "category_id", "department_id"), key[1:6]):
            cols[k].append(v)
        strs["source"].append(key[6])
        strs["urgency"].append(key[7])
        for k, v in m.items():
            cols[k].append(v)
        buckets = dict(h)
        for st in STEPS:
            cols[f"{st}_bucket"].append(buckets.get(st, -1))
        if i % 200_000 == 0:
            print(f"  generated {i:,} cases", flush=True)
    table = {k: pa.array(v) for k, v in cols.items()}
    table["day"] = pa.array(cols["day"], pa.int32()).cast(pa.date32())
    table.update({k: pa.array(v) for k, v in strs.items()})
    return pa.table(table)


def write_level(session, facts_path, dtable, htable, cols, monthly=False):
    """One aggregate level (sums per key, and its histogram rows) computed by DuckDB from the facts and streamed
    into the database in record batches through the driver (civicgrid.bulk), so 10 M cases never sit in
    memory as Python rows. Returns the row counts written."""
    import duckdb

    from civicgrid import bulk
    from civicgrid.analytics.kpis import MEASURES, STEPS

    con = duckdb.connect()
    con.execute("CREATE VIEW facts AS SELECT * REPLACE ("
                + ("date_trunc('month', day)::DATE" if monthly else "day")
                + f" AS day) FROM read_parquet('{facts_path}')")
    keys = ", ".join(cols)
    daily = (f"SELECT {keys}, " + ", ".join(
        f"sum({m})::{'DOUBLE' if m.endswith('_hours') else 'BIGINT'} AS {m}" for m in MEASURES)
        + f" FROM facts GROUP BY {keys}")
    hist = " UNION ALL ".join(
        f"SELECT {keys}, '{st}' AS step, {st}_bucket AS bucket, count(*)::BIGINT AS n FROM facts "
        f"WHERE {st}_bucket >= 0 GROUP BY {keys}, {st}_bucket" for st in STEPS)
    counts = []
    for sql, table in ((daily, dtable), (hist, htable)):
        reader = con.sql(sql).to_arrow_reader(200_000)
        names = reader.schema.names
        n = 0
        for batch in reader:
            n += bulk.insert_rows(session, table, names, zip(*(c.to_pylist() for c in batch.columns)))
        counts.append(n)
    return counts


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(pct(out, 0.5), 2), "p95_ms": round(pct(out, 0.95), 2)}


def city(session):
    from sqlalchemy import select

    from civicgrid.access.models import Department
    from civicgrid.geo.models import Region

    regions = session.execute(select(Region.id, Region.level, Region.parent_id)).all()
    parent = {r.id: r.parent_id for r in regions}
    grids = [(r.id, r.parent_id, parent[r.parent_id]) for r in regions if r.level == "grid"]
    from civicgrid.matters.models import MatterCategory

    cats = [c.id for c in session.scalars(select(MatterCategory).where(
        MatterCategory.level.in_(("subclass", "detail"))))]
    depts = defaultdict(list)
    for d in session.execute(select(Department.id, Department.region_id)):
        depts[d.region_id].append(d.id)
    return grids, cats, depts


def backend(url, n, seed, repeat, state):
    from sqlalchemy import delete
    from sqlalchemy.orm import sessionmaker

    from civicgrid.access.service import SYSTEM
    from civicgrid.analytics import aggregates, bulletins, periods, rankings, service
    from civicgrid.analytics import dashboard as dashboard_mod
    from civicgrid.db import make_engine
    from civicgrid.demo import build_demo
    from civicgrid.migrate import upgrade
    from civicgrid.models import metadata

    eng = make_engine(url)
    if eng.dialect.name == "postgresql":
        from sqlalchemy import text
        with eng.begin() as conn:
            metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(eng)
    factory = sessionmaker(bind=eng, expire_on_commit=False)
    out = {"backend": eng.dialect.name}
    with factory() as s:
        t0 = time.perf_counter()
        build_demo(s, seed=2026)
        s.commit()
        out["demo_city_s"] = round(time.perf_counter() - t0, 1)
        if "facts" not in state:
            grids, cats, depts = city(s)
            cache = Path(state["cache_dir"]) / f"facts-{n}-{seed}.parquet"
            if cache.exists():  # generated by an earlier run with the same size and seed
                state["generate_s"] = f"cached ({cache})"
            else:
                import pyarrow.parquet as pq

                t0 = time.perf_counter()
                cache.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(generate(n, seed, grids, cats, depts), cache)
                state["generate_s"] = round(time.perf_counter() - t0, 1)
            state["facts"] = cache
        t0 = time.perf_counter()
        for level, (dtable, htable, cols) in aggregates.LEVELS.items():
            if level not in state["levels"]:
                continue
            s.execute(delete(dtable))
            s.execute(delete(htable))
            d, h = write_level(s, state["facts"], dtable, htable, cols, dtable in aggregates.MONTHLY)
            out[f"rows_{dtable.name}"] = d
            out[f"rows_{htable.name}"] = h
            print(f"  wrote {level}: {d:,} rows (+{h:,} histogram rows)", flush=True)
        s.commit()
        if eng.dialect.name == "postgresql":
            from sqlalchemy import text
            with eng.begin() as c2:
                c2.execute(text("ANALYZE"))
        out["write_aggregates_s"] = round(time.perf_counter() - t0, 1)

    class P:
        period, value, date_from, date_to = "month", MONTH, None, None

        def filters(self):
            return {"region": "441900", "department": None, "category": None, "source": None, "urgency": None}

    def dashboard():
        with factory() as s:
            cut = service.cut_from(s, SYSTEM, P())
            service.kpi_table(s, cut, keys=dashboard_mod.CARDS)         # cards: totals, month and year over
            service.breakdown(s, cut, "town", dashboard_mod.UNIT_COLUMNS + ["on_time_closure_rate"])  # map, towns
            end = cut.period.end
            tcut = service.Cut(cut.region, periods.Period("custom", date(2025, 11, 1), end))
            service.trend(s, tcut, ["reported", "closed", "on_time_closure_rate"])   # twelve months
            service.breakdown(s, cut, "category", ["reported"])          # category breakdown

    def ranking():
        with factory() as s:
            cut = service.cut_from(s, SYSTEM, P())
            rankings.compute(s, cut, "town", rankings.preset("digital_urban"))

    dashboard()
    out["dashboard"] = timed(dashboard, repeat)
    out["town_ranking"] = timed(ranking, repeat)

    def bulletin():
        with factory() as s:
            fig = bulletins.figures(s, SYSTEM, "441900", MONTH, "digital_urban")
            bulletins.make_xlsx(fig)
            bulletins.make_docx(fig)
            s.rollback()  # the stored ranking is not kept between runs

    t0 = time.perf_counter()
    bulletin()
    out["bulletin_city_month_s"] = round(time.perf_counter() - t0, 2)
    eng.dispose()
    return out


def duckdb_run(path, repeat):
    import duckdb

    from civicgrid.analytics import kpis, rankings

    con = duckdb.connect()
    con.execute(f"CREATE VIEW f AS SELECT * FROM read_parquet('{path}')")
    from civicgrid.analytics import dashboard as dashboard_mod

    def sums(keys, extra=()):
        return ", ".join(f"sum({m}) AS {m}" for m in dict.fromkeys(kpis.measures_for(keys) + list(extra)))

    month = (date(2026, 10, 1), date(2026, 10, 31))
    prev = (date(2026, 9, 1), date(2026, 9, 30))
    yoy = (date(2025, 10, 1), date(2025, 10, 31))

    def q(sql, *params):
        return con.execute(sql, params).fetchall()

    def dashboard():  # the same KPIs as the page: cards (3 periods), towns, 12-month trend, categories
        for a, b in (month, prev, yoy):
            q(f"SELECT {sums(dashboard_mod.CARDS)} FROM f WHERE day BETWEEN ? AND ?", a, b)
        q(f"SELECT town_id, {sums(dashboard_mod.UNIT_COLUMNS + ['on_time_closure_rate'])} FROM f "
          "WHERE day BETWEEN ? AND ? GROUP BY town_id", *month)
        q(f"SELECT strftime(day, '%Y-%m'), {sums(['reported', 'closed', 'on_time_closure_rate'])} FROM f "
          "WHERE day BETWEEN ? AND ? GROUP BY 1", date(2025, 11, 1), month[1])
        q(f"SELECT category_id, {sums(['reported'])} FROM f WHERE day BETWEEN ? AND ? GROUP BY category_id", *month)

    def ranking():
        cfg = rankings.preset("digital_urban")
        keys = [t.kpi for t in cfg.terms]
        cur = con.execute(f"SELECT town_id, {sums(keys, [cfg.volume_measure])} FROM f WHERE day BETWEEN ? AND ? "
                          "GROUP BY town_id", month)
        names = [d[0] for d in cur.description]
        for r in cur.fetchall():
            v = kpis.compute(dict(zip(names, r)), None, cfg.kpi_config(), keys)
            rankings.score(v, cfg)

    dashboard()
    return {"dashboard": timed(dashboard, repeat), "town_ranking": timed(ranking, repeat)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL",
                                                      "postgresql+psycopg://postgres@127.0.0.1:5432/cg_assess_bench"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "cg-analytics-bench-cache"),
                    help="where the generated facts are kept as Parquet (reused by runs of the same size and seed)")
    ap.add_argument("--levels", default="summary,town_month",
                    help="aggregate levels to write (the timed city queries read the summary, the bulletin also town_month; "
                         "add town,grid to write the others too)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cg-analytics-bench-")
    os.environ["CIVICGRID_STORAGE_DIR"] = tmp
    state: dict = {"levels": a.levels.split(","), "cache_dir": a.cache_dir}
    results = {"cases": a.cases, "repeat": a.repeat, "levels": state["levels"], "backends": []}
    for b in a.backends.split(","):
        url = f"sqlite:///{tmp}/bench.db" if b == "sqlite" else a.pg_url
        print(f"[{b}] building city, generating {a.cases:,} cases, writing aggregates…", flush=True)
        results["backends"].append(backend(url, a.cases, a.seed, a.repeat, state))
        print(json.dumps(results["backends"][-1], ensure_ascii=False), flush=True)
    results["generate_s"] = state.get("generate_s")
    results["duckdb"] = duckdb_run(state["facts"], a.repeat)
    d = results["duckdb"]
    for r in results["backends"]:
        r["ratio_dashboard_p50"] = round(r["dashboard"]["p50_ms"] / d["dashboard"]["p50_ms"], 2)
        r["ratio_ranking_p50"] = round(r["town_ranking"]["p50_ms"] / d["town_ranking"]["p50_ms"], 2)
    print(json.dumps(results, ensure_ascii=False, indent=1))
    if a.json:
        a.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
