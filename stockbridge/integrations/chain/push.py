"""Push: a store's new rows to HQ, each exactly once.

Identity: every row goes to HQ under ``(sb_store, key)``, the store id taken from the store
file (never from the row), enforced by HQ's primary key; the insert of an append-only row
that is there already does nothing, so a resend is harmless. The acknowledged point lives AT
HQ, in ``stockbridge_acks``, and moves in the same HQ transaction as the rows it accounts for: a
run killed anywhere either committed both or neither.

The late-commit window ("data gaps"): an id below the highest one sent may still commit
(a till transaction that took its id first and committed later). Every id below the high
point that was neither sent nor passed stays in the ack row's gap list, and every run reads
those ids again. A gap is never given up because of time (SymmetricDS lost rows so); only an
id more than ``gap_window`` ids below the high point is given up, and the run says which.

Rows found by a modification time are read again from ``lookback`` before the mark (the
newest stamp seen), by the till's own clock, so an older-stamped late commit or a till clock
two hours off loses nothing; HQ compares each row with what it holds and counts only real
changes (a MariaDB HQ's whole-second times: within a second).

A till clock set back (two hours fast, then corrected) stamps its next edits below that
window. So every run reads three clocks together (``clocks.py``): the till's (the store
file's ``till_clock`` query in the till database, by default the database's own clock: the
clock a till stamps rows with), HQ's and this host's (real time), and keeps them in the ack
row, in the same HQ transaction as the rows. The next run compares: the till's clock should
have advanced by the elapsed real time (the larger of HQ's and the host's, so one of them
jumping back is covered by the other); whatever it advanced less is how far it was set back,
and the mark is moved back by that much before ``lookback`` is applied. A stamp later than
the till's clock now reads (written while it was ahead) never becomes the mark, so the mark
comes back to the till's time after the correction. A clock going forward needs nothing:
its stamps are later than the mark. An ack written before clocks were kept: a till clock
reading earlier than the mark counts as set back since the ack's last update. Not seen: a
clock set back and forward again between two runs (the edits in between carry stamps below
the mark and no net change shows) and a till stamping with another clock than ``till_clock``
reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from stockbridge.integrations.chain.clocks import (
    Clocks,
    read_hq_clock,
    read_till_clock,
    set_back,
)
from stockbridge.integrations.chain.database import (
    ChainError,
    fetch_tuples,
    for_update,
    insert_many,
    is_shared,
    unreachable,
)
from stockbridge.integrations.chain.profile import Entity
from stockbridge.integrations.chain.session import (
    Chain,
    Poison,
    key_text,
    plain,
    utc_now,
)
from stockbridge.ledger.database import describe

IN_CHUNK = 500
Row = tuple
"""A till row as the driver returned it, its values in the profile's column order (rows of a
backlog travel as tuples: a dict per row is most of what a 100,000-row push would cost)."""
Refused = Callable[[Entity, list[tuple[dict[str, Any], str]]], None]
"""Records refused rows (their values and reason) in the ledger before HQ's commit."""


def position(entity: Entity, column: str) -> int:
    return list(entity.columns).index(column)


def as_dict(entity: Entity, row: Row) -> dict[str, Any]:
    return dict(zip(entity.columns, row, strict=True))


@dataclass
class Ack:
    high: int
    gaps: set[int]
    mark: str | None
    seq: int
    clocks: Clocks | None = None
    """The clocks read by the run that wrote the row (modification-time entities)."""
    updated_at: datetime | None = None


