"""Writing the CLI's output files: all or nothing."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str, mode: int = 0o600) -> None:
    """Write `text` to `path` via a temporary file renamed over it (never half-written).

    The file is created with `mode` (default: the owner only, since exports hold
    personal data) and synced to disk before it takes the name. Raises `OSError`;
    the temporary file is removed first.
    """
    partial = path.with_name(path.name + ".partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
