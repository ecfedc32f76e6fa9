"""The Telegram adapter: real PTB updates in, core events out; only the network is fake."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from telegram import Update
from telegram.error import InvalidToken

from bot.adapters.telegram import TelegramAdapter
from bot.adapters.telegram.app import ALLOWED_UPDATES
from bot.domain.events import (
    Event,
    MemberJoined,
    MemberLeft,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    ReactionsCounted,
)
from tests.fakes import telegram_payloads as tg
from tests.fakes.sink import RecordingSink
from tests.fakes.telegram import TOKEN_REJECTED, FakeTelegram, settle
from tests.fakes.telegram_payloads import ALICE, BOB, CAROL, DATE, DATE_DT, GROUP_ID

GROUP = str(GROUP_ID)


@dataclass
class Harness:
    adapter: TelegramAdapter
    sink: RecordingSink
    api: FakeTelegram

    async def feed(self, **kind: dict[str, Any]) -> list[Event]:
        """Process one update built from a payload; return the events it produced."""
        before = len(self.sink.events)
        application = self.adapter.application
        update = Update.de_json(tg.update(**kind), application.bot)
        await application.process_update(update)
        await settle()
        return self.sink.events[before:]


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    sink = RecordingSink()
    api = FakeTelegram()
    adapter = TelegramAdapter(sink, tg.TOKEN, request=api)
    await adapter.application.initialize()
    await adapter.application.start()  # handlers' tasks are awaited on stop
    yield Harness(adapter, sink, api)
    await adapter.stop()
    assert api.methods() == ["getMe"], "only getMe may touch the network"


def posted(**overrides: Any) -> MessagePosted:
    fields: dict[str, Any] = {
        "platform": "telegram",
        "community": GROUP,
        "community_name": tg.GROUP_TITLE,
        "channel": GROUP,
        "channel_name": tg.GROUP_TITLE,
        "message": "101",
        "member": str(ALICE["id"]),
        "member_name": "Alice Liddell",
        "text": "I love rust and asyncio",
        "ts": DATE_DT,
    }
    fields.update(overrides)
    return MessagePosted(**fields)


# -- messages ----------------------------------------------------------------------


async def test_text_message_becomes_message_posted(harness: Harness) -> None:
    """A person's text in a supergroup is stored with the importer's id conventions."""
    assert await harness.feed(message=tg.message()) == [posted()]


async def test_caption_is_the_text_of_a_media_message(harness: Harness) -> None:
    """A photo's caption is stored as the message text."""
    events = await harness.feed(message=tg.photo_message("my rust meetup slides"))
    assert events == [posted(text="my rust meetup slides")]


async def test_media_without_caption_is_kept_with_empty_text(harness: Harness) -> None:
    """A photo without caption is activity: kept with empty text, as the importer keeps it."""
    payload = tg.photo_message("x")
    del payload["caption"]
    assert await harness.feed(message=payload) == [posted(text="")]


async def test_basic_group_message_is_stored(harness: Harness) -> None:
    """Basic (non-super) groups are communities too."""
    events = await harness.feed(message=tg.message(chat=tg.basic_group()))
    assert events == [
        posted(
            community="-4012345678",
            channel="-4012345678",
            community_name="Book club",
            channel_name="Book club",
        )
    ]


async def test_reply_records_the_replied_message(harness: Harness) -> None:
    """A reply keeps the replied-to id; a supergroup's reply-chain thread id is not a topic."""
    original = tg.message("who uses tokio?", message_id=90, sender=BOB)
    payload = tg.message("me!", message_id=101, reply_to_message=original, message_thread_id=90)
    assert await harness.feed(message=payload) == [posted(text="me!", reply_to="90")]


async def test_forum_topic_message_has_thread_and_no_reply(harness: Harness) -> None:
    """In a forum topic, thread is the topic id and the topic's root is not a reply."""
    events = await harness.feed(message=tg.topic_message("how do lifetimes work?"))
    assert events == [posted(message="57", text="how do lifetimes work?", thread="55")]


async def test_reply_inside_forum_topic_is_a_reply(harness: Harness) -> None:
    """A real reply inside a topic keeps both the thread and the replied-to id."""
    chat = tg.supergroup(is_forum=True)
    earlier = tg.message(
        "question", message_id=56, sender=BOB, chat=chat,
        message_thread_id=55, is_topic_message=True,
    )  # fmt: skip
    events = await harness.feed(message=tg.topic_message("answer", reply_to=earlier))
    assert events == [posted(message="57", text="answer", thread="55", reply_to="56")]


