"""Opening the till and HQ databases, and the tables stockbridge keeps on each.

At HQ, one table per synced entity (``chain_<entity>``) holds every store's rows under the
identity ``(sb_store, key)`` (shared entities such as customers: the key alone), enforced by
the primary key, so a resent row can never be there twice (on SQLite the primary key is the
table, ``WITHOUT ROWID``: one B-tree less to write per row pushed). ``stockbridge_acks`` holds, per
store and entity, how far HQ has the store's rows (written in the same HQ transaction as those
rows), ``stockbridge_stores`` the chain's stores and ``stockbridge_jobs`` HQ's requests. In the
till, stockbridge keeps its pull cursors and the versions it last exchanged
(``stockbridge_*`` tables).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, Engine, MetaData, Table
from sqlalchemy.exc import SQLAlchemyError

from stockbridge.errors import StockbridgeError
from stockbridge.integrations.chain.config import Database
from stockbridge.integrations.chain.profile import Entity, Profile
from stockbridge.ledger.database import describe

ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STORE_TYPE = sa.String(63)


_DISPLAY: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
"""What each engine is, for messages: ``HQ database mysql://host:2618/central``."""


class ChainError(StockbridgeError):
    """A till or HQ database could not be reached or refused a write."""


def open_engine(database: Database, what: str, pooled: bool = False) -> Engine:
    """An engine on a till or HQ database. A run's engines are ``pooled``: its dozens of
    steps reuse a few connections (a remote HQ's TCP and TLS handshakes are paid once a
    run, not once a step) until the run disposes of them; others connect per use."""
    url = database.sqlalchemy_url()
    pooling: dict[str, Any] = (
        {"pool_size": 2, "max_overflow": 4} if pooled else {"poolclass": sa.pool.NullPool}
    )
    try:
        engine = sa.create_engine(
            url, connect_args=database.connect_args(), pool_pre_ping=True, **pooling
        )
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise ChainError(f"the {what} {database.display} cannot be opened: {exc}") from None
    if database.backend == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _configure(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={int(database.timeout * 1000)}")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    _DISPLAY[engine] = f"{what} {database.display}"
    return engine


def unreachable(engine: Engine, exc: BaseException) -> ChainError:
    return ChainError(f"cannot reach the {_DISPLAY.get(engine, 'database')}: {describe(exc)}")


def column_type(entity: Entity, column: str) -> sa.types.TypeEngine:
    kind = entity.columns[column]
    if kind == "integer":
        return sa.BigInteger()
    if kind == "decimal":
        return sa.Numeric(18, 3)
    if kind == "timestamp":
        return sa.DateTime()
    if kind == "boolean":
        return sa.Boolean()
    return sa.String(entity.text_length(column))


def is_shared(entity: Entity) -> bool:
    """Rows edited on both sides (customers) are the chain's, not one store's."""
    return entity.direction == "both"


# -- HQ ----------------------------------------------------------------------------------------


def _cached(build):
    """One MetaData per profile object (profiles are lists, so not hashable themselves)."""
    made: dict[int, tuple[Profile, tuple[MetaData, dict[str, Table]]]] = {}

    def cached(profile: Profile) -> tuple[MetaData, dict[str, Table]]:
        if id(profile) not in made:
            made[id(profile)] = (profile, build(profile))
        return made[id(profile)][1]

    return cached


@_cached
def hq_tables(profile: Profile) -> tuple[MetaData, dict[str, Table]]:
    metadata = MetaData()
    tables: dict[str, Table] = {
        "sb_stores": Table(
            "stockbridge_stores",
            metadata,
            Column("store", STORE_TYPE, primary_key=True),
            Column("role", sa.String(8), nullable=False),
            Column("registered_at", sa.DateTime(), nullable=False),
        ),
        "sb_acks": Table(
            "stockbridge_acks",
            metadata,
            Column("store", STORE_TYPE, primary_key=True),
            Column("entity", sa.String(48), primary_key=True),
            Column("high", sa.BigInteger()),
            Column("mark", sa.String(64)),
            Column("gaps", sa.Text(), nullable=False, default="[]"),
            Column("seq", sa.BigInteger(), nullable=False, default=0),
            Column("updated_at", sa.DateTime(), nullable=False),
            # The clocks read at the run that wrote the row (modification-time entities):
            # the till's, HQ's and this host's; see push.py, "a till clock set back".
            Column("till_clock", sa.DateTime()),
            Column("hq_clock", sa.DateTime()),
            Column("host_clock", sa.DateTime()),
        ),
        "sb_jobs": Table(
            "stockbridge_jobs",
            metadata,
            Column("id", ID_TYPE, primary_key=True, autoincrement=True),
            Column("store", STORE_TYPE, nullable=False, index=True),
            Column("what", sa.String(48), nullable=False),
            Column("requested_at", sa.DateTime(), nullable=False),
            Column("requested_by", sa.String(120)),
            Column("state", sa.String(12), nullable=False),
            Column("done_at", sa.DateTime()),
            Column("result", sa.Text()),
        ),
    }
    for entity in profile.entities:
        columns: list[Column] = []
        if not is_shared(entity):
            columns.append(Column("sb_store", STORE_TYPE, primary_key=True))
        for name in entity.columns:
            columns.append(Column(name, column_type(entity, name), primary_key=name in entity.key))
        columns.append(Column("sb_seq", sa.BigInteger(), nullable=False))
        columns.append(Column("sb_received_at", sa.DateTime(), nullable=False))
        if entity.change.by == "capture":  # the till deleted the row: HQ keeps a tombstone
            columns.append(Column("sb_deleted", sa.Boolean(), nullable=False, default=False))
        if is_shared(entity):
            columns += [
                Column("sb_version", sa.BigInteger(), nullable=False),
                Column("sb_origin_store", STORE_TYPE, nullable=False),
                Column("sb_origin_version", sa.BigInteger()),
            ]
        table = Table(f"chain_{entity.name}", metadata, *columns, sqlite_with_rowid=False)
        index_columns = ["sb_seq"] if is_shared(entity) else ["sb_store", "sb_seq"]
        sa.Index(f"ix_chain_{entity.name}_seq", *[table.c[c] for c in index_columns])
        tables[entity.name] = table
    return metadata, tables


ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "sb_acks": ("till_clock", "hq_clock", "host_clock"),
}
"""Columns added to HQ tables after their first release: ``create_all`` makes only missing
tables, so an HQ created by an older stockbridge gets them with ``ALTER TABLE`` (nullable,
so the rows already there stay valid)."""