def read_ack(connection: sa.Connection, chain: Chain, scope: str, entity: str, lock: bool) -> Ack:
    acks = chain.hq_tables["sb_acks"]
    query = sa.select(
        acks.c.high,
        acks.c.gaps,
        acks.c.mark,
        acks.c.seq,
        acks.c.till_clock,
        acks.c.hq_clock,
        acks.c.host_clock,
        acks.c.updated_at,
    ).where(acks.c.store == scope, acks.c.entity == entity)
    row = connection.execute(for_update(query, connection) if lock else query).first()
    if row is None:
        values = {"store": scope, "entity": entity, "high": 0, "gaps": "[]", "seq": 0}
        if lock:
            connection.execute(acks.insert().values(**values, updated_at=utc_now()))
        else:
            _create_ack_row(connection, acks, values)
        return Ack(0, set(), None, 0)
    clocks = None
    if None not in (row.till_clock, row.hq_clock, row.host_clock):
        clocks = Clocks(row.till_clock, row.hq_clock, row.host_clock)
    return Ack(
        int(row.high or 0),
        set(json.loads(row.gaps or "[]")),
        row.mark,
        int(row.seq),
        clocks,
        row.updated_at,
    )


def _create_ack_row(connection: sa.Connection, acks: sa.Table, values: dict[str, Any]) -> None:
    """The ack row made by the unlocked read, committed on its own, so the locked read of
    the HQ transaction that follows finds it. On MariaDB a locking read of a missing row
    takes a gap lock, and two stores' first runs inserting into one gap deadlock (50 stores
    starting at once did, ``bench.chain_concurrent``); a plain insert takes none."""
    try:
        connection.execute(acks.insert().values(**values, updated_at=utc_now()))
        connection.commit()
    except sa.exc.IntegrityError:  # another run of this scope made it meanwhile
        connection.rollback()


def write_ack(connection: sa.Connection, chain: Chain, scope: str, entity: str, ack: Ack) -> None:
    acks = chain.hq_tables["sb_acks"]
    connection.execute(
        acks.update()
        .where(acks.c.store == scope, acks.c.entity == entity)
        .values(
            high=ack.high,
            gaps=json.dumps(sorted(ack.gaps)),
            mark=ack.mark,
            seq=ack.seq,
            till_clock=ack.clocks.till if ack.clocks else None,
            hq_clock=ack.clocks.hq if ack.clocks else None,
            host_clock=ack.clocks.host if ack.clocks else None,
            updated_at=utc_now(),
        )
    )


def lock_unchanged_ack(connection: sa.Connection, chain: Chain, entity: Entity, ack: Ack) -> Ack:
    """The ack row locked for this HQ transaction, as ``ack`` read it before the batch: a
    moved ack means another process pushed this entity meanwhile, and nothing is sent."""
    locked = read_ack(connection, chain, chain.store, entity.name, lock=True)
    if (locked.high, locked.gaps) != (ack.high, ack.gaps):
        raise ChainError(
            f"store {chain.store}: another process pushed {entity.name} at the same"
            " moment (two runs of this store on two ledgers?); nothing was sent, the"
            " next run goes on"
        )
    return locked


def skipped_keys(skips: dict[str, set[str]], entity: Entity) -> set[str]:
    return skips.get(entity.name, set())


def push_entity(chain: Chain, entity: Entity, refused: Refused, skips: dict[str, set[str]]):
    if entity.change.by == "id":
        push_by_id(chain, entity, refused, skips)
    elif entity.change.by == "modified":
        push_by_modified(chain, entity, refused, skips)
    elif entity.change.by == "capture":
        from stockbridge.integrations.chain.capture import push_captured  # its own module

        push_captured(chain, entity, refused, skips)
    else:
        from stockbridge.integrations.chain.customers import push_versions

        push_versions(chain, entity)


# -- append-only rows, by increasing id -------------------------------------------------------


def till_read(chain: Chain, entity: Entity) -> sa.Select:
    """The till's rows of ``entity`` as they are sent. An SQLite till stores decimals as
    floats: they are read as floats (nothing to lose) instead of being made Decimals and
    made floats again for every row of a backlog."""
    table = chain.till_tables[entity.name]
    if chain.till.dialect.name != "sqlite":
        return sa.select(table)
    return sa.select(
        *[
            sa.type_coerce(c, sa.Float).label(c.name)
            if entity.columns.get(c.name) == "decimal"
            else c
            for c in table.c
        ]
    )


