"""staff.pin_tag: find the operator a pad's PIN belongs to without trying every account

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('staff', sa.Column('pin_tag', sa.String(length=32), nullable=True))
    op.create_index('ix_staff_pin_tag', 'staff', ['pin_tag'])


def downgrade() -> None:
    op.drop_index('ix_staff_pin_tag', table_name='staff')
    op.drop_column('staff', 'pin_tag')
