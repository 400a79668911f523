"""Customers both ways: a version counter decides, never a store's clock.

Each customer at HQ carries ``sb_version``, raised by one at every accepted change, and the
store and till version of the change that made it (``sb_origin_*``). Each till remembers, per
customer, the till version and the HQ version it last exchanged (``stockbridge_state``).

A store's edit (its till version moved past the one last exchanged) is accepted at HQ only if
HQ's version is still the one the store last saw; otherwise HQ changed it meanwhile (another
store, or HQ itself) and **HQ's version wins**: the store's edit is counted as a conflict and
the pull that follows puts HQ's row back in the till, so both sides end equal. A change
resent after a kill is recognised by its origin (this store, this till version) and not
counted twice. HQ ties go to HQ.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from stockbridge.integrations.chain.database import for_update, unreachable, upsert
from stockbridge.integrations.chain.profile import Entity
from stockbridge.integrations.chain.push import IN_CHUNK, read_ack, write_ack
from stockbridge.integrations.chain.session import Chain, Poison, key_text, utc_now
from stockbridge.ledger.database import describe

SHARED = "*"
"""The ack row scope of a shared entity: its sequence counter for every writer."""


def _state(chain: Chain, till: sa.Connection, entity: Entity) -> dict[str, tuple[int, int]]:
    state = chain.till_tables["stockbridge_state"]
    return {
        r.key: (int(r.local_version), int(r.hq_version))
        for r in till.execute(
            sa.select(state.c.key, state.c.local_version, state.c.hq_version).where(
                state.c.entity == entity.name
            )
        )
    }


def _set_state(
    chain: Chain, till: sa.Connection, entity: Entity, values: dict[str, tuple[int, int]]
) -> None:
    if not values:
        return
    state = chain.till_tables["stockbridge_state"]
    rows = [
        {"entity": entity.name, "key": k, "local_version": lv, "hq_version": hv}
        for k, (lv, hv) in values.items()
    ]
    upsert(till, state, rows, ["entity", "key"], ["local_version", "hq_version"])


def push_versions(chain: Chain, entity: Entity) -> None:
    report = chain.report(entity.name)
    table = chain.till_tables[entity.name]
    version = entity.change_column
    try:
        with chain.till.connect() as till:
            state = _state(chain, till, entity)
            rows = [dict(r._mapping) for r in till.execute(sa.select(table))]
    except SQLAlchemyError as exc:
        raise unreachable(chain.till, exc) from exc
    changed = [r for r in rows if r[version] > state.get(key_text(entity, r), (-1, 0))[0]]
    central = chain.hq_tables[entity.name]
    key = entity.key[0]
    for start in range(0, len(changed), chain.config.batch_rows):
        batch = changed[start : start + chain.config.batch_rows]
        accepted: dict[str, tuple[int, int]] = {}
        try:
            with chain.hq.begin() as connection:
                counter = read_ack(connection, chain, SHARED, entity.name, lock=True)
                held: dict[Any, Any] = {}
                keys = [r[key] for r in batch]
                for at in range(0, len(keys), IN_CHUNK):
                    query = sa.select(
                        central.c[key],
                        central.c.sb_version,
                        central.c.sb_origin_store,
                        central.c.sb_origin_version,
                    ).where(central.c[key].in_(keys[at : at + IN_CHUNK]))
                    for found in connection.execute(for_update(query, connection)):
                        held[found[0]] = found
                writes = []
                now = utc_now()
                for row in batch:
                    name = key_text(entity, row)
                    seen_hq = state.get(name, (-1, 0))[1]
                    current = held.get(row[key])
                    if current is None:
                        new_version = 1
                    elif (current.sb_origin_store, current.sb_origin_version) == (
                        chain.store,
                        row[version],
                    ):
                        accepted[name] = (row[version], int(current.sb_version))
                        continue  # this very change, resent after a kill
                    elif int(current.sb_version) == seen_hq:
                        new_version = seen_hq + 1
                    else:
                        report.conflicts += 1
                        continue
                    counter.seq += 1
                    writes.append(
                        {
                            **{c: row[c] for c in entity.columns},
                            "sb_seq": counter.seq,
                            "sb_received_at": now,
                            "sb_version": new_version,
                            "sb_origin_store": chain.store,
                            "sb_origin_version": row[version],
                        }
                    )
                    accepted[name] = (row[version], new_version)
                update = [c for c in writes[0] if c not in entity.key] if writes else []
                upsert(connection, central, writes, entity.key, update)
                write_ack(connection, chain, SHARED, entity.name, counter)
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
            bad = batch[0]
            poison = Poison(
                chain.config_path,
                chain.store,
                entity.name,
                key_text(entity, bad),
                {c: bad[c] for c in entity.columns},
                describe(exc),
            )
            report.stopped = str(poison)
            raise poison from exc
        except SQLAlchemyError as exc:
            raise unreachable(chain.hq, exc) from exc
        report.sent += len(writes)
        try:
            with chain.till.begin() as till:
                _set_state(chain, till, entity, accepted)
        except SQLAlchemyError as exc:
            raise unreachable(chain.till, exc) from exc


def pull_versions(chain: Chain, entity: Entity) -> None:
    """HQ's customers changed since the last pull into the till; HQ's version wins."""
    report = chain.report(entity.name)
    central = chain.hq_tables[entity.name]
    table = chain.till_tables[entity.name]
    key = entity.key[0]
    version = entity.change_column
    while True:
        try:
            with chain.till.connect() as till:
                cursor = chain.till_cursor(till, entity.name)
            with chain.hq.connect() as connection:
                rows = [
                    dict(r._mapping)
                    for r in connection.execute(
                        sa.select(central)
                        .where(central.c.sb_seq > cursor)
                        .order_by(central.c.sb_seq)
                        .limit(chain.config.batch_rows)
                    )
                ]
        except SQLAlchemyError as exc:
            raise unreachable(chain.hq, exc) from exc
        if not rows:
            return
        try:
            with chain.till.begin() as till:
                state = _state(chain, till, entity)
                keys = [r[key] for r in rows]
                local: dict[Any, int] = {}
                for at in range(0, len(keys), IN_CHUNK):
                    for found in till.execute(
                        sa.select(table.c[key], table.c[version]).where(
                            table.c[key].in_(keys[at : at + IN_CHUNK])
                        )
                    ):
                        local[found[0]] = int(found[1])
                updates: dict[str, tuple[int, int]] = {}
                for row in rows:
                    name = key_text(entity, row)
                    hq_version = int(row["sb_version"])
                    if state.get(name, (-1, -1))[1] >= hq_version and row[key] in local:
                        continue  # the till has this version already (its own change)
                    values = {c: row[c] for c in entity.columns}
                    if row[key] in local:
                        values[version] = local[row[key]]
                        till.execute(
                            table.update().where(table.c[key] == row[key]).values(**values)
                        )
                    else:
                        values[version] = 0
                        till.execute(table.insert().values(**values))
                    updates[name] = (values[version], hq_version)
                    report.received += 1
                _set_state(chain, till, entity, updates)
                chain.set_till_cursor(till, entity.name, int(rows[-1]["sb_seq"]))
        except SQLAlchemyError as exc:
            raise unreachable(chain.till, exc) from exc
