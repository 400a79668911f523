"""The canonical movement table: the one shape every integration maps its input into.

Quantities travel as exact decimals (``decimal128(18, 3)``: up to three decimals, enough for
weight articles) and are stored in the ledger as integer thousandths, so no float ever
touches a stock level. Everything else in stockbridge refers to the names declared here.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

QUANTITY_SCALE = 3
"""Decimal places kept for quantities and amounts."""

MILLI = 10**QUANTITY_SCALE
QUANTITY_TYPE = pa.decimal128(18, QUANTITY_SCALE)


class MovementKind(StrEnum):
    """What a movement means for the stock.

    Every kind changes *on hand* by its quantity except ``reservation`` and ``release``,
    which change *reserved* (an order not yet fulfilled), so that *available* = on hand -
    reserved is what a web shop may sell.
    """

    SALE = "sale"
    RETURN = "return"
    RECEIPT = "receipt"
    TRANSFER_IN = "transfer_in"
    TRANSFER_OUT = "transfer_out"
    ADJUSTMENT = "adjustment"
    COUNT = "count"
    ORDER = "order"
    RESERVATION = "reservation"
    RELEASE = "release"

    @property
    def changes_reserved(self) -> bool:
        return self in (MovementKind.RESERVATION, MovementKind.RELEASE)


PER_DOCUMENT = pa.dictionary(pa.int32(), pa.string())
"""Text shared by all movements of a document or a run is dictionary-encoded: a million
movements from a hundred files carry a hundred names, not a million copies of them."""

MOVEMENT_SCHEMA = pa.schema(
    [
        pa.field("store", PER_DOCUMENT, nullable=False),
        pa.field("reference", pa.string(), nullable=False),
        pa.field("quantity", QUANTITY_TYPE, nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("occurred_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("source", PER_DOCUMENT, nullable=False),
        pa.field("document", PER_DOCUMENT, nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("movement_id", pa.string(), nullable=False),
        pa.field("amount", QUANTITY_TYPE),
        pa.field("currency", pa.string()),
        pa.field("document_number", pa.string()),
        pa.field("source_reference", pa.string()),
        pa.field("batch_id", PER_DOCUMENT, nullable=False),
        pa.field("run_id", PER_DOCUMENT, nullable=False),
    ],
    metadata={
        "source": b"integration and location, never credentials",
        "document": b"file name, journal or order id",
        "line": b"1 = first physical line of the document",
        "movement_id": b"<batch_id>:<line>, deterministic from source, document and content",
        "amount": b"the source's own money figure for the line (a till's revenue), signed",
        "document_number": b"the source's number for the document (a ticket, an order)",
        "source_reference": b"the source's code when the stock is kept under another reference",
        "batch_id": b"digest of source, document name and document bytes",
    },
)
"""One row per stock movement. ``quantity`` is signed: negative leaves the stock."""

HeldStatus = ("held", "applied", "ignored", "repeated")

HELD_SCHEMA = pa.schema(
    [
        pa.field("batch_id", PER_DOCUMENT, nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("source_reference", pa.string(), nullable=False),
        pa.field("label", pa.string()),
        pa.field("quantity", QUANTITY_TYPE, nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("occurred_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("amount", QUANTITY_TYPE),
        pa.field("currency", pa.string()),
        pa.field("document_number", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("reference", pa.string()),
    ],
    metadata={
        "quantity": b"in the source's unit (a glass), before any link's ratio",
        "status": b"held (waiting for a link), applied (moved stock of reference), ignored,"
        b" repeated (a sale an earlier document already brought)",
    },
)
"""One row per source line recorded as it came (a till's sale line), whether its movement
was made (``applied``) or waits for the source code to be linked (``held``)."""

REJECT_SCHEMA = pa.schema(
    [
        pa.field("document", PER_DOCUMENT, nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)
"""One row per input line that was not applied, with the reason a person can act on."""

REJECT_RAW_LIMIT = 500
"""Raw text kept for a rejected line; longer lines are cut and marked with an ellipsis."""
