"""Render a neutral `Reply` as Telegram messages in HTML parse mode.

Every piece of text is data: it goes through `html.escape`, and the only tags written
are `<b>`, `<i>`, `<code>` and `<a href="...">` (the URL escaped for an attribute).
A list is `• ` or `1. ` lines; the title is a bold first line.

Telegram limits a message to 4096 characters and a photo caption to 1024 after the
markup is parsed; this module measures the HTML source in UTF-16 code units, which is
never less, so whatever fits here fits there. Text is split between blocks and list
items; a single block too long for one message is split inside a span, each piece
escaped and tagged on its own, so no tag or entity is ever cut.

Buttons become one inline keyboard on the last message (rows wrapped at 8 buttons;
more than 100 buttons is a service bug and raises). An image is sent as a photo after
the text: the last chunk of text becomes its caption when it fits in 1024 characters,
otherwise the text goes in its own messages and the photo has no caption.

Link previews are off, except when the reply has exactly one `Link`: the message that
carries it previews that link (pinned with `LinkPreviewOptions.url`, so a URL typed in
a member's text can never be the one previewed). A single link is the reply's subject,
a course page say, and worth a card; with several, none is obviously the one to show.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import (
    InlineKeyboardMarkupLimit,
    KeyboardButtonStyle,
    MessageLimit,
    ParseMode,
)

from bot.adapters import packing
from bot.domain.replies import Button, ButtonStyle, Link, Paragraph, Reply, Span, Style

log = logging.getLogger(__name__)

MESSAGE_LIMIT = int(MessageLimit.MAX_TEXT_LENGTH)
CAPTION_LIMIT = int(MessageLimit.CAPTION_LENGTH)
BUTTONS_PER_ROW = int(InlineKeyboardMarkupLimit.BUTTONS_PER_ROW)
MAX_BUTTONS = int(InlineKeyboardMarkupLimit.TOTAL_BUTTON_NUMBER)
ALLOWED_TAGS = frozenset({"b", "i", "code", "a"})

_TAGS = {Style.BOLD: "b", Style.ITALIC: "i", Style.CODE: "code"}
_BUTTON_STYLES: dict[ButtonStyle, str | None] = {
    ButtonStyle.PRIMARY: KeyboardButtonStyle.PRIMARY,
    ButtonStyle.SECONDARY: None,  # Telegram's default look
    ButtonStyle.DANGER: KeyboardButtonStyle.DANGER,
}


@dataclass(frozen=True, slots=True)
class TelegramMessage:
    """One Telegram message: a text (or a photo with `text` as its caption) and buttons.

    `private` replies must be sent to the member's private chat: Telegram has no
    ephemeral messages.
    """

    text: str
    parse_mode: str = ParseMode.HTML
    reply_markup: InlineKeyboardMarkup | None = None
    photo: bytes | None = None
    disable_web_page_preview: bool = True
    preview_url: str | None = None
    private: bool = False

    @property
    def link_preview_options(self) -> LinkPreviewOptions:
        """The Bot API's link preview settings for this message."""
        if self.disable_web_page_preview or self.preview_url is None:
            return LinkPreviewOptions(is_disabled=True)
        return LinkPreviewOptions(url=self.preview_url)

    def send_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `Bot.send_photo` (with a photo) or `Bot.send_message`."""
        kwargs: dict[str, Any] = {"parse_mode": self.parse_mode}
        if self.reply_markup is not None:
            kwargs["reply_markup"] = self.reply_markup
        if self.photo is not None:
            kwargs["photo"] = self.photo
            if self.text:
                kwargs["caption"] = self.text
            return kwargs
        kwargs["text"] = self.text
        kwargs["link_preview_options"] = self.link_preview_options
        return kwargs


def length(text: str) -> int:
    """The length Telegram's limits are checked against (UTF-16 code units, conservative)."""
    return packing.utf16_length(text)


def escape(text: str) -> str:
    """User text as HTML-mode text: `&`, `<` and `>` escaped."""
    return html.escape(text, quote=False)


def render_span(span: Span) -> str:
    """One span as Telegram HTML."""
    if isinstance(span, Link):
        label = span.label or span.url
        return f'<a href="{html.escape(span.url, quote=True)}">{escape(label)}</a>'
    tag = _TAGS.get(span.style)
    if tag is None or not span.text.strip():
        return escape(span.text)
    return f"<{tag}>{escape(span.text)}</{tag}>"


def render_spans(spans: Sequence[Span], prefix: str = "") -> str:
    """A paragraph's spans as one HTML string, after `prefix` (a list marker)."""
    return prefix + "".join(render_span(span) for span in spans)


# --- splitting --------------------------------------------------------------------


def pack(
    reply: Reply,
    limit: int,
    draw: packing.Draw = render_spans,
    measure: packing.Measure = length,
) -> list[str]:
    """The reply's text as HTML message texts of at most `limit`, split between units."""
    return packing.pack(reply, limit, draw, measure, bullet="• ")


# --- buttons ----------------------------------------------------------------------


def _button(button: Button) -> InlineKeyboardButton:
    label = " ".join(button.label.split()) or "…"
    style = _BUTTON_STYLES[button.style]
    if button.url is not None:
        return InlineKeyboardButton(label, url=button.url, style=style)
    return InlineKeyboardButton(label, callback_data=button.action, style=style)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's buttons as one inline keyboard (rows wrapped at 8), or None."""
    if not reply.buttons:
        return None
    total = len(reply.all_buttons())
    if total > MAX_BUTTONS:
        raise ValueError(f"{total} buttons: Telegram allows {MAX_BUTTONS}; paginate instead")
    rows: list[list[InlineKeyboardButton]] = []
    for row in reply.buttons:
        for start in range(0, len(row), BUTTONS_PER_ROW):
            rows.append([_button(button) for button in row[start : start + BUTTONS_PER_ROW]])
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None


# --- messages ---------------------------------------------------------------------


def _links(reply: Reply) -> list[Link]:
    items = (
        [block] if isinstance(block, Paragraph) else list(block.items) for block in reply.blocks
    )
    return [
        span
        for paragraphs in items
        for paragraph in paragraphs
        for span in paragraph.spans
        if isinstance(span, Link)
    ]


def render(reply: Reply) -> list[TelegramMessage]:
    """The messages that show `reply` on Telegram, in order (empty for an empty reply)."""
    texts = pack(reply, MESSAGE_LIMIT)
    markup = keyboard(reply)
    links = _links(reply)
    preview = links[0].url if len(links) == 1 else None
    # The message that carries the only link previews it; `href` is written escaped.
    marker = f'<a href="{html.escape(preview, quote=True)}">' if preview is not None else None

    def message(text: str, **extra: Any) -> TelegramMessage:
        previewed = marker is not None and marker in text
        return TelegramMessage(
            text,
            disable_web_page_preview=not previewed,
            preview_url=preview if previewed else None,
            private=reply.private,
            **extra,
        )

    if reply.image is not None:
        caption = ""
        if texts and length(texts[-1]) <= CAPTION_LIMIT:
            caption = texts.pop()
        messages = [message(text) for text in texts]
        photo = TelegramMessage(
            caption, reply_markup=markup, photo=reply.image.data, private=reply.private
        )
        return [*messages, photo]
    if not texts:
        if markup is not None:
            raise ValueError("a Telegram message with buttons needs text")
        return []
    messages = [message(text) for text in texts[:-1]]
    messages.append(message(texts[-1], reply_markup=markup))
    return messages
