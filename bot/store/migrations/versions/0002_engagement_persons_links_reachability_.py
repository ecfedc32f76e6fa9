"""engagement: persons, links, reachability, digests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('persons',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_persons'))
    )
    op.create_table('link_codes',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_link_codes_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_link_codes'))
    )
    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_cron', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('digest_channel', sa.String(length=100), nullable=True))

    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_interactions_token'), ['token'], unique=False)

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('dm_unreachable_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_members_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_members_person_id_persons'), 'persons', ['person_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=16), server_default='promotion', nullable=False))
        batch_op.add_column(sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_outbox_run_id_scheduled_runs'), 'scheduled_runs', ['run_id'], ['id'], ondelete='SET NULL')




def downgrade() -> None:

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_run_id_scheduled_runs'), type_='foreignkey')
        batch_op.drop_column('run_id')
        batch_op.drop_column('purpose')

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_members_person_id_persons'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_members_person_id'))
        batch_op.drop_column('dm_unreachable_at')
        batch_op.drop_column('person_id')

    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_interactions_token'))

    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.drop_column('digest_channel')
        batch_op.drop_column('digest_cron')

    op.drop_table('link_codes')
    op.drop_table('persons')