async def test_text_mentions_name_people_not_bots(harness: Harness) -> None:
    """Only text_mention entities of people become mentions; @username ones cannot."""
    text = "Carol, Helper and @alice: thanks"
    payload = tg.message(
        text,
        sender=BOB,
        entities=[
            tg.text_mention(0, 5, CAROL),
            tg.text_mention(7, 6, tg.HELPER_BOT),
            {"offset": 18, "length": 6, "type": "mention"},
        ],
    )
    [event] = await harness.feed(message=payload)
    assert isinstance(event, MessagePosted)
    assert event.member == str(BOB["id"])
    assert event.member_name == "Bob"
    assert event.mentions == (str(CAROL["id"]),)
    # Names and usernames never become words of the stored text (nor topics).
    assert event.text == "@user, @user and @user: thanks"


async def test_mentions_after_an_emoji_are_cut_at_telegrams_utf16_offsets(
    harness: Harness,
) -> None:
    """Offsets count UTF-16 units: a name after an emoji is still cut out exactly."""
    text = "🎉 Carol: nice"
    payload = tg.message(text, sender=BOB, entities=[tg.text_mention(3, 5, CAROL)])
    [event] = await harness.feed(message=payload)
    assert isinstance(event, MessagePosted)
    assert event.text == "🎉 @user: nice"


async def test_caption_mentions_come_from_caption_entities(harness: Harness) -> None:
    """Mentions in a caption are read from caption_entities."""
    payload = tg.photo_message("Carol took this", caption_entities=[tg.text_mention(0, 5, CAROL)])
    [event] = await harness.feed(message=payload)
    assert isinstance(event, MessagePosted)
    assert event.mentions == (str(CAROL["id"]),)


async def test_message_from_bot_is_skipped(harness: Harness) -> None:
    """Other bots' messages are not community activity."""
    assert await harness.feed(message=tg.message("beep", sender=tg.HELPER_BOT)) == []


@pytest.mark.parametrize(
    ("sender", "sender_chat", "extra"),
    [
        pytest.param(
            tg.TELEGRAM_SERVICE,
            tg.channel(),
            {"is_automatic_forward": True, "forward_origin": {
                "type": "channel", "chat": tg.channel(), "message_id": 12, "date": DATE - 10,
            }},
            id="linked-channel-forward",
        ),
        pytest.param(tg.ANONYMOUS_ADMIN, tg.supergroup(), {}, id="anonymous-admin"),
        pytest.param(ALICE, tg.channel(), {}, id="user-posting-as-channel"),
    ],
)  # fmt: skip
async def test_message_sent_on_behalf_of_a_chat_is_skipped(
    harness: Harness, sender: dict[str, Any], sender_chat: dict[str, Any], extra: dict[str, Any]
) -> None:
    """Posts with sender_chat have no person behind them, even when `from` is not a bot."""
    payload = tg.message("news", sender=sender, sender_chat=sender_chat, **extra)
    assert await harness.feed(message=payload) == []


async def test_private_chat_is_skipped(harness: Harness) -> None:
    """Direct messages to the bot are not community activity."""
    assert await harness.feed(message=tg.message("hi bot", chat=tg.private_chat())) == []


async def test_channel_post_is_skipped(harness: Harness) -> None:
    """Channel posts are not stored."""
    post = tg.message("release notes", chat=tg.channel())
    del post["from"]
    post["sender_chat"] = tg.channel()
    assert await harness.feed(channel_post=post) == []


async def test_service_messages_without_members_are_skipped(harness: Harness) -> None:
    """Topic creation and pins are not messages."""
    chat = tg.supergroup(is_forum=True)
    assert await harness.feed(message=tg.topic_root(55, chat=chat)) == []
    pinned = tg.message(None, message_id=102, pinned_message=tg.message())
    assert await harness.feed(message=pinned) == []


async def test_edit_becomes_message_edited_at_edit_date(harness: Harness) -> None:
    """An edited message carries the new text and the time of the edit."""
    payload = tg.message("I love rust, tokio and asyncio", edit_date=DATE + 90)
    assert await harness.feed(edited_message=payload) == [
        MessageEdited(
            platform="telegram",
            community=GROUP,
            community_name=tg.GROUP_TITLE,
            channel=GROUP,
            message="101",
            text="I love rust, tokio and asyncio",
            ts=DATE_DT + timedelta(seconds=90),
        )
    ]


