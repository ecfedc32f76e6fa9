"""Cohort's own JSONL event files (docs/events.md): one event per line."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import IO

import orjson

from bot.domain.codec import decode
from bot.domain.events import ButtonPressed, Event, PurchaseMade
from bot.errors import EventInvalid, InputFileError
from bot.importers.base import Parser, ParseStats


def _numbered(stream: IO[bytes], name: str, stats: ParseStats) -> Iterator[tuple[int, Event]]:
    """(line number, event) for each event line; blank lines are ignored."""
    for number, line in enumerate(stream, 1):
        if not line.strip():
            stats.skip("blank lines")
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputFileError(name, number, f"invalid JSON: {exc}") from None
        try:
            yield number, decode(obj)
        except EventInvalid as exc:
            raise InputFileError(name, number, str(exc)) from None


def parse_events(stream: IO[bytes], name: str, stats: ParseStats) -> Iterator[Event]:
    """Yield the events of a JSONL file; blank lines are ignored."""
    for _, event in _numbered(stream, name, stats):
        yield event


def events_parser(known_courses: Collection[str]) -> Parser:
    """A parser for JSONL files whose purchases and button presses must name `known_courses`.

    docs/events.md: the course of a purchase must be in the catalog. An import stops at
    the first line that names another course (nothing of the file is kept), rather
    than dropping the event and exiting 0.
    """

    def parse(stream: IO[bytes], name: str, stats: ParseStats) -> Iterator[Event]:
        for number, event in _numbered(stream, name, stats):
            if isinstance(event, PurchaseMade | ButtonPressed) and (
                event.course not in known_courses
            ):
                raise InputFileError(
                    name,
                    number,
                    f"course: unknown course {event.course!r} (import the catalog first: "
                    "cohort courses import)",
                )
            yield event

    return parse
