"""Bulk writes and reads for large imports: the driver's own fastest path, inside the session's transaction.

SQLAlchemy's Core executemany processes every parameter of every row in Python (type decorators, dict lookups);
at a million rows that costs more than the database's work. Here each column's bind processor is looked up once
and applied column by column (memoised: imports repeat dates and the import's time), then the rows go to the
driver as tuples: PostgreSQL's COPY (psycopg 3) or SQLite's executemany. Primary keys are reserved up front
(`reserve_ids`) so related rows can be written without reading the new ids back.

`select_in` asks "column IN (many values)" with one parameter (a PostgreSQL array, a JSON array on SQLite), so
the statement's text is the same every time: no expanding of thousands of placeholders, no re-parsing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, Table, any_, bindparam, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def _processors(table: Table, columns: Sequence[str], dialect: Any) -> list[tuple[int, Any]]:
    out = []
    for i, name in enumerate(columns):
        proc = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            out.append((i, proc))
    return out


def _processed(column: tuple[Any, ...], proc: Any) -> list[Any]:
    """One column's values as the driver takes them; equal values processed once (JSON values once per object)."""
    memo: dict[Any, Any] = {}
    by_id: dict[int, tuple[Any, Any]] = {}
    out = []
    for x in column:
        if x is None:
            out.append(None)
            continue
        try:
            y = memo.get(x)
            if y is None:
                y = memo[x] = proc(x)
        except TypeError:  # unhashable (JSON): memoised per object, kept alive here so its id is not reused
            hit = by_id.get(id(x))
            if hit is None:
                hit = by_id[id(x)] = (x, proc(x))
            y = hit[1]
        out.append(y)
    return out


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert rows (tuples in the order of `columns`) in the session's transaction; returns the count."""
    conn = session.connection()
    dialect = conn.dialect
    data: list[Sequence[Any]] = rows if isinstance(rows, list) else list(rows)
    if not data:
        return 0
    procs = _processors(table, columns, dialect)
    if procs:
        cols = list(zip(*data))
        for i, p in procs:
            cols[i] = _processed(cols[i], p)  # type: ignore[call-overload]
        data = list(zip(*cols))
    names = ", ".join(f'"{c}"' for c in columns)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    if dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:  # type: ignore[attr-defined]
            for r in data:
                copy.write_row(r)
        return len(data)
    cur = raw.cursor()
    try:
        cur.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(columns))})', data)
    finally:
        cur.close()
    return len(data)


def select_in(session: Session, stmt: Select[Any], column: Any, values: Sequence[Any], size: int = 20000) -> list[Any]:
    """The rows of `stmt` where column IN values, asked `size` values at a time through one parameter."""
    if not values:
        return []
    pg = session.get_bind().dialect.name == "postgresql"
    if pg:
        cond = column == any_(bindparam("_in_values", type_=ARRAY(column.type)))
    else:
        cond = column.in_(select(literal_column("value")).select_from(func.json_each(bindparam("_in_values"))))
    q = stmt.where(cond)
    rows: list[Any] = []
    for k in range(0, len(values), size):
        part = list(values[k:k + size])
        rows.extend(session.execute(q, {"_in_values": part if pg else json.dumps(part, ensure_ascii=False)}))
    return rows


def reserve_ids(session: Session, table: Table, n: int) -> list[int]:
    """n primary keys for rows about to be inserted with explicit ids.

    PostgreSQL: drawn from the column's sequence in one statement (safe under concurrency); only the lowest and
    highest come back when they are consecutive, as they are unless another session drew ids meanwhile.
    SQLite: max(id) + 1 … + n after taking the database's write lock (a write statement), so no other
    connection can insert until this one commits."""
    if n <= 0:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar_one()
        draw = f"SELECT nextval('{seq}'::regclass) AS v FROM generate_series(1, :n)"
        lo, hi = conn.execute(text(f"SELECT min(v), max(v) FROM ({draw}) s"), {"n": n}).one()
        if hi - lo + 1 == n:  # n distinct values in a range of n: exactly that range (the usual case)
            return list(range(lo, hi + 1))
        # another session drew ids in between: take a fresh set one by one (the first set stays unused)
        return list(conn.execute(text(f"SELECT array_agg(v) FROM ({draw}) s"), {"n": n}).scalar_one())
    conn.exec_driver_sql(f'DELETE FROM "{table.name}" WHERE 0')  # takes the write lock, changes nothing
    top = conn.exec_driver_sql(f'SELECT coalesce(max(id), 0) FROM "{table.name}"').scalar() or 0
    return list(range(top + 1, top + 1 + n))
