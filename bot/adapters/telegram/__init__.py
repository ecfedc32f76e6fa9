"""Telegram adapter: python-telegram-bot updates into core events, commands, deliveries."""

from bot.adapters.telegram.app import TelegramAdapter
from bot.adapters.telegram.transport import TelegramTransport

__all__ = ["TelegramAdapter", "TelegramTransport"]
