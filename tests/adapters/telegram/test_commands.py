"""Telegram commands and buttons end to end: real PTB updates, the real command layer
and services on SQLite; only Telegram's servers are fake (`FakeTelegram`)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from telegram import Update
from telegram.error import TimedOut

from bot.adapters.telegram import TelegramAdapter
from bot.adapters.telegram.app import INGEST_GROUP, build_application
from bot.adapters.telegram.commands import TelegramCommands, parse_args, usage
from bot.app import Cohort
from bot.core.commands import BY_NAME, COMMANDS, Commands
from bot.core.delivery.dispatcher import Dispatcher
from bot.core.services.suite import Services
from bot.domain.events import MessagePosted
from bot.i18n import translator
from bot.importers.courses import read_catalog
from bot.store import schema as s
from bot.store.courses import upsert_courses
from bot.store.members import find_member
from tests.fakes import telegram as fake
from tests.fakes import telegram_payloads as tg
from tests.fakes.sink import RecordingSink
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram_payloads import ALICE, BOB, GROUP_ID
from tests.helpers import rows

CATALOG = Path(__file__).resolve().parents[3] / "bot" / "demo" / "data" / "courses.toml"
TITLES = [course.title for course in read_catalog(CATALOG)]
FIRST_COURSE = read_catalog(CATALOG)[0].id
GROUP = str(GROUP_ID)
BOT_LINK = "https://t.me/cohort_test_bot"


@dataclass
class Harness:
    cohort: Cohort
    api: FakeTelegram
    adapter: TelegramAdapter
    sink: RecordingSink
    services: Services

    async def feed(self, **kind: dict[str, Any]) -> None:
        """Process one update built from a payload, as polling would."""
        application = self.adapter.application
        await application.process_update(Update.de_json(tg.update(**kind), application.bot))
        await fake.settle()

    async def seen_in_group(self, who: dict[str, Any] = ALICE) -> None:
        """`who` posts in the group, so Cohort knows the community."""
        await self.feed(message=tg.message("hello everyone", sender=who, message_id=77))
        await self.cohort.pipeline.flush()

    def dm(self, who: dict[str, Any] = ALICE) -> list[fake.Call]:
        """Messages sent to `who`'s private chat."""
        return self.api.sent("sendMessage", who["id"])

    def group(self) -> list[fake.Call]:
        """Messages sent to the group."""
        return self.api.sent("sendMessage", GROUP_ID)


async def load_catalog(cohort: Cohort) -> None:
    async with cohort.store.write() as conn:
        await upsert_courses(conn, [r.row() for r in read_catalog(CATALOG)])


@pytest.fixture
async def harness(sqlite_cohort: Cohort) -> AsyncIterator[Harness]:
    await load_catalog(sqlite_cohort)
    services = Services.build(sqlite_cohort)
    api = FakeTelegram()
    sink = RecordingSink(sqlite_cohort.pipeline)
    adapter = TelegramAdapter(sink, tg.TOKEN, request=api, commands=Commands(services))
    await adapter.application.initialize()
    await adapter.application.start()  # handlers' tasks are awaited on stop
    yield Harness(sqlite_cohort, api, adapter, sink, services)
    await adapter.stop()


def text_of(call: fake.Call) -> str:
    return str(call.parameters.get("text") or call.parameters.get("caption") or "")


# -- parsing -------------------------------------------------------------------------


def test_arguments_fill_options_in_order() -> None:
    """`/promote <course> <audience>` and `/courses 2` parse positionally, ints as ints."""
    assert parse_args(BY_NAME["promote"], ["rust-101", "top:5"]) == {
        "course": "rust-101",
        "audience": "top:5",
    }
    assert parse_args(BY_NAME["courses"], ["2"]) == {"page": 2}
    assert parse_args(BY_NAME["courses"], []) == {}
    assert parse_args(BY_NAME["link"], ["ABCD-EFGH"]) == {"code": "ABCD-EFGH"}
    assert parse_args(BY_NAME["optin"], [GROUP]) == {"community": GROUP}
    assert parse_args(BY_NAME["recommend"], ["extra", "words"]) == {}


