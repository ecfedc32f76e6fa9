"""Communities: looking them up by platform identity or row id, and their settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s


@dataclass(frozen=True, slots=True)
class CommunityInfo:
    """A community's row and settings."""

    id: int
    platform: str
    platform_id: str
    name: str | None
    timezone: str
    locale: str | None
    digest_cron: str | None
    digest_channel: str | None

    @property
    def ref(self) -> str:
        """`platform:id`."""
        return f"{self.platform}:{self.platform_id}"


_COMMUNITY = select(
    s.communities.c.id,
    s.communities.c.platform,
    s.communities.c.platform_id,
    s.communities.c.name,
    s.communities.c.timezone,
    s.communities.c.locale,
    s.communities.c.digest_cron,
    s.communities.c.digest_channel,
)


async def find_community(
    conn: AsyncConnection, platform: str, platform_id: str
) -> CommunityInfo | None:
    """A community by platform identity."""
    row = (
        await conn.execute(
            _COMMUNITY.where(
                s.communities.c.platform == platform, s.communities.c.platform_id == platform_id
            )
        )
    ).first()
    return None if row is None else CommunityInfo(*row)


COMMUNITY_SETTINGS = frozenset({"digest_cron", "digest_channel", "timezone", "locale"})


async def update_community(
    conn: AsyncConnection, community_id: int, changes: dict[str, Any]
) -> None:
    """Change a community's settings (only the names in `COMMUNITY_SETTINGS`)."""
    unknown = set(changes) - COMMUNITY_SETTINGS
    if unknown:
        raise ValueError(f"not a community setting: {', '.join(sorted(unknown))}")
    await conn.execute(
        update(s.communities).where(s.communities.c.id == community_id).values(**changes)
    )


async def community_by_id(conn: AsyncConnection, community_id: int) -> CommunityInfo | None:
    """A community by row id."""
    row = (await conn.execute(_COMMUNITY.where(s.communities.c.id == community_id))).first()
    return None if row is None else CommunityInfo(*row)


async def all_communities(conn: AsyncConnection) -> list[CommunityInfo]:
    """Every community."""
    return [
        CommunityInfo(*row) for row in await conn.execute(_COMMUNITY.order_by(s.communities.c.id))
    ]
