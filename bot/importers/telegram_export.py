"""Telegram Desktop JSON exports (`result.json`): one chat, or a whole account.

A single-chat export is `{name, type, id, messages}`; a full-account export holds
`about`, `personal_information`, ... and the chats in `chats.list` (and
`left_chats.list`), each `{name, type, id, messages}`. The file is read as ijson's
basic event stream (C backend) by `_Reader`, which walks these few levels itself,
notes each chat's name, type and id (they come before its messages), builds one
message at a time and passes over everything else, never deeper than
`bot.importers.json_stream.MAX_DEPTH` levels (as the Discord importer does, with the
same code): memory stays bounded by one message, whatever the layout and whatever a
field we ignore holds.

Ids follow the live Bot API adapter: community = channel = the Bot API chat id
(`-100` + id for supergroups, `-id` for basic groups); member = the digits of
`from_id` (`user123` -> `123`); message = the message id. Older Telegram Desktop
versions wrote `from_id` and `actor_id` as bare integers (`123`), and `0` when the
sender is unknown: both shapes are read, and a message from `0` is skipped and
counted ("messages without a sender").

In a forum, a message whose reply_to_message_id is a topic's `topic_created`
message belongs to that topic (`thread`) and is no reply, as in the live adapter;
a reply to a topic message inherits its topic.

`date` is local time without a zone; `date_unixtime` (written since 2022) is used
when present, else `date` is taken as UTC and counted as "timestamps without zone".

A mention (`@username`, or a `mention_name` entity: a name linked to a user id) is
stored as the placeholder `@user`, as Discord mentions are (`bot.domain.text`): who was
mentioned is kept in `mentions` when the export names their id, and people's names
never become words of the text, so they are never taken for topics.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Final

import ijson

from bot.domain.events import (
    Event,
    MemberJoined,
    MemberLeft,
    MessageEdited,
    MessagePosted,
    ReactionsCounted,
)
from bot.domain.text import custom_emoji
from bot.errors import EventInvalid, InputFileError
from bot.importers.base import ParseStats
from bot.importers.json_stream import Events, build, drain, skip

log = logging.getLogger(__name__)

PLATFORM: Final = "telegram"
# Entities that name a person; their text is replaced by MENTION_PLACEHOLDER.
MENTION_ENTITIES: Final = frozenset({"mention", "mention_name"})
MENTION_PLACEHOLDER: Final = "@user"
SUPERGROUP_TYPES: Final = frozenset({"private_supergroup", "public_supergroup"})
BASIC_GROUP_TYPES: Final = frozenset({"private_group"})
SKIPPED_CHAT_TYPES: Final = frozenset(
    {"personal_chat", "bot_chat", "saved_messages", "private_channel", "public_channel"}
)
JOIN_ACTIONS: Final = frozenset({"join_group_by_link", "join_group_by_request"})
# The Bot API's id of a supergroup is -(10^12 + its id in MTProto and in exports).
SUPERGROUP_OFFSET: Final = 1_000_000_000_000
# Where a full-account export keeps its chats (each section's `list`).
CHAT_SECTIONS: Final = frozenset({"chats", "left_chats"})


def bot_api_chat_id(chat_type: str, exported_id: int) -> str:
    """The Bot API chat id of a group chat from its type and id in an export."""
    if chat_type in SUPERGROUP_TYPES:
        return str(-(SUPERGROUP_OFFSET + exported_id))
    return str(-exported_id)


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


@dataclass(slots=True)
class _Chat:
    """One chat of the export, as far as it has been read."""

    path: str  # "" for a single-chat export, else e.g. "chats.list[2]"
    name: str | None = None
    type: str | None = None
    id: int | None = None
    community: str | None = None

    def where(self, index: int, message_id: str | None = None) -> str:
        """The JSON path of this chat's `index`-th message, with its id when known."""
        path = f"{self.path}.messages[{index}]" if self.path else f"messages[{index}]"
        return f"{path} (id {message_id})" if message_id else path


