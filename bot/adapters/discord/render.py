r"""Render a neutral `Reply` as Discord messages: Markdown content, buttons and a file.

Every piece of text in a `Reply` is data, so it is escaped here:

- Markdown: every character Discord's parser gives a meaning to (``\ * _ ~ | ` [ ] < >
  # - +`` and a `.` after a digit, which would start a numbered list) is escaped with
  a backslash, which Discord accepts before any punctuation. `discord.utils.
  escape_markdown` is not enough: it leaves whatever sits inside a `[..](..)` pattern
  unescaped (`[**x**](y)` keeps its bold). Bare `http(s)://` URLs inside text are left
  as they are, like `escape_markdown(ignore_links=True)`, so they stay clickable:
  Discord's autolink consumes them whole, so their characters cannot open formatting.
- Mentions: a zero-width space follows every `<` of user text and the `@` of
  `@everyone`/`@here`, so `<@123>`, `<@&123>`, `<#1>`, `</cmd:1>`, `<t:1>` and the
  mass mentions stay inert even if `allowed_mentions` (always `none()`) were ignored,
  inside code spans too (where a backslash escapes nothing): who gets pinged is read
  from the raw content, not from the rendered Markdown.

Styles become `**bold**`, `*italic*` and `` `code` `` (a backtick inside code cannot be
escaped in Discord; runs of backticks are broken with a zero-width space and the span
is fenced with double backticks). Links become `[label](<url>)` (the angle brackets
suppress the embed). A list is `- ` or `1. ` lines; the title is a bold first line.

Discord counts the 2000-character limit in characters; this module measures UTF-16
code units, which is never less, so a message that fits here fits there. Content is
split between blocks and list items; a single block too long for one message is split
inside a span, each piece escaped and styled on its own, so no escape sequence or
Markdown pair is ever cut. Buttons (5 per row, 5 rows per message) and the image go
with the last chunk; more buttons go to further messages without text. An action
button is a `buttons.CohortButton` (a `DynamicItem`) whose `custom_id` is the action
id, so a press is routed by discord.py from the id alone.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import discord

from bot.adapters import packing
from bot.adapters.discord import buttons
from bot.domain.replies import (
    Button,
    ButtonStyle,
    Image,
    Link,
    Reply,
    Span,
    Style,
)

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
BUTTONS_PER_ROW = 5
ROWS_PER_MESSAGE = 5
LABEL_LIMIT = 80
DESCRIPTION_LIMIT = 1024

ZWSP = "\u200b"
_URL = re.compile(r"https?://[^\s<]+[^<.,:;\"')\]\s]")
_SPECIAL = re.compile(r"[\\*_~|`\[\]<>#+\-]|(?<=\d)\.")
_MASS_MENTION = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_BACKTICK_RUN = re.compile(r"`(?=`)")

_BUTTON_STYLES = {
    ButtonStyle.PRIMARY: discord.ButtonStyle.primary,
    ButtonStyle.SECONDARY: discord.ButtonStyle.secondary,
    ButtonStyle.DANGER: discord.ButtonStyle.danger,
}


@dataclass(slots=True)
class DiscordMessage:
    """One Discord message: what `Messageable.send` / `InteractionResponse.send_message` need.

    `content` may be empty for a message that only carries buttons or the image.
    """

    content: str
    view: discord.ui.View | None = None
    file: discord.File | None = None
    allowed_mentions: discord.AllowedMentions = field(default_factory=discord.AllowedMentions.none)
    ephemeral: bool = False

    def send_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `Messageable.send` (channels and DMs have no ephemeral)."""
        kwargs: dict[str, Any] = {"allowed_mentions": self.allowed_mentions}
        if self.content:
            kwargs["content"] = self.content
        if self.view is not None:
            kwargs["view"] = self.view
        if self.file is not None:
            kwargs["file"] = self.file
        return kwargs

    def response_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `InteractionResponse.send_message` or a followup."""
        return {**self.send_kwargs(), "ephemeral": self.ephemeral}


def length(text: str) -> int:
    """The length Discord's limits are checked against (UTF-16 code units, conservative)."""
    return packing.utf16_length(text)


# --- text -------------------------------------------------------------------------


def _escape_plain(text: str) -> str:
    escaped = _SPECIAL.sub(lambda match: "\\" + match.group(), text)
    return escaped.replace("<", "<" + ZWSP)


def escape(text: str, *, keep_urls: bool = True) -> str:
    """User text as inert Discord Markdown (bare URLs kept clickable unless told not to)."""
    if not keep_urls:
        return _escape_plain(text)
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        parts.append(_escape_plain(text[position : match.start()]))
        parts.append(match.group())
        position = match.end()
    parts.append(_escape_plain(text[position:]))
    return "".join(parts)


def neutralize_mentions(text: str) -> str:
    """`@everyone`/`@here` broken with a zero-width space (after all spans are joined)."""
    return _MASS_MENTION.sub("@" + ZWSP, text)