def push_by_id(chain: Chain, entity: Entity, refused: Refused, skips: dict[str, set[str]]) -> None:
    """Batches above the acknowledged id, then the gaps' ids again (once per run).

    (Reading the till's next batch in a thread while HQ wrote this one was measured slower
    on SQLite: the two threads handed the GIL to each other row by row.)
    """
    report = chain.report(entity.name)
    id_at = position(entity, entity.change_column)
    first = True
    while True:
        ack = _current_ack(chain, entity)
        new = _till_batch(chain, entity, ack.high)
        again = _till_ids(chain, entity, sorted(ack.gaps)) if first and ack.gaps else []
        if not new and not again:
            report.waiting = len(ack.gaps)
            return
        covered = max(ack.high, new[-1][id_at]) if new else ack.high
        _send(chain, entity, ack, again + new, covered, refused, skips)
        first = False
        if not new:
            return


def _current_ack(chain: Chain, entity: Entity) -> Ack:
    try:
        with chain.hq.connect() as connection:
            return read_ack(connection, chain, chain.store, entity.name, lock=False)
    except SQLAlchemyError as exc:
        raise unreachable(chain.hq, exc) from exc


def _till_batch(chain: Chain, entity: Entity, above: int) -> list[Row]:
    """The next ``batch_rows`` rows above id ``above``, in id order."""
    id_column = chain.till_tables[entity.name].c[entity.change_column]
    query = till_read(chain, entity).where(id_column > above).order_by(id_column)
    try:
        with chain.till.connect() as till:
            return fetch_tuples(till, query.limit(chain.config.batch_rows))
    except SQLAlchemyError as exc:
        raise unreachable(chain.till, exc) from exc


def _till_ids(chain: Chain, entity: Entity, wanted: list[int]) -> list[Row]:
    """The rows of these ids that the till holds now (the gaps: late commits show up here)."""
    id_column = chain.till_tables[entity.name].c[entity.change_column]
    read = till_read(chain, entity)
    rows: list[Row] = []
    try:
        with chain.till.connect() as till:
            for start in range(0, len(wanted), IN_CHUNK):
                chunk = wanted[start : start + IN_CHUNK]
                rows += fetch_tuples(till, read.where(id_column.in_(chunk)).order_by(id_column))
    except SQLAlchemyError as exc:
        raise unreachable(chain.till, exc) from exc
    return rows


def _send(
    chain: Chain,
    entity: Entity,
    ack: Ack,
    rows: list[Row],
    covered: int,
    refused: Refused,
    skips: dict[str, set[str]],
) -> None:
    """One HQ transaction: the rows, their sequence numbers and the new ack point."""
    report = chain.report(entity.name)
    id_at = position(entity, entity.change_column)
    sendable, passed = _screen(chain, entity, rows, refused, skips)
    try:
        with chain.hq.begin() as connection:
            locked = lock_unchanged_ack(connection, chain, entity, ack)
            sendable, _waiting = _with_parents(connection, chain, entity, sendable)
            _insert(connection, chain, entity, locked, sendable)
            sent_ids = {r[id_at] for r in sendable} | passed
            gaps = (ack.gaps | set(range(ack.high + 1, covered + 1))) - sent_ids
            floor = covered - chain.config.gap_window
            given_up = sorted(g for g in gaps if g <= floor)
            locked.high, locked.gaps = covered, gaps - set(given_up)
            write_ack(connection, chain, chain.store, entity.name, locked)
    except (sa.exc.IntegrityError, sa.exc.DataError, sa.exc.ProgrammingError) as exc:
        if isinstance(exc, sa.exc.ProgrammingError) and "Unknown column" not in str(exc):
            raise unreachable(chain.hq, exc) from exc
        _stop_at_poison(chain, entity, ack, sendable, passed, refused, skips, exc)
        return
    except DBAPIError as exc:
        if getattr(exc, "connection_invalidated", False) or isinstance(
            exc, sa.exc.OperationalError
        ):
            raise unreachable(chain.hq, exc) from exc
        _stop_at_poison(chain, entity, ack, sendable, passed, refused, skips, exc)
        return
    except SQLAlchemyError as exc:
        raise unreachable(chain.hq, exc) from exc
    report.sent += len(sendable)
    report.waiting = len(locked.gaps)
    report.given_up += given_up