def ensure_hq_schema(engine: Engine, profile: Profile) -> dict[str, Table]:
    metadata, tables = hq_tables(profile)
    try:
        metadata.create_all(engine, checkfirst=True)
        _add_missing_columns(engine, tables)
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc
    return tables


def _add_missing_columns(engine: Engine, tables: dict[str, Table]) -> None:
    """Bring an HQ made by an older stockbridge up to date (HQ's own user does it on its
    first run; a store's user, which may not ALTER, is then told to run HQ first)."""
    for key, names in ADDED_COLUMNS.items():
        table = tables[key]
        missing = _missing(engine, table, names)
        if not missing:
            continue
        quote = engine.dialect.identifier_preparer.quote
        try:
            with engine.begin() as connection:
                for name in missing:
                    kind = table.c[name].type.compile(dialect=engine.dialect)
                    connection.exec_driver_sql(
                        f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(name)} {kind}"
                    )
        except SQLAlchemyError as exc:
            still = _missing(engine, table, names)  # another run may have added them meanwhile
            if still:
                raise ChainError(
                    f"HQ's table {table.name} lacks the column(s) {', '.join(still)} and they"
                    f" could not be added ({describe(exc)}); run HQ's store file once (its"
                    " user creates and upgrades HQ's tables)"
                ) from exc


