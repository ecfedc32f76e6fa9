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

Updates are processed one at a time, in Telegram's order, so ingestion keeps that
order; command and button handlers run `block=False` (as tasks of their own), so
ingesting the next message never waits for a slow reply. `my_chat_member` (the bot
added, removed, its rights changed) is handled in `STATUS_GROUP`
(`bot.adapters.telegram.bot_status`). A group upgraded to a supergroup stays one
community (`bot.adapters.telegram.moves`); after a restart, sends to the old group
go to the supergroup at once (the move is looked up in the store).

Every Bot API call goes through `FollowingRateLimiter` (PTB's `AIORateLimiter`):
flood control (429) is waited out and retried, and calls to a group that moved go to
its new id. Updates arrive by long polling or by webhook (`Webhook`); `running` is
judged from the real polling state (`bot.adapters.telegram.receiving`), so a revoked
token or a second process on the same token stops the adapter with one clear line.

With `commands`, the command and button handlers of `bot.adapters.telegram.commands`
sit in the default group and the command menus are set on start; `transport()`
gives the delivery transport that sends through the same bot.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from telegram import Update
from telegram.error import Forbidden, InvalidToken
from telegram.ext import (
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

from bot.adapters.telegram.bot_status import on_my_chat_member
from bot.adapters.telegram.moves import ChatMoves, FollowingRateLimiter, Lookup, Moved
from bot.adapters.telegram.receiving import Receiver, Webhook
from bot.adapters.telegram.translate import PLATFORM, Usernames, translate
from bot.adapters.telegram.transport import TelegramTransport
from bot.domain.sink import EventSink

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
STATUS_GROUP: Final = 1

_GROUP_MESSAGE = filters.ChatType.GROUPS & filters.UpdateType.MESSAGE
MESSAGES: Final = _GROUP_MESSAGE & (filters.TEXT | filters.CAPTION | filters.ATTACHMENT)
EDITS: Final = filters.ChatType.GROUPS & filters.UpdateType.EDITED_MESSAGE
MEMBERSHIP_MESSAGES: Final = _GROUP_MESSAGE & (
    filters.StatusUpdate.NEW_CHAT_MEMBERS | filters.StatusUpdate.LEFT_CHAT_MEMBER
)
MIGRATIONS: Final = filters.UpdateType.MESSAGE & filters.StatusUpdate.MIGRATE


class _Ingest:
    """The handler callback: translate one update and pass its events to the sink."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self.usernames = Usernames()

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Hand every event in `update` to the sink."""
        for event in translate(update, self.usernames):
            if not self._sink.ingest(event):
                log.debug("sink dropped %s from update %s", event.kind, update.update_id)


async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a failed update with its traceback; only ids, never the message text.

    A `Forbidden` in a private chat (the member blocked the bot) is one line without
    a traceback: nothing is wrong with Cohort.
    """
    if isinstance(update, Update):
        chat = update.effective_chat
        if isinstance(context.error, Forbidden) and chat is not None and chat.type == "private":
            log.info("Telegram private chat %s refused the bot: %s", chat.id, context.error)
            return
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
    moves: ChatMoves | None = None,
) -> TelegramApplication:
    """A PTB application with the ingestion handlers and the error handler registered.

    `request` replaces PTB's HTTP client for every Bot API call (tests answer from
    memory). `commands` adds the command and button handlers in the default group,
    after ingestion. `moves` follows groups upgraded to supergroups (a fresh one if
    None). An empty token raises `telegram.error.InvalidToken` here; a wrong one only
    when the application is initialized.
    """
    moves = moves if moves is not None else ChatMoves()
    builder = Application.builder().token(token).rate_limiter(FollowingRateLimiter(moves))
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application = builder.build()
    ingest = _Ingest(sink)
    application.add_handlers(
        [
            MessageHandler(MESSAGES, ingest),
            MessageHandler(EDITS, ingest),
            MessageHandler(MEMBERSHIP_MESSAGES, ingest),
            MessageHandler(MIGRATIONS, moves.on_migration),
            MessageReactionHandler(ingest),
            ChatMemberHandler(ingest, ChatMemberHandler.CHAT_MEMBER),
        ],
        group=INGEST_GROUP,
    )
    if commands is not None:
        application.add_handlers(commands.handlers())
    application.add_handler(
        ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER, block=False),
        group=STATUS_GROUP,
    )
    application.add_error_handler(log_error)
    return application


class TelegramAdapter:
    """Runs the Telegram bot (long polling, or `webhook`) and feeds what it sees to `sink`.

    With `commands`, members can also use Cohort's commands and buttons, and a group
    upgraded to a supergroup is moved in the store; without, the bot only listens.
    """

    def __init__(
        self,
        sink: EventSink,
        token: str,
        *,
        request: BaseRequest | None = None,
        commands: Commands | None = None,
        webhook: Webhook | None = None,
    ) -> None:
        self.commands: TelegramCommands | None = None
        moved: Moved | None = None
        lookup: Lookup | None = None
        if commands is not None:
            # Imported here: the command layer pulls in the services (numpy, scipy),
            # which a listening-only adapter does not need.
            from bot.adapters.telegram.commands import TelegramCommands
            from bot.core.services.moves import CommunityMoves

            self.commands = TelegramCommands(commands)
            community_moves = CommunityMoves(commands.services.context)
            moved = functools.partial(community_moves.moved, PLATFORM)
            lookup = functools.partial(community_moves.current, PLATFORM)

        self.moves = ChatMoves(moved, lookup)
        self.application = build_application(
            sink, token, request=request, commands=self.commands, moves=self.moves
        )
        assert self.application.updater is not None  # the builder always creates one
        self.receiver = Receiver(self.application.updater, webhook)

    @property
    def running(self) -> bool:
        """Whether updates are still being received (false after a 401 or a 409 Conflict)."""
        return self.application.running and self.receiver.healthy

    @property
    def failure(self) -> str | None:
        """Why the adapter stopped receiving updates, in one line (None while it works)."""
        return self.receiver.failure

    async def start(self) -> None:
        """Check the token, then start polling; returns once updates are being fetched.

        Raises `telegram.error.InvalidToken` (without the token in its message) if
        Telegram rejects the token; anything already set up is released first.
        """
        application = self.application
        try:
            await application.initialize()
            await application.start()
            await self.receiver.start(ALLOWED_UPDATES)
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
        how = "webhook" if self.receiver.webhook is not None else "polling"
        log.info("Telegram bot @%s (%s) is receiving updates (%s)", me.username, me.id, how)
        if self.commands is not None:
            await self.commands.publish_menu(application.bot)

    def transport(self) -> TelegramTransport:
        """The delivery transport that sends through this adapter's bot (once started)."""
        return TelegramTransport(self.application.bot)

    async def stop(self) -> None:
        """Stop polling and release everything; safe to call if `start` failed or never ran."""
        application = self.application
        await self.receiver.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        # If initialize() failed half-way, the HTTP clients are open but the
        # application does not know it: close them directly (a no-op otherwise).
        await application.bot.shutdown()