def _screen(
    chain: Chain,
    entity: Entity,
    rows: list[Row],
    refused: Refused,
    skips: dict[str, set[str]],
) -> tuple[list[Row], set[Any]]:
    """Rows another store's (refused, reported) or skipped by hand pass without being sent."""
    report = chain.report(entity.name)
    column = chain.profile.store_column
    mine = chain.config.till_store_id
    skipped = skipped_keys(skips, entity)
    claim_at = position(entity, column) if column and column in entity.columns else None
    if claim_at is None and not skipped:  # nothing to screen: no per-row work
        return rows, set()
    if not skipped and all(r[claim_at] is None or r[claim_at] == mine for r in rows):
        return rows, set()  # every row is this store's
    change_at = position(entity, entity.change_column)
    sendable, passed, refusals = [], set(), []
    for row in rows:
        claim = row[claim_at] if claim_at is not None else None
        if claim is not None and str(claim) != mine:
            why = f"the row claims store '{claim}', this till is store '{mine}'"
            refusals.append((as_dict(entity, row), why))
            passed.add(row[change_at])
        elif skipped and key_text(entity, as_dict(entity, row)) in skipped:
            report.skipped += 1
            passed.add(row[change_at])
        else:
            sendable.append(row)
    if refusals:
        refused(entity, refusals)
        report.refused += len(refusals)
    return sendable, passed


def _with_parents(
    connection: sa.Connection, chain: Chain, entity: Entity, rows: list[Row]
) -> tuple[list[Row], list[Row]]:
    """A line whose ticket is not at HQ yet waits (stays a gap) instead of arriving alone."""
    if entity.parent is None or not rows:
        return rows, []
    at = position(entity, entity.parent.column)
    present = parents_at_hq(connection, chain, entity, {r[at] for r in rows})
    ready = [r for r in rows if r[at] in present]
    if len(ready) == len(rows):
        return rows, []
    return ready, [r for r in rows if r[at] not in present]


def parents_at_hq(
    connection: sa.Connection, chain: Chain, entity: Entity, wanted: set[Any]
) -> set[Any]:
    """Which of these parent keys (the tickets of some lines) HQ holds for this store."""
    parent = chain.profile.entity(entity.parent.entity)
    table = chain.hq_tables[parent.name]
    key = table.c[parent.key[0]]
    ordered = sorted(w for w in wanted if w is not None)
    if not ordered:
        return set()
    mine = table.c.sb_store == chain.store
    if isinstance(ordered[0], int) and ordered[-1] - ordered[0] < 4 * len(ordered):
        # a backlog's tickets are dense: one range read instead of IN lists
        query = sa.select(key).where(mine, key.between(ordered[0], ordered[-1]))
        return {found for (found,) in fetch_tuples(connection, query)} & set(ordered)
    present: set[Any] = set()
    for start in range(0, len(ordered), IN_CHUNK):
        chunk = ordered[start : start + IN_CHUNK]
        present |= set(connection.execute(sa.select(key).where(mine, key.in_(chunk))).scalars())
    return present


def _insert(
    connection: sa.Connection,
    chain: Chain,
    entity: Entity,
    ack: Ack,
    rows: list[Row],
    update: Iterable[str] = (),
) -> None:
    now = utc_now()
    columns = list(entity.columns)
    first = ack.seq + 1
    ack.seq += len(rows)
    store = chain.store
    prepared = [(*row, store, seq, now) for seq, row in enumerate(rows, start=first)]
    table = chain.hq_tables[entity.name]
    insert_many(
        connection,
        table,
        [*columns, "sb_store", "sb_seq", "sb_received_at"],
        prepared,
        ["sb_store", *entity.key],
        list(update),
    )


