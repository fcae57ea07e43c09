"""audit log, sign-in throttling, session revocation (issue 23)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved in the chain so parallel work does not fork it; filled by the change


def downgrade() -> None:
    pass
