"""The Telegram delivery transport: a real PTB `Bot`, Telegram's answers faked at the edge."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.adapters.telegram import TelegramAdapter, TelegramTransport
from bot.adapters.telegram.transport import send_reply
from bot.core.delivery.transport import Delivery, SendResult, SendStatus
from bot.domain.replies import Button, ButtonStyle, File, Image, Paragraph, Reply
from tests.fakes import telegram as fake
from tests.fakes import telegram_payloads as tg
from tests.fakes.sink import RecordingSink
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram_payloads import ALICE, GROUP_ID

# PTB's own RetryAfter constructor reads its deprecated int `retry_after`.
PTB_RETRY_AFTER_WARNING = pytest.mark.filterwarnings(
    "ignore::telegram.warnings.PTBDeprecationWarning"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PICK = Reply(
    (Paragraph.of("A course picked for you:"),),
    title="Rust from Zero",
    buttons=(
        (
            Button("Interested", action="in:tok123", style=ButtonStyle.PRIMARY),
            Button("Learn more", url="https://courses.example/rust-101"),
        ),
    ),
)


def delivery(reply: Reply = PICK, *, kind: str = "dm", recipient: str | None = None) -> Delivery:
    """A promotion delivery to Alice (dm) or to the group (channel)."""
    if recipient is None:
        recipient = str(ALICE["id"]) if kind == "dm" else str(GROUP_ID)
    return Delivery(
        id=41, kind=kind, purpose="promotion", platform="telegram", recipient=recipient,
        community=str(GROUP_ID), reply=reply, course="rust-101", campaign="c1",
    )  # fmt: skip


@dataclass
class Edge:
    api: FakeTelegram
    transport: TelegramTransport


@pytest.fixture
async def edge() -> AsyncIterator[Edge]:
    api = FakeTelegram()
    async with Bot(tg.TOKEN, request=api) as bot:
        yield Edge(api, TelegramTransport(bot))


async def test_dm_is_sent_with_its_keyboard(edge: Edge) -> None:
    """A DM goes to the member's user id, in HTML, with the reply's buttons."""
    assert await edge.transport.send(delivery()) == SendResult(SendStatus.SENT)
    (call,) = edge.api.sent("sendMessage")
    assert call.parameters["chat_id"] == ALICE["id"]
    assert call.parameters["parse_mode"] == "HTML"
    assert call.parameters["text"].startswith("<b>Rust from Zero</b>")
    assert fake.callback_data(call) == ["in:tok123"]
    assert fake.button_urls(call) == ["https://courses.example/rust-101"]


async def test_channel_delivery_goes_to_the_group(edge: Edge) -> None:
    """A channel delivery is posted to the group's chat id."""
    result = await edge.transport.send(delivery(kind="channel"))
    assert result.status is SendStatus.SENT
    (call,) = edge.api.sent("sendMessage")
    assert call.parameters["chat_id"] == GROUP_ID


async def test_photo_and_file_follow_the_text(edge: Edge) -> None:
    """An image is sent as a photo and a file as a document, after the text."""
    reply = Reply(
        (Paragraph.of("x" * 1500),),
        image=Image(PNG, "chart.png", "a chart"),
        file=File(b'{"a": 1}', "data.json"),
    )
    assert (await edge.transport.send(delivery(reply))).status is SendStatus.SENT
    assert [call.method for call in edge.api.outgoing()] == [
        "sendMessage", "sendPhoto", "sendDocument",
    ]  # fmt: skip
    (document,) = edge.api.sent("sendDocument")
    assert document.uploads[0].content == b'{"a": 1}'


@pytest.mark.parametrize(
    ("answer", "kind", "status"),
    [
        (fake.BOT_NOT_STARTED, "dm", SendStatus.UNREACHABLE),
        (fake.BOT_BLOCKED, "dm", SendStatus.UNREACHABLE),
        (fake.CHAT_NOT_FOUND, "dm", SendStatus.UNREACHABLE),
        (fake.BOT_KICKED, "channel", SendStatus.FAILED),
        (fake.CHAT_NOT_FOUND, "channel", SendStatus.FAILED),
        (fake.BAD_ENTITIES, "dm", SendStatus.FAILED),
    ],
)
async def test_refusals_map_to_a_status(
    edge: Edge, answer: tuple[int, str], kind: str, status: SendStatus
) -> None:
    """Forbidden and "chat not found" mean unreachable for a DM, failed for a chat;
    other bad requests fail."""
    edge.api.fail("sendMessage", answer)
    result = await edge.transport.send(delivery(kind=kind))
    assert result.status is status
    assert result.retry_after is None
    assert result.error is not None and answer[1].split(": ", 1)[1] in result.error.lower()


@PTB_RETRY_AFTER_WARNING
async def test_flood_control_pauses_for_telegrams_delay(edge: Edge) -> None:
    """RetryAfter becomes RATE_LIMITED with Telegram's seconds (no sleeping in the transport)."""
    edge.api.fail("sendMessage", fake.flood(35))
    result = await edge.transport.send(delivery())
    assert result.status is SendStatus.RATE_LIMITED
    assert result.retry_after == 35.0
    assert len(edge.api.sent("sendMessage")) == 1


