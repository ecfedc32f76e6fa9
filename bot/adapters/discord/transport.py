"""Sending replies through discord.py, and the Discord delivery transport.

`outgoing` turns a neutral `Reply` into the Discord messages that show it: the
renderer's messages, plus the reply's file (a member's data export) attached to the
last one. Both the interaction handlers (`bot.adapters.discord.commands`) and
`DiscordTransport` use it.

Views: Cohort answers every button by its `custom_id` alone (the buttons are
`bot.adapters.discord.buttons.CohortButton`, a `DynamicItem` registered on the
client), never through a view kept per message, so each view is stopped before it
is sent: discord.py then keeps nothing of it (an ephemeral follow-up's view would
otherwise get a 15-minute timer).

`DiscordTransport.send` never raises for a platform refusal; it maps discord.py's
errors to a `SendStatus` (docs/reliability.md has the reasoning):

* `Forbidden` (50007 "Cannot send messages to this user": DMs closed, the bot
  blocked, no shared server) and `NotFound` (an unknown user or channel):
  `UNREACHABLE` for a direct message; `FAILED` for a channel (the bot may not post
  there, or the channel is gone);
* error 40003 ("You are opening direct messages too fast"): `RATE_LIMITED` with
  `slow_down` - the campaign pauses and continues slower; nobody is unreachable;
* `RateLimited` (discord.py refuses to wait longer than the client's
  `max_ratelimit_timeout`) and any 429: `RATE_LIMITED` for the seconds Discord asked;
* errors before the message request (finding the user, opening the DM channel) and
  connections that were never made (`aiohttp.ClientConnectorError`): `RETRY`;
* 5xx answers (after discord.py's own retries, which reuse the message's nonce),
  timeouts and connection errors once the message request was made: `UNCERTAIN` -
  Discord may have created the message, so it is never sent again;
* anything else (a 400, a message Discord rejects): `FAILED`.

A reply Discord refuses after its first message was shown counts as `SENT`, with
the error noted: resending would show the member the first part twice.
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator

import aiohttp
import discord

from bot.adapters.discord.render import DiscordMessage, render
from bot.adapters.discord.translate import PLATFORM
from bot.core.delivery.transport import (
    Delivery,
    NotSent,
    SendResult,
    SendStatus,
    describe_error,
    send_all,
)
from bot.domain.replies import File, Reply

log = logging.getLogger(__name__)

DM = "dm"
CHANNEL = "channel"
OPENING_DMS_TOO_FAST = 40003


def document(file: File) -> discord.File:
    """A reply's file as a discord.py upload."""
    return discord.File(io.BytesIO(file.data), filename=file.filename)


def outgoing(reply: Reply) -> list[DiscordMessage]:
    """The messages that show `reply`, its file on the last one, their views stopped.

    The file goes on the last rendered message unless that one already carries the
    reply's image; then it follows in a message of its own. Must be called inside
    the event loop (a view made outside it cannot be stopped).
    """
    messages = render(reply)
    if reply.file is not None:
        upload = document(reply.file)
        if messages and messages[-1].file is None:
            messages[-1].file = upload
        else:
            messages.append(DiscordMessage("", file=upload, ephemeral=reply.private))
    for message in messages:
        if message.view is not None:
            message.view.stop()  # answered by custom_id (CohortButton): keep nothing of it
    return messages


async def send_reply(
    channel: discord.abc.Messageable, reply: Reply
) -> AsyncIterator[discord.Message]:
    """Send `reply` to `channel`, yielding each message as Discord accepts it.

    Errors propagate from the failing call; the messages yielded before it were shown.
    """
    for message in outgoing(reply):
        yield await channel.send(**message.send_kwargs())


def retry_after_of(error: discord.HTTPException) -> float | None:
    """The seconds a 429 answer asked to wait (its `Retry-After` header), if it said."""
    headers = getattr(error.response, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def classify(error: BaseException, kind: str, requested: bool = True) -> SendResult:
    """The outcome of a delivery of `kind` ("dm" or "channel") that Discord refused.

    `requested`: whether the message request itself was made (else the error came
    while finding the destination, and nothing can have been shown).
    """
    detail = describe_error(error)
    if isinstance(error, discord.RateLimited):
        return SendResult(SendStatus.RATE_LIMITED, retry_after=error.retry_after, error=detail)
    if isinstance(error, discord.HTTPException) and error.code == OPENING_DMS_TOO_FAST:
        return SendResult(
            SendStatus.RATE_LIMITED,
            retry_after=retry_after_of(error),
            error=detail,
            slow_down=True,
        )
    if isinstance(error, discord.Forbidden | discord.NotFound):
        status = SendStatus.UNREACHABLE if kind == DM else SendStatus.FAILED
        return SendResult(status, error=detail)
    if isinstance(error, discord.HTTPException):
        if error.status == 429:
            return SendResult(
                SendStatus.RATE_LIMITED, retry_after=retry_after_of(error), error=detail
            )
        if error.status >= 500:
            return SendResult(SendStatus.UNCERTAIN if requested else SendStatus.RETRY, error=detail)
        return SendResult(SendStatus.FAILED, error=detail)
    if isinstance(error, aiohttp.ClientConnectorError):  # never connected: nothing sent
        return SendResult(SendStatus.RETRY, error=detail)
    if isinstance(error, aiohttp.ClientError | TimeoutError | OSError):
        return SendResult(SendStatus.UNCERTAIN if requested else SendStatus.RETRY, error=detail)
    return SendResult(SendStatus.FAILED, error=detail)


def _is_refusal(error: BaseException) -> bool:
    """Whether Discord (or the network) refused, as opposed to a bug on our side."""
    return isinstance(
        error, discord.HTTPException | discord.RateLimited | aiohttp.ClientError | OSError
    )


class DiscordTransport:
    """Sends outbox deliveries with a logged-in discord.py client: DMs and channel posts.

    A `dm` delivery's recipient is a user id: the user is taken from the cache or
    fetched, and their DM channel opened. A `channel` delivery's recipient is a channel
    (or thread) id, taken from the cache or fetched.
    """

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def send(self, delivery: Delivery) -> SendResult:
        """Send one delivery; a refusal becomes a status, never an exception."""
        if delivery.platform != PLATFORM:
            return SendResult(
                SendStatus.FAILED, error=f"not a Discord delivery: {delivery.platform}"
            )
        if self.client.is_closed() or self.client.user is None:
            return SendResult(SendStatus.RETRY, error="the Discord client is not logged in")
        return await send_all(delivery, self._messages(delivery), classify, _is_refusal)

    async def _messages(self, delivery: Delivery) -> AsyncIterator[discord.Message]:
        """Find the destination, then send the delivery's messages one by one."""
        try:
            channel = await self._destination(delivery)
        except Exception as exc:
            raise NotSent(exc) from exc
        async for message in send_reply(channel, delivery.reply):
            yield message

    async def _destination(self, delivery: Delivery) -> discord.abc.Messageable:
        """The DM channel or channel a delivery goes to (raises what discord.py raises)."""
        target = int(delivery.recipient)
        client = self.client
        if delivery.kind == DM:
            user = client.get_user(target) or await client.fetch_user(target)
            return user.dm_channel or await user.create_dm()
        if delivery.kind == CHANNEL:
            channel = client.get_channel(target) or await client.fetch_channel(target)
            if not isinstance(channel, discord.abc.Messageable):
                raise TypeError(
                    f"channel {target} is a {type(channel).__name__}: cannot post there"
                )
            return channel
        raise ValueError(f"unknown delivery kind {delivery.kind!r}")