def _missing(engine: Engine, table: Table, names: Iterable[str]) -> list[str]:
    present = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
    return [n for n in names if n not in present]


# -- till --------------------------------------------------------------------------------------


@_cached
def till_tables(profile: Profile) -> tuple[MetaData, dict[str, Table]]:
    """The till's tables as the profile declares them, and stockbridge's own two."""
    metadata = MetaData()
    tables: dict[str, Table] = {
        "stockbridge_cursors": Table(
            "stockbridge_cursors",
            metadata,
            Column("entity", sa.String(48), primary_key=True),
            Column("value", sa.BigInteger(), nullable=False),
        ),
        "stockbridge_state": Table(
            "stockbridge_state",
            metadata,
            Column("entity", sa.String(48), primary_key=True),
            Column("key", sa.String(120), primary_key=True),
            Column("local_version", sa.BigInteger(), nullable=False),
            Column("hq_version", sa.BigInteger(), nullable=False),
        ),
    }
    for entity in profile.entities:
        columns = []
        for name in entity.columns:
            key = name in entity.key
            if key and entity.change.by == "id":
                columns.append(Column(name, ID_TYPE, primary_key=True, autoincrement=True))
            else:
                columns.append(Column(name, column_type(entity, name), primary_key=key))
        table = Table(entity.till_table, metadata, *columns)
        if entity.change.by == "modified":
            sa.Index(f"ix_{entity.till_table}_changed", table.c[entity.change_column])
        tables[entity.name] = table
    return metadata, tables


def ensure_till_state(engine: Engine, profile: Profile) -> dict[str, Table]:
    """stockbridge's own tables in the till (its tables must exist already)."""
    metadata, tables = till_tables(profile)
    try:
        metadata.create_all(
            engine,
            tables=[tables["stockbridge_cursors"], tables["stockbridge_state"]],
            checkfirst=True,
        )
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc
    return tables


def create_till_schema(engine: Engine, profile: Profile) -> dict[str, Table]:
    """Every table of the profile in a till database (the demo's, the tests' simulated tills)."""
    metadata, tables = till_tables(profile)
    metadata.create_all(engine, checkfirst=True)
    return tables


# -- writing -----------------------------------------------------------------------------------


def upsert(
    connection: sa.Connection,
    table: Table,
    rows: list[dict[str, Any]],
    key: Iterable[str],
    update: Iterable[str],
) -> None:
    """Insert ``rows``; a row whose key is there already updates ``update`` (or stays)."""
    if not rows:
        return
    key, update = list(key), list(update)
    dialect = connection.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.mysql import insert

        statement = insert(table)
        changes = {c: statement.inserted[c] for c in update} or {key[0]: table.c[key[0]]}
        connection.execute(statement.on_duplicate_key_update(**changes), rows)
        return
    statement = insert(table)
    if update:
        statement = statement.on_conflict_do_update(
            index_elements=key, set_={c: statement.excluded[c] for c in update}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=key)
    connection.execute(statement, rows)


