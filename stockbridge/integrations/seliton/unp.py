"""The unique sale number (УНП): fiscal device, operator, a sequence per device.

``DY447824-0001-0000001``: 8 characters of the fiscal device's serial, 4 of the operator's
code, 7 digits of a sequence kept per device in the ledger (``seliton_sequences``). A number
is taken in the same transaction that assigns it to an order, so it is issued once and, the
sequence only moving forward, never reused.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, select, update

from stockbridge.errors import StockbridgeError
from stockbridge.integrations.seliton.state import seliton_sequences
from stockbridge.ledger.ledger import utc_now

PATTERN = re.compile(r"^[A-Za-z0-9]{8}-[A-Za-z0-9]{4}-[0-9]{7}$")
LAST = 9_999_999


def format_unp(device: str, operator: str, number: int) -> str:
    return f"{device}-{operator.rjust(4, '0')}-{number:07d}"


def next_number(connection: Connection, device: str) -> int:
    """The next sequence number of ``device``, taken inside the caller's transaction."""
    changed = connection.execute(
        update(seliton_sequences)
        .where(seliton_sequences.c.device == device)
        .values(last=seliton_sequences.c.last + 1, updated_at=utc_now())
    )
    if changed.rowcount == 0:
        connection.execute(
            seliton_sequences.insert().values(device=device, last=1, updated_at=utc_now())
        )
        return 1
    number = int(
        connection.execute(
            select(seliton_sequences.c.last).where(seliton_sequences.c.device == device)
        ).scalar_one()
    )
    if number > LAST:
        raise StockbridgeError(
            f"fiscal device {device} has used all {LAST:,} sale numbers; register a new"
            " device and set fiscal_device to its serial"
        )
    return number
