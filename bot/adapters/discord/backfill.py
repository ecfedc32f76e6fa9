"""Backfill: fetch what was posted while the bot was down or reconnecting.

On every READY (the first connect, and every reconnect whose session could not be
resumed: a resumed session replays the missed events itself), `Backfill.run` walks
each guild's readable text channels and active threads and fetches the messages
after the newest one the store holds there (`bot.store.history`), newest first and
at most `limit` per channel or thread. They are translated like live messages and
handed to the same ingest pipeline, oldest first, waiting for room rather than
dropping. The writer skips messages it already holds, so a backfill that overlaps
live ingestion, or runs twice, stores nothing twice.

A channel with nothing stored yet (no consenting member has posted there) gets its
newest `limit` messages; those the consent gate turns away only add to anonymous
counts, which are guarded against counting twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import discord

from bot.adapters.discord import translate
from bot.domain.events import Event

log = logging.getLogger(__name__)

# (channel id, thread id or None) -> the newest stored message id there.
Cursors = Mapping[tuple[str, str | None], int]
CursorSource = Callable[[str], Awaitable[Cursors]]


class BackfillSink(Protocol):
    """Where backfilled events go: the ingest pipeline, which waits for room."""

    async def submit(self, event: Event) -> bool:
        """Queue `event`, waiting while the queue is full; False if it was dropped."""
        ...


@dataclass
class BackfillReport:
    """What one backfill of a guild did."""

    channels: int = 0
    fetched: int = 0
    ingested: int = 0
    skipped_channels: int = 0
    full_channels: int = 0  # hit the limit: older missed messages were left out


Readable = discord.TextChannel | discord.Thread


def readable_places(guild: discord.Guild) -> list[Readable]:
    """The guild's text channels and active threads whose history the bot may read."""
    me: discord.Member | None = guild.me  # None until the guild is fully cached
    if me is None:
        return []
    places: list[Readable] = [*guild.text_channels, *guild.threads]
    return [
        place
        for place in places
        if (perms := place.permissions_for(me)).view_channel and perms.read_message_history
    ]


def _key(place: Readable) -> tuple[str, str | None]:
    stored = translate.place_of(place)
    return stored.channel, stored.thread


class Backfill:
    """Fetches missed messages of every guild into `sink`, after `cursors`' ids."""

    def __init__(self, sink: BackfillSink, cursors: CursorSource, *, limit: int) -> None:
        self.sink = sink
        self.cursors = cursors
        self.limit = limit

    async def run(self, guilds: list[discord.Guild]) -> dict[int, BackfillReport]:
        """Backfill each guild in turn; a guild that fails is logged and skipped."""
        reports: dict[int, BackfillReport] = {}
        if self.limit <= 0:
            return reports
        for guild in guilds:
            try:
                reports[guild.id] = await self.guild(guild)
            except Exception:
                log.exception("backfill of Discord guild %s failed", guild.id)
        return reports

    async def guild(self, guild: discord.Guild) -> BackfillReport:
        """Backfill one guild's readable channels and active threads."""
        cursors = await self.cursors(str(guild.id))
        places = readable_places(guild)
        report = BackfillReport()
        log.info("backfill %s: %d channels and threads to check", guild.name, len(places))
        for place in places:
            after = cursors.get(_key(place))
            try:
                messages = [
                    message
                    async for message in place.history(
                        limit=self.limit,
                        after=discord.Object(after) if after is not None else None,
                        oldest_first=False,
                    )
                ]
            except discord.HTTPException as exc:
                report.skipped_channels += 1
                log.warning("backfill %s #%s: skipped (%s)", guild.name, place.name, exc)
                continue
            report.channels += 1
            report.fetched += len(messages)
            if len(messages) >= self.limit:
                report.full_channels += 1
                log.warning(
                    "backfill %s #%s: more than %d missed messages; older ones left out "
                    "(raise [discord] backfill_limit to fetch more)",
                    guild.name,
                    place.name,
                    self.limit,
                )
            for message in reversed(messages):
                event = translate.message_posted(message)
                if event is not None and await self.sink.submit(event):
                    report.ingested += 1
            if messages:
                log.info(
                    "backfill %s #%s: %d messages fetched", guild.name, place.name, len(messages)
                )
        log.info(
            "backfill %s done: %d channels, %d messages fetched, %d ingested, %d skipped",
            guild.name,
            report.channels,
            report.fetched,
            report.ingested,
            report.skipped_channels,
        )
        return report
