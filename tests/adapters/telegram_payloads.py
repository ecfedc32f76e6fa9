"""Bot API payloads for the Telegram adapter tests, in the shapes Telegram sends them.

Builders return plain dicts (what `getUpdates` returns as JSON); tests turn them
into real PTB objects with `Update.de_json(payload, bot)`. Like PTB's own
`make_command_update`, every builder has realistic defaults and takes overrides.
`FakeBotApi` is the only fake: it stands in for Telegram's servers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from telegram.request import BaseRequest, RequestData

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


def update(**kind: dict[str, Any]) -> dict[str, Any]:
    """An `Update` carrying one payload, e.g. `update(message=message("hi"))`."""
    [(field, payload)] = kind.items()
    return {"update_id": next(_update_ids), field: payload}


class FakeBotApi(BaseRequest):
    """The network edge: answers `getMe` like Telegram and fails the test on anything else.

    `token_rejected` answers `getMe` with Telegram's 401; `polling` also answers
    `deleteWebhook` and (after a short wait, like an empty long poll) `getUpdates`.
    Every call is recorded as (method, parameters).
    """

    def __init__(self, *, token_rejected: bool = False, polling: bool = False) -> None:
        self.token_rejected = token_rejected
        self.polling = polling
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float:
        return 1.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        self.calls.append((endpoint, request_data.parameters if request_data else {}))
        if endpoint == "getMe":
            if self.token_rejected:
                return 401, _json({"ok": False, "error_code": 401, "description": "Unauthorized"})
            return 200, _json({"ok": True, "result": BOT_USER})
        if self.polling and endpoint == "deleteWebhook":
            return 200, _json({"ok": True, "result": True})
        if self.polling and endpoint == "getUpdates":
            await asyncio.sleep(0.01)
            return 200, _json({"ok": True, "result": []})
        pytest.fail(f"unexpected Bot API call: {endpoint}")


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
