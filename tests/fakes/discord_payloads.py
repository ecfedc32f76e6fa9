"""Builders for Discord gateway dispatch payloads and REST responses, shaped like the real ones.

Field names and nesting follow Discord's API documentation (and discord.py's
`discord/types/*`): what `ConnectionState.parse_*` receives as the `d` of a
gateway dispatch. Ids are real snowflakes, so the creation time of a message is
encoded in its id exactly as on Discord.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from discord.utils import snowflake_time, time_snowflake

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

Payload = dict[str, Any]


def snowflake(minutes: float = 0, seq: int = 0) -> int:
    """A snowflake created `minutes` after T0; `seq` tells apart ids from the same millisecond."""
    return time_snowflake(T0 + timedelta(minutes=minutes)) + seq


def iso(ts: datetime) -> str:
    """A timestamp as Discord writes it."""
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


# The fixed world the tests live in.
GUILD = snowflake(-10_000, 1)
GENERAL = snowflake(-9_000, 1)  # a text channel
ANNOUNCE = snowflake(-9_000, 2)  # another text channel
THREAD = snowflake(-100, 1)  # a public thread in GENERAL
UNCACHED_THREAD = snowflake(-100, 2)  # a thread the client never heard of
ME = snowflake(-20_000, 1)  # the bot itself
ALICE = snowflake(-20_000, 2)
BOB = snowflake(-20_000, 3)
CAROL = snowflake(-20_000, 4)  # joins later
HELPER_BOT = snowflake(-20_000, 5)  # another bot in the guild
WEBHOOK = snowflake(-20_000, 6)
PARTY = snowflake(-20_000, 7)  # a custom emoji
DM_CHANNEL = snowflake(-9_000, 3)


def user(
    user_id: int,
    username: str,
    *,
    global_name: str | None = None,
    bot: bool = False,
) -> Payload:
    """A user object."""
    data: Payload = {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": global_name,
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }
    if bot:
        data["bot"] = True
    return data


def member_fields(*, nick: str | None = None, joined_at: datetime | None = None) -> Payload:
    """The guild-member part of a member object (no `user`)."""
    return {
        "roles": [],
        "nick": nick,
        "avatar": None,
        "premium_since": None,
        "joined_at": iso(joined_at or T0 - timedelta(days=30)),
        "pending": False,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "communication_disabled_until": None,
    }


def member(
    user_payload: Payload, *, nick: str | None = None, joined_at: datetime | None = None
) -> Payload:
    """A guild member object with its user."""
    return {**member_fields(nick=nick, joined_at=joined_at), "user": user_payload}


USERS = {
    ME: user(ME, "cohort", bot=True),
    ALICE: user(ALICE, "alice", global_name="Alice A."),
    BOB: user(BOB, "bob"),
    CAROL: user(CAROL, "carol", global_name="Carol"),
    HELPER_BOT: user(HELPER_BOT, "helper", bot=True),
}
NICKS = {ALICE: "ally"}


def text_channel(channel_id: int, name: str, *, position: int = 0) -> Payload:
    """A guild text channel as listed in GUILD_CREATE."""
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(GUILD),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "default_auto_archive_duration": 1440,
        "flags": 0,
    }


def thread(
    thread_id: int,
    parent_id: int,
    name: str,
    *,
    owner_id: int = ALICE,
    newly_created: bool | None = None,
) -> Payload:
    """A public thread (type 11), as in GUILD_CREATE `threads` or THREAD_CREATE."""
    data: Payload = {
        "id": str(thread_id),
        "type": 11,
        "guild_id": str(GUILD),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "applied_tags": [],
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": iso(T0 - timedelta(hours=1)),
            "locked": False,
            "create_timestamp": iso(T0 - timedelta(hours=1)),
        },
    }
    if newly_created is not None:
        data["newly_created"] = newly_created
    return data


def guild_create(*, threads: list[Payload] | None = None) -> Payload:
    """GUILD_CREATE for the test guild: two channels, ME/ALICE/BOB/HELPER_BOT, one emoji.

    `member_count` equals the members sent, so discord.py considers the guild chunked
    and never asks the gateway for more members.
    """
    members = [member(USERS[uid], nick=NICKS.get(uid)) for uid in (ME, ALICE, BOB, HELPER_BOT)]
    return {
        "id": str(GUILD),
        "name": "Rustaceans",
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(ALICE),
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "mfa_level": 0,
        "nsfw_level": 0,
        "application_id": None,
        "system_channel_id": str(GENERAL),
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "features": [],
        "max_members": 500000,
        "max_video_channel_users": 25,
        "incidents_data": None,
        "roles": [
            {
                "id": str(GUILD),
                "name": "@everyone",
                "color": 0,
                "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
                "hoist": False,
                "icon": None,
                "unicode_emoji": None,
                "position": 0,
                "permissions": "1071698660929",
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "emojis": [
            {
                "id": str(PARTY),
                "name": "party_blob",
                "roles": [],
                "require_colons": True,
                "managed": False,
                "animated": False,
                "available": True,
            }
        ],
        "stickers": [],
        "soundboard_sounds": [],
        "joined_at": iso(T0 - timedelta(days=60)),
        "large": False,
        "unavailable": False,
        "member_count": len(members),
        "voice_states": [],
        "members": members,
        "channels": [
            text_channel(GENERAL, "general", position=0),
            text_channel(ANNOUNCE, "announcements", position=1),
        ],
        "threads": threads or [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "embedded_activities": [],
        "lazy": True,
    }


def message(
    message_id: int,
    *,
    author: int | Payload = ALICE,
    content: str = "hello",
    channel_id: int = GENERAL,
    guild: bool = True,
    type_: int = 0,
    mentions: list[int] | None = None,
    reply_to: Payload | None = None,
    webhook_id: int | None = None,
    edited_at: datetime | None = None,
) -> Payload:
    """A MESSAGE_CREATE (or full MESSAGE_UPDATE) payload.

    `author` is a user id from USERS or a user payload; `reply_to` is the
    referenced message's payload (makes this a reply, type 19).
    """
    author_payload = USERS[author] if isinstance(author, int) else author
    author_id = int(author_payload["id"])
    data: Payload = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "type": type_,
        "content": content,
        "author": author_payload,
        "timestamp": iso(snowflake_time(message_id)),
        "edited_timestamp": iso(edited_at) if edited_at else None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "flags": 0,
        "components": [],
        "nonce": str(message_id),
    }
    if guild:
        data["guild_id"] = str(GUILD)
        if webhook_id is None:
            data["member"] = member_fields(nick=NICKS.get(author_id))
        data["mentions"] = [
            {**USERS[uid], "member": member_fields(nick=NICKS.get(uid))} for uid in mentions or []
        ]
    else:
        data["mentions"] = [USERS[uid] for uid in mentions or []]
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
    if reply_to is not None:
        data["type"] = 19
        data["message_reference"] = {
            "type": 0,
            "message_id": reply_to["id"],
            "channel_id": reply_to["channel_id"],
            "guild_id": str(GUILD),
        }
        data["referenced_message"] = reply_to
    return data


def webhook_author(name: str = "Captain Hook") -> Payload:
    """The pseudo-user a webhook message is authored by (no `bot` flag)."""
    return {
        "id": str(WEBHOOK),
        "username": name,
        "discriminator": "0000",
        "avatar": None,
        "global_name": None,
    }


def message_delete(message_id: int, *, channel_id: int = GENERAL) -> Payload:
    """MESSAGE_DELETE."""
    return {"id": str(message_id), "channel_id": str(channel_id), "guild_id": str(GUILD)}


def message_delete_bulk(message_ids: list[int], *, channel_id: int = GENERAL) -> Payload:
    """MESSAGE_DELETE_BULK."""
    return {
        "ids": [str(i) for i in message_ids],
        "channel_id": str(channel_id),
        "guild_id": str(GUILD),
    }


def unicode_emoji(char: str) -> Payload:
    """A partial emoji for a Unicode emoji."""
    return {"id": None, "name": char}


def guild_emoji(emoji_id: int = PARTY, name: str = "party_blob") -> Payload:
    """A partial emoji for a guild's custom emoji."""
    return {"id": str(emoji_id), "name": name, "animated": False}


