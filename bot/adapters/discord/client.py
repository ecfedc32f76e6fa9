"""The Discord gateway client for live ingestion, and the adapter that runs it.

`CohortDiscordClient` receives discord.py's events, turns them into core events
with `bot.adapters.discord.translate` and hands them to an `EventSink` (the ingest
pipeline). A handler never raises into discord.py: a failure is logged with its
traceback and the event is skipped, so one odd payload cannot disturb the gateway.
On every READY it backfills what was posted while it was away
(`bot.adapters.discord.backfill`).

`DiscordAdapter` owns the client's lifetime: `start()` logs in (a rejected token is
raised to the caller as a `ConfigError` saying what to fix) and then supervises the
gateway connection in a background task: a failed connect, a dropped connection or
an outage is retried with exponential backoff, for as long as it takes. Only what
retrying cannot fix stops it: a rejected token (401, close code 4004) or privileged
intents not enabled in the developer portal (close code 4014); `failure` then holds
one line saying what to fix and `running` turns False. `stop()` closes the client
and waits for it.

The client is built for large servers: members are not requested at start-up
(`chunk_guilds_at_startup=False`; member events still arrive through the members
intent), mentions are inert in everything it sends (`allowed_mentions` none, once
on the client), and with `[discord] shards` it is an `AutoShardedClient`.

With `commands`, members can also use Cohort's slash commands and buttons
(`bot.adapters.discord.commands`, imported only then: it pulls in the services);
the command tree is synced after login when it changed. Without, the bot only listens.
`transport()` gives the delivery transport that sends through the same client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, cast

import discord

from bot.adapters.discord import translate
from bot.adapters.discord.backfill import Backfill
from bot.adapters.discord.buttons import ButtonHandler
from bot.adapters.discord.permissions import missing_to_post
from bot.adapters.discord.transport import DiscordTransport
from bot.domain.events import Event
from bot.domain.sink import EventSink
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.adapters.discord.commands import DiscordCommands, SyncState
    from bot.app import Cohort
    from bot.config import DiscordSettings
    from bot.core.commands import Commands

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
# A rate limit longer than this raises `discord.RateLimited` instead of waiting in
# place (30 s is the least discord.py accepts): a delivery is retried later instead.
MAX_RATELIMIT_WAIT = 30.0
FIRST_RETRY: Final = 2.0
MAX_RETRY: Final = 300.0

BAD_TOKEN: Final = (
    "Discord rejected the bot token: set a valid one in COHORT_DISCORD__TOKEN or [discord] "
    "token (Developer Portal > your application > Bot > Reset Token)"
)
MISSING_INTENTS: Final = (
    "Discord refused the privileged intents: enable Message Content Intent and Server Members "
    "Intent in the Developer Portal > your application > Bot > Privileged Gateway Intents"
)
GATEWAY_AUTH_FAILED: Final = 4004


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


def client_options() -> dict[str, Any]:
    """discord.py client options for Cohort, tuned for large servers."""
    return {
        "intents": cohort_intents(),
        "max_ratelimit_timeout": MAX_RATELIMIT_WAIT,
        # Member lists are not needed to ingest; requesting every member of every
        # guild at start-up takes minutes on large servers and delays READY.
        "chunk_guilds_at_startup": False,
        "allowed_mentions": discord.AllowedMentions.none(),
    }


class _Handlers:
    """The event handlers shared by the single-connection and the sharded client."""

    sink: EventSink
    interactions: ButtonHandler | None
    backfill: Backfill | None
    readies: int
    _backfill_task: asyncio.Task[None] | None
    _backfill_again: bool

    def _setup(self, sink: EventSink) -> None:
        self.sink = sink
        # The command layer, when the adapter serves commands (slash commands reach
        # its command tree directly; `CohortButton` hands it the button presses).
        self.interactions = None
        self.backfill = None
        self.readies = 0
        self._backfill_task = None
        self._backfill_again = False

    @property
    def guild_list(self) -> list[discord.Guild]:
        """The guilds in the cache (`discord.Client.guilds`; every subclass is a client)."""
        return list(cast(discord.Client, self).guilds)

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

    async def on_ready(self) -> None:
        """Connected with a new session: fetch what was posted while the bot was away."""
        self.readies += 1
        if self.backfill is None:
            return
        if self._backfill_task is not None and not self._backfill_task.done():
            self._backfill_again = True  # a new gap opened while the last one is filled
            return
        self._backfill_task = asyncio.create_task(self._backfill(), name="cohort-discord-backfill")

    async def _backfill(self) -> None:
        while self.backfill is not None:
            self._backfill_again = False
            try:
                await self.backfill.run(list(self.guild_list))
            except Exception:
                log.exception("Discord backfill failed")
            if not self._backfill_again:
                return

    async def wait_backfill(self) -> None:
        """Wait until a backfill in progress (and any rerun it owes) has finished."""
        while (task := self._backfill_task) is not None and not task.done():
            await asyncio.wait({task})

    async def stop_backfill(self) -> None:
        """Cancel a backfill in progress and wait for it."""
        task, self._backfill_task = self._backfill_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def on_message(self, message: discord.Message) -> None:
        """A message was posted: store it as `MessagePosted`."""
        self._deliver("message", lambda: translate.message_posted(message))

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """A message was updated: store a text edit as `MessageEdited`."""
        self._deliver("message edit", lambda: translate.message_edited(payload))

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """A message was deleted: store `MessageDeleted`."""
        self._deliver("message delete", lambda: translate.message_deleted(payload, self.lookup))

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        """Messages were deleted in bulk: store one `MessageDeleted` each."""
        self._deliver("bulk delete", lambda: translate.messages_deleted(payload, self.lookup))

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """A reaction was added: store `ReactionAdded`."""
        self._deliver("reaction add", lambda: translate.reaction_added(payload, self.lookup))

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """A reaction was removed: store `ReactionRemoved`."""
        self._deliver("reaction remove", lambda: translate.reaction_removed(payload, self.lookup))

    async def on_member_join(self, member: discord.Member) -> None:
        """A member joined a guild: store `MemberJoined`."""
        self._deliver("member join", lambda: translate.member_joined(member))

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """A member left a guild: store `MemberLeft`."""
        self._deliver("member remove", lambda: translate.member_left(payload))

    @property
    def lookup(self) -> translate.GuildLookup:
        """The client itself, as the cache the raw-event translators read."""
        return cast(translate.GuildLookup, self)


class CohortDiscordClient(_Handlers, discord.Client):
    """A discord.py client whose event handlers feed translated events to a sink."""

    def __init__(self, sink: EventSink, **options: Any) -> None:
        super().__init__(**(client_options() | options))
        self._setup(sink)


class ShardedCohortDiscordClient(_Handlers, discord.AutoShardedClient):
    """The same client over several gateway shards (`[discord] shards`)."""

    def __init__(self, sink: EventSink, **options: Any) -> None:
        super().__init__(**(client_options() | options))
        self._setup(sink)


AnyCohortClient = CohortDiscordClient | ShardedCohortDiscordClient


def build_client(sink: EventSink, shards: int | str | None = None) -> AnyCohortClient:
    """A single-connection client, or a sharded one (`"auto"` or a shard count)."""
    if shards is None:
        return CohortDiscordClient(sink)
    if shards == "auto":
        return ShardedCohortDiscordClient(sink)
    return ShardedCohortDiscordClient(sink, shard_count=int(shards))


def exponential_backoff(attempt: int) -> float:
    """Seconds before reconnect `attempt` (0, 1, ...): doubling from 2 s to 5 min, jittered."""
    base = min(MAX_RETRY, FIRST_RETRY * 2.0**attempt)
    return base * random.uniform(0.5, 1.0)


def _fatal(exc: BaseException) -> str | None:
    """What to fix, if `exc` is a failure that reconnecting cannot cure."""
    if isinstance(exc, discord.LoginFailure):
        return BAD_TOKEN
    if isinstance(exc, discord.HTTPException) and exc.status == 401:
        return BAD_TOKEN
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return MISSING_INTENTS
    if isinstance(exc, discord.ConnectionClosed) and exc.code == GATEWAY_AUTH_FAILED:
        return BAD_TOKEN
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class DiscordAdapter:
    """Runs a `CohortDiscordClient` feeding `sink`, logged in with `token`.

    With `commands`, members can also use Cohort's slash commands and buttons; without,
    the bot only listens. `backfill` fetches missed messages on every READY;
    `sync_state` remembers which command set was synced last (see `DiscordCommands.sync`);
    `shards` makes the client sharded. `backoff(attempt)` is the wait before
    reconnect attempt `attempt`.
    """

    def __init__(
        self,
        sink: EventSink,
        token: str,
        *,
        commands: Commands | None = None,
        backfill: Backfill | None = None,
        sync_state: SyncState | None = None,
        shards: int | str | None = None,
        stop_timeout: float = STOP_TIMEOUT,
        backoff: Callable[[int], float] = exponential_backoff,
    ) -> None:
        self.client = build_client(sink, shards)
        self.client.backfill = backfill
        self.commands: DiscordCommands | None = None
        if commands is not None:
            # Imported here: the command layer pulls in the services (numpy, scipy),
            # which a listening-only adapter does not need.
            from bot.adapters.discord.commands import DiscordCommands

            self.commands = DiscordCommands(self.client, commands, sync_state=sync_state)
            self.client.interactions = self.commands
            # Promotions to a channel are refused up front if the bot could not post there.
            commands.services.promote.channel_checks[translate.PLATFORM] = self._missing_to_post
        self._token = token
        self._stop_timeout = stop_timeout
        self._backoff = backoff
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._logged_in = False
        self.failure: str | None = None

    async def _missing_to_post(self, guild: str, channel: str) -> list[str]:
        return missing_to_post(self.client, guild, channel)

    @classmethod
    def for_cohort(cls, cohort: Cohort, *, commands: Commands | None = None) -> DiscordAdapter:
        """The adapter `cohort`'s settings describe: backfill, command-sync state, shards."""
        from bot.adapters.discord.commands import StoreSyncState
        from bot.store.history import latest_message_ids

        settings: DiscordSettings = cohort.settings.discord
        store = cohort.store

        async def cursors(guild: str) -> dict[tuple[str, str | None], int]:
            async with store.read() as conn:
                return await latest_message_ids(conn, translate.PLATFORM, guild)

        return cls(
            cohort.pipeline,
            settings.token.get_secret_value(),
            commands=commands,
            backfill=Backfill(cohort.pipeline, cursors, limit=settings.backfill_limit),
            sync_state=StoreSyncState(store),
            shards=settings.shards,
        )

    @property
    def running(self) -> bool:
        """Whether the adapter is connected or reconnecting (False once it gave up or stopped)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Log in, then supervise the gateway connection in a background task and return.

        A rejected token raises `ConfigError` saying what to fix (the client is closed
        again first). If Discord cannot be reached, the background task keeps trying.
        """
        if self._task is not None:
            raise RuntimeError("DiscordAdapter.start() called twice")
        if not self._token.strip():
            raise ConfigError("discord: no bot token configured (set COHORT_DISCORD__TOKEN)")
        try:
            await self._login()
        except Exception as exc:
            if (fix := _fatal(exc)) is not None:
                await self.client.close()
                raise ConfigError(f"discord: {fix}") from exc
            log.warning("Discord login failed (%s); retrying in the background", _describe(exc))
        self._task = asyncio.create_task(self._supervise(), name="cohort-discord-gateway")

    async def _login(self) -> None:
        await self.client.login(self._token)
        self._logged_in = True
        log.info("logged in to Discord as %s", self.client.user)
        if self.commands is not None:
            await self.commands.sync()  # logged, never raised

    def transport(self) -> DiscordTransport:
        """The delivery transport that sends through this adapter's client (once started)."""
        return DiscordTransport(self.client)

    async def _supervise(self) -> None:
        """Keep the gateway connected: reconnect with backoff until stopped or told to stop."""
        attempt = 0
        while not self._stopping.is_set():
            readies = self.client.readies
            try:
                if not self._logged_in:
                    await self._login()
                await self.client.connect(reconnect=True)
                reason = "gateway connection closed"
            except Exception as exc:
                if (fix := _fatal(exc)) is not None and not self._stopping.is_set():
                    self.failure = fix
                    log.error("Discord stopped: %s", fix)
                    return
                reason = _describe(exc)
            if self._stopping.is_set():
                log.info("Discord gateway connection closed")
                return
            if self.client.readies != readies:
                attempt = 0  # it was connected: start the backoff over
            delay = self._backoff(attempt)
            attempt += 1
            log.warning("Discord gateway: %s; reconnecting in %.1fs", reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self.client.is_closed() and not self._stopping.is_set():
                # discord.py closed the client (and its HTTP session): reopen, log in again.
                self.client.clear()
                self._logged_in = False

    async def stop(self) -> None:
        """Close the client and wait for the gateway task (cancelled after `stop_timeout`)."""
        self._stopping.set()
        task, self._task = self._task, None
        await self.client.stop_backfill()
        if self.commands is not None:
            await self.commands.close()
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
