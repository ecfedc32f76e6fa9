"""How updates reach the bot: long polling or a webhook, and whether that still works.

PTB's updater keeps polling through network errors, which is right, but two errors
are final and it does not say so:

* a 401 (the token was revoked or changed in @BotFather) ends the polling task while
  `Updater.running` stays true;
* a 409 Conflict (another process polls the same token) is retried forever, each
  time logged as an ERROR with a traceback.

`Receiver` starts the updater, watches the polling task and receives polling errors
through `error_callback`: on either final error it records one clear line in
`failure` (logged once, as an ERROR without traceback), stops polling, and `healthy`
turns false, so `serve` sees the adapter stopped. PTB's own tracebacks for these two
errors are filtered out of its loggers; other polling errors (network outages) are
logged as one warning line each and retried.

In webhook mode Telegram posts updates to `Webhook.url`; PTB's server (tornado)
listens on `listen:port` behind the operator's TLS proxy and refuses any request
without the `secret` token in `X-Telegram-Bot-Api-Secret-Token`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.ext import Updater

from bot.config import TelegramSettings

log = logging.getLogger(__name__)

POLLING_TASK: Final = "Updater:start_polling:polling_task"
# PTB's loggers that report the polling loop's errors with tracebacks (the retry
# loop, a utility module, logs as "telegram.ext").
PTB_LOGGERS: Final = ("telegram.ext.Updater", "telegram.ext")
REVOKED: Final = (
    "Telegram: the bot token was rejected while polling (401 Unauthorized: revoked or "
    "changed in @BotFather); stopped. Set a valid telegram.token and restart."
)
CONFLICT: Final = (
    "Telegram: another process is polling with this bot token (409 Conflict); stopped. "
    'Run one Cohort per token, or use [telegram] mode = "webhook".'
)


@dataclass(frozen=True, slots=True)
class Webhook:
    """Webhook mode: Telegram posts to `url`; PTB listens on `listen:port`."""

    url: str
    secret: str
    listen: str = "127.0.0.1"
    port: int = 8443

    @classmethod
    def from_settings(cls, settings: TelegramSettings) -> Webhook | None:
        """The webhook `[telegram]` configures; None in polling mode."""
        if settings.mode != "webhook":
            return None
        return cls(
            url=settings.webhook_url,
            secret=settings.webhook_secret.get_secret_value(),
            listen=settings.webhook_listen,
            port=settings.webhook_port,
        )

    @property
    def path(self) -> str:
        """The URL path PTB's server answers on (the path of `url`)."""
        return urlsplit(self.url).path.strip("/")


class _QuietFinalErrors(logging.Filter):
    """Drops PTB's traceback records for 401 and 409: `Receiver` reports those itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a record carrying InvalidToken or Conflict."""
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, InvalidToken | Conflict)


_QUIET: Final = _QuietFinalErrors()


class Receiver:
    """Starts polling or the webhook for an updater, and judges whether it still runs."""

    def __init__(self, updater: Updater, webhook: Webhook | None = None) -> None:
        self.updater = updater
        self.webhook = webhook
        self.failure: str | None = None
        self._task: asyncio.Task[object] | None = None
        self._halting: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def healthy(self) -> bool:
        """Whether updates are still being received."""
        if self.failure is not None or not self.updater.running:
            return False
        return self._task is None or not self._task.done()

    async def start(self, allowed_updates: Sequence[str]) -> None:
        """Start receiving; returns once polling runs or the webhook is set."""
        for name in PTB_LOGGERS:
            logging.getLogger(name).addFilter(_QUIET)
        self._stopping = False
        if self.webhook is not None:
            hook = self.webhook
            await self.updater.start_webhook(
                listen=hook.listen,
                port=hook.port,
                url_path=hook.path,
                webhook_url=hook.url,
                secret_token=hook.secret,
                allowed_updates=list(allowed_updates),
                drop_pending_updates=False,
            )
            return
        before = asyncio.all_tasks()
        await self.updater.start_polling(
            allowed_updates=list(allowed_updates),
            drop_pending_updates=False,
            error_callback=self._polling_error,
        )
        started = [t for t in asyncio.all_tasks() - before if t.get_name() == POLLING_TASK]
        if started:
            self._task = started[0]
            self._task.add_done_callback(self._polling_ended)

    async def stop(self) -> None:
        """Stop receiving (safe if never started or already failed)."""
        self._stopping = True
        if self._halting is not None:
            await self._halting
        if self.updater.running:
            try:
                await self.updater.stop()
            except TelegramError:
                # PTB re-raises the error that ended polling (already reported).
                if self._task is None or not self._task.done():
                    raise
        for name in PTB_LOGGERS:
            logging.getLogger(name).removeFilter(_QUIET)

    def _fail(self, line: str) -> None:
        if self.failure is None:
            self.failure = line
            log.error("%s", line)

    def _polling_error(self, error: TelegramError) -> None:
        """PTB's `error_callback`: must not raise."""
        if isinstance(error, Conflict):
            self._fail(CONFLICT)
            if not self._stopping:
                self._stopping = True
                self._halting = asyncio.get_running_loop().create_task(
                    self._halt(), name="telegram-halt"
                )
            return
        log.warning("Telegram polling failed (%s: %s); retrying", type(error).__name__, error)

    async def _halt(self) -> None:
        try:
            if self.updater.running:
                await self.updater.stop()
        except Exception:
            log.debug("stopping the updater after a conflict failed", exc_info=True)

    def _polling_ended(self, task: asyncio.Task[object]) -> None:
        if task.cancelled() or self._stopping:
            return
        error = task.exception()
        if isinstance(error, InvalidToken):
            self._fail(REVOKED)
        elif error is not None:
            self._fail(f"Telegram: polling stopped ({type(error).__name__}: {error})")
        else:
            log.warning("Telegram polling ended")  # `healthy` is false: serve stops
