"""The demo's folder: a new one, the same one again (kept as the user left it), or rebuilt.

A folder the demo built holds `demo.json`: the seed, size and start date the community
was generated with, so a later run can regenerate the same members (with their hidden
interests) without touching the store. Running the demo again on such a folder reuses
its store; `--fresh` deletes only the files the demo wrote and builds it again. A
folder holding a Cohort store the demo did not describe is never touched: the demo
moves on to the next free `<folder>-2`, `<folder>-3`, ...
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from bot.errors import CohortError

log = logging.getLogger(__name__)

MANIFEST = "demo.json"
STORE_FILES = ("cohort.db", "cohort.db-wal", "cohort.db-shm")
# Everything the demo writes (and `--fresh` may delete); other files are left alone.
GENERATED_FILES = (
    *STORE_FILES,
    MANIFEST,
    "config.toml",
    "courses.toml",
    "consents.jsonl",
    "purchases.csv",
    "result.json",
    "shop-orders.csv",
    "digest-deliveries.jsonl",
    "report.html",
)
GENERATED_FOLDERS = ("discord", "artifacts")


@dataclass(frozen=True, slots=True)
class Manifest:
    """How the demo community was generated (enough to generate it again)."""

    seed: int
    members: int
    days: int
    start: str  # ISO date-time of the first day of history

    @property
    def start_time(self) -> datetime:
        """`start` as an aware datetime."""
        return datetime.fromisoformat(self.start)

    def save(self, folder: Path) -> None:
        """Write `demo.json` into `folder`."""
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=2) + "\n", "utf-8")

    @classmethod
    def read(cls, folder: Path) -> Manifest | None:
        """The folder's manifest, None if there is none; a clear error if it is unreadable."""
        path = folder / MANIFEST
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text("utf-8"))
            manifest = cls(
                seed=int(data["seed"]),
                members=int(data["members"]),
                days=int(data["days"]),
                start=str(data["start"]),
            )
            manifest.start_time  # noqa: B018 - validates the date
        except (ValueError, KeyError, TypeError) as exc:
            raise CohortError(f"{path}: not a demo manifest ({exc}); use --fresh") from None
        return manifest


@dataclass(frozen=True, slots=True)
class Choice:
    """Where the demo runs and whether it reuses a store built earlier."""

    folder: Path
    manifest: Manifest | None  # None: build a new community
    note: str  # what happened to the folder, for the user


def has_store(folder: Path) -> bool:
    """Whether `folder` holds a Cohort SQLite store."""
    return (folder / STORE_FILES[0]).exists()


def choose(folder: Path, *, fresh: bool) -> Choice:
    """Decide where the demo runs: reuse, rebuild (`fresh`) or a new sibling folder."""
    if fresh:
        removed = clear(folder)
        note = f"--fresh: deleted {removed} demo file(s) in {folder}/ and rebuilt it"
        return Choice(folder, None, note if removed else f"new demo folder {folder}/")
    if not has_store(folder):
        return Choice(folder, None, f"new demo folder {folder}/")
    manifest = Manifest.read(folder)
    if manifest is not None:
        return Choice(
            folder,
            manifest,
            f"reusing the demo store in {folder}/ as you left it (nothing regenerated or "
            "re-imported); --fresh rebuilds it",
        )
    other = next_free(folder)
    return Choice(
        other,
        None,
        f"{folder}/ holds a Cohort store the demo did not build: left untouched, "
        f"using {other}/ instead",
    )


def next_free(folder: Path) -> Path:
    """The first `<folder>-N` (N ≥ 2) without a store in it."""
    number = 2
    while has_store(candidate := folder.with_name(f"{folder.name}-{number}")):
        number += 1
    return candidate


def clear(folder: Path) -> int:
    """Delete what the demo wrote in `folder` (nothing else); returns how many entries."""
    removed = 0
    for name in GENERATED_FILES:
        path = folder / name
        if path.exists():
            path.unlink()
            removed += 1
    for name in GENERATED_FOLDERS:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
            removed += 1
    return removed


def write_config(folder: Path) -> Path:
    """The demo's config.toml (kept if it exists: the user may have edited it)."""
    path = folder / "config.toml"
    if path.exists():
        return path
    path.write_text(
        f"""\
# Written by `cohort demo`. Everything else keeps its default (see config.example.toml).
[database]
url = "sqlite+aiosqlite:///cohort.db"

[privacy]
mode = "opt_in"

[recommend]
# A larger control group than the default 0.1, so the demo's holdout lift is readable.
holdout = 0.2

[delivery]
# The demo writes deliveries to a file: no platform rate limit to respect.
send_rate = 100

[web]
# `cohort --config {path} web` serves the "Learn more" links of the demo's replies.
public_url = "http://127.0.0.1:8080"
# A secret for this demo only: the simulated shop signs its purchase webhooks with it.
webhook_secret = "{secrets.token_urlsafe(24)}"
""",
        encoding="utf-8",
    )
    return path
