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
    Column("source_reference", String(64)),
    Column("origin_document_id", Integer),
    Column("origin_line", Integer),
    PrimaryKeyConstraint("store", "reference", "document_id", "line"),
    sqlite_with_rowid=False,
)
"""The audit trail: every applied line, traceable to its document, line and run.

Keyed in article order, the order it is read in (migration 0003 says why). ``occurred_at``
is NULL when it is the document's own time (a file's, for InterStock): one value per file
instead of one per line, a third of the table's size. ``source_reference`` is the code the
source used when the stock is kept under another reference (a till code linked to a cellar
item); ``origin_*`` name the input line a later command applied (or reversed) under a
document of its own, such as linking that till code.
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
    Column("lines_held", Integer, nullable=False, default=0),
    Column("message", Text),
    Index("ix_runs_store_started", "store", "started_at"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("store", String(64), primary_key=True),
    Column("integration", String(32), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
"""Where an incremental source stopped (last order number, catalogue digest, ...), per
store and integration: two integrations of one store never move each other's cursor."""

held_lines = Table(
    "held_lines",
    metadata,
    Column("document_id", Integer, primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("store", String(64), nullable=False),
    Column("integration", String(32), nullable=False),
    Column("source_reference", String(64), nullable=False),
    Column("label", String(255)),
    Column("quantity", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("occurred_at", DateTime),
    Column("amount", BigInteger),
    Column("currency", String(3)),
    Column("document_number", String(64)),
    Column("status", String(16), nullable=False),
    Column("reference", String(64)),
    Index("ix_held_lines_store_code", "store", "source_reference", "status"),
    Index("ix_held_lines_store_time", "store", "occurred_at"),
)
"""Input lines as the source wrote them (a till's sale lines: code, label, ticket, amount),
in the source's own quantity. ``status`` is ``held`` (no link yet: waiting), ``applied``
(its movement is in the ledger, under ``reference``), ``ignored`` (not stock) or ``repeated``
(a sale an earlier document of the store already brought: moves nothing)."""

links = Table(
    "links",
    metadata,
    Column("store", String(64), primary_key=True),
    Column("source_reference", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("reference", String(64)),
    Column("per", Integer, nullable=False, default=1),
    Column("units_applied", BigInteger, nullable=False, default=0),
    Column("answer", String(16), nullable=False),
    Column("document_id", Integer, nullable=False),
    Column("linked_at", DateTime, nullable=False),
)
"""Which stock reference a source code stands for. ``per`` source units make one stock
unit (6 glasses a bottle); ``units_applied`` is the running total of source units applied
through the link, from which each movement's exact share of a stock unit is derived."""

items = Table(
    "items",
    metadata,
    Column("store", String(64), primary_key=True),
    Column("reference", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("vintage", Integer),
    Column("volume", String(16)),
    Column("attributes", Text),
    Column("origin", String(16), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
"""What is known of a stock reference besides its level: a cellar item's name and vintage.
``origin`` is ``catalogue`` or the answer that created it (``almost``, ``no``)."""

shopfactory_levels = Table(
    "shopfactory_levels",
    metadata,
    Column("store", String(64), primary_key=True),
    Column("reference", String(64), primary_key=True),
    Column("seen", BigInteger, nullable=False),
    Column("published", BigInteger),
    Column("target", BigInteger),
    Column("updated_at", DateTime, nullable=False),
)
"""ShopFactory, per SKU: the level the shop was last known to show (``seen``: published, or
observed since), the level last published, and the level of a publication prepared but not
yet confirmed (``target``)."""

shopfactory_publications = Table(
    "shopfactory_publications",
    metadata,
    Column("store", String(64), primary_key=True),
    Column("generation", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("observed_digest", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("location", String(500), nullable=False),
    Column("skus", Integer, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("prepared_at", DateTime, nullable=False),
    Column("published_at", DateTime),
)
"""ShopFactory: one row per stock file published. ``state`` is ``pending`` (prepared, the
write may or may not have happened), ``published`` or ``not landed`` (a run died before its
write reached the shop)."""
