"""Reading big JSON exports piece by piece, with a bound on nesting.

The exporters' files (DiscordChatExporter, Telegram Desktop) are one JSON document
of up to hundreds of MB. Importers read ijson's basic event stream (`basic_parse`,
C backend), walk the few levels they know themselves, and build one value at a time
(a header field, one message) with `build`, or pass over a value they ignore with
`skip`. Both refuse a value nested deeper than `MAX_DEPTH` levels with an
`InputFileError` naming the file and the JSON path: memory stays bounded by the size
of one message, whatever an ignored field holds. ijson's path-based API (`parse`,
`items`) is not used, because its cost grows with the square of the nesting.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Final

from ijson.common import ObjectBuilder

from bot.errors import InputFileError

log = logging.getLogger(__name__)

# The exports nest a few levels (a DCE message → reactions → users → roles is 4).
MAX_DEPTH: Final = 32
OPEN: Final = frozenset({"start_map", "start_array"})
CLOSE: Final = frozenset({"end_map", "end_array"})

Events = Iterator[tuple[str, Any]]


def _too_deep(name: str, where: str | None) -> InputFileError:
    return InputFileError(name, where, f"nested deeper than {MAX_DEPTH} levels")


def build(events: Events, event: str, value: Any, name: str, where: str | None) -> Any:
    """The JSON value that starts with (`event`, `value`), built from `events`.

    `events` is positioned just after that first event and is consumed to the end of
    the value. Nesting deeper than `MAX_DEPTH` is an `InputFileError` at `where`.
    """
    if event not in OPEN:
        return value
    builder = ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for event, value in events:
        builder.event(event, value)
        if event in OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep(name, where)
        elif event in CLOSE:
            depth -= 1
            if depth == 0:
                break
    return builder.value


def skip(events: Events, event: str, name: str, where: str | None) -> None:
    """Pass over the JSON value that starts with `event`, building nothing.

    Like `build`, nesting deeper than `MAX_DEPTH` is an `InputFileError` at `where`.
    """
    if event not in OPEN:
        return
    depth = 1
    for event, _ in events:
        if event in OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep(name, where)
        elif event in CLOSE:
            depth -= 1
            if depth == 0:
                return


def drain(events: Events) -> None:
    """Read `events` to the end, so a syntax error after the last wanted value still raises."""
    for _ in events:
        pass
