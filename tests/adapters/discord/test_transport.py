"""The Discord delivery transport: DMs and channel posts through a real discord.py client.

The client logs in against the fake Discord of `tests.fakes.discord` and
caches the test guild from a GUILD_CREATE payload; `DiscordTransport.send` then goes
through discord.py's own `fetch_user`, `create_dm` and `Messageable.send`. Refusals
are injected at the REST edge as the exceptions discord.py's HTTP client raises.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import discord
import pytest

from bot.adapters.discord import CohortDiscordClient, DiscordTransport
from bot.adapters.discord.transport import classify, outgoing
from bot.core.delivery.transport import Delivery, SendResult, SendStatus
from bot.domain.replies import Button, File, Image, Paragraph, Reply
from tests.fakes import discord_payloads as p
from tests.fakes.discord import GOOD_TOKEN, FakeDiscord, custom_ids, http_error, settle
from tests.fakes.sink import RecordingSink

SEND = "POST /channels/{channel_id}/messages"
# What aiohttp's ClientConnectorError reads of the connection it could not make.
DISCORD_KEY = SimpleNamespace(host="discord.com", port=443, ssl=True)
OPEN_DM = "POST /users/@me/channels"
FETCH_USER = "GET /users/{user_id}"
FETCH_CHANNEL = "GET /channels/{channel_id}"
PICK = Reply(
    (Paragraph.of("Rust 101 — you often discuss rust."),),
    title="A course for you",
    buttons=((Button("Interested", action="in:tok123"), Button("Learn more", url="https://x.io")),),
)


@pytest.fixture
async def client(net: FakeDiscord) -> AsyncIterator[CohortDiscordClient]:
    """A logged-in client whose cache holds the test guild (ALICE, BOB, two channels)."""
    client = CohortDiscordClient(RecordingSink())
    await client.login(GOOD_TOKEN)
    try:
        client._connection.parse_guild_create(p.guild_create())
        await settle()
        yield client
    finally:
        await client.close()


@pytest.fixture
def transport(client: CohortDiscordClient) -> DiscordTransport:
    return DiscordTransport(client)


def dm(recipient: int = p.BOB, reply: Reply = PICK) -> Delivery:
    return Delivery(
        id=7,
        kind="dm",
        purpose="promotion",
        platform="discord",
        recipient=str(recipient),
        community=str(p.GUILD),
        reply=reply,
    )


def post(channel: int = p.ANNOUNCE, reply: Reply = PICK) -> Delivery:
    return Delivery(
        id=8,
        kind="channel",
        purpose="digest",
        platform="discord",
        recipient=str(channel),
        community=str(p.GUILD),
        reply=reply,
    )


def long_reply() -> Reply:
    """A reply that needs two Discord messages (over 2000 characters)."""
    return Reply(tuple(Paragraph.of(f"paragraph {i}: " + "x" * 600) for i in range(5)))


async def test_dm_is_sent_to_the_members_dm_channel(
    transport: DiscordTransport, net: FakeDiscord
) -> None:
    """A DM opens the member's DM channel and posts the rendered reply with its buttons."""
    result = await transport.send(dm())
    assert result == SendResult(SendStatus.SENT)
    assert net.routes()[-2:] == [OPEN_DM, SEND]
    assert net.requests(OPEN_DM)[0].body == {"recipient_id": p.BOB}
    (sent,) = net.requests(SEND)
    assert sent.body["content"].startswith("**A course for you**")
    assert sent.body["allowed_mentions"] == {"parse": []}
    assert [
        b.get("custom_id") or b.get("url") for b in sent.body["components"][0]["components"]
    ] == [
        "in:tok123",
        "https://x.io",
    ]


async def test_dm_fetches_a_user_missing_from_the_cache(
    transport: DiscordTransport, net: FakeDiscord
) -> None:
    """A member the cache does not hold is fetched before the DM channel is opened."""
    assert await transport.send(dm(p.CAROL)) == SendResult(SendStatus.SENT)
    assert net.routes()[-3:] == [FETCH_USER, OPEN_DM, SEND]


