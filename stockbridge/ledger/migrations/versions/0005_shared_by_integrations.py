"""The ledger shared by every integration: held lines, links, items, cursors per integration.

* ``movements`` gain ``source_reference`` (the code on the source's side when the stock is
  kept under another reference: a till code linked to a cellar item) and ``origin_document_id``
  / ``origin_line`` (the input line a movement was made for, when a later command, such as
  linking a till code, applied it under a document of its own).
* ``held_lines``: input lines recorded as they came (a till's sale lines with label, ticket
  and amount), whether their movement could be made yet or is held until a link exists.
* ``links``: which source code stands for which stock reference, with the glasses-per-bottle
  ratio and the exact running total that keeps glass sales to whole bottles.
* ``items``: what the ledger knows of a stock reference besides its level (name, vintage),
  for integrations whose catalogue has more than a reference, and for items created by hand.
* ``cursors`` and ``runs``: cursors are keyed by (store, integration, name), so two
  integrations of one store never share one; runs count held lines.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

NEW_TABLES = ("held_lines", "links", "items", "cursors")


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("movements", sa.Column("source_reference", sa.String(64)))
    op.add_column("movements", sa.Column("origin_document_id", sa.Integer))
    op.add_column("movements", sa.Column("origin_line", sa.Integer))
    op.add_column("runs", sa.Column("lines_held", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "held_lines",
        sa.Column("document_id", sa.Integer, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("integration", sa.String(32), nullable=False),
        sa.Column("source_reference", sa.String(64), nullable=False),
        sa.Column("label", sa.String(255)),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime),
        sa.Column("amount", sa.BigInteger),
        sa.Column("currency", sa.String(3)),
        sa.Column("document_number", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(64)),
        sa.PrimaryKeyConstraint("document_id", "line"),
    )
    op.create_index(
        "ix_held_lines_store_code", "held_lines", ["store", "source_reference", "status"]
    )
    op.create_table(
        "links",
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("source_reference", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(64)),
        sa.Column("per", sa.Integer, nullable=False, server_default="1"),
        sa.Column("units_applied", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("answer", sa.String(16), nullable=False),
        sa.Column("document_id", sa.Integer, nullable=False),
        sa.Column("linked_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("store", "source_reference"),
    )
    op.create_table(
        "items",
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("vintage", sa.Integer),
        sa.Column("volume", sa.String(16)),
        sa.Column("attributes", sa.Text),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("store", "reference"),
    )
    op.create_table(
        "cursors_by_integration",
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("integration", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("store", "integration", "name"),
    )
    # Every cursor so far is InterStock's: it was the only integration.
    op.execute(
        "INSERT INTO cursors_by_integration (store, integration, name, value, updated_at)"
        " SELECT store, 'interstock', name, value, updated_at FROM cursors"
    )
    op.drop_table("cursors")
    op.rename_table("cursors_by_integration", "cursors")
    _exact_text(bind)


def downgrade() -> None:
    op.create_table(
        "cursors_by_store",
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("store", "name"),
    )
    op.execute(
        "INSERT INTO cursors_by_store (store, name, value, updated_at)"
        " SELECT store, name, value, updated_at FROM cursors WHERE integration = 'interstock'"
    )
    op.drop_table("cursors")
    op.rename_table("cursors_by_store", "cursors")
    op.drop_table("items")
    op.drop_table("links")
    op.drop_index("ix_held_lines_store_code", table_name="held_lines")
    op.drop_table("held_lines")
    op.drop_column("runs", "lines_held")  # SQLite >= 3.35 drops columns in place
    for column in ("origin_line", "origin_document_id", "source_reference"):
        op.drop_column("movements", column)
    _exact_text(op.get_bind(), ("cursors",))


def _exact_text(bind, tables: tuple[str, ...] = NEW_TABLES) -> None:
    """MariaDB/MySQL compare the new tables' text exactly, as 0002 made the others do."""
    if bind.dialect.name not in ("mysql", "mariadb"):
        return
    collation = "utf8mb4_nopad_bin" if bind.dialect.is_mariadb else "utf8mb4_bin"
    for table in tables:
        op.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}")
