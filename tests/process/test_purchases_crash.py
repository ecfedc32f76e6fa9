"""Real `cohort web` processes and real signals: an acknowledged purchase is never lost.

The shop does not resend an order it got a 2xx for, so `kill -9` right after the
last 2xx must leave every acknowledged order in the database: a real SQLite file
and a scratch database on the real PostgreSQL (`tests/process/conftest.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.process.conftest import ProcessDatabase
from tests.process.helpers import clean_env, cohort

SECRET = "s3cret"
ORDERS = 50

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_web(folder: Path, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "-c", "config.toml", "web"],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except (urllib.error.URLError, ConnectionError):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "cohort web never answered"
            time.sleep(0.1)


def post_order(port: int, order_id: str) -> int:
    raw = json.dumps({"order_id": order_id, "course": "rust-101", "member": "discord:u1"}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/purchase",
        data=raw,
        headers={"Content-Type": "application/json", "X-Cohort-Signature": signature},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def stored_orders(database: ProcessDatabase) -> list[str]:
    found = database.rows("SELECT dedupe_key FROM interactions WHERE kind = 'purchase'")
    return sorted(row[0] for row in found)  # in Python: collations differ between backends


def test_kill_9_right_after_the_last_2xx_loses_no_order(
    tmp_path: Path, database: ProcessDatabase
) -> None:
    """50 orders answered 202, then SIGKILL: after a restart all 50 are stored, once each."""
    port = free_port()
    database.config(
        f'[web]\nhost = "127.0.0.1"\nport = {port}\nwebhook_secret = "{SECRET}"\n'
        # A batch of the ingest pipeline would only be due in a minute: nothing may wait
        # for it.
        "[ingest]\nbatch_seconds = 60\n"
    )
    (tmp_path / "courses.toml").write_text(
        '[[courses]]\nid = "rust-101"\ntitle = "Rust"\n', encoding="utf-8"
    )
    setup = cohort(tmp_path, "courses", "import", "courses.toml")
    assert setup.returncode == 0, setup.stderr

    web = start_web(tmp_path, port)
    try:
        statuses = [post_order(port, f"o-{n}") for n in range(ORDERS)]
        web.send_signal(signal.SIGKILL)
        web.wait(timeout=30)
    finally:
        if web.poll() is None:
            web.kill()
        web.communicate()
    assert statuses == [202] * ORDERS
    assert web.returncode == -signal.SIGKILL

    restarted = start_web(tmp_path, port)
    try:
        assert post_order(port, "o-0") == 200  # a shop retry after the crash: a duplicate
        restarted.send_signal(signal.SIGTERM)
        _, err = restarted.communicate(timeout=60)
    finally:
        if restarted.poll() is None:
            restarted.kill()
            restarted.communicate()
    assert restarted.returncode == 0, err
    assert stored_orders(database) == sorted(f"purchase:webhook:o-{n}" for n in range(ORDERS))
