"""The Discord gateway client for live ingestion, and the adapter that runs it.

`CohortDiscordClient` receives discord.py's events, turns them into core events
with `bot.adapters.discord.translate` and hands them to an `EventSink` (the ingest
pipeline). A handler never raises into discord.py: a failure is logged with its
traceback and the event is skipped, so one odd payload cannot disturb the gateway.

`DiscordAdapter` owns the client's lifetime: `start()` logs in (so a bad token is
raised to the caller as `discord.LoginFailure`) and then keeps the gateway
connection in a background task; `stop()` closes the client and waits for it.

With `commands`, members can also use Cohort's slash commands and buttons
(`bot.adapters.discord.commands`, imported only then: it pulls in the services);
the command tree is synced after login. Without, the bot only listens.
`transport()` gives the delivery transport that sends through the same client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.adapters.discord import translate
from bot.adapters.discord.transport import DiscordTransport
from bot.core.events import Event
from bot.core.sink import EventSink

if TYPE_CHECKING:
    from bot.adapters.discord.commands import DiscordCommands
    from bot.core.commands import Commands

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
# A rate limit longer than this raises `discord.RateLimited` instead of waiting in
# place (30 s is the least discord.py accepts): a delivery is retried later instead.
MAX_RATELIMIT_WAIT = 30.0


class InteractionHandler(Protocol):
    """What answers component interactions (button presses): the command layer."""

    async def on_interaction(self, interaction: discord.Interaction[Any], /) -> None:
        """Handle one interaction; never raises."""
        ...


def cohort_intents() -> discord.Intents:
    """The gateway intents ingestion needs; members and message content are privileged.

    Both privileged intents must be enabled for the application in the Discord
    developer portal, or the gateway closes the connection (code 4014).
    """
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = True
    intents.guild_reactions = True
    intents.members = True
    return intents


class CohortDiscordClient(discord.Client):
    """A discord.py client whose event handlers feed translated events to a sink."""

    def __init__(self, sink: EventSink, **options: Any) -> None:
        options.setdefault("intents", cohort_intents())
        options.setdefault("max_ratelimit_timeout", MAX_RATELIMIT_WAIT)
        super().__init__(**options)
        self.sink = sink
        # The command layer, when the adapter serves commands (slash commands reach
        # its command tree directly; this gets the button presses).
        self.interactions: InteractionHandler | None = None

    def _deliver(self, what: str, build: Callable[[], Event | Iterable[Event] | None]) -> None:
        """Translate with `build` and ingest the result; log and swallow any failure."""
        try:
            result = build()
            if result is None:
                return
            events = [result] if isinstance(result, Event) else list(result)
            for event in events:
                if not self.sink.ingest(event):
                    log.debug("sink dropped a Discord %s event", event.kind)
        except Exception:
            log.exception("Discord %s handler failed; event skipped", what)

    async def on_message(self, message: discord.Message) -> None:
        """A message was posted: store it as `MessagePosted`."""
        self._deliver("message", lambda: translate.message_posted(message))

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """A message was updated: store a text edit as `MessageEdited`."""
        self._deliver("message edit", lambda: translate.message_edited(payload))

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """A message was deleted: store `MessageDeleted`."""
        self._deliver("message delete", lambda: translate.message_deleted(payload, self))

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        """Messages were deleted in bulk: store one `MessageDeleted` each."""
        self._deliver("bulk delete", lambda: translate.messages_deleted(payload, self))

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """A reaction was added: store `ReactionAdded`."""
        self._deliver("reaction add", lambda: translate.reaction_added(payload, self))

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """A reaction was removed: store `ReactionRemoved`."""
        self._deliver("reaction remove", lambda: translate.reaction_removed(payload, self))

    async def on_member_join(self, member: discord.Member) -> None:
        """A member joined a guild: store `MemberJoined`."""
        self._deliver("member join", lambda: translate.member_joined(member))

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """A member left a guild: store `MemberLeft`."""
        self._deliver("member remove", lambda: translate.member_left(payload))

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """An interaction arrived: button presses go to the command layer, if any."""
        if self.interactions is None:
            return
        try:
            await self.interactions.on_interaction(interaction)
        except Exception:
            log.exception("Discord interaction handler failed")


class DiscordAdapter:
    """Runs a `CohortDiscordClient` feeding `sink`, logged in with `token`.

    With `commands`, members can also use Cohort's slash commands and buttons; without,
    the bot only listens.
    """

    def __init__(
        self,
        sink: EventSink,
        token: str,
        *,
        commands: Commands | None = None,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.client = CohortDiscordClient(sink)
        self.commands: DiscordCommands | None = None
        if commands is not None:
            # Imported here: the command layer pulls in the services (numpy, scipy),
            # which a listening-only adapter does not need.
            from bot.adapters.discord.commands import DiscordCommands

            self.commands = DiscordCommands(self.client, commands)
            self.client.interactions = self.commands
        self._token = token
        self._stop_timeout = stop_timeout
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the gateway task has been started and has not ended."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Log in, then start the gateway connection in a background task and return.

        Raises `discord.LoginFailure` for an empty or rejected token (the client is
        closed again first), and any other error `login` raises.
        """
        if self._task is not None:
            raise RuntimeError("DiscordAdapter.start() called twice")
        if not self._token.strip():
            raise discord.LoginFailure("no Discord bot token configured")
        try:
            await self.client.login(self._token)
        except BaseException:
            # login opened an HTTP session before the token was rejected.
            await self.client.close()
            raise
        log.info("logged in to Discord as %s", self.client.user)
        if self.commands is not None:
            await self.commands.sync()  # logged, never raised
        self._task = asyncio.create_task(self._run(), name="cohort-discord-gateway")

    def transport(self) -> DiscordTransport:
        """The delivery transport that sends through this adapter's client (once started)."""
        return DiscordTransport(self.client)

    async def _run(self) -> None:
        try:
            await self.client.connect()
        except Exception:
            log.exception("Discord gateway connection ended with an error")
        else:
            log.info("Discord gateway connection closed")

    async def stop(self) -> None:
        """Close the client and wait for the gateway task (cancelled after `stop_timeout`)."""
        task, self._task = self._task, None
        await self.client.close()
        if task is None:
            return
        _, pending = await asyncio.wait({task}, timeout=self._stop_timeout)
        if pending:
            log.warning(
                "Discord gateway task did not stop in %.0fs; cancelling", self._stop_timeout
            )
            task.cancel()
            await asyncio.wait({task})
