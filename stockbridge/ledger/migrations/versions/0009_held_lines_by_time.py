"""Held lines found by store and time: how a journal's lines are checked against the sales
an earlier journal already brought (``stockbridge.integrations.pointex.repeats``).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_index("ix_held_lines_store_time", "held_lines", ["store", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_held_lines_store_time", table_name="held_lines")