async def test_edited_caption_and_skipped_edits(harness: Harness) -> None:
    """Caption edits are edits; edits by bots or in private chats are not stored."""
    [event] = await harness.feed(edited_message=tg.photo_message("new caption", edit_date=DATE + 5))
    assert isinstance(event, MessageEdited)
    assert event.text == "new caption"
    bot_edit = tg.message("beep", sender=tg.HELPER_BOT, edit_date=DATE + 5)
    assert await harness.feed(edited_message=bot_edit) == []
    dm_edit = tg.message("hi", chat=tg.private_chat(), edit_date=DATE + 5)
    assert await harness.feed(edited_message=dm_edit) == []


# -- reactions -----------------------------------------------------------------------


def reacted(cls: type[Event], emoji: str, **overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "platform": "telegram",
        "community": GROUP,
        "community_name": tg.GROUP_TITLE,
        "channel": GROUP,
        "message": "101",
        "member": str(BOB["id"]),
        "emoji": emoji,
        "ts": DATE_DT + timedelta(seconds=60),
    }
    if cls is ReactionAdded:
        fields["member_name"] = "Bob"
    fields.update(overrides)
    return cls(**fields)


async def test_reaction_added(harness: Harness) -> None:
    """A new reaction is a ReactionAdded by the reacting member."""
    events = await harness.feed(message_reaction=tg.reaction([], [tg.emoji("👍")]))
    assert events == [reacted(ReactionAdded, "👍")]


async def test_reaction_removed(harness: Harness) -> None:
    """Taking a reaction back is a ReactionRemoved."""
    events = await harness.feed(message_reaction=tg.reaction([tg.emoji("👍")], []))
    assert events == [reacted(ReactionRemoved, "👍")]


async def test_reaction_changed_is_one_remove_and_one_add(harness: Harness) -> None:
    """Switching 👍 for 🔥 removes the old one, then adds the new one."""
    payload = tg.reaction([tg.emoji("👍")], [tg.emoji("🔥")])
    events = await harness.feed(message_reaction=payload)
    assert events == [reacted(ReactionRemoved, "👍"), reacted(ReactionAdded, "🔥")]


async def test_reaction_kept_is_not_repeated(harness: Harness) -> None:
    """Adding a second reaction (premium users have several) does not re-add the first."""
    payload = tg.reaction([tg.emoji("👍")], [tg.emoji("👍"), tg.emoji("❤")])
    assert await harness.feed(message_reaction=payload) == [reacted(ReactionAdded, "❤")]


async def test_custom_emoji_reaction_uses_canonical_name(harness: Harness) -> None:
    """Custom emoji are stored as custom:<id>, like the history importer does."""
    payload = tg.reaction([], [tg.custom("5368324170671202286")])
    events = await harness.feed(message_reaction=payload)
    assert events == [reacted(ReactionAdded, "custom:5368324170671202286")]


async def test_paid_reaction_is_ignored(harness: Harness) -> None:
    """Star (paid) reactions are not emoji."""
    assert await harness.feed(message_reaction=tg.reaction([], [tg.PAID])) == []


async def test_anonymous_admin_reaction_is_skipped(harness: Harness) -> None:
    """A reaction on behalf of the chat (no user, only actor_chat) names nobody."""
    payload = tg.reaction([], [tg.emoji("👍")], who=None, actor_chat=tg.supergroup())
    assert await harness.feed(message_reaction=payload) == []


async def test_reaction_in_private_chat_is_skipped(harness: Harness) -> None:
    """Reactions in the bot's private chats are not community activity."""
    payload = tg.reaction([], [tg.emoji("👍")], chat=tg.private_chat(BOB))
    assert await harness.feed(message_reaction=payload) == []


async def test_anonymous_reaction_count_becomes_counts_per_emoji(harness: Harness) -> None:
    """message_reaction_count gives one ReactionsCounted per emoji; paid ones are dropped."""
    payload = tg.reaction_count(
        [(tg.emoji("👍"), 5), (tg.custom("5368324170671202286"), 2), (tg.PAID, 40)]
    )
    events = await harness.feed(message_reaction_count=payload)
    common = {
        "platform": "telegram",
        "community": GROUP,
        "community_name": tg.GROUP_TITLE,
        "channel": GROUP,
        "message": "202",
        "ts": DATE_DT + timedelta(seconds=120),
    }
    assert events == [
        ReactionsCounted(emoji="👍", count=5, **common),
        ReactionsCounted(emoji="custom:5368324170671202286", count=2, **common),
    ]