def _safe_url(url: str) -> str:
    # Percent-encode what could end `<url>` or the Markdown link, keep what URLs need.
    encoded = quote(url, safe=":/?#[]@!$&'()*+,;=%~")
    return re.sub(r"@(?=everyone|here)", "%40", encoded, flags=re.IGNORECASE)


def _code(text: str) -> str:
    body = _BACKTICK_RUN.sub("`" + ZWSP, text).replace("<", "<" + ZWSP)
    if "`" not in body:
        return f"`{body}`"
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"``{pad}{body}{pad}``"


def _wrapped(text: str, marker: str) -> str:
    # Discord needs the markers next to non-space characters: keep spaces outside.
    core = text.strip()
    if not core:
        return escape(text)
    start = len(text) - len(text.lstrip())
    lead, trail = text[:start], text[start + len(core) :]
    return f"{escape(lead)}{marker}{escape(core)}{marker}{escape(trail)}"


def render_span(span: Span) -> str:
    """One span as Discord Markdown."""
    if isinstance(span, Link):
        url = _safe_url(span.url)
        label = " ".join(span.label.split())
        if not label:
            return f"<{url}>"
        return f"[{escape(label, keep_urls=False)}](<{url}>)"
    if span.style is Style.BOLD:
        return _wrapped(span.text, "**")
    if span.style is Style.ITALIC:
        return _wrapped(span.text, "*")
    if span.style is Style.CODE and span.text.strip():
        return _code(span.text)
    return escape(span.text)


def render_spans(spans: Sequence[Span], prefix: str = "") -> str:
    """A paragraph's spans as one Markdown string, after `prefix` (a list marker)."""
    parts = [prefix]
    for span in spans:
        rendered = render_span(span)
        if parts[-1].endswith(("*", "`")) and rendered.startswith(("*", "`")):
            parts.append(ZWSP)  # `**a***b*` would pair the wrong asterisks
        parts.append(rendered)
    return neutralize_mentions("".join(parts))


def pack(
    reply: Reply,
    limit: int,
    draw: packing.Draw = render_spans,
    measure: packing.Measure = length,
) -> list[str]:
    """The reply's text as message contents of at most `limit`, split between units."""
    return packing.pack(reply, limit, draw, measure, bullet="- ")


# --- buttons and files ------------------------------------------------------------


def _label(text: str) -> str:
    text = " ".join(text.split()) or "…"
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1] + "…"


def _button(button: Button, row: int) -> discord.ui.Item[Any]:
    if button.action is None:  # a link (a Button has either a url or an action)
        return discord.ui.Button(
            label=_label(button.label), url=button.url, style=discord.ButtonStyle.link, row=row
        )
    return buttons.button(_label(button.label), button.action, _BUTTON_STYLES[button.style], row)


def _button_rows(reply: Reply) -> list[tuple[Button, ...]]:
    """The reply's button rows, long rows wrapped at Discord's 5 buttons per row."""
    rows: list[tuple[Button, ...]] = []
    for row in reply.buttons:
        for start in range(0, len(row), BUTTONS_PER_ROW):
            rows.append(row[start : start + BUTTONS_PER_ROW])
    return rows


def views(reply: Reply) -> list[discord.ui.View]:
    """Views of at most 5 rows of 5 buttons; a custom id appears once per view."""
    rows = _button_rows(reply)
    result: list[discord.ui.View] = []
    for start in range(0, len(rows), ROWS_PER_MESSAGE):
        view = discord.ui.View(timeout=None)  # answered by custom_id (buttons.CohortButton)
        seen: set[str] = set()
        for index, row in enumerate(rows[start : start + ROWS_PER_MESSAGE]):
            for button in row:
                if button.action is not None:
                    if button.action in seen:
                        log.warning("duplicate button action dropped: %s", button.action)
                        continue
                    seen.add(button.action)
                view.add_item(_button(button, index))
        result.append(view)
    return result


def _attachment(image: Image) -> discord.File:
    """The image as an upload (its description becomes the alt text)."""
    return discord.File(
        io.BytesIO(image.data),
        filename=image.filename,
        description=image.description[:DESCRIPTION_LIMIT] or None,
    )


def render(reply: Reply) -> list[DiscordMessage]:
    """The messages that show `reply` on Discord, in order (empty for an empty reply)."""
    contents = pack(reply, MESSAGE_LIMIT)
    button_views = views(reply)
    if not contents and (button_views or reply.image is not None):
        contents = [""]
    messages = [DiscordMessage(content, ephemeral=reply.private) for content in contents]
    if not messages:
        return []
    last = messages[-1]
    if button_views:
        last.view = button_views[0]
    if reply.image is not None:
        last.file = _attachment(reply.image)
    messages.extend(
        DiscordMessage("", view=view, ephemeral=reply.private) for view in button_views[1:]
    )
    return messages
