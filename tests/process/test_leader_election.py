"""Two real `cohort run` processes on one PostgreSQL database: one sends, the other takes over.

Both run `--no-discord --no-telegram --transport file --out sent.jsonl` in one folder
(two instances of one deployment), on a scratch database created for the test (the
CLI has no way to pick a schema). A digest for 150 members is queued with `cohort
digest run`; the leader sends it at 10 per second. `kill -9` of the leader after 30
deliveries: the other instance takes over within `leader_poll_seconds` and sends the
rest; each delivery is in the file exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import PG_URL
from tests.process.helpers import CATALOG, clean_env, lines, write_dm_opt_ins
from tests.process.helpers import cohort as run_cohort

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MEMBERS = 150
POLL = 1.0  # [database] leader_poll_seconds
COMMAND = (sys.executable, "-m", "bot", "-c", "config.toml")
RUN = ("run", "--no-discord", "--no-telegram", "--transport", "file", "--out", "sent.jsonl")
SERVER = PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1)


def dsn(database: str) -> str:
    """The asyncpg DSN of `database` on the test server."""
    return SERVER.rsplit("/", 1)[0] + "/" + database


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(SERVER)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def database() -> Iterator[str]:
    """A scratch database on the test server, dropped (with its connections) afterwards."""
    name = f"cohort_leader_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def query(database: str, sql: str) -> list[asyncpg.Record]:
    """Rows of `sql` in `database` (empty before the outbox exists)."""

    async def fetch() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn(database))
        try:
            return list(await conn.fetch(sql))
        except asyncpg.UndefinedTableError:
            return []
        finally:
            await conn.close()

    return asyncio.run(fetch())


def cohort(folder: Path, *args: str) -> str:
    """Run a `cohort` command to completion in `folder`; its stdout."""
    done = run_cohort(folder, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def prepare(folder: Path, database: str) -> None:
    """Config, catalog, MEMBERS members opted in to DMs, and their digest queued."""
    url = PG_URL.rsplit("/", 1)[0] + "/" + database
    (folder / "config.toml").write_text(
        f'[database]\nurl = "{url}"\nleader_poll_seconds = {POLL}\n'
        '[delivery]\nsend_rate = 10\nquiet_start = "00:00"\nquiet_end = "00:00"\n',
        encoding="utf-8",
    )
    write_dm_opt_ins(folder / "events.jsonl", MEMBERS)
    cohort(folder, "courses", "import", str(CATALOG))
    cohort(folder, "import", "events", "events.jsonl")
    cohort(folder, "digest", "run", "--community", "discord:g1")


def start_run(folder: Path, log: Path) -> subprocess.Popen[bytes]:
    """`cohort run` without bots, writing deliveries to sent.jsonl and its log to `log`."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            [*COMMAND, *RUN],
            cwd=folder,
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


def wait_for(
    what: str,
    done: Callable[[], bool],
    processes: list[subprocess.Popen[bytes]],
    every: Callable[[], None] = lambda: None,
) -> float:
    """Poll `done()` (calling `every()` each time); the seconds it took. Fail if a process ends."""
    start = time.monotonic()
    while not done():
        for process in processes:
            assert process.poll() is None, f"cohort run ended before {what}"
        assert time.monotonic() - start < 120, f"never saw {what}"
        every()
        time.sleep(0.05)
    return time.monotonic() - start


def role(log: Path) -> str | None:
    """`leader` or `follower`: what the instance logged it became first (None: nothing yet)."""
    text = log.read_text(errors="replace")
    found = {name: text.find(f" {name}: ") for name in ("leader", "follower")}
    seen = {name: at for name, at in found.items() if at >= 0}
    return min(seen, key=lambda name: seen[name]) if seen else None


def claim_holders(database: str) -> set[int]:
    """Pids of the processes holding outbox claims right now."""
    rows = query(database, "SELECT DISTINCT claimed_by FROM outbox WHERE claimed_by IS NOT NULL")
    return {int(row["claimed_by"].split(":")[1]) for row in rows}


def has_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open (Linux /proc)."""
    folder = Path(f"/proc/{pid}/fd")
    return any(os.path.realpath(fd) == str(path.resolve()) for fd in folder.iterdir())


def stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    """Signal `process` and reap it."""
    process.send_signal(sig)
    try:
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_one_leader_sends_and_another_takes_over_after_kill_9(
    tmp_path: Path, database: str
) -> None:
    """Two instances: only the leader sends; kill -9 it, the other finishes: 0 missing, 0 twice."""
    prepare(tmp_path, database)
    queued = {row["id"] for row in query(database, "SELECT id FROM outbox")}
    assert len(queued) == MEMBERS
    out = tmp_path / "sent.jsonl"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    processes = [start_run(tmp_path, log) for log in logs]
    try:
        wait_for("both roles", lambda: all(role(log) for log in logs), processes)
        roles = [role(log) for log in logs]
        assert sorted(roles, key=str) == ["follower", "leader"], roles  # exactly one leads
        leader, follower = processes if roles[0] == "leader" else processes[::-1]
        follower_log = logs[processes.index(follower)]
        holders: set[int] = set()
        wait_for(
            "30 deliveries",
            lambda: len(lines(out)) >= 30,
            processes,
            every=lambda: holders.update(claim_holders(database)),
        )
        assert holders == {leader.pid}  # only the leader ever claimed a delivery
        assert not has_open(follower.pid, out)  # the follower never wrote one
        killed = time.monotonic()
        assert stop(leader, signal.SIGKILL) == -signal.SIGKILL
        by_leader = len(lines(out))
        wait_for("the takeover", lambda: " leader: " in follower_log.read_text(), [follower])
        took = time.monotonic() - killed
        wait_for("a delivery by the new leader", lambda: len(lines(out)) > by_leader, [follower])
        print(
            f"kill -9 at {by_leader} sent; new leader after {took:.2f}s, sending after "
            f"{time.monotonic() - killed:.2f}s (leader_poll_seconds = {POLL})"
        )
        wait_for(
            "every delivery sent",
            lambda: (
                query(database, "SELECT count(*) AS n FROM outbox WHERE status = 'sent'")[0]["n"]
                == MEMBERS
            ),
            [follower],
        )
        assert stop(follower, signal.SIGTERM) == 0, follower_log.read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    written = Counter(line["delivery"] for line in lines(out))
    assert set(written) == queued and set(written.values()) == {1}  # 0 missing, 0 twice
    statuses = Counter(row["status"] for row in query(database, "SELECT status FROM outbox"))
    assert statuses == Counter({"sent": MEMBERS})
