"""Alembic migrations of the register; run them with `hub.register.db.migrate`."""
