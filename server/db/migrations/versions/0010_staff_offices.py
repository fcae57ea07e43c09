"""staff.offices: the offices an account may act on (null: every office, a regional administrator)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Accounts made before offices had a scope keep null (every office): on a one-office server nothing changes.
    op.add_column('staff', sa.Column('offices', sa.String(length=400), nullable=True))


def downgrade() -> None:
    op.drop_column('staff', 'offices')
