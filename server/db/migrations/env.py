"""Alembic environment: runs on the connection the store hands over (see ``server.store.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from cherga.server.db.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic` run by hand: take the URL from the config
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///var/cherga.db")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
