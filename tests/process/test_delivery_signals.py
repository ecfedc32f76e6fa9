"""Real processes, real signals: deliveries through kill -9 and SIGTERM, 0 missing, 0 twice.

The sender is the real deliveries job of `cohort run` (`tests/process/dispatch_runner.py`)
with the file transport standing in for Discord; the digest tests run the real
`cohort digest run --transport file`. Each delivery line carries its outbox id, so
the file says exactly what a member would have received.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import PG_URL, PgSchema
from tests.process.conftest import ProcessDatabase
from tests.process.helpers import CATALOG, clean_env, cohort, lines, write_dm_opt_ins

pytestmark = pytest.mark.slow

MEMBERS = 150
PERIOD = "2024-05-06T09:00:00+00:00"


def config(folder: Path, url: str, rate: float) -> Path:
    """A config with the database, `send_rate`, and no quiet hours."""
    path = folder / "config.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n[delivery]\nsend_rate = {rate}\n'
        'quiet_start = "00:00"\nquiet_end = "00:00"\n',
        encoding="utf-8",
    )
    return path


def wait_for(
    what: str, done: Any, process: subprocess.Popen[str] | None, limit: float = 90
) -> None:
    """Poll `done()` until true; fail if `process` ended first or it takes over `limit`."""
    deadline = time.monotonic() + limit
    while not done():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"process ended before {what}: {out}\n{err}")
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)


class Database:
    """Counts outbox rows by status on SQLite (a file) or PostgreSQL (a schema)."""

    def __init__(self, path: Path | None = None, schema: str | None = None) -> None:
        self.path, self.schema = path, schema

    def statuses(self) -> Counter[str]:
        """Outbox rows per status (empty before the schema exists)."""
        query = "SELECT status, count(*) FROM outbox GROUP BY status"
        if self.path is not None:
            try:
                with sqlite3.connect(self.path, timeout=30) as db:
                    return Counter(dict(db.execute(query).fetchall()))
            except sqlite3.OperationalError:
                return Counter()

        async def fetch() -> Counter[str]:
            conn = await asyncpg.connect(PG_URL.replace("+asyncpg", ""))
            try:
                await conn.execute(f'SET search_path TO "{self.schema}"')
                return Counter({r[0]: r[1] for r in await conn.fetch(query)})
            except asyncpg.UndefinedTableError:
                return Counter()
            finally:
                await conn.close()

        return asyncio.run(fetch())


def start_sender(folder: Path, schema: str | None) -> subprocess.Popen[str]:
    """The deliveries job of `cohort run`, writing to `sent.jsonl`."""
    command = [sys.executable, "-m", "tests.process.dispatch_runner", "config.toml", "sent.jsonl"]
    command += ["--members", str(MEMBERS)] + (["--schema", schema] if schema else [])
    return subprocess.Popen(
        command,
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """(config url, schema, Database) for a real SQLite file and the real PostgreSQL."""
    if request.param == "sqlite":
        yield "sqlite+aiosqlite:///cohort.db", None, Database(path=tmp_path / "cohort.db")
        return
    schema = PgSchema()
    asyncio.run(schema.create())
    try:
        yield PG_URL, schema.name, Database(schema=schema.name)
    finally:
        asyncio.run(schema.drop())


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_campaign_survives_a_signal_mid_send_with_nothing_missing_or_twice(
    tmp_path: Path, store: Any, stop: signal.Signals
) -> None:
    """Signal the sender after 30 of 150 DMs, restart it: every DM written exactly once."""
    url, schema, database = store
    config(tmp_path, url, rate=10)
    out = tmp_path / "sent.jsonl"
    sender = start_sender(tmp_path, schema)
    try:
        wait_for("30 deliveries", lambda: len(lines(out)) >= 30, sender)
        sender.send_signal(stop)
        _, err = sender.communicate(timeout=60)
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.communicate()
    statuses = database.statuses()
    if stop is signal.SIGTERM:
        assert sender.returncode == 0, err
        assert statuses["sending"] == 0, statuses  # every claim settled or given back
        assert statuses["sent"] == len(lines(out)) < MEMBERS
    else:
        assert sender.returncode == -signal.SIGKILL
    restarted = start_sender(tmp_path, schema)
    try:
        wait_for("every delivery", lambda: database.statuses()["sent"] == MEMBERS, restarted)
        restarted.send_signal(signal.SIGTERM)
        _, err = restarted.communicate(timeout=60)
    finally:
        if restarted.poll() is None:
            restarted.kill()
            restarted.communicate()
    assert restarted.returncode == 0, err
    written = Counter(line["delivery"] for line in lines(out))
    assert len(written) == MEMBERS and set(written.values()) == {1}  # 0 missing, 0 twice
    assert database.statuses() == Counter({"sent": MEMBERS})


# -- cohort digest run --transport file ----------------------------------------------------------


DIGEST = ("digest", "run", "--community", "discord:g1", "--transport", "file")


def digest_folder(database: ProcessDatabase) -> None:
    """A store (SQLite or PostgreSQL) with the demo catalog and MEMBERS members opted in to DMs."""
    folder = database.folder
    database.config('[delivery]\nsend_rate = 40\nquiet_start = "00:00"\nquiet_end = "00:00"\n')
    write_dm_opt_ins(folder / "events.jsonl", MEMBERS)
    for step in (("courses", "import", str(CATALOG)), ("import", "events", "events.jsonl")):
        done = cohort(folder, *step)
        assert done.returncode == 0, done.stderr


def outbox_statuses(database: ProcessDatabase) -> Counter[str]:
    """Outbox rows per status (empty before the schema exists)."""
    return Counter(dict(database.rows("SELECT status, count(*) FROM outbox GROUP BY status")))


@pytest.mark.parametrize(
    ("stop", "after"),
    [
        pytest.param(signal.SIGKILL, 40, id="kill-9-mid-write"),
        pytest.param(signal.SIGINT, 40, id="ctrl-c-mid-write"),
        pytest.param(signal.SIGKILL, 0, id="kill-9-during-build"),
    ],
)
def test_file_digest_rerun_writes_exactly_what_is_missing(
    database: ProcessDatabase, stop: signal.Signals, after: int
) -> None:
    """Interrupt `digest run --transport file`, rerun it: each member's digest once, then done."""
    digest_folder(database)
    tmp_path = database.folder
    out = tmp_path / "digest.jsonl"
    command = [sys.executable, "-m", "bot", "-c", "config.toml", *DIGEST]
    command += ["--out", str(out), "--period", PERIOD]
    first = subprocess.Popen(
        command, cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        if after:
            wait_for(f"{after} lines", lambda: len(lines(out)) >= after, None)
        else:  # as soon as the run is claimed, while it is being built
            wait_for(
                "the run's claim",
                lambda: database.scalar("SELECT count(*) FROM scheduled_runs") > 0,
                None,
            )
        first.send_signal(stop)
        first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode != 0  # interrupted, not finished
    assert len(lines(out)) < MEMBERS
    rerun = cohort(tmp_path, *DIGEST, "--out", str(out), "--period", PERIOD)
    assert rerun.returncode == 0, rerun.stderr
    assert "already done" not in rerun.stdout, rerun.stdout
    written = Counter(line["delivery"] for line in lines(out))
    assert len(written) == MEMBERS and set(written.values()) == {1}, rerun.stdout
    assert outbox_statuses(database) == Counter({"sent": MEMBERS})
    again = cohort(tmp_path, *DIGEST, "--out", str(out), "--period", PERIOD)
    assert again.returncode == 0 and "was already done" in again.stdout, again.stdout
    assert len(lines(out)) == MEMBERS