def _from(error: NetworkError, cause: Exception) -> NetworkError:
    """`error` raised from the httpx error `cause`, as PTB's HTTPXRequest raises it."""
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(_from(TimedOut(), httpx.ConnectTimeout("connect")), id="connect-timeout"),
        pytest.param(_from(TimedOut("Pool timeout"), httpx.PoolTimeout("pool")), id="pool"),
        pytest.param(
            _from(NetworkError("httpx.ConnectError: refused"), httpx.ConnectError("refused")),
            id="refused",
        ),
    ],
)
async def test_network_trouble_before_the_request_is_retried(
    edge: Edge, error: NetworkError
) -> None:
    """A connection never made (refused, connect or pool timeout): nothing sent, try again."""
    edge.api.fail("sendMessage", exception=error)
    result = await edge.transport.send(delivery())
    assert result.status is SendStatus.RETRY
    assert result.retry_after is None


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(_from(TimedOut(), httpx.ReadTimeout("read")), id="read-timeout"),
        pytest.param(
            _from(
                NetworkError("httpx.RemoteProtocolError: disconnected"),
                httpx.RemoteProtocolError("disconnected"),
            ),
            id="disconnected",
        ),
        pytest.param(NetworkError("Bad Gateway"), id="5xx"),
    ],
)
async def test_network_trouble_after_the_request_is_uncertain(
    edge: Edge, error: NetworkError
) -> None:
    """TimedOut after sending, a dropped connection, a 5xx: maybe delivered, UNCERTAIN."""
    edge.api.fail("sendMessage", exception=error)
    result = await edge.transport.send(delivery())
    assert result.status is SendStatus.UNCERTAIN


async def test_server_error_answer_is_uncertain(edge: Edge) -> None:
    """A 502 answer from the Bot API says nothing about whether the message went out."""
    edge.api.fail("sendMessage", (502, "Bad Gateway"))
    assert (await edge.transport.send(delivery())).status is SendStatus.UNCERTAIN


@PTB_RETRY_AFTER_WARNING
async def test_failure_after_the_first_message_counts_as_sent(edge: Edge) -> None:
    """A long reply refused half-way is SENT with the error noted: never resend half."""
    long_reply = Reply(tuple(Paragraph.of("y" * 3000) for _ in range(3)))
    edge.api.fail("sendMessage", fake.flood(5), skip=1)
    result = await edge.transport.send(delivery(long_reply))
    assert result.status is SendStatus.SENT
    assert result.error is not None and "partly sent (1 messages)" in result.error
    assert len(edge.api.sent("sendMessage")) == 2


async def test_unexpected_errors_fail_without_raising(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    """A reply Telegram could never show (over 100 buttons) fails and is logged."""
    too_many = Reply(
        (Paragraph.of("pick"),),
        buttons=tuple((Button(str(i), action=f"x:{i}"),) for i in range(101)),
    )
    caplog.set_level(logging.ERROR)
    result = await edge.transport.send(delivery(too_many))
    assert result.status is SendStatus.FAILED
    assert "failed unexpectedly" in caplog.text
    assert edge.api.outgoing() == []


async def test_other_platforms_and_empty_replies_fail(edge: Edge) -> None:
    """A Discord delivery or an empty reply is not sent."""
    discord = Delivery(1, "dm", "promotion", "discord", "42", None, PICK)
    assert (await edge.transport.send(discord)).status is SendStatus.FAILED
    assert (await edge.transport.send(delivery(Reply()))).status is SendStatus.FAILED
    assert edge.api.outgoing() == []


async def test_adapter_transport_sends_through_the_adapters_bot() -> None:
    """`TelegramAdapter.transport()` uses the adapter's own (rate-limited) bot."""
    api = FakeTelegram()
    adapter = TelegramAdapter(RecordingSink(), tg.TOKEN, request=api)
    await adapter.application.initialize()
    try:
        transport = adapter.transport()
        assert transport.bot is adapter.application.bot
        assert (await transport.send(delivery())).status is SendStatus.SENT
    finally:
        await adapter.stop()
    assert [call.method for call in api.outgoing()] == ["sendMessage"]


async def test_only_the_first_message_replies_in_the_topic(edge: Edge) -> None:
    """`send_reply` makes the first message the reply; every part goes to the topic."""
    long_reply = Reply(tuple(Paragraph.of("z" * 3000) for _ in range(2)))
    sent = [m async for m in send_reply(
        edge.transport.bot, GROUP_ID, long_reply, thread_id=55, reply_to=330
    )]  # fmt: skip
    first, second = edge.api.sent("sendMessage")
    assert first.parameters["reply_parameters"] == {
        "message_id": 330, "allow_sending_without_reply": True,
    }  # fmt: skip
    assert "reply_parameters" not in second.parameters
    assert first.parameters["message_thread_id"] == second.parameters["message_thread_id"] == 55
    assert [m.message_id for m in sent] == [first.result["message_id"], second.result["message_id"]]