def test_missing_or_malformed_arguments_ask_for_usage() -> None:
    """A missing required option or a non-number page means: show the usage."""
    assert parse_args(BY_NAME["promote"], ["rust-101"]) is None
    assert parse_args(BY_NAME["courses"], ["two"]) is None
    assert usage(BY_NAME["promote"]) == "/promote <course> <audience>"
    assert usage(BY_NAME["courses"]) == "/courses [page]"


# -- private replies -------------------------------------------------------------------


async def test_recommend_in_group_goes_to_the_members_private_chat(harness: Harness) -> None:
    """An opted-in member's /recommend in the group is answered in their DM, with the
    reply's actions as callback data and nothing posted in the group."""
    await harness.seen_in_group()
    await harness.feed(message=tg.command("/optin"))
    assert harness.cohort.gate.may_dm("telegram", GROUP, str(ALICE["id"]))
    await harness.feed(message=tg.command("/recommend", message_id=302))

    picks = harness.dm()[-1]
    assert "Your course picks" in text_of(picks)
    assert picks.parameters["parse_mode"] == "HTML"
    tokens = await rows(
        harness.cohort,
        select(s.interactions.c.token).where(s.interactions.c.kind == "impression"),
    )
    expected = {f"{prefix}:{token}" for (token,) in tokens for prefix in ("in", "no")}
    assert tokens and set(fake.callback_data(picks)) == expected
    assert fake.button_urls(picks)  # "Learn more" links
    assert harness.group() == []


async def test_refused_dm_gets_a_neutral_group_reply_with_a_deep_link(harness: Harness) -> None:
    """When Telegram refuses the DM, the group gets one neutral line replying to the
    command, a button opening the bot with /start recommend, and no course titles."""
    await harness.seen_in_group()
    harness.api.fail("sendMessage", fake.BOT_NOT_STARTED, chat_id=ALICE["id"])
    await harness.feed(message=tg.command("/recommend", message_id=310))

    (notice,) = harness.group()
    assert notice.parameters["reply_parameters"]["message_id"] == 310
    assert fake.button_urls(notice) == [f"{BOT_LINK}?start=recommend"]
    assert fake.callback_data(notice) == []
    shown = json.dumps(notice.parameters, ensure_ascii=False)
    assert not [title for title in TITLES if title in shown]
    assert "open a chat with me" in text_of(notice)


async def test_chinese_client_gets_chinese_text(harness: Harness) -> None:
    """`language_code` "zh-hans" makes the reply Simplified Chinese."""
    await harness.seen_in_group()
    zh = translator("zh-hans")
    assert zh("Picks for this channel") != "Picks for this channel"
    chinese_alice = tg.speaking(ALICE, "zh-hans")
    await harness.feed(message=tg.command("/recommend", sender=chinese_alice))
    (picks,) = harness.dm()
    assert f"<b>{zh('Picks for this channel')}</b>" in text_of(picks)
    assert "Picks for this channel" not in text_of(picks)


async def test_private_chat_commands_are_answered_there(harness: Harness) -> None:
    """In the private chat, the reply is sent right there, not as a reply."""
    await harness.feed(message=tg.private_command("/help"))
    (answer,) = harness.dm()
    assert "What Cohort can do" in text_of(answer)
    assert "reply_parameters" not in answer.parameters
    assert "/recommend" in text_of(answer)


async def test_mydata_sends_the_export_as_a_document(harness: Harness) -> None:
    """/mydata sends its text, then the JSON export as a document, privately."""
    await harness.seen_in_group()
    await harness.feed(message=tg.command("/optin"))
    await harness.feed(message=tg.private_command("/mydata"))

    assert "Here is everything Cohort holds about you." in text_of(harness.dm()[-1])
    (document,) = harness.api.sent("sendDocument", ALICE["id"])
    (upload,) = document.uploads
    assert (upload.filename, upload.mimetype) == ("cohort-data.json", "application/json")
    export = json.loads(upload.content)
    assert export["subject"] == f"telegram:{ALICE['id']}"
    assert harness.api.methods().index("sendDocument") > harness.api.methods().index("sendMessage")


# -- moderators ------------------------------------------------------------------------


