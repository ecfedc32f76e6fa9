"""One `cohort run` per SQLite file: an OS lock on `<database file>.lock`.

Two instances on one SQLite file would both run every scheduled job and both send
at the configured rate. The lock is `flock` on a file next to the database: the
operating system drops it when the process ends however it ends (`kill -9`
included), so a stale lock file never blocks a restart. PostgreSQL is not locked
here. The lock file holds the owner's pid, only to name it in the error.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from bot.errors import CohortError

log = logging.getLogger(__name__)


class InstanceLocked(CohortError):
    """Another process holds the SQLite file's instance lock."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def lock_path(database: Path) -> Path:
    """The lock file of a database file."""
    return database.with_name(database.name + ".lock")


@contextlib.contextmanager
def single_instance(url: str) -> Iterator[Path | None]:
    """Hold the instance lock of the SQLite database at `url` while the block runs.

    Yields the lock file (None when there is nothing to lock: PostgreSQL, memory).
    Raises `InstanceLocked` with one line if another process holds it.
    """
    database = sqlite_path(url)
    if database is None:
        yield None
        return
    path = lock_path(database)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise InstanceLocked(f"cannot create the lock file {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise InstanceLocked(
                f"another `cohort run` is already using {database}{who}: one instance per "
                f"SQLite file; stop it first (lock: {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        log.debug("instance lock %s taken", path)
        yield path
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
