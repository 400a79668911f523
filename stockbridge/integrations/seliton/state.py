"""What the ledger keeps for Seliton stores: orders and their УНП, the УНП sequences, digests.

Created by ledger migration 0007. The order -> УНП assignment is committed *before* the
order is written into Warehouse Pro, so a run killed anywhere after it finishes the same
order with the same УНП; the sequence row is advanced in that same transaction, so a number
is never issued twice, and a number once issued is never reused.

``seliton_orders.status``: ``waiting`` (a line names no known good; ``reason`` says which),
``assigned`` (has its УНП, not yet in Warehouse Pro), ``written`` (in Warehouse Pro, its
quantities reserved), ``confirmed`` (the shop has the УНП too), ``cancelled`` (cancelled on
the shop before it was imported: never written), ``released`` (turned into a sale or
cancelled in Warehouse Pro: its reservation is gone).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData()

seliton_orders = Table(
    "seliton_orders",
    metadata,
    Column("store", String(64), primary_key=True),
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("unp", String(21), unique=True),
    Column("status", String(16), nullable=False),
    Column("lines", Text, nullable=False),
    Column("reason", Text),
    Column("acct", Integer),
    Column("run_id", String(64), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
"""``lines`` is JSON: ``[[good code, thousandths, Warehouse Pro good id, price], ...]``."""

seliton_sequences = Table(
    "seliton_sequences",
    metadata,
    Column("device", String(8), primary_key=True),
    Column("last", BigInteger, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
"""The last sequence number issued per fiscal device (the third part of the УНП)."""

seliton_goods = Table(
    "seliton_goods",
    metadata,
    Column("store", String(64), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("digest", String(32), nullable=False),
    Column("exported_at", DateTime, nullable=False),
)
"""The digest of what the shop was last sent for each good: only changes are sent again."""
