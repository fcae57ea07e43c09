"""office configuration versions edited from the administration pages (issue 18)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved in the chain so parallel work does not fork it; filled by the change


def downgrade() -> None:
    pass
