"""outbox claims: who holds a claim, until when, and whether the send was attempted

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempted_via", sa.String(length=255), nullable=True))
    # Claims taken before this revision kept their lease in next_attempt_at; nobody
    # knows whether they were attempted, so they are treated as attempted (uncertain
    # once the lease runs out), never resent.
    op.execute(
        "UPDATE outbox SET claimed_until = next_attempt_at, attempted_at = next_attempt_at, "
        "attempted_via = 'unknown' WHERE status = 'sending'"
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("attempted_via")
        batch_op.drop_column("attempted_at")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
