"""analytics_day_cells, analytics_days: the analytics aggregates, until now created by the analytics code

Revision ID: 0004
Revises: 0003

A database that code opened already has both tables (``CREATE TABLE IF NOT EXISTS`` of the same
shape); this revision keeps them and their rows, and creates only what is missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if 'analytics_day_cells' not in existing:
        op.create_table('analytics_day_cells',
        sa.Column('office', sa.String(length=40), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('cells', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('office', 'day')
        )
    if 'analytics_days' not in existing:
        op.create_table('analytics_days',
        sa.Column('office', sa.String(length=40), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('last_seq', sa.Integer(), nullable=False),
        sa.Column('pruned', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('office', 'day')
        )


def downgrade() -> None:
    op.drop_table('analytics_days')
    op.drop_table('analytics_day_cells')
