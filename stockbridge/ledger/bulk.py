"""Moving many rows in one statement per table, the fastest way each database offers.

- PostgreSQL: ``COPY ... FROM STDIN`` fed with CSV written by pyarrow.
- SQLite: ``INSERT ... SELECT ... FROM json_each(?)`` with one JSON text per slice of rows,
  built by Arrow kernels. SQLite then reads the rows in C; ``executemany`` would first build
  a Python tuple per row and bind each value separately (measured on 1M movements: 3.6 s
  against 1.7 s).
- MariaDB/MySQL: ``executemany``, which pymysql folds into multi-row INSERTs.

Never a statement per row issued from a Python loop.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection

from stockbridge.formats.text import joined

SLICE_ROWS = 100_000
"""Rows per SQLite statement: bounds the JSON text (a few MB) while keeping statements few."""

STOCK_COLUMNS = ("store", "reference", "on_hand", "reserved", "updated_at")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
"""SQLAlchemy's own storage format for ``DateTime`` on SQLite (Arrow adds the microseconds)."""


def placeholder(connection: Connection) -> str:
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def insert_rows(
    connection: Connection, table: str, rows: pa.Table, order: pa.Array | None = None
) -> None:
    """Append ``rows`` (columns named like the table's) inside the current transaction,
    in ``order`` (positions into ``rows``) when given.

    Rows are reordered and decoded a slice at a time, so a batch of millions never exists
    twice in memory.
    """
    if rows.num_rows == 0:
        return
    columns = ", ".join(rows.column_names)
    dialect = connection.dialect.name
    if dialect == "postgresql":
        copy_rows(connection, f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)", rows, order)
    elif dialect == "sqlite":
        insert_from_json(connection, f"INSERT INTO {table} ({columns})", rows, order=order)
    else:
        rows = _decoded(rows if order is None else rows.take(order))
        marks = ", ".join(["%s"] * rows.num_columns)
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", as_tuples(rows)
        )


def _slices(rows: pa.Table, order: pa.Array | None) -> Iterator[pa.Table]:
    for start in range(0, rows.num_rows, SLICE_ROWS):
        if order is None:
            yield _decoded(rows.slice(start, SLICE_ROWS))
        else:
            yield _decoded(rows.take(order.slice(start, SLICE_ROWS)))


def add_to_stock(connection: Connection, deltas: pa.Table) -> None:
    """Add ``on_hand``/``reserved`` deltas per (store, reference), creating missing rows."""
    if deltas.num_rows == 0:
        return
    deltas = deltas.select(STOCK_COLUMNS)
    columns = ", ".join(STOCK_COLUMNS)
    dialect = connection.dialect.name
    add_up = (
        " ON CONFLICT (store, reference) DO UPDATE SET"
        " on_hand = stock.on_hand + excluded.on_hand,"
        " reserved = stock.reserved + excluded.reserved,"
        " updated_at = excluded.updated_at"
    )
    if dialect == "postgresql":
        connection.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS stock_delta"
            " (LIKE stock INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        connection.exec_driver_sql("DELETE FROM stock_delta")
        copy_rows(connection, f"COPY stock_delta ({columns}) FROM STDIN (FORMAT csv)", deltas)
        connection.exec_driver_sql(
            f"INSERT INTO stock ({columns}) SELECT {columns} FROM stock_delta{add_up}"
        )
    elif dialect == "sqlite":
        # "WHERE true" tells SQLite's parser that ON CONFLICT belongs to the INSERT.
        insert_from_json(
            connection, f"INSERT INTO stock ({columns})", deltas, f" WHERE true{add_up}"
        )
    else:
        connection.exec_driver_sql(
            f"INSERT INTO stock ({columns}) VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE"
            " on_hand = on_hand + VALUES(on_hand), reserved = reserved + VALUES(reserved),"
            " updated_at = VALUES(updated_at)",
            as_tuples(deltas),
        )


def copy_rows(
    connection: Connection, statement: str, rows: pa.Table, order: pa.Array | None = None
) -> None:
    """PostgreSQL ``COPY`` in slices. psycopg's queued writer sends each slice from a thread
    of its own, so the server parses one slice while the next is formatted here (measured
    on 1M movements: 3.9-4.1 s -> 3.6-4.0 s)."""
    from psycopg.copy import QueuedLibpqWriter  # here: a SQLite ledger never loads psycopg

    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        for part in _slices(rows, order):
            buffer = io.BytesIO()
            pacsv.write_csv(part, buffer, write_options=options)
            copy.write(buffer.getbuffer())