# -- membership ----------------------------------------------------------------------


def joined(who: dict[str, Any] = CAROL, name: str = "Carol Danvers", **overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "platform": "telegram",
        "community": GROUP,
        "community_name": tg.GROUP_TITLE,
        "member": str(who["id"]),
        "member_name": name,
        "ts": DATE_DT + timedelta(seconds=300),
    }
    fields.update(overrides)
    return MemberJoined(**fields)


def left(who: dict[str, Any] = CAROL, **overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "platform": "telegram",
        "community": GROUP,
        "community_name": tg.GROUP_TITLE,
        "member": str(who["id"]),
        "ts": DATE_DT + timedelta(seconds=300),
    }
    fields.update(overrides)
    return MemberLeft(**fields)


ADMIN = tg.user(555555555, "Dana", "Admin", "dana")


@pytest.mark.parametrize(
    ("old", "new", "actor", "expected"),
    [
        pytest.param(tg.chat_member("left"), tg.chat_member("member"), None, "join", id="join"),
        pytest.param(tg.chat_member("member"), tg.chat_member("left"), None, "leave", id="leave"),
        pytest.param(tg.chat_member("member"), tg.chat_member("kicked"), ADMIN, "leave", id="kick"),
        pytest.param(tg.chat_member("kicked"), tg.chat_member("member"), ADMIN, "join",
                     id="unban-and-add"),
        pytest.param(tg.chat_member("left"), tg.chat_member("restricted", is_member=True), None,
                     "join", id="join-restricted"),
        pytest.param(tg.chat_member("restricted", is_member=False), tg.chat_member("member"),
                     None, "join", id="restricted-outsider-joins"),
        pytest.param(tg.chat_member("restricted", is_member=True), tg.chat_member("left"),
                     None, "leave", id="restricted-member-leaves"),
        pytest.param(tg.chat_member("member"), tg.chat_member("restricted", is_member=True),
                     ADMIN, None, id="muted-stays"),
        pytest.param(tg.chat_member("member"), tg.chat_member("administrator"), ADMIN, None,
                     id="promoted"),
        pytest.param(tg.chat_member("kicked"), tg.chat_member("left"), ADMIN, None,
                     id="unbanned-stays-out"),
        pytest.param(tg.chat_member("left"), tg.chat_member("creator"), None, "join",
                     id="owner-returns"),
    ],
)  # fmt: skip
async def test_chat_member_transitions(
    harness: Harness,
    old: dict[str, Any],
    new: dict[str, Any],
    actor: dict[str, Any] | None,
    expected: str | None,
) -> None:
    """Only moves between outside (left/kicked/restricted non-member) and inside count."""
    events = await harness.feed(chat_member=tg.member_update(old, new, actor=actor))
    want = {"join": [joined()], "leave": [left()], None: []}[expected]
    assert events == want


async def test_chat_member_update_of_a_bot_is_skipped(harness: Harness) -> None:
    """Bots joining are not members."""
    payload = tg.member_update(
        tg.chat_member("left", tg.HELPER_BOT), tg.chat_member("member", tg.HELPER_BOT),
        actor=ADMIN,
    )  # fmt: skip
    assert await harness.feed(chat_member=payload) == []


async def test_my_chat_member_is_not_a_membership(harness: Harness) -> None:
    """The bot being added to a group (my_chat_member) produces no member event."""
    payload = tg.member_update(
        tg.chat_member("left", tg.BOT_USER),
        tg.chat_member("administrator", tg.BOT_USER),
        actor=ALICE,
    )
    assert await harness.feed(my_chat_member=payload) == []


async def test_new_chat_members_service_message(harness: Harness) -> None:
    """Members added together each join; an added bot does not."""
    payload = tg.new_members_message([CAROL, BOB, tg.HELPER_BOT], adder=ALICE)
    events = await harness.feed(message=payload)
    assert events == [joined(ts=DATE_DT), joined(BOB, "Bob", ts=DATE_DT)]


