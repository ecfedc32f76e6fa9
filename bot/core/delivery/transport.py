"""How a delivery leaves Cohort: a `Transport` per platform, or the `file` transport.

Platform transports live in the adapters (they need discord.py / PTB); the file
transport writes each delivery as one JSON line instead, for tests, dry runs and
exporting a campaign to an email tool.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Protocol

from bot.core.replies import Reply, reply_to_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to send: to a member (`dm`) or a channel, on one platform."""

    id: int
    kind: str  # dm | channel
    purpose: str
    platform: str
    recipient: str  # member or channel platform id
    community: str | None
    reply: Reply
    course: str | None = None
    campaign: str | None = None
    attempt: int = 1


class SendStatus(StrEnum):
    """What happened to a delivery."""

    SENT = "sent"
    RETRY = "retry"  # try again later (rate limited, platform down)
    UNREACHABLE = "unreachable"  # DMs closed or the bot blocked: never retry
    FAILED = "failed"  # rejected for good


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one send."""

    status: SendStatus
    retry_after: float | None = None
    error: str | None = None


def describe_error(error: BaseException) -> str:
    """A short description of an error for the outbox ("Forbidden: bot was blocked ...")."""
    name, message = type(error).__name__, str(error)
    if not message:
        return name
    return message if message.startswith(f"{name}: ") else f"{name}: {message}"


async def send_all(
    delivery: Delivery,
    messages: AsyncIterator[object],
    classify: Callable[[BaseException, str], SendResult],
    refused: Callable[[BaseException], bool],
) -> SendResult:
    """Drive a platform's sending of one delivery and say what happened.

    `messages` sends the delivery's messages one by one. Once one is out, the delivery
    is sent even if a later one fails (never repeated: the member saw part of it; the
    failure is kept in `error`). A failure before the first is classified by the
    platform's `classify`; `refused` tells a platform's refusal (logged as info) from a
    bug (logged with its traceback). A reply with nothing to send fails.
    """
    sent = 0
    try:
        async for _ in messages:
            sent += 1
    except Exception as exc:
        if sent:
            log.warning(
                "delivery %s: %d messages sent, then %s", delivery.id, sent, type(exc).__name__
            )
            return SendResult(
                SendStatus.SENT,
                error=f"partly sent ({sent} messages), then {describe_error(exc)}",
            )
        result = classify(exc, delivery.kind)
        if refused(exc):
            log.info("delivery %s %s: %s", delivery.id, result.status.value, result.error)
        else:
            log.exception("delivery %s failed unexpectedly", delivery.id)
        return result
    if sent == 0:
        return SendResult(SendStatus.FAILED, error="empty reply: nothing to send")
    return SendResult(SendStatus.SENT)


class Transport(Protocol):
    """Sends deliveries for one platform (or writes them somewhere)."""

    async def send(self, delivery: Delivery) -> SendResult:
        """Send one delivery; never raises for platform refusals (return a status)."""
        ...


class FileTransport:
    """Writes each delivery as one JSON line (append; flushed per line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        self.written = 0

    async def send(self, delivery: Delivery) -> SendResult:
        """Append the delivery to the file."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        prefix = "" if delivery.kind == "dm" else "channel:"
        line = {
            "delivery": delivery.id,
            "kind": delivery.kind,
            "purpose": delivery.purpose,
            "to": f"{delivery.platform}:{prefix}{delivery.recipient}",
            "community": f"{delivery.platform}:{delivery.community}"
            if delivery.community
            else None,
            "course": delivery.course,
            "campaign": delivery.campaign,
            "text": delivery.reply.plain(),
            "reply": reply_to_dict(delivery.reply),
            "written_at": datetime.now().astimezone().isoformat(),
        }
        self._handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._handle.flush()
        self.written += 1
        return SendResult(SendStatus.SENT)

    def close(self) -> None:
        """Close the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
