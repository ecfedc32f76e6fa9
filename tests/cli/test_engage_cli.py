"""`cohort promote` and `cohort digest` on data imported by `cohort demo`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import cohort


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `cohort demo` (imported, trained), copied by each test."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    code, _, err = cohort(
        "demo", "--dir", str(folder), "--members", "24", "--days", "21", "--store-only"
    )
    assert code == 0, err
    return folder


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo (config, database, models)."""
    folder = tmp_path / "demo"
    shutil.copytree(demo_template, folder)
    return folder


def run(demo: Path, *args: str) -> tuple[int, str, str]:
    """The CLI with the demo's config."""
    return cohort("--config", str(demo / "config.toml"), *args)


def discord_community(demo: Path) -> str:
    """The demo's Discord community as platform:id."""
    code, out, _ = run(demo, "stats", "--json")
    assert code == 0
    data = json.loads(out)
    return next(
        f"{c['platform']}:{c['platform_id']}"
        for c in data["communities"]
        if c["platform"] == "discord"
    )


def test_promote_dry_run_previews_without_writing(demo: Path) -> None:
    """--dry-run --json shows the audience and what blocks it, and queues nothing."""
    place = discord_community(demo)
    code, out, err = run(
        demo,
        "promote",
        "rust-async",
        "--audience",
        "opted-in",
        "--community",
        place,
        "--dry-run",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    plan = data["plan"]
    assert data["sent"] is False and plan["audience"] == "opted-in"
    assert plan["audience_size"] > 0
    blocked = sum(n for key, n in plan.items() if key.startswith("blocked_"))
    assert plan["audience_size"] == plan["deliverable"] + plan["deferred"] + blocked
    code, out, _ = run(demo, "stats", "--json")
    assert json.loads(out)["tables"]["outbox"] == 0


def test_promote_to_a_file_writes_each_delivery_once(demo: Path) -> None:
    """--transport file writes one JSON line per DM; sending again adds nothing."""
    place = discord_community(demo)
    out_file = demo / "deliveries.jsonl"
    args = (
        "promote",
        "rust-async",
        "--audience",
        "top:5",
        "--community",
        place,
        "--transport",
        "file",
        "--out",
        str(out_file),
        "--yes",
        "--json",
    )
    code, out, err = run(demo, *args)
    assert code == 0, err
    result = json.loads(out)
    lines = [json.loads(line) for line in out_file.read_text("utf-8").splitlines()]
    assert result["sent"] and result["written"] == len(lines) > 0
    assert {line["kind"] for line in lines} == {"dm"}
    assert {line["course"] for line in lines} == {"rust-async"}
    assert all(line["to"].startswith("discord:") and line["text"] for line in lines)
    code, out, _ = run(demo, *args)
    assert code == 0 and json.loads(out)["written"] == 0
    assert len(out_file.read_text("utf-8").splitlines()) == len(lines)


def test_promote_needs_yes_outside_a_terminal_and_a_known_course(demo: Path) -> None:
    """Sending without --yes, an unknown course or a file transport without --out: exit 1."""
    place = discord_community(demo)
    code, _, err = run(
        demo, "promote", "rust-async", "--audience", "opted-in", "--community", place
    )
    assert code == 1 and "--yes" in err
    code, _, err = run(
        demo, "promote", "nope", "--audience", "opted-in", "--community", place, "--dry-run"
    )
    assert code == 1 and err.strip() == "error: unknown or inactive course 'nope'"
    code, _, err = run(
        demo, "promote", "rust-async", "--audience", "opted-in", "--transport", "file", "--yes"
    )
    assert code == 1 and "--out" in err
    code, _, err = run(demo, "promote", "rust-async", "--audience", "everyone", "--dry-run")
    assert code == 1 and "--community is required" in err


def test_digest_runs_once_per_period_into_a_file(demo: Path) -> None:
    """A scheduled channel and DM digest is written once; running it again does nothing."""
    place = discord_community(demo)
    code, out, err = run(
        demo,
        "digest",
        "schedule",
        "--community",
        place,
        "--channel",
        "123456789012345678",
        "--timezone",
        "Europe/Berlin",
    )
    assert code == 0, err
    assert "Europe/Berlin" in out and "123456789012345678" in out
    out_file = demo / "digest.jsonl"
    code, out, err = run(
        demo,
        "digest",
        "run",
        "--community",
        place,
        "--transport",
        "file",
        "--out",
        str(out_file),
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    lines = [json.loads(line) for line in out_file.read_text("utf-8").splitlines()]
    assert report["claimed"] and report["channel_post"]
    assert report["written"] == len(lines) == 1 + report["personal"]
    channel = [line for line in lines if line["kind"] == "channel"]
    assert channel[0]["to"] == "discord:channel:123456789012345678"
    assert channel[0]["text"].startswith("This week in")
    code, out, _ = run(
        demo,
        "digest",
        "run",
        "--community",
        place,
        "--transport",
        "file",
        "--out",
        str(out_file),
        "--json",
    )
    assert code == 0 and json.loads(out)["claimed"] is False
    assert len(out_file.read_text("utf-8").splitlines()) == len(lines)


def test_digest_without_a_channel_says_how_to_set_one(demo: Path) -> None:
    """No digest channel yet: only personal digests, and the output names the fix."""
    place = discord_community(demo)
    out_file = demo / "digest.jsonl"
    args = ("digest", "run", "--community", place, "--transport", "file", "--out", str(out_file))
    code, out, err = run(demo, *args)
    assert code == 0, err
    assert "channel post no" in " ".join(out.split())
    assert "cohort digest schedule --channel ID" in " ".join(out.split())
    lines = [json.loads(line) for line in out_file.read_text("utf-8").splitlines()]
    assert lines and {line["kind"] for line in lines} == {"dm"}


def test_digest_schedule_rejects_a_bad_cron_or_timezone(demo: Path) -> None:
    """A malformed cron or an unknown timezone is a one-line error and changes nothing."""
    place = discord_community(demo)
    code, _, err = run(demo, "digest", "schedule", "--community", place, "--cron", "every monday")
    assert code == 1 and err.startswith("error: --cron 'every monday'")
    code, _, err = run(demo, "digest", "schedule", "--community", place, "--timezone", "Mars/X")
    assert code == 1 and "unknown timezone" in err