def reaction_add(
    message_id: int,
    *,
    user_id: int = BOB,
    emoji: Payload | None = None,
    channel_id: int = GENERAL,
    message_author_id: int = ALICE,
) -> Payload:
    """MESSAGE_REACTION_ADD (guild: with the reacting member)."""
    return {
        "user_id": str(user_id),
        "channel_id": str(channel_id),
        "message_id": str(message_id),
        "guild_id": str(GUILD),
        "member": member(USERS[user_id], nick=NICKS.get(user_id)),
        "emoji": emoji or unicode_emoji("👍"),
        "message_author_id": str(message_author_id),
        "burst": False,
        "burst_colors": [],
        "type": 0,
    }


def reaction_remove(
    message_id: int,
    *,
    user_id: int = BOB,
    emoji: Payload | None = None,
    channel_id: int = GENERAL,
) -> Payload:
    """MESSAGE_REACTION_REMOVE (no member object on removes)."""
    return {
        "user_id": str(user_id),
        "channel_id": str(channel_id),
        "message_id": str(message_id),
        "guild_id": str(GUILD),
        "emoji": emoji or unicode_emoji("👍"),
        "burst": False,
        "type": 0,
    }


def member_add(user_payload: Payload, *, joined_at: datetime) -> Payload:
    """GUILD_MEMBER_ADD."""
    return {**member(user_payload, joined_at=joined_at), "guild_id": str(GUILD)}


def member_remove(user_payload: Payload) -> Payload:
    """GUILD_MEMBER_REMOVE."""
    return {"guild_id": str(GUILD), "user": user_payload}


def users_me() -> Payload:
    """REST GET /users/@me for the bot."""
    return {**USERS[ME], "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"}


def application() -> Payload:
    """REST GET /oauth2/applications/@me for the bot's application."""
    return {
        "id": str(ME),
        "name": "Cohort",
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "bot_public": False,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": 0,
        "owner": USERS[ALICE],
        "team": None,
        "bot": USERS[ME],
        "hook": True,
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "tags": [],
    }
