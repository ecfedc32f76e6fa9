"""Events validate on construction, and the JSONL codec round-trips every event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.codec import decode, encode
from bot.domain.events import (
    ButtonPressed,
    ConsentChanged,
    MemberJoined,
    MessagePosted,
    PurchaseMade,
    ReactionAdded,
    ReactionsCounted,
)
from bot.errors import EventInvalid
from tests.helpers import T0, message


def test_naive_timestamps_are_rejected() -> None:
    """Every timestamp must carry a zone; naive ones are ambiguous."""
    with pytest.raises(EventInvalid, match="ts: must be timezone-aware"):
        message(ts=datetime(2024, 1, 1))


def test_timestamps_are_normalised_to_utc() -> None:
    """An offset timestamp is stored as the same instant in UTC."""
    event = message(ts=datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=8))))
    assert event.ts == datetime(2024, 1, 1, 4, tzinfo=UTC) and event.ts.tzinfo is UTC


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"platform": "slack"}, "platform: must be one of"),
        ({"member": ""}, "member: must be a non-empty string"),
        ({"member": " u1"}, "member: contains NUL or surrounding spaces"),
        ({"message": "x" * 101}, "message: longer than 100"),
        ({"text": 5}, "text: must be a string"),
        ({"mentions": "u2"}, "mentions: must be a list of ids"),
    ],
)
def test_invalid_fields_are_named(overrides: dict[str, object], problem: str) -> None:
    """Validation errors name the event type, the field and the problem."""
    with pytest.raises(EventInvalid, match=f"MessagePosted.{problem}"):
        message(**overrides)


def test_mentions_are_deduplicated_and_exclude_the_author() -> None:
    """A member mentioning themselves, or someone twice, yields one mention each."""
    event = message(member="u1", mentions=["u2", "u1", "u2"])
    assert event.mentions == ("u2",)


def test_text_nul_bytes_are_removed() -> None:
    """NUL bytes, which PostgreSQL text cannot hold, are stripped."""
    assert message(text="a\x00b").text == "ab"


def test_purchase_validation() -> None:
    """Amounts are non-negative numbers and currencies 3-letter codes (upper-cased)."""
    ok = PurchaseMade(platform="discord", member="u1", course="c", ts=T0, amount=1, currency="eur")
    assert ok.currency == "EUR"
    with pytest.raises(EventInvalid, match="amount"):
        PurchaseMade(platform="discord", member="u1", course="c", ts=T0, amount=-1)
    with pytest.raises(EventInvalid, match="currency"):
        PurchaseMade(platform="discord", member="u1", course="c", ts=T0, currency="euro")


def test_consent_needs_a_decision() -> None:
    """A consent event must change at least one flag."""
    with pytest.raises(EventInvalid, match="at least one"):
        ConsentChanged(platform="discord", community="g", member="u", ts=T0)


def test_the_issue_example_lines_decode() -> None:
    """The JSONL examples from the documentation decode to the right events."""
    posted = decode(
        {
            "type": "message",
            "platform": "discord",
            "community": "g1",
            "channel": "c1",
            "member": "u1",
            "name": "alice",
            "id": "m1",
            "ts": "2024-05-01T10:00:00Z",
            "text": "...",
            "reply_to": "m0",
            "mentions": ["u2"],
        }
    )
    assert isinstance(posted, MessagePosted)
    assert (posted.message, posted.member_name, posted.reply_to, posted.mentions) == (
        "m1",
        "alice",
        "m0",
        ("u2",),
    )
    bought = decode(
        {
            "type": "purchase",
            "platform": "discord",
            "community": "g1",
            "member": "u1",
            "course": "rust-101",
            "ts": "2024-05-02T10:00:00Z",
            "amount": 49,
            "currency": "USD",
        }
    )
    assert isinstance(bought, PurchaseMade) and bought.amount == 49


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        ({"type": "mesage"}, "type: expected one of"),
        (
            {"type": "join", "platform": "discord", "community": "g", "ts": "2024-01-01T00:00:00Z"},
            "member: required for type 'join'",
        ),
        (
            {
                "type": "join",
                "platform": "discord",
                "community": "g",
                "member": "u",
                "ts": "2024-01-01T00:00:00",
            },
            "ts: timestamp needs a timezone",
        ),
        (
            {
                "type": "join",
                "platform": "discord",
                "community": "g",
                "member": "u",
                "ts": "2024-01-01T00:00:00Z",
                "nmae": "x",
            },
            "unknown field 'nmae'",
        ),
        (
            {
                "type": "message",
                "platform": "discord",
                "community": "g",
                "channel": "c",
                "id": "m",
                "member": "u",
                "ts": "2024-01-01T00:00:00Z",
                "text": "x",
                "name": 3,
            },
            "name: must be a string",
        ),
    ],
)
def test_decode_errors_name_the_field_in_file_vocabulary(
    obj: dict[str, object], problem: str
) -> None:
    """Errors speak the JSONL field names (`name`, `id`), not Python attribute names."""
    with pytest.raises(EventInvalid, match=problem):
        decode(obj)


def test_telegram_numeric_ids_are_accepted_as_text() -> None:
    """Telegram ids are numbers in JSON; they are stored as strings."""
    joined = decode(
        {"type": "join", "platform": "telegram", "community": -1001, "member": 42, "ts": 1714557600}
    )
    assert isinstance(joined, MemberJoined)
    assert (joined.community, joined.member) == ("-1001", "42")


ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)
names = st.none() | st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and s.strip())
times = st.datetimes(
    min_value=datetime(2015, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)
events = st.one_of(
    st.builds(
        MessagePosted,
        platform=st.sampled_from(["discord", "telegram"]),
        community=ids,
        channel=ids,
        message=ids,
        member=ids,
        text=st.text(max_size=200).map(lambda t: t.replace("\x00", "")),
        ts=times,
        member_name=names,
        reply_to=st.none() | ids,
        thread=st.none() | ids,
        mentions=st.lists(ids, max_size=3, unique=True).map(tuple),
    ),
    st.builds(
        ReactionAdded,
        platform=st.just("discord"),
        community=ids,
        channel=ids,
        message=ids,
        member=ids,
        emoji=st.sampled_from(["👍", "🔥", "party:123"]),
        ts=times,
    ),
    st.builds(
        ReactionsCounted,
        platform=st.just("telegram"),
        community=ids,
        channel=ids,
        message=ids,
        emoji=st.just("👍"),
        count=st.integers(3, 9),
        reactors=st.lists(ids, max_size=3, unique=True).map(tuple),
        ts=times,
    ),
    st.builds(
        ButtonPressed,
        platform=st.just("discord"),
        community=ids,
        member=ids,
        action=st.sampled_from(["interest", "dismiss", "click"]),
        course=ids,
        interaction=st.none() | ids,
        position=st.none() | st.integers(0, 9),
        ts=times,
    ),
    st.builds(
        PurchaseMade,
        platform=st.just("discord"),
        member=ids,
        course=ids,
        ts=times,
        amount=st.none() | st.integers(0, 500),
        currency=st.none() | st.just("USD"),
        order=st.none() | ids,
    ),
    st.builds(
        ConsentChanged,
        platform=st.just("discord"),
        community=ids,
        member=ids,
        ts=times,
        profiling=st.booleans(),
        dm=st.none() | st.booleans(),
    ),
)


@given(events)
def test_codec_round_trips_every_event(event: object) -> None:
    """encode() then decode() gives back an equal event (replay files are lossless)."""
    assert decode(encode(event)) == event  # type: ignore[arg-type]


def test_every_example_in_the_format_documentation_decodes() -> None:
    """docs/events.md's example lines are valid events (the documentation cannot rot)."""
    import json
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text(encoding="utf-8")
    block = doc.split("```json", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    kinds = {decode(json.loads(line)).kind for line in lines}
    assert kinds == {"consent", "message", "reaction", "edit", "join", "leave", "purchase"}
