"""tickets.why: the scheduler's reason as facts (rule and ids), for pages to word in the reader's language

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tickets', sa.Column('why', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('tickets', 'why')
