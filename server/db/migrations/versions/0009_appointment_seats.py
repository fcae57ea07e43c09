"""appointments.seat: the place of its slot a booking holds, unique among held places (no overbooking by two processes)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_HELD = "status IN ('booked', 'checked_in')"


def upgrade() -> None:
    op.add_column('appointments', sa.Column('seat', sa.Integer(), nullable=True))
    # Bookings made before seats existed keep seat NULL: NULLs never clash in a unique index.
    op.create_index('appointments_seat', 'appointments', ['office', 'service', 'slot', 'seat'], unique=True,
                    sqlite_where=sa.text(_HELD), postgresql_where=sa.text(_HELD))


def downgrade() -> None:
    op.drop_index('appointments_seat', table_name='appointments')
    op.drop_column('appointments', 'seat')
