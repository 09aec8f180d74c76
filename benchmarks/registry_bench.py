"""Registry benchmark: importing residents from CSV (validation, encryption, de-duplication, address matching,
bulk writes) against a raw executemany insert of the same rows into the same database in the same run; and
address matching (addresses/s, accuracy) on messy addresses generated from the standard ones.

Setup (not timed): a fresh database (SQLite: a temporary file; PostgreSQL: a database `cg_registry_bench`
created for the run and dropped at the end) with the demo city (--towns to limit it) and the standard
addresses the residents live at (three residents a room, through registry.service.create_addresses).

1. import: a UTF-8 CSV of N residents (names, valid ID numbers, phones for 80%, household, the standard address
   text) through `importer.read_table` → `importer.import_table` (one streaming pass: check and write chunk by
   chunk) in one transaction, committed.
   Measured in a child process: seconds, rows/s and peak memory above the child's start (VmHWM − VmRSS).
2. baselines (run first, then deleted): the same N resident rows (the same ciphertexts, hashes and derived
   values, prepared untimed) inserted in batches of 5,000 into the same table of the same database, committed, in
   a child process: once with SQLAlchemy Core executemany, once with the DB-API driver's executemany.
   Ratio = import rows/s ÷ baseline rows/s (goal ≥ 0.5), against each.
3. address matching: M standard addresses, each made messy one way (typo in a name, missing town and
   village, full-width digits, traditional/alternative spellings, Chinese numerals, no 室) and matched with
   `Matcher.match`; addresses/s, share right, share wrong (a different address named sure), share unsure/none.

Run: .venv/bin/python benchmarks/registry_bench.py [--residents 1000000] [--db sqlite|postgres|both]
     [--towns N] [--addresses 20000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DB = "cg_registry_bench"


def _mem_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _setup(url: str, residents: int, towns: int | None) -> list[str]:
    """Demo city and standard addresses; returns the full text of each room address."""
    os.environ["CIVICGRID_DATABASE_URL"] = url
    from sqlalchemy import select
    from sqlalchemy.orm import sessionmaker

    from civicgrid.access.service import SYSTEM
    from civicgrid.db import make_engine
    from civicgrid.demo import build_demo
    from civicgrid.geo.models import Region
    from civicgrid.geo.service import current_filter
    from civicgrid.migrate import upgrade
    from civicgrid.registry import service
    from civicgrid.registry.models import Address

    import shapely

    eng = make_engine(url)
    upgrade(eng)
    f = sessionmaker(bind=eng, expire_on_commit=False)
    with f() as s:
        build_demo(s, towns_limit=towns)
        s.commit()
        grids = list(s.scalars(select(Region).where(Region.level == "grid", current_filter())))
        parents = {r.id: r for r in s.scalars(select(Region).where(Region.level.in_(("town", "village"))))}
        rooms = -(-residents // 3)
        items = []
        for k in range(rooms):
            g = grids[k % len(grids)]
            v = parents[g.parent_id]
            t = parents[v.parent_id]
            n = k // len(grids)
            pt = shapely.from_wkb(g.geom_wkb).point_on_surface()
            items.append(({"town": t.name, "village": v.name, "road": "光明路", "house_no": f"{1 + k % len(grids)}-{1 + n // 400}",
                           "compound": v.name[:2] + "花园", "building": str(1 + (n // 40) % 10),
                           "room": f"{1 + (n // 4) % 10}{1 + n % 4:02d}"}, pt.x, pt.y))
        for k in range(0, len(items), 20000):
            service.create_addresses(s, SYSTEM, items[k:k + 20000])
        s.commit()
        full = list(s.scalars(select(Address.full).order_by(Address.id)))
    eng.dispose()
    return full


def _csv(residents: int, full: list[str]) -> bytes:
    from civicgrid.registry.ids import make_id_number

    rng = random.Random(7)
    lines = ["姓名,公民身份号码,联系电话,户籍类型,居住地址"]
    for i in range(residents):
        birth = date(1940, 1, 1) + timedelta(days=i // 1000 % 29000)
        pid = make_id_number(f"{440100 + (i // 29_000_000) * 100 + i % 7:06d}", birth, i % 1000)
        phone = f"13{i % 10}{rng.randrange(10**8):08d}" if i % 5 else ""
        lines.append(f"测试{i % 9973},{pid},{phone},{'流动' if i % 10 < 7 else '户籍'},{full[i // 3]}")
    return ("\n".join(lines) + "\n").encode()


def _import_child(url: str, data: bytes, q) -> None:
    os.environ["CIVICGRID_DATABASE_URL"] = url
    from sqlalchemy.orm import sessionmaker

    from civicgrid.access.service import SYSTEM
    from civicgrid.db import make_engine
    from civicgrid.registry import importer

    eng = make_engine(url)
    start_rss = _mem_kb("VmRSS")
    t0 = time.perf_counter()
    with sessionmaker(bind=eng)() as s:
        res = importer.import_table(s, SYSTEM, "resident", importer.read_table(data, "r.csv"), mode="all")
        s.commit()
    t2 = time.perf_counter()
    q.put({"seconds": t2 - t0, "created": res.created, "peak_mb": (_mem_kb("VmHWM") - start_rss) / 1024})


def _raw_child(url: str, data: bytes, driver: bool, q) -> None:
    """The same resident rows (same names, ciphertexts, hashes, derived fields), prepared untimed, then inserted
    in batches of 5,000 into the same table of the same database, committed; deleted afterwards so the import
    that follows starts from the same state. driver=False: SQLAlchemy Core executemany (what application code
    would write); driver=True: the DB-API driver's own executemany with tuples, no SQLAlchemy in the loop."""
    os.environ["CIVICGRID_DATABASE_URL"] = url
    from sqlalchemy import delete, insert, select
    from sqlalchemy.orm import sessionmaker

    from civicgrid import clock
    from civicgrid.access.service import SYSTEM
    from civicgrid.db import make_engine
    from civicgrid.registry import importer, service
    from civicgrid.registry.models import Address, Resident

    eng = make_engine(url)
    now = clock.now()
    clean = []
    with sessionmaker(bind=eng)() as s:
        p = importer._Pass(s, SYSTEM, "resident", importer.read_table(data, "r.csv"), None)
        for chunk in p.chunks():
            clean.extend(p.check(chunk))
        place = dict((i, (g, p)) for i, g, p in s.execute(select(Address.id, Address.grid_id, Address.region_path)))
    rows = []
    for r in clean:
        id_enc, id_hash, id_mask = service.seal(r["id_number"], "resident.id_number")
        ph_enc, ph_hash, ph_mask = service.seal(r.get("phone"), "resident.phone")
        grid_id, path = place[r["address_id"]]
        rows.append({"name": r["name"], "id_enc": id_enc, "id_hash": id_hash, "id_masked": id_mask,
                     "phone_enc": ph_enc, "phone_hash": ph_hash, "phone_masked": ph_mask,
                     "birth_date": r["birth_date"], "sex": r["sex"], "origin_code": r["origin_code"],
                     "household": r["household"], "dwelling_id": None, "grid_id": grid_id, "region_path": path,
                     "created_at": now, "updated_at": now})
    n = len(rows)
    cols = list(rows[0])
    start_rss = _mem_kb("VmRSS")
    if driver:  # values as the driver takes them (dates as text on SQLite), prepared untimed
        dialect = eng.dialect
        procs = {c: Resident.__table__.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in cols}
        tuples = [tuple(procs[c](r[c]) if procs[c] and r[c] is not None else r[c] for c in cols) for r in rows]
        mark = "%s" if dialect.name == "postgresql" else "?"
        sql = f'INSERT INTO reg_residents ({", ".join(cols)}) VALUES ({", ".join([mark] * len(cols))})'
        start_rss = _mem_kb("VmRSS")
        t0 = time.perf_counter()
        raw = eng.raw_connection()
        cur = raw.cursor()
        if dialect.name == "sqlite":
            cur.execute("BEGIN")
        for k in range(0, n, 5000):
            cur.executemany(sql, tuples[k:k + 5000])
        raw.commit()
        raw.close()
    else:
        t0 = time.perf_counter()
        with eng.begin() as conn:
            for k in range(0, n, 5000):
                conn.execute(insert(Resident.__table__), rows[k:k + 5000])
    t1 = time.perf_counter()
    with eng.begin() as conn:
        conn.execute(delete(Resident.__table__))
    q.put({"seconds": t1 - t0, "peak_mb": (_mem_kb("VmHWM") - start_rss) / 1024})


