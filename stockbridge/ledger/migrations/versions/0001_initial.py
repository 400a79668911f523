"""The first ledger: stock, documents, movements, rejects, runs, cursors.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "stock",
        sa.Column("store", sa.String(64), primary_key=True),
        sa.Column("reference", sa.String(64), primary_key=True),
        sa.Column("on_hand", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("integration", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(40), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("document", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("encoding", sa.String(16)),
        sa.Column("lines_applied", sa.Integer, nullable=False),
        sa.Column("lines_rejected", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("applied_at", sa.DateTime, nullable=False),
        sa.Column("archived_to", sa.String(1000)),
        sa.Column("error_file", sa.String(1000)),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("store", "batch_id", name="uq_documents_batch"),
    )
    op.create_table(
        "movements",
        sa.Column("document_id", sa.Integer, primary_key=True),
        sa.Column("line", sa.Integer, primary_key=True),
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("amount", sa.BigInteger),
        sa.Column("currency", sa.String(3)),
        sa.Column("document_number", sa.String(64)),
    )
    op.create_index("ix_movements_store_reference", "movements", ["store", "reference"])
    op.create_table(
        "rejects",
        sa.Column("document_id", sa.Integer, primary_key=True),
        sa.Column("line", sa.Integer, primary_key=True),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("integration", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("files_applied", sa.Integer, nullable=False),
        sa.Column("files_duplicate", sa.Integer, nullable=False),
        sa.Column("files_quarantined", sa.Integer, nullable=False),
        sa.Column("lines_applied", sa.Integer, nullable=False),
        sa.Column("lines_rejected", sa.Integer, nullable=False),
        sa.Column("negative_references", sa.Integer, nullable=False),
        sa.Column("message", sa.Text),
    )
    op.create_index("ix_runs_store_started", "runs", ["store", "started_at"])
    op.create_table(
        "cursors",
        sa.Column("store", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("cursors", "runs", "rejects", "movements", "documents", "stock"):
        op.drop_table(table)
