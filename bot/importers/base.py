"""What every importer shares: streaming reads, progress, one transaction per file.

A parser is a generator `parse(stream, name, stats) -> Iterator[Event]` over a
binary stream; it raises `InputFileError` naming the line or JSON path of bad
input. `import_file` feeds its events to the same `EventWriter` the live pipeline
uses, in batches, inside ONE transaction: a file is imported entirely or not at
all, and importing it again changes nothing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from ijson.common import JSONError
from sqlalchemy.engine import Connection

from bot.app import Cohort
from bot.domain.events import Event
from bot.errors import CohortError, InputFileError
from bot.store.writers.results import WriteResult

log = logging.getLogger(__name__)

BATCH = 2000
# Above this size a JSON syntax error is located approximately rather than by a rescan.
EXACT_JSON_ERROR_LIMIT = 100 * 1024 * 1024

ProgressCallback = Callable[[int], None]


@dataclass(slots=True)
class ParseStats:
    """What a parser skipped and why (bots, duplicates, service messages, ...)."""

    skipped: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str, count: int = 1) -> None:
        """Count `count` items skipped for `reason`."""
        self.skipped[reason] += count


class ImportInterrupted(CohortError):
    """An import was stopped (Ctrl-C) and rolled back."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: import interrupted; nothing of this file was kept")


class Parser(Protocol):
    """Turns one input file into events."""

    def __call__(self, stream: IO[bytes], name: str, stats: ParseStats) -> Iterator[Event]:
        """Yield the file's events in order; raise `InputFileError` on bad input."""
        ...


@dataclass(slots=True)
class ImportReport:
    """The outcome of importing one file."""

    path: Path
    events: int
    written: WriteResult
    skipped: dict[str, int]
    seconds: float

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly summary."""
        return {
            "file": str(self.path),
            "events": self.events,
            "written": self.written.as_dict(),
            "skipped": dict(self.skipped),
            "seconds": round(self.seconds, 3),
        }


class CountingReader(io.RawIOBase):
    """A binary reader that tells how many bytes have been consumed (for progress)."""

    def __init__(self, raw: IO[bytes], on_progress: ProgressCallback | None = None) -> None:
        self._raw = raw
        self.position = 0
        self._on_progress = on_progress

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Fill `buffer` from the wrapped file and count the bytes."""
        data = self._raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.position += size
        if self._on_progress is not None:
            self._on_progress(self.position)
        return size

    def read(self, size: int = -1) -> bytes:
        """Read up to `size` bytes and count them."""
        data = self._raw.read(size)
        self.position += len(data)
        if self._on_progress is not None:
            self._on_progress(self.position)
        return data


def csv_rows(reader: csv.DictReader[str], name: str | Path) -> Iterator[dict[str, Any]]:
    """The rows of a CSV reader, with malformed rows as `InputFileError`.

    A field over the csv module's 128 KiB limit, say, names its line instead of
    escaping as a `_csv.Error` traceback.
    """
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.reader.line_num  # DictReader's own count lags on errors
            raise InputFileError(name, line, f"bad CSV: {exc}") from None
        yield row


def batched(events: Iterable[Event], size: int) -> Iterator[list[Event]]:
    """Consecutive lists of at most `size` events."""
    iterator = iter(events)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def json_syntax_error(path: Path, consumed: int, exc: Exception) -> InputFileError:
    """Locate a JSON syntax error as `file:line`.

    The fast C parser does not report positions, so the file is scanned again with
    ijson's pure-Python backend, which does (for files up to 100 MB); for larger
    files the line is estimated from the bytes read when parsing stopped.
    """
    problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    size = path.stat().st_size if path.exists() else 0
    offset: int | None = None
    text_offset = False
    if 0 < size <= EXACT_JSON_ERROR_LIMIT:
        import ijson.backends.python as slow

        with path.open("rb") as handle:
            try:
                for _ in slow.basic_parse(handle):
                    pass
            except slow.UnexpectedSymbol as located:
                problem = str(located).rsplit(" at ", 1)[0].lower()
                offset = int(str(located).rsplit(" at ", 1)[1])
                text_offset = True
            except Exception as other:  # incomplete document: the error is at the end
                problem = str(other).strip().splitlines()[0] or problem
                offset = size
                text_offset = False
        if offset is not None:
            with path.open("rb") as handle:
                data = handle.read(size)
            if text_offset:  # the python backend counts characters, not bytes
                data = data.decode("utf-8", errors="replace")[:offset].encode()
            else:
                data = data[:offset]
            return InputFileError(path, data.count(b"\n") + 1, f"invalid JSON: {problem}")
    with path.open("rb") as handle:
        newlines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        handle.seek(0)
        before = handle.read(consumed).count(b"\n")
    line = min(before, newlines) + 1
    return InputFileError(path, f"near line {line}", f"invalid JSON: {problem}")


async def import_file(
    cohort: Cohort,
    path: Path,
    parser: Parser,
    *,
    on_progress: ProgressCallback | None = None,
    batch_size: int = BATCH,
) -> ImportReport:
    """Import one file in one transaction; on any error nothing of it is kept."""
    started = time.perf_counter()
    stats = ParseStats()
    total = WriteResult()
    writer = cohort.writer
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputFileError(path, None, f"cannot read: {exc.strerror}") from None
    interrupted = threading.Event()

    def run(conn: Connection) -> int:
        count = 0
        for batch in batched(parser(stream, str(path), stats), batch_size):
            if interrupted.is_set():
                raise ImportInterrupted(path)
            count += len(batch)
            total.add(writer.write(conn, batch))
        return count

    with handle:
        reader = CountingReader(handle, on_progress)
        stream = io.BufferedReader(reader, buffer_size=1 << 16)
        try:
            events = await cohort.store.run_write(run)
        except asyncio.CancelledError:
            # The writer thread finishes its batch, sees the flag and rolls back.
            interrupted.set()
            writer.rolled_back()
            raise
        except JSONError as exc:
            writer.rolled_back()
            raise json_syntax_error(path, reader.position, exc) from None
        except UnicodeDecodeError as exc:
            writer.rolled_back()
            raise InputFileError(path, None, f"not UTF-8 text (byte {exc.start})") from None
        except BaseException:
            writer.rolled_back()
            raise
        writer.committed()
    report = ImportReport(
        path=path,
        events=events,
        written=total,
        skipped=dict(stats.skipped),
        seconds=time.perf_counter() - started,
    )
    log.info("imported %s: %d events in %.2fs", path, events, report.seconds)
    return report
