"""The store's schema and its Alembic migrations (run automatically when a store opens)."""
