"""channel_daily.anonymous_reactions: 64-bit on PostgreSQL

Exported reaction counts are each up to 2^31 - 1 and add up per channel and day,
which overflowed PostgreSQL's 32-bit integer (SQLite's integers are 64-bit already).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("channel_daily", "anonymous_reactions", type_=sa.BigInteger())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("channel_daily", "anonymous_reactions", type_=sa.Integer())
