"""Bot API payloads for the Telegram adapter tests, in the shapes Telegram sends them.

Builders return plain dicts (what `getUpdates` returns as JSON); tests turn them
into real PTB objects with `Update.de_json(payload, bot)`. Like PTB's own
`make_command_update`, every builder has realistic defaults and takes overrides.
`tests.fakes.telegram.FakeTelegram` stands in for Telegram's servers.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

TOKEN = "7012345678:AAH3xKq9vZ_fake-token-for-tests-only0"
BOT_ID = 7012345678
GROUP_ID = -1001234567890
GROUP_TITLE = "Rustaceans"
DATE = 1714557600  # 2024-05-01 10:00:00 UTC
DATE_DT = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

_update_ids = itertools.count(500_000_001)

BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Cohort",
    "username": "cohort_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": True,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}


def user(
    user_id: int = 111111111,
    first_name: str = "Alice",
    last_name: str | None = "Liddell",
    username: str | None = "alice",
    *,
    is_bot: bool = False,
) -> dict[str, Any]:
    """A `User` object as Telegram embeds it in updates."""
    payload: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    if last_name is not None:
        payload["last_name"] = last_name
    if username is not None:
        payload["username"] = username
    if not is_bot:
        payload["language_code"] = "en"
    return payload


ALICE = user()
BOB = user(222222222, "Bob", None, "bobby")
CAROL = user(333333333, "Carol", "Danvers", None)
HELPER_BOT = user(444444444, "Helper", None, "helper_bot", is_bot=True)
# What Telegram puts in `from` for posts made on behalf of a chat.
TELEGRAM_SERVICE = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}


def supergroup(
    chat_id: int = GROUP_ID, title: str = GROUP_TITLE, *, is_forum: bool = False
) -> dict[str, Any]:
    """A supergroup `Chat` (forums are supergroups with `is_forum`)."""
    chat: dict[str, Any] = {"id": chat_id, "title": title, "type": "supergroup"}
    if is_forum:
        chat["is_forum"] = True
    return chat


def basic_group(chat_id: int = -4012345678, title: str = "Book club") -> dict[str, Any]:
    """A basic (non-super) group `Chat`."""
    return {"id": chat_id, "title": title, "type": "group", "all_members_are_administrators": True}


def private_chat(who: dict[str, Any] = ALICE) -> dict[str, Any]:
    """The private chat between `who` and the bot."""
    chat = {"id": who["id"], "first_name": who["first_name"], "type": "private"}
    for key in ("last_name", "username"):
        if key in who:
            chat[key] = who[key]
    return chat


def channel(chat_id: int = -1009876543210, title: str = "Rust News") -> dict[str, Any]:
    """A channel `Chat`."""
    return {"id": chat_id, "title": title, "type": "channel", "username": "rustnews"}


def message(
    text: str | None = "I love rust and asyncio",
    *,
    message_id: int = 101,
    sender: dict[str, Any] = ALICE,
    chat: dict[str, Any] | None = None,
    date: int = DATE,
    **fields: Any,
) -> dict[str, Any]:
    """A `Message`; pass `text=None` and other fields for media or service messages."""
    payload: dict[str, Any] = {
        "message_id": message_id,
        "from": sender,
        "chat": supergroup() if chat is None else chat,
        "date": date,
    }
    if text is not None:
        payload["text"] = text
    payload.update(fields)
    return payload


def photo_message(caption: str, **fields: Any) -> dict[str, Any]:
    """A photo with a caption."""
    sizes = [
        {"file_id": "AgACAgQAAxkBAAIBsmY", "file_unique_id": "AQADs", "file_size": 1432,
         "width": 90, "height": 60},
        {"file_id": "AgACAgQAAxkBAAIBsmZ", "file_unique_id": "AQADt", "file_size": 48211,
         "width": 800, "height": 533},
    ]  # fmt: skip
    return message(None, photo=sizes, caption=caption, **fields)


def topic_root(thread_id: int, *, chat: dict[str, Any], name: str = "Help") -> dict[str, Any]:
    """The `forum_topic_created` service message that opens a forum topic."""
    return message(
        None,
        message_id=thread_id,
        chat=chat,
        date=DATE - 3600,
        message_thread_id=thread_id,
        forum_topic_created={"name": name, "icon_color": 7322096},
        is_topic_message=True,
    )


def topic_message(
    text: str,
    *,
    thread_id: int = 55,
    message_id: int = 57,
    reply_to: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A message in a forum topic; without `reply_to` it "replies" to the topic root."""
    chat = supergroup(is_forum=True)
    return message(
        text,
        message_id=message_id,
        chat=chat,
        message_thread_id=thread_id,
        is_topic_message=True,
        reply_to_message=topic_root(thread_id, chat=chat) if reply_to is None else reply_to,
        **fields,
    )


def text_mention(offset: int, length: int, who: dict[str, Any]) -> dict[str, Any]:
    """A `text_mention` entity (a mention of a user without a username)."""
    return {"offset": offset, "length": length, "type": "text_mention", "user": who}


def emoji(value: str) -> dict[str, Any]:
    """A `ReactionTypeEmoji`."""
    return {"type": "emoji", "emoji": value}


def custom(custom_emoji_id: str) -> dict[str, Any]:
    """A `ReactionTypeCustomEmoji`."""
    return {"type": "custom_emoji", "custom_emoji_id": custom_emoji_id}


PAID = {"type": "paid"}


