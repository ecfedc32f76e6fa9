"""What the process tests share: a clean environment, running `cohort`, DM opt-ins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "bot" / "demo" / "data" / "courses.toml"


def clean_env() -> dict[str, str]:
    """The environment without the developer's COHORT_* settings, importing this tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def cohort(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a `cohort` command in `folder` (reading its config.toml) and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "-c", "config.toml", *args],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_dm_opt_ins(path: Path, members: int) -> None:
    """JSONL consent events: members u0 … u{members-1} of discord:g1 opted in to DMs."""
    events = [
        {
            "type": "consent",
            "platform": "discord",
            "community": "g1",
            "member": f"u{n}",
            "profiling": True,
            "dm": True,
            "ts": "2024-04-30T09:00:00Z",
        }
        for n in range(members)
    ]
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")


def lines(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of a delivery file."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]
