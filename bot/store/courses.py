"""The course catalog: upserts that change nothing when nothing changed, and listings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s

COLUMNS = (
    "title",
    "description",
    "tags",
    "level",
    "language",
    "price",
    "currency",
    "url",
    "active",
)


@dataclass(frozen=True, slots=True)
class Course:
    """A course as stored."""

    id: str
    title: str
    description: str
    tags: list[str]
    level: str | None
    language: str | None
    price: Decimal | None
    currency: str | None
    url: str | None
    active: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly fields (price as a string, to keep it exact)."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "level": self.level,
            "language": self.language,
            "price": None if self.price is None else str(self.price),
            "currency": self.currency,
            "url": self.url,
            "active": self.active,
        }


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """How many catalog rows an import added, changed and left alone."""

    added: int
    updated: int
    unchanged: int


def _normalized(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))
    return value


async def upsert_courses(conn: AsyncConnection, records: list[dict[str, Any]]) -> UpsertResult:
    """Insert new courses and update changed ones; identical rows are not touched."""
    ids = [record["id"] for record in records]
    existing: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 900):
        result = await conn.execute(
            select(s.courses).where(s.courses.c.id.in_(ids[start : start + 900]))
        )
        for row in result.mappings():
            existing[row["id"]] = dict(row)
    now = datetime.now(UTC)
    added: list[dict[str, Any]] = []
    updated = unchanged = 0
    for record in records:
        old = existing.get(record["id"])
        if old is None:
            added.append({**record, "created_at": now, "updated_at": now})
            continue
        changes = {
            column: record[column]
            for column in COLUMNS
            if _normalized(old[column]) != _normalized(record[column])
        }
        if not changes:
            unchanged += 1
            continue
        await conn.execute(
            s.courses.update()
            .where(s.courses.c.id == record["id"])
            .values(**changes, updated_at=now)
        )
        updated += 1
    if added:
        await conn.execute(s.courses.insert(), added)
    return UpsertResult(added=len(added), updated=updated, unchanged=unchanged)


async def list_courses(conn: AsyncConnection, *, include_inactive: bool = False) -> list[Course]:
    """The catalog ordered by id; only active courses unless asked otherwise."""
    query = select(*(s.courses.c[name] for name in ("id", *COLUMNS))).order_by(s.courses.c.id)
    if not include_inactive:
        query = query.where(s.courses.c.active.is_(True))
    result = await conn.execute(query)
    return [Course(**row) for row in result.mappings()]


async def course_ids(conn: AsyncConnection) -> set[str]:
    """Every course id in the catalog, active or not."""
    return set((await conn.execute(select(s.courses.c.id))).scalars())


async def course_rows(conn: AsyncConnection, active_only: bool = True) -> list[dict[str, Any]]:
    """Catalog rows with their creation time (for "new courses"), ordered by id."""
    c = s.courses.c
    query = select(
        c.id,
        c.title,
        c.description,
        c.tags,
        c.level,
        c.language,
        c.price,
        c.currency,
        c.url,
        c.active,
        c.created_at,
    ).order_by(c.id)
    if active_only:
        query = query.where(c.active.is_(True))
    return [dict(row) for row in (await conn.execute(query)).mappings()]
