"""analytics_day_cells.summary: each folded day summed for the network report (issue 21)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null for the days folded before: the network report makes it from their cells on first use.
    op.add_column('analytics_day_cells', sa.Column('summary', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('analytics_day_cells', 'summary')
