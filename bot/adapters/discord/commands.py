"""Discord slash commands and buttons: discord.py interactions in front of Cohort's `Commands`.

Every command of `bot.core.commands.COMMANDS` becomes an application (slash) command
in an `app_commands.CommandTree`, with its options typed (integer options are
integers of at least 1, such as `/courses page`), English descriptions and, through
`CommandTranslator`, the descriptions of Cohort's gettext catalogs for the Discord
locales that `bot.i18n.normalize_locale` maps to a translated locale (`zh-CN`, and
`zh-TW`, which falls back to Simplified Chinese like every other reply). Moderator
commands are hidden from members without "Manage Server" (`default_permissions`) and,
like `community_only` ones, cannot be used in DMs (`guild_only`); the services still
check permissions themselves; holders of a configured moderator role need the server
admin's override in Server Settings → Integrations (docs/discord.md). The tree is
synced after login when its payload changed (`SyncState` keeps the fingerprint).

After a promotion is confirmed (`pr:<draft>`), the moderator gets a private follow-up
with what really happened to it once the campaign has finished (within the
interaction's 15 minutes; `PromoteService.follow_up`).

Options that Cohort can suggest values for (`/promote`'s course and audience) have
autocomplete: every keystroke asks `Commands.suggest`, which answers moderators only.

A slash command is deferred at once (ephemeral, "thinking"), because services can
take seconds and Discord waits 3; `Commands.run` answers and each rendered message
follows up. The first follow-up replaces the deferred message and keeps its
visibility, so a reply meant for everyone first turns the deferred message into a
short private note, then follows up publicly.

A button press arrives as a component interaction for any message, including ones
sent before a restart, so presses are routed by `custom_id` alone: the buttons are
`bot.adapters.discord.buttons.CohortButton`, a discord.py `DynamicItem` registered on
the client, whose callback calls `on_button`. `Commands.press` gets `ACK_WITHIN`
seconds; past that the interaction is deferred so Discord's 3 seconds are kept. A
page button (`pg:`) on one of the bot's own messages edits that message in place
(unless that would show a private page to everyone); every other answer is ephemeral.

Who is asking: the member is `str(user.id)`, the community the guild id (None in a
DM), the channel the channel id (a thread's parent, as ingestion stores it), the
locale the member's Discord client language. `is_admin` means the guild owner or the
Administrator or Manage Server permission in the interaction's resolved permissions.
Role names come from the guild cache (kept by the `guilds` intent); in a guild not
cached yet they are missing, and only `is_admin` can make a moderator.

Nothing raises into discord.py: an error is logged with its traceback and, if the
member has not been answered yet, answered with a short ephemeral apology.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final, Optional, Protocol

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation, TranslationContextTypes, locale_str

from bot import i18n
from bot.adapters.discord.buttons import CohortButton
from bot.adapters.discord.render import DiscordMessage
from bot.adapters.discord.translate import PLATFORM, place_of
from bot.adapters.discord.transport import outgoing
from bot.core.commands import COMMANDS, ArgValue, Commands, CommandSpec, Option
from bot.domain.actors import Actor
from bot.domain.replies import Reply
from bot.store import kv
from bot.store.store import Store

log = logging.getLogger(__name__)

ACK_WITHIN: Final = 2.0
# An interaction's token lasts 15 minutes: the promotion outcome follows up within it.
OUTCOME_WAIT: Final = 14 * 60.0
PROMOTE_ACTION: Final = "pr"
SYNC_TIMEOUT: Final = 60.0
PAGE_ACTION: Final = "pg"
# Marks an interaction whose member has seen an answer (`Interaction.extras`).
ANSWERED: Final = "cohort.answered"
_DESCRIPTIONS: Final = frozenset(
    {
        TranslationContextLocation.command_description,
        TranslationContextLocation.parameter_description,
        TranslationContextLocation.group_description,
    }
)
_DEFERRED: Final = frozenset(
    {
        discord.InteractionResponseType.deferred_channel_message,
        discord.InteractionResponseType.deferred_message_update,
    }
)

Interaction = discord.Interaction[Any]


class CommandTranslator(app_commands.Translator):
    """Translates command and option descriptions with Cohort's catalogs; names stay English.

    `lookup` gives the translator for a Discord locale (`bot.i18n.translator`). A
    description is localized for a locale only when the catalog translates it: Discord
    shows the English description otherwise.
    """

    def __init__(self, lookup: Callable[[str], i18n.Translator] = i18n.translator) -> None:
        self._lookup = lookup

    async def translate(
        self, string: locale_str, locale: discord.Locale, context: TranslationContextTypes
    ) -> str | None:
        """The description in `locale`, or None to keep the English one."""
        if context.location not in _DESCRIPTIONS:
            return None
        if i18n.normalize_locale(locale.value) == i18n.DEFAULT_LOCALE:
            return None
        text = self._lookup(locale.value)(string.message)
        return text if text != string.message else None


def actor_for(interaction: Interaction) -> Actor:
    """The `Actor` behind an interaction: member, guild (None in DMs), channel, locale, roles."""
    user = interaction.user
    roles: tuple[str, ...] = ()
    is_admin = False
    if interaction.guild_id is not None and isinstance(user, discord.Member):
        roles = tuple(role.name for role in user.roles if not role.is_default())
        permissions = interaction.permissions
        owner = user.guild.owner_id
        is_admin = permissions.administrator or permissions.manage_guild or owner == user.id
    channel = interaction.channel
    return Actor(
        platform=PLATFORM,
        member=str(user.id),
        name=user.display_name,
        community=str(interaction.guild_id) if interaction.guild_id is not None else None,
        channel=place_of(channel).channel if channel is not None else None,
        locale=str(interaction.locale),
        roles=roles,
        is_admin=is_admin,
    )


# Options Discord leaves optional although the spec requires them: `/promote status`
# (course "status") takes no audience; the service still refuses a promotion without.
OPTIONAL_ON_DISCORD: Final = frozenset({("promote", "audience")})


def _parameter(option: Option, *, required: bool) -> inspect.Parameter:
    """The callback parameter discord.py reads an option's type and default from."""
    annotation: Any = app_commands.Range[int, 1, None] if option.kind is int else str
    if required:
        return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
    return inspect.Parameter(
        option.name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Optional[annotation],  # noqa: UP045 (a runtime value: Range has no `|`)
        default=None,
    )


