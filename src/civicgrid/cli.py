"""The `civicgrid` command: demo city, server, migrations, region import/export, users, API keys."""

from __future__ import annotations

import functools
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from civicgrid.config import get_settings

app = typer.Typer(help="civicgrid 智网: grid-based social governance platform", no_args_is_help=True,
                  pretty_exceptions_enable=False)
regions_app = typer.Typer(help="Import and export region boundaries (GeoJSON)", no_args_is_help=True)
users_app = typer.Typer(help="Users and role assignments", no_args_is_help=True)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
app.add_typer(regions_app, name="regions")
app.add_typer(users_app, name="users")
app.add_typer(db_app, name="db")
out = Console()
err = Console(stderr=True)


DEFAULT_DEMO_CASES = 6000
DEFAULT_DEMO_RESIDENTS = 50000  # ~30 s; the 200,000 takes ~2 min on a laptop core (docs/registry.md)


def _error_line(code: str, text: str) -> None:
    """One unwrapped line on stderr: 错误 [machine_code] Chinese message (English detail)."""
    err.print(f"[red]错误[/red] {escape(f'[{code}] {text}')}", highlight=False, soft_wrap=True)


def friendly(fn):
    """Domain errors end the command with exit code 1 and one readable line (details follow, indented)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from civicgrid.errors import DomainError

        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            _error_line(exc.code, f"{exc.message_zh} ({exc.detail})")
            for e in exc.extra.get("errors", [])[:30]:
                err.print(f"  - {json.dumps(e, ensure_ascii=False)}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except (FileNotFoundError, IsADirectoryError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            _error_line("bad_file", f"无法读取文件 (cannot read file): {exc}")
            raise typer.Exit(1) from None
    return wrapper


def _migrate() -> None:
    from civicgrid.db import get_engine
    from civicgrid.migrate import upgrade

    upgrade(get_engine())


def _reset() -> None:
    from sqlalchemy import text

    from civicgrid.db import get_engine
    from civicgrid.models import metadata

    s = get_settings()
    path = s.sqlite_path()
    engine = get_engine()
    if path is not None:
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    with engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@db_app.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Apply every migration (idempotent)."""
    _migrate()
    out.print("数据库已升级到最新版本 (schema at head)")


@app.command()
@friendly
def demo(towns: Optional[int] = typer.Option(None, help="Only the first N towns (a smaller city)"),
         reset: bool = typer.Option(False, help="Delete the existing database first"),
         serve: bool = typer.Option(True, help="Serve the app once the city is built"),
         host: Optional[str] = typer.Option(None), port: Optional[int] = typer.Option(None),
         seed: int = typer.Option(2026, help="Random seed of the partition and the names"),
         cases: int = typer.Option(DEFAULT_DEMO_CASES, help="Cases of history to simulate over the last year "
                                   "(Dongguan's full year is about 70000: --cases 70000)"),
         residents: int = typer.Option(DEFAULT_DEMO_RESIDENTS, help="Registry residents to generate (with their "
                                       "dwellings, organisations and facilities); 0 = none")) -> None:
    """Build the Dongguan demo city (33 towns, ~600 villages, 2,958 grids, 9,756 grid workers) and serve it."""
    from civicgrid import demo as demo_mod
    from civicgrid.db import unit_of_work

    s = get_settings()
    if reset:
        _reset()
    _migrate()
    summary = None
    with unit_of_work() as session:
        exists = demo_mod.demo_exists(session)
        accounts = demo_mod.demo_accounts(session) if exists else []
    if exists:
        out.print("演示城市已存在,直接启动(如需重建请加 --reset)。Demo city exists; use --reset to rebuild.")
    else:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=out) as bar:
            task = bar.add_task("构建演示城市", total=4)

            def step(name: str, done: int, total: int) -> None:
                bar.update(task, description=f"构建演示城市:{name}", completed=done, total=total)

            with unit_of_work() as session:
                summary = demo_mod.build_demo(session, towns_limit=towns, seed=seed, progress=step)
            if cases > 0:
                import time as _time

                from civicgrid.demo_history import build_history

                hist = bar.add_task("模拟一年事件 (案件)", total=cases)
                t0 = _time.perf_counter()
                with unit_of_work() as session:
                    result = build_history(session, cases, seed=seed,
                                           progress=lambda done, total: bar.update(hist, completed=done))
                summary.cases = result["cases"]
                summary.case_seconds = _time.perf_counter() - t0
            if residents > 0:
                reg = _registry_demo(bar, residents, seed)
                out.print(f"已生成基础数据:{reg['residents']} 名实有人口、{reg['addresses']} 个标准地址、"
                          f"{reg['organisations']} 个单位、{reg['facilities']} 个设施、{reg.get('buildings', 0)} 栋楼,用时 {reg['seconds']:.0f} 秒")
        out.print(f"已构建:{summary.towns} 个镇街、{summary.villages} 个村(社区)、{summary.grids} 个网格、"
                  f"{summary.workers} 名网格员、{summary.departments} 个部门、{summary.centres} 个指挥中心/工作站,"
                  f"用时 {summary.seconds:.1f} 秒")
        if summary.cases:
            out.print(f"已模拟 {summary.cases} 件事件的全流程(近一年),用时 {summary.case_seconds:.0f} 秒")
    _print_accounts(summary.accounts if summary else accounts, summary.api_key if summary else None)
    if serve:
        _serve(host or s.host, port or s.port)


