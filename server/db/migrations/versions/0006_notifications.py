"""notification contacts and the outbox (issue 19)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved in the chain so parallel work does not fork it; filled by the change


def downgrade() -> None:
    pass