async def test_left_chat_member_service_message(harness: Harness) -> None:
    """A member leaving (or being removed) in a service message is a MemberLeft."""
    events = await harness.feed(message=tg.left_member_message(CAROL, remover=ADMIN))
    assert events == [left(ts=DATE_DT)]
    bot_left = tg.left_member_message(tg.HELPER_BOT, remover=ADMIN)
    assert await harness.feed(message=bot_left) == []


async def test_membership_service_message_in_private_chat_is_skipped(harness: Harness) -> None:
    """Only groups have members."""
    payload = tg.new_members_message([CAROL], chat=tg.channel())
    assert await harness.feed(message=payload) == []


# -- plumbing ------------------------------------------------------------------------


async def test_dropped_event_is_not_an_error(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A full pipeline refusing an event is counted there, not logged as an error here."""
    harness.sink.accept = False
    with caplog.at_level(logging.WARNING):
        assert await harness.feed(message=tg.message()) == [posted()]
    assert not caplog.records


async def test_handler_error_is_logged_with_traceback_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing sink is logged with its traceback and the next update is still handled."""
    api = FakeTelegram()
    sink = RecordingSink(failures=[RuntimeError("disk on fire")])
    adapter = TelegramAdapter(sink, tg.TOKEN, request=api)
    application = adapter.application
    await application.initialize()
    try:
        with caplog.at_level(logging.ERROR, logger="bot.adapters.telegram"):
            payload = tg.update(message=tg.message("I love rust"))
            await application.process_update(Update.de_json(payload, application.bot))
        [record] = [r for r in caplog.records if r.name == "bot.adapters.telegram.app"]
        assert record.levelno == logging.ERROR
        assert str(payload["update_id"]) in record.getMessage()
        assert str(GROUP_ID) in record.getMessage()
        assert "I love rust" not in record.getMessage()
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)
    finally:
        await adapter.stop()


async def test_rejected_token_surfaces_from_start(caplog: pytest.LogCaptureFixture) -> None:
    """Telegram's 401 on getMe raises InvalidToken from start(), without echoing the token."""
    api = FakeTelegram()
    api.fail("getMe", TOKEN_REJECTED)
    adapter = TelegramAdapter(RecordingSink(), tg.TOKEN, request=api)
    with pytest.raises(InvalidToken) as raised:
        await adapter.start()
    assert tg.TOKEN not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert api.methods() == ["getMe"]
    assert not adapter.application.running
    await adapter.stop()  # safe after a failed start
    assert tg.TOKEN not in caplog.text


def test_empty_token_is_rejected_at_construction() -> None:
    """A missing token fails immediately, before any network call."""
    with pytest.raises(InvalidToken):
        TelegramAdapter(RecordingSink(), "")


async def test_start_polls_for_every_update_type_then_stops() -> None:
    """start() asks getUpdates for all update kinds we handle; stop() ends polling."""
    api = FakeTelegram(polling=True)
    adapter = TelegramAdapter(RecordingSink(), tg.TOKEN, request=api)
    await adapter.start()
    try:
        assert adapter.application.running
        assert adapter.application.bot.username == "cohort_test_bot"
    finally:
        await adapter.stop()
    assert not adapter.application.running
    polls = [call.parameters for call in api.sent("getUpdates")]
    assert polls, "polling never started"
    assert set(polls[0]["allowed_updates"]) == {
        "message",
        "edited_message",
        "message_reaction",
        "message_reaction_count",
        "chat_member",
        "my_chat_member",
        "callback_query",
    }
    assert set(ALLOWED_UPDATES) == set(polls[0]["allowed_updates"])
    assert set(api.methods()) <= {"getMe", "deleteWebhook", "getUpdates"}
    await adapter.stop()  # stopping twice is harmless


async def test_sink_sees_events_in_update_order(harness: Harness) -> None:
    """Updates are handled one at a time, so events keep Telegram's order."""
    await harness.feed(message=tg.message(message_id=1))
    await harness.feed(message_reaction=tg.reaction([], [tg.emoji("👍")], message_id=1))
    await harness.feed(edited_message=tg.message("edited", message_id=1, edit_date=DATE + 90))
    kinds = [type(e) for e in harness.sink.events]
    assert kinds == [MessagePosted, ReactionAdded, MessageEdited]


def test_adapter_does_not_import_machine_learning_libraries() -> None:
    """Importing the adapter must not pull in TensorFlow or scikit-learn (slow, heavy)."""
    code = (
        "import sys, bot.adapters.telegram, bot.adapters.telegram.translate;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow','keras','sklearn'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