def reaction(
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    *,
    who: dict[str, Any] | None = BOB,
    message_id: int = 101,
    chat: dict[str, Any] | None = None,
    date: int = DATE + 60,
    **fields: Any,
) -> dict[str, Any]:
    """A `MessageReactionUpdated`; `who=None` with `actor_chat` is an anonymous admin."""
    payload: dict[str, Any] = {
        "chat": supergroup() if chat is None else chat,
        "message_id": message_id,
        "date": date,
        "old_reaction": old,
        "new_reaction": new,
    }
    if who is not None:
        payload["user"] = who
    payload.update(fields)
    return payload


def reaction_count(
    counts: list[tuple[dict[str, Any], int]],
    *,
    message_id: int = 202,
    chat: dict[str, Any] | None = None,
    date: int = DATE + 120,
) -> dict[str, Any]:
    """A `MessageReactionCountUpdated` with the current total per reaction type."""
    return {
        "chat": supergroup() if chat is None else chat,
        "message_id": message_id,
        "date": date,
        "reactions": [{"type": kind, "total_count": n} for kind, n in counts],
    }


_RESTRICTED_RIGHTS = {
    "can_send_messages": False,
    "can_send_audios": False,
    "can_send_documents": False,
    "can_send_photos": False,
    "can_send_videos": False,
    "can_send_video_notes": False,
    "can_send_voice_notes": False,
    "can_send_polls": False,
    "can_send_other_messages": False,
    "can_add_web_page_previews": False,
    "can_change_info": False,
    "can_invite_users": False,
    "can_pin_messages": False,
    "can_manage_topics": False,
    "can_edit_tag": False,
    "can_react_to_messages": True,
    "until_date": 0,
}

_ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_pin_messages": True,
    "can_manage_topics": False,
}


def chat_member(
    status: str, who: dict[str, Any] = CAROL, *, is_member: bool = True
) -> dict[str, Any]:
    """A `ChatMember` with `status`; `restricted` takes `is_member`."""
    payload: dict[str, Any] = {"user": who, "status": status}
    if status == "kicked":
        payload["until_date"] = 0
    elif status == "restricted":
        payload.update(_RESTRICTED_RIGHTS, is_member=is_member)
    elif status == "administrator":
        payload.update(_ADMIN_RIGHTS)
    elif status == "creator":
        payload.update(is_anonymous=False)
    return payload


def member_update(
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    actor: dict[str, Any] | None = None,
    chat: dict[str, Any] | None = None,
    date: int = DATE + 300,
    **fields: Any,
) -> dict[str, Any]:
    """A `ChatMemberUpdated`; the actor defaults to the member (joined or left themselves)."""
    payload: dict[str, Any] = {
        "chat": supergroup() if chat is None else chat,
        "from": new["user"] if actor is None else actor,
        "date": date,
        "old_chat_member": old,
        "new_chat_member": new,
    }
    payload.update(fields)
    return payload


def new_members_message(
    members: list[dict[str, Any]], *, adder: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """The service message for members joining (or being added by `adder`)."""
    return message(
        None,
        sender=members[0] if adder is None else adder,
        new_chat_participant=members[0],
        new_chat_member=members[0],
        new_chat_members=members,
        **fields,
    )


def left_member_message(
    who: dict[str, Any], *, remover: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """The service message for a member leaving (or being removed by `remover`)."""
    return message(
        None,
        sender=who if remover is None else remover,
        left_chat_participant=who,
        left_chat_member=who,
        **fields,
    )


# -- commands and button presses ----------------------------------------------------------


def command(
    text: str,
    *,
    sender: dict[str, Any] = ALICE,
    chat: dict[str, Any] | None = None,
    message_id: int = 301,
    **fields: Any,
) -> dict[str, Any]:
    """A message starting with a command, with the `bot_command` entity Telegram adds."""
    name = text.split()[0]
    entities = [{"offset": 0, "length": len(name), "type": "bot_command"}]
    return message(
        text, message_id=message_id, sender=sender, chat=chat, entities=entities, **fields
    )


def private_command(text: str, who: dict[str, Any] = ALICE, **fields: Any) -> dict[str, Any]:
    """A command sent in `who`'s private chat with the bot."""
    return command(text, sender=who, chat=private_chat(who), **fields)


def speaking(user: dict[str, Any], language_code: str) -> dict[str, Any]:
    """`user` with another client language."""
    return {**user, "language_code": language_code}


_query_ids = itertools.count(4382000000000000001)


def callback_query(
    data: str,
    *,
    who: dict[str, Any] = ALICE,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A button press on `message` (a message the bot sent, with its keyboard)."""
    return {
        "id": str(next(_query_ids)),
        "from": who,
        "message": message if message is not None else bot_message(who),
        "chat_instance": "-8754322345091238312",
        "data": data,
    }


def bot_message(
    who: dict[str, Any] = ALICE,
    *,
    message_id: int = 9001,
    text: str = "Courses",
    reply_markup: dict[str, Any] | None = None,
    chat: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message the bot sent (by default in `who`'s private chat)."""
    payload: dict[str, Any] = {
        "message_id": message_id,
        "from": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
        "chat": private_chat(who) if chat is None else chat,
        "date": DATE + 5,
        "text": text,
    }
    if reply_markup is not None:
        payload["reply_markup"] = reply_markup
    return payload


def update(**kind: dict[str, Any]) -> dict[str, Any]:
    """An `Update` carrying one payload, e.g. `update(message=message("hi"))`."""
    [(field, payload)] = kind.items()
    return {"update_id": next(_update_ids), field: payload}
