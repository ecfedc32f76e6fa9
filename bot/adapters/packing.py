"""Split a neutral `Reply` into message texts that fit a platform's length limit.

Both adapters render spans their own way (Discord Markdown, Telegram HTML) and hand
the renderer in as `draw`; what is shared is where a reply may be cut. Text is split
between units (the title, each paragraph, each list item); a unit too long for one
message alone is split inside a span, and each piece is drawn from whole or cut spans,
so no escape sequence, tag or markup pair is ever cut. A cut falls at a space when one
is close to the limit. A link whose label cannot fit is sent as plain text.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from bot.domain.replies import Link, Paragraph, Reply, Span, Style, Text

log = logging.getLogger(__name__)

Draw = Callable[[Sequence[Span], str], str]
"""Renders spans after a prefix (a list marker) as one platform text."""
Measure = Callable[[str], int]
"""The length a platform checks its limit against."""


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units: never less than a platform's character count."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class Unit:
    """A title, paragraph or list item: never split unless it alone exceeds the limit."""

    spans: tuple[Span, ...]
    prefix: str
    gap: str  # what separates it from the previous unit in the same message


def units(reply: Reply, bullet: str) -> list[Unit]:
    """The reply's units in order; list items get `bullet` or their number."""
    found: list[Unit] = []
    if reply.title:
        found.append(Unit((Text(reply.title, Style.BOLD),), "", ""))
    for block in reply.blocks:
        # A block follows the title on the next line, and other blocks after a blank line.
        gap = "\n" if len(found) == 1 and reply.title else "\n\n"
        if isinstance(block, Paragraph):
            found.append(Unit(block.spans, "", gap))
            continue
        for number, item in enumerate(block.items, 1):
            marker = f"{number}. " if block.numbered else bullet
            found.append(Unit(item.spans, marker, gap if number == 1 else "\n"))
    return [unit for unit in found if any(_has_text(span) for span in unit.spans)]


def pack(reply: Reply, limit: int, draw: Draw, measure: Measure, bullet: str) -> list[str]:
    """The reply's text as message texts of at most `limit`, split between units."""
    chunks: list[str] = []
    current = ""
    for unit in units(reply, bullet):
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


def _has_text(span: Span) -> bool:
    return bool((span.text if isinstance(span, Text) else span.label or span.url).strip())


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
    draw: Draw,
    measure: Measure,
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
    spans: Sequence[Span], prefix: str, limit: int, draw: Draw, measure: Measure
) -> Iterator[str]:
    """Render spans as pieces of at most `limit`, cutting spans apart when needed.

    The prefix goes on the first piece only.
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