def _stop_at_poison(chain, entity, ack, sendable, passed, refused, skips, error) -> None:
    """Find the row HQ refuses (one savepoint per row, all rolled back), commit the rows
    before it, then stop this entity with one sentence naming the row."""
    bad_index, reason = None, describe(error)
    try:
        with chain.hq.connect() as connection, connection.begin() as transaction:
            probe = Ack(ack.high, set(ack.gaps), ack.mark, ack.seq)
            for index, row in enumerate(sendable):
                try:
                    with connection.begin_nested():
                        _insert(connection, chain, entity, probe, [row])
                except (sa.exc.DBAPIError, sa.exc.StatementError) as exc:
                    bad_index, reason = index, describe(exc)
                    break
            transaction.rollback()
    except SQLAlchemyError as exc:
        raise unreachable(chain.hq, exc) from exc
    if bad_index is None:
        raise unreachable(chain.hq, error)
    id_at = position(entity, entity.change_column)
    bad = sendable[bad_index]
    before = sendable[:bad_index]
    if before or passed:
        bad_id = bad[id_at]
        below = {i for i in passed if i < bad_id}
        covered = max([ack.high] + [r[id_at] for r in before if r[id_at] > ack.high])
        covered = max(covered, max(below, default=ack.high))
        _send(chain, entity, ack, before, min(covered, bad_id - 1), refused, {})
    values = as_dict(entity, bad)
    poison = Poison(
        chain.config_path, chain.store, entity.name, key_text(entity, values), values, reason
    )
    chain.report(entity.name).stopped = str(poison)
    raise poison


# -- updated rows, by modification time ------------------------------------------------------


def push_by_modified(
    chain: Chain, entity: Entity, refused: Refused, skips: dict[str, set[str]]
) -> None:
    report = chain.report(entity.name)
    till_table = chain.till_tables[entity.name]
    changed = till_table.c[entity.change_column]
    key = till_table.c[entity.key[0]]
    timed = entity.columns[entity.change_column] == "timestamp"
    try:
        with chain.hq.connect() as connection:
            ack = read_ack(connection, chain, chain.store, entity.name, lock=False)
            hq_now = read_hq_clock(connection) if timed else None
    except SQLAlchemyError as exc:
        raise unreachable(chain.hq, exc) from exc
    clocks = None
    mark = _mark_value(entity, ack.mark)
    if hq_now is not None:
        clocks = Clocks(read_till_clock(chain.till, chain.config.till_clock), hq_now, utc_now())
        back = set_back(ack.clocks, clocks, mark, ack.updated_at, clocks.host)
        if mark is not None:
            mark -= back  # the mark as the till's clock reads now (see the module docstring)
    start = None if mark is None else _minus(entity, mark, entity.change.lookback)
    after: tuple[Any, Any] | None = None
    while True:
        query = sa.select(till_table).order_by(changed, key).limit(chain.config.batch_rows)
        if after is not None:
            query = query.where(
                sa.or_(changed > after[0], sa.and_(changed == after[0], key > after[1]))
            )
        elif start is not None:
            query = query.where(changed >= start)
        try:
            with chain.till.connect() as till:
                rows = fetch_tuples(till, query)
        except SQLAlchemyError as exc:
            raise unreachable(chain.till, exc) from exc
        if not rows:
            return
        change_at, key_at = position(entity, entity.change_column), position(entity, entity.key[0])
        after = (rows[-1][change_at], rows[-1][key_at])
        sendable, _ = _screen(chain, entity, rows, refused, skips)
        try:
            with chain.hq.begin() as connection:
                locked = read_ack(connection, chain, chain.store, entity.name, lock=True)
                fresh = _changed_only(connection, chain, entity, sendable)
                report.unchanged += len(sendable) - len(fresh)
                update = [c for c in entity.columns if c not in entity.key]
                _insert(
                    connection, chain, entity, locked, fresh, [*update, "sb_seq", "sb_received_at"]
                )
                mark = _later(mark, _newest(entity, rows, clocks))
                if clocks is None:
                    mark = _later(mark, _mark_value(entity, locked.mark))
                else:
                    locked.clocks = clocks
                locked.mark = None if mark is None else _mark_text(mark)
                write_ack(connection, chain, chain.store, entity.name, locked)
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
            bad = _first_refused(chain, entity, sendable) or (sendable[0] if sendable else rows[0])
            values = as_dict(entity, bad)
            poison = Poison(
                chain.config_path,
                chain.store,
                entity.name,
                key_text(entity, values),
                values,
                describe(exc),
            )
            report.stopped = str(poison)
            raise poison from exc
        except SQLAlchemyError as exc:
            raise unreachable(chain.hq, exc) from exc
        report.sent += len(fresh)
        if len(rows) < chain.config.batch_rows:
            return


