"""Pull: HQ's changes since the last pull into the till, one till transaction per batch.

HQ numbers every change of a pulled entity (``sb_seq``) while holding its counter row, so
changes commit in number order and a pull that reads "above the last number" misses none.
The till's cursor moves in the same till transaction as the rows it accounts for. A new row
always gets HQ's values; an existing one keeps the columns of a ``receive:`` switch that is
off (its prices, its printers). A row HQ marks deleted is deleted from the till.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from stockbridge.integrations.chain.database import unreachable
from stockbridge.integrations.chain.profile import Entity
from stockbridge.integrations.chain.push import IN_CHUNK
from stockbridge.integrations.chain.session import Chain


def kept_columns(chain: Chain, entity: Entity) -> set[str]:
    """Columns an existing till row keeps, by the store's ``receive:`` switches."""
    kept: set[str] = set()
    for switch, columns in entity.store_owned.items():
        if not getattr(chain.config.receive, switch):
            kept |= set(columns)
    return kept


def pull_entity(chain: Chain, entity: Entity) -> None:
    if entity.change.by == "version":
        from stockbridge.integrations.chain.customers import pull_versions

        pull_versions(chain, entity)
        return
    report = chain.report(entity.name)
    central = chain.hq_tables[entity.name]
    table = chain.till_tables[entity.name]
    key = entity.key[0]
    kept = kept_columns(chain, entity)
    flag = entity.deleted.flag if entity.deleted else None
    while True:
        try:
            with chain.till.connect() as till:
                cursor = chain.till_cursor(till, entity.name)
        except SQLAlchemyError as exc:
            raise unreachable(chain.till, exc) from exc
        try:
            with chain.hq.connect() as connection:
                rows = [
                    dict(r._mapping)
                    for r in connection.execute(
                        sa.select(central)
                        .where(central.c.sb_store == chain.config.hq_store)
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
                keys = [r[key] for r in rows]
                existing: set[Any] = set()
                for at in range(0, len(keys), IN_CHUNK):
                    existing |= set(
                        till.execute(
                            sa.select(table.c[key]).where(
                                table.c[key].in_(keys[at : at + IN_CHUNK])
                            )
                        ).scalars()
                    )
                inserts, updates, deletes = [], [], []
                for row in rows:
                    values = {c: row[c] for c in entity.columns}
                    if flag and row[flag]:
                        if row[key] in existing:
                            deletes.append(row[key])
                            existing.discard(row[key])
                    elif row[key] in existing:
                        changed = {c: v for c, v in values.items() if c not in kept}
                        if kept:
                            report.opted_out += 1
                        updates.append(changed)
                    else:
                        inserts.append(values)
                        existing.add(row[key])
                if inserts:
                    till.execute(table.insert(), inserts)
                if updates:
                    columns = [c for c in updates[0] if c != key]
                    statement = (
                        table.update()
                        .where(table.c[key] == sa.bindparam("b_key"))
                        .values({c: sa.bindparam(f"b_{c}") for c in columns})
                    )
                    till.execute(
                        statement,
                        [
                            {f"b_{c}": v for c, v in u.items() if c != key} | {"b_key": u[key]}
                            for u in updates
                        ],
                    )
                for at in range(0, len(deletes), IN_CHUNK):
                    till.execute(
                        table.delete().where(table.c[key].in_(deletes[at : at + IN_CHUNK]))
                    )
                chain.set_till_cursor(till, entity.name, int(rows[-1]["sb_seq"]))
        except SQLAlchemyError as exc:
            raise unreachable(chain.till, exc) from exc
        report.received += len(rows)
        if len(rows) < chain.config.batch_rows:
            return


def reset_pull(chain: Chain, entity: Entity) -> None:
    """A full re-pull of one entity (a job from HQ, ``--only pull:ENTITY``)."""
    try:
        with chain.till.begin() as till:
            chain.set_till_cursor(till, entity.name, 0)
            if entity.change.by == "version":
                state = chain.till_tables["stockbridge_state"]
                till.execute(
                    state.update().where(state.c.entity == entity.name).values(hq_version=-1)
                )
    except SQLAlchemyError as exc:
        raise unreachable(chain.till, exc) from exc
