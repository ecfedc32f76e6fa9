"""Cohort's buttons on Discord as a discord.py `DynamicItem`, routed by their `custom_id`.

Every button a service puts on a reply carries an action id, `<prefix>:<argument>`
(`in:<token>`, `optin:<guild>`, `pg:courses:2`, `pr:<draft>`, `rp:`, ...), and the
renderer sends it as the button's `custom_id`. `CohortButton` is registered with the
client (`Client.add_dynamic_items`), so discord.py itself matches the `custom_id` of
every pressed button against `TEMPLATE`, on any message, including ones sent before a
restart, and calls `CohortButton.callback`. Nothing is kept per sent message: the
action id is the whole state.

The callback hands the press to the client's button handler (the command layer,
`DiscordCommands.on_button`, set as the client's `interactions`); a client that only
listens has none and ignores presses. Which prefixes mean something is for
`bot.core.commands.Commands.press` to decide: an unknown one is answered with "That
button has expired.", so the template accepts every action id, old ones included.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final, Protocol

import discord

log = logging.getLogger(__name__)

# `<prefix>[:<argument>]`: the format of every action id Cohort puts on a button. It
# matches any custom id: every button on Cohort's messages is Cohort's, and
# `Commands.press` answers one it no longer knows.
TEMPLATE: Final = re.compile(r"(?P<prefix>[^:]+)(?::(?P<argument>.*))?", re.DOTALL)

Interaction = discord.Interaction[Any]


class ButtonHandler(Protocol):
    """What answers a button press: the command layer."""

    async def on_button(self, interaction: Interaction, action: str, /) -> None:
        """Answer the press of the button whose action id is `action`; never raises."""
        ...


def handler_of(client: discord.Client) -> ButtonHandler | None:
    """The button handler of a Cohort client (its `interactions`), if it has one."""
    handler: ButtonHandler | None = getattr(client, "interactions", None)
    return handler


class CohortButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """A button whose `custom_id` is a Cohort action id; a press goes to the button handler."""

    def __init__(self, button: discord.ui.Button[Any]) -> None:
        super().__init__(button)

    @property
    def action(self) -> str:
        """The action id the button carries (its `custom_id`)."""
        return self.custom_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CohortButton:
        """The pressed button, rebuilt by discord.py from the message's components."""
        if not isinstance(item, discord.ui.Button):
            raise TypeError(f"a Cohort action id on a {type(item).__name__}, not a button")
        return cls(item)

    async def callback(self, interaction: Interaction) -> None:
        """Hand the press to the client's button handler (none: the bot only listens)."""
        handler = handler_of(interaction.client)
        if handler is None:
            log.debug("button %s pressed on a client without commands", self.action)
            return
        await handler.on_button(interaction, self.action)


def button(
    label: str, action: str, style: discord.ButtonStyle, row: int | None = None
) -> CohortButton:
    """A button that sends `action` when pressed."""
    return CohortButton(discord.ui.Button(label=label, custom_id=action, style=style, row=row))
