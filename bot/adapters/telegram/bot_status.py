"""`my_chat_member`: the bot added to a group, removed from it, or its rights changed.

Each change is logged (the chat id and the new status). When the bot joins a group,
or loses rights there, and what it may do is not what Cohort needs, the group gets
one message naming the missing rights, in the language of the admin who made the
change:

* not an administrator: Telegram only sends reactions and member updates to admins;
* not an administrator and privacy mode on (BotFather `/setprivacy`): the bot only
  sees commands and replies, not the conversation.

A bot that may not send messages says nothing (it cannot); the log says why.
"""

from __future__ import annotations

import logging

from telegram import ChatMember, ChatMemberAdministrator, ChatMemberRestricted, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.adapters.telegram.translate import is_group, is_member
from bot.i18n import Translator, translator

log = logging.getLogger(__name__)


def missing_rights(member: ChatMember, *, reads_all: bool, t: Translator) -> list[str]:
    """What the bot lacks in a group, one translated line each (empty: nothing)."""
    if isinstance(member, ChatMemberAdministrator) or member.status == ChatMember.OWNER:
        return []
    missing = [t("Administrator rights: Telegram only sends reactions and member joins to admins.")]
    if not reads_all:
        missing.append(
            t(
                "Privacy mode is on, so I only see commands: make me an admin, or turn it off "
                "with /setprivacy in @BotFather."
            )
        )
    return missing


def may_send(member: ChatMember) -> bool:
    """Whether the bot may post in the group."""
    if isinstance(member, ChatMemberRestricted):
        return member.can_send_messages
    return is_member(member)


async def on_my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the bot's new status in a group; tell the admins which rights are missing."""
    change = update.my_chat_member
    if change is None or not is_group(change.chat):
        return
    chat, old, new = change.chat, change.old_chat_member, change.new_chat_member
    if not is_member(new):
        log.info("Cohort was removed from Telegram group %s (%s)", chat.id, new.status)
        return
    joined = not is_member(old)
    demoted = isinstance(old, ChatMemberAdministrator) and not isinstance(
        new, ChatMemberAdministrator
    )
    log.info(
        "Cohort is %s in Telegram group %s%s", new.status, chat.id, " (added)" if joined else ""
    )
    if not (joined or demoted):
        return
    t = translator(change.from_user.language_code)
    reads_all = bool(context.bot.bot.can_read_all_group_messages)
    missing = missing_rights(new, reads_all=reads_all, t=t)
    if not missing:
        return
    if not may_send(new):
        log.warning("Telegram group %s: Cohort may not post; rights missing: %s", chat.id, missing)
        return
    text = "\n".join([t("To work here, Cohort needs:"), *(f"• {line}" for line in missing)])
    try:
        await context.bot.send_message(chat.id, text)
    except TelegramError as exc:
        log.warning("could not tell Telegram group %s about missing rights: %s", chat.id, exc)