async def test_member_promote_is_refused_and_audited(harness: Harness) -> None:
    """A plain member's /promote: Telegram says "member", the service refuses (in the
    DM) and writes a denied audit row."""
    await harness.seen_in_group(BOB)
    await harness.feed(
        message=tg.command(f"/promote {FIRST_COURSE} opted-in", sender=BOB, message_id=320)
    )

    (lookup,) = harness.api.sent("getChatMember")
    assert lookup.parameters == {"chat_id": GROUP_ID, "user_id": BOB["id"]}
    (refusal,) = harness.dm(BOB)
    assert "Only moderators and admins can do this." in text_of(refusal)
    audit = await rows(
        harness.cohort, select(s.audit_log.c.action, s.audit_log.c.outcome, s.audit_log.c.target)
    )
    assert audit == [("promote", "denied", f"{FIRST_COURSE} opted-in")]
    assert harness.group() == []


async def test_admin_gets_a_preview_and_confirms_it_from_the_private_chat(
    harness: Harness,
) -> None:
    """An administrator's /promote previews with Confirm/Cancel in their DM; pressing
    Confirm there acts in the group the command came from."""
    await harness.seen_in_group(BOB)
    harness.api.statuses[(GROUP_ID, BOB["id"])] = "administrator"
    await harness.feed(
        message=tg.command(f"/promote {FIRST_COURSE} opted-in", sender=BOB, message_id=321)
    )
    (preview,) = harness.dm(BOB)
    assert TITLES[0] in text_of(preview) and "Preview:" in text_of(preview)
    confirm, cancel = fake.callback_data(preview)
    assert confirm.startswith("pr:") and confirm[3:].isdigit()
    assert cancel == "pr:cancel"

    await harness.feed(callback_query=tg.callback_query(confirm, who=BOB, message=preview.result))
    assert "Queued for 0 members." in text_of(harness.dm(BOB)[-1])
    assert len(harness.api.sent("getChatMember")) == 1  # the answer is cached
    (answered,) = harness.api.sent("answerCallbackQuery")
    assert "text" not in answered.parameters
    sends = await rows(
        harness.cohort,
        select(s.audit_log.c.outcome).where(s.audit_log.c.action == "promote.send"),
    )
    assert sends == [("queued",)]


async def test_creator_counts_as_admin_and_status_is_cached_for_five_minutes(
    sqlite_cohort: Cohort,
) -> None:
    """The chat creator is an admin; getChatMember is asked again after five minutes."""
    now = [1000.0]
    api = FakeTelegram()
    api.statuses[(GROUP_ID, BOB["id"])] = "creator"
    router = TelegramCommands(Commands(Services.build(sqlite_cohort)), clock=lambda: now[0])
    application = build_application(
        RecordingSink(sqlite_cohort.pipeline), tg.TOKEN, request=api, commands=router
    )
    await application.initialize()
    await application.start()
    try:
        for step in (0.0, 299.0, 2.0):
            now[0] += step
            payload = tg.command("/insights", sender=BOB)
            await application.process_update(
                Update.de_json(tg.update(message=payload), application.bot)
            )
            await fake.settle()
    finally:
        await application.stop()
        await application.shutdown()
    assert len(api.sent("getChatMember")) == 2
    replies = api.sent("sendMessage", BOB["id"])
    assert len(replies) == 3
    assert not any("Only moderators" in text_of(call) for call in replies)


async def test_missing_argument_answers_with_usage_in_the_topic(harness: Harness) -> None:
    """/promote without arguments gets its usage as a reply, in the same forum topic,
    without asking Telegram who is an admin."""
    forum = tg.supergroup(is_forum=True)
    harness.api.chats[GROUP_ID] = forum
    root = tg.topic_root(55, chat=forum)
    await harness.feed(
        message=tg.command(
            "/promote", chat=forum, message_thread_id=55, is_topic_message=True,
            reply_to_message=root, message_id=330,
        )
    )  # fmt: skip
    (answer,) = harness.group()
    assert text_of(answer) == "Usage: /promote &lt;course&gt; &lt;audience&gt;"
    assert answer.parameters["message_thread_id"] == 55
    assert answer.parameters["reply_parameters"]["message_id"] == 330
    assert harness.api.sent("getChatMember") == []


