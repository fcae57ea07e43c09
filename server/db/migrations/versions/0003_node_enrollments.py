"""node_enrollments: provisioned nodes that proved their one-time token (server.enrollment)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('node_enrollments',
    sa.Column('office', sa.String(length=40), nullable=False),
    sa.Column('node', sa.String(length=40), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('command_id', sa.String(length=80), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('office', 'node', 'token_sha256')
    )


def downgrade() -> None:
    op.drop_table('node_enrollments')
