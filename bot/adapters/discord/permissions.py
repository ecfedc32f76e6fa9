"""What the bot may do in a Discord channel, read from discord.py's cache.

Before a promotion is queued for a channel, `missing_to_post` names the
permissions the bot lacks there (so the moderator is told now, not after Discord
refuses the post with 50013 "Missing Permissions").
"""

from __future__ import annotations

import discord

# (attribute of discord.Permissions, name in Discord's settings), for a channel post
# with an embed and buttons.
TO_POST = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
)


def missing_to_post(client: discord.Client, guild_id: str, channel_id: str) -> list[str]:
    """Names of the permissions the bot lacks to post in the channel; [] if unknown.

    An uncached guild or channel is not refused here: Discord's answer to the post
    will say (and the campaign's outcome reports it).
    """
    if not (guild_id.isdigit() and channel_id.isdigit()):
        return []
    guild = client.get_guild(int(guild_id))
    if guild is None:
        return []
    channel = guild.get_channel_or_thread(int(channel_id))
    me: discord.Member | None = guild.me
    if channel is None or me is None:
        return []
    permissions = channel.permissions_for(me)
    wanted = list(TO_POST)
    if isinstance(channel, discord.Thread):
        wanted[1] = ("send_messages_in_threads", "Send Messages in Threads")
    return [name for attribute, name in wanted if not getattr(permissions, attribute)]
