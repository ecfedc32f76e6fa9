"""Telegram commands and buttons: PTB handlers in front of Cohort's neutral `Commands`.

Every command of `bot.core.commands.COMMANDS` gets a `CommandHandler` (plus `/start`,
which carries deep links), and one `CallbackQueryHandler` takes every button press.
Handlers only build an `Actor`, parse `/command arg arg` positionally into the
spec's options, call `Commands.run` / `press` / `start`, and send the neutral reply.
PTB ignores `/command@otherbot` once the bot knows its own username.

Who is asking: the member is `str(user.id)`; a group or supergroup is both the
community and the channel (`str(chat.id)`, as the ingestion code stores it; a
forum topic is not a channel, but replies go back into the topic). Admin status
(creator or administrator) is asked with `getChatMember`, only for moderator
commands and their buttons, and cached per (chat, user) for `ADMIN_TTL` seconds. The
services check permissions; this module only reports what Telegram says.

Handlers run `block=False`: each command or press is a task of its own, so a slow
reply never holds up the next update (ingestion above all). A button press is
answered at once, before any work, so the member's client stops waiting.

Private replies: Telegram has no ephemeral messages, and a bot cannot message a
member first. A private reply to a group command goes to the member's private chat;
if Telegram refuses (`Forbidden`: never started or blocked), the group gets one
short neutral line, as a reply to the command, with a button that opens the bot
(`https://t.me/<bot>?start=<command>`). The private content never goes to the group.
For `/optin` and `/optout` the decision is already recorded: the line says so, and
the button's deep link carries the community (`optin_<chat id>`, `optout_<chat id>`),
so `/start` in the private chat confirms the decision for that group. A press in a
group whose private answer Telegram refuses gets the same kind of line, as a reply
to the message with the button. An apology for a failed private reply is sent
privately too, never in the group.

Anonymous admins (posting as the group, `GroupAnonymousBot`) cannot be told apart:
their commands are not run, and the group is told to use their own account.
Members posting as a channel are ignored.

A reply with buttons sent privately for a group command remembers that group for
`ORIGIN_TTL` seconds, so a button pressed in the private chat (a promotion preview's
"Confirm") acts in the community the command came from.

Nothing raises into PTB: an error is logged with its traceback and answered with a
short apology. A member who blocked the bot (`Forbidden` in their private chat) is
logged in one line, without a traceback: there is no one to apologise to.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeDefault,
    CallbackQuery,
    Chat,
    ChatMember,
    MaybeInaccessibleMessage,
    Message,
    Update,
    User,
)
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot.adapters.telegram.render import render
from bot.adapters.telegram.translate import PLATFORM, is_group
from bot.adapters.telegram.transport import dm_closed, send_reply
from bot.core.commands import COMMANDS, START_OPTIN, ArgValue, Commands, CommandSpec
from bot.domain.actors import Actor
from bot.domain.replies import Button, Paragraph, Reply
from bot.i18n import Translator, translator

log = logging.getLogger(__name__)

ADMIN_TTL: Final = 300.0
ORIGIN_TTL: Final = 3600.0
CACHE_LIMIT: Final = 4096
START: Final = "start"
HELP: Final = "help"
ZH: Final = "zh"
# Button prefixes whose action needs a moderator (see `bot.core.commands`).
MODERATOR_ACTIONS: Final = frozenset({"pr", "rp"})
PAGE_ACTION: Final = "pg"
# Consent commands: done in the group, their deep links carry the group.
CONSENT_COMMANDS: Final = frozenset({"optin", "optout"})
START_OPTOUT: Final = "optout_"
_ADMIN_STATUSES: Final = frozenset({ChatMember.ADMINISTRATOR, ChatMember.OWNER})

K = TypeVar("K")
V = TypeVar("V")
TelegramHandler = BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]


class Expiring(Generic[K, V]):
    """A small mapping whose entries expire `ttl` seconds after they were set.

    At most `limit` entries are kept; the oldest go first.
    """

    def __init__(
        self, ttl: float, *, limit: int = CACHE_LIMIT, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value set for `key`, unless it expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        return value

    def set(self, key: K, value: V) -> None:
        """Set `key` for the next `ttl` seconds."""
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self.ttl, value)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Origin:
    """The group a private reply was made for."""

    community: str
    channel: str


def option_names(spec: CommandSpec) -> tuple[str, ...]:
    """The names `/command` arguments fill, in order."""
    return tuple(option.name for option in spec.options)


def usage(spec: CommandSpec) -> str:
    """How to call a command: `/promote <course> <audience>`, `/courses [page]`."""
    parts = [f"/{spec.name}"]
    for option in spec.options:
        parts.append(f"<{option.name}>" if option.required else f"[{option.name}]")
    return " ".join(parts)


def parse_args(spec: CommandSpec, words: Sequence[str]) -> dict[str, ArgValue] | None:
    """The spec's options from positional words; None when the command needs its usage.

    Words beyond the options are joined into the last one. A missing required option
    or an integer option that is not a number means the usage should be shown.
    """
    names = option_names(spec)
    kinds = {option.name: option.kind for option in spec.options}
    values = list(words[: len(names)])
    if len(words) > len(names) and names:
        values[-1] = " ".join(words[len(names) - 1 :])
    args: dict[str, ArgValue] = {}
    for name, value in zip(names, values, strict=False):
        if kinds.get(name, str) is int:
            try:
                args[name] = int(value)
            except ValueError:
                return None
        else:
            args[name] = value
    if any(option.required and option.name not in args for option in spec.options):
        return None
    return args


def deep_link(username: str, payload: str) -> str:
    """The link that opens the bot's private chat and sends `/start <payload>`."""
    return f"https://t.me/{username}?start={payload}"