async def test_second_dm_reuses_the_open_dm_channel(
    transport: DiscordTransport, net: FakeDiscord
) -> None:
    """The DM channel opened once is reused for the next delivery."""
    await transport.send(dm())
    await transport.send(dm())
    assert len(net.requests(OPEN_DM)) == 1 and len(net.requests(SEND)) == 2


async def test_dms_closed_is_unreachable(transport: DiscordTransport, net: FakeDiscord) -> None:
    """50007 "Cannot send messages to this user" marks the member unreachable, not retried."""
    net.refuse(SEND, http_error(403, 50007, "Cannot send messages to this user"))
    result = await transport.send(dm())
    assert result.status is SendStatus.UNREACHABLE
    assert result.error is not None and "50007" in result.error


async def test_unknown_user_is_unreachable(transport: DiscordTransport, net: FakeDiscord) -> None:
    """A user Discord does not know (10013) cannot be messaged: unreachable."""
    result = await transport.send(dm(p.snowflake(-20_000, 99)))
    assert result.status is SendStatus.UNREACHABLE
    assert result.error is not None and "Unknown User" in result.error
    assert SEND not in net.routes()


async def test_rate_limited_pauses_for_what_discord_asked(
    transport: DiscordTransport, net: FakeDiscord
) -> None:
    """discord.py giving up on a long rate limit (RateLimited): RATE_LIMITED for that long."""
    net.refuse(SEND, discord.RateLimited(42.5))
    result = await transport.send(dm())
    assert result.status is SendStatus.RATE_LIMITED and result.retry_after == 42.5


async def test_429_answer_pauses_for_its_retry_after_header(
    transport: DiscordTransport, net: FakeDiscord
) -> None:
    """A 429 that reaches us (Cloudflare, retries exhausted) is RATE_LIMITED with Retry-After."""
    net.refuse(
        SEND,
        http_error(429, 0, "You are being rate limited.", headers={"Retry-After": "17"}),
    )
    result = await transport.send(dm())
    assert result.status is SendStatus.RATE_LIMITED and result.retry_after == 17.0


async def test_opening_dms_too_fast_slows_down_and_is_not_unreachable(
    transport: DiscordTransport, net: FakeDiscord
) -> None:
    """40003 "opening direct messages too fast" is a rate limit to slow down for, not DMs closed."""
    net.refuse(OPEN_DM, http_error(400, 40003, "You are opening direct messages too fast."))
    result = await transport.send(dm())
    assert (result.status, result.slow_down) == (SendStatus.RATE_LIMITED, True)
    assert SEND not in net.routes()


async def test_server_error_on_the_message_is_uncertain(
    transport: DiscordTransport, net: FakeDiscord
) -> None:
    """A 500 answering the message request: Discord may have created it, never resend."""
    net.refuse(SEND, http_error(500, 0, "500: Internal Server Error"))
    result = await transport.send(dm())
    assert result.status is SendStatus.UNCERTAIN and result.retry_after is None


async def test_server_error_before_the_message_is_retried(
    transport: DiscordTransport, net: FakeDiscord
) -> None:
    """A 5xx while opening the DM channel: no message was requested, so it is safe to retry."""
    net.refuse(OPEN_DM, http_error(503, 0, "503: Service Unavailable"))
    result = await transport.send(dm())
    assert result.status is SendStatus.RETRY and SEND not in net.routes()


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(aiohttp.ClientConnectionError("connection reset"), id="connection"),
        pytest.param(TimeoutError(), id="timeout"),
    ],
)
async def test_network_errors_before_the_message_are_retried(
    transport: DiscordTransport, net: FakeDiscord, error: BaseException
) -> None:
    """Network trouble while opening the DM channel (nothing sent yet) is RETRY."""
    net.refuse(OPEN_DM, error)
    assert (await transport.send(dm())).status is SendStatus.RETRY


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(aiohttp.ServerDisconnectedError(), id="disconnected"),
        pytest.param(TimeoutError(), id="timeout"),
    ],
)
async def test_network_errors_on_the_message_are_uncertain(
    transport: DiscordTransport, net: FakeDiscord, error: BaseException
) -> None:
    """A timeout or dropped connection after the message request: maybe delivered, UNCERTAIN."""
    net.refuse(SEND, error)
    assert (await transport.send(dm())).status is SendStatus.UNCERTAIN


