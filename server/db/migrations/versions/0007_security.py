"""audit log, sign-in throttling, session revocation (issue 23)

Revision ID: 0007
Revises: 0006

* ``audit_log``: append-only; triggers refuse any UPDATE, and a DELETE of a row younger than
  ``AUDIT_FLOOR_DAYS`` (retention may only take old rows), on SQLite and PostgreSQL alike.
* ``auth_throttle``: wrong passwords per account and per address (server.security.throttle).
* ``sessions.office`` / ``sessions.last_seen_at``: a token is bound to the office whose server issued
  it, and expires when idle (server.security.sessions). Older sessions have neither: they are refused,
  so everyone signs in once after the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

AUDIT_FLOOR_DAYS = 30  # server.security.audit.AUDIT_FLOOR_DAYS says the same


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('office', sa.String(length=40), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('actor_kind', sa.String(length=12), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=160), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_table('auth_throttle',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('sessions') as batch:
        batch.add_column(sa.Column('office', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('last_seen_at', sa.DateTime(), nullable=True))

    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE' THEN
                    RAISE EXCEPTION 'audit_log is append-only: UPDATE refused';
                END IF;
                IF OLD.at > (now() AT TIME ZONE 'UTC') - interval '{AUDIT_FLOOR_DAYS} days' THEN
                    RAISE EXCEPTION 'audit_log is append-only: a row younger than {AUDIT_FLOOR_DAYS} days stays';
                END IF;
                RETURN OLD;
            END $$ LANGUAGE plpgsql""")
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
    else:
        op.execute("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
                   "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END")
        op.execute("CREATE TRIGGER audit_log_no_early_delete BEFORE DELETE ON audit_log "
                   f"WHEN OLD.at > datetime('now', '-{AUDIT_FLOOR_DAYS} days') "
                   f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: a row younger than "
                   f"{AUDIT_FLOOR_DAYS} days stays'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table('sessions') as batch:
        batch.drop_column('last_seen_at')
        batch.drop_column('office')
    op.drop_table('auth_throttle')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
