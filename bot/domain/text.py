"""Text clean-up applied before message text is stored.

Discord writes mentions as markup holding platform ids (`<@1234>`); stored text
must not carry other people's ids (erasure looks ids up, and a mention of someone
who never consented must not identify them), so the markup is replaced by a
neutral placeholder. Who was mentioned is kept separately, and only for members
the consent gate lets through.
"""

from __future__ import annotations

import re

_USER = re.compile(r"<@!?\d+>")
_ROLE = re.compile(r"<@&\d+>")
_CHANNEL = re.compile(r"<#\d+>")
_CUSTOM_EMOJI = re.compile(r"<a?:(\w+):\d+>")


def scrub_platform_markup(text: str) -> str:
    """Replace Discord user/role/channel mention markup and custom-emoji ids."""
    if "<" not in text:
        return text
    text = _USER.sub("@user", text)
    text = _ROLE.sub("@role", text)
    text = _CHANNEL.sub("#channel", text)
    return _CUSTOM_EMOJI.sub(r":\1:", text)


def custom_emoji(name: str | None, emoji_id: str | int) -> str:
    """The canonical string for a platform's custom emoji: `name:id`."""
    return f"{name or 'emoji'}:{emoji_id}"
