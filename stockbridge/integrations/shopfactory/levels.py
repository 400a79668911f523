"""What the shop shows, as the ledger knows it: web sales recorded once, publications kept.

For each SKU the ledger keeps ``seen``, the level the shop was last known to show: what
stockbridge last published, or what a snapshot showed since. A snapshot of the shop's file
below ``seen`` is web sales since then; above is a change made on the shop's side (an
adjustment, reported). Each snapshot is recorded as a document of its own, with those
movements and the new ``seen`` levels, in one transaction, keyed by the last published
generation, the snapshot's place in it and its digest: a re-read of the same snapshot (or a
run killed after recording it) finds it recorded and adds nothing; a run killed before the
commit left nothing, and the next snapshot's difference includes those sales.

Publishing is prepared in the ledger (``target`` levels, a ``pending`` publication with the
digest of the bytes to write), then written, then confirmed (``seen`` := ``target``). A run
killed between the write and the confirmation leaves the question "did it land?", which the
next run answers from the shop's file before it reads any sale (:func:`decide_landed`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, and_, bindparam, func, select, update

from stockbridge.ledger.ledger import Batch, Ledger, NewDocument, utc_now
from stockbridge.ledger.tables import (
    cursors,
    documents,
    shopfactory_levels,
    shopfactory_publications,
    stock,
)
from stockbridge.movements import Document, movement_table
from stockbridge.schema import MovementKind

INTEGRATION = "shopfactory"
GENERATION_CURSOR = "published_generation"
"""The last publication confirmed (0: none yet)."""
SNAPSHOT_CURSOR = "shop_snapshot"
"""``n:digest``: the n-th snapshot recorded since that publication and its digest (the
published file's own digest right after a publication)."""


@dataclass
class Observed:
    """What recording one snapshot did."""

    digest: str
    duplicate: bool = False
    first_run: bool = False
    sales: dict[str, int] = field(default_factory=dict)
    """Web sales per SKU (negative thousandths)."""
    adjustments: dict[str, int] = field(default_factory=dict)
    """Levels the shop raised on its side, per SKU (positive thousandths)."""
    opened: dict[str, int] = field(default_factory=dict)
    """SKUs the ledger did not know, taken at the shop's level."""
    taken: int = 0
    """SKUs the ledger knew but had never seen in the shop, taken as they are."""
    missing: list[str] = field(default_factory=list)
    """SKUs seen before that the shop's file no longer lists."""
    resolved: str | None = None
    """What became of a publication a killed run left pending: landed / not landed."""
    certain: bool = True


@dataclass(frozen=True)
class Pending:
    generation: int
    digest: str
    observed_digest: str


def decide_landed(
    pending: Pending,
    targets: dict[str, int],
    seen: dict[str, int],
    shop: dict[str, int],
    shop_digest: str,
    published_digest: str | None,
) -> tuple[bool, bool]:
    """(landed, certain): did the pending publication reach the shop?

    ``published_digest`` is the publish location's file when it is not the online one (the
    shop only reads it): then the answer is exact. Otherwise the shop's file holds either
    exactly what was written, or exactly what was seen before, or one of those with web
    sales since: the SKUs the publication changed tell which, by matching its level or the
    one before, or by standing above one of them (sales only lower levels).
    """
    if published_digest is not None:
        return published_digest == pending.digest, True
    if shop_digest == pending.digest:
        return True, True
    if shop_digest == pending.observed_digest:
        return False, True
    changed = [s for s, t in targets.items() if t != seen.get(s) and s in shop]
    if not changed:
        return True, True  # the same either way
    as_written = sum(shop[s] == targets[s] for s in changed)
    as_before = sum(shop[s] == seen.get(s) for s in changed)
    if as_written != as_before:
        return as_written > as_before, True
    if any(shop[s] > seen.get(s, 0) for s in changed):
        return True, True
    if any(shop[s] > targets[s] for s in changed):
        return False, True
    return False, False


class ShopLevels:
    """One ShopFactory store's levels and publications in the ledger."""

    def __init__(self, ledger: Ledger, store: str, run_id: str):
        self.ledger = ledger
        self.store = store
        self.run_id = run_id

    # -- reading ------------------------------------------------------------------------------

    def pending(self) -> Pending | None:
        with self.ledger.reading() as connection:
            return _pending(connection, self.store)

    def seen(self) -> dict[str, int]:
        with self.ledger.reading() as connection:
            return _levels(connection, self.store, shopfactory_levels.c.seen)

    def last_publication(self) -> dict | None:
        with self.ledger.reading() as connection:
            row = connection.execute(
                select(shopfactory_publications)
                .where(
                    shopfactory_publications.c.store == self.store,
                    shopfactory_publications.c.state == "published",
                )
                .order_by(shopfactory_publications.c.generation.desc())
                .limit(1)
            ).first()
        return dict(row._mapping) if row else None

    # -- a snapshot of the shop ---------------------------------------------------------------

    def observe(
        self,
        name: str,
        source: str,
        skus: list[str],
        levels: np.ndarray,
        lines: np.ndarray,
        digest: str,
        published_digest: str | None = None,
    ) -> Observed:
        """Record one snapshot of the shop's file: first settle a pending publication, then
        the web sales and the shop's own changes since the levels last seen, once."""
        shop = dict(zip(skus, levels.tolist(), strict=True))
        observed = Observed(digest)
        with self.ledger.batch(self.store, INTEGRATION, self.run_id) as batch:
            connection = batch.connection
            pending = _pending(connection, self.store)
            if pending is not None:
                targets = _levels(connection, self.store, shopfactory_levels.c.target)
                seen = _levels(connection, self.store, shopfactory_levels.c.seen)
                landed, observed.certain = decide_landed(
                    pending, targets, seen, shop, digest, published_digest
                )
                if landed:
                    _confirm(batch, self.store, pending)
                    observed.resolved = "landed"
                else:
                    _abandon(connection, self.store, pending)
                    observed.resolved = "not landed"
            generation = _cursor(connection, self.store, GENERATION_CURSOR)
            count, last = _split_snapshot(_cursor(connection, self.store, SNAPSHOT_CURSOR))
            if last == digest:
                observed.duplicate = True
                return observed
            key = f"shopfactory-snapshot\0{self.store}\0{generation or 0}\0{count + 1}\0{digest}"
            batch_id = hashlib.sha256(key.encode()).hexdigest()[:32]
            if connection.execute(
                select(documents.c.id).where(
                    documents.c.store == self.store, documents.c.batch_id == batch_id
                )
            ).first():
                observed.duplicate = True
                return observed
            seen = _levels(connection, self.store, shopfactory_levels.c.seen)
            observed.first_run = not seen and generation is None
            known = _known(connection, self.store)
            _differences(observed, shop, seen, known)
            observed.missing = sorted(set(seen) - set(shop))
            self._record(batch, batch_id, name, source, digest, shop, seen, skus, lines, observed)
            batch.set_cursor(SNAPSHOT_CURSOR, f"{count + 1}:{digest}")
        return observed

    def _record(
        self,
        batch: Batch,
        batch_id: str,
        name: str,
        source: str,
        digest: str,
        shop: dict[str, int],
        seen: dict[str, int],
        skus: list[str],
        lines: np.ndarray,
        observed: Observed,
    ) -> None:
        now = utc_now().replace(tzinfo=UTC)
        note = (
            "first run: the shop's levels taken as they are"
            if observed.first_run
            else f"{len(observed.sales)} SKU(s) sold online, {len(observed.adjustments)} raised"
            " on the shop's side"
        )
        batch.add_documents(
            [
                NewDocument(
                    batch_id,
                    source,
                    f"shop levels {name} ({digest[:12]})"[:255],
                    digest,
                    status="archived",
                    note=note,
                    occurred_at=now,
                )
            ]
        )
        moves = {**observed.sales, **observed.adjustments, **observed.opened}
        moves = {sku: quantity for sku, quantity in moves.items() if quantity != 0}
        if moves:
            line_of = dict(zip(skus, lines.tolist(), strict=True))
            references = sorted(moves)
            quantities = np.array([moves[r] for r in references], dtype=np.int64)
            kinds = [
                MovementKind.SALE.value if r in observed.sales else MovementKind.ADJUSTMENT.value
                for r in references
            ]
            batch.add_movements(
                movement_table(
                    store=self.store,
                    run_id=self.run_id,
                    references=pa.array(references, pa.string()),
                    quantities=quantities,
                    kinds=pa.array(kinds, pa.string()),
                    lines=np.array([line_of[r] for r in references], dtype=np.int64),
                    documents=[Document(batch_id, source, name, now)],
                    document_index=np.zeros(len(references), dtype=np.int64),
                )
            )
        changed = {sku: level for sku, level in shop.items() if seen.get(sku) != level}
        _upsert_seen(batch.connection, self.store, changed, seen)

    # -- publishing -----------------------------------------------------------------------------

    def prepare(self, targets: dict[str, int], digest: str, observed: str, location: str) -> int:
        """Record the publication about to be written; its generation."""
        with self.ledger.transaction() as connection:
            last = connection.execute(
                select(func.max(shopfactory_publications.c.generation)).where(
                    shopfactory_publications.c.store == self.store
                )
            ).scalar()
            generation = int(last or 0) + 1
            connection.execute(
                shopfactory_publications.insert().values(
                    store=self.store,
                    generation=generation,
                    digest=digest,
                    observed_digest=observed,
                    state="pending",
                    location=location[:500],
                    skus=len(targets),
                    run_id=self.run_id,
                    prepared_at=utc_now(),
                )
            )
            if targets:
                connection.execute(
                    update(shopfactory_levels)
                    .where(
                        shopfactory_levels.c.store == self.store,
                        shopfactory_levels.c.reference == bindparam("b_reference"),
                    )
                    .values(target=bindparam("b_target")),
                    [{"b_reference": r, "b_target": t} for r, t in targets.items()],
                )
        return generation

    def confirm(self, generation: int, digest: str) -> None:
        """The file is written: what was published is what the shop shows now."""
        with self.ledger.batch(self.store, INTEGRATION, self.run_id) as batch:
            pending = _pending(batch.connection, self.store)
            if pending is not None and pending.generation == generation:
                _confirm(batch, self.store, pending)


def _differences(
    observed: Observed, shop: dict[str, int], seen: dict[str, int], known: set[str]
) -> None:
    for sku, level in shop.items():
        before = seen.get(sku)
        if before is None:
            if sku in known:
                observed.taken += 1
            else:
                observed.opened[sku] = level
        elif level < before:
            observed.sales[sku] = level - before
        elif level > before:
            observed.adjustments[sku] = level - before


def _confirm(batch: Batch, store: str, pending: Pending) -> None:
    connection = batch.connection
    connection.execute(
        update(shopfactory_levels)
        .where(shopfactory_levels.c.store == store, shopfactory_levels.c.target.is_not(None))
        .values(
            seen=shopfactory_levels.c.target,
            published=shopfactory_levels.c.target,
            target=None,
            updated_at=utc_now(),
        )
    )
    connection.execute(
        update(shopfactory_publications)
        .where(
            shopfactory_publications.c.store == store,
            shopfactory_publications.c.generation == pending.generation,
        )
        .values(state="published", published_at=utc_now())
    )
    batch.set_cursor(GENERATION_CURSOR, str(pending.generation))
    batch.set_cursor(SNAPSHOT_CURSOR, f"0:{pending.digest}")


def _abandon(connection: Connection, store: str, pending: Pending) -> None:
    connection.execute(
        update(shopfactory_levels)
        .where(shopfactory_levels.c.store == store, shopfactory_levels.c.target.is_not(None))
        .values(target=None)
    )
    connection.execute(
        update(shopfactory_publications)
        .where(
            shopfactory_publications.c.store == store,
            shopfactory_publications.c.generation == pending.generation,
        )
        .values(state="not landed")
    )


def _pending(connection: Connection, store: str) -> Pending | None:
    row = connection.execute(
        select(
            shopfactory_publications.c.generation,
            shopfactory_publications.c.digest,
            shopfactory_publications.c.observed_digest,
        )
        .where(
            shopfactory_publications.c.store == store,
            shopfactory_publications.c.state == "pending",
        )
        .order_by(shopfactory_publications.c.generation.desc())
        .limit(1)
    ).first()
    return Pending(int(row.generation), row.digest, row.observed_digest) if row else None


def _levels(connection: Connection, store: str, column) -> dict[str, int]:
    rows = connection.execute(
        select(shopfactory_levels.c.reference, column).where(
            shopfactory_levels.c.store == store, column.is_not(None)
        )
    )
    return {reference: int(level) for reference, level in rows}


def _known(connection: Connection, store: str) -> set[str]:
    query = select(stock.c.reference).where(stock.c.store == store)
    return {reference for (reference,) in connection.execute(query)}


def _cursor(connection: Connection, store: str, name: str) -> str | None:
    return connection.execute(
        select(cursors.c.value).where(
            and_(
                cursors.c.store == store,
                cursors.c.integration == INTEGRATION,
                cursors.c.name == name,
            )
        )
    ).scalar()


def _split_snapshot(value: str | None) -> tuple[int, str | None]:
    if not value:
        return 0, None
    count, _, digest = value.partition(":")
    return int(count), digest or None


def _upsert_seen(
    connection: Connection, store: str, levels: dict[str, int], before: dict[str, int]
) -> None:
    now = utc_now()
    updates = [{"b_reference": r, "b_seen": q} for r, q in levels.items() if r in before]
    inserts = [
        {"store": store, "reference": r, "seen": q, "updated_at": now}
        for r, q in levels.items()
        if r not in before
    ]
    if updates:
        connection.execute(
            update(shopfactory_levels)
            .where(
                shopfactory_levels.c.store == store,
                shopfactory_levels.c.reference == bindparam("b_reference"),
            )
            .values(seen=bindparam("b_seen"), updated_at=now),
            updates,
        )
    if inserts:
        connection.execute(shopfactory_levels.insert(), inserts)
