"""MariaDB/MySQL: compare text exactly (binary collation), as SQLite and PostgreSQL do.

With the server's default collation (``utf8mb4_general_ci``) the stock table's key treated
``ABC`` and ``abc``, or ``e`` and ``é``, as one article and added their movements together.
Other databases are untouched.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"

TABLES = ("stock", "documents", "movements", "rejects", "runs", "cursors")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name not in ("mysql", "mariadb"):
        return
    # MariaDB's nopad collation also keeps trailing spaces significant; MySQL has no such name.
    collation = "utf8mb4_nopad_bin" if bind.dialect.is_mariadb else "utf8mb4_bin"
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name not in ("mysql", "mariadb"):
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4")
