"""ShopFactory: what the shop was last seen showing, and what stockbridge published to it.

* ``shopfactory_levels``: per (store, SKU) the level the shop was last known to show
  (``seen``: what was last published, or observed since), the level last published, and
  ``target``, the level of a publication prepared but not yet confirmed (a run killed
  between preparing and confirming leaves it; the next run decides whether it landed).
* ``shopfactory_publications``: one row per stock file published (its generation, the
  digest of the bytes written, the snapshot it was computed over, its state).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


TABLES = ("shopfactory_levels", "shopfactory_publications")


def upgrade() -> None:
    op.create_table(
        "shopfactory_levels",
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("seen", sa.BigInteger, nullable=False),
        sa.Column("published", sa.BigInteger),
        sa.Column("target", sa.BigInteger),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("store", "reference"),
    )
    op.create_table(
        "shopfactory_publications",
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("observed_digest", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("location", sa.String(500), nullable=False),
        sa.Column("skus", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("prepared_at", sa.DateTime, nullable=False),
        sa.Column("published_at", sa.DateTime),
        sa.PrimaryKeyConstraint("store", "generation"),
    )
    bind = op.get_bind()
    if bind.dialect.name in ("mysql", "mariadb"):  # exact keys, as revision 0002 says why
        collation = "utf8mb4_nopad_bin" if bind.dialect.is_mariadb else "utf8mb4_bin"
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}")
    elif bind.dialect.name == "postgresql":  # bytewise, as revision 0004 says why
        op.execute(
            'ALTER TABLE shopfactory_levels ALTER COLUMN store TYPE VARCHAR(64) COLLATE "C",'
            ' ALTER COLUMN reference TYPE VARCHAR(64) COLLATE "C"'
        )


def downgrade() -> None:
    op.drop_table("shopfactory_publications")
    op.drop_table("shopfactory_levels")
