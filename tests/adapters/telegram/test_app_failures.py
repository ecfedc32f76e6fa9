"""The Telegram adapter as real servers behave: revoked tokens, conflicts, flood control,
slow replies, closed DMs, anonymous admins, the bot's own rights, webhooks. Real PTB
updates and the real command layer; only Telegram's servers are fake (`FakeTelegram`)."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from telegram import Update

from bot.adapters.telegram import TelegramAdapter
from bot.adapters.telegram.receiving import Webhook
from bot.app import Cohort
from bot.config import TelegramSettings
from bot.core.commands import Commands
from bot.core.services.suite import Services
from bot.domain.events import MessagePosted
from bot.domain.replies import Reply
from tests.fakes import telegram as fake
from tests.fakes import telegram_payloads as tg
from tests.fakes.sink import RecordingSink
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram_payloads import ALICE, BOB, GROUP_ID

GROUP = str(GROUP_ID)
BOT_LINK = "https://t.me/cohort_test_bot"


@dataclass
class Harness:
    cohort: Cohort
    api: FakeTelegram
    adapter: TelegramAdapter
    sink: RecordingSink

    async def process(self, **kind: dict[str, Any]) -> None:
        """Process one update as polling does (handlers' tasks may still run)."""
        application = self.adapter.application
        await application.process_update(Update.de_json(tg.update(**kind), application.bot))

    async def feed(self, **kind: dict[str, Any]) -> None:
        """Process one update and wait for its handlers."""
        await self.process(**kind)
        await fake.settle()

    def dm(self, who: dict[str, Any] = ALICE) -> list[fake.Call]:
        return self.api.sent("sendMessage", who["id"])

    def group(self) -> list[fake.Call]:
        return self.api.sent("sendMessage", GROUP_ID)


def text_of(call: fake.Call) -> str:
    return str(call.parameters.get("text") or "")


def adapter_for(
    cohort: Cohort, api: FakeTelegram, sink: RecordingSink | None = None, **options: Any
) -> TelegramAdapter:
    commands = Commands(Services.build(cohort))
    sink = sink if sink is not None else RecordingSink(cohort.pipeline)
    return TelegramAdapter(sink, tg.TOKEN, request=api, commands=commands, **options)


@pytest.fixture
async def harness(sqlite_cohort: Cohort) -> AsyncIterator[Harness]:
    api = FakeTelegram()
    sink = RecordingSink(sqlite_cohort.pipeline)
    commands = Commands(Services.build(sqlite_cohort))
    adapter = TelegramAdapter(sink, tg.TOKEN, request=api, commands=commands)
    await adapter.application.initialize()
    await adapter.application.start()
    yield Harness(sqlite_cohort, api, adapter, sink)
    await adapter.stop()


async def seen_in_group(harness: Harness, who: dict[str, Any] = ALICE) -> None:
    await harness.feed(message=tg.message("hello everyone", sender=who, message_id=77))
    await harness.cohort.pipeline.flush()


async def until(condition: Any, attempts: int = 500) -> None:
    """Let the loop run until `condition()` holds (fails the test if it never does)."""
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("condition never held")


# -- polling ---------------------------------------------------------------------------


async def test_revoked_token_while_polling_stops_the_adapter_with_one_line(
    sqlite_cohort: Cohort, caplog: pytest.LogCaptureFixture
) -> None:
    """A 401 on getUpdates after start: `running` turns false (serve stops) and the log
    has one clear ERROR line, without PTB's traceback."""
    api = FakeTelegram(polling=True)
    adapter = adapter_for(sqlite_cohort, api)
    await adapter.start()
    try:
        assert adapter.running
        api.fail("getUpdates", (401, "Unauthorized"), times=None)
        await until(lambda: not adapter.running)
    finally:
        await adapter.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [adapter.failure]
    assert adapter.failure is not None and "401" in adapter.failure
    assert all(r.exc_info is None for r in errors)


async def test_conflict_stops_polling_instead_of_retrying_forever(
    sqlite_cohort: Cohort, caplog: pytest.LogCaptureFixture
) -> None:
    """A 409 Conflict (two processes on one token) stops polling with one ERROR line."""
    api = FakeTelegram(polling=True)
    adapter = adapter_for(sqlite_cohort, api)
    conflict = (409, "Conflict: terminated by other getUpdates request")
    await adapter.start()
    try:
        api.fail("getUpdates", conflict, times=None)
        await until(lambda: not adapter.running)
        await until(lambda: not adapter.application.updater.running)  # type: ignore[union-attr]
        polls = len(api.sent("getUpdates"))
        await asyncio.sleep(0.2)
        assert len(api.sent("getUpdates")) == polls  # no more retries
    finally:
        await adapter.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "409 Conflict" in errors[0].getMessage()
    assert errors[0].exc_info is None


# -- concurrency -----------------------------------------------------------------------


async def test_ingestion_never_waits_for_a_slow_command(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a command's reply is still being made, the next group message is ingested."""
    release = asyncio.Event()
    assert harness.adapter.commands is not None
    commands = harness.adapter.commands.commands
    original = commands.run

    async def slow(*args: Any, **kwargs: Any) -> Reply:
        await release.wait()
        return await original(*args, **kwargs)

    monkeypatch.setattr(commands, "run", slow)
    await harness.process(message=tg.private_command("/help"))
    await harness.process(message=tg.message("next message", message_id=120))
    assert [e.message for e in harness.sink.events if isinstance(e, MessagePosted)] == ["120"]
    assert harness.dm() == []  # the command is still running
    release.set()
    await fake.settle()
    assert "What Cohort can do" in text_of(harness.dm()[-1])


async def test_button_press_is_answered_before_the_work(harness: Harness) -> None:
    """answerCallbackQuery is the first call a press makes, before the reply is sent."""
    await harness.feed(message=tg.private_command("/courses"))
    (first,) = harness.dm()
    before = len(harness.api.calls)
    await harness.feed(callback_query=tg.callback_query("optin:unknown", message=first.result))
    methods = [call.method for call in harness.api.calls[before:]]
    assert methods[0] == "answerCallbackQuery" and "sendMessage" in methods[1:]


# -- flood control and apologies -------------------------------------------------------


async def test_reply_hit_by_flood_control_is_retried(harness: Harness) -> None:
    """A 429 on a reply is waited out and the same reply is sent again, not lost."""
    harness.api.fail("sendMessage", fake.flood(1), chat_id=ALICE["id"])
    await harness.feed(message=tg.private_command("/help"))
    attempts = harness.dm()
    assert len(attempts) == 2
    assert attempts[0].parameters == attempts[1].parameters
    assert "What Cohort can do" in text_of(attempts[1])


async def test_apology_for_a_failed_private_reply_goes_to_the_private_chat(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A group command whose private reply fails for good: the apology is sent
    privately, and nothing is posted in the group."""
    await seen_in_group(harness)
    harness.api.fail("sendMessage", (400, "Bad Request: message is too long"), chat_id=ALICE["id"])
    await harness.feed(message=tg.command("/recommend", message_id=303))
    assert harness.group() == []
    assert "Something went wrong" in text_of(harness.dm()[-1])


# -- consent deep links ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "line", "granted"),
    [
        ("optin", "To get messages from Cohort, open a chat with me.", True),
        ("optout", "Open a chat with me to see the details.", False),
    ],
)
async def test_consent_command_with_closed_dms_links_to_that_community(
    harness: Harness, command: str, line: str, granted: bool
) -> None:
    """/optin (or /optout) in the group with DMs closed: the decision is recorded, the
    group hears "Done" (not "I can't message you"), and the button's `/start` in the
    private chat confirms the decision for that group."""
    await seen_in_group(harness)
    harness.api.fail("sendMessage", fake.BOT_NOT_STARTED, chat_id=ALICE["id"])
    await harness.feed(message=tg.command(f"/{command}", message_id=330))
    (notice,) = harness.group()
    assert line in text_of(notice) and "can't message you" not in text_of(notice)
    (link,) = fake.button_urls(notice)
    assert link == f"{BOT_LINK}?start={command}_{GROUP}"
    assert harness.cohort.gate.may_dm("telegram", GROUP, str(ALICE["id"])) is granted

    payload = link.partition("?start=")[2]
    await harness.feed(message=tg.private_command(f"/start {payload}"))
    (answer,) = harness.dm()[-1:]
    expected = (
        "Direct messages from Cohort are on." if granted else "Direct messages from Cohort are off."
    )
    assert expected in text_of(answer)
    assert "inside the community" not in text_of(answer)
    assert harness.cohort.gate.may_dm("telegram", GROUP, str(ALICE["id"])) is granted


# -- who is there ----------------------------------------------------------------------


async def test_username_mentions_resolve_to_members_seen_before(harness: Harness) -> None:
    """`@bobby` becomes a mention of Bob once Bob was seen; unknown usernames do not."""
    await harness.feed(message=tg.message("hi", sender=BOB, message_id=200))
    text = "@bobby and @stranger know rust"
    entities = [
        {"offset": 0, "length": 6, "type": "mention"},
        {"offset": 11, "length": 9, "type": "mention"},
    ]
    await harness.feed(message=tg.message(text, message_id=201, entities=entities))
    posted = [e for e in harness.sink.events if isinstance(e, MessagePosted)][-1]
    assert posted.mentions == (str(BOB["id"]),)
    assert posted.text == "@user and @user know rust"


async def test_bot_added_without_admin_rights_tells_the_group_what_is_missing(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """my_chat_member: added as a plain member, the bot logs it and names the missing
    admin rights in the group; added as an admin it says nothing."""
    caplog.set_level(logging.INFO)
    added = tg.member_update(
        tg.chat_member("left", tg.BOT_USER), tg.chat_member("member", tg.BOT_USER), actor=ALICE
    )
    await harness.feed(my_chat_member=added)
    (notice,) = harness.group()
    assert "Administrator rights" in text_of(notice)
    assert f"Cohort is member in Telegram group {GROUP_ID} (added)" in caplog.text

    promoted = tg.member_update(
        tg.chat_member("member", tg.BOT_USER),
        tg.chat_member("administrator", tg.BOT_USER),
        actor=ALICE,
    )
    await harness.feed(my_chat_member=promoted)
    removed = tg.member_update(
        tg.chat_member("administrator", tg.BOT_USER), tg.chat_member("left", tg.BOT_USER),
        actor=ALICE,
    )  # fmt: skip
    await harness.feed(my_chat_member=removed)
    assert len(harness.group()) == 1
    assert f"Cohort was removed from Telegram group {GROUP_ID}" in caplog.text


async def test_member_who_blocked_the_bot_is_logged_without_a_traceback(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Forbidden in a private chat is one INFO line, no traceback, no apology attempt."""
    harness.api.fail("sendMessage", fake.BOT_BLOCKED, chat_id=ALICE["id"], times=None)
    await harness.feed(message=tg.private_command("/help"))
    assert len(harness.dm()) == 1  # the reply; no apology after it
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in caplog.records if r.exc_info]


async def test_press_on_an_inaccessible_message_is_still_handled(harness: Harness) -> None:
    """A button on a message older than 48 hours (`date` 0) is answered and acted on."""
    gone = {"chat": tg.private_chat(), "message_id": 9001, "date": 0}
    await harness.feed(callback_query=tg.callback_query("pg:courses:2", message=gone))
    assert harness.api.sent("answerCallbackQuery")
    assert harness.api.sent("editMessageText") == []
    assert harness.dm()  # the page was sent anew, since it cannot be edited


# -- webhook ---------------------------------------------------------------------------


def test_webhook_mode_needs_a_url_and_a_secret() -> None:
    """[telegram] mode = "webhook" without webhook_url or a valid secret is refused."""
    with pytest.raises(ValueError, match="webhook_url"):
        TelegramSettings(token="t", mode="webhook")
    with pytest.raises(ValueError, match="webhook_secret"):
        TelegramSettings(token="t", mode="webhook", webhook_url="https://x.example/tg")
    ok = TelegramSettings(
        token="t", mode="webhook", webhook_url="https://x.example/tg", webhook_secret="s3cr3t"
    )
    assert ok.mode == "webhook"


def _post(url: str, body: dict[str, Any], secret: str | None) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if secret is not None:
        request.add_header("X-Telegram-Bot-Api-Secret-Token", secret)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_webhook_mode_sets_the_secret_and_refuses_requests_without_it(
    sqlite_cohort: Cohort, unused_tcp_port: int
) -> None:
    """Webhook mode registers the URL and secret with Telegram; a post without the
    secret is refused (403), one with it is ingested."""
    api = FakeTelegram()
    hook = Webhook("https://bot.example.com/telegram", "s3cr3t", port=unused_tcp_port)
    sink = RecordingSink(sqlite_cohort.pipeline)
    adapter = adapter_for(sqlite_cohort, api, sink, webhook=hook)
    await adapter.start()
    try:
        assert adapter.running
        (registered,) = api.sent("setWebhook")
        assert registered.parameters["url"] == hook.url
        assert registered.parameters["secret_token"] == "s3cr3t"
        local = f"http://127.0.0.1:{unused_tcp_port}/telegram"
        update = tg.update(message=tg.message("webhook rust", message_id=404))
        assert await asyncio.to_thread(_post, local, update, None) == 403
        assert await asyncio.to_thread(_post, local, update, "s3cr3t") == 200
        await until(lambda: any(isinstance(e, MessagePosted) for e in sink.events))
    finally:
        await adapter.stop()
    assert api.sent("getUpdates") == []
