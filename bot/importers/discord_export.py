"""DiscordChatExporter JSON exports (Tyrrrz/DiscordChatExporter): one channel or thread per file.

The exporter writes `guild`, `channel`, `dateRange` and `exportedAt` first, then the
`messages` array and `messageCount`. The file is read as ijson's basic event stream
(C backend); `guild`, `channel` and each message are built one at a time and every
other field is passed over, never deeper than `bot.importers.json_stream.MAX_DEPTH`
levels (the Telegram importer shares that code): memory stays flat on exports of
hundreds of MB and on a field we ignore that nests arrays thousands deep.

Ids follow the live Discord adapter: community = guild id; channel = channel id, or
for a thread export the parent channel (`categoryId`) with `thread` = the thread's id;
member = author id, named by nickname or else user name.

Mentions are stored as the placeholder `@user` (see `bot.domain.text`), whether the
export kept Discord's markup (`<@id>`) or, as DCE does by default, wrote the mentioned
person's display name (`@Carol K.`): the names of the users in `mentions` are replaced,
so people's names never become words of the text (and topics).

What is skipped (and counted in `ParseStats`): repeated message ids, messages of
deleted users and of bots, system notices (pins, calls, renames, thread notices),
message types this parser does not know, bots among reactors, and every message of
a direct-message export (those are not a community's history).

Older DCE versions (2.x) wrote less, and are read as long as each message still has
an id, an author id, a timestamp and a type:

* `channel` without `categoryId`/`category` (a thread export still needs its parent),
  `guild` and `channel` without names, authors without `nickname` or `isBot` (a
  missing `isBot` is a person), `content` null (empty text), `reactions[].emoji` with
  an `id` that is null, empty or absent (a Unicode emoji), no `reactions`, `reference`
  missing or holding only `messageId`;
* `type` as Discord's number (`0`, `19`, or `"20"`: DCE 2.x wrote the number of a type
  it had no name for), mapped to DCE's names; numbers without a name are skipped;
* timestamps with any number of fractional digits, `Z` or an offset. Versions that
  wrote local time without an offset are read through the message id: a Discord id
  (snowflake) holds its creation time in UTC, so the export's offset is the
  difference, rounded to a quarter hour, and applies to `timestampEdited` too
  (counted as "timestamps without offset"). A local time that does not match its id
  is an error, as is one without an offset whose id is not a snowflake;
* without `mentions`, a mention in the text is the mentioned person's name after an
  `@`: the names of the authors seen so far in the export are replaced by `@user`
  (people who never wrote in the channel cannot be recognised).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import IO, Any, Final

import ijson

from bot.domain.events import Event, MemberJoined, MessageEdited, MessagePosted, ReactionsCounted
from bot.domain.text import custom_emoji, scrub_platform_markup
from bot.errors import EventInvalid, InputFileError
from bot.importers.base import ParseStats
from bot.importers.json_stream import build, drain, skip

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
# Discord's message type numbers, as DCE names them (older versions wrote numbers).
TYPE_NAMES: Final = {
    0: "Default",
    1: "RecipientAdd",
    2: "RecipientRemove",
    3: "Call",
    4: "ChannelNameChange",
    5: "ChannelIconChange",
    6: "ChannelPinnedMessage",
    7: "GuildMemberJoin",
    18: "ThreadCreated",
    19: "Reply",
}
# A snowflake's top 42 bits are milliseconds since Discord's epoch (2015-01-01 UTC).
DISCORD_EPOCH_MS: Final = 1_420_070_400_000
SNOWFLAKE_TIME_SHIFT: Final = 22
OFFSET_STEP: Final = timedelta(minutes=15)
OFFSET_LIMIT: Final = timedelta(hours=14)
# How far a local time may be from its id's time once the offset is taken away.
SNOWFLAKE_TOLERANCE: Final = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class _Header:
    """Where an export's messages belong, in the live adapter's ids."""

    community: str
    community_name: str | None
    channel: str
    channel_name: str | None
    thread: str | None
    direct: bool


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


def _digits(text: str) -> bool:
    """Whether `text` is a non-empty run of ASCII digits (what `int()` reads as an id)."""
    return text.isascii() and text.isdigit()


def _kind(value: object) -> str | None:
    """DCE's name of a message type, also from Discord's number (`19`, `"19"`)."""
    if isinstance(value, str) and not _digits(value.strip()):
        return value
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str):
        number = int(value.strip())
    if number is None:
        return None
    return TYPE_NAMES.get(number, f"type {number}")


def _snowflake_time(message_id: str) -> datetime | None:
    """When a Discord id (snowflake) was made, in UTC; None if `message_id` is not one."""
    if not _digits(message_id) or int(message_id) >> SNOWFLAKE_TIME_SHIFT == 0:
        return None
    ms = (int(message_id) >> SNOWFLAKE_TIME_SHIFT) + DISCORD_EPOCH_MS
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _local_offset(local: datetime, message_id: str) -> timedelta | None:
    """The UTC offset of `local` (a time without offset), learnt from the message id."""
    made = _snowflake_time(message_id)
    if made is None:
        return None
    difference = local - made.replace(tzinfo=None)
    offset = OFFSET_STEP * round(difference / OFFSET_STEP)
    if abs(offset) > OFFSET_LIMIT or abs(difference - offset) > SNOWFLAKE_TOLERANCE:
        return None
    return offset


def _parse_time(name: str, where: str, field: str, value: object) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise InputFileError(name, where, f"missing {field}")
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputFileError(name, where, f"{field} is not an ISO 8601 time: {value!r}") from None


def _has_offset(time: datetime) -> bool:
    return time.tzinfo is not None and time.utcoffset() is not None


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
        # Author objects seen so far, to recognise names in text without `mentions`.
        self.authors: dict[str, dict[str, Any]] = {}

    def _timestamp(self, value: object, message_id: str, where: str) -> tuple[datetime, bool]:
        """A message's `timestamp`, aware, and whether it was local time (placed by its id)."""
        parsed = _parse_time(self.name, where, "timestamp", value)
        if _has_offset(parsed):
            return parsed, False
        offset = _local_offset(parsed, message_id)
        if offset is None:
            problem = "timestamp has no UTC offset"
            if _snowflake_time(message_id) is not None:
                problem += " and does not match the message id"
            raise InputFileError(self.name, where, f"{problem}: {value!r}")
        self.stats.skip("timestamps without offset")
        return parsed.replace(tzinfo=timezone(offset)), True

    def _edited(self, value: object, ts: datetime, local: bool, where: str) -> datetime:
        """`timestampEdited`, aware; in an export of local times, at the offset of `ts`."""
        parsed = _parse_time(self.name, where, "timestampEdited", value)
        if _has_offset(parsed):
            return parsed
        if not local:
            raise InputFileError(self.name, where, f"timestampEdited has no UTC offset: {value!r}")
        return parsed.replace(tzinfo=ts.tzinfo)

    def _text(self, content: str, mentions: object) -> str:
        """`content` with mention markup scrubbed and mentioned people's names as `@user`."""
        text = scrub_platform_markup(content)
        if mentions is None and "@" in text:
            return _unname_mentions(text, list(self.authors.values()))
        return _unname_mentions(text, mentions)

    def events(self, index: int, message: object) -> Iterator[Event]:
        """The events of the message at `messages[index]`, or nothing if it is skipped."""
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise InputFileError(self.name, where, "not an object")
        message_id = _id(message.get("id"))
        if message_id is None:
            raise InputFileError(self.name, where, "missing id")
        where = f"messages[{index}] (id {message_id})"
        ts, local = self._timestamp(message.get("timestamp"), message_id, where)
        author = message.get("author")
        if not isinstance(author, dict) or _id(author.get("id")) is None:
            raise InputFileError(self.name, where, "missing author or author id")
        kind = _kind(message.get("type"))
        if kind is None:
            raise InputFileError(self.name, where, "missing type")
        key: int | str = int(message_id) if _digits(message_id) else message_id
        if key in self.seen:
            self.stats.skip("duplicate message ids")
            return
        self.seen.add(key)
        if self.header.direct:
            self.stats.skip("direct messages")
            return
        try:
            yield from self._convert(message, message_id, kind, author, (ts, local), where)
        except EventInvalid as exc:
            raise InputFileError(self.name, where, str(exc)) from None

    def _convert(
        self,
        message: dict[str, Any],
        message_id: str,
        kind: str,
        author: dict[str, Any],
        time: tuple[datetime, bool],
        where: str,
    ) -> Iterator[Event]:
        ts, local = time
        if _is_deleted(author):
            self.stats.skip("messages by deleted users")
            return
        if author.get("isBot") is True:
            self.stats.skip("bot messages")
            return
        member = _id(author.get("id"))
        assert member is not None  # checked by the caller
        self.authors.setdefault(member, author)
        member_name = _name(author.get("nickname")) or _name(author.get("name"))
        header = self.header
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise InputFileError(self.name, where, "content is not a string")
        text = self._text(content, message.get("mentions")) if content else ""
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
                ts=self._edited(edited, ts, local, where),
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
    """Yield the events of one DiscordChatExporter JSON export, streaming its messages.

    Reads ijson's basic events (no JSON paths, whose cost grows with the square of
    the nesting) and builds one top-level field or one message at a time.
    """
    events = ijson.basic_parse(stream, use_float=True)
    first = next(events, None)
    if first is None or first[0] != "start_map":
        raise InputFileError(name, None, "not a DiscordChatExporter export (not an object)")
    parts: dict[str, Any] = {}
    count = 0
    header: _Header | None = None
    for event, key in events:
        if event == "end_map":
            break
        event, value = next(events)
        if key in ("guild", "channel"):
            parts[key] = build(events, event, value, name, key)
            continue
        if key != "messages":
            skip(events, event, name, str(key))
            continue
        if event != "start_array":
            raise InputFileError(name, "messages", "not an array")
        if "guild" not in parts or "channel" not in parts:
            raise InputFileError(name, "messages", "comes before guild and channel")
        header = _header(name, parts["guild"], parts["channel"])
        if header.direct:
            log.warning("%s is a direct-message export; its messages are skipped", name)
        messages = _Messages(name, header, stats)
        for event, value in events:
            if event == "end_array":
                break
            message = build(events, event, value, name, f"messages[{count}]")
            yield from messages.events(count, message)
            count += 1
    drain(events)  # a syntax error after the last field is still an error
    if header is None:
        raise InputFileError(name, None, "no messages array: not a DiscordChatExporter JSON export")
    log.debug("%s: %d messages read from %s", name, count, header.channel)