def _log_orphan(task: asyncio.Future[Reply]) -> None:
    """Log the failure of a button's work whose answer could not be sent."""
    if not task.cancelled() and task.exception() is not None:
        log.error("Discord button work failed", exc_info=task.exception())


def _edit_kwargs(message: DiscordMessage) -> dict[str, Any]:
    """Keyword arguments that turn an existing message into `message` (no file)."""
    return {
        "content": message.content or None,
        "view": message.view,
        "attachments": [],
        "allowed_mentions": message.allowed_mentions,
    }


class CohortCommandTree(app_commands.CommandTree[discord.Client]):
    """The command tree; a failure before or in a command is logged and apologised for."""

    def __init__(
        self,
        client: discord.Client,
        *,
        on_failure: Callable[[Interaction], Coroutine[Any, Any, None]],
    ) -> None:
        super().__init__(client)
        self._on_failure = on_failure

    async def on_error(
        self, interaction: Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        """Log the error with its traceback, then answer the member if nobody has."""
        command = interaction.command
        name = command.name if command is not None else "(unknown)"
        log.error("Discord command /%s failed", name, exc_info=error)
        await self._on_failure(interaction)


class SyncState(Protocol):
    """Where the fingerprint of the last synced command set is kept between runs."""

    async def get(self, key: str) -> str | None:
        """The value stored under `key`, or None."""
        ...

    async def set(self, key: str, value: str) -> None:
        """Store `value` under `key`."""
        ...


class StoreSyncState:
    """`SyncState` in the store's `cohort_meta` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, key: str) -> str | None:
        """The value stored under `key`, or None."""
        async with self.store.read() as conn:
            return await kv.get_value(conn, key)

    async def set(self, key: str, value: str) -> None:
        """Store `value` under `key`."""
        async with self.store.write() as conn:
            await kv.set_value(conn, key, value)


class DiscordCommands:
    """Cohort's commands and buttons on a discord.py client.

    Builds the command tree on `client` (a client has one tree), registers Cohort's
    buttons with it (`CohortButton`) and answers their presses (`on_button`).
    `translator` localizes the synced commands; `ack_within` is how long a button
    press may run before it is deferred;
    `sync_state` remembers the command set synced last, so an unchanged one is not
    synced again (without it, every login syncs).
    """

    def __init__(
        self,
        client: discord.Client,
        commands: Commands,
        *,
        translator: app_commands.Translator | None = None,
        ack_within: float = ACK_WITHIN,
        sync_timeout: float = SYNC_TIMEOUT,
        sync_state: SyncState | None = None,
    ) -> None:
        self.client = client
        self.commands = commands
        self.translator = translator or CommandTranslator()
        self.ack_within = ack_within
        self.sync_timeout = sync_timeout
        self.sync_state = sync_state
        self.outcome_wait = OUTCOME_WAIT
        self.outcome_poll = 5.0
        self._follow_ups: set[asyncio.Task[None]] = set()
        self.tree = CohortCommandTree(client, on_failure=self.apologize)
        for spec in COMMANDS:
            self.tree.add_command(self._command(spec))
        client.add_dynamic_items(CohortButton)

    # -- the command tree ----------------------------------------------------------------

    def _command(self, spec: CommandSpec) -> app_commands.Command[Any, ..., None]:
        """The slash command for `spec`: options typed and described, permissions set."""

        async def callback(interaction: Interaction, **options: Any) -> None:
            await self.on_command(spec, interaction, options)

        parameters = [
            inspect.Parameter(
                "interaction",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=discord.Interaction,
            ),
            *(
                _parameter(
                    option,
                    required=option.required
                    and (spec.name, option.name) not in OPTIONAL_ON_DISCORD,
                )
                for option in spec.options
            ),
        ]
        callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        if spec.options:
            described = {option.name: locale_str(option.description) for option in spec.options}
            app_commands.describe(**described)(callback)
        command: app_commands.Command[Any, ..., None] = app_commands.Command(
            name=spec.name, description=locale_str(spec.description), callback=callback
        )
        for option in spec.options:
            if option.suggest:
                command.autocomplete(option.name)(self._completer(spec, option))
        if spec.moderator:
            command = app_commands.default_permissions(manage_guild=True)(command)
        if spec.moderator or spec.community_only:
            command = app_commands.guild_only()(command)
        return command

    def _completer(
        self, spec: CommandSpec, option: Option
    ) -> Callable[[Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
        """The autocomplete callback of `option`: `Commands.suggest` as Discord choices."""

        async def complete(
            interaction: Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            suggestions = await self.commands.suggest(
                actor_for(interaction), spec.name, option.name, current
            )
            return [app_commands.Choice(name=s.label, value=s.value) for s in suggestions]

        return complete

    async def payload_hash(self) -> str:
        """A fingerprint of exactly what `tree.sync()` would send (with translations)."""
        if self.tree.translator is not self.translator:
            await self.tree.set_translator(self.translator)
        payload = [
            await command.get_translated_payload(self.tree, self.translator)
            for command in self.tree.get_commands()
        ]
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _sync_key(self) -> str:
        return f"discord.commands.{self.client.application_id}"

    async def sync(self) -> int | None:
        """Publish the commands (with their translations) to Discord, if they changed.

        Returns how many were synced, 0 when the set is unchanged since the last sync
        (Discord rate-limits syncs; they are not needed on every login), or None on
        failure. A failure is logged, never raised: members keep the commands synced
        before.
        """
        try:
            fingerprint = await self.payload_hash()
            state = self.sync_state
            if state is not None and await state.get(self._sync_key()) == fingerprint:
                log.info("Discord application commands unchanged; not synced")
                return 0
            synced = await asyncio.wait_for(self.tree.sync(), self.sync_timeout)
            if self.sync_state is not None:
                await self.sync_state.set(self._sync_key(), fingerprint)
        except Exception:
            log.exception("could not sync the Discord application commands")
            return None
        log.info("synced %d Discord application commands", len(synced))
        return len(synced)

    # -- slash commands ------------------------------------------------------------------

    async def on_command(
        self, spec: CommandSpec, interaction: Interaction, options: Mapping[str, Any]
    ) -> None:
        """Run one slash command: defer, `Commands.run`, then send the reply as follow-ups."""
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            actor = actor_for(interaction)
            args: dict[str, ArgValue] = {
                name: value for name, value in options.items() if value is not None
            }
            reply = await self.commands.run(actor, spec.name, args)
            await self._follow_up(interaction, reply)
        except Exception:
            log.exception("Discord /%s failed", spec.name)
            await self.apologize(interaction)

    async def _follow_up(self, interaction: Interaction, reply: Reply) -> None:
        """Send `reply` after an ephemeral deferral (publicly when it is not private)."""
        messages = outgoing(reply)
        if not messages:
            await interaction.delete_original_response()
            return
        if not reply.private:
            # The first follow-up would inherit the deferral's ephemeral flag: settle it.
            t = i18n.translator(str(interaction.locale))
            await interaction.edit_original_response(content=t("Posted in the channel."))
            interaction.extras[ANSWERED] = True
        for message in messages:
            await interaction.followup.send(**message.response_kwargs())
            interaction.extras[ANSWERED] = True

    # -- buttons -------------------------------------------------------------------------

    async def on_button(self, interaction: Interaction, action: str) -> None:
        """A press of the button whose `custom_id` is `action` (called by `CohortButton`)."""
        try:
            await self._press(interaction, action)
        except Exception:
            log.exception("Discord button %s failed", action.partition(":")[0])
            await self.apologize(interaction)

    async def _press(self, interaction: Interaction, action: str) -> None:
        actor = actor_for(interaction)
        await self._answer_press(interaction, actor, action)
        prefix, _, draft = action.partition(":")
        if prefix == PROMOTE_ACTION and draft.isdigit():
            task = asyncio.create_task(self._report_outcome(interaction, actor, draft))
            self._follow_ups.add(task)
            task.add_done_callback(self._follow_ups.discard)

    async def _report_outcome(self, interaction: Interaction, actor: Actor, draft: str) -> None:
        """Tell the moderator what became of the promotion they confirmed (ephemeral)."""
        try:
            reply = await self.commands.services.promote.follow_up(
                actor, draft, wait_at_most=self.outcome_wait, poll=self.outcome_poll
            )
            if reply is None:
                return
            for message in outgoing(reply):
                await interaction.followup.send(**{**message.response_kwargs(), "ephemeral": True})
        except Exception:
            log.exception("could not report a promotion's outcome on Discord")

    async def close(self) -> None:
        """Stop waiting for promotion outcomes (the bot is stopping)."""
        tasks, self._follow_ups = self._follow_ups, set()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _answer_press(self, interaction: Interaction, actor: Actor, action: str) -> None:
        paging = action.partition(":")[0] == PAGE_ACTION and self._own(interaction.message)
        work = asyncio.ensure_future(self.commands.press(actor, action, str(interaction.id)))
        try:
            done, _ = await asyncio.wait({work}, timeout=self.ack_within)
            if not done:
                if paging:
                    await interaction.response.defer()  # edit the message when ready
                else:
                    await interaction.response.defer(ephemeral=True, thinking=True)
        except BaseException:
            # The press still takes effect (an opt-in, a confirmation); only its answer is lost.
            work.add_done_callback(_log_orphan)
            raise
        reply = await work
        messages = outgoing(reply)
        if paging and self._editable(interaction, reply, messages):
            kwargs = _edit_kwargs(messages[0])
            if interaction.response.is_done():
                await interaction.edit_original_response(**kwargs)
            else:
                await interaction.response.edit_message(**kwargs)
            interaction.extras[ANSWERED] = True
            return
        if not messages and not interaction.response.is_done():
            await interaction.response.defer()  # nothing to say: acknowledge quietly
            return
        for message in messages:
            kwargs = {**message.response_kwargs(), "ephemeral": True}
            if interaction.response.is_done():
                await interaction.followup.send(**kwargs)
            else:
                await interaction.response.send_message(**kwargs)
            interaction.extras[ANSWERED] = True

    def _own(self, message: discord.Message | None) -> bool:
        """Whether `message` was sent by this bot (a reply, a follow-up, a delivery)."""
        me = self.client.user
        if message is None or me is None:
            return False
        return message.author.id == me.id or (
            message.webhook_id is not None and message.webhook_id == self.client.application_id
        )

    def _editable(
        self, interaction: Interaction, reply: Reply, messages: list[DiscordMessage]
    ) -> bool:
        """Whether the pressed message can show `reply` in place.

        Only one message without a file fits, and a private page never replaces a
        message everyone sees.
        """
        message = interaction.message
        if message is None or len(messages) != 1 or messages[0].file is not None:
            return False
        return not reply.private or message.flags.ephemeral or interaction.guild_id is None

    # -- failures ------------------------------------------------------------------------

    async def apologize(self, interaction: Interaction) -> None:
        """A short ephemeral apology, unless the member already saw an answer."""
        t = i18n.translator(str(interaction.locale))
        text = t("Something went wrong; please try again later.")
        response = interaction.response
        try:
            if not response.is_done():
                await response.send_message(text, ephemeral=True)
            elif response.type in _DEFERRED and not interaction.extras.get(ANSWERED):
                await interaction.followup.send(text, ephemeral=True)
            else:
                return
            interaction.extras[ANSWERED] = True
        except Exception:
            log.exception("could not apologise for a failed Discord interaction")
