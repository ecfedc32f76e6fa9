"""Cohort's own JSONL event files (docs/events.md): one event per line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import orjson

from bot.core.codec import decode
from bot.core.events import Event
from bot.errors import EventInvalid, InputFileError
from bot.importers.base import ParseStats


def parse_events(stream: IO[bytes], name: str, stats: ParseStats) -> Iterator[Event]:
    """Yield the events of a JSONL file; blank lines are ignored."""
    for number, line in enumerate(stream, 1):
        if not line.strip():
            stats.skip("blank lines")
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputFileError(name, number, f"invalid JSON: {exc}") from None
        try:
            yield decode(obj)
        except EventInvalid as exc:
            raise InputFileError(name, number, str(exc)) from None
