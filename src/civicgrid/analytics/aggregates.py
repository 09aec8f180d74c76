"""Aggregates kept in step with the cases, in the same transaction, and rebuilt from scratch on demand.

How it stays exact: each case has one fact row (analytics_case_facts) holding what it contributes now — its
cut keys (reporting day, grid, village, town, category, department, source, urgency), its raw counts and its
step-time buckets. A SQLAlchemy `after_flush` hook notes every case a flush wrote (the case row or a new
timeline entry); at commit (`before_commit`, still inside the transaction) `settle()` recomputes those cases'
facts from the case rows and their timelines, and applies the *difference* to every aggregate level (an
atomic `INSERT … ON CONFLICT DO UPDATE SET n = n + delta`). So the aggregates commit or roll back with the
change itself, once per transaction however many times a case changed in it; every writer (engine.apply,
the deadline sweep, the demo generator) is covered without touching them. A read of the aggregates inside a
transaction that changed cases settles first. `rebuild()` recomputes everything from the cases; the tests
assert incremental == rebuilt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, event, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from civicgrid.analytics.kpis import MEASURES, bucket_of
from civicgrid.analytics.models import (KEY_COLUMNS, SUMMARY_KEY_COLUMNS, TOWN_KEY_COLUMNS, CaseFact,
                                        DailyAggregate, MonthlySummary, MonthlySummaryHistogram, StepHistogram,
                                        TownDailyAggregate, TownMonthlyAggregate, TownMonthlyHistogram,
                                        TownStepHistogram)
from civicgrid.cases.models import Case, TimelineEntry
from civicgrid.clock import CHINA_TZ, aware

Key = tuple[Any, ...]
FACT = CaseFact.__table__
DAILY = DailyAggregate.__table__
HIST = StepHistogram.__table__
# each level of aggregation: its table, its histogram table and its key (a projection of the full key);
# "town_month" also truncates the day to the first of its month
LEVELS = {"grid": (DAILY, HIST, KEY_COLUMNS),
          "town": (TownDailyAggregate.__table__, TownStepHistogram.__table__, TOWN_KEY_COLUMNS),
          "town_month": (TownMonthlyAggregate.__table__, TownMonthlyHistogram.__table__, TOWN_KEY_COLUMNS),
          "summary": (MonthlySummary.__table__, MonthlySummaryHistogram.__table__, SUMMARY_KEY_COLUMNS)}
MONTHLY = {TownMonthlyAggregate.__table__, MonthlySummary.__table__}
_HK = ("step", "bucket")
_CASE_FIELDS = ("id", "state", "source", "urgency", "reported_at", "accepted_at", "dispatched_at", "handled_at",
                "handle_due_at", "closed_at", "grid_id", "village_id", "town_id", "category_id", "department_id",
                "overdue", "ever_overdue", "reworks", "extensions", "returns", "supervision", "reporter_id",
                "handler_id", "verifier_id", "closed")


# ---------------------------------------------------------------------------------------------
# one case's fact


def case_fact(case: Any, entries: Iterable[Any]) -> tuple[Key, dict[str, float], list[tuple[str, int]]]:
    """(key, measures, histogram cells) of one case now. `case` needs the fields in _CASE_FIELDS; `entries`
    its timeline (objects or rows with seq, at, action, data)."""
    es = sorted(entries, key=lambda e: e.seq)
    day = aware(case.reported_at).astimezone(CHINA_TZ).date()
    key = (day, case.town_id or 0, case.village_id or 0, case.grid_id or 0, case.category_id or 0,
           case.department_id or 0, case.source or "", case.urgency or "")
    state = case.state
    m: dict[str, float] = dict.fromkeys(MEASURES, 0)
    m["reported"] = 1
    accepted = case.accepted_at is not None and state not in ("voided", "merged")
    closed = state == "closed"
    m["accepted"] = int(accepted)
    m["voided"] = int(state == "voided")
    m["dispatched"] = int(case.dispatched_at is not None)
    m["dispatched_ok"] = int(case.dispatched_at is not None and not case.returns)
    handled = case.handled_at is not None
    m["handled"] = int(handled)
    m["handled_on_time"] = int(handled and (case.handle_due_at is None
                                            or aware(case.handled_at) <= aware(case.handle_due_at)))
    m["due"] = int(accepted and (closed or bool(case.ever_overdue)))
    m["closed"] = int(closed)
    m["closed_on_time"] = int(closed and not case.ever_overdue)
    m["closed_late"] = int(closed and bool(case.ever_overdue))
    m["overdue_open"] = int(not case.closed and bool(case.overdue))
    m["overdue_ever"] = int(bool(case.ever_overdue))
    m["reworked"] = int(bool(case.reworks))
    m["extended"] = int(bool(case.extensions))
    m["supervised"] = int(case.supervision is not None)
    m["returned"] = int(bool(case.returns))
    m["gw_reports"] = int(case.source == "grid_worker")
    m["gw_valid"] = int(case.source == "grid_worker" and accepted)
    m["public_accepted"] = int(case.source in ("citizen", "hotline") and accepted)
    if closed:
        m["separation_checked"] = 1
        m["separation_ok"] = int(not (case.handler_id is not None and case.handler_id == case.reporter_id)
                                 and not (case.verifier_id is not None and case.verifier_id == case.handler_id))
    # from the timeline: step times, verifications on time, follow-ups
    for _e, on_time in verifications(es):
        m["verified"] += 1
        m["verified_on_time"] += int(on_time)
    first: dict[str, datetime] = {}
    last_follow: str | None = None
    responded = False
    for e in es:
        at = aware(e.at)
        first.setdefault(e.action, at)
        if e.action == "follow_up":
            last_follow = (e.data or {}).get("satisfaction")
        if e.action in ("take", "handle_locally"):
            responded = True
    if last_follow is not None:
        m["followed"] = 1
        m["responded"] = int(responded)
        m["solved"] = int(closed and last_follow != "dissatisfied")
        m[{"satisfied": "satisfied", "basically_satisfied": "basically_satisfied"}.get(last_follow,
                                                                                        "dissatisfied")] = 1
    hist: list[tuple[str, int]] = []
    handled_at = first.get("handle") or first.get("handle_locally")
    spans = {
        "accept": (first.get("report"), first.get("accept") or first.get("void")),
        "dispatch": (first.get("accept"), first.get("dispatch")),
        "handle": (first.get("dispatch") or first.get("accept"), handled_at),
        "verify": (handled_at, first.get("verify")),
    }
    for step, (a, b) in spans.items():
        if a is not None and b is not None and b >= a:
            hours = (b - a).total_seconds() / 3600
            m[f"{step}_n"] = 1
            m[f"{step}_hours"] = hours
            hist.append((step, bucket_of(hours)))
    return key, m, hist


def verifications(entries: Iterable[Any]) -> Iterator[tuple[Any, bool]]:
    """Each verification (核查) in a case's timeline (in seq order) with whether it was on time: done before the
    sweep marked that verify step overdue. The case's fact counts them; workers.py credits each to its actor."""
    late = False
    for e in entries:
        if e.action in ("handle", "handle_locally"):  # a new verify step starts with each handling
            late = False
        elif e.action == "overdue" and (e.data or {}).get("step") == "verify":
            late = True
        elif e.action == "verify":
            yield e, not late


