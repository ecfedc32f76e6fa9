"""Service fixtures for every test under tests/core (defined in tests/core/services)."""

from tests.core.services.conftest import clock, cohort_with, services, sqlite_services

__all__ = ["clock", "cohort_with", "services", "sqlite_services"]