async def test_confirmed_promotion_is_delivered_through_the_transport(harness: Harness) -> None:
    """Preview, confirm, dispatch: the opted-in member gets the course by DM through
    `TelegramAdapter.transport()`; a blocked member becomes unreachable until they
    write to the bot again."""
    await harness.seen_in_group()
    await harness.seen_in_group(BOB)
    await harness.feed(message=tg.command("/optin"))  # Alice accepts DMs
    harness.api.statuses[(GROUP_ID, BOB["id"])] = "administrator"
    await harness.feed(message=tg.command(f"/promote {FIRST_COURSE} opted-in", sender=BOB))
    (preview,) = harness.dm(BOB)
    assert "Preview: 1 members in the audience" in text_of(preview)
    confirm = fake.callback_data(preview)[0]
    await harness.feed(callback_query=tg.callback_query(confirm, who=BOB, message=preview.result))
    assert "Queued for 1 members." in text_of(harness.dm(BOB)[-1])

    harness.api.fail("sendMessage", fake.BOT_BLOCKED, chat_id=ALICE["id"])
    dispatcher = Dispatcher(harness.services.context, {"telegram": harness.adapter.transport()})
    report = await dispatcher.drain(deferred=True)
    assert (report.sent, report.unreachable) == (0, 1)
    async with harness.cohort.store.read() as conn:
        alice = await find_member(conn, "telegram", str(ALICE["id"]))
    assert alice is not None and alice.dm_unreachable_at is not None

    await harness.feed(message=tg.private_command("/start"))
    async with harness.cohort.store.read() as conn:
        alice = await find_member(conn, "telegram", str(ALICE["id"]))
    assert alice is not None and alice.dm_unreachable_at is None


async def test_dispatched_promotion_reaches_the_member(harness: Harness) -> None:
    """A queued promotion DM arrives with its title and its "Interested" button."""
    await harness.seen_in_group()
    await harness.seen_in_group(BOB)
    await harness.feed(message=tg.command("/optin"))
    harness.api.statuses[(GROUP_ID, BOB["id"])] = "creator"
    await harness.feed(message=tg.command(f"/promote {FIRST_COURSE} opted-in", sender=BOB))
    confirm = fake.callback_data(harness.dm(BOB)[-1])[0]
    preview = harness.dm(BOB)[-1]
    await harness.feed(callback_query=tg.callback_query(confirm, who=BOB, message=preview.result))
    before = len(harness.dm())
    dispatcher = Dispatcher(harness.services.context, {"telegram": harness.adapter.transport()})
    assert (await dispatcher.drain(deferred=True)).sent == 1
    (promotion,) = harness.dm()[before:]
    assert text_of(promotion).startswith(f"<b>{TITLES[0]}</b>")
    [interested] = fake.callback_data(promotion)
    assert interested.startswith("in:")


# -- deep links ------------------------------------------------------------------------


async def test_start_optin_deep_link_records_consent_for_that_chat(harness: Harness) -> None:
    """`/start optin_<chat id>` in the private chat opts the member in for that group."""
    await harness.seen_in_group()
    assert not harness.cohort.gate.may_dm("telegram", GROUP, str(ALICE["id"]))
    await harness.feed(message=tg.private_command(f"/start optin_{GROUP}"))
    assert harness.cohort.gate.may_dm("telegram", GROUP, str(ALICE["id"]))
    (answer,) = harness.dm()
    assert "Direct messages from Cohort are on." in text_of(answer)


async def test_start_without_payload_welcomes(harness: Harness) -> None:
    """A bare /start shows what Cohort can do."""
    await harness.feed(message=tg.private_command("/start"))
    (answer,) = harness.dm()
    assert "What Cohort can do" in text_of(answer)


# -- buttons ---------------------------------------------------------------------------


async def test_next_page_edits_the_message_it_is_on(harness: Harness) -> None:
    """`pg:courses:2` replaces the page in place, with new previous/next buttons."""
    await harness.feed(message=tg.private_command("/courses"))
    (first,) = harness.dm()
    assert fake.callback_data(first) == ["pg:courses:2"]

    await harness.feed(callback_query=tg.callback_query("pg:courses:2", message=first.result))
    (edit,) = harness.api.sent("editMessageText")
    assert edit.parameters["chat_id"] == ALICE["id"]
    assert edit.parameters["message_id"] == first.result["message_id"]
    assert "Page 2 of " in edit.parameters["text"]  # the demo catalog's size may change
    assert fake.callback_data(edit) == ["pg:courses:1", "pg:courses:3"]
    assert len(harness.dm()) == 1  # nothing new sent
    assert len(harness.api.sent("answerCallbackQuery")) == 1


