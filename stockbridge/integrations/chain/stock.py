"""Stock at HQ: the rows HQ received that move stock, applied to the chain's ledger.

Driven from HQ's own numbering (``sb_seq``), not from what this run sent, so a run killed
between HQ's commit and the ledger's applies the rest next time. The ledger cursor
``stock:<entity>`` moves in the same ledger transaction as the movements; a transfer's entry
into the receiving store has its own cursor in that store (``transfer_in:<from>:<entity>``).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from stockbridge.integrations.chain.database import as_dicts, unreachable
from stockbridge.integrations.chain.profile import Entity
from stockbridge.integrations.chain.session import Chain
from stockbridge.ledger.ledger import Ledger, NewDocument
from stockbridge.movements import Document, movement_table

CHUNK = 50_000
INTEGRATION = "chain"


def milli(value: Any) -> int:
    return int((Decimal(value) * 1000).to_integral_value())


def _rows(chain: Chain, entity: Entity, after: int, to_store: str | None = None):
    table = chain.hq_tables[entity.name]
    needed = {entity.key[0], entity.stock.article, entity.stock.quantity}
    query = (
        sa.select(
            *[table.c[c] for c in sorted(needed)], table.c.sb_seq, *_parent_columns(chain, entity)
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
            return as_dicts(connection.execute(query))
    except SQLAlchemyError as exc:
        raise unreachable(chain.hq, exc) from exc


def _parent_columns(chain: Chain, entity: Entity) -> list:
    target = entity.stock.to_store if entity.stock else None
    if target and target.startswith("parent."):
        parent = chain.hq_tables[entity.parent.entity]
        return [parent.c[target.removeprefix("parent.")].label("sb_to_store")]
    return []


def _join_parent(chain: Chain, entity: Entity, query):
    if not _parent_columns(chain, entity):
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
        for destination in _stores(chain):
            if destination == chain.store:
                continue
            name = f"transfer_in:{chain.store}:{entity.name}"
            while True:
                after = int(ledger.cursor(destination, INTEGRATION, name) or 0)
                rows = _rows(chain, entity, after, to_store=destination)
                if not rows:
                    break
                _apply(chain, ledger, run_id, entity, rows, destination, name, 1)
    return applied


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
    rows: list[dict[str, Any]],
    store: str,
    cursor: str,
    direction: int,
) -> int:
    """One ledger transaction: a document for the rows, their movements, the cursor."""
    mapping = entity.stock
    first, last = int(rows[0]["sb_seq"]), int(rows[-1]["sb_seq"])
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
    table = movement_table(
        store=store,
        run_id=run_id,
        references=pa.array([str(r[mapping.article]) for r in rows], pa.string()),
        quantities=np.array([sign * milli(r[mapping.quantity]) for r in rows], dtype=np.int64),
        kinds=pa.array([kind] * len(rows), pa.string()),
        lines=np.array([int(r[entity.key[0]]) for r in rows], dtype=np.int64),
        documents=[Document(batch_id, source, document)],
        document_index=np.zeros(len(rows), dtype=np.int32),
        document_numbers=pa.array([f"{chain.store}:{r[entity.key[0]]}" for r in rows]),
    )
    with ledger.batch(store, INTEGRATION, run_id) as batch:
        batch.add_documents([NewDocument(batch_id, source, document, batch_id)])
        batch.add_movements(table)
        batch.set_cursor(cursor, str(last))
    return len(rows)