# ---------------------------------------------------------------------------------------------
# applying differences


def _upsert(conn: Connection, table, key_cols: tuple[str, ...], rows: list[dict[str, Any]],
            value_cols: list[str]) -> None:
    if not rows:
        return
    conn.execute(_upsert_statement(conn.dialect.name, table, key_cols, tuple(value_cols)), rows)


_UPSERTS: dict[tuple[Any, ...], Any] = {}
_FACT_UPDATE = FACT.update().where(FACT.c.case_id == bindparam("b_case_id"))


def _upsert_statement(dialect: str, table, key_cols: tuple[str, ...], value_cols: tuple[str, ...]):
    """INSERT … ON CONFLICT (key) DO UPDATE SET x = x + excluded.x, built once (building it costs more than
    running it)."""
    k = (dialect, table.name, key_cols, value_cols)
    if k not in _UPSERTS:
        ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        _UPSERTS[k] = ins.on_conflict_do_update(index_elements=list(key_cols),
                                                set_={c: table.c[c] + ins.excluded[c] for c in value_cols})
    return _UPSERTS[k]


def _cleanup(conn: Connection, daily, hist, cols: tuple[str, ...], daily_keys: set[Key], hist_keys: set[Key]) -> None:
    """Rows whose counts fell to zero are removed (a rebuild would not have them)."""
    for k in daily_keys:
        conn.execute(delete(daily).where(*[daily.c[c] == v for c, v in zip(cols, k)], daily.c.reported <= 0))
    for k in hist_keys:
        conn.execute(delete(hist).where(*[hist.c[c] == v for c, v in zip(cols + _HK, k)], hist.c.n <= 0))


