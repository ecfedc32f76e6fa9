"""Storage: SQLAlchemy Core over SQLite (aiosqlite) or PostgreSQL (asyncpg)."""
