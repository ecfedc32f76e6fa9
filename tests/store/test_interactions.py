"""What members did with courses: owned and dismissed courses, purchases, clicks per variant."""

from __future__ import annotations

from typing import Any

from bot.app import Cohort
from bot.store import schema as s
from bot.store.courses import upsert_courses
from bot.store.interactions import (
    dismissed_courses,
    owned_courses,
    purchase_counts,
    shown_and_clicked,
)
from bot.store.members import find_member
from tests.helpers import T0, consent, write

COURSES = ("rust-101", "go-101", "py-101")


async def _store(cohort: Cohort, *rows: tuple[str, int | None, str, str | None]) -> None:
    """The catalog, then interactions as (kind, member id, course, variant)."""
    records: list[dict[str, Any]] = [
        {
            "id": course,
            "title": course,
            "description": "",
            "tags": [],
            "level": None,
            "language": None,
            "price": None,
            "currency": None,
            "url": None,
            "active": True,
        }
        for course in COURSES
    ]
    async with cohort.store.write() as conn:
        await upsert_courses(conn, records)
        if rows:
            await conn.execute(
                s.interactions.insert(),
                [
                    {
                        "kind": kind,
                        "member_id": member,
                        "course_id": course,
                        "variant": variant,
                        "ts": T0,
                        "source": "test",
                    }
                    for kind, member, course, variant in rows
                ],
            )


async def _members(cohort: Cohort) -> tuple[int, int]:
    await write(cohort, consent("u1"), consent("u2"))
    async with cohort.store.read() as conn:
        u1 = await find_member(conn, "discord", "u1")
        u2 = await find_member(conn, "discord", "u2")
    assert u1 is not None and u2 is not None
    return u1.id, u2.id


async def test_owned_and_dismissed_courses_belong_to_the_asked_members(cohort: Cohort) -> None:
    """Purchases make a course owned, "not for me" dismissed; other members' do not count."""
    u1, u2 = await _members(cohort)
    await _store(
        cohort,
        ("purchase", u1, "rust-101", None),
        ("purchase", u1, "rust-101", None),
        ("dismiss", u1, "go-101", None),
        ("click", u1, "py-101", "promotion"),
        ("purchase", u2, "py-101", None),
    )
    async with cohort.store.read() as conn:
        assert await owned_courses(conn, [u1]) == {"rust-101"}
        assert await owned_courses(conn, [u1, u2]) == {"rust-101", "py-101"}
        assert await dismissed_courses(conn, [u1]) == {"go-101"}
        assert await dismissed_courses(conn, [u2]) == set()
        assert await owned_courses(conn, []) == set()
        assert await dismissed_courses(conn, []) == set()


async def test_purchase_counts_include_anonymous_buyers(cohort: Cohort) -> None:
    """Every purchase counts, identified or not; courses nobody bought are absent."""
    u1, u2 = await _members(cohort)
    await _store(
        cohort,
        ("purchase", u1, "rust-101", None),
        ("purchase", u2, "rust-101", None),
        ("purchase", None, "rust-101", None),
        ("purchase", None, "go-101", None),
        ("dismiss", u1, "py-101", None),
    )
    async with cohort.store.read() as conn:
        assert await purchase_counts(conn) == {"rust-101": 3, "go-101": 1}


async def test_impressions_and_clicks_are_counted_per_variant(cohort: Cohort) -> None:
    """(shown, clicked) of one variant only; a variant never shown is (0, 0)."""
    u1, u2 = await _members(cohort)
    await _store(
        cohort,
        ("impression", u1, "rust-101", "promotion"),
        ("impression", u2, "rust-101", "promotion"),
        ("click", u1, "rust-101", "promotion"),
        ("impression", None, "rust-101", "promotion:channel"),
        ("interest", u2, "rust-101", "promotion"),
    )
    async with cohort.store.read() as conn:
        assert await shown_and_clicked(conn, "promotion") == (2, 1)
        assert await shown_and_clicked(conn, "promotion:channel") == (1, 0)
        assert await shown_and_clicked(conn, "digest") == (0, 0)
