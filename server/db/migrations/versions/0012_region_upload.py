"""events.origin_seq (the office's own seq of an event uploaded to the region, unique per office) and
region_cursors (how far the region holds each office's log): the upward event log of issue 21

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null for every event written in this database (all of them until an office uploads here).
    op.add_column('events', sa.Column('origin_seq', sa.Integer(), nullable=True))
    op.create_index('uq_events_office_origin_seq', 'events', ['office', 'origin_seq'], unique=True)
    op.create_table('region_cursors',
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('upto', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('office')
    )


def downgrade() -> None:
    op.drop_table('region_cursors')
    op.drop_index('uq_events_office_origin_seq', table_name='events')
    op.drop_column('events', 'origin_seq')