def _print_accounts(accounts: list[tuple[str, str, str]], api_key: str | None) -> None:
    from civicgrid.access.policy import ROLE_LABELS, Role
    from civicgrid.demo import DEMO_PASSWORD

    t = Table(title=f"演示账号 Demo log-ins (密码 password: {DEMO_PASSWORD})")
    t.add_column("用户名 username")
    t.add_column("角色 role")
    t.add_column("范围 scope")
    for username, role, scope in accounts:
        t.add_row(username, ROLE_LABELS[Role(role)], scope)
    out.print(t)
    if api_key:
        out.print(f"12345 热线对接接口密钥 (API key, shown once): [bold]{api_key}[/bold]")
    else:
        out.print("12345 接口密钥只在创建时显示一次;如需新密钥: civicgrid apikey integration.12345")


def _serve(host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    from civicgrid.app import create_app

    out.print(f"[bold green]打开 Open[/bold green] http://{host}:{port}/  (API 文档 http://{host}:{port}/docs)")
    if workers > 1:  # several processes (each with its own sweep scheduler: the sweep is idempotent)
        uvicorn.run("civicgrid.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")
    else:
        uvicorn.run(create_app(), host=host, port=port, log_level="warning")


@app.command()
@friendly
def serve(host: Optional[str] = typer.Option(None), port: Optional[int] = typer.Option(None),
          workers: int = typer.Option(1, min=1, help="Server processes (use about one per core on PostgreSQL)")) -> None:
    """Migrate, then serve the web app and API."""
    s = get_settings()
    _migrate()
    _serve(host or s.host, port or s.port, workers)


@regions_app.command("import")
@friendly
def regions_import(file: Path = typer.Argument(..., help="GeoJSON FeatureCollection"),
                   replace: bool = typer.Option(False, help="Replace current regions of the same code (redraw)"),
                   crs: str = typer.Option("wgs84", help="Coordinate system of the file: wgs84, gcj02, bd09"),
                   valid_from: Optional[str] = typer.Option(None, help="Validity start, YYYY-MM-DD (default today)")) -> None:
    """Import regions from GeoJSON in one transaction: any error and nothing is written."""
    from civicgrid.access.service import SYSTEM
    from civicgrid.db import unit_of_work
    from civicgrid.errors import BadInput
    from civicgrid.geo.service import import_geojson

    if crs not in ("wgs84", "gcj02", "bd09"):
        raise BadInput("invalid_crs", f"未知坐标系 {crs}", f"Unknown CRS {crs!r}; use wgs84, gcj02 or bd09")
    try:
        vf = date.fromisoformat(valid_from) if valid_from else None
    except ValueError:
        raise BadInput("invalid_date", f"日期格式错误: {valid_from}", "valid-from must be YYYY-MM-DD") from None
    data = json.loads(file.read_text(encoding="utf-8"))
    _migrate()
    with unit_of_work() as session:
        report = import_geojson(session, SYSTEM, data, replace=replace, source_crs=crs, valid_from=vf)
    out.print(f"导入完成:新增 {report.created},替换 {report.replaced},警告 {len(report.warnings)}")
    for w in report.warnings:
        out.print(f"  警告 {w.code}: {w.message}", highlight=False)


@regions_app.command("export")
@friendly
def regions_export(file: Path = typer.Argument(..., help="Output .geojson"),
                   root: Optional[str] = typer.Option(None, help="Only below this region code"),
                   level: Optional[str] = typer.Option(None, help="Only this level: city/district/town/village/grid")) -> None:
    """Export current regions to GeoJSON (re-importable)."""
    from civicgrid.access.service import SYSTEM
    from civicgrid.db import unit_of_work
    from civicgrid.geo.service import export_geojson

    with unit_of_work() as session:
        fc = export_geojson(session, SYSTEM, root_code=root, level=level)
    file.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    out.print(f"已导出 {len(fc['features'])} 个区域到 {file}")


@app.command()
@friendly
def locate(lon: float, lat: float, crs: str = typer.Option("wgs84", help="wgs84, gcj02 or bd09")) -> None:
    """Which grid a point lies in."""
    from civicgrid.access.service import SYSTEM
    from civicgrid.db import unit_of_work
    from civicgrid.geo.service import locate_point

    with unit_of_work() as session:
        ans = locate_point(session, SYSTEM, lon, lat, crs)
    out.print_json(ans.model_dump_json())
    if ans.status == "outside_city":
        raise typer.Exit(2)


@users_app.command("create")
@friendly
def users_create(username: str, name: str = typer.Option(..., help="Display name"),
                 password: Optional[str] = typer.Option(None, help="Omit to create an account that cannot log in yet")) -> None:
    """Create a user."""
    from civicgrid.access.service import SYSTEM, create_user
    from civicgrid.db import unit_of_work

    with unit_of_work() as session:
        create_user(session, SYSTEM, username=username, display_name=name, password=password)
    out.print(f"已创建用户 {username}")


@users_app.command("grant")
@friendly
def users_grant(username: str, role: str, region: Optional[str] = typer.Option(None),
                department: Optional[str] = typer.Option(None)) -> None:
    """Give a user a role in a scope (a region code or a department code)."""
    from civicgrid.access.service import SYSTEM, assign_role
    from civicgrid.db import unit_of_work

    with unit_of_work() as session:
        assign_role(session, SYSTEM, username, role, region_code=region, department_code=department)
    out.print(f"已授予 {username} 角色 {role}")


@app.command()
@friendly
def sweep() -> None:
    """Run the deadline sweep once: warn due-soon cases, mark overdue ones, escalate where the catalogue says."""
    from civicgrid.cases.jobs import sweep as run_sweep
    from civicgrid.db import unit_of_work

    _migrate()
    with unit_of_work() as session:
        counts = run_sweep(session)
    out.print(f"即将超期 {counts['due_soon']} 件,新超期 {counts['overdue']} 件,自动上报 {counts['escalated']} 件"
              f"(冲突跳过 {counts['skipped']} 件)")


calendar_app = typer.Typer(help="Working calendar: official holidays and make-up working days", no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")


@calendar_app.command("load")
@friendly
def calendar_load(year: int, file: Path = typer.Argument(..., help="CSV lines: date,type (休/班)"),
                  source: str = typer.Option("", help="e.g. 国务院办公厅关于2027年部分节假日安排的通知")) -> None:
    """Load a year's official holiday notice (replaces an earlier one for that year)."""
    from civicgrid.access.service import SYSTEM
    from civicgrid.cases.deadlines import load_holiday_notice
    from civicgrid.db import unit_of_work

    text = file.read_text(encoding="utf-8-sig")
    _migrate()
    with unit_of_work() as session:
        r = load_holiday_notice(session, SYSTEM, year, text, source)
    out.print(f"已导入 {year} 年节假日安排:休息日 {r['holidays']} 天,调休上班 {r['workdays']} 天")


@calendar_app.command("status")
@friendly
def calendar_status() -> None:
    """Which years the working calendar knows, and where from."""
    from civicgrid import clock
    from civicgrid.cases.deadlines import calendar_status as status
    from civicgrid.db import unit_of_work

    y = clock.today().year
    labels = {"override": "已导入通知", "library": "内置(chinesecalendar)", "fallback": "未知:按周末计算"}
    with unit_of_work() as session:
        for row in status(session, [y - 1, y, y + 1]):
            out.print(f"{row['year']}: {labels[row['source']]}" + (f"  ⚠ {row['warning']}" if row["warning"] else ""))


@app.command("apikey")
@friendly
def apikey(username: str, name: str = typer.Option("integration", help="What the key is for")) -> None:
    """Issue a bearer API key for a user (printed once)."""
    from civicgrid.access.service import SYSTEM, create_api_key
    from civicgrid.db import unit_of_work

    with unit_of_work() as session:
        key = create_api_key(session, SYSTEM, username, name)
    out.print(key)


# ---------------------------------------------------------------------------------------------
# registry (二标四实)

registry_app = typer.Typer(help="Base-data registry: import, export, key rotation, demo data", no_args_is_help=True)
app.add_typer(registry_app, name="registry")


def _registry_demo(bar: Progress, residents: int, seed: int) -> dict[str, Any]:
    from civicgrid.db import unit_of_work
    from civicgrid.registry.demo import build_registry_demo

    task = bar.add_task("生成基础数据", total=residents)

    def step(name: str, done: int, total: int) -> None:
        bar.update(task, description=f"生成基础数据:{name}", completed=done, total=max(total, 1))

    with unit_of_work() as session:
        return build_registry_demo(session, residents=residents, seed=seed, progress=step)


@registry_app.command("demo")
@friendly
def registry_demo(residents: int = typer.Option(DEFAULT_DEMO_RESIDENTS, help="How many residents"),
                  seed: int = typer.Option(2026)) -> None:
    """Add registry demo data (residents, dwellings, organisations, facilities) to the existing demo city."""
    _migrate()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=out) as bar:
        reg = _registry_demo(bar, residents, seed)
    out.print(f"已生成 {reg['residents']} 名实有人口,用时 {reg['seconds']:.0f} 秒")


@registry_app.command("import")
@friendly
def registry_import(file: Path = typer.Argument(..., help="CSV (UTF-8/GBK/GB18030) or XLSX"),
                    kind: str = typer.Option("resident", help="resident, dwelling, organisation, facility, address"),
                    mode: str = typer.Option("all", help="all = nothing unless every row is valid; valid = skip bad rows"),
                    report: Optional[Path] = typer.Option(None, help="Write the error report (XLSX) here")) -> None:
    """Import a registry file as the system administrator (per-row errors; all-or-nothing by default)."""
    from civicgrid.access.service import SYSTEM
    from civicgrid.db import unit_of_work
    from civicgrid.errors import DomainError
    from civicgrid.registry import importer

    _migrate()
    data = file.read_bytes()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=out) as bar:
        task = bar.add_task("导入", total=1)
        prog = lambda done, total: bar.update(task, completed=done, total=max(total, 1))  # noqa: E731
        table = importer.read_table(data, file.name)
        with unit_of_work() as session:
            try:
                done = importer.import_table(session, SYSTEM, kind, table, mode=mode, progress=prog)
            except DomainError as exc:
                if report is not None and exc.code == "import_invalid":
                    report.write_bytes(importer.error_report(importer.check(session, SYSTEM, kind, table)))
                    out.print(f"错误报告已写入 {report}")
                raise
            if report is not None and done.errors:
                report.write_bytes(importer.error_report(done))
                out.print(f"错误报告已写入 {report}")
    result = importer.summary(done)
    out.print(f"新建 {result['created']},更新 {result['updated']},跳过 {result['skipped']} 行")


