"""What a promotion should expect: clicks per message so far, and a channel's topics.

Rates are smoothed so that a fresh installation (no impressions yet) still gives a
sensible figure: 5 % of promotional DMs, one click per channel post.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.interactions import shown_and_clicked
from bot.store.texts import channel_document
from recsys.text import tokenize

DIRECT_VARIANT = "promotion"
CHANNEL_VARIANT = "promotion:channel"


async def click_rate(conn: AsyncConnection) -> float:
    """Clicks per promotional DM shown so far, smoothed towards 5 %."""
    shown, clicked = await shown_and_clicked(conn, DIRECT_VARIANT)
    return (float(clicked) + 1.0) / (float(shown) + 20.0)


async def expected_channel_clicks(conn: AsyncConnection) -> float:
    """Clicks per channel post so far, smoothed towards one."""
    posts, clicks = await shown_and_clicked(conn, CHANNEL_VARIANT)
    return (float(clicks) + 1.0) / (float(posts) + 1.0)


async def channel_topics(
    conn: AsyncConnection, community_id: int, channel: str, count: int = 3
) -> list[str]:
    """The `count` terms a channel uses most (stored texts and anonymous counts)."""
    document = await channel_document(conn, community_id, channel)
    return [term for term, _ in Counter(tokenize(document)).most_common(count)]