def actor_for(
    user: User, chat: Chat | None, *, is_admin: bool = False, origin: Origin | None = None
) -> Actor:
    """The `Actor` for `user` in `chat` (a group is community and channel; private: none).

    `origin` is the group a private message was sent for, when a button on it is pressed.
    """
    community = channel = None
    if chat is not None and is_group(chat):
        community = channel = str(chat.id)
    elif origin is not None:
        community, channel = origin.community, origin.channel
    return Actor(
        platform=PLATFORM,
        member=str(user.id),
        name=user.full_name,
        community=community,
        channel=channel,
        locale=user.language_code,
        is_admin=is_admin,
    )


def menu(locale: str | None, *, moderator: bool) -> list[BotCommand]:
    """The command menu in `locale`: member commands, plus moderator ones if asked."""
    t = translator(locale)
    return [
        BotCommand(spec.name, t(spec.description))
        for spec in COMMANDS
        if moderator or not spec.moderator
    ]


def _thread(message: Message | None) -> int | None:
    if message is not None and message.is_topic_message:
        return message.message_thread_id
    return None


def _accessible(message: MaybeInaccessibleMessage | None) -> Message | None:
    """The message, unless Telegram no longer gives its content (older than 48 hours)."""
    if message is None or not message.is_accessible:
        return None
    assert isinstance(message, Message)  # what `is_accessible` promises
    return message


