"""Bulk writes for large imports: the driver's own fastest path, inside the session's transaction.

SQLAlchemy's Core executemany processes every parameter of every row in Python (type decorators, dict lookups);
at a million rows that costs more than the database's work. Here each column's bind processor is looked up once
and applied only where one exists, then the rows go to the driver as tuples: PostgreSQL's COPY (psycopg 3) or
SQLite's executemany. Primary keys are reserved up front (`reserve_ids`) so related rows can be written without
reading the new ids back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, Table, text
from sqlalchemy.orm import Session


def _processors(table: Table, columns: Sequence[str], dialect: Any) -> list[tuple[int, Any]]:
    out = []
    for i, name in enumerate(columns):
        proc = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            out.append((i, proc))
    return out


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert rows (tuples in the order of `columns`) in the session's transaction; returns the count."""
    conn = session.connection()
    dialect = conn.dialect
    procs = _processors(table, columns, dialect)
    if procs:
        memo: list[dict[Any, Any]] = [{} for _ in procs]  # imports repeat values (dates, the import's time)

        def ready(r: Sequence[Any]) -> tuple[Any, ...]:
            v = list(r)
            for (i, p), m in zip(procs, memo):
                x = v[i]
                if x is None:
                    continue
                try:
                    y = m.get(x)
                    if y is None:
                        y = m[x] = p(x)
                except TypeError:  # JSON values: memoised per object (kept alive here, so its id is not reused)
                    hit = m.get(("id", id(x)))
                    if hit is None or hit[0] is not x:
                        hit = m[("id", id(x))] = (x, p(x))
                    y = hit[1]
                v[i] = y
            return tuple(v)
        data: Iterable[Sequence[Any]] = (ready(r) for r in rows)
    else:
        data = rows
    cols = ", ".join(f'"{c}"' for c in columns)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    n = 0
    if dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:  # type: ignore[attr-defined]
            for r in data:
                copy.write_row(r)
                n += 1
        return n
    batch = list(data)
    cur = raw.cursor()
    try:
        cur.executemany(f'INSERT INTO "{table.name}" ({cols}) VALUES ({", ".join("?" * len(columns))})', batch)
    finally:
        cur.close()
    return len(batch)


def select_in(session: Session, stmt: Select[Any], column: Any, values: Sequence[Any], size: int = 900) -> list[Any]:
    """The rows of `stmt` where column IN values, asked in parts of `size` (SQLite limits bound parameters)."""
    rows: list[Any] = []
    for k in range(0, len(values), size):
        rows.extend(session.execute(stmt.where(column.in_(values[k:k + size]))))
    return rows


def reserve_ids(session: Session, table: Table, n: int) -> list[int]:
    """n primary keys for rows about to be inserted with explicit ids.

    PostgreSQL: drawn from the column's sequence (safe under concurrency). SQLite: max(id) + 1 … + n after taking
    the database's write lock (a write statement), so no other connection can insert until this one commits."""
    if n <= 0:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return list(conn.execute(text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
                                      "FROM generate_series(1, :n)"), {"n": n}).scalars())
    conn.exec_driver_sql(f'DELETE FROM "{table.name}" WHERE 0')  # takes the write lock, changes nothing
    top = conn.exec_driver_sql(f'SELECT coalesce(max(id), 0) FROM "{table.name}"').scalar() or 0
    return list(range(top + 1, top + 1 + n))
