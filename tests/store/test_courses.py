"""The catalog as the services read it: rows with their creation time, active or all."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.app import Cohort
from bot.store.courses import course_rows, upsert_courses


def course(course_id: str, *, active: bool = True, **fields: Any) -> dict[str, Any]:
    """A catalog record with empty defaults."""
    record: dict[str, Any] = {
        "id": course_id,
        "title": course_id.title(),
        "description": "",
        "tags": [],
        "level": None,
        "language": None,
        "price": None,
        "currency": None,
        "url": None,
        "active": active,
    }
    return record | fields


async def test_course_rows_are_the_active_catalog_by_id(cohort: Cohort) -> None:
    """Active courses in id order, with every column and a creation time; retired ones only
    when asked for."""
    async with cohort.store.write() as conn:
        await upsert_courses(
            conn,
            [
                course("rust-101", tags=["rust"], price=Decimal("49.00"), currency="EUR"),
                course("go-101", active=False),
                course("asyncio", url="https://example.com/asyncio"),
            ],
        )
    async with cohort.store.read() as conn:
        active = await course_rows(conn)
        everything = await course_rows(conn, active_only=False)
    assert [row["id"] for row in active] == ["asyncio", "rust-101"]
    assert [row["id"] for row in everything] == ["asyncio", "go-101", "rust-101"]
    rust = active[1]
    assert (rust["tags"], rust["price"], rust["currency"]) == (["rust"], Decimal("49.00"), "EUR")
    assert active[0]["url"] == "https://example.com/asyncio"
    assert all(row["created_at"] is not None for row in everything)
