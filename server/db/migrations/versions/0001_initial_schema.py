"""initial schema

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('appointments',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('service', sa.String(length=40), nullable=False),
    sa.Column('slot', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('ticket_id', sa.String(length=40), nullable=True),
    sa.Column('source', sa.String(length=80), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('commands',
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('command_id', sa.String(length=80), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('office', 'command_id')
    )
    op.create_table('counter_states',
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('counter', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('operator', sa.String(length=64), nullable=True),
    sa.Column('pause_reason', sa.String(length=80), nullable=True),
    sa.Column('ticket_id', sa.String(length=40), nullable=True),
    sa.Column('rateable_ticket', sa.String(length=40), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('office', 'counter')
    )
    op.create_table('events',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('ticket_id', sa.String(length=40), nullable=True),
    sa.Column('service', sa.String(length=40), nullable=True),
    sa.Column('counter', sa.String(length=40), nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_office_at', ['office', 'at'], unique=False)
        batch_op.create_index('ix_events_ticket', ['ticket_id'], unique=False)

    op.create_table('number_counters',
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('service', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('range', sa.String(length=16), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('office', 'service', 'day', 'range')
    )
    op.create_table('ratings',
    sa.Column('ticket_id', sa.String(length=40), nullable=False),
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('service', sa.String(length=40), nullable=True),
    sa.Column('counter', sa.String(length=40), nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=True),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('ticket_id')
    )
    op.create_table('sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_table('staff',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('pin_hash', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('username')
    )
    op.create_table('tickets',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('service', sa.String(length=40), nullable=False),
    sa.Column('number_service', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('prefix', sa.String(length=4), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=4), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=40), nullable=True),
    sa.Column('appointment_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('queued_at', sa.DateTime(), nullable=True),
    sa.Column('not_before', sa.DateTime(), nullable=True),
    sa.Column('target_counter', sa.String(length=40), nullable=True),
    sa.Column('return_to', sa.String(length=40), nullable=True),
    sa.Column('return_service', sa.String(length=40), nullable=True),
    sa.Column('counter', sa.String(length=40), nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=True),
    sa.Column('called_at', sa.DateTime(), nullable=True),
    sa.Column('first_called_at', sa.DateTime(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('recalls', sa.Integer(), nullable=False),
    sa.Column('result', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('plan', sa.JSON(), nullable=True),
    sa.Column('source', sa.String(length=80), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('office', 'number_service', 'day', 'number', name='uq_ticket_number'),
    sa.UniqueConstraint('token')
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_office_status', ['office', 'status'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_office_status')

    op.drop_table('tickets')
    op.drop_table('staff')
    op.drop_table('sessions')
    op.drop_table('ratings')
    op.drop_table('number_counters')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_ticket')
        batch_op.drop_index('ix_events_office_at')

    op.drop_table('events')
    op.drop_table('counter_states')
    op.drop_table('commands')
    op.drop_table('appointments')