async def test_pressing_the_same_page_again_is_not_an_error(harness: Harness) -> None:
    """Telegram's "message is not modified" is fine: the press is answered quietly."""
    await harness.feed(message=tg.private_command("/courses"))
    (first,) = harness.dm()
    harness.api.fail("editMessageText", fake.NOT_MODIFIED)
    await harness.feed(callback_query=tg.callback_query("pg:courses:1", message=first.result))
    (answered,) = harness.api.sent("answerCallbackQuery")
    assert "text" not in answered.parameters
    assert len(harness.dm()) == 1


async def test_optin_button_in_a_dm_opts_in_and_replies_there(harness: Harness) -> None:
    """The "Opt in" button (`optin:<chat id>`) records consent and answers in the DM."""
    await harness.seen_in_group()
    await harness.feed(message=tg.command("/recommend"))
    (picks,) = harness.dm()
    assert f"optin:{GROUP}" in fake.callback_data(picks)
    await harness.feed(callback_query=tg.callback_query(f"optin:{GROUP}", message=picks.result))
    assert harness.cohort.gate.may_dm("telegram", GROUP, str(ALICE["id"]))
    assert "You're in" in text_of(harness.dm()[-1])


async def test_button_in_group_with_closed_dms_is_answered_then_told_in_the_group(
    harness: Harness,
) -> None:
    """A press in the group whose private answer Telegram refuses: the press is answered
    first, then the group gets the neutral line (a reply to the button's message) with
    the bot link; nothing private is posted there."""
    await harness.seen_in_group()
    group_post = tg.bot_message(chat=tg.supergroup(), text="A course for you", message_id=950)
    harness.api.fail("sendMessage", fake.BOT_BLOCKED, chat_id=ALICE["id"])
    await harness.feed(callback_query=tg.callback_query("zz:gone", message=group_post))
    (answered,) = harness.api.sent("answerCallbackQuery")
    assert "text" not in answered.parameters
    (notice,) = harness.group()
    assert notice.parameters["reply_parameters"]["message_id"] == 950
    assert fake.button_urls(notice) == [f"{BOT_LINK}?start=help"]
    assert "open a chat with me" in text_of(notice)
    assert "expired" not in text_of(notice)


# -- robustness ------------------------------------------------------------------------


async def test_command_for_another_bot_is_ignored(harness: Harness) -> None:
    """`/recommend@otherbot` is not for us: no call to Telegram at all."""
    await harness.feed(message=tg.command("/recommend@otherbot"))
    await harness.feed(message=tg.command("/recommend@Cohort_Test_Bot", message_id=302))
    assert [call.method for call in harness.api.outgoing()] == ["sendMessage"]


async def test_anonymous_admin_is_told_to_use_their_own_account(harness: Harness) -> None:
    """A command sent on behalf of the group names nobody: it is not run, and the group
    is told (as a reply) to send it from a personal account."""
    payload = tg.command(
        f"/promote {FIRST_COURSE} opted-in", sender=tg.ANONYMOUS_ADMIN,
        sender_chat=tg.supergroup(), message_id=360,
    )  # fmt: skip
    await harness.feed(message=payload)
    (hint,) = harness.group()
    assert "your own account" in text_of(hint)
    assert hint.parameters["reply_parameters"]["message_id"] == 360
    assert harness.api.sent("getChatMember") == []
    audit = await rows(harness.cohort, select(s.audit_log.c.action))
    assert audit == []


async def test_member_posting_as_a_channel_is_ignored(harness: Harness) -> None:
    """A command sent as a channel (not the group itself) is not run and not answered."""
    payload = tg.command("/insights", sender=ALICE, sender_chat=tg.channel())
    await harness.feed(message=payload)
    assert harness.api.outgoing() == []


async def test_commands_are_not_stored_as_member_messages(harness: Harness) -> None:
    """A command (`/promote rust-101 opted-in`) is addressed to the bot: it is answered
    but never ingested as chat, so it cannot become profile text."""
    await harness.feed(message=tg.command("/help", message_id=340))
    await harness.feed(message=tg.command(f"/promote {FIRST_COURSE} opted-in", message_id=341))
    await harness.feed(message=tg.command("/recommend@otherbot", message_id=342))
    assert [e for e in harness.sink.events if isinstance(e, MessagePosted)] == []
    assert harness.dm()  # the commands were still answered
    handlers = harness.adapter.application.handlers
    assert INGEST_GROUP in handlers and 0 in handlers


