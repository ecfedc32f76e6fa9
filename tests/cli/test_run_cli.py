"""`cohort run` as a real process: without bots, and one instance per SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.store.instance_lock import InstanceLocked, single_instance

pytestmark = pytest.mark.slow


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}


def configure(folder: Path) -> None:
    (folder / "config.toml").write_text(
        '[database]\nurl = "sqlite+aiosqlite:///cohort.db"\n', encoding="utf-8"
    )


def start_run(folder: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "-c",
                "config.toml",
                "run",
                "--no-discord",
                "--no-telegram",
            ],
            cwd=folder,
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


def wait_for(process: subprocess.Popen[bytes], log: Path, text: str) -> None:
    deadline = time.monotonic() + 90
    while text not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"never logged {text!r}"
        time.sleep(0.1)


def run_once(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "-c", "config.toml", "run", "--no-discord", "--no-telegram"],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_run_without_bots_runs_the_jobs_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`--no-discord --no-telegram` needs no token: the jobs start, SIGTERM exits 0."""
    configure(tmp_path)
    log = tmp_path / "run.log"
    process = start_run(tmp_path, log)
    try:
        wait_for(process, log, "background jobs:")
    finally:
        code = stop(process, signal.SIGTERM)
    assert code == 0, log.read_text()


def test_a_second_run_on_the_same_sqlite_file_refuses_with_one_line(tmp_path: Path) -> None:
    """While one `cohort run` holds the file, another exits 1 naming it; after kill -9, starts."""
    configure(tmp_path)
    log = tmp_path / "run.log"
    first = start_run(tmp_path, log)
    try:
        wait_for(first, log, "background jobs:")
        second = run_once(tmp_path)
        assert second.returncode == 1
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        database = tmp_path / "cohort.db"
        assert lines[0].startswith(f"error: another `cohort run` is already using {database}")
        assert f"(pid {first.pid})" in lines[0]
    finally:
        stop(first, signal.SIGKILL)
    # The OS released the lock with the process: the lock file left behind blocks nothing.
    third_log = tmp_path / "third.log"
    third = start_run(tmp_path, third_log)
    try:
        wait_for(third, third_log, "background jobs:")
    finally:
        assert stop(third, signal.SIGTERM) == 0


def test_the_lock_is_released_when_its_holder_ends(tmp_path: Path) -> None:
    """In-process: a held lock refuses a second holder; released, it can be taken again."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cohort.db'}"
    with single_instance(url) as path:
        assert path == tmp_path / "cohort.db.lock"
        pid = os.fork()
        if pid == 0:  # another process: flock locks belong to open files, not threads
            try:
                with single_instance(url):
                    os._exit(0)
            except InstanceLocked:
                os._exit(3)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3
    with single_instance(url):
        pass
    with single_instance("postgresql+asyncpg://localhost/db") as nothing:
        assert nothing is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--transport", "file"], "error: --transport file needs --out FILE"),
        (["--out", "sent.jsonl"], "error: --out only applies with --transport file"),
    ],
)
def test_run_rejects_an_incomplete_file_transport_with_one_line(
    tmp_path: Path, options: list[str], message: str
) -> None:
    """`--transport file` without `--out` (or the reverse) exits 1 before opening anything."""
    configure(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "-c", "config.toml", "run", "--no-discord", *options],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [message]
    assert not (tmp_path / "cohort.db").exists()