def as_dicts(result: sa.CursorResult) -> list[dict[str, Any]]:
    """A result's rows as plain dicts, the keys looked up once (not once per row)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.tuples()]


def fetch_tuples(connection: sa.Connection, query: sa.Select) -> list[tuple]:
    """The rows of ``query`` as plain tuples, in its column order.

    The driver's cursor is read directly and only the columns whose type needs converting
    (an SQLite timestamp's text, a MySQL boolean's integer) are converted, column by column,
    as SQLAlchemy would have converted them row by row: building a row object per row is
    most of what reading a 100,000-row backlog otherwise costs.
    """
    result = connection.execute(query)
    try:
        rows = list(result.cursor.fetchall())
        described = result.cursor.description
    finally:
        result.close()
    if not rows:
        return rows
    dialect = connection.dialect
    processors = [
        column.type.dialect_impl(dialect).result_processor(dialect, description[1])
        for column, description in zip(query.selected_columns, described, strict=True)
    ]
    if not any(processors):
        return rows
    columns = [
        list(map(convert, values)) if convert else values
        for convert, values in zip(processors, zip(*rows, strict=True), strict=True)
    ]
    return list(zip(*columns, strict=True))


COPY_FROM = 200
"""From this many rows, a PostgreSQL HQ takes a batch through COPY (its documented bulk path)."""


def insert_many(
    connection: sa.Connection,
    table: Table,
    columns: list[str],
    rows: list[tuple],
    key: list[str],
    update: list[str],
) -> None:
    """Bulk upsert through the driver's own bulk path: PostgreSQL's COPY into a temporary
    table, then one INSERT ... SELECT; elsewhere the driver's executemany (PyMySQL rewrites
    it into multi-row INSERTs). The per-row work of SQLAlchemy's compiler, or of one
    statement per row, is what a 100,000-row backlog would otherwise spend its time in."""
    if not rows:
        return
    dialect = connection.dialect.name
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    if dialect in ("mysql", "mariadb"):
        changes = update or key[:1]
        conflict = " ON DUPLICATE KEY UPDATE " + ", ".join(
            f"{quote(c)} = VALUES({quote(c)})" if update else f"{quote(c)} = {quote(c)}"
            for c in changes
        )
    else:
        target = ", ".join(quote(c) for c in key)
        if update:
            sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)
            conflict = f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        else:
            conflict = f" ON CONFLICT ({target}) DO NOTHING"
    if dialect == "postgresql" and len(rows) >= COPY_FROM:
        _copy_then_insert(connection, table, names, rows, conflict)
        return
    if dialect == "sqlite":
        rows = _as_sqlite_stores(connection, table, columns, rows)
    mark = "?" if dialect == "sqlite" else "%s"
    values = ", ".join([mark] * len(columns))
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({values}){conflict}"
    connection.exec_driver_sql(sql, rows)


def _as_sqlite_stores(
    connection: sa.Connection, table: Table, columns: list[str], rows: list[tuple]
) -> list[tuple]:
    """Values as SQLAlchemy stores them in SQLite (a timestamp's text with its microseconds,
    a Decimal as a float), converted column by column; a column holding one value (the
    batch's received time) is converted once."""
    dialect = connection.dialect
    processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    if not any(processors):
        return rows
    converted = []
    for convert, values in zip(processors, zip(*rows, strict=True), strict=True):
        if convert is None:
            converted.append(values)
        elif values.count(values[0]) == len(values):
            converted.append((convert(values[0]),) * len(values))
        elif all(type(v) is float or v is None for v in values):
            converted.append(values)  # an SQLite till's decimals: floats already
        else:
            converted.append(tuple(map(convert, values)))
    return list(zip(*converted, strict=True))


def _copy_then_insert(
    connection: sa.Connection, table: Table, names: str, rows: list[tuple], conflict: str
) -> None:
    """COPY into a temporary table of this transaction, then one upsert from it. The
    temporary table (``ON COMMIT DROP``) needs PostgreSQL's TEMPORARY privilege, which every
    user has unless it was revoked. A value COPY refuses (too long, not a number) raises
    the same SQLAlchemy error an INSERT would, so a poison row is still found row by row."""
    quote = connection.dialect.identifier_preparer.quote
    name, loading = quote(table.name), quote(f"sb_load_{table.name}")
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {loading}"
        f" (LIKE {name} INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    statement = f"COPY {loading} ({names}) FROM STDIN"
    cursor = connection.connection.cursor()
    dbapi = connection.dialect.loaded_dbapi
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error) from exc
    finally:
        cursor.close()
    connection.exec_driver_sql(
        f"INSERT INTO {name} ({names}) SELECT {names} FROM {loading}{conflict}"
    )
    connection.exec_driver_sql(f"TRUNCATE {loading}")


def for_update(query: sa.Select, connection: sa.Connection) -> sa.Select:
    return query if connection.dialect.name == "sqlite" else query.with_for_update()
