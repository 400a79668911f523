"""PostgreSQL: store and reference compare bytewise (``COLLATE "C"``) in the keyed tables.

The movements and stock keys start with (store, reference). Under a database's linguistic
collation (``en_US.UTF-8``, even ``C.UTF-8``) every comparison in those B-trees goes through
the C library's ``strcoll``; under ``"C"`` it is a ``memcmp``. Measured on 1M audit rows
copied into a 1.1M-row table: 4.1 s -> 3.5 s. Bytewise is also the order the export and
Arrow sort by, and the one SQLite and MariaDB (0002) already use, so no result changes
order. Other databases are untouched.

The upgrade rewrites both keys under an exclusive lock: on a ledger shared by many stores,
runs wait for it while the movements key is rebuilt.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"

KEYED_TABLES = ("movements", "stock")


def upgrade() -> None:
    _collate('COLLATE "C"')


def downgrade() -> None:
    _collate("COLLATE pg_catalog.default")


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in KEYED_TABLES:  # each statement rebuilds the table's indexes once
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN store TYPE VARCHAR(64) {collation},"
            f" ALTER COLUMN reference TYPE VARCHAR(64) {collation}"
        )