def insert_from_json(
    connection: Connection,
    insert: str,
    rows: pa.Table,
    suffix: str = "",
    order: pa.Array | None = None,
) -> None:
    """SQLite: ``insert`` (``INSERT INTO t (a, b)``) fed by ``json_each`` over slices of rows.

    SQLite releases the GIL while it inserts, so the next slice's JSON is built while the
    previous one is written (one statement at a time, all in the caller's transaction).
    """
    with ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer") as writer:
        pending: Future | None = None
        for part in _slices(rows, order):
            statement, parameters = _slice_statement(insert, part, suffix)
            if pending is not None:
                pending.result()
            pending = writer.submit(connection.exec_driver_sql, statement, parameters)
        if pending is not None:
            pending.result()


def _slice_statement(insert: str, part: pa.Table, suffix: str) -> tuple[str, tuple | list]:
    """The JSON statement, or row by row where JSON cannot carry the slice: SQLite's
    ``json_extract`` stops a text at U+0000, and a SQLite older than 3.38 may lack JSON."""
    if sqlite_reads_json() and not any(
        pc.any(pc.match_substring(column, "\x00")).as_py()
        for column in part.columns
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    ):
        return _json_statement(insert, part, suffix)
    marks = ", ".join(["?"] * part.num_columns)
    return f"{insert} SELECT {marks}{suffix}", as_tuples(part)


@cache
def sqlite_reads_json() -> bool:
    try:
        with closing(sqlite3.connect(":memory:")) as probe:
            probe.execute("SELECT value FROM json_each('[1]')").fetchall()
    except sqlite3.OperationalError:
        return False
    return True


def _json_statement(insert: str, part: pa.Table, suffix: str) -> tuple[str, tuple]:
    """A column holding one value throughout the slice (the store, a file's time) is bound
    once as a parameter instead of being repeated in the JSON."""
    selected, constants, varying = [], [], []
    for column in part.columns:
        column = _as_sql_value(column.combine_chunks())
        if column.null_count == 0 and pc.count_distinct(column).as_py() == 1:
            selected.append("?")
            constants.append(column[0].as_py())
        else:
            selected.append(f"json_extract(value, '$[{len(varying)}]')")
            varying.append(_as_json_value(column))
    statement = f"{insert} SELECT {', '.join(selected)} FROM json_each(?){suffix}"
    return statement, (*constants, _json_array(varying, len(part)))


def _decoded(rows: pa.Table) -> pa.Table:
    """Plain columns for the database: dictionary-encoded ones (``PER_DOCUMENT``) decoded."""
    for position, field in enumerate(rows.schema):
        if pa.types.is_dictionary(field.type):
            column = rows.column(position).cast(field.type.value_type)
            rows = rows.set_column(position, field.name, column)
    return rows


def _as_sql_value(column: pa.Array) -> pa.Array:
    """Timestamps as text. A batch holds few distinct times (one per document), and
    formatting those once is 50 times cheaper than formatting every row."""
    if not pa.types.is_timestamp(column.type):
        return column
    distinct = pc.unique(column)
    text = pc.strftime(distinct, format=TIMESTAMP_FORMAT)
    return pc.take(text, pc.index_in(column, value_set=distinct))


def _as_json_value(column: pa.Array) -> pa.Array:
    """Each value as JSON text (``12``, ``"abc"``, ``null``); strings escaped per RFC 8259."""
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.string())
    if pa.types.is_null(column.type):
        return pa.array(["null"] * len(column), pa.string())
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise TypeError(f"no JSON form for {column.type}")
    column = pc.replace_substring(column, "\\", "\\\\")
    column = pc.replace_substring(column, '"', '\\"')
    if pc.any(pc.match_substring_regex(column, "[\\x00-\\x1f]")).as_py():
        for code in range(0x20):
            column = pc.replace_substring(column, chr(code), f"\\u{code:04x}")
    return pc.binary_join_element_wise('"', column.cast(pa.string()), '"', "")


def _json_array(columns: list[pa.Array], size: int) -> str:
    """``[[a,b],[c,d]]`` with no Python object per row."""
    if not columns:
        return "[" + ",".join(["[]"] * size) + "]"
    values = [pc.fill_null(column, "null") for column in columns]
    rows = pc.binary_join_element_wise("[", pc.binary_join_element_wise(*values, ","), "]", "")
    return "[" + joined(rows, ",").decode() + "]"


def as_tuples(rows: pa.Table) -> list[tuple]:
    """Rows for ``executemany``. Timestamps go as text: building a million ``datetime``
    objects only for the driver to format them again costs seconds."""
    columns = []
    for column in rows.columns:
        if pa.types.is_timestamp(column.type):
            column = _as_sql_value(column)
        columns.append(column.to_pylist())
    return list(zip(*columns, strict=True))