@registry_app.command("export")
@friendly
def registry_export(file: Path = typer.Argument(..., help="Output .xlsx"),
                    kind: str = typer.Option("resident", help="resident, dwelling, organisation, facility, address"),
                    q: str = typer.Option("", help="Search text"), region: str = typer.Option("", help="Region code")
                    ) -> None:
    """Export a filtered registry list to XLSX (personal numbers masked)."""
    from civicgrid.access.service import SYSTEM
    from civicgrid.db import unit_of_work
    from civicgrid.registry import queries

    with unit_of_work() as session:
        data = queries.export_xlsx(session, SYSTEM, kind, queries.Filters(q=q, region_code=region))
    file.write_bytes(data)
    out.print(f"已导出到 {file}")


@registry_app.command("rekey")
@friendly
def registry_rekey(new_key: bool = typer.Option(False, "--new-key", help="Only print a fresh key entry")) -> None:
    """Re-encrypt every ID and phone number under the first key of CIVICGRID_REGISTRY_KEYS (key rotation)."""
    from civicgrid.db import unit_of_work
    from civicgrid.registry import crypto, service

    if new_key:
        from civicgrid import clock

        out.print(crypto.new_key_spec(f"k{clock.today():%Y%m%d}"))
        return
    with unit_of_work() as session:
        done = service.rekey(session)
    out.print(f"已用密钥 {crypto.keyring().current} 重新加密:" + "、".join(f"{k} {v}" for k, v in done.items()))
