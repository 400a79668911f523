"""Trigger-based change capture: for till tables with no usable change column.

Some till tables have neither an increasing id nor a modification time (settings, shelf
labels, a vendor's table rewritten in place). For an entity declared ``change: {by:
capture}``, ``stockbridge chain capture install`` puts AFTER INSERT, UPDATE and DELETE
triggers on its till table (SQLite, MariaDB; PostgreSQL: one plpgsql function per entity),
each writing one row into the till's ``stockbridge_changes``: an auto-increment change id,
the entity, the row's key as a JSON array, the operation (I, U, D; an update that changes
the key also records a D for the old key) and the time. The first install (or the first
after ``remove``) also records an I for every row already there, so HQ gets the table whole,
and, having read HQ, a D for every key HQ holds that the till no longer has.

The change table says only *which* keys changed, never their values: the push collapses a
batch of change rows to the keys they name, reads each key's **current** row from the till
table, and upserts it at HQ under ``(sb_store, key)``; a key whose row is gone (whatever the
operation said) becomes a tombstone at HQ (``sb_deleted`` true, and the profile's deleted
flag when it has one, so stores pulling a down entity delete it). Sending current values makes
the order of changes to one key irrelevant: whatever is sent is the newest state, and any
later change records a later change id that sends the key again. HQ compares each row with
what it holds, so a resend is not counted and does not renumber the row.

Exactly once: the acknowledged change id is the entity's ``stockbridge_acks`` row at HQ,
written in the same HQ transaction as the rows (push.py's rule).

Late commits: a change id is taken when the trigger fires and becomes visible when the till
transaction commits, so a change id below one already acknowledged can commit later (a
MariaDB or PostgreSQL till transaction left open). The gap list of push_by_id closes that
window here too: every id in ``(old high, new high]`` that was not seen stays in the ack
row's gaps and is read again by every run, never expired by time; only an id more than
``gap_window`` below the high point is given up, and the run names it. The change ids are
one sequence for every captured entity, so an id seen belonging to another entity is
passed, not a gap. A key whose parent is not at HQ yet keeps its change id in the gaps.

A gap that will never commit (its transaction rolled back, or an id MariaDB skipped: its
INSERT ... SELECT, as the install's, skips ids) would
otherwise wait until ``gap_window``. It is passed once the till proves it: the ack row's
``mark`` holds the till's clock at the read that last found gaps, and a later run that finds
a gap still missing while every transaction open in the till database began after that
mark passes it (an id below a visible one was taken before that read, so its transaction
began before it and is over). The proof needs to see every transaction (PostgreSQL:
superuser or ``pg_read_all_stats``, no prepared transaction; MariaDB: the ``PROCESS``
privilege for ``information_schema.INNODB_TRX``); without it gaps wait as for ``by: id``.
It assumes one server hands out the ids in order (a sequence of CACHE 1, as made; not
several Galera writers).

Pruning: after HQ's commit, change rows at or below ``min(high - 1, lowest gap - 1)`` over
every captured entity this store pushes are deleted from the till. Safe because HQ has
committed the ack past them, no entity will read them again, and the highest acknowledged
change row stays, so the till's auto-increment cannot restart below HQ's point unseen: a
change table whose highest id is below HQ's acknowledged one (dropped, or restored from an
old backup) stops the entity with one sentence instead of silently sending nothing, and
``capture install`` then moves the ids above HQ's point and records every row again. Rows
are deleted by exact id: an InnoDB range delete would wait on an open till transaction's
uncommitted change row just past the range (and its gap lock would hold the till's writes).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, Engine, MetaData, Table
from sqlalchemy.exc import SQLAlchemyError

from stockbridge.doctor import Check
from stockbridge.integrations.chain.config import ChainConfig
from stockbridge.integrations.chain.database import (
    ID_TYPE,
    ChainError,
    as_dicts,
    ensure_hq_schema,
    insert_many,
    open_engine,
    unreachable,
)
from stockbridge.integrations.chain.profile import Entity, Profile
from stockbridge.integrations.chain.push import (
    IN_CHUNK,
    Ack,
    Refused,
    lock_unchanged_ack,
    parents_at_hq,
    read_ack,
    skipped_keys,
    write_ack,
)
from stockbridge.integrations.chain.session import (
    Chain,
    EntityReport,
    Poison,
    key_text,
    plain,
    utc_now,
)
from stockbridge.ledger.database import describe

log = logging.getLogger(__name__)
CHANGES = "stockbridge_changes"
PRUNE_ROWS = 50_000
"""Change rows pruned per run at most (a backlog's are pruned over the next runs)."""
_metadata = MetaData()
changes = Table(
    CHANGES,
    _metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("entity", sa.String(48), nullable=False),
    Column("row_key", sa.String(500), nullable=False),
    Column("op", sa.String(1), nullable=False),
    Column("changed_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
    sqlite_autoincrement=True,  # SQLite would otherwise reuse the ids of pruned rows
)
"""The till's change table: which key of which entity changed, in change-id order."""

Key = tuple[Any, ...]
Quote = Callable[[str], str]
"""The dialect's identifier quoting (``identifier_preparer.quote``)."""


def captured(config: ChainConfig, profile: Profile) -> list[Entity]:
    """The ``by: capture`` entities this till pushes (a store: up; HQ: every entity)."""
    pushed = [e for e in profile.entities if config.role == "hq" or e.direction in ("up", "both")]
    return [e for e in pushed if e.change.by == "capture"]


# -- the triggers ------------------------------------------------------------------------------


def _name(entity: Entity) -> str:
    return f"sb_capture_{entity.name}"


def _expected(dialect: str, entity: Entity) -> set[str]:
    """Trigger names an installed entity has: PostgreSQL fires one for all three events."""
    if dialect == "postgresql":
        return {_name(entity)}
    return {f"{_name(entity)}_{suffix}" for suffix in ("ins", "upd", "del")}


def _key_json(dialect: str, entity: Entity, quote: Quote, prefix: str) -> str:
    """The SQL building the key's JSON array from ``NEW.``/``OLD.`` (or the table's) columns."""
    values = ", ".join(f"{prefix}{quote(k)}" for k in entity.key)
    if dialect == "postgresql":
        return f"jsonb_build_array({values})::text"
    if dialect == "sqlite":
        return f"json_array({values})"
    return f"JSON_ARRAY({values})"


def _trigger_ddl(dialect: str, entity: Entity, quote: Quote) -> list[str]:
    table = quote(entity.till_table)
    name = _name(entity)
    insert = f"INSERT INTO {CHANGES} (entity, row_key, op, changed_at)"

    def record(prefix: str, op: str) -> str:
        key = _key_json(dialect, entity, quote, prefix)
        return f"{insert} VALUES ('{entity.name}', {key}, '{op}', CURRENT_TIMESTAMP);"

    def alone(prefix: str, op: str) -> str:  # a one-statement body: no ';' (MariaDB)
        return record(prefix, op).rstrip(";")

    if dialect == "postgresql":
        old = ", ".join(f"OLD.{quote(k)}" for k in entity.key)
        new = ", ".join(f"NEW.{quote(k)}" for k in entity.key)
        return [
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $sb$\n"
            "BEGIN\n"
            f"  IF TG_OP = 'DELETE' THEN {record('OLD.', 'D')}\n"
            "  ELSIF TG_OP = 'UPDATE' THEN\n"
            f"    IF ROW({old}) IS DISTINCT FROM ROW({new}) THEN {record('OLD.', 'D')} END IF;\n"
            f"    {record('NEW.', 'U')}\n"
            f"  ELSE {record('NEW.', 'I')}\n"
            "  END IF;\n"
            "  RETURN NULL;\n"
            "END $sb$",
            f"DROP TRIGGER IF EXISTS {name} ON {table}",
            f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {name}()",
        ]
    if dialect == "sqlite":
        same = " AND ".join(f"OLD.{quote(k)} IS NEW.{quote(k)}" for k in entity.key)
        old_key = _key_json(dialect, entity, quote, "OLD.")
        return [
            f"DROP TRIGGER IF EXISTS {name}_ins",
            f"CREATE TRIGGER {name}_ins AFTER INSERT ON {table} BEGIN {record('NEW.', 'I')} END",
            f"DROP TRIGGER IF EXISTS {name}_upd",
            f"CREATE TRIGGER {name}_upd AFTER UPDATE ON {table} BEGIN"
            f" {insert} SELECT '{entity.name}', {old_key}, 'D', CURRENT_TIMESTAMP"
            f" WHERE NOT ({same}); {record('NEW.', 'U')} END",
            f"DROP TRIGGER IF EXISTS {name}_del",
            f"CREATE TRIGGER {name}_del AFTER DELETE ON {table} BEGIN {record('OLD.', 'D')} END",
        ]
    same = " AND ".join(f"OLD.{quote(k)} <=> NEW.{quote(k)}" for k in entity.key)
    return [
        f"CREATE OR REPLACE TRIGGER {name}_ins AFTER INSERT ON {table} FOR EACH ROW"
        f" {alone('NEW.', 'I')}",
        f"CREATE OR REPLACE TRIGGER {name}_upd AFTER UPDATE ON {table} FOR EACH ROW BEGIN"
        f" IF NOT ({same}) THEN {record('OLD.', 'D')} END IF; {record('NEW.', 'U')} END",
        f"CREATE OR REPLACE TRIGGER {name}_del AFTER DELETE ON {table} FOR EACH ROW"
        f" {alone('OLD.', 'D')}",
    ]


def _remove_ddl(dialect: str, entity: Entity, quote: Quote) -> list[str]:
    name = _name(entity)
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {name} ON {quote(entity.till_table)}",
            f"DROP FUNCTION IF EXISTS {name}()",
        ]
    return [f"DROP TRIGGER IF EXISTS {trigger}" for trigger in sorted(_expected(dialect, entity))]


def installed_triggers(connection: sa.Connection, entity: Entity) -> set[str]:
    """The stockbridge capture triggers present on ``entity``'s till table."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"
    elif dialect == "postgresql":
        query = (
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
            " AND tgrelid = to_regclass(quote_ident(:t))"
        )
    else:
        query = (
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
            " WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = :t"
        )
    found = connection.execute(sa.text(query), {"t": entity.till_table}).scalars()
    return set(found) & _expected(dialect, entity)


@dataclass
class AtHQ:
    """What HQ holds of this store's captured entities, for an install to reconcile with."""

    acknowledged: int = 0
    """The highest change id HQ acknowledged for any of them: new ids must start above."""
    keys: dict[str, set[Key]] = field(default_factory=dict)
    """Per entity, the keys HQ holds as live rows of this store."""


def read_at_hq(config: ChainConfig, entities: list[Entity]) -> AtHQ:
    """HQ's acknowledged change id and live keys of this store (the install's other half)."""
    if config.hq is None:
        raise ChainError("the store file has no hq:")
    engine = open_engine(config.hq, "HQ database")
    try:
        tables = ensure_hq_schema(engine, config.load_profile())
        acks = tables["sb_acks"]
        found = AtHQ()
        with engine.connect() as connection:
            highs = connection.execute(
                sa.select(acks.c.high).where(
                    acks.c.store == config.store, acks.c.entity.in_([e.name for e in entities])
                )
            ).scalars()
            found.acknowledged = max([int(h or 0) for h in highs], default=0)
            for entity in entities:
                table = tables[entity.name]
                query = sa.select(*[table.c[k] for k in entity.key]).where(
                    table.c.sb_store == config.store, table.c.sb_deleted == sa.false()
                )
                found.keys[entity.name] = {tuple(r) for r in connection.execute(query)}
        return found
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc
    finally:
        engine.dispose()


@dataclass
class Installed:
    entity: str
    table: str
    replaced: bool
    seeded: int = 0
    gone: int = 0
    restarted: int = 0

    def line(self) -> str:
        if self.replaced:
            return f"{self.entity}: triggers on {self.table} replaced (they were there)"
        text = (
            f"{self.entity}: triggers on {self.table} installed, its {self.seeded} row(s)"
            " recorded as changes so HQ gets them all"
        )
        if self.gone:
            text += f", {self.gone} row(s) HQ holds but the till no longer has as deletions"
        if self.restarted:
            text += f" (change ids now start above HQ's acknowledged {self.restarted})"
        return text


def install(engine: Engine, entities: list[Entity], hq: AtHQ | None = None) -> list[Installed]:
    """The change table and each entity's triggers, replaced if there (idempotent).

    An entity without triggers before (a first install, or after ``remove``) gets an I
    change for each of its rows, recorded after its triggers exist (a row written in between
    is recorded twice, which only resends it), and, given what HQ holds, a D change for each
    key HQ holds that the till no longer has (deleted while nothing recorded it). A change
    table whose ids end below HQ's acknowledged point (dropped, restored) restarts above it,
    and every entity is recorded again so.
    """
    hq = hq or AtHQ()
    done: list[Installed] = []
    try:
        _metadata.create_all(engine, checkfirst=True)
        with engine.begin() as connection:
            top = connection.execute(sa.select(sa.func.max(changes.c.id))).scalar() or 0
            restarted = hq.acknowledged if top < hq.acknowledged else 0
            if restarted:
                _restart_ids(connection, restarted)
        for entity in entities:
            with engine.begin() as connection:
                dialect = connection.dialect.name
                quote = connection.dialect.identifier_preparer.quote
                if not sa.inspect(connection).has_table(entity.till_table):
                    raise ChainError(
                        f"entity {entity.name}: the till has no table {entity.till_table};"
                        " fix table: in the profile"
                    )
                there = installed_triggers(connection, entity) == _expected(dialect, entity)
                for statement in _trigger_ddl(dialect, entity, quote):
                    connection.exec_driver_sql(statement)
                if there and not restarted:
                    done.append(Installed(entity.name, entity.till_table, True))
                    continue
                done.append(_seed(connection, entity, hq, restarted))
    except SQLAlchemyError as exc:
        raise ChainError(
            f"cannot install the capture triggers in the till database: {describe(exc)};"
            " the till user needs the right to create tables and triggers (MariaDB with"
            " binary logging: log_bin_trust_function_creators or SUPER)"
        ) from None
    return done


def _seed(connection: sa.Connection, entity: Entity, hq: AtHQ, restarted: int) -> Installed:
    dialect = connection.dialect.name
    quote = connection.dialect.identifier_preparer.quote
    table = quote(entity.till_table)
    key = _key_json(dialect, entity, quote, "")
    seeded = connection.exec_driver_sql(
        f"INSERT INTO {CHANGES} (entity, row_key, op, changed_at)"
        f" SELECT '{entity.name}', {key}, 'I', CURRENT_TIMESTAMP FROM {table}"
    ).rowcount
    held = hq.keys.get(entity.name, set())
    gone: list[Key] = []
    if held:
        columns = ", ".join(quote(k) for k in entity.key)
        present = {tuple(r) for r in connection.exec_driver_sql(f"SELECT {columns} FROM {table}")}
        gone = sorted(held - present)
    for chunk in _chunks(gone):
        connection.execute(
            changes.insert(),
            [{"entity": entity.name, "row_key": json.dumps(list(k)), "op": "D"} for k in chunk],
        )
    return Installed(entity.name, entity.till_table, False, max(seeded, 0), len(gone), restarted)


def _restart_ids(connection: sa.Connection, above: int) -> None:
    """The next change id will be ``above + 1``."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        updated = connection.exec_driver_sql(
            "UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (above, CHANGES)
        ).rowcount
        if not updated:
            connection.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (CHANGES, above)
            )
    elif dialect == "postgresql":
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{CHANGES}', 'id'), {int(above)})"
        )
    else:
        connection.exec_driver_sql(f"ALTER TABLE {CHANGES} AUTO_INCREMENT = {int(above) + 1}")


def remove(engine: Engine, entities: list[Entity]) -> list[str]:
    """Drop the triggers (and PostgreSQL functions). The change table stays: its ids must
    never restart below HQ's acknowledged point, and rows not yet pushed are still sent."""
    removed = []
    try:
        with engine.begin() as connection:
            dialect = connection.dialect.name
            quote = connection.dialect.identifier_preparer.quote
            for entity in entities:
                had = installed_triggers(connection, entity)
                for statement in _remove_ddl(dialect, entity, quote):
                    connection.exec_driver_sql(statement)
                removed.append(
                    f"{entity.name}: triggers on {entity.till_table} removed"
                    if had
                    else f"{entity.name}: no triggers were installed"
                )
    except SQLAlchemyError as exc:
        raise ChainError(f"cannot remove the capture triggers: {describe(exc)}") from None
    return removed


def capture_checks(config: ChainConfig, path: str, till: Engine) -> Iterator[Check]:
    """One check per store with capture entities: their triggers are in the till."""
    entities = captured(config, config.load_profile())
    if not entities:
        return
    command = f"stockbridge chain capture install --config {path}"
    try:
        with till.connect() as connection:
            has_changes = sa.inspect(connection).has_table(CHANGES)
            dialect = connection.dialect.name
            missing = [
                e for e in entities if installed_triggers(connection, e) != _expected(dialect, e)
            ]
    except SQLAlchemyError as exc:
        yield Check("capture triggers", False, f"cannot read the till's triggers: {describe(exc)}")
        return
    if missing:
        names = ", ".join(f"{e.name} (table {e.till_table})" for e in missing)
        yield Check(
            "capture triggers",
            False,
            f"entities found by capture have no triggers in the till: {names}; their changes"
            f" are not recorded until you run `{command}`",
        )
        return
    if not has_changes:
        yield Check(
            "capture triggers",
            False,
            f"the till has no {CHANGES} table (its triggers then fail every write); run"
            f" `{command}`",
        )
        return
    shown = ", ".join(e.name for e in entities)
    yield Check("capture triggers", True, f"installed for {shown}")


# -- the push ------------------------------------------------------------------------------------


def _parse_key(entity: Entity, text: str) -> Key:
    values = json.loads(text)
    return tuple(
        int(v) if entity.columns[k] == "integer" else str(v)
        for k, v in zip(entity.key, values, strict=True)
    )


def _row_key(entity: Entity, row: dict[str, Any]) -> Key:
    return tuple(row[k] for k in entity.key)


def _where_keys(table: Table, entity: Entity, keys: list[Key]) -> sa.ColumnElement[bool]:
    if len(entity.key) == 1:
        return table.c[entity.key[0]].in_([k[0] for k in keys])
    return sa.tuple_(*[table.c[k] for k in entity.key]).in_(keys)


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


@dataclass
class _Batch:
    """One batch of change rows read from the till, and the current rows of their keys."""

    seen: set[int]
    """Every change id read (any entity's)."""
    ids: dict[Key, list[int]]
    """This entity's change ids by key."""
    last: dict[Key, int]
    """Each key's latest change id: the order the keys go to HQ in."""
    rows: dict[Key, dict[str, Any]]
    """The till's current row of each key still there."""
    covered: int
    rechecked: bool
    """The gaps were read again (the first batch of a run)."""
    known: bool
    """The till let us see every transaction open at the read."""
    oldest: float | None
    """When the oldest of them began (till clock, epoch seconds); None: none open."""
    read_at: float
    """The till's clock just after the read."""

    @property
    def empty(self) -> bool:
        return not self.seen


def push_captured(
    chain: Chain, entity: Entity, refused: Refused, skips: dict[str, set[str]]
) -> None:
    """Send the keys the till's triggers recorded, batch after batch, then prune."""
    first = True
    while True:
        try:
            with chain.hq.connect() as connection:
                ack = read_ack(connection, chain, chain.store, entity.name, lock=False)
        except SQLAlchemyError as exc:
            raise unreachable(chain.hq, exc) from exc
        batch, full = _read(chain, entity, ack.high, sorted(ack.gaps) if first else [])
        settled = _settled(ack, batch)
        if batch.empty and not settled:
            chain.report(entity.name).waiting = len(ack.gaps)
            break
        _send(chain, entity, ack, batch, settled, refused, skips)
        first = False
        if not full:
            break
    prune(chain)


def _read(chain: Chain, entity: Entity, high: int, gaps: list[int]) -> tuple[_Batch, bool]:
    """The next change rows above ``high`` (and those now filling ``gaps``), every
    entity's, and the current till rows of this entity's keys; first of all, the till's
    open transactions (see :func:`_settled`)."""
    limit = chain.config.batch_rows
    till_table = chain.till_tables[entity.name]
    ids: dict[Key, list[int]] = {}
    rows: dict[Key, dict[str, Any]] = {}
    try:
        with chain.till.connect() as till:
            known, oldest = _open_transactions(till)
            wanted = sa.select(changes.c.id, changes.c.entity, changes.c.row_key)
            new = as_dicts(
                till.execute(wanted.where(changes.c.id > high).order_by(changes.c.id).limit(limit))
            )
            again = []
            for chunk in _chunks(gaps):
                again += as_dicts(till.execute(wanted.where(changes.c.id.in_(chunk))))
            if not new and not again and high:
                _check_not_restarted(chain, till, entity, high)
            for change in sorted(again + new, key=lambda c: c["id"]):
                if change["entity"] == entity.name:
                    key = _parse_key(entity, change["row_key"])
                    ids.setdefault(key, []).append(change["id"])
            for chunk in _chunks(list(ids)):
                for row in as_dicts(
                    till.execute(
                        sa.select(till_table).where(_where_keys(till_table, entity, chunk))
                    )
                ):
                    rows[_row_key(entity, row)] = row
            read_at = _till_clock(till)
    except SQLAlchemyError as exc:
        raise unreachable(chain.till, exc) from exc
    seen = {c["id"] for c in again + new}
    covered = max([high] + [c["id"] for c in new])
    last = {key: max(found) for key, found in ids.items()}
    batch = _Batch(seen, ids, last, rows, covered, bool(gaps), known, oldest, read_at)
    return batch, len(new) == limit


def _open_transactions(till: sa.Connection) -> tuple[bool, float | None]:
    """Whether every transaction open in the till database can be seen, and when the
    oldest began (epoch seconds, the till's clock; None when none is open)."""
    dialect = till.dialect.name
    if dialect == "sqlite":
        return True, None  # this read holds BEGIN IMMEDIATE: no write transaction is open
    if dialect == "postgresql":
        sees_all = till.exec_driver_sql(
            "SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')"
            " FROM pg_roles WHERE rolname = current_user"
        ).scalar()
        prepared = till.exec_driver_sql(
            "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"
        ).scalar()
        if not sees_all or prepared:
            return False, None
        oldest = till.exec_driver_sql(
            "SELECT extract(epoch FROM min(xact_start)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).scalar()
        return True, None if oldest is None else float(oldest)
    try:
        oldest = till.exec_driver_sql(
            "SELECT UNIX_TIMESTAMP(MIN(trx_started)) FROM information_schema.INNODB_TRX"
            " WHERE trx_mysql_thread_id <> CONNECTION_ID()"
        ).scalar()
    except sa.exc.DBAPIError:  # no PROCESS privilege: gaps wait as for `by: id`
        return False, None
    return True, None if oldest is None else float(oldest)


def _till_clock(till: sa.Connection) -> float:
    dialect = till.dialect.name
    if dialect == "postgresql":
        return float(till.exec_driver_sql("SELECT extract(epoch FROM clock_timestamp())").scalar())
    if dialect == "sqlite":
        return time.time()  # never compared: SQLite has no open writer at a read
    return float(till.exec_driver_sql("SELECT UNIX_TIMESTAMP(NOW(6))").scalar())


def _settled(ack: Ack, batch: _Batch) -> set[int]:
    """Gap ids that can never commit any more: still absent now, and every transaction
    open in the till began after the read that last found gaps (``ack.mark``, the till's
    clock). A change id below a visible one was taken before that read, so a transaction
    holding it began before; none is left, so the id was rolled back or skipped (MariaDB's
    INSERT ... SELECT skips ids). Proven by the till's own
    transactions, never assumed from time passing."""
    if not (batch.rechecked and batch.known and ack.gaps and ack.mark):
        return set()
    try:
        mark = float(ack.mark)
    except ValueError:
        return set()
    if batch.oldest is not None and batch.oldest <= mark:
        return set()
    return ack.gaps - batch.seen


def _check_not_restarted(chain: Chain, till: sa.Connection, entity: Entity, high: int) -> None:
    """Pruning keeps the highest acknowledged change row, so a table whose ids end below
    HQ's point was dropped or restored: say so instead of waiting for ids that never come."""
    top = till.execute(sa.select(sa.func.max(changes.c.id))).scalar()
    if top is None or top < high:
        raise ChainError(
            f"store {chain.store}: the till's {CHANGES} ends at change id {top or 0} but HQ"
            f" has {entity.name} acknowledged up to {high}: the table was dropped or restored"
            f" and new changes would be taken for old ones; see 'Change capture' in"
            " docs/chain.md"
        )


def _send(
    chain: Chain,
    entity: Entity,
    ack: Ack,
    batch: _Batch,
    settled: set[int],
    refused: Refused,
    skips: dict[str, set[str]],
) -> None:
    """One HQ transaction: the current rows, the tombstones and the new ack point (the
    gaps left, and the till time of this read while there are any)."""
    report = chain.report(entity.name)
    order = sorted(batch.last, key=batch.last.__getitem__)
    present = [batch.rows[k] for k in order if k in batch.rows]
    gone = [k for k in order if k not in batch.rows]
    present = _screen(chain, entity, present, refused, skips, report)
    try:
        with chain.hq.begin() as connection:
            locked = lock_unchanged_ack(connection, chain, entity, ack)
            ready, waiting = _with_parents(connection, chain, entity, present)
            held = _held(connection, chain, entity, [_row_key(entity, r) for r in ready] + gone)
            columns = list(entity.columns)
            upserts = [
                r
                for r in ready
                if held.get(_row_key(entity, r)) != (False, tuple(plain(r[c]) for c in columns))
            ]
            tombstones = [k for k in gone if k in held and not held[k][0]]
            _write(connection, chain, entity, locked, upserts, tombstones)
            waited = {i for r in waiting for i in batch.ids[_row_key(entity, r)]}
            gaps = (ack.gaps | set(range(ack.high + 1, batch.covered + 1))) - (batch.seen - waited)
            gaps -= settled
            floor = batch.covered - chain.config.gap_window
            given_up = sorted(g for g in gaps if g <= floor)
            locked.high, locked.gaps = batch.covered, gaps - set(given_up)
            locked.mark = repr(batch.read_at) if locked.gaps else None
            write_ack(connection, chain, chain.store, entity.name, locked)
    except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
        raise _poison(chain, entity, present, describe(exc)) from exc
    except SQLAlchemyError as exc:
        raise unreachable(chain.hq, exc) from exc
    report.sent += len(upserts) + len(tombstones)
    report.unchanged += len(ready) - len(upserts) + len(gone) - len(tombstones)
    report.waiting = len(locked.gaps)
    report.given_up += given_up
    if settled:
        log.info(
            "%s: change id(s) %s never committed (rolled back or skipped)",
            entity.name,
            sorted(settled)[:10],
        )


def _screen(
    chain: Chain,
    entity: Entity,
    rows: list[dict[str, Any]],
    refused: Refused,
    skips: dict[str, set[str]],
    report: EntityReport,
) -> list[dict[str, Any]]:
    """Rows claiming another store are refused (recorded), rows skipped by hand pass."""
    column = chain.profile.store_column
    mine = chain.config.till_store_id
    skipped = skipped_keys(skips, entity)
    claims = bool(column and column in entity.columns)
    sendable, refusals = [], []
    for row in rows:
        claim = row.get(column) if claims else None
        if claim is not None and str(claim) != mine:
            refusals.append((row, f"the row claims store '{claim}', this till is store '{mine}'"))
        elif key_text(entity, row) in skipped:
            report.skipped += 1
        else:
            sendable.append(row)
    if refusals:
        refused(entity, refusals)
        report.refused += len(refusals)
    return sendable


def _with_parents(
    connection: sa.Connection, chain: Chain, entity: Entity, rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A line whose ticket is not at HQ yet waits instead of arriving alone."""
    if entity.parent is None or not rows:
        return rows, []
    column = entity.parent.column
    present = parents_at_hq(connection, chain, entity, {r[column] for r in rows})
    return [r for r in rows if r[column] in present], [r for r in rows if r[column] not in present]


def _held(
    connection: sa.Connection, chain: Chain, entity: Entity, keys: list[Key]
) -> dict[Key, tuple[bool, tuple]]:
    """What HQ holds for these keys: tombstoned or not, and the values as compared."""
    table = chain.hq_tables[entity.name]
    columns = list(entity.columns)
    held: dict[Key, tuple[bool, tuple]] = {}
    for chunk in _chunks(keys):
        query = sa.select(table.c.sb_deleted, *[table.c[c] for c in columns]).where(
            table.c.sb_store == chain.store, _where_keys(table, entity, chunk)
        )
        for found in as_dicts(connection.execute(query)):
            values = tuple(plain(found[c]) for c in columns)
            held[_row_key(entity, found)] = (bool(found["sb_deleted"]), values)
    return held


def _write(
    connection: sa.Connection,
    chain: Chain,
    entity: Entity,
    ack: Ack,
    upserts: list[dict[str, Any]],
    tombstones: list[Key],
) -> None:
    """Upsert the rows, then tombstone the keys the till no longer has, each with the next
    ``sb_seq`` (pulls and readers by sequence see every change)."""
    now = utc_now()
    columns = list(entity.columns)
    table = chain.hq_tables[entity.name]
    if upserts:
        first = ack.seq + 1
        ack.seq += len(upserts)
        insert_many(
            connection,
            table,
            [*columns, "sb_store", "sb_seq", "sb_received_at", "sb_deleted"],
            [
                (*[row[c] for c in columns], chain.store, seq, now, False)
                for seq, row in enumerate(upserts, start=first)
            ],
            ["sb_store", *entity.key],
            [
                *[c for c in columns if c not in entity.key],
                "sb_seq",
                "sb_received_at",
                "sb_deleted",
            ],
        )
    if tombstones:
        values: dict[str, Any] = {
            "sb_deleted": True,
            "sb_seq": sa.bindparam("b_seq"),
            "sb_received_at": now,
        }
        if entity.deleted is not None:
            values[entity.deleted.flag] = True
        statement = (
            table.update()
            .where(
                table.c.sb_store == chain.store,
                *[table.c[k] == sa.bindparam(f"b_{k}") for k in entity.key],
            )
            .values(**values)
        )
        first = ack.seq + 1
        ack.seq += len(tombstones)
        connection.execute(
            statement,
            [
                {"b_seq": seq, **{f"b_{k}": v for k, v in zip(entity.key, key, strict=True)}}
                for seq, key in enumerate(tombstones, start=first)
            ],
        )


def _poison(chain: Chain, entity: Entity, rows: list[dict[str, Any]], why: str) -> ChainError:
    """HQ refused the batch: find the row (one savepoint each, all rolled back) and stop
    the entity naming it; nothing of the batch is committed, the next run starts again."""
    bad, reason = (rows[0] if rows else None), why
    table = chain.hq_tables[entity.name]
    columns = list(entity.columns)
    try:
        with chain.hq.connect() as connection, connection.begin() as transaction:
            for row in rows:
                try:
                    with connection.begin_nested():
                        insert_many(
                            connection,
                            table,
                            [*columns, "sb_store", "sb_seq", "sb_received_at", "sb_deleted"],
                            [(*[row[c] for c in columns], chain.store, 0, utc_now(), False)],
                            ["sb_store", *entity.key],
                            [c for c in columns if c not in entity.key],
                        )
                except (sa.exc.DBAPIError, sa.exc.StatementError) as exc:
                    bad, reason = row, describe(exc)
                    break
            transaction.rollback()
    except SQLAlchemyError as exc:
        raise unreachable(chain.hq, exc) from exc
    if bad is None:
        return ChainError(f"store {chain.store}: HQ refused the {entity.name} tombstones: {why}")
    poison = Poison(
        chain.config_path,
        chain.store,
        entity.name,
        key_text(entity, bad),
        {c: bad[c] for c in entity.columns},
        reason,
    )
    chain.report(entity.name).stopped = str(poison)
    return poison


def prune(chain: Chain) -> None:
    """Delete the change rows every captured entity has acknowledged at HQ (module
    docstring: up to the lowest ``min(high - 1, lowest gap - 1)``)."""
    entities = [e.name for e in captured(chain.config, chain.profile)]
    if not entities:
        return
    acks = chain.hq_tables["sb_acks"]
    try:
        with chain.hq.connect() as connection:
            found = connection.execute(
                sa.select(acks.c.entity, acks.c.high, acks.c.gaps).where(
                    acks.c.store == chain.store, acks.c.entity.in_(entities)
                )
            ).all()
    except SQLAlchemyError as exc:
        raise unreachable(chain.hq, exc) from exc
    if len(found) < len(entities):
        return  # an entity not pushed yet still needs every change row
    upto = min(
        min([int(r.high or 0) - 1] + [g - 1 for g in json.loads(r.gaps or "[]")]) for r in found
    )
    if upto < 1:
        return
    try:
        with chain.till.connect() as till:
            ids = list(
                till.execute(
                    sa.select(changes.c.id)
                    .where(changes.c.id <= upto)
                    .order_by(changes.c.id)
                    .limit(PRUNE_ROWS)
                ).scalars()
            )
            till.rollback()
            # By exact id, not a range: InnoDB's range delete would lock the next row too,
            # and wait on a till transaction's uncommitted change row (its gap lock would
            # also hold the till's own writes).
            for chunk in _chunks(ids):
                with till.begin():
                    till.execute(changes.delete().where(changes.c.id.in_(chunk)))
    except sa.exc.OperationalError as exc:  # housekeeping: a busy till prunes next run
        log.warning("change rows not pruned this run (%s); the next run tries again", describe(exc))
    except SQLAlchemyError as exc:
        raise unreachable(chain.till, exc) from exc
