"""Cohort's own event format: one JSON object per line (documented in docs/events.md).

`decode` turns a parsed JSON object into a validated event or raises `EventInvalid`
naming the field; `encode` is its inverse, so any event can be written out and
replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from bot.domain.events import (
    ButtonPressed,
    ConsentChanged,
    Event,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    PurchaseMade,
    ReactionAdded,
    ReactionRemoved,
    ReactionsCounted,
)
from bot.errors import EventInvalid

# JSON field -> event attribute, per type. Fields not listed are rejected.
_COMMON: Final = {"type": None, "platform": "platform", "ts": "ts"}
_IN_COMMUNITY: Final = {**_COMMON, "community": "community", "community_name": "community_name"}
_FIELDS: Final[dict[str, tuple[type[Event], dict[str, str | None]]]] = {
    "message": (
        MessagePosted,
        {
            **_IN_COMMUNITY,
            "channel": "channel",
            "channel_name": "channel_name",
            "id": "message",
            "member": "member",
            "name": "member_name",
            "text": "text",
            "reply_to": "reply_to",
            "thread": "thread",
            "mentions": "mentions",
        },
    ),
    "edit": (
        MessageEdited,
        {**_IN_COMMUNITY, "channel": "channel", "message": "message", "text": "text"},
    ),
    "delete": (MessageDeleted, {**_IN_COMMUNITY, "channel": "channel", "message": "message"}),
    "reaction": (
        ReactionAdded,
        {
            **_IN_COMMUNITY,
            "channel": "channel",
            "message": "message",
            "member": "member",
            "name": "member_name",
            "emoji": "emoji",
        },
    ),
    "unreaction": (
        ReactionRemoved,
        {
            **_IN_COMMUNITY,
            "channel": "channel",
            "message": "message",
            "member": "member",
            "emoji": "emoji",
        },
    ),
    "reactions": (
        ReactionsCounted,
        {
            **_IN_COMMUNITY,
            "channel": "channel",
            "message": "message",
            "emoji": "emoji",
            "count": "count",
            "reactors": "reactors",
        },
    ),
    "join": (MemberJoined, {**_IN_COMMUNITY, "member": "member", "name": "member_name"}),
    "leave": (MemberLeft, {**_IN_COMMUNITY, "member": "member"}),
    "button": (
        ButtonPressed,
        {
            **_IN_COMMUNITY,
            "member": "member",
            "action": "action",
            "course": "course",
            "interaction": "interaction",
            "channel": "channel",
            "variant": "variant",
            "position": "position",
            "token": "token",
        },
    ),
    "consent": (
        ConsentChanged,
        {
            **_IN_COMMUNITY,
            "member": "member",
            "name": "member_name",
            "profiling": "profiling",
            "dm": "dm",
        },
    ),
    "purchase": (
        PurchaseMade,
        {
            **_COMMON,
            "community": "community",
            "member": "member",
            "course": "course",
            "amount": "amount",
            "currency": "currency",
            "order": "order",
            "source": "source",
            "token": "token",
        },
    ),
}
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "message": ("platform", "community", "channel", "id", "member", "ts", "text"),
    "edit": ("platform", "community", "channel", "message", "ts", "text"),
    "delete": ("platform", "community", "channel", "message", "ts"),
    "reaction": ("platform", "community", "channel", "message", "member", "emoji", "ts"),
    "unreaction": ("platform", "community", "channel", "message", "member", "emoji", "ts"),
    "reactions": ("platform", "community", "channel", "message", "emoji", "count", "ts"),
    "join": ("platform", "community", "member", "ts"),
    "leave": ("platform", "community", "member", "ts"),
    "button": ("platform", "community", "member", "action", "course", "ts"),
    "consent": ("platform", "community", "member", "ts"),
    "purchase": ("platform", "member", "course", "ts"),
}
EVENT_TYPES: Final = tuple(_FIELDS)
_ATTRIBUTE_TO_FIELD: Final = {
    kind: {attr: name for name, attr in fields.items() if attr}
    for kind, (_, fields) in _FIELDS.items()
}


def parse_ts(value: object, field: str = "ts") -> datetime:
    """Parse an ISO 8601 timestamp with an offset (or `Z`), or epoch seconds, to UTC."""
    if isinstance(value, bool):
        raise EventInvalid(f"{field}: expected an ISO 8601 timestamp")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise EventInvalid(f"{field}: epoch seconds out of range") from None
    if not isinstance(value, str):
        raise EventInvalid(f"{field}: expected an ISO 8601 timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventInvalid(f"{field}: not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise EventInvalid(f"{field}: timestamp needs a timezone (e.g. 'Z'): {value!r}")
    return parsed.astimezone(UTC)


def _as_str(value: object, field: str) -> str:
    """Ids may be given as JSON numbers (Telegram's are); store them as text."""
    if isinstance(value, bool) or value is None:
        raise EventInvalid(f"{field}: expected a string")
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise EventInvalid(f"{field}: expected a string")
    return value


def _as_id_list(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise EventInvalid(f"{field}: expected a list of ids")
    return tuple(_as_str(item, f"{field}[]") for item in value)


_CONVERT: Final[dict[str, Callable[[object, str], Any]]] = {
    "ts": parse_ts,
    "community": _as_str,
    "channel": _as_str,
    "message": _as_str,
    "member": _as_str,
    "reply_to": _as_str,
    "thread": _as_str,
    "mentions": _as_id_list,
    "reactors": _as_id_list,
    "interaction": _as_str,
    "order": _as_str,
}


def decode(obj: object) -> Event:
    """Build the event a JSON object describes; `EventInvalid` names what is wrong."""
    if not isinstance(obj, Mapping):
        raise EventInvalid("expected a JSON object")
    kind = obj.get("type")
    if kind not in _FIELDS:
        raise EventInvalid(f"type: expected one of {', '.join(EVENT_TYPES)}, got {kind!r}")
    cls, fields = _FIELDS[kind]
    unknown = [name for name in obj if name not in fields]
    if unknown:
        raise EventInvalid(f"unknown field {unknown[0]!r} for type {kind!r}")
    missing = [name for name in _REQUIRED[kind] if obj.get(name) is None]
    if missing:
        raise EventInvalid(f"{missing[0]}: required for type {kind!r}")
    kwargs: dict[str, Any] = {}
    for name, value in obj.items():
        attribute = fields[name]
        if attribute is None or value is None:
            continue
        convert = _CONVERT.get(attribute)
        kwargs[attribute] = convert(value, name) if convert else value
    try:
        return cls(**kwargs)
    except EventInvalid as exc:
        # "MessagePosted.member_name: ..." -> "name: ..." in the file's own vocabulary
        text = str(exc)
        attribute, _, problem = text.partition(": ")
        attribute = attribute.rsplit(".", 1)[-1]
        field = _ATTRIBUTE_TO_FIELD[kind].get(attribute, attribute)
        raise EventInvalid(f"{field}: {problem}") from None
    except TypeError as exc:  # a value of the wrong JSON type reached the dataclass
        raise EventInvalid(str(exc)) from None


def encode(event: Event) -> dict[str, Any]:
    """The JSON object for `event` (inverse of `decode`); empty optional fields omitted."""
    kind = event.kind
    out: dict[str, Any] = {"type": kind}
    for name, attribute in _FIELDS[kind][1].items():
        if attribute is None:
            continue
        value = getattr(event, attribute)
        if value is None or value == ():
            continue
        if attribute == "ts":
            value = value.isoformat().replace("+00:00", "Z")
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    if isinstance(event, PurchaseMade) and event.source == "import":
        out.pop("source", None)
    return out
