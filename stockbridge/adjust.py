"""``stockbridge adjust --store ID REFERENCE +12 --reason delivery``: an audited manual movement.

For every integration that keeps stock (the till's articles, a cellar's items, a shop's
SKUs): the change is one ledger transaction of its own, a document named after the
reference, the quantity and the reason, noting who made it and when, so
``stockbridge movements`` shows it beside the file lines and web sales. The next run of the
store's integration publishes the new level as it would any other movement.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
from sqlalchemy import func, select

from stockbridge.errors import StockbridgeError
from stockbridge.ledger.ledger import Ledger, NewDocument, utc_now
from stockbridge.ledger.tables import documents, stock
from stockbridge.movements import Document, format_quantities, movement_table
from stockbridge.schema import MILLI, QUANTITY_SCALE, MovementKind

SOURCE = "adjust"
INTEGRATION = "adjust"
_QUANTITY = re.compile(rf"^([+-]?)([0-9]{{1,12}})(?:[.,]([0-9]{{1,{QUANTITY_SCALE}}}))?$")
KINDS = {
    "delivery": MovementKind.RECEIPT,
    "receipt": MovementKind.RECEIPT,
    "return": MovementKind.RETURN,
    "sale": MovementKind.SALE,
    "count": MovementKind.COUNT,
}
"""Reasons that name a movement kind; any other reason is an ``adjustment``."""


class AdjustError(StockbridgeError):
    """An adjustment that cannot be made as given; the message says what to do."""


@dataclass(frozen=True)
class Adjusted:
    reference: str
    quantity: int
    level: int
    """On hand after the adjustment, thousandths."""
    document: str
    who: str


def parse_quantity(text: str) -> int:
    """``+12``, ``-3``, ``2.5`` or ``2,5`` as exact thousandths (never zero)."""
    match = _QUANTITY.match(text.strip())
    if not match:
        raise AdjustError(
            f"'{text}' is not a quantity; write it like +12, -3 or 2.5 (at most"
            f" {QUANTITY_SCALE} decimals)"
        )
    sign, whole, fraction = match.groups()
    milli = int(whole) * MILLI + int((fraction or "").ljust(QUANTITY_SCALE, "0"))
    if milli == 0:
        raise AdjustError("a quantity of 0 changes nothing; give +N or -N")
    return -milli if sign == "-" else milli


def adjust(
    ledger: Ledger,
    store: str,
    reference: str,
    quantity: int,
    reason: str,
    *,
    new: bool = False,
    who: str | None = None,
) -> Adjusted:
    """Move ``reference`` by ``quantity`` thousandths in one transaction of its own."""
    reason = " ".join(reason.split())
    if not reason:
        raise AdjustError("give a --reason (delivery, count, breakage, ...): it is audited")
    who = who or _who()
    with ledger.reading() as connection:
        level = connection.execute(
            select(stock.c.on_hand).where(stock.c.store == store, stock.c.reference == reference)
        ).scalar()
        if level is None and not new:
            articles = connection.execute(
                select(func.count()).select_from(stock).where(stock.c.store == store)
            ).scalar()
            if not articles:
                raise AdjustError(
                    f"store {store} has no stock in the ledger {ledger.display}; check --store"
                    " (or --config/--ledger)"
                )
            raise AdjustError(
                f"store {store} has no article {reference}; check the reference, or add --new"
                " to open it with this quantity"
            )
    shown = format_quantities(np.array([quantity])).to_pylist()[0]
    shown = shown if shown.startswith("-") else f"+{shown}"
    command = f"adjust-{uuid.uuid4()}"
    name = f"adjust: {reference} {shown} ({reason})"[:255]
    batch_id = hashlib.sha256(f"{command}\0{name}".encode()).hexdigest()[:32]
    now = datetime.now(UTC)
    kind = KINDS.get(reason.casefold(), MovementKind.ADJUSTMENT)
    with ledger.batch(store, INTEGRATION, command) as batch:
        batch.add_documents(
            [
                NewDocument(
                    batch_id,
                    SOURCE,
                    name,
                    hashlib.sha256(name.encode()).hexdigest(),
                    status="archived",
                    note=f"reason '{reason}' by {who} at {utc_now():%Y-%m-%d %H:%M:%S} UTC",
                    occurred_at=now,
                )
            ]
        )
        batch.add_movements(
            movement_table(
                store=store,
                run_id=command,
                references=pa.array([reference], pa.string()),
                quantities=np.array([quantity], dtype=np.int64),
                kinds=pa.array([kind.value], pa.string()),
                lines=np.array([1], dtype=np.int64),
                documents=[Document(batch_id, SOURCE, name, now)],
                document_index=np.zeros(1, dtype=np.int64),
            )
        )
    return Adjusted(reference, quantity, int(level or 0) + quantity, name, who)


def adjustments_since(ledger: Ledger, store: str, since: datetime | None) -> int:
    """Manual adjustments of ``store`` made after ``since`` (all of them when None)."""
    query = (
        select(func.count())
        .select_from(documents)
        .where(documents.c.store == store, documents.c.source == SOURCE)
    )
    if since is not None:
        query = query.where(documents.c.applied_at > since)
    with ledger.reading() as connection:
        return int(connection.execute(query).scalar() or 0)


def run_command(args: argparse.Namespace, ledger: Ledger) -> int:
    """The ``adjust`` command's work: adjust, then say what the level is now."""
    try:
        done = adjust(
            ledger,
            args.store,
            args.reference,
            parse_quantity(args.quantity),
            args.reason,
            new=args.new,
        )
    finally:
        ledger.close()
    level = format_quantities(np.array([done.level])).to_pylist()[0]
    print(
        f"{done.reference}: {done.document.split(' ', 2)[2]} by {done.who}; on hand now {level}"
        f" (stockbridge movements --store {args.store} {done.reference})"
    )
    return 0


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown user"