@dataclass(slots=True)
class _ChatState:
    """What one chat's earlier messages taught: ids seen, and display names to ids."""

    seen: set[int] = field(default_factory=set)
    names: dict[str, str | None] = field(default_factory=dict)
    topics: set[int] = field(default_factory=set)  # ids of `topic_created` messages
    threads: dict[int, str] = field(default_factory=dict)  # message id -> its forum topic

    def place(self, message_id: int, reply: int | None) -> tuple[str | None, str | None]:
        """(reply_to, thread) of a message that names `reply` as its reply_to_message_id.

        In a forum every topic message "replies" to the topic's creation message; that
        makes it a message of the topic, not a reply (as the live adapter stores it).
        A reply to a topic message belongs to the same topic.
        """
        if reply is None:
            return None, None
        if reply in self.topics:
            thread: str | None = str(reply)
            reply_to = None
        else:
            thread = self.threads.get(reply)
            reply_to = str(reply)
        if thread is not None:
            self.threads[message_id] = thread
        return reply_to, thread

    def learn(self, name: object, member: str | None) -> None:
        """Remember that `name` belongs to `member` (a name used by two people is dropped)."""
        if not isinstance(name, str) or not name or member is None:
            return
        known = self.names.get(name, member)
        self.names[name] = member if known == member else None

    def resolve(self, name: object) -> str | None:
        """The member id a display name belongs to, if known and unambiguous."""
        return self.names.get(name) if isinstance(name, str) else None


def _user(value: object) -> str | None:
    """The member id in a `from_id`/`actor_id` (`user123` -> `123`); None if not a user."""
    if isinstance(value, str):
        return value[4:] if value.startswith("user") and value[4:].isdigit() else None
    number = _int(value)  # old exports wrote a bare number
    return str(number) if number is not None and number > 0 else None


def _text(value: object) -> tuple[str, list[dict[str, Any]]]:
    """The plain text of `text` (a string or a list of strings and entities) and its entities.

    Mentions become `@user` (see the module docstring).
    """
    if value is None:
        return "", []
    if isinstance(value, str):
        return value, []
    if not isinstance(value, list):
        raise EventInvalid("text: neither a string nor a list")
    parts: list[str] = []
    entities: list[dict[str, Any]] = []
    for part in value:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            entities.append(part)
            text = part.get("text")
            if part.get("type") in MENTION_ENTITIES:
                parts.append(MENTION_PLACEHOLDER)
            elif isinstance(text, str):
                parts.append(text)
        else:
            raise EventInvalid("text: an item is neither a string nor an entity")
    return "".join(parts), entities


def _mentions(*entity_lists: object) -> tuple[str, ...]:
    mentioned: list[str] = []
    for entities in entity_lists:
        if not isinstance(entities, list):
            continue
        for entity in entities:
            if isinstance(entity, dict) and entity.get("type") == "mention_name":
                user_id = _int(entity.get("user_id"))
                if user_id is not None and user_id > 0:
                    mentioned.append(str(user_id))
    return tuple(dict.fromkeys(mentioned))


