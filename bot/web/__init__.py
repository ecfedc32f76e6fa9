"""The HTTP side: purchase webhook, click redirect and health check (see docs/webhook.md)."""

from bot.web.app import build_web_app
from bot.web.server import WebServer

__all__ = ["WebServer", "build_web_app"]
