"""Discord adapter: a discord.py client whose handlers translate gateway events into core events.

With `commands`, the adapter also serves Cohort's slash commands and buttons
(`bot.adapters.discord.commands`); `DiscordTransport` sends outbox deliveries.
"""

from bot.adapters.discord.client import CohortDiscordClient, DiscordAdapter, cohort_intents
from bot.adapters.discord.transport import DiscordTransport

__all__ = ["CohortDiscordClient", "DiscordAdapter", "DiscordTransport", "cohort_intents"]
