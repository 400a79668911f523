"""Seliton stores: imported orders with their УНП, УНП sequences per fiscal device, digests.

* ``seliton_orders``: one row per shop order seen, its УНП (unique across the ledger), its
  state and its lines (what it reserves).
* ``seliton_sequences``: the last УНП sequence number issued per fiscal device.
* ``seliton_goods``: the digest of what each good looked like when last sent to the shop.

Revision ID: 0007
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"

TABLES = ("seliton_orders", "seliton_sequences", "seliton_goods")


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "seliton_orders",
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("order_id", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("unp", sa.String(21)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lines", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("acct", sa.Integer),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("store", "order_id"),
        sa.UniqueConstraint("unp", name="uq_seliton_orders_unp"),
    )
    op.create_table(
        "seliton_sequences",
        sa.Column("device", sa.String(8), primary_key=True),
        sa.Column("last", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "seliton_goods",
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.Column("exported_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("store", "code"),
    )
    if bind.dialect.name in ("mysql", "mariadb"):  # exact keys, as migration 0002 says why
        collation = "utf8mb4_nopad_bin" if bind.dialect.is_mariadb else "utf8mb4_bin"
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
