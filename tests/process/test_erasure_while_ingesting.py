"""Real processes: `cohort privacy forget` while `cohort replay` ingests the same member.

The replaying process loaded its consent gate long before the erasure; it must
still never store the member again (0 rows re-stored), and lose nothing either, on a
real SQLite file and a scratch database on the real PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.process.conftest import ProcessDatabase
from tests.process.helpers import clean_env

EVENTS = 3000
RATE = 200

pytestmark = pytest.mark.slow


def write_events(path: Path) -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    lines = [
        {
            "type": "consent",
            "platform": "discord",
            "community": "g1",
            "member": "u1",
            "profiling": True,
            "ts": (start - timedelta(days=1)).isoformat(),
        }
    ]
    for n in range(EVENTS - 1):
        lines.append(
            {
                "type": "message",
                "platform": "discord",
                "community": "g1",
                "channel": "c1",
                "member": "u1",
                "name": "alice",
                "id": f"m{n}",
                "ts": (start + timedelta(seconds=n)).isoformat(),
                "text": f"message {n} about rust",
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def test_erasure_in_another_process_stops_a_running_replay_storing_the_member(
    tmp_path: Path, database: ProcessDatabase
) -> None:
    """Forget u1 while a replay of u1's messages runs: 0 rows re-stored, 0 events lost."""
    database.config("[ingest]\nbatch_seconds = 0.2\n")
    write_events(tmp_path / "events.jsonl")
    count = database.scalar
    base = [sys.executable, "-m", "bot", "-c", "config.toml"]
    replay = subprocess.Popen(
        [*base, "replay", "events.jsonl", "--rate", str(RATE)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while count("SELECT count(*) FROM messages") < 100:
            assert replay.poll() is None, replay.communicate()
            assert time.monotonic() < deadline, "the replay never stored a message"
            time.sleep(0.1)
        forget = subprocess.run(
            [*base, "privacy", "forget", "discord:u1", "--yes"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert forget.returncode == 0, forget.stderr
        assert replay.poll() is None, "the replay ended before the erasure: nothing was tested"
        out, err = replay.communicate(timeout=120)
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.communicate()
    assert replay.returncode == 0, err
    assert "lost 0" in out
    assert count("SELECT count(*) FROM members WHERE platform_id = 'u1'") == 0
    assert count("SELECT count(*) FROM messages") == 0
    anonymous = count("SELECT sum(anonymous_messages) FROM channel_daily")
    assert anonymous == EVENTS - 1  # every message counted once: folded in, or anonymous
