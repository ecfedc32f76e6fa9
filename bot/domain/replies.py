"""Neutral replies: what a service answers, before any platform renders it.

A `Reply` is structured text (paragraphs of spans, lists), rows of buttons and an
optional image. Services never format for a platform and never escape: every span
of text is data, and each platform's renderer escapes it for its own markup, so a
member's name can never ping @everyone or break the formatting. Long content is
split into pages by the service (`paginate`); renderers only enforce the platform's
length limits.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")


class Style(StrEnum):
    """How a span of text looks."""

    PLAIN = "plain"
    BOLD = "bold"
    ITALIC = "italic"
    CODE = "code"


@dataclass(frozen=True, slots=True)
class Text:
    """A run of text in one style (escaped by the renderer, whatever it contains)."""

    text: str
    style: Style = Style.PLAIN


@dataclass(frozen=True, slots=True)
class Link:
    """A labelled link (the label is escaped; the URL must be http or https)."""

    label: str
    url: str

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"link URL must be http(s): {self.url!r}")


Span = Text | Link


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A line or paragraph made of spans."""

    spans: tuple[Span, ...]

    @classmethod
    def of(cls, *parts: Span | str) -> Paragraph:
        """A paragraph from spans and plain strings."""
        return cls(tuple(Text(p) if isinstance(p, str) else p for p in parts))

    def plain(self) -> str:
        """The paragraph as plain text (labels of links included)."""
        return "".join(span.text if isinstance(span, Text) else span.label for span in self.spans)


@dataclass(frozen=True, slots=True)
class Items:
    """A bulleted (or numbered) list of paragraphs."""

    items: tuple[Paragraph, ...]
    numbered: bool = False


Block = Paragraph | Items


class ButtonStyle(StrEnum):
    """How a button looks (platforms without styles ignore it)."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Button:
    """A button: either an `action` sent back to Cohort, or a `url` that opens a page.

    Actions are short (Telegram allows 64 bytes): `prefix:argument`, see `actions`.
    """

    label: str
    action: str | None = None
    url: str | None = None
    style: ButtonStyle = ButtonStyle.SECONDARY

    def __post_init__(self) -> None:
        if (self.action is None) == (self.url is None):
            raise ValueError("a button has either an action or a url")
        if self.action is not None and len(self.action.encode()) > 64:
            raise ValueError(f"button action longer than 64 bytes: {self.action!r}")
        if self.url is not None and not self.url.startswith(("https://", "http://")):
            raise ValueError(f"button URL must be http(s): {self.url!r}")


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A value offered while a command option is being typed (Discord autocomplete).

    `label` is what the member reads (at most 100 characters), `value` what the
    option receives (at most 100 characters).
    """

    label: str
    value: str

    def __post_init__(self) -> None:
        if not 1 <= len(self.label) <= 100 or not 1 <= len(self.value) <= 100:
            raise ValueError(f"suggestion label and value need 1-100 characters: {self!r}")


@dataclass(frozen=True, slots=True)
class Image:
    """An image attached to a reply (charts)."""

    data: bytes
    filename: str
    description: str


@dataclass(frozen=True, slots=True)
class File:
    """A document attached to a reply (a member's data export)."""

    data: bytes
    filename: str
    mime: str = "application/json"


@dataclass(frozen=True, slots=True)
class Reply:
    """A service's answer: title, blocks, button rows, image or file; `private` = only the asker.

    A private reply is seen by the asker alone: an ephemeral message on Discord, a
    private chat on Telegram.
    """

    blocks: tuple[Block, ...] = ()
    title: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    image: Image | None = None
    private: bool = False
    file: File | None = None

    def plain(self) -> str:
        """Everything as plain text (for logs, tests and the file transport)."""
        lines: list[str] = [self.title] if self.title else []
        for block in self.blocks:
            if isinstance(block, Paragraph):
                lines.append(block.plain())
            else:
                for number, item in enumerate(block.items, 1):
                    marker = f"{number}." if block.numbered else "-"
                    lines.append(f"{marker} {item.plain()}")
        return "\n".join(lines)

    def all_buttons(self) -> list[Button]:
        """Every button, row by row."""
        return [button for row in self.buttons for button in row]


def paginate(items: Sequence[T], page: int, size: int) -> tuple[list[T], int, int]:
    """The items of `page` (1-based, clamped), the page number and the page count."""
    count = max(1, -(-len(items) // size))
    page = min(max(page, 1), count)
    start = (page - 1) * size
    return list(items[start : start + size]), page, count


def page_buttons(
    view: str, page: int, count: int, previous: str, following: str
) -> tuple[Button, ...]:
    """Previous/next buttons for a paginated view (`pg:<view>:<page>` actions)."""
    buttons = []
    if page > 1:
        buttons.append(Button(previous, action=f"pg:{view}:{page - 1}"))
    if page < count:
        buttons.append(Button(following, action=f"pg:{view}:{page + 1}"))
    return tuple(buttons)


def reply_to_dict(reply: Reply) -> dict[str, Any]:
    """A JSON-able form of a reply (outbox payloads, the file transport)."""

    def span(value: Span) -> dict[str, str]:
        if isinstance(value, Link):
            return {"link": value.label, "url": value.url}
        return {"text": value.text, "style": value.style.value}

    def block(value: Block) -> dict[str, Any]:
        if isinstance(value, Items):
            return {
                "items": [[span(s) for s in p.spans] for p in value.items],
                "numbered": value.numbered,
            }
        return {"paragraph": [span(s) for s in value.spans]}

    return {
        "title": reply.title,
        "blocks": [block(b) for b in reply.blocks],
        "buttons": [
            [
                {"label": b.label, "action": b.action, "url": b.url, "style": b.style.value}
                for b in row
            ]
            for row in reply.buttons
        ],
        "image": None
        if reply.image is None
        else {
            "data": base64.b64encode(reply.image.data).decode(),
            "filename": reply.image.filename,
            "description": reply.image.description,
        },
        "private": reply.private,
        "file": None
        if reply.file is None
        else {
            "data": base64.b64encode(reply.file.data).decode(),
            "filename": reply.file.filename,
            "mime": reply.file.mime,
        },
    }


def reply_from_dict(data: dict[str, Any]) -> Reply:
    """The inverse of `reply_to_dict`."""

    def span(value: dict[str, str]) -> Span:
        if "link" in value:
            return Link(value["link"], value["url"])
        return Text(value["text"], Style(value.get("style", "plain")))

    def block(value: dict[str, Any]) -> Block:
        if "items" in value:
            return Items(
                tuple(Paragraph(tuple(span(s) for s in item)) for item in value["items"]),
                numbered=bool(value.get("numbered")),
            )
        return Paragraph(tuple(span(s) for s in value["paragraph"]))

    image = data.get("image")
    attached = data.get("file")
    return Reply(
        blocks=tuple(block(b) for b in data.get("blocks", [])),
        title=data.get("title"),
        buttons=tuple(
            tuple(
                Button(
                    b["label"],
                    action=b.get("action"),
                    url=b.get("url"),
                    style=ButtonStyle(b.get("style", "secondary")),
                )
                for b in row
            )
            for row in data.get("buttons", [])
        ),
        image=None
        if image is None
        else Image(base64.b64decode(image["data"]), image["filename"], image["description"]),
        private=bool(data.get("private")),
        file=None
        if attached is None
        else File(base64.b64decode(attached["data"]), attached["filename"], attached["mime"]),
    )
