"""The Telegram adapter: a python-telegram-bot `Application` that feeds an `EventSink`.

Handlers only route updates to `translate`, which turns them into core events,
and hand those to the sink (the ingest pipeline; `ingest()` never blocks).
Ingestion handlers sit in their own group, `INGEST_GROUP`, ahead of the default
group, so command handlers added later still see every update.

What the bot must be allowed to see (set up in the group, not in code):

* ordinary group messages need privacy mode off (BotFather `/setprivacy`) or
  the bot to be an admin; otherwise Telegram only sends commands and replies;
* `message_reaction`, `message_reaction_count` and `chat_member` updates are only
  sent to admins, and only when listed in `allowed_updates` (see
  `ALLOWED_UPDATES`); reaction counts arrive grouped, up to minutes late.

Pending updates are not dropped on start: Telegram keeps them for 24 hours and
they are real activity.

With `commands`, the command and button handlers of `bot.adapters.telegram.commands`
sit in the default group and the command menus are set on start; `transport()`
gives the delivery transport that sends through the same bot.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from telegram import Update
from telegram.error import InvalidToken
from telegram.ext import (
    AIORateLimiter,
    Application,
    ChatMemberHandler,
    ContextTypes,
    ExtBot,
    JobQueue,
    MessageHandler,
    MessageReactionHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.adapters.telegram.translate import translate
from bot.adapters.telegram.transport import TelegramTransport
from bot.core.sink import EventSink

if TYPE_CHECKING:
    from bot.adapters.telegram.commands import TelegramCommands
    from bot.core.commands import Commands

log = logging.getLogger(__name__)

TelegramApplication: TypeAlias = Application[
    ExtBot[int],
    ContextTypes.DEFAULT_TYPE,
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    JobQueue[ContextTypes.DEFAULT_TYPE],
]

ALLOWED_UPDATES: Final = (
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.MESSAGE_REACTION,
    Update.MESSAGE_REACTION_COUNT,
    Update.CHAT_MEMBER,
    Update.MY_CHAT_MEMBER,
    Update.CALLBACK_QUERY,
)
INGEST_GROUP: Final = -1

_GROUP_MESSAGE = filters.ChatType.GROUPS & filters.UpdateType.MESSAGE
MESSAGES: Final = _GROUP_MESSAGE & (filters.TEXT | filters.CAPTION | filters.ATTACHMENT)
EDITS: Final = filters.ChatType.GROUPS & filters.UpdateType.EDITED_MESSAGE
MEMBERSHIP_MESSAGES: Final = _GROUP_MESSAGE & (
    filters.StatusUpdate.NEW_CHAT_MEMBERS | filters.StatusUpdate.LEFT_CHAT_MEMBER
)


class _Ingest:
    """The handler callback: translate one update and pass its events to the sink."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Hand every event in `update` to the sink."""
        for event in translate(update):
            if not self._sink.ingest(event):
                log.debug("sink dropped %s from update %s", event.kind, update.update_id)


async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a failed update with its traceback; only ids, never the message text."""
    if isinstance(update, Update):
        chat = update.effective_chat
        log.error(
            "Telegram update %s (chat %s) failed",
            update.update_id,
            chat.id if chat is not None else "-",
            exc_info=context.error,
        )
    else:
        log.error("Telegram error outside an update", exc_info=context.error)


def build_application(
    sink: EventSink,
    token: str,
    *,
    request: BaseRequest | None = None,
    commands: TelegramCommands | None = None,
) -> TelegramApplication:
    """A PTB application with the ingestion handlers and the error handler registered.

    `request` replaces PTB's HTTP client for every Bot API call (tests answer from
    memory). `commands` adds the command and button handlers in the default group,
    after ingestion. An empty token raises `telegram.error.InvalidToken` here; a
    wrong one only when the application is initialized.
    """
    builder = Application.builder().token(token).rate_limiter(AIORateLimiter())
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application = builder.build()
    ingest = _Ingest(sink)
    application.add_handlers(
        [
            MessageHandler(MESSAGES, ingest),
            MessageHandler(EDITS, ingest),
            MessageHandler(MEMBERSHIP_MESSAGES, ingest),
            MessageReactionHandler(ingest),
            ChatMemberHandler(ingest, ChatMemberHandler.CHAT_MEMBER),
        ],
        group=INGEST_GROUP,
    )
    if commands is not None:
        application.add_handlers(commands.handlers())
    application.add_error_handler(log_error)
    return application


class TelegramAdapter:
    """Runs the Telegram bot with long polling and feeds what it sees to `sink`.

    With `commands`, members can also use Cohort's commands and buttons; without,
    the bot only listens.
    """

    def __init__(
        self,
        sink: EventSink,
        token: str,
        *,
        request: BaseRequest | None = None,
        commands: Commands | None = None,
    ) -> None:
        self.commands: TelegramCommands | None = None
        if commands is not None:
            # Imported here: the command layer pulls in the services (numpy, scipy),
            # which a listening-only adapter does not need.
            from bot.adapters.telegram.commands import TelegramCommands

            self.commands = TelegramCommands(commands)
        self.application = build_application(sink, token, request=request, commands=self.commands)

    @property
    def running(self) -> bool:
        """Whether the bot is polling for updates."""
        updater = self.application.updater
        return self.application.running and updater is not None and updater.running

    async def start(self) -> None:
        """Check the token, then start polling; returns once updates are being fetched.

        Raises `telegram.error.InvalidToken` (without the token in its message) if
        Telegram rejects the token; anything already set up is released first.
        """
        application = self.application
        try:
            await application.initialize()
            await application.start()
            assert application.updater is not None  # the builder always creates one
            await application.updater.start_polling(
                allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=False
            )
        except InvalidToken:
            await self.stop()
            # PTB's own message repeats the token; keep it out of logs and tracebacks.
            raise InvalidToken(
                "Telegram rejected the bot token (check the Telegram token setting)"
            ) from None
        except BaseException:
            await self.stop()
            raise
        me = application.bot.bot
        log.info("Telegram bot @%s (%s) is polling", me.username, me.id)
        if self.commands is not None:
            await self.commands.publish_menu(application.bot)

    def transport(self) -> TelegramTransport:
        """The delivery transport that sends through this adapter's bot (once started)."""
        return TelegramTransport(self.application.bot)

    async def stop(self) -> None:
        """Stop polling and release everything; safe to call if `start` failed or never ran."""
        application = self.application
        updater = application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        # If initialize() failed half-way, the HTTP clients are open but the
        # application does not know it: close them directly (a no-op otherwise).
        await application.bot.shutdown()
