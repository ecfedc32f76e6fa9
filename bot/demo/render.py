"""Show a `Reply` in the terminal exactly as the Discord and Telegram adapters send it.

The adapters' own renderers (`bot.adapters.discord.render`, `bot.adapters.telegram.
render`) turn the reply into the platform's messages; this module draws those
messages: the Discord Markdown content through rich's Markdown, the Telegram HTML
(only `<b>`, `<i>`, `<code>` and `<a>`) as styled text, and the buttons underneath.
discord.py and python-telegram-bot are imported on first use, not at CLI start-up.
"""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.text import Text

from bot.domain.replies import Reply

log = logging.getLogger(__name__)

_SINGLE_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")
_TELEGRAM_STYLES = {"b": "bold", "i": "italic", "code": "bold cyan", "a": "underline blue"}


def _chip(label: str, *, url: bool, primary: bool) -> Text:
    """One button as `[ label ]` (`↗` for a link)."""
    style = "bold white on blue" if primary else "black on grey70"
    return Text(f" {label}{' ↗' if url else ''} ", style=style)


def _button_rows(rows: list[list[Text]]) -> list[Text]:
    return [Text("  ").join(row) for row in rows if row]


def _discord_breaks(content: str) -> str:
    """Discord breaks the line at every newline; CommonMark needs a hard break for that."""
    return _SINGLE_NEWLINE.sub("  \n", content)


def discord_view(reply: Reply, title: str) -> Panel:
    """The reply as the Discord adapter renders it: Markdown content and button rows."""
    import discord

    from bot.adapters.discord import render

    parts: list[RenderableType] = []
    for message in render.render(reply):
        if message.content:
            parts.append(Markdown(_discord_breaks(message.content)))
        if message.view is not None:
            rows: dict[int, list[Text]] = {}
            for child in message.view.children:
                item = child.item if isinstance(child, discord.ui.DynamicItem) else child
                if isinstance(item, discord.ui.Button):
                    rows.setdefault(child.row or 0, []).append(
                        _chip(
                            item.label or "",
                            url=item.url is not None,
                            primary=item.style is discord.ButtonStyle.primary,
                        )
                    )
            parts.append(Text())
            parts.extend(_button_rows([rows[key] for key in sorted(rows)]))
    ephemeral = " · only you can see this" if reply.private else ""
    return Panel(Group(*parts), title=f"Discord{ephemeral}: {title}", title_align="left")


class _TelegramHtml(HTMLParser):
    """Telegram's HTML subset to styled text (the adapter writes only these tags)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = Text()
        self._styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._styles.append(_TELEGRAM_STYLES.get(tag, ""))

    def handle_endtag(self, tag: str) -> None:
        if self._styles:
            self._styles.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data, style=" ".join(s for s in self._styles if s) or None)


def telegram_html(html: str) -> Text:
    """Text in Telegram's HTML parse mode as rich text."""
    parser = _TelegramHtml()
    parser.feed(html)
    parser.close()
    return parser.text


def telegram_view(reply: Reply, title: str) -> Panel:
    """The reply as the Telegram adapter renders it: HTML text and the inline keyboard."""
    from bot.adapters.telegram import render

    parts: list[RenderableType] = []
    for message in render.render(reply):
        if message.text:
            parts.append(telegram_html(message.text))
        if message.reply_markup is not None:
            rows = [
                [_chip(button.text, url=button.url is not None, primary=False) for button in row]
                for row in message.reply_markup.inline_keyboard
            ]
            parts.append(Text())
            parts.extend(_button_rows(rows))
    where = " · in the private chat with the bot" if reply.private else ""
    return Panel(Group(*parts), title=f"Telegram{where}: {title}", title_align="left")