class _Messages:
    """Turns Telegram Desktop message objects into events."""

    def __init__(self, name: str, stats: ParseStats) -> None:
        self.name = name
        self.stats = stats

    def _time(self, message: dict[str, Any], key: str, where: str) -> datetime | None:
        unix = message.get(f"{key}_unixtime")
        if unix is not None:
            seconds = _int(unix)
            if seconds is None:
                raise InputFileError(self.name, where, f"{key}_unixtime is not a number: {unix!r}")
            return datetime.fromtimestamp(seconds, UTC)
        raw = message.get(key)
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise InputFileError(self.name, where, f"{key} is not a string")
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise InputFileError(
                self.name, where, f"{key} is not an ISO 8601 time: {raw!r}"
            ) from None
        if parsed.tzinfo is None:
            self.stats.skip("timestamps without zone")
            return parsed.replace(tzinfo=UTC)
        return parsed

    def events(
        self, chat: _Chat, state: _ChatState, index: int, message: object
    ) -> Iterator[Event]:
        """The events of the chat's `index`-th message, or nothing if it is skipped."""
        where = chat.where(index)
        if not isinstance(message, dict):
            raise InputFileError(self.name, where, "not an object")
        message_id = _int(message.get("id"))
        if message_id is None:
            raise InputFileError(self.name, where, "missing id")
        where = chat.where(index, str(message_id))
        kind = message.get("type")
        if kind == "unsupported":  # written as {id, type} only
            self.stats.skip("unsupported messages")
            return
        ts = self._time(message, "date", where)
        if ts is None:
            raise InputFileError(self.name, where, "missing date")
        if message_id in state.seen:
            self.stats.skip("duplicate message ids")
            return
        state.seen.add(message_id)
        try:
            if kind == "message":
                yield from self._message(chat, state, message, str(message_id), ts, where)
            elif kind == "service":
                yield from self._service(chat, state, message, ts)
            else:
                self.stats.skip("unknown message types")
        except EventInvalid as exc:
            raise InputFileError(self.name, where, str(exc)) from None

    def _message(
        self,
        chat: _Chat,
        state: _ChatState,
        message: dict[str, Any],
        message_id: str,
        ts: datetime,
        where: str,
    ) -> Iterator[Event]:
        assert chat.community is not None
        raw_from = message.get("from_id")
        if raw_from is None:
            raise InputFileError(self.name, where, "missing from_id")
        member = _user(raw_from)
        if member is None:
            if _int(raw_from) == 0:  # older exports: the sender is unknown (deleted, anonymous)
                self.stats.skip("messages without a sender")
                return
            if isinstance(raw_from, str) and raw_from.startswith(("channel", "chat")):
                self.stats.skip("channel posts")  # sent on behalf of a channel or the group
                return
            raise InputFileError(self.name, where, f"from_id is not a user: {raw_from!r}")
        member_name = message.get("from")
        state.learn(member_name, member)
        text, entities = _text(message.get("text"))
        reply = _int(message.get("reply_to_message_id"))
        if "reply_to_peer_id" in message:
            reply = None  # a reply to a message of another chat: its id means nothing here
        reply_to, thread = state.place(int(message_id), reply)
        yield MessagePosted(
            platform=PLATFORM,
            community=chat.community,
            community_name=chat.name,
            channel=chat.community,
            channel_name=chat.name,
            message=message_id,
            member=member,
            member_name=member_name if isinstance(member_name, str) else None,
            text=text,
            reply_to=reply_to,
            thread=thread,
            mentions=_mentions(entities, message.get("text_entities")),
            ts=ts,
        )
        edited = self._time(message, "edited", where)
        if edited is not None:
            yield MessageEdited(
                platform=PLATFORM,
                community=chat.community,
                channel=chat.community,
                message=message_id,
                text=text,
                ts=edited,
            )
        yield from self._reactions(chat, message.get("reactions"), message_id, ts, where)

    def _reactions(
        self, chat: _Chat, reactions: object, message_id: str, ts: datetime, where: str
    ) -> Iterator[Event]:
        assert chat.community is not None
        if reactions is None:
            return
        if not isinstance(reactions, list):
            raise InputFileError(self.name, where, "reactions is not an array")
        for number, reaction in enumerate(reactions):
            problem = f"reactions[{number}]"
            if not isinstance(reaction, dict):
                raise InputFileError(self.name, where, f"{problem}: not an object")
            kind = reaction.get("type")
            if kind == "paid":
                self.stats.skip("paid reactions")
                continue
            count = reaction.get("count")
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InputFileError(self.name, where, f"{problem}: count is not a count")
            if kind == "emoji":
                emoji = reaction.get("emoji")
                if not isinstance(emoji, str) or not emoji:
                    raise InputFileError(self.name, where, f"{problem}: missing emoji")
            elif kind == "custom_emoji":
                document = reaction.get("document_id")
                if _int(document) is None:
                    raise InputFileError(self.name, where, f"{problem}: missing document_id")
                emoji = custom_emoji("custom", str(document).strip())
            else:
                self.stats.skip("unknown reaction types")
                continue
            reactors: list[str] = []
            recent = reaction.get("recent")
            for entry in recent if isinstance(recent, list) else ():
                if isinstance(entry, dict):
                    reactor = _user(entry.get("from_id"))
                    if reactor is not None:
                        reactors.append(reactor)
            if count == 0 and not reactors:
                continue
            yield ReactionsCounted(
                platform=PLATFORM,
                community=chat.community,
                channel=chat.community,
                message=message_id,
                emoji=emoji,
                count=count,
                reactors=tuple(reactors),
                ts=ts,
            )

    def _service(
        self, chat: _Chat, state: _ChatState, message: dict[str, Any], ts: datetime
    ) -> Iterator[Event]:
        assert chat.community is not None
        actor = _user(message.get("actor_id"))
        actor_name = message.get("actor")
        state.learn(actor_name, actor)
        action = message.get("action")
        if action == "topic_created":
            message_id = _int(message.get("id"))
            assert message_id is not None  # checked by the caller
            state.topics.add(message_id)
        common: dict[str, Any] = {
            "platform": PLATFORM,
            "community": chat.community,
            "community_name": chat.name,
            "ts": ts,
        }
        if action in JOIN_ACTIONS:
            if actor is None:
                self.stats.skip("unresolved names")
                return
            name = actor_name if isinstance(actor_name, str) else None
            yield MemberJoined(member=actor, member_name=name, **common)
        elif action in ("invite_members", "remove_members"):
            members = message.get("members")
            for member_name in members if isinstance(members, list) else ():
                member = state.resolve(member_name)
                if member is None:
                    self.stats.skip("unresolved names")
                elif action == "invite_members":
                    yield MemberJoined(member=member, member_name=member_name, **common)
                else:
                    yield MemberLeft(member=member, **common)
        else:
            self.stats.skip("other service messages")