async def test_errors_are_logged_and_apologised_for(
    harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while answering is logged with its traceback, the member gets a short
    apology, and nothing reaches PTB's error handler."""

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("service on fire")

    assert harness.adapter.commands is not None
    monkeypatch.setattr(harness.adapter.commands.commands, "run", broken)
    caplog.set_level(logging.ERROR)
    await harness.feed(message=tg.command("/recommend", message_id=350))
    (apology,) = harness.group()
    assert "Something went wrong" in text_of(apology)
    assert apology.parameters["reply_parameters"]["message_id"] == 350
    (record,) = [r for r in caplog.records if r.name == "bot.adapters.telegram.commands"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert not [r for r in caplog.records if r.name == "bot.adapters.telegram.app"]


async def test_failed_button_press_is_answered_with_an_apology(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A press is answered first; if sending the result then fails, the member gets a
    short apology in the private chat."""
    await harness.feed(message=tg.private_command("/courses"))
    (first,) = harness.dm()
    harness.api.fail("sendMessage", exception=TimedOut())
    await harness.feed(callback_query=tg.callback_query("fg:cancel", message=first.result))
    (answered,) = harness.api.sent("answerCallbackQuery")
    assert "text" not in answered.parameters
    assert "Something went wrong" in text_of(harness.dm()[-1])
    assert "button press failed" in caplog.text


# -- the command menu ------------------------------------------------------------------


async def test_start_sets_the_command_menus(harness: Harness) -> None:
    """start() sets English and Chinese menus; admins also see moderator commands."""
    api = FakeTelegram(polling=True)
    adapter = TelegramAdapter(
        RecordingSink(harness.cohort.pipeline), tg.TOKEN, request=api,
        commands=Commands(Services.build(harness.cohort)),
    )  # fmt: skip
    await adapter.start()
    await adapter.stop()
    menus = {
        (call.parameters.get("scope", {}).get("type"), call.parameters.get("language_code")): {
            c["command"]: c["description"] for c in call.parameters["commands"]
        }
        for call in api.sent("setMyCommands")
    }
    members = {spec.name for spec in COMMANDS if not spec.moderator}
    assert set(menus) == {
        ("default", None), ("default", "zh"),
        ("all_chat_administrators", None), ("all_chat_administrators", "zh"),
    }  # fmt: skip
    assert set(menus[("default", None)]) == members
    assert set(menus[("all_chat_administrators", None)]) == {spec.name for spec in COMMANDS}
    assert menus[("default", None)]["recommend"] == "Course picks for you"
    zh = translator("zh")
    assert menus[("default", "zh")]["recommend"] == zh("Course picks for you")


async def test_menu_failure_does_not_stop_the_bot(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused setMyCommands is logged; the bot keeps running."""
    api = FakeTelegram(polling=True)
    api.fail("setMyCommands", (400, "Bad Request: BOT_COMMAND_INVALID"), times=None)
    adapter = TelegramAdapter(
        RecordingSink(harness.cohort.pipeline), tg.TOKEN, request=api,
        commands=Commands(Services.build(harness.cohort)),
    )  # fmt: skip
    await adapter.start()
    try:
        assert adapter.running
    finally:
        await adapter.stop()
    assert len(api.sent("setMyCommands")) == 4
    assert "could not set the default command menu" in caplog.text


async def test_without_commands_the_bot_only_listens(sqlite_cohort: Cohort) -> None:
    """With commands=None messages are ingested and nothing is answered or registered."""
    api = FakeTelegram(polling=True)
    sink = RecordingSink(sqlite_cohort.pipeline)
    adapter = TelegramAdapter(sink, tg.TOKEN, request=api)
    await adapter.start()
    try:
        application = adapter.application
        for payload in (
            tg.update(message=tg.command("/recommend")),
            tg.update(message=tg.message()),
        ):
            await application.process_update(Update.de_json(payload, application.bot))
    finally:
        await adapter.stop()
    assert set(api.methods()) <= {"getMe", "deleteWebhook", "getUpdates"}
    assert [type(e) for e in sink.events] == [MessagePosted]