async def test_bad_request_fails(transport: DiscordTransport, net: FakeDiscord) -> None:
    """A message Discord rejects (400) will not get better: FAILED."""
    net.refuse(SEND, http_error(400, 50035, "Invalid Form Body"))
    result = await transport.send(dm())
    assert result.status is SendStatus.FAILED and "50035" in (result.error or "")


async def test_channel_post(transport: DiscordTransport, net: FakeDiscord) -> None:
    """A channel delivery posts to the cached channel without fetching or opening anything."""
    assert await transport.send(post()) == SendResult(SendStatus.SENT)
    (sent,) = net.requests(SEND)
    assert sent.url.endswith(f"/channels/{p.ANNOUNCE}/messages")
    assert [c.key for c in net.calls[2:]] == [SEND]


async def test_uncached_channel_is_fetched(transport: DiscordTransport, net: FakeDiscord) -> None:
    """A channel missing from the cache is fetched, then posted to."""
    other = p.snowflake(-9_000, 7)
    net.channels[other] = p.text_channel(other, "news")
    assert (await transport.send(post(other))).status is SendStatus.SENT
    assert net.routes()[-2:] == [FETCH_CHANNEL, SEND]


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(http_error(403, 50013, "Missing Permissions"), id="forbidden"),
        pytest.param(http_error(404, 10003, "Unknown Channel"), id="not-found"),
    ],
)
async def test_channel_refusals_fail(
    transport: DiscordTransport, net: FakeDiscord, error: BaseException
) -> None:
    """A channel the bot may not post in, or that is gone, is FAILED (not unreachable)."""
    net.refuse(SEND, error)
    result = await transport.send(post())
    assert result.status is SendStatus.FAILED and str(error) in (result.error or "")


async def test_partly_sent_counts_as_sent(transport: DiscordTransport, net: FakeDiscord) -> None:
    """A refusal after the first message was shown is SENT with the error: never resend half."""
    net.refuse(SEND, http_error(500, 0, "500: Internal Server Error"), after=1)
    result = await transport.send(dm(reply=long_reply()))
    assert result.status is SendStatus.SENT
    assert result.error is not None and "partly sent (1 messages)" in result.error
    assert len(net.requests(SEND)) == 2


async def test_long_reply_is_sent_in_order(transport: DiscordTransport, net: FakeDiscord) -> None:
    """A reply over Discord's limit goes out as several messages, in order."""
    assert (await transport.send(post(reply=long_reply()))).status is SendStatus.SENT
    contents = [c.body["content"] for c in net.requests(SEND)]
    assert len(contents) == 2 and contents[0].startswith("paragraph 0")
    assert all(len(c) <= 2000 for c in contents)


async def test_file_is_uploaded_with_the_last_message(
    transport: DiscordTransport, net: FakeDiscord
) -> None:
    """A reply's file is attached to its last message as a multipart upload."""
    reply = Reply((Paragraph.of("your data"),), file=File(b'{"a": 1}', "cohort-data.json"))
    assert (await transport.send(dm(reply=reply))).status is SendStatus.SENT
    (sent,) = net.requests(SEND)
    assert sent.files == [("cohort-data.json", b'{"a": 1}')]
    assert sent.body["content"] == "your data"