def _first_refused(chain: Chain, entity: Entity, rows: list[Row]) -> Row | None:
    try:
        with chain.hq.connect() as connection, connection.begin() as transaction:
            probe = Ack(0, set(), None, 0)
            for row in rows:
                try:
                    with connection.begin_nested():
                        _insert(connection, chain, entity, probe, [row])
                except (sa.exc.DBAPIError, sa.exc.StatementError):
                    return row
            transaction.rollback()
    except SQLAlchemyError:
        return None
    return None


def _changed_only(
    connection: sa.Connection, chain: Chain, entity: Entity, rows: list[Row]
) -> list[Row]:
    """The rows HQ does not hold as they are (a re-read window brings many unchanged)."""
    if not rows:
        return []
    table = chain.hq_tables[entity.name]
    key = entity.key[0]
    key_at = position(entity, key)
    held: dict[Any, tuple] = {}
    columns = list(entity.columns)
    wanted = [r[key_at] for r in rows]
    for start in range(0, len(wanted), IN_CHUNK):
        for found in connection.execute(
            sa.select(*[table.c[c] for c in columns]).where(
                table.c.sb_store == chain.store, table.c[key].in_(wanted[start : start + IN_CHUNK])
            )
        ):
            held[found[key_at]] = tuple(plain(v) for v in found)
    whole_seconds = connection.dialect.name in ("mysql", "mariadb")
    return [r for r in rows if not _same(held.get(r[key_at]), tuple(map(plain, r)), whole_seconds)]


def _same(held: tuple | None, row: tuple, whole_seconds: bool) -> bool:
    """HQ holds ``row`` as it is. A MariaDB/MySQL HQ keeps its DATETIMEs in whole seconds
    (MariaDB truncates, MySQL rounds): a till time is then the same within a second, or
    every row of the re-read window would be sent again at every run."""
    if held is None:
        return False
    if not whole_seconds:
        return held == row
    return len(held) == len(row) and all(
        abs((a - b).total_seconds()) < 1
        if isinstance(a, datetime) and isinstance(b, datetime)
        else a == b
        for a, b in zip(held, row, strict=True)
    )


def _newest(entity: Entity, rows: list[Row], clocks: Clocks | None) -> Any:
    """The newest change value of ``rows`` that can be a mark: a stamp later than the till's
    clock now reads (written while the clock was ahead, then set back) is not one, or the
    mark would stay ahead of every edit made since and the re-read window would miss them."""
    at = position(entity, entity.change_column)
    values = [r[at] for r in rows if r[at] is not None]
    if clocks is not None:
        values = [v for v in values if v <= clocks.till]
    return max(values, default=None)


def _later(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def _mark_value(entity: Entity, mark: str | None) -> Any:
    if mark is None:
        return None
    if entity.columns[entity.change_column] == "timestamp":
        return datetime.fromisoformat(mark)
    return int(mark)


def _mark_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _minus(entity: Entity, mark: Any, lookback) -> Any:
    if isinstance(mark, datetime):
        return mark - lookback
    return mark - int(lookback.total_seconds())


assert is_shared  # re-exported for customers