analytics_app = typer.Typer(help="Assessment: aggregates, bulletins", no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")


@analytics_app.command("rebuild")
@friendly
def analytics_rebuild() -> None:
    """Recompute every analytics aggregate from the cases (after an upgrade, or to check)."""
    from civicgrid.analytics.aggregates import rebuild
    from civicgrid.db import unit_of_work

    _migrate()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=out) as bar:
        task = bar.add_task("重算考核统计 (案件)", total=None)
        with unit_of_work() as session:
            result = rebuild(session, progress=lambda done, total: bar.update(task, completed=done, total=total))
    out.print(f"已重算:{result['cases']} 件事件,网格级日汇总 {result['grid_rows']} 行,镇街级日汇总 {result['town_rows']} 行")


@analytics_app.command("bulletin")
@friendly
def analytics_bulletin(month: str = typer.Option(..., help="YYYY-MM"),
                       region: Optional[str] = typer.Option(None, help="Region code (default: the city)"),
                       preset: str = typer.Option("digital_urban", help="digital_urban, hotline_12345 or custom-<id> (/assess/configs)"),
                       out_dir: Optional[Path] = typer.Option(None, "--out", help="Also copy the files here")) -> None:
    """Generate a monthly bulletin (XLSX + DOCX) for a region, kept in storage and listed on the page."""
    from civicgrid.access.service import SYSTEM
    from civicgrid.analytics import bulletins
    from civicgrid.cases.service import storage
    from civicgrid.db import unit_of_work

    _migrate()
    with unit_of_work() as session:
        b = bulletins.generate(session, SYSTEM, region, month, preset)
        keys, title = (b.xlsx_key, b.docx_key), b.title
    out.print(f"已生成:{title}")
    for key in keys:
        target = storage().path(key)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            target = out_dir / f"{title}{Path(key).suffix}"
            target.write_bytes(storage().get(key))
        out.print(f"  {target}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
