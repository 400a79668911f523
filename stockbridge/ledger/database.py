"""Connecting to the ledger database: engine set-up, migrations and the per-store lock.

SQLite is the embedded default; PostgreSQL and MariaDB/MySQL are chosen by URL. Each
dialect gets the settings that make a commit mean "on disk" and a lock mean "nobody else".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from stockbridge.errors import LedgerError, StoreBusyError
from stockbridge.ledger.filelock import FileLock, LockHeld

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = "stockbridge:migrate"
SQLITE_PAGE_SIZE = 16384
"""Bytes per page of a new SQLite ledger. Bulk batches write millions of audit rows in key
order; fewer, larger B-tree pages mean fewer splits and less to checkpoint (measured on 1M
movements: 4 KiB pages 2.1 s, 16 KiB 1.7 s). Existing ledgers keep the size they have."""
READ_ONLY = "stockbridge_read_only"
"""Execution option of connections that only read (SQLite: no write lock taken)."""


def create_ledger_engine(url: str, busy_timeout: float = 60, create: bool = True) -> Engine:
    """An engine for ``url``, with durable SQLite settings; the schema is not touched.

    ``busy_timeout``: seconds a SQLite writer waits for another writer's transaction.
    ``create=False`` (commands that only read): a SQLite file that does not exist is a
    :class:`LedgerError`, and neither it nor its folder is made.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LedgerError(
            f"ledger '{url}' is not a database URL; use sqlite:///path/ledger.db,"
            " postgresql://user@host/db or mysql://user@host/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend in ("mysql", "mariadb") and "+" not in parsed.drivername:
        parsed = parsed.set(drivername=f"{backend}+pymysql")
    try:
        if backend == "sqlite":
            if not create:
                _require_sqlite_file(parsed)
            return _sqlite_engine(parsed, busy_timeout, create)
        return create_engine(parsed, pool_pre_ping=True, pool_size=2, max_overflow=2)
    except (NoSuchModuleError, ImportError) as exc:
        raise LedgerError(f"ledger URL {safe_url(url)}: driver not available ({exc})") from None


def _require_sqlite_file(url) -> None:
    database = url.database
    if not database or database == ":memory:":
        return
    path = Path(database).expanduser().absolute()
    if not path.is_file():
        raise LedgerError(
            f"there is no ledger at {path}: nothing has been recorded there yet (a run of a"
            " store creates it; check --ledger, or the store file's ledger:)"
        )


def _sqlite_engine(url, busy_timeout: float, create: bool = True) -> Engine:
    database = url.database
    if create and database and database != ":memory:":
        Path(database).expanduser().absolute().parent.mkdir(parents=True, exist_ok=True)
    # Bulk writes run on a helper thread (one statement at a time), in-memory databases too.
    connect_args = {"timeout": busy_timeout, "check_same_thread": False}
    engine = create_engine(url, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if create:  # both write to the file; a ledger made by a run is WAL already
            # Only a new, empty database takes it (before WAL mode fixes the page size).
            cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        # A large page cache: inserting a million audit rows updates a random-order index,
        # which thrashes SQLite's default 2 MB cache (measured: twice as slow).
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        # Take the write lock up front: two writers then queue instead of failing midway.
        # Readers do not take it: in WAL mode they read beside a writer without waiting.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (no-op when it already is)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        with engine.connect() as connection:
            # Read only: on SQLite, a run that is about to be skipped must not queue for the
            # write lock of the run holding the store (up to the busy timeout, then fail).
            connection.execution_options(**{READ_ONLY: True})
            if MigrationContext.configure(connection).get_current_revision() == head:
                return
        with engine.begin() as connection, _migration_lock(connection):
            config.attributes["connection"] = connection
            command.upgrade(config, "head")  # re-reads the revision: a no-op if just done
    except SQLAlchemyError as exc:
        raise LedgerError(
            f"cannot reach the ledger at {safe_url(engine.url)}: {describe(exc)}"
        ) from exc


def require_current_schema(engine: Engine) -> None:
    """For commands that only read: the schema must be this version's, and nothing is
    migrated or created. An older ledger is brought up to date by the next run (which
    migrates); reading it before that could show columns that are not there yet."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    head = scripts.get_current_head()
    try:
        with engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise LedgerError(
            f"cannot reach the ledger at {safe_url(engine.url)}: {describe(exc)}"
        ) from exc
    if current == head:
        return
    where = safe_url(engine.url)
    if current is None:
        raise LedgerError(
            f"the ledger at {where} has no stockbridge tables yet: nothing has run with it"
            " (run a sync of a store first: stockbridge run STORE.yaml)"
        )
    known = {script.revision for script in scripts.walk_revisions()}
    if current in known:
        raise LedgerError(
            f"the ledger at {where} was written by an older stockbridge (schema {current},"
            f" this one reads {head}); the next run of a store brings it up to date"
            " (stockbridge run STORE.yaml), then ask again"
        )
    raise LedgerError(
        f"the ledger at {where} was written by a newer stockbridge (schema {current});"
        " upgrade stockbridge to read it"
    )


@contextmanager
def _migration_lock(connection: Connection) -> Iterator[None]:
    """Runs that start together on a new database must not all create the tables: the
    first migrates, the others wait for it and then find the schema current. SQLite needs
    nothing: the upgrade's ``BEGIN IMMEDIATE`` already queues them."""
    backend = connection.dialect.name
    if backend == "postgresql":
        key = int.from_bytes(
            hashlib.sha256(MIGRATION_LOCK.encode()).digest()[:8], "big", signed=True
        )
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})  # until commit
        yield
    elif backend in ("mysql", "mariadb"):
        connection.execute(text("SELECT GET_LOCK(:n, 300)"), {"n": MIGRATION_LOCK})
        try:
            yield
        finally:
            connection.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": MIGRATION_LOCK})
    else:
        yield


@contextmanager
def store_lock(engine: Engine, store: str) -> Iterator[None]:
    """Hold the store's lock for the whole run; raise :class:`StoreBusyError` if taken.

    The lock lives in the ledger's own world (an advisory lock on PostgreSQL and MariaDB, a
    file lock beside the SQLite file), so runs started by the CLI, a deployment or another
    machine all exclude each other, and a killed process releases it.
    """
    backend = engine.url.get_backend_name()
    name = f"stockbridge:{store}"
    if len(name) > 64:  # MySQL's limit for lock names
        name = f"stockbridge:{hashlib.sha256(store.encode()).hexdigest()[:40]}"
    busy = StoreBusyError(f"another run for store '{store}' is in progress; this one is skipped")
    if backend == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        lock_path = Path(f"{Path(database).expanduser().absolute()}.{store}.lock")
        lock = FileLock(lock_path)
        try:
            lock.acquire()
        except LockHeld:
            raise busy from None
        try:
            yield
        finally:
            lock.release()
        return

    try:
        connection = engine.connect()
    except SQLAlchemyError as exc:
        raise LedgerError(
            f"cannot reach the ledger at {safe_url(engine.url)}: {describe(exc)}"
        ) from exc
    try:
        if backend == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            acquired = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
            release = (text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        else:
            acquired = connection.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": name})
            release = (text("SELECT RELEASE_LOCK(:n)"), {"n": name})
        got = bool(acquired.scalar())
        connection.commit()
        if not got:
            raise busy
        try:
            yield
        finally:
            try:
                connection.execute(*release)
                connection.commit()
            except SQLAlchemyError:
                connection.invalidate()
    finally:
        connection.close()


def safe_url(url) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(str(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def describe(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0][:300]
