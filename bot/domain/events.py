"""Platform-neutral events: what adapters and importers hand to the core.

Every event is a frozen dataclass validated on construction, so an event that
exists is valid; `ingest()` only has to check its type. Ids are the platform's
own ids as strings (Discord snowflakes, Telegram chat/user/message ids); `ts` is
always timezone-aware UTC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Final

from bot.errors import EventInvalid

PLATFORMS: Final = ("discord", "telegram")
MAX_TEXT = 100_000
MAX_ID = 100
MAX_NAME = 200
MAX_EMOJI = 100
MAX_COUNT = 2**31 - 1  # reaction counts are 32-bit integers in the store
MAX_AMOUNT = 9_999_999_999.99  # amounts are NUMERIC(12, 2) in the store
BUTTON_ACTIONS: Final = ("interest", "dismiss", "click")


def _fail(event: object, field_name: str, problem: str) -> EventInvalid:
    return EventInvalid(f"{type(event).__name__}.{field_name}: {problem}")


def _check_id(event: object, name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise _fail(event, name, "must be a non-empty string")
    if len(value) > MAX_ID:
        raise _fail(event, name, f"longer than {MAX_ID} characters")
    if "\x00" in value or value != value.strip():
        raise _fail(event, name, "contains NUL or surrounding spaces")


def _clean_text(value: str) -> str:
    # PostgreSQL rejects NUL in text; platforms never show it.
    return value.replace("\x00", "") if "\x00" in value else value


def _set(event: object, name: str, value: object) -> None:
    object.__setattr__(event, name, value)


def _id_tuple(event: object, name: str, value: object) -> tuple[str, ...]:
    """Callers may pass any sequence of ids; events hold tuples."""
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise _fail(event, name, "must be a list of ids")
    return tuple(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events: which platform, and when it happened (aware, stored in UTC)."""

    kind: ClassVar[str] = "event"

    platform: str
    ts: datetime

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise _fail(self, "platform", f"must be one of {', '.join(PLATFORMS)}")
        if not isinstance(self.ts, datetime):
            raise _fail(self, "ts", "must be a datetime")
        if self.ts.tzinfo is None or self.ts.utcoffset() is None:
            raise _fail(self, "ts", "must be timezone-aware")
        if self.ts.tzinfo is not UTC:
            _set(self, "ts", self.ts.astimezone(UTC))
        self._check()

    def _check(self) -> None:
        """Validate the subclass's own fields (hook; no `super()` in slotted dataclasses)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommunityEvent(Event):
    """An event inside one community (a Discord guild or a Telegram group)."""

    community: str
    community_name: str | None = None

    def _check(self) -> None:
        _check_id(self, "community", self.community)
        _check_name(self, "community_name", self.community_name)
        self._check_own()

    def _check_own(self) -> None:
        """Validate fields of the concrete event."""


def _check_name(event: object, name: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _fail(event, name, "must be a string")
    cleaned = _clean_text(value).strip()[:MAX_NAME]
    _set(event, name, cleaned or None)


def _check_text(event: object, name: str, value: object) -> None:
    if not isinstance(value, str):
        raise _fail(event, name, "must be a string")
    if len(value) > MAX_TEXT:
        raise _fail(event, name, f"longer than {MAX_TEXT} characters")
    if "\x00" in value:
        _set(event, name, _clean_text(value))


def _check_emoji(event: object, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _fail(event, "emoji", "must be a non-empty string")
    if len(value) > MAX_EMOJI:
        raise _fail(event, "emoji", f"longer than {MAX_EMOJI} characters")
    if "\x00" in value:
        raise _fail(event, "emoji", "contains a NUL character")


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagePosted(CommunityEvent):
    """A member posted a message in a channel (optionally a reply, in a thread, with mentions)."""

    kind: ClassVar[str] = "message"

    channel: str
    message: str
    member: str
    text: str
    member_name: str | None = None
    channel_name: str | None = None
    reply_to: str | None = None
    thread: str | None = None
    mentions: tuple[str, ...] = ()

    def _check_own(self) -> None:
        _check_id(self, "channel", self.channel)
        _check_id(self, "message", self.message)
        _check_id(self, "member", self.member)
        _check_id(self, "reply_to", self.reply_to, optional=True)
        _check_id(self, "thread", self.thread, optional=True)
        _check_text(self, "text", self.text)
        _check_name(self, "member_name", self.member_name)
        _check_name(self, "channel_name", self.channel_name)
        _set(self, "mentions", _id_tuple(self, "mentions", self.mentions))
        for mentioned in self.mentions:
            _check_id(self, "mentions", mentioned)
        if len(set(self.mentions)) != len(self.mentions) or self.member in self.mentions:
            _set(
                self,
                "mentions",
                tuple(dict.fromkeys(m for m in self.mentions if m != self.member)),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEdited(CommunityEvent):
    """A message's text changed."""

    kind: ClassVar[str] = "edit"

    channel: str
    message: str
    text: str

    def _check_own(self) -> None:
        _check_id(self, "channel", self.channel)
        _check_id(self, "message", self.message)
        _check_text(self, "text", self.text)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeleted(CommunityEvent):
    """A message was deleted; its text is dropped, the fact that it existed is kept."""

    kind: ClassVar[str] = "delete"

    channel: str
    message: str

    def _check_own(self) -> None:
        _check_id(self, "channel", self.channel)
        _check_id(self, "message", self.message)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionAdded(CommunityEvent):
    """A member reacted to a message with an emoji."""

    kind: ClassVar[str] = "reaction"

    channel: str
    message: str
    member: str
    emoji: str
    member_name: str | None = None

    def _check_own(self) -> None:
        _check_id(self, "channel", self.channel)
        _check_id(self, "message", self.message)
        _check_id(self, "member", self.member)
        _check_emoji(self, self.emoji)
        _check_name(self, "member_name", self.member_name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionRemoved(CommunityEvent):
    """A member took back a reaction."""

    kind: ClassVar[str] = "unreaction"

    channel: str
    message: str
    member: str
    emoji: str

    def _check_own(self) -> None:
        _check_id(self, "channel", self.channel)
        _check_id(self, "message", self.message)
        _check_id(self, "member", self.member)
        _check_emoji(self, self.emoji)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionsCounted(CommunityEvent):
    """A snapshot from a history export: `count` reactions with `emoji` on a message.

    `reactors` lists the members known to have reacted, where the export names them
    (possibly fewer than `count`).
    """

    kind: ClassVar[str] = "reactions"

    channel: str
    message: str
    emoji: str
    count: int
    reactors: tuple[str, ...] = ()

    def _check_own(self) -> None:
        _check_id(self, "channel", self.channel)
        _check_id(self, "message", self.message)
        _check_emoji(self, self.emoji)
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise _fail(self, "count", "must be a non-negative integer")
        if self.count > MAX_COUNT:
            raise _fail(self, "count", f"{self.count} is larger than {MAX_COUNT}")
        _set(self, "reactors", _id_tuple(self, "reactors", self.reactors))
        for reactor in self.reactors:
            _check_id(self, "reactors", reactor)
        if len(set(self.reactors)) != len(self.reactors):
            _set(self, "reactors", tuple(dict.fromkeys(self.reactors)))
        if len(self.reactors) > self.count:
            _set(self, "count", len(self.reactors))


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberJoined(CommunityEvent):
    """A member joined the community."""

    kind: ClassVar[str] = "join"

    member: str
    member_name: str | None = None

    def _check_own(self) -> None:
        _check_id(self, "member", self.member)
        _check_name(self, "member_name", self.member_name)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberLeft(CommunityEvent):
    """A member left (or was removed from) the community."""

    kind: ClassVar[str] = "leave"

    member: str

    def _check_own(self) -> None:
        _check_id(self, "member", self.member)


@dataclass(frozen=True, slots=True, kw_only=True)
class ButtonPressed(CommunityEvent):
    """A member pressed one of Cohort's buttons about a course.

    `action` is `interest`, `dismiss` or `click`; `interaction` is the platform's
    id of the press (used to make replays idempotent).
    """

    kind: ClassVar[str] = "button"

    member: str
    action: str
    course: str
    interaction: str | None = None
    channel: str | None = None
    variant: str | None = None
    position: int | None = None
    token: str | None = None

    def _check_own(self) -> None:
        _check_id(self, "member", self.member)
        _check_id(self, "course", self.course)
        _check_id(self, "interaction", self.interaction, optional=True)
        _check_id(self, "token", self.token, optional=True)
        _check_id(self, "channel", self.channel, optional=True)
        _check_id(self, "variant", self.variant, optional=True)
        if self.action not in BUTTON_ACTIONS:
            raise _fail(self, "action", f"must be one of {', '.join(BUTTON_ACTIONS)}")
        if self.position is not None and (
            isinstance(self.position, bool) or not isinstance(self.position, int)
        ):
            raise _fail(self, "position", "must be an integer")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentChanged(CommunityEvent):
    """A member's consent in a community changed; `None` leaves a flag as it was."""

    kind: ClassVar[str] = "consent"

    member: str
    profiling: bool | None = None
    dm: bool | None = None
    member_name: str | None = None

    def _check_own(self) -> None:
        _check_id(self, "member", self.member)
        _check_name(self, "member_name", self.member_name)
        for name in ("profiling", "dm"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise _fail(self, name, "must be true, false or absent")
        if self.profiling is None and self.dm is None:
            raise _fail(self, "profiling", "at least one of profiling, dm must be given")


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseMade(Event):
    """A member bought (or enrolled in) a course; `order` makes it idempotent."""

    kind: ClassVar[str] = "purchase"

    member: str
    course: str
    community: str | None = None
    amount: float | None = None
    currency: str | None = None
    order: str | None = None
    source: str = field(default="import")
    token: str | None = None

    def _check(self) -> None:
        _check_id(self, "member", self.member)
        _check_id(self, "course", self.course)
        _check_id(self, "community", self.community, optional=True)
        _check_id(self, "order", self.order, optional=True)
        _check_id(self, "token", self.token, optional=True)
        _check_id(self, "source", self.source)
        if self.amount is not None:
            if isinstance(self.amount, bool) or not isinstance(self.amount, int | float):
                raise _fail(self, "amount", "must be a number")
            if not math.isfinite(self.amount) or self.amount < 0:
                raise _fail(self, "amount", "must be a non-negative finite number")
            if self.amount > MAX_AMOUNT:
                raise _fail(self, "amount", f"{self.amount} is larger than {MAX_AMOUNT}")
        if self.currency is not None:
            if not (
                isinstance(self.currency, str)
                and len(self.currency) == 3
                and self.currency.isalpha()
            ):
                raise _fail(self, "currency", "must be a 3-letter ISO 4217 code")
            _set(self, "currency", self.currency.upper())


EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.kind: cls
    for cls in (
        MessagePosted,
        MessageEdited,
        MessageDeleted,
        ReactionAdded,
        ReactionRemoved,
        ReactionsCounted,
        MemberJoined,
        MemberLeft,
        ButtonPressed,
        ConsentChanged,
        PurchaseMade,
    )
}


def utc(ts: datetime) -> datetime:
    """Return `ts` as an aware UTC datetime; a naive one is taken to be UTC already."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
