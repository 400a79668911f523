"""The ledger's tables, declared once for queries; migrations/ creates and evolves them.

Quantities are integer thousandths (``BIGINT``) so that SQLite, PostgreSQL and MariaDB all
add them exactly. Times are naive UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

stock = Table(
    "stock",
    metadata,
    Column("store", String(64), primary_key=True),
    Column("reference", String(64), primary_key=True),
    Column("on_hand", BigInteger, nullable=False, default=0),
    Column("reserved", BigInteger, nullable=False, default=0),
    Column("updated_at", DateTime, nullable=False),
    sqlite_with_rowid=False,
)
"""Current level per article: what the movements add up to."""

documents = Table(
    "documents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(64), nullable=False),
    Column("integration", String(32), nullable=False),
    Column("batch_id", String(40), nullable=False),
    Column("source", String(500), nullable=False),
    Column("document", String(255), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("encoding", String(16)),
    Column("lines_applied", Integer, nullable=False, default=0),
    Column("lines_rejected", Integer, nullable=False, default=0),
    Column("run_id", String(64), nullable=False),
    Column("applied_at", DateTime, nullable=False),
    Column("occurred_at", DateTime),
    Column("archived_to", String(1000)),
    Column("error_file", String(1000)),
    Column("note", Text),
    UniqueConstraint("store", "batch_id", name="uq_documents_batch"),
    Index("ix_documents_store_status", "store", "status"),
)
"""One row per input applied (or set aside): the exactly-once record.

``status`` is ``applied`` (committed, not yet archived), ``archived`` or ``quarantined``
(could not be read as text; nothing applied). A document is identified by its name and the
SHA-256 of its bytes (together: ``batch_id``), so a file delivered again unchanged is
recognised as a duplicate.
"""

movements = Table(
    "movements",
    metadata,
    Column("document_id", Integer, nullable=False),
    Column("line", Integer, nullable=False),
    Column("store", String(64), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("occurred_at", DateTime),
    Column("amount", BigInteger),
    Column("currency", String(3)),
    Column("document_number", String(64)),
    PrimaryKeyConstraint("store", "reference", "document_id", "line"),
    sqlite_with_rowid=False,
)
"""The audit trail: every applied line, traceable to its document, line and run.

Keyed in article order, the order it is read in (migration 0003 says why). ``occurred_at``
is NULL when it is the document's own time (a file's, for InterStock): one value per file
instead of one per line, a third of the table's size.
"""

rejects = Table(
    "rejects",
    metadata,
    Column("document_id", Integer, primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("raw", Text, nullable=False),
    Column("reason", String(200), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("store", String(64), nullable=False),
    Column("integration", String(32), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("state", String(16), nullable=False),
    Column("files_applied", Integer, nullable=False, default=0),
    Column("files_duplicate", Integer, nullable=False, default=0),
    Column("files_quarantined", Integer, nullable=False, default=0),
    Column("lines_applied", Integer, nullable=False, default=0),
    Column("lines_rejected", Integer, nullable=False, default=0),
    Column("negative_references", Integer, nullable=False, default=0),
    Column("message", Text),
    Index("ix_runs_store_started", "store", "started_at"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("store", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
"""Where an incremental source stopped (last order number, catalogue digest, ...)."""
