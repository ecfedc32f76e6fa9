"""Service fixtures for the report tests (the same as tests/core/services)."""

from tests.core.services.conftest import clock, services, sqlite_services

__all__ = ["clock", "services", "sqlite_services"]
