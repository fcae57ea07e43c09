"""notification contacts and the outbox (issue 19): notify_contacts, notify_outbox, notify_cursor

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notify_contacts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('ticket_id', sa.String(length=40), nullable=True),
    sa.Column('booking_code', sa.String(length=32), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('language', sa.String(length=4), nullable=False),
    sa.Column('consent_version', sa.String(length=16), nullable=False),
    sa.Column('consent_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_notify_contacts_ticket_id'), 'notify_contacts', ['ticket_id'], unique=False)
    op.create_index(op.f('ix_notify_contacts_booking_code'), 'notify_contacts', ['booking_code'], unique=False)
    op.create_table('notify_outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('dedup_key', sa.String(length=160), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('ticket_id', sa.String(length=40), nullable=True),
    sa.Column('booking_code', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedup_key')
    )
    op.create_index('ix_notify_outbox_due', 'notify_outbox', ['status', 'next_attempt_at'], unique=False)
    op.create_table('notify_cursor',
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('office')
    )


def downgrade() -> None:
    op.drop_table('notify_cursor')
    op.drop_index('ix_notify_outbox_due', table_name='notify_outbox')
    op.drop_table('notify_outbox')
    op.drop_index(op.f('ix_notify_contacts_booking_code'), table_name='notify_contacts')
    op.drop_index(op.f('ix_notify_contacts_ticket_id'), table_name='notify_contacts')
    op.drop_table('notify_contacts')
