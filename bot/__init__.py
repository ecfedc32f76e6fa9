"""Cohort: a community bot for Discord and Telegram that recommends courses."""

__version__ = "0.1.0"
