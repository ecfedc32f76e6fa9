"""DiscordChatExporter JSON exports (Tyrrrz/DiscordChatExporter): one channel or thread per file.

The exporter writes `guild`, `channel`, `dateRange` and `exportedAt` first, then the
`messages` array and `messageCount`. The header is read from ijson's event stream;
the bytes it consumed are then replayed in front of the rest of the file so that the
messages are streamed one at a time by ijson's C backend: memory stays flat and
parsing stays fast on exports of hundreds of MB.

Ids follow the live Discord adapter: community = guild id; channel = channel id, or
for a thread export the parent channel (`categoryId`) with `thread` = the thread's id;
member = author id, named by nickname or else user name.

Mentions are stored as the placeholder `@user` (see `bot.core.text`), whether the
export kept Discord's markup (`<@id>`) or, as DCE does by default, wrote the mentioned
person's display name (`@Carol K.`): the names of the users in `mentions` are replaced,
so people's names never become words of the text (and topics).

What is skipped (and counted in `ParseStats`): repeated message ids, messages of
deleted users and of bots, system notices (pins, calls, renames, thread notices),
message types this parser does not know, bots among reactors, and every message of
a direct-message export (those are not a community's history).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Final

import ijson
from ijson.common import ObjectBuilder

from bot.core.events import Event, MemberJoined, MessageEdited, MessagePosted, ReactionsCounted
from bot.core.text import custom_emoji, scrub_platform_markup
from bot.errors import EventInvalid, InputFileError
from bot.importers.base import ParseStats, ReplayReader

log = logging.getLogger(__name__)

PLATFORM: Final = "discord"
THREAD_KINDS: Final = frozenset({"GuildPublicThread", "GuildPrivateThread", "GuildNewsThread"})
DIRECT_KINDS: Final = frozenset({"DirectTextChat", "DirectGroupTextChat"})
POSTED_TYPES: Final = frozenset({"Default", "Reply"})
# Discord's notices: nothing a member wrote (DCE fills `content` with a fixed sentence).
SYSTEM_TYPES: Final = frozenset(
    {
        "RecipientAdd",
        "RecipientRemove",
        "Call",
        "ChannelNameChange",
        "ChannelIconChange",
        "ChannelPinnedMessage",
        "ThreadCreated",
    }
)
THREAD_CREATED_FALLBACK: Final = "Started a thread."
DELETED_USER_NAME: Final = "Deleted User"
DELETED_USER_DISCRIMINATOR: Final = "0000"

_OPEN: Final = frozenset({"start_map", "start_array"})
_CLOSE: Final = frozenset({"end_map", "end_array"})


@dataclass(frozen=True, slots=True)
class _Header:
    """Where an export's messages belong, in the live adapter's ids."""

    community: str
    community_name: str | None
    channel: str
    channel_name: str | None
    thread: str | None
    direct: bool


def _build(events: Iterator[tuple[str, str, Any]], event: str, value: Any) -> Any:
    """Build the JSON value that starts with (`event`, `value`) from the event stream."""
    builder = ObjectBuilder()
    builder.event(event, value)
    depth = 1 if event in _OPEN else 0
    if depth:
        for _, event, value in events:
            builder.event(event, value)
            if event in _OPEN:
                depth += 1
            elif event in _CLOSE:
                depth -= 1
                if depth == 0:
                    break
    return builder.value


def _id(value: object) -> str | None:
    """A platform id as a string (DCE writes strings; tolerate integers)."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _header(name: str, guild: object, channel: object) -> _Header:
    if not isinstance(guild, dict):
        raise InputFileError(name, "guild", "missing or not an object")
    if not isinstance(channel, dict):
        raise InputFileError(name, "channel", "missing or not an object")
    community = _id(guild.get("id"))
    if community is None:
        raise InputFileError(name, "guild", "missing id")
    channel_id = _id(channel.get("id"))
    if channel_id is None:
        raise InputFileError(name, "channel", "missing id")
    kind = channel.get("type")
    if kind in THREAD_KINDS:
        parent = _id(channel.get("categoryId"))
        if parent is None:
            raise InputFileError(name, "channel", "thread export without its parent (categoryId)")
        return _Header(
            community=community,
            community_name=_name(guild.get("name")),
            channel=parent,
            channel_name=_name(channel.get("category")),
            thread=channel_id,
            direct=False,
        )
    return _Header(
        community=community,
        community_name=_name(guild.get("name")),
        channel=channel_id,
        channel_name=_name(channel.get("name")),
        thread=None,
        direct=kind in DIRECT_KINDS,
    )