def _child(target, *args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    out = q.get()
    p.join()
    return out


MESS = ("typo", "no_town_village", "full_width", "traditional", "cn_numeral", "no_room_suffix")
SIMILAR = {"光": "广", "明": "名", "路": "道", "花": "华", "园": "圆", "岗": "港", "贝": "背", "东": "冬", "新": "心"}


def messy(full: str, how: str, town: str, village: str, rng: random.Random) -> str:
    s = full
    if how == "typo":
        idx = [i for i, c in enumerate(s) if c in SIMILAR and i > len(town) + len(village)]
        if idx:
            i = rng.choice(idx)
            s = s[:i] + SIMILAR[s[i]] + s[i + 1:]
    elif how == "no_town_village":
        s = s[len(town) + len(village):]
    elif how == "full_width":
        s = s.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    elif how == "traditional":
        s = s.replace("号", "號").replace("栋", "棟")
    elif how == "cn_numeral":
        cn = "零一二三四五六七八九十"
        import re

        s = re.sub(r"(\d+)栋", lambda m: (cn[int(m.group(1))] if int(m.group(1)) <= 10 else m.group(1)) + "栋", s)
    elif how == "no_room_suffix":
        s = s.removesuffix("室")
    return s


def match_bench(url: str, n: int) -> dict:
    os.environ["CIVICGRID_DATABASE_URL"] = url
    from sqlalchemy import select
    from sqlalchemy.orm import sessionmaker

    from civicgrid.db import make_engine
    from civicgrid.geo.models import Region
    from civicgrid.registry import service
    from civicgrid.registry.models import Address

    eng = make_engine(url)
    rng = random.Random(11)
    with sessionmaker(bind=eng)() as s:
        t0 = time.perf_counter()
        m = service.matcher(s)
        _ = m.blocks  # the fuzzy index is built on the first parsed match; count it here, not in matching
        build = time.perf_counter() - t0
        names = {r.id: r.name for r in s.scalars(select(Region).where(Region.level.in_(("town", "village"))))}
        addrs = list(s.execute(select(Address.id, Address.full, Address.village_id)).all())
        vil_town = dict(s.execute(select(Region.id, Region.parent_id).where(Region.level == "village")).all())
        sample = rng.sample(addrs, min(n, len(addrs)))
        from civicgrid.registry.address import display_village

        cases = []
        for k, (aid, full, vid) in enumerate(sample):
            how = MESS[k % len(MESS)]
            cases.append((aid, how, messy(full, how, names[vil_town[vid]], display_village(names[vid]), rng)))
        t0 = time.perf_counter()
        results = [m.match(text) for _aid, _how, text in cases]
        secs = time.perf_counter() - t0
    right = wrong = unsure = 0
    per: dict[str, list[int]] = {h: [0, 0] for h in MESS}
    for (aid, how, _t), r in zip(cases, results):
        per[how][1] += 1
        if r.address_id == aid:
            right += 1
            per[how][0] += 1
        elif r.address_id is None:
            unsure += 1
        else:
            wrong += 1
    return {"n": len(cases), "per_s": len(cases) / secs, "right": right / len(cases), "wrong": wrong / len(cases),
            "unsure": unsure / len(cases), "index_s": build, "index_size": len(addrs),
            "per": {h: f"{a}/{b}" for h, (a, b) in per.items()}}


def run(db: str, residents: int, towns: int | None, addresses: int) -> None:
    os.environ["CIVICGRID_REGISTRY_IMPORT_MAX_MB"] = "4000"  # the children inherit it: a 1,000,000-row CSV is ~110 MB
    if db == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='cg-regbench-')}/bench.db"
    else:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{PG_DB}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_DB
    print(f"\n== {db}: {residents:,} residents ==", flush=True)
    t0 = time.perf_counter()
    full = _child(_setup_child, url, residents, towns)
    print(f"setup (demo city, {len(full):,} standard addresses): {time.perf_counter() - t0:.0f} s", flush=True)
    data = _csv(residents, full)
    print(f"CSV: {len(data) / 1e6:.0f} MB", flush=True)
    raw = _child(_raw_child, url, data, False)
    drv = _child(_raw_child, url, data, True)
    imp = _child(_import_child, url, data)
    ir, rr, dr = residents / imp["seconds"], residents / raw["seconds"], residents / drv["seconds"]
    print(f"import (read + check + encrypt + dedup + match + write residents, dwellings, residences, import record): "
          f"{imp['seconds']:.1f} s = {ir:,.0f} rows/s, peak +{imp['peak_mb']:.0f} MB, created {imp['created']:,}")
    print(f"raw executemany, SQLAlchemy Core: {raw['seconds']:.1f} s = {rr:,.0f} rows/s, peak +{raw['peak_mb']:.0f} MB")
    print(f"raw executemany, DB-API driver:   {drv['seconds']:.1f} s = {dr:,.0f} rows/s, peak +{drv['peak_mb']:.0f} MB")
    print(f"ratio import / Core executemany: {ir / rr:.2f}; import / driver executemany: {ir / dr:.2f} (goal >= 0.5)",
          flush=True)
    if not addresses:
        return
    mb = match_bench(url, addresses)
    print(f"address matching: {mb['n']:,} messy addresses against {mb['index_size']:,} standard ones "
          f"(index built in {mb['index_s']:.1f} s): {mb['per_s']:,.0f} addresses/s; right {mb['right']:.1%}, "
          f"wrong {mb['wrong']:.1%}, unsure/none {mb['unsure']:.1%}; per kind right/total {mb['per']}", flush=True)
    if db == "postgres":
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))


def _setup_child(url: str, residents: int, towns: int | None, q) -> None:
    q.put(_setup(url, residents, towns))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--towns", type=int, default=None, help="only the first N towns of the demo city")
    ap.add_argument("--addresses", type=int, default=20000, help="messy addresses to match")
    a = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for db in (("sqlite", "postgres") if a.db == "both" else (a.db,)):
        run(db, a.residents, a.towns, a.addresses)


if __name__ == "__main__":
    main()
