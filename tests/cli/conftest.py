"""The process tests' `database` fixture (a SQLite file, a scratch PostgreSQL database).

Commands read their database from `config.toml` and cannot pick a PostgreSQL schema,
so CLI tests that must run on PostgreSQL too use a whole scratch database.
"""

from tests.process.conftest import database  # noqa: F401  (a fixture, found by name)
