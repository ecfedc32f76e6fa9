"""Shared test helpers: event factories with sensible defaults and database helpers.

The fakes of the network edges (Telegram, Discord, delivery transports, event sinks)
are in `tests.fakes`.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.app import Cohort
from bot.domain.events import (
    ConsentChanged,
    MemberJoined,
    MessagePosted,
    PurchaseMade,
    ReactionAdded,
)
from bot.store import schema as s

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(minutes: float = 0) -> datetime:
    """T0 plus some minutes."""
    return T0 + timedelta(minutes=minutes)


def message(**overrides: Any) -> MessagePosted:
    """A message from u1 in g1/c1 unless overridden; unique id by default."""
    fields: dict[str, Any] = {
        "platform": "discord",
        "community": "g1",
        "channel": "c1",
        "message": f"m{next(_ids)}",
        "member": "u1",
        "member_name": "alice",
        "text": "I love rust and asyncio",
        "ts": T0,
    }
    fields.update(overrides)
    return MessagePosted(**fields)


def reaction(**overrides: Any) -> ReactionAdded:
    """u2 reacts 👍 to m1 in g1/c1 unless overridden."""
    fields: dict[str, Any] = {
        "platform": "discord",
        "community": "g1",
        "channel": "c1",
        "message": "m1",
        "member": "u2",
        "emoji": "👍",
        "ts": T0,
    }
    fields.update(overrides)
    return ReactionAdded(**fields)


def consent(
    member: str = "u1", profiling: bool | None = True, dm: bool | None = None, **overrides: Any
) -> ConsentChanged:
    """Member grants (or refuses) profiling in g1."""
    fields: dict[str, Any] = {
        "platform": "discord",
        "community": "g1",
        "member": member,
        "profiling": profiling,
        "dm": dm,
        "ts": T0 - timedelta(days=1),
    }
    fields.update(overrides)
    return ConsentChanged(**fields)


def join(member: str = "u1", **overrides: Any) -> MemberJoined:
    """Member joins g1."""
    fields: dict[str, Any] = {"platform": "discord", "community": "g1", "member": member, "ts": T0}
    fields.update(overrides)
    return MemberJoined(**fields)


def purchase(member: str = "u1", course: str = "rust-101", **overrides: Any) -> PurchaseMade:
    """Member buys a course."""
    fields: dict[str, Any] = {"platform": "discord", "member": member, "course": course, "ts": T0}
    fields.update(overrides)
    return PurchaseMade(**fields)


async def count(cohort: Cohort, table: Any, *where: Any) -> int:
    """Rows in `table` matching `where`."""
    async with cohort.store.read() as conn:
        query = select(func.count()).select_from(table)
        for clause in where:
            query = query.where(clause)
        return int(await conn.scalar(query) or 0)


async def table_counts(cohort: Cohort) -> dict[str, int]:
    """Row counts of every table (to check that something changed nothing)."""
    return {name: await count(cohort, table) for name, table in s.metadata.tables.items()}


async def snapshot(cohort: Cohort) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: compares whole databases before and after."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with cohort.store.read() as conn:
        for name, table in s.metadata.tables.items():
            rows = (await conn.execute(select(table))).all()
            out[name] = sorted((tuple(row) for row in rows), key=repr)
    return out


async def write(cohort: Cohort, *events: Any) -> Any:
    """Write events straight through the writer in one transaction (no pipeline)."""
    try:
        result = await cohort.store.run_write(lambda conn: cohort.writer.write(conn, list(events)))
    except BaseException:
        cohort.writer.rolled_back()
        raise
    cohort.writer.committed()
    return result


async def rows(cohort: Cohort, query: Any) -> list[Any]:
    """All rows of a query."""
    async with cohort.store.read() as conn:
        return list((await conn.execute(query)).all())
