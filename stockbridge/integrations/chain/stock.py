"""Stock at HQ: the rows HQ received that move stock, applied to the chain's ledger.

Driven from HQ's own numbering (``sb_seq``), not from what this run sent, so a run killed
between HQ's commit and the ledger's applies the rest next time. The ledger cursor
``stock:<entity>`` moves in the same ledger transaction as the movements; a transfer's entry
into the receiving store has its own cursor in that store (``transfer_in:<from>:<entity>``).
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from stockbridge.integrations.chain.database import fetch_tuples, unreachable
from stockbridge.integrations.chain.profile import Entity
from stockbridge.integrations.chain.session import Chain
from stockbridge.ledger.ledger import Ledger, NewDocument
from stockbridge.ledger.tables import cursors
from stockbridge.movements import Document, movement_table

CHUNK = 50_000
INTEGRATION = "chain"


class Moved(NamedTuple):
    """HQ's rows of one entity that move stock, column by column."""

    keys: list
    articles: list
    thousandths: list
    seqs: list


def _rows(chain: Chain, entity: Entity, after: int, to_store: str | None = None) -> Moved | None:
    """The next rows after ``after`` in HQ's numbering. HQ computes each quantity's
    thousandths (exact on every database: a decimal times 1000, rounded), so no row is
    turned into a Decimal here."""
    table = chain.hq_tables[entity.name]
    quantity = table.c[entity.stock.quantity]
    query = (
        sa.select(
            table.c[entity.key[0]],
            table.c[entity.stock.article],
            sa.cast(sa.func.round(quantity * 1000), sa.BigInteger),
            table.c.sb_seq,
        )
        .where(table.c.sb_store == chain.store, table.c.sb_seq > after)
        .order_by(table.c.sb_seq)
        .limit(CHUNK)
    )
    query = _join_parent(chain, entity, query)
    if to_store is not None:
        query = query.where(_to_store_column(chain, entity) == to_store)
    try:
        with chain.hq.connect() as connection:
            rows = fetch_tuples(connection, query)
    except SQLAlchemyError as exc:
        raise unreachable(chain.hq, exc) from exc
    return Moved(*map(list, zip(*rows, strict=True))) if rows else None


def _join_parent(chain: Chain, entity: Entity, query):
    target = entity.stock.to_store if entity.stock else None
    if not (target and target.startswith("parent.")):
        return query
    table = chain.hq_tables[entity.name]
    parent_entity = chain.profile.entity(entity.parent.entity)
    parent = chain.hq_tables[parent_entity.name]
    return query.select_from(
        table.join(
            parent,
            sa.and_(
                parent.c.sb_store == table.c.sb_store,
                parent.c[parent_entity.key[0]] == table.c[entity.parent.column],
            ),
        )
    )


def _to_store_column(chain: Chain, entity: Entity):
    target = entity.stock.to_store
    if target.startswith("parent."):
        return chain.hq_tables[entity.parent.entity].c[target.removeprefix("parent.")]
    return chain.hq_tables[entity.name].c[target]


def apply_stock(chain: Chain, ledger: Ledger, run_id: str, entity: Entity) -> int:
    """Movements of this store's rows of ``entity``; returns how many were applied."""
    applied = 0
    name = f"stock:{entity.name}"
    while True:
        after = int(ledger.cursor(chain.store, INTEGRATION, name) or 0)
        rows = _rows(chain, entity, after)
        if not rows:
            break
        applied += _apply(chain, ledger, run_id, entity, rows, chain.store, name, -1)
    if entity.stock.to_store:
        name = f"transfer_in:{chain.store}:{entity.name}"
        for destination in _waiting_destinations(chain, ledger, entity, name):
            while True:
                after = int(ledger.cursor(destination, INTEGRATION, name) or 0)
                rows = _rows(chain, entity, after, to_store=destination)
                if not rows:
                    break
                _apply(chain, ledger, run_id, entity, rows, destination, name, 1)
    return applied


def _waiting_destinations(chain: Chain, ledger: Ledger, entity: Entity, name: str) -> list[str]:
    """The stores with transfers from this one not yet entered in their stock: every
    store's cursor in one ledger read, each destination's newest transfer in one HQ read, so
    a run's cost does not grow with the number of stores in the chain."""
    with ledger.reading() as connection:
        entered = dict(
            connection.execute(
                sa.select(cursors.c.store, cursors.c.value).where(
                    cursors.c.integration == INTEGRATION, cursors.c.name == name
                )
            ).all()
        )
    table = chain.hq_tables[entity.name]
    destination = _to_store_column(chain, entity)
    query = _join_parent(
        chain,
        entity,
        sa.select(destination, sa.func.max(table.c.sb_seq))
        .where(table.c.sb_store == chain.store)
        .group_by(destination),
    )
    try:
        with chain.hq.connect() as connection:
            newest = connection.execute(query).all()
    except SQLAlchemyError as exc:
        raise unreachable(chain.hq, exc) from exc
    stores = set(_stores(chain)) - {chain.store}
    return sorted(
        store
        for store, top in newest
        if store in stores and int(top) > int(entered.get(store) or 0)
    )


def _stores(chain: Chain) -> list[str]:
    stores = chain.hq_tables["sb_stores"]
    try:
        with chain.hq.connect() as connection:
            return list(connection.execute(sa.select(stores.c.store)).scalars())
    except SQLAlchemyError as exc:
        raise unreachable(chain.hq, exc) from exc


def _apply(
    chain: Chain,
    ledger: Ledger,
    run_id: str,
    entity: Entity,
    rows: Moved,
    store: str,
    cursor: str,
    direction: int,
) -> int:
    """One ledger transaction: a document for the rows, their movements, the cursor."""
    mapping = entity.stock
    first, last = int(rows.seqs[0]), int(rows.seqs[-1])
    receiving = direction == 1
    kind = "transfer_in" if receiving else mapping.kind
    sign = -mapping.sign if receiving else mapping.sign
    if mapping.kind == "transfer_out" and not receiving:
        sign = mapping.sign
    batch_id = hashlib.sha256(
        f"chain\0{chain.store}\0{store}\0{entity.name}\0{kind}\0{first}\0{last}".encode()
    ).hexdigest()[:32]
    source = f"chain:{chain.store}"
    document = f"{entity.name} {first}-{last}" + (f" from {chain.store}" if receiving else "")
    keys = pa.array(rows.keys)
    size = len(keys)
    table = movement_table(
        store=store,
        run_id=run_id,
        references=pa.array(rows.articles).cast(pa.string()),
        quantities=sign * np.asarray(rows.thousandths, dtype=np.int64),
        kinds=pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(size, dtype=np.int32)), pa.array([kind])
        ).cast(pa.string()),
        lines=np.asarray(keys.cast(pa.int64())),
        documents=[Document(batch_id, source, document)],
        document_index=np.zeros(size, dtype=np.int32),
        document_numbers=pc.binary_join_element_wise(f"{chain.store}:", keys.cast(pa.string()), ""),
    )
    with ledger.batch(store, INTEGRATION, run_id) as batch:
        batch.add_documents([NewDocument(batch_id, source, document, batch_id)])
        batch.add_movements(table)
        batch.set_cursor(cursor, str(last))
    return size
