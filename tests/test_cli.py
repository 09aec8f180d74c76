"""The `civicgrid` command as an operator runs it, on a database of its own (a fresh SQLite file, or a
fresh PostgreSQL database beside the test one when the suite runs on PostgreSQL)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import shapely
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from civicgrid import clock
from civicgrid.access.models import GridAssignment, User
from civicgrid.cli import app
from civicgrid.geo.models import Region

runner = CliRunner()


def _clear_caches() -> None:
    from civicgrid.config import get_settings
    from civicgrid.db import get_engine, get_sessionmaker
    from civicgrid.geo.service import reset_locator_cache

    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()
    reset_locator_cache()


@pytest.fixture(scope="module")
def cli_db(db_url: str, tmp_path_factory) -> Iterator[str]:
    """A database URL of the CLI's own, with the full demo city built by `civicgrid demo` once."""
    mp = pytest.MonkeyPatch()
    if db_url.startswith("postgresql"):
        base, _, name = db_url.rpartition("/")
        url = f"{base}/{name}_cli"
        admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}_cli" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}_cli"'))
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.db'}"
    mp.setenv("CIVICGRID_DATABASE_URL", url)
    _clear_caches()
    yield url
    _clear_caches()
    mp.undo()
    _clear_caches()
    if db_url.startswith("postgresql"):
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}_cli" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def built(cli_db: str) -> str:
    r = runner.invoke(app, ["demo", "--no-serve", "--cases", "200", "--residents", "3000"])
    assert r.exit_code == 0, r.output
    return r.output


def _session(url: str) -> Session:
    return Session(create_engine(url))


def test_demo_builds_the_whole_city_and_prints_the_log_ins(built, cli_db):
    out = built
    assert re.search(r"33 个镇街、\d+ 个村\(社区\)、2958 个网格、9756 名网格员", out), out
    for user in ("admin", "city.dispatcher", "town.dispatcher", "village.operator", "grid.worker", "dept.handler",
                 "mediator", "leader", "citizen", "integration.12345"):
        assert user in out
    assert "civic2026" in out and "cg_" in out  # the password and the 12345 API key
    m = re.search(r"已模拟 (\d+) 件事件", out)
    assert m and int(m.group(1)) >= 200  # plus the repeats of some problems
    with _session(cli_db) as s:
        n = dict(s.execute(select(Region.level, func.count()).group_by(Region.level)).all())
        assert n == {"city": 1, "town": 33, "village": n["village"], "grid": 2958} and 590 <= n["village"] <= 620
        codes = s.scalars(select(Region.code).where(Region.level == "grid")).all()
        assert len(set(codes)) == 2958 and all(len(c) == 15 and c.isdigit() for c in codes)
        # every village is tiled by its grids: areas add up, and every grid has a worker
        villages = s.scalars(select(Region).where(Region.level == "village")).all()
        grids = s.scalars(select(Region).where(Region.level == "grid")).all()
        by_parent: dict[int, float] = {}
        for g in grids:
            by_parent[g.parent_id] = by_parent.get(g.parent_id, 0.0) + shapely.from_wkb(g.geom_wkb).area
        for v in villages:
            assert abs(by_parent[v.id] - shapely.from_wkb(v.geom_wkb).area) / shapely.from_wkb(v.geom_wkb).area < 1e-6
        staffed = s.scalar(select(func.count(func.distinct(GridAssignment.grid_id))))
        assert staffed == 2958
        assert s.scalar(select(func.count()).select_from(GridAssignment)) >= 9756
        assert s.scalar(select(func.count()).where(User.username.like("gw%"))) == 9755


def test_second_start_reuses_the_city_and_reprints_accounts(built):
    r = runner.invoke(app, ["demo", "--no-serve", "--cases", "200"])
    assert r.exit_code == 0
    assert "演示城市已存在" in r.output and "town.dispatcher" in r.output and "东城街道" in r.output


def test_locate_answers_found_outside_city_and_refuses_foreign_points(built):
    r = runner.invoke(app, ["locate", "113.7518", "23.0207"])
    assert r.exit_code == 0, r.output
    ans = json.loads(r.output)
    assert ans["status"] == "found" and len(ans["grid"]["code"]) == 15
    # the same place read from Amap (GCJ-02) lands in the same grid once the CRS is given
    from civicgrid.geo import crs
    glon, glat = crs.wgs84_to_gcj02(113.7518, 23.0207)
    r2 = runner.invoke(app, ["locate", f"{glon:.7f}", f"{glat:.7f}", "--crs", "gcj02"])
    assert json.loads(r2.output)["grid"]["code"] == ans["grid"]["code"]
    far = runner.invoke(app, ["locate", "113.0", "22.0"])
    assert far.exit_code == 2 and json.loads(far.output)["status"] == "outside_city"
    bad = runner.invoke(app, ["locate", "2.35", "48.85"])
    assert bad.exit_code == 1 and "outside_china" in bad.output and len(bad.output.strip().splitlines()) == 1


