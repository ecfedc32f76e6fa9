"""Sending replies through the Bot API, and the Telegram delivery transport.

`send_reply` sends one neutral `Reply` to one chat: the rendered messages in order
(text, or a photo with its caption), then the reply's file as a document. It yields
each message Telegram accepted, so a caller that catches an error knows how much of
the reply was already shown. Both the command handlers and `TelegramTransport` use it.

`TelegramTransport.send` never raises for a platform refusal; it maps Telegram's
errors to a `SendStatus` (docs/reliability.md has the reasoning):

* `Forbidden` (the member never started the bot, blocked it, or deleted their
  account): `UNREACHABLE` for a direct message, `FAILED` for a chat (the bot was
  removed or may not post there);
* `BadRequest` "chat not found": `UNREACHABLE` for a direct message, else `FAILED`;
* `RetryAfter` (flood control): `RATE_LIMITED` - the whole transport waits the
  seconds Telegram asks for;
* `TimedOut` / `NetworkError` raised before the request reached Telegram (the
  connection could not be made, or no pooled connection was free): `RETRY`;
* any other `TimedOut` or `NetworkError` (a read timeout, a dropped connection, a
  5xx answer): `UNCERTAIN` - the message may have been delivered, so it is never
  sent again;
* anything else, including other `BadRequest`s: `FAILED`.

A reply Telegram refuses after its first message was shown counts as `SENT`, with
the error noted: resending would show the member the first part twice.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
from telegram import Bot, InputFile, Message, ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot.adapters.telegram.render import render
from bot.core.delivery.transport import (
    Delivery,
    SendResult,
    SendStatus,
    describe_error,
    send_all,
)
from bot.domain.replies import Reply

log = logging.getLogger(__name__)

PLATFORM = "telegram"
_NUMERIC_ID = re.compile(r"-?\d+")


def chat_id_of(recipient: str) -> int | str:
    """A Bot API `chat_id` from a stored recipient: the integer id, or an `@username`."""
    return int(recipient) if _NUMERIC_ID.fullmatch(recipient) else recipient


def dm_closed(error: BaseException) -> bool:
    """Whether Telegram refused a private message because the member cannot be reached.

    `Forbidden` covers "bot can't initiate conversation with a user", "bot was blocked
    by the user" and deactivated accounts; a user id Telegram does not know (never
    talked to the bot) answers "chat not found".
    """
    if isinstance(error, Forbidden):
        return True
    return isinstance(error, BadRequest) and "chat not found" in error.message.lower()


def retry_seconds(error: RetryAfter) -> float:
    """The seconds Telegram asks to wait (PTB returns an int or, later, a timedelta)."""
    with warnings.catch_warnings():
        # PTB 22 warns that `retry_after` will become a timedelta; both are handled.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def send_reply(
    bot: Bot,
    chat_id: int | str,
    reply: Reply,
    *,
    thread_id: int | None = None,
    reply_to: int | None = None,
) -> AsyncIterator[Message]:
    """Send `reply` to `chat_id`, yielding each message as Telegram accepts it.

    `thread_id` posts into a forum topic; `reply_to` makes the first message a reply
    (sent anyway if that message is gone). Errors propagate from the failing call.
    """
    replying = (
        ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
        if reply_to is not None
        else None
    )
    for rendered in render(reply):
        kwargs = rendered.send_kwargs()
        if rendered.photo is not None:
            yield await bot.send_photo(
                chat_id, message_thread_id=thread_id, reply_parameters=replying, **kwargs
            )
        else:
            yield await bot.send_message(
                chat_id, message_thread_id=thread_id, reply_parameters=replying, **kwargs
            )
        replying = None
    if reply.file is not None:
        document = InputFile(reply.file.data, filename=reply.file.filename)
        document.mimetype = reply.file.mime
        yield await bot.send_document(
            chat_id, document, message_thread_id=thread_id, reply_parameters=replying
        )


def never_sent(error: BaseException) -> bool:
    """Whether a network error surely happened before Telegram got the request.

    PTB raises `TimedOut`/`NetworkError` from the httpx error: a connection that
    could not be made or a pool with no free connection means nothing left Cohort.
    """
    cause = error.__cause__
    return isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def classify(error: BaseException, kind: str, requested: bool = True) -> SendResult:
    """The outcome of a delivery of `kind` ("dm" or "channel") that Telegram refused."""
    detail = describe_error(error)
    if isinstance(error, RetryAfter):
        return SendResult(SendStatus.RATE_LIMITED, retry_after=retry_seconds(error), error=detail)
    if dm_closed(error):
        status = SendStatus.UNREACHABLE if kind == "dm" else SendStatus.FAILED
        return SendResult(status, error=detail)
    if isinstance(error, BadRequest):  # a NetworkError subclass, but final
        return SendResult(SendStatus.FAILED, error=detail)
    if isinstance(error, NetworkError):  # TimedOut included
        unsent = not requested or never_sent(error)
        return SendResult(SendStatus.RETRY if unsent else SendStatus.UNCERTAIN, error=detail)
    return SendResult(SendStatus.FAILED, error=detail)


class TelegramTransport:
    """Sends outbox deliveries with a PTB `Bot`: to a member's private chat or a group.

    The bot must be initialized (the adapter's bot is, once it has started); the
    application's rate limiter applies to these calls too.
    """

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, delivery: Delivery) -> SendResult:
        """Send one delivery; a refusal becomes a status, never an exception."""
        if delivery.platform != PLATFORM:
            return SendResult(
                SendStatus.FAILED, error=f"not a Telegram delivery: {delivery.platform}"
            )
        messages = send_reply(self.bot, chat_id_of(delivery.recipient), delivery.reply)
        return await send_all(
            delivery, messages, classify, lambda exc: isinstance(exc, TelegramError)
        )