async def test_file_next_to_an_image_gets_a_message_of_its_own() -> None:
    """With both an image and a file, the file follows in its own message."""
    reply = Reply(
        (Paragraph.of("chart"),),
        image=Image(b"\x89PNG", "chart.png", "a chart"),
        file=File(b"{}", "data.json"),
    )
    shown = [(m.content, m.file.filename if m.file else None) for m in outgoing(reply)]
    assert shown == [("chart", "chart.png"), ("", "data.json")]


async def test_not_a_discord_delivery_fails(transport: DiscordTransport, net: FakeDiscord) -> None:
    """A Telegram delivery handed to the Discord transport fails without a request."""
    before = len(net.calls)
    delivery = Delivery(1, "dm", "digest", "telegram", "42", None, PICK)
    assert (await transport.send(delivery)).status is SendStatus.FAILED
    assert len(net.calls) == before


async def test_empty_reply_fails(transport: DiscordTransport, net: FakeDiscord) -> None:
    """A reply with nothing to show is FAILED, and nothing is sent."""
    result = await transport.send(dm(reply=Reply()))
    assert result.status is SendStatus.FAILED and SEND not in net.routes()


def test_client_raises_long_rate_limits_instead_of_waiting() -> None:
    """Rate limits over 30 s raise RateLimited instead of waiting: the delivery is retried."""
    client = CohortDiscordClient(RecordingSink())
    assert client.http.max_ratelimit_timeout == 30.0


async def test_closed_client_asks_for_a_retry(net: FakeDiscord) -> None:
    """Before login or after close the transport says RETRY instead of losing the delivery."""
    client = CohortDiscordClient(RecordingSink())
    assert (await DiscordTransport(client).send(dm())).status is SendStatus.RETRY


async def test_unexpected_error_is_logged_and_failed(
    transport: DiscordTransport, net: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug (not a refusal) never raises out of send: FAILED, logged with the traceback."""
    net.refuse(SEND, KeyError("surprise"))
    with caplog.at_level(logging.ERROR, logger="bot.adapters.discord.transport"):
        result = await transport.send(dm())
    assert result.status is SendStatus.FAILED
    (record,) = caplog.records
    assert record.exc_info is not None


async def test_buttons_sent_by_the_transport_are_answered_by_custom_id(
    transport: DiscordTransport, net: FakeDiscord, client: CohortDiscordClient
) -> None:
    """The sent view is not kept in discord.py's view store (presses go to on_interaction)."""
    await transport.send(post())
    (sent,) = net.requests(SEND)
    assert custom_ids(sent.body) == ["in:tok123"]
    assert not client._connection._view_store._views


@pytest.mark.parametrize(
    ("error", "kind", "status"),
    [
        (http_error(403, 50007, "Cannot send messages to this user"), "dm", SendStatus.UNREACHABLE),
        (http_error(403, 50007, "Cannot send messages to this user"), "channel", SendStatus.FAILED),
        (http_error(404, 10013, "Unknown User"), "dm", SendStatus.UNREACHABLE),
        (http_error(404, 10003, "Unknown Channel"), "channel", SendStatus.FAILED),
        (http_error(502, 0, "Bad Gateway"), "dm", SendStatus.UNCERTAIN),
        (http_error(429, 0, "rate limited"), "channel", SendStatus.RATE_LIMITED),
        (discord.RateLimited(3.0), "dm", SendStatus.RATE_LIMITED),
        (http_error(400, 40003, "opening DMs too fast"), "dm", SendStatus.RATE_LIMITED),
        (aiohttp.ServerDisconnectedError(), "dm", SendStatus.UNCERTAIN),
        (
            aiohttp.ClientConnectorError(DISCORD_KEY, OSError(111, "refused")),
            "dm",
            SendStatus.RETRY,
        ),  # type: ignore[arg-type]
        (http_error(400, 50006, "Cannot send an empty message"), "dm", SendStatus.FAILED),
        (ValueError("bad id"), "dm", SendStatus.FAILED),
    ],
)
def test_classify(error: BaseException, kind: str, status: SendStatus) -> None:
    """Each discord.py error maps to the documented status for DMs and channels."""
    assert classify(error, kind).status is status
