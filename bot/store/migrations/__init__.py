"""Alembic migrations: the one migration history for every backend."""
