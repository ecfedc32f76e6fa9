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

import functools
import html
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import (
    InlineKeyboardMarkupLimit,
    KeyboardButtonStyle,
    MessageLimit,
    ParseMode,
)

from bot.core.replies import Button, ButtonStyle, Link, Paragraph, Reply, Span, Style, Text

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
    return len(text.encode("utf-16-le")) // 2


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


@dataclass(frozen=True, slots=True)
class _Unit:
    """A paragraph or list item: never split unless it alone exceeds the limit."""

    spans: tuple[Span, ...]
    prefix: str
    gap: str  # what separates it from the previous unit in the same message


def _has_text(span: Span) -> bool:
    return bool((span.text if isinstance(span, Text) else span.label or span.url).strip())


def _units(reply: Reply) -> list[_Unit]:
    units: list[_Unit] = []
    if reply.title:
        units.append(_Unit((Text(reply.title, Style.BOLD),), "", ""))
    for block in reply.blocks:
        # A block follows the title on the next line, and other blocks after a blank line.
        gap = "\n" if len(units) == 1 and reply.title else "\n\n"
        if isinstance(block, Paragraph):
            units.append(_Unit(block.spans, "", gap))
            continue
        for number, item in enumerate(block.items, 1):
            marker = f"{number}. " if block.numbered else "• "
            units.append(_Unit(item.spans, marker, gap if number == 1 else "\n"))
    return [unit for unit in units if any(_has_text(span) for span in unit.spans)]


def _text_of(span: Span) -> str:
    return span.text if isinstance(span, Text) else span.label


def _cut(span: Span, size: int) -> tuple[Span, Span]:
    if isinstance(span, Link):
        return Link(span.label[:size], span.url), Link(span.label[size:], span.url)
    return Text(span.text[:size], span.style), Text(span.text[size:], span.style)


def _head_fits(
    size: int,
    *,
    span: Span,
    before: tuple[Span, ...],
    prefix: str,
    limit: int,
    draw: Callable[[Sequence[Span], str], str],
    measure: Callable[[str], int],
) -> bool:
    return measure(draw([*before, _cut(span, size)[0]], prefix)) <= limit


def _largest_fit(fits: Callable[[int], bool], text: str) -> int:
    """The longest prefix of `text` (shorter than all of it) that fits, at a space if close."""
    low, high = 0, len(text) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    space = max(text.rfind(" ", 0, low), text.rfind("\n", 0, low))
    if space >= 0 and space + 1 >= low // 2:
        return space + 1
    return low


def _split_unit(
    spans: Sequence[Span],
    prefix: str,
    limit: int,
    draw: Callable[[Sequence[Span], str], str],
    measure: Callable[[str], int],
) -> Iterator[str]:
    """Render spans as pieces of at most `limit`, cutting spans apart when needed.

    Each piece is rendered from whole or cut spans, so tags and entities are never
    broken; the prefix goes on the first piece only.
    """
    queue = list(spans)
    current: list[Span] = []
    while queue:
        span = queue.pop(0)
        if measure(draw([*current, span], prefix)) <= limit:
            current.append(span)
            continue
        text = _text_of(span)
        fits = functools.partial(
            _head_fits,
            span=span,
            before=tuple(current),
            prefix=prefix,
            limit=limit,
            draw=draw,
            measure=measure,
        )
        size = _largest_fit(fits, text) if len(text) > 1 else 0
        if size == 0:
            if current:
                yield draw(current, prefix)
                prefix, current = "", []
                queue.insert(0, span)
                continue
            if isinstance(span, Link):
                log.warning("link too long for one message, sent as text: %s", span.url)
                queue.insert(0, Text(span.label or span.url))
                continue
            raise ValueError(f"limit {limit} cannot hold a single character")
        head, tail = _cut(span, size)
        yield draw([*current, head], prefix)
        prefix, current = "", []
        queue.insert(0, tail)
    if current:
        yield draw(current, prefix)


def pack(
    reply: Reply,
    limit: int,
    draw: Callable[[Sequence[Span], str], str] = render_spans,
    measure: Callable[[str], int] = length,
) -> list[str]:
    """The reply's text as HTML message texts of at most `limit`, split between units."""
    chunks: list[str] = []
    current = ""
    for unit in _units(reply):
        whole = draw(unit.spans, unit.prefix)
        if current and measure(current + unit.gap + whole) <= limit:
            current += unit.gap + whole
            continue
        if current:
            chunks.append(current)
        if measure(whole) <= limit:
            current = whole
            continue
        pieces = _split_unit(unit.spans, unit.prefix, limit, draw, measure)
        # A piece of nothing but spaces would be an empty message (Telegram refuses it).
        *full, current = [piece for piece in pieces if piece.strip()]
        chunks.extend(full)
    if current:
        chunks.append(current)
    return chunks


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