class _Reader:
    """Walks a Telegram Desktop export's event stream: chats, their headers, their messages."""

    def __init__(self, name: str, stats: ParseStats, events: Events) -> None:
        self.name = name
        self.stats = stats
        self.events = events
        self.messages = _Messages(name, stats)
        self.chats_seen = 0

    def chat(self, chat: _Chat, *, sections: bool = False) -> Iterator[Event]:
        """The events of the chat object whose `start_map` was just read, to its end.

        With `sections` (the document itself) `chats` and `left_chats` are followed
        into their lists of chats.
        """
        events = self.events
        for event, key in events:
            if event == "end_map":
                return
            event, value = next(events)
            where = f"{chat.path}.{key}" if chat.path else str(key)
            if key == "messages":
                yield from self._messages(chat, event, where)
            elif key in ("name", "type", "id"):
                value = build(events, event, value, self.name, where)
                if key == "id":
                    chat.id = _int(value)
                elif key == "name":
                    chat.name = value if isinstance(value, str) else None
                else:
                    chat.type = value if isinstance(value, str) else None
            elif sections and key in CHAT_SECTIONS and event == "start_map":
                yield from self._section(str(key))
            else:
                skip(events, event, self.name, where)

    def _section(self, section: str) -> Iterator[Event]:
        """The chats of `chats` or `left_chats` (`{about, list}`), one by one."""
        events = self.events
        for event, key in events:
            if event == "end_map":
                return
            event, _ = next(events)
            if key != "list" or event != "start_array":
                skip(events, event, self.name, f"{section}.{key}")
                continue
            for index, (event, _) in enumerate(events):
                if event == "end_array":
                    break
                path = f"{section}.list[{index}]"
                if event == "start_map":
                    yield from self.chat(_Chat(path=path))
                else:
                    skip(events, event, self.name, path)

    def _start(self, chat: _Chat) -> bool:
        """Decide, where the chat's messages start, whether they are imported."""
        self.chats_seen += 1
        where = chat.path or None
        if chat.type is None:
            raise InputFileError(self.name, where, "chat type missing before its messages")
        if chat.type in SUPERGROUP_TYPES or chat.type in BASIC_GROUP_TYPES:
            if chat.id is None or chat.id <= 0:
                raise InputFileError(self.name, where, "chat id missing before its messages")
            chat.community = bot_api_chat_id(chat.type, chat.id)
            return True
        if chat.type in SKIPPED_CHAT_TYPES:
            self.stats.skip(f"{chat.type} chats")
        else:
            self.stats.skip("chats of unknown type")
        return False

    def _messages(self, chat: _Chat, event: str, where: str) -> Iterator[Event]:
        """The events of a chat's `messages` array, built one message at a time."""
        events = self.events
        if event != "start_array":
            skip(events, event, self.name, where)
            raise InputFileError(self.name, where, "not an array")
        wanted = self._start(chat)
        state = _ChatState()
        for index, (event, value) in enumerate(events):
            if event == "end_array":
                break
            if not wanted:
                skip(events, event, self.name, chat.where(index))
            else:
                message = build(events, event, value, self.name, chat.where(index))
                yield from self.messages.events(chat, state, index, message)


def parse_telegram_export(stream: IO[bytes], name: str, stats: ParseStats) -> Iterator[Event]:
    """Yield the events of a Telegram Desktop `result.json`, chat by chat, streaming.

    Reads ijson's basic events (no JSON paths, whose cost grows with the square of
    the nesting) and builds one message at a time.
    """
    events = ijson.basic_parse(stream, use_float=True)
    first = next(events, None)
    reader = _Reader(name, stats, events)
    if first is not None and first[0] == "start_map":
        yield from reader.chat(_Chat(path=""), sections=True)
    elif first is not None:
        skip(events, first[0], name, None)
    drain(events)  # a syntax error after the last chat is still an error
    if reader.chats_seen == 0:
        raise InputFileError(name, None, "no messages or chats: not a Telegram Desktop export")
    log.debug("%s: %d chats read", name, reader.chats_seen)