def _read_header(source: ReplayReader, name: str) -> _Header:
    """Read `guild` and `channel`, stopping where the `messages` array starts."""
    events = ijson.parse(source)
    parts: dict[str, Any] = {}
    for prefix, event, value in events:
        if prefix == "":
            if event in ("start_map", "map_key"):
                continue
            if event == "end_map":
                break
            raise InputFileError(name, None, "not a DiscordChatExporter export (not an object)")
        if prefix == "messages":
            if event != "start_array":
                raise InputFileError(name, "messages", "not an array")
            if "guild" not in parts or "channel" not in parts:
                raise InputFileError(name, "messages", "comes before guild and channel")
            return _header(name, parts["guild"], parts["channel"])
        if prefix in ("guild", "channel"):
            parts[prefix] = _build(events, event, value)
    raise InputFileError(name, None, "no messages array: not a DiscordChatExporter JSON export")


def _timestamp(name: str, where: str, field: str, value: object) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise InputFileError(name, where, f"missing {field}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputFileError(name, where, f"{field} is not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InputFileError(name, where, f"{field} has no UTC offset: {value!r}")
    return parsed


def _is_deleted(user: dict[str, Any]) -> bool:
    return (
        user.get("name") == DELETED_USER_NAME
        and user.get("discriminator") == DELETED_USER_DISCRIMINATOR
    )


def _people(users: object) -> tuple[list[str], int]:
    """Ids of the humans among `users` (DCE user objects), and how many bots were left out."""
    ids: list[str] = []
    bots = 0
    if not isinstance(users, list):
        return ids, bots
    for user in users:
        if not isinstance(user, dict):
            continue
        if user.get("isBot") is True:
            bots += 1
            continue
        user_id = _id(user.get("id"))
        if user_id is not None and not _is_deleted(user):
            ids.append(user_id)
    return ids, bots


def _unname_mentions(text: str, users: object) -> str:
    """`text` with `@<nickname>` and `@<name>` of each of `users` (DCE user objects) as `@user`.

    DCE renders a user mention as `@` and the display name (the `nickname` of the user
    object). Longer names are replaced first, so `@Ann Lee` is not cut to `@user Lee`
    by a mentioned `Ann`; a name only counts when no letter or digit follows it.
    """
    if "@" not in text or not isinstance(users, list):
        return text
    names = {
        name
        for user in users
        if isinstance(user, dict)
        for key in ("nickname", "name")
        if isinstance(name := user.get(key), str) and name and name != "user"
    }
    if not names:
        return text
    pattern = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.sub(rf"@(?:{pattern})(?!\w)", "@user", text)


class _Messages:
    """Turns DCE message objects into events for one export."""

    def __init__(self, name: str, header: _Header, stats: ParseStats) -> None:
        self.name = name
        self.header = header
        self.stats = stats
        self.seen: set[int | str] = set()

    def events(self, index: int, message: object) -> Iterator[Event]:
        """The events of the message at `messages[index]`, or nothing if it is skipped."""
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise InputFileError(self.name, where, "not an object")
        message_id = _id(message.get("id"))
        if message_id is None:
            raise InputFileError(self.name, where, "missing id")
        where = f"messages[{index}] (id {message_id})"
        ts = _timestamp(self.name, where, "timestamp", message.get("timestamp"))
        author = message.get("author")
        if not isinstance(author, dict) or _id(author.get("id")) is None:
            raise InputFileError(self.name, where, "missing author or author id")
        kind = message.get("type")
        if not isinstance(kind, str):
            raise InputFileError(self.name, where, "missing type")
        key: int | str = int(message_id) if message_id.isdigit() else message_id
        if key in self.seen:
            self.stats.skip("duplicate message ids")
            return
        self.seen.add(key)
        if self.header.direct:
            self.stats.skip("direct messages")
            return
        try:
            yield from self._convert(message, message_id, kind, author, ts, where)
        except EventInvalid as exc:
            raise InputFileError(self.name, where, str(exc)) from None

    def _convert(
        self,
        message: dict[str, Any],
        message_id: str,
        kind: str,
        author: dict[str, Any],
        ts: datetime,
        where: str,
    ) -> Iterator[Event]:
        if _is_deleted(author):
            self.stats.skip("messages by deleted users")
            return
        if author.get("isBot") is True:
            self.stats.skip("bot messages")
            return
        member = _id(author.get("id"))
        assert member is not None  # checked by the caller
        member_name = _name(author.get("nickname")) or _name(author.get("name"))
        header = self.header
        content = message.get("content")
        text = scrub_platform_markup(content) if isinstance(content, str) else ""
        text = _unname_mentions(text, message.get("mentions"))
        if kind == "GuildMemberJoin":
            yield MemberJoined(
                platform=PLATFORM,
                community=header.community,
                community_name=header.community_name,
                member=member,
                member_name=member_name,
                ts=ts,
            )
            return
        posted = kind in POSTED_TYPES or (
            kind == "ThreadCreated" and text.strip() not in ("", THREAD_CREATED_FALLBACK)
        )
        if not posted:
            self.stats.skip("system messages" if kind in SYSTEM_TYPES else "unknown message types")
            return
        reference = message.get("reference")
        reply_to = (
            _id(reference.get("messageId"))
            if kind == "Reply" and isinstance(reference, dict)
            else None
        )
        mentions, _ = _people(message.get("mentions"))
        yield MessagePosted(
            platform=PLATFORM,
            community=header.community,
            community_name=header.community_name,
            channel=header.channel,
            channel_name=header.channel_name,
            thread=header.thread,
            message=message_id,
            member=member,
            member_name=member_name,
            text=text,
            reply_to=reply_to,
            mentions=tuple(mentions),
            ts=ts,
        )
        edited = message.get("timestampEdited")
        if edited is not None:
            yield MessageEdited(
                platform=PLATFORM,
                community=header.community,
                channel=header.channel,
                message=message_id,
                text=text,
                ts=_timestamp(self.name, where, "timestampEdited", edited),
            )
        yield from self._reactions(message.get("reactions"), message_id, ts, where)

    def _reactions(
        self, reactions: object, message_id: str, ts: datetime, where: str
    ) -> Iterator[Event]:
        if reactions is None:
            return
        if not isinstance(reactions, list):
            raise InputFileError(self.name, where, "reactions is not an array")
        for number, reaction in enumerate(reactions):
            problem = f"reactions[{number}]"
            if not isinstance(reaction, dict) or not isinstance(reaction.get("emoji"), dict):
                raise InputFileError(self.name, where, f"{problem}: missing emoji")
            count = reaction.get("count")
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InputFileError(self.name, where, f"{problem}: count is not a count")
            emoji = reaction["emoji"]
            emoji_id = _id(emoji.get("id"))
            emoji_name = _name(emoji.get("name"))
            if emoji_id is not None:
                canonical = custom_emoji(emoji_name, emoji_id)
            elif emoji_name is not None:
                canonical = emoji_name
            else:
                raise InputFileError(self.name, where, f"{problem}: emoji has neither id nor name")
            reactors, bots = _people(reaction.get("users"))
            if bots:
                self.stats.skip("bot reactions", bots)
                count = max(count - bots, 0)
            if count == 0 and not reactors:
                continue
            yield ReactionsCounted(
                platform=PLATFORM,
                community=self.header.community,
                channel=self.header.channel,
                message=message_id,
                emoji=canonical,
                count=count,
                reactors=tuple(reactors),
                ts=ts,
            )


def parse_discord_export(stream: IO[bytes], name: str, stats: ParseStats) -> Iterator[Event]:
    """Yield the events of one DiscordChatExporter JSON export, streaming its messages."""
    source = ReplayReader(stream)
    header = _read_header(source, name)
    if header.direct:
        log.warning("%s is a direct-message export; its messages are skipped", name)
    source.rewind()
    messages = _Messages(name, header, stats)
    count = 0
    for index, message in enumerate(ijson.items(source, "messages.item", use_float=True)):
        count += 1
        yield from messages.events(index, message)
    log.debug("%s: %d messages read from %s", name, count, header.channel)
