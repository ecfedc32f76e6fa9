"""How a delivery leaves Cohort: a `Transport` per platform, or the `file` transport.

Platform transports live in the adapters (they need discord.py / PTB); the file
transport writes each delivery as one JSON line instead, for tests, dry runs and
exporting a campaign to an email tool.

A transport says what happened as a `SendStatus`, and must tell apart errors after
which the message surely did not arrive (`RETRY`, `RATE_LIMITED`) from those after
which it may have (`UNCERTAIN`): Cohort never resends the latter. See
docs/reliability.md for the table per platform.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from bot.domain.replies import Reply, reply_to_dict

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
    RETRY = "retry"  # surely not delivered (connection refused, ...): try again later
    RATE_LIMITED = "rate_limited"  # the platform asked the whole transport to wait
    UNCERTAIN = "uncertain"  # may have been delivered (timeout after sending): never resend
    UNREACHABLE = "unreachable"  # DMs closed or the bot blocked: never retry
    FAILED = "failed"  # rejected for good


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one send.

    `retry_after`: seconds to wait (for `RATE_LIMITED`, the whole transport waits).
    `slow_down`: the platform says the transport sends too fast (Discord's 40003,
    "opening direct messages too fast"): continue at a lower rate after the pause.
    """

    status: SendStatus
    retry_after: float | None = None
    error: str | None = None
    slow_down: bool = False


class NotSent(Exception):
    """Wraps an error raised before any message request left (finding the chat, ...).

    Whatever it was, the member cannot have seen anything: safe to retry.
    """

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def describe_error(error: BaseException) -> str:
    """A short description of an error for the outbox ("Forbidden: bot was blocked ...")."""
    name, message = type(error).__name__, str(error)
    if not message:
        return name
    return message if message.startswith(f"{name}: ") else f"{name}: {message}"


async def send_all(
    delivery: Delivery,
    messages: AsyncIterator[object],
    classify: Callable[[BaseException, str, bool], SendResult],
    refused: Callable[[BaseException], bool],
) -> SendResult:
    """Drive a platform's sending of one delivery and say what happened.

    `messages` sends the delivery's messages one by one. Once one is out, the delivery
    is sent even if a later one fails (never repeated: the member saw part of it; the
    failure is kept in `error`). A failure before the first is classified by the
    platform's `classify(error, kind, requested)`: `requested` is False when the error
    came wrapped in `NotSent` (no message request was made). `refused` tells a
    platform's refusal (logged as info) from a bug (logged with its traceback). A
    reply with nothing to send fails.
    """
    sent = 0
    try:
        async for _ in messages:
            sent += 1
    except Exception as caught:
        requested = not isinstance(caught, NotSent)
        exc = caught.cause if isinstance(caught, NotSent) else caught
        if sent:
            log.warning(
                "delivery %s: %d messages sent, then %s", delivery.id, sent, type(exc).__name__
            )
            return SendResult(
                SendStatus.SENT,
                error=f"partly sent ({sent} messages), then {describe_error(exc)}",
            )
        result = classify(exc, delivery.kind, requested)
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


@runtime_checkable
class Confirming(Protocol):
    """A transport that can tell, after a crash, which deliveries it did deliver.

    `via` names where it delivers (recorded on each attempt); `delivered` answers for
    attempts recorded with that same `via`. The file transport reads its file; the
    platforms cannot be asked, so their interrupted attempts stay uncertain.
    """

    @property
    def via(self) -> str:
        """Where this transport delivers, e.g. `file:/abs/path.jsonl`."""
        ...

    async def delivered(self, ids: Collection[int]) -> set[int]:
        """Which of these delivery ids were surely delivered (the others surely not)."""
        ...


class FileTransport:
    """Writes each delivery as one JSON line (append; flushed per line).

    The file is its own record of what was written: after a crash, `delivered` reads
    the delivery ids back, so a rerun writes exactly what is missing. A last line cut
    short by a crash is removed before appending (its delivery is written again).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        self.written = 0

    @property
    def via(self) -> str:
        """`file:` and the file's absolute path."""
        return f"file:{self.path.resolve()}"

    async def delivered(self, ids: Collection[int]) -> set[int]:
        """The ids among `ids` that have a complete line in the file."""
        wanted = set(ids)
        found: set[int] = set()
        if not wanted or not self.path.exists():
            return found
        with self.path.open("rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # cut short by a crash: not written
                try:
                    delivery = json.loads(raw).get("delivery")
                except ValueError:
                    continue
                if delivery in wanted:
                    found.add(int(delivery))
        return found

    def _open(self) -> IO[str]:
        """Open for appending, first cutting off a last line a crash left unfinished."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            with self.path.open("rb+") as handle:
                data = handle.read()
                if data and not data.endswith(b"\n"):
                    handle.truncate(data.rfind(b"\n") + 1)
                    log.warning("%s: removed a line cut short by a crash", self.path)
        return self.path.open("a", encoding="utf-8")

    async def send(self, delivery: Delivery) -> SendResult:
        """Append the delivery to the file."""
        if self._handle is None:
            self._handle = self._open()
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
