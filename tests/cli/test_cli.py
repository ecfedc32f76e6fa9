"""The `cohort` command as a user runs it: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.demo import synthetic

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "bot" / "demo" / "data" / "courses.toml"


def cohort(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def write_config(folder: Path, extra: str = "") -> Path:
    path = folder / "config.toml"
    path.write_text('[database]\nurl = "sqlite+aiosqlite:///cohort.db"\n' + extra, encoding="utf-8")
    return path


def community_events(folder: Path, members: int = 20, days: int = 10) -> Path:
    community = synthetic.generate("discord", members=members, days=days, seed=3)
    path = folder / "events.jsonl"
    synthetic.write_jsonl(path, synthetic.events(community, include_purchases=False))
    return path


def test_help_lists_every_command() -> None:
    """`cohort --help` shows the command tree."""
    code, out, _ = cohort("--help")
    assert code == 0
    for command in ("run", "web", "import", "courses", "replay", "stats", "demo", "db"):
        assert command in out


def test_start_up_imports_nothing_heavy() -> None:
    """The CLI's start-up path imports no TensorFlow, sklearn, platform SDK or database driver."""
    probe = (
        "import sys, bot.cli.main\n"
        "heavy = ('tensorflow', 'keras', 'sklearn', 'discord', 'telegram', 'sqlalchemy',"
        " 'alembic', 'numpy', 'networkx', 'asyncpg', 'aiosqlite')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "[]"


def test_bad_config_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """A bad setting exits 1 with a single line naming the key."""
    config = write_config(tmp_path, '[privacy]\nmode = "maybe"\n')
    code, _, err = cohort("--config", str(config), "stats")
    assert code == 1
    assert err.strip().count("\n") == 0
    assert err.startswith(f"error: {config}: privacy.mode:")


def test_import_stats_and_idempotency(tmp_path: Path) -> None:
    """Import events, then stats --json counts them; a second import adds nothing."""
    config = str(write_config(tmp_path))
    events = community_events(tmp_path)
    code, out, _ = cohort("-c", config, "import", "events", str(events), "--json")
    assert code == 0
    report = json.loads(out)[0]
    assert report["written"]["messages"] > 0
    code, out, _ = cohort("-c", config, "stats", "--json")
    first = json.loads(out)
    assert first["tables"]["messages"] == report["written"]["messages"]
    [community] = first["communities"]
    assert community["messages"] == community["stored_messages"] + community["anonymous_messages"]
    cohort("-c", config, "import", "events", str(events))
    _, out, _ = cohort("-c", config, "stats", "--json")
    assert json.loads(out) == first


def test_import_error_exits_1_naming_file_and_line(tmp_path: Path) -> None:
    """Malformed input: exit 1, one line with file:line, nothing imported."""
    config = str(write_config(tmp_path))
    events = community_events(tmp_path)
    with events.open("a", encoding="utf-8") as handle:
        handle.write('{"type": "join", "platform": "discord"}\n')
    lines = events.read_text(encoding="utf-8").count("\n")
    code, _, err = cohort("-c", config, "import", "events", str(events))
    assert code == 1
    assert err.strip() == f"error: {events}:{lines}: community: required for type 'join'"
    _, out, _ = cohort("-c", config, "stats", "--json")
    assert json.loads(out)["tables"]["messages"] == 0


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    """A file that does not exist is named, not a traceback."""
    config = str(write_config(tmp_path))
    code, _, err = cohort("-c", config, "import", "events", str(tmp_path / "nope.jsonl"))
    assert code == 1 and "nope.jsonl: cannot read" in err


def test_courses_import_and_list(tmp_path: Path) -> None:
    """The catalog imports from TOML and lists as JSON."""
    config = str(write_config(tmp_path))
    code, out, _ = cohort("-c", config, "courses", "import", str(CATALOG))
    in_catalog = len(tomllib.loads(CATALOG.read_text(encoding="utf-8"))["courses"])
    assert code == 0 and f"{in_catalog} added" in out
    code, out, _ = cohort("-c", config, "courses", "list", "--json")
    listed = json.loads(out)
    assert {c["id"] for c in listed} >= {"rust-101", "python-zh"}
    assert next(c for c in listed if c["id"] == "rust-101")["price"] == "49.00"


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    """`db upgrade` migrates an empty database; `db current` reports it up to date."""
    config = str(write_config(tmp_path))
    code, out, _ = cohort("-c", config, "db", "upgrade")
    assert code == 0 and "database at revision" in out
    code, out, _ = cohort("-c", config, "db", "current")
    assert code == 0 and "up to date" in out


def test_unreachable_postgres_is_one_line(tmp_path: Path) -> None:
    """A database that cannot be reached is reported in one line, password hidden."""
    config = tmp_path / "config.toml"
    config.write_text(
        '[database]\nurl = "postgresql+asyncpg://u:secret@127.0.0.1:1/none"\n', encoding="utf-8"
    )
    code, _, err = cohort("-c", str(config), "stats")
    assert code == 1
    assert err.startswith("error: cannot open database postgresql+asyncpg://u:***@127.0.0.1:1/none")
    assert "secret" not in err


def test_demo_runs_offline(tmp_path: Path) -> None:
    """`cohort demo` writes real export formats, imports them and shows both communities."""
    folder = tmp_path / "demo"
    code, out, err = cohort(
        "demo", "--dir", str(folder), "--members", "12", "--days", "10", "--store-only"
    )
    assert code == 0, err
    assert "cohort import purchases: " in out
    assert list((folder / "discord").glob("*.json")) and (folder / "result.json").exists()
    _, out, _ = cohort("-c", str(folder / "config.toml"), "stats", "--json")
    platforms = {c["platform"] for c in json.loads(out)["communities"]}
    assert platforms == {"discord", "telegram"}


def cli_process(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_output(process: subprocess.Popen[str], needle: str, limit: float = 60) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if needle in line:
            return
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"never printed {needle!r}")


@pytest.mark.slow
def test_replay_stops_gracefully_on_sigterm_and_writes_all_it_handed_over(tmp_path: Path) -> None:
    """SIGTERM mid-replay: the process flushes and every handed-over event is in the store."""
    config = str(write_config(tmp_path, "[ingest]\nbatch_seconds = 30\n"))
    events = community_events(tmp_path, members=60, days=30)
    process = cli_process("-c", config, "replay", str(events), "--rate", "400", cwd=tmp_path)
    wait_for_output(process, "handed over")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "stopped after handing over" in out
    handed = int(out.split("stopped after handing over ")[1].split(" ")[0].replace(",", ""))
    written = int(out.split("written ")[1].split(",")[0].replace(",", ""))
    assert 0 < handed < sum(1 for _ in events.open(encoding="utf-8"))
    assert written == handed


@pytest.mark.slow
def test_replay_after_a_crash_leaves_no_duplicates(tmp_path: Path) -> None:
    """kill -9 mid-replay, replay again: the store equals a clean import of the same file."""
    events = community_events(tmp_path, members=60, days=30)
    crashed = tmp_path / "crashed"
    clean = tmp_path / "clean"
    crashed.mkdir()
    clean.mkdir()
    config = str(write_config(crashed, "[ingest]\nbatch_size = 50\nbatch_seconds = 0.05\n"))
    process = cli_process("-c", config, "replay", str(events), "--rate", "2000", cwd=crashed)
    wait_for_output(process, "handed over")
    process.kill()
    process.wait(timeout=30)
    code, _, err = cohort("-c", config, "replay", str(events), "--rate", "0")
    assert code == 0, err
    _, after_crash, _ = cohort("-c", config, "stats", "--json")
    clean_config = str(write_config(clean))
    cohort("-c", clean_config, "import", "events", str(events))
    _, reference, _ = cohort("-c", clean_config, "stats", "--json")
    assert json.loads(after_crash) == json.loads(reference)
