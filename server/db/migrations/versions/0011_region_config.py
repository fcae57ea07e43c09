"""region_config_pushes (the region's per-office push versions) and region_config_applied (what an
office took from the region): the downward configuration of issue 21

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('region_config_pushes',
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('pushed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('office')
    )
    op.create_table('region_config_applied',
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('applied_at', sa.DateTime(), nullable=False),
    sa.Column('config_version', sa.Integer(), nullable=True),
    sa.Column('staff', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('office')
    )


def downgrade() -> None:
    op.drop_table('region_config_applied')
    op.drop_table('region_config_pushes')