class TelegramCommands:
    """PTB handlers that route commands and button presses to `Commands`.

    `admin_ttl` is how long a `getChatMember` answer is trusted; `origin_ttl` how long
    a private reply remembers the group it was made for. `clock` is monotonic seconds.
    """

    def __init__(
        self,
        commands: Commands,
        *,
        admin_ttl: float = ADMIN_TTL,
        origin_ttl: float = ORIGIN_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.commands = commands
        self._admins: Expiring[tuple[int, int], bool] = Expiring(admin_ttl, clock=clock)
        self._origins: Expiring[tuple[int, int], Origin] = Expiring(origin_ttl, clock=clock)

    def handlers(self) -> list[TelegramHandler]:
        """One handler per command, `/start`, and one for every button press."""
        only_new = filters.UpdateType.MESSAGE  # an edited command is not run again
        handlers: list[TelegramHandler] = [
            CommandHandler(
                spec.name, functools.partial(self.on_command, spec), only_new, block=False
            )
            for spec in COMMANDS
        ]
        handlers.append(CommandHandler(START, self.on_start, only_new, block=False))
        handlers.append(CallbackQueryHandler(self.on_button, block=False))
        return handlers

    # -- the command menu ----------------------------------------------------------

    async def publish_menu(self, bot: Bot) -> None:
        """Set the command menus (English and Chinese; admins also see moderator commands).

        Failures are logged, never raised: the bot works without a menu.
        """
        scopes: list[tuple[BotCommandScope, bool]] = [
            (BotCommandScopeDefault(), False),
            (BotCommandScopeAllChatAdministrators(), True),
        ]
        for scope, moderator in scopes:
            for language in (None, ZH):
                try:
                    await bot.set_my_commands(
                        menu(language, moderator=moderator), scope=scope, language_code=language
                    )
                except Exception:
                    log.warning(
                        "could not set the %s command menu (%s)",
                        scope.type,
                        language or "default language",
                        exc_info=True,
                    )

    # -- handlers ------------------------------------------------------------------

    async def on_command(
        self, spec: CommandSpec, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        """Run one command for the member who sent it and send the reply."""
        message, user, chat = update.message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None:
            return
        bot = context.bot
        if not _from_person(message, user):
            await self._hint_anonymous(bot, user, chat, message)
            return
        private = False
        try:
            args = parse_args(spec, context.args or [])
            if args is None:
                t = translator(user.language_code)
                text = t("Usage: {usage}", usage=usage(spec))
                await self._public(bot, Reply((Paragraph.of(text),)), chat, message)
                return
            is_admin = spec.moderator and await self._is_admin(bot, chat, user)
            actor = actor_for(user, chat, is_admin=is_admin)
            reply = await self.commands.run(actor, spec.name, args)
            private = reply.private
            payload = spec.name
            if spec.name in CONSENT_COMMANDS and is_group(chat):
                payload = f"{spec.name}_{chat.id}"
            await self._respond(bot, reply, user=user, chat=chat, message=message, payload=payload)
        except Exception as exc:
            if _blocked_in_private(exc, chat):
                return
            log.exception("Telegram /%s in chat %s failed", spec.name, chat.id)
            await self._apologize(bot, user, chat, message, private=private)

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/start [payload]`: deep links (`optin_<chat id>`, a command name) or a welcome."""
        message, user, chat = update.message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None or not _from_person(message, user):
            return
        bot = context.bot
        try:
            payload = context.args[0] if context.args else None
            actor = actor_for(user, chat)
            if payload and payload.startswith(START_OPTOUT):
                community = payload.removeprefix(START_OPTOUT)
                reply = await self.commands.run(actor, "optout", {"community": community})
            else:
                reply = await self.commands.start(actor, payload)
            link = payload or HELP  # a payload that came from a deep link is a valid one
            await self._respond(bot, reply, user=user, chat=chat, message=message, payload=link)
        except Exception as exc:
            if _blocked_in_private(exc, chat):
                return
            log.exception("Telegram /start in chat %s failed", chat.id)
            await self._apologize(bot, user, chat, message)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press: `Commands.press`, then edit (pages) or send; always answered."""
        query = update.callback_query
        if query is None:
            return
        bot = context.bot
        user = query.from_user
        try:
            await query.answer()
        except TelegramError as exc:  # the query is too old, or already answered
            log.info("could not answer a button press: %s", exc)
        if not query.data:
            return
        try:
            await self._press(bot, query, user, query.data)
        except Exception as exc:
            holder = _accessible(query.message)
            if holder is not None and _blocked_in_private(exc, holder.chat):
                return
            log.exception("Telegram button press failed")
            await self._apologize_for_press(bot, user, holder)

    # -- the work ------------------------------------------------------------------

    async def _press(self, bot: Bot, query: CallbackQuery, user: User, action: str) -> None:
        """Handle the press (already answered): edit the page, or send the reply."""
        holder = query.message
        chat = holder.chat if holder is not None else None
        origin = None
        if holder is not None and chat is not None and not is_group(chat):
            origin = self._origins.get((chat.id, holder.message_id))
        prefix = action.partition(":")[0]
        is_admin = False
        if prefix in MODERATOR_ACTIONS:
            where = chat if chat is not None and is_group(chat) else None
            if where is not None:
                is_admin = await self._is_admin(bot, where, user)
            elif origin is not None:
                is_admin = await self._is_admin_in(bot, int(origin.community), user)
        actor = actor_for(user, chat, is_admin=is_admin, origin=origin)
        reply = await self.commands.press(actor, action, query.id)
        message = _accessible(holder)
        if (
            prefix == PAGE_ACTION
            and message is not None
            and not (reply.private and is_group(message.chat))
            and await self._edit(bot, message, reply)
        ):
            return
        if reply.private and chat is not None and is_group(chat):
            if await self._private(bot, reply, user, Origin(str(chat.id), str(chat.id))):
                return
            if message is not None:  # the group is told, without the private content
                await self._public(bot, self._closed(user, bot, HELP), chat, message)
            return
        if chat is None:  # a message sent in inline mode: only the member's private chat
            await self._private(bot, reply, user, None)
            return
        sent = [m async for m in send_reply(bot, chat.id, reply, thread_id=_thread(message))]
        if origin is not None:
            self._remember(sent, origin)

    async def _respond(
        self,
        bot: Bot,
        reply: Reply,
        *,
        user: User,
        chat: Chat,
        message: Message,
        payload: str,
    ) -> None:
        """Send a command's reply: privately when it is private, else where it was asked."""
        if reply.private and is_group(chat):
            origin = Origin(str(chat.id), str(chat.id))
            if await self._private(bot, reply, user, origin):
                return
            await self._public(bot, self._closed(user, bot, payload), chat, message)
            return
        await self._public(bot, reply, chat, message)

    def _closed(self, user: User, bot: Bot, payload: str) -> Reply:
        """The neutral group line for a private reply Telegram refused, with a deep link."""
        t = translator(user.language_code)
        if payload.startswith(START_OPTIN):
            line = t("Done. To get messages from Cohort, open a chat with me.")
        elif payload.startswith(START_OPTOUT):
            line = t("Done. Open a chat with me to see the details.")
        else:
            line = _closed_line(t)
        button = Button(t("Open a chat with Cohort"), url=deep_link(bot.username, payload))
        return Reply((Paragraph.of(line),), buttons=((button,),))

    async def _private(self, bot: Bot, reply: Reply, user: User, origin: Origin | None) -> bool:
        """Send `reply` to the member's private chat; False if Telegram refused it first."""
        sent: list[Message] = []
        try:
            async for part in send_reply(bot, user.id, reply):
                sent.append(part)
        except TelegramError as exc:
            if sent or not dm_closed(exc):
                raise
            log.info("private reply refused by Telegram: %s", exc)
            return False
        if origin is not None:
            self._remember(sent, origin)
        return True

    async def _public(self, bot: Bot, reply: Reply, chat: Chat, message: Message) -> None:
        """Send `reply` to `chat`, as a reply to `message` (in its forum topic, if any)."""
        async for _ in send_reply(
            bot,
            chat.id,
            reply,
            thread_id=_thread(message),
            reply_to=message.message_id if is_group(chat) else None,
        ):
            pass

    async def _edit(self, bot: Bot, message: Message, reply: Reply) -> bool:
        """Show `reply` in place of `message` (pagination); False if it cannot be."""
        rendered = render(reply)
        if len(rendered) != 1 or rendered[0].photo is not None or reply.file is not None:
            return False
        new = rendered[0]
        try:
            await bot.edit_message_text(
                new.text,
                chat_id=message.chat.id,
                message_id=message.message_id,
                parse_mode=new.parse_mode,
                reply_markup=new.reply_markup,
                link_preview_options=new.link_preview_options,
            )
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return True  # the same page pressed twice
            log.info("could not edit message %s: %s", message.message_id, exc)
            return False
        return True

    async def _apologize(
        self, bot: Bot, user: User, chat: Chat, message: Message, *, private: bool = False
    ) -> None:
        """A short apology where the reply was going: privately for a private reply."""
        t = translator(user.language_code)
        apology = Reply((Paragraph.of(t("Something went wrong; please try again later.")),))
        try:
            if private and is_group(chat):
                await self._private(bot, apology, user, None)
            else:
                await self._public(bot, apology, chat, message)
        except Exception:
            log.exception("could not send an apology to chat %s", chat.id)

    async def _apologize_for_press(self, bot: Bot, user: User, holder: Message | None) -> None:
        """After a failed press: an apology in the private chat, or as a reply in the group."""
        t = translator(user.language_code)
        apology = Reply((Paragraph.of(t("Something went wrong; please try again later.")),))
        try:
            if holder is not None and is_group(holder.chat):
                if not await self._private(bot, apology, user, None):
                    await self._public(bot, apology, holder.chat, holder)
            else:
                await self._private(bot, apology, user, None)
        except Exception:
            log.exception("could not send an apology for a button press")

    async def _hint_anonymous(self, bot: Bot, user: User, chat: Chat, message: Message) -> None:
        """Tell an anonymous admin (posting as the group) to use their own account."""
        sender = message.sender_chat
        if sender is None or sender.id != chat.id or not is_group(chat):
            return  # a bot, or a member posting as a channel: ignored
        t = translator(user.language_code)
        hint = t(
            "You are posting as the group, so I can't tell who you are. Send the command "
            'from your own account (turn off "Remain anonymous" in your admin rights).'
        )
        try:
            await self._public(bot, Reply((Paragraph.of(hint),)), chat, message)
        except TelegramError as exc:
            log.info("could not answer an anonymous admin in chat %s: %s", chat.id, exc)

    def _remember(self, sent: Sequence[Message], origin: Origin) -> None:
        for part in sent:
            if part.reply_markup is not None:
                self._origins.set((part.chat.id, part.message_id), origin)

    async def _is_admin(self, bot: Bot, chat: Chat, user: User) -> bool:
        """Whether `user` is the creator or an administrator of the group `chat`."""
        if not is_group(chat):
            return False
        return await self._is_admin_in(bot, chat.id, user)

    async def _is_admin_in(self, bot: Bot, chat_id: int, user: User) -> bool:
        key = (chat_id, user.id)
        cached = self._admins.get(key)
        if cached is not None:
            return cached
        try:
            member = await bot.get_chat_member(chat_id, user.id)
        except TelegramError as exc:
            log.warning("could not look up admin status in chat %s: %s", chat_id, exc)
            return False  # not cached: the next command asks again
        is_admin = member.status in _ADMIN_STATUSES
        self._admins.set(key, is_admin)
        return is_admin


def _from_person(message: Message, user: User) -> bool:
    """Whether a command was sent by a person we can identify.

    Anonymous admins and members posting as a channel send with `sender_chat`; their
    `from` is a placeholder shared by everyone, so they cannot be told apart.
    """
    if user.is_bot or message.sender_chat is not None:
        log.debug("ignoring a command sent on behalf of a chat or by a bot")
        return False
    return True


def _blocked_in_private(error: BaseException, chat: Chat) -> bool:
    """Log, in one line without traceback, a member who blocked the bot in their chat."""
    if isinstance(error, Forbidden) and chat.type == Chat.PRIVATE:
        log.info("Telegram private chat %s refused a reply: %s", chat.id, error.message)
        return True
    return False


def _closed_line(t: Translator) -> str:
    return t("I can't message you privately yet: open a chat with me, then try again.")