def project(daily: dict[Key, dict[str, float]], hist: dict[Key, int], cols: tuple[str, ...], monthly: bool = False
            ) -> tuple[dict[Key, dict[str, float]], dict[Key, int]]:
    """Sum full-key rows onto a coarser key (cols, a subset of KEY_COLUMNS in the same order; by month)."""
    idx = [KEY_COLUMNS.index(c) for c in cols]

    def key(k: Key) -> Key:
        out = tuple(k[i] for i in idx)
        return ((out[0].replace(day=1),) + out[1:]) if monthly else out

    d: dict[Key, dict[str, float]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    for k, v in daily.items():
        row = d[key(k)]
        for m, x in v.items():
            row[m] += x
    h: dict[Key, int] = defaultdict(int)
    for k, n in hist.items():
        h[key(k) + k[-2:]] += n
    return dict(d), dict(h)


def _key_dict(key: Key, cols: tuple[str, ...] = KEY_COLUMNS) -> dict[str, Any]:
    return dict(zip(cols, key))


def refresh_cases(conn: Connection, cases: list[Any]) -> None:
    """Recompute the facts of these cases and apply the differences to the aggregates."""
    if not cases:
        return
    ids = [c.id for c in cases]
    entries: dict[int, list[Any]] = defaultdict(list)
    for row in conn.execute(select(TimelineEntry.case_id, TimelineEntry.seq, TimelineEntry.at, TimelineEntry.action,
                                   TimelineEntry.data).where(TimelineEntry.case_id.in_(ids))):
        entries[row.case_id].append(row)
    old = {r.case_id: r for r in conn.execute(select(FACT).where(FACT.c.case_id.in_(ids)))}
    deltas: dict[Key, dict[str, float]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    hdeltas: dict[Key, int] = defaultdict(int)
    new_facts = []
    for c in cases:
        key, m, hist = case_fact(c, entries[c.id])
        prev = old.get(c.id)
        if prev is not None:
            pkey = tuple(getattr(prev, col) for col in KEY_COLUMNS)
            pm = {k: getattr(prev, k) for k in MEASURES}
            if pkey == key and pm == m and [tuple(h) for h in prev.hist] == hist:
                continue
            for k in MEASURES:
                deltas[pkey][k] -= pm[k]
            for step, b in prev.hist:
                hdeltas[pkey + (step, b)] -= 1
        for k in MEASURES:
            deltas[key][k] += m[k]
        for step, b in hist:
            hdeltas[key + (step, b)] += 1
        new_facts.append((c.id, prev is not None, {**_key_dict(key), **m, "hist": [list(h) for h in hist]}))
    updates = [{**values, "b_case_id": cid} for cid, existed, values in new_facts if existed]
    inserts = [{**values, "case_id": cid} for cid, existed, values in new_facts if not existed]
    if updates:
        conn.execute(_FACT_UPDATE, updates)
    if inserts:
        conn.execute(FACT.insert(), inserts)
    for daily, hist, cols in LEVELS.values():
        d, h = project(deltas, hdeltas, cols, daily in MONTHLY)
        # rows in key order: two transactions touching the same rows lock them in the same order (no deadlock)
        _upsert(conn, daily, cols, [{**_key_dict(k, cols), **d[k]} for k in sorted(d) if any(d[k].values())],
                MEASURES)
        _upsert(conn, hist, cols + _HK, [{**_key_dict(k, cols + _HK), "n": h[k]} for k in sorted(h) if h[k]], ["n"])
        # only a row that lost a case (reported went down) or a bucket that lost one can have reached zero
        _cleanup(conn, daily, hist, cols, {k for k, v in d.items() if v["reported"] < 0},
                 {k for k, n in h.items() if n < 0})


def _counted_change(case: Case) -> bool:
    attrs = inspect(case).attrs
    return any(attrs[f].history.has_changes() for f in _CASE_FIELDS if f != "id")


_PENDING = "cg_analytics_pending"


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _ctx) -> None:
    """Note which cases a flush changed (a case row or a new timeline entry); they are refreshed once, at commit."""
    ids: set[int] = session.info.setdefault(_PENDING, set())
    for obj in session.new:
        if isinstance(obj, Case) and obj.id is not None:
            ids.add(obj.id)
        elif isinstance(obj, TimelineEntry):
            ids.add(obj.case_id)
    for obj in session.dirty:  # a case whose counted fields did not change (a warning flag, a note) is skipped
        if isinstance(obj, Case) and obj.id is not None and _counted_change(obj):
            ids.add(obj.id)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    settle(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def settle(session: Session) -> None:
    """Bring the aggregates up to date with the cases this transaction changed (inside the transaction).

    Runs at commit, and before any read of the aggregates in a transaction that changed cases."""
    if not session.info.get(_PENDING):
        return
    session.flush()
    ids = session.info.pop(_PENDING, set())
    if not ids:
        return
    cases = [c for c in (session.identity_map.get(session.identity_key(Case, i)) for i in ids) if c is not None]
    missing = ids - {c.id for c in cases}
    if missing:
        cases += list(session.scalars(select(Case).where(Case.id.in_(missing))))
    for i in range(0, len(cases), 500):
        refresh_cases(session.connection(), cases[i:i + 500])


# ---------------------------------------------------------------------------------------------
# from scratch


def compute_all(session: Session, progress: Callable[[int, int], None] | None = None, batch: int = 2000
                ) -> tuple[dict[int, tuple[Key, dict[str, float], list]], dict[Key, dict[str, float]],
                           dict[Key, int]]:
    """Facts, daily sums and histogram counts of every case, computed from the cases and their timelines."""
    conn = session.connection()
    total = conn.execute(select(Case.id).order_by(Case.id.desc()).limit(1)).scalar() or 0
    n_cases = len(conn.execute(select(Case.id)).all()) if total else 0
    facts: dict[int, tuple[Key, dict[str, float], list]] = {}
    daily: dict[Key, dict[str, float]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    hist: dict[Key, int] = defaultdict(int)
    last = 0
    done = 0
    cols = [getattr(Case, f) for f in _CASE_FIELDS]
    while True:
        rows = conn.execute(select(*cols).where(Case.id > last).order_by(Case.id).limit(batch)).all()
        if not rows:
            break
        ids = [r.id for r in rows]
        entries: dict[int, list[Any]] = defaultdict(list)
        for e in conn.execute(select(TimelineEntry.case_id, TimelineEntry.seq, TimelineEntry.at,
                                     TimelineEntry.action, TimelineEntry.data)
                              .where(TimelineEntry.case_id.in_(ids))):
            entries[e.case_id].append(e)
        for r in rows:
            key, m, h = case_fact(r, entries[r.id])
            facts[r.id] = (key, m, h)
            d = daily[key]
            for k in MEASURES:
                d[k] += m[k]
            for step, b in h:
                hist[key + (step, b)] += 1
        last = ids[-1]
        done += len(rows)
        if progress:
            progress(done, n_cases)
    return facts, dict(daily), dict(hist)


def rebuild(session: Session, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Drop and recompute every aggregate from the cases (same transaction as the caller's)."""
    facts, daily, hist = compute_all(session, progress)
    conn = session.connection()
    conn.execute(delete(FACT))
    rows = [{"case_id": cid, **_key_dict(k), **m, "hist": [list(x) for x in h]} for cid, (k, m, h) in facts.items()]
    _insert(conn, FACT, rows)
    out = {"cases": len(facts)}
    for level, (dtable, htable, cols) in LEVELS.items():
        d, h = project(daily, hist, cols, dtable in MONTHLY)
        conn.execute(delete(dtable))
        conn.execute(delete(htable))
        _insert(conn, dtable, [{**_key_dict(k, cols), **v} for k, v in d.items()])
        _insert(conn, htable, [{**_key_dict(k, cols + _HK), "n": n} for k, n in h.items()])
        out[f"{level}_rows"] = len(d)
    return out


def _insert(conn: Connection, table, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    for i in range(0, len(rows), chunk):
        conn.execute(table.insert(), rows[i:i + chunk])


def stored(session: Session, level: str = "grid") -> tuple[dict[Key, dict[str, float]], dict[Key, int]]:
    """An aggregate level's tables as they are (for comparing with compute_all)."""
    settle(session)
    daily, hist, cols = LEVELS[level]
    conn = session.connection()
    d = {tuple(_norm(getattr(r, c)) for c in cols): {k: getattr(r, k) for k in MEASURES}
         for r in conn.execute(select(daily))}
    h = {tuple(_norm(getattr(r, c)) for c in cols + _HK): r.n for r in conn.execute(select(hist))}
    return d, h


def _norm(v: Any) -> Any:
    return date.fromisoformat(v) if isinstance(v, str) and len(v) == 10 and v[4] == "-" else v