def test_export_reimport_refused_then_redrawn(built, cli_db, tmp_path):
    f = tmp_path / "grids.geojson"
    r = runner.invoke(app, ["regions", "export", str(f), "--root", "441900003001", "--level", "grid"])
    assert r.exit_code == 0, r.output
    fc = json.loads(f.read_text(encoding="utf-8"))
    assert len(fc["features"]) >= 2
    with _session(cli_db) as s:
        before = s.scalar(select(func.count()).select_from(Region))
    again = runner.invoke(app, ["regions", "import", str(f)])
    assert again.exit_code == 1 and "import_invalid" in again.output and "duplicate_code" in again.output
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    redraw = runner.invoke(app, ["regions", "import", str(f), "--replace", "--valid-from", tomorrow])
    assert redraw.exit_code == 0, redraw.output
    assert f"替换 {len(fc['features'])}" in redraw.output
    with _session(cli_db) as s:
        after = s.scalar(select(func.count()).select_from(Region))
    assert after == before + len(fc["features"])  # old versions kept, new ones added


@pytest.mark.parametrize("args,code", [
    (["regions", "import", "no-such-file.geojson"], "bad_file"),
    (["regions", "import", "{file}", "--crs", "epsg3857"], "invalid_crs"),
    (["regions", "import", "{file}", "--valid-from", "2026-13-01"], "invalid_date"),
    (["users", "grant", "nobody.here", "town_dispatcher", "--region", "441900003"], "not_found"),
    (["users", "grant", "admin", "emperor", "--region", "441900003"], "invalid_role"),
])
def test_bad_input_is_one_red_line_and_exit_1(built, tmp_path, args, code):
    f = tmp_path / "x.geojson"
    f.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    r = runner.invoke(app, [a.format(file=f) for a in args])
    assert r.exit_code == 1, r.output
    assert code in r.output and "错误" in r.output


def test_not_json_is_a_clear_error(built, tmp_path):
    f = tmp_path / "broken.geojson"
    f.write_text("{not json", encoding="utf-8")
    r = runner.invoke(app, ["regions", "import", str(f)])
    assert r.exit_code == 1 and "bad_file" in r.output


def test_users_create_grant_and_apikey(built, cli_db):
    assert runner.invoke(app, ["users", "create", "ops.li", "--name", "李运维", "--password", "Strong-pass-2026"]).exit_code == 0
    g = runner.invoke(app, ["users", "grant", "ops.li", "town_dispatcher", "--region", "441900004"])
    assert g.exit_code == 0, g.output
    k = runner.invoke(app, ["apikey", "ops.li"])
    assert k.exit_code == 0 and k.output.strip().startswith("cg_")


def test_registry_demo_import_export_and_rekey(built, cli_db, tmp_path, monkeypatch):
    from civicgrid.config import get_settings
    from civicgrid.registry import crypto
    from civicgrid.registry.models import Address, Resident

    assert re.search(r"已生成基础数据:3000 名实有人口", built), built
    with _session(cli_db) as s:
        a = s.scalar(select(Address.full).order_by(Address.id).limit(1))
        assert s.scalar(select(func.count()).select_from(Resident)) == 3000
    f = tmp_path / "p.csv"
    f.write_bytes(f"姓名,身份证号,现住址\n甲,11010519491231002X,{a}\n乙,123,{a}\n".encode("gb18030"))
    r = runner.invoke(app, ["registry", "import", str(f), "--report", str(tmp_path / "err.xlsx")])
    assert r.exit_code == 1 and "import_invalid" in r.output and (tmp_path / "err.xlsx").exists()
    r = runner.invoke(app, ["registry", "import", str(f), "--mode", "valid"])
    assert r.exit_code == 0 and "新建 1" in r.output, r.output
    r = runner.invoke(app, ["registry", "export", str(tmp_path / "out.xlsx"), "--q", "甲"])
    assert r.exit_code == 0 and (tmp_path / "out.xlsx").stat().st_size > 0
    import base64

    dev = "dev:" + base64.b64encode(crypto._derive(get_settings().secret_key, "enc")).decode()
    monkeypatch.setenv("CIVICGRID_REGISTRY_KEYS", crypto.new_key_spec("k2") + "," + dev)
    get_settings.cache_clear()
    r = runner.invoke(app, ["registry", "rekey"])
    assert r.exit_code == 0 and "k2" in r.output, r.output
    with _session(cli_db) as s:
        assert s.scalar(select(func.count()).where(~Resident.id_enc.startswith("k2$"))) == 0
    get_settings.cache_clear()
