"""`cohort demo` end to end on a small community: the tour, the funnel, the sanity check, reuse."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.cli.test_cli import cohort

SMALL = ("--members", "30", "--days", "21")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One full demo on a small community: its folder and what it printed."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    code, out, err = cohort("demo", "--dir", str(folder), *SMALL)
    assert code == 0, err
    return folder, out


@pytest.fixture
def demo_copy(demo_run: tuple[Path, str], tmp_path: Path) -> Path:
    """A private copy of the demo folder (config, store, models)."""
    folder = tmp_path / "demo"
    shutil.copytree(demo_run[0], folder)
    return folder


def flat(text: str) -> str:
    """Output with the terminal's line wrapping undone."""
    return " ".join(text.split())


def test_the_demo_shows_each_step_and_the_sanity_check(demo_run: tuple[Path, str]) -> None:
    """The demo shows /recommend on both platforms, /promote, the digest, funnel and sanity line."""
    folder, out = demo_run
    text = flat(out)
    for heading in (
        "What a member sees: /recommend",
        "What a moderator sees: /promote",
        "The weekly digest",
        "Members click and buy",
        "Funnel",
        "Sanity check: for ",
        "The report: cohort report",
    ):
        assert heading in text
    assert "Discord · only you can see this: /recommend by" in text
    assert "Telegram · in the private chat with the bot: /recommend by" in text
    assert "1. Interested Not for me Learn more ↗" in text  # the Discord buttons of pick 1
    assert "为你推荐的课程" in text and "1. 感兴趣 不适合我 了解更多 ↗" in text  # in Chinese
    assert "Confirm and send" in text
    assert "personal picks" in text and "popularity" in text
    assert (folder / "report.html").exists() and (folder / "digest-deliveries.jsonl").exists()


def test_simulated_members_click_and_buy_through_the_real_paths(
    demo_run: tuple[Path, str],
) -> None:
    """The funnel counts the simulated clicks and purchases, for picks and for digests."""
    folder, _ = demo_run
    code, out, err = cohort("-c", str(folder / "config.toml"), "funnel", "--json")
    assert code == 0, err
    rows = {row["variant"]: row for row in json.loads(out)["variants"]}
    assert rows["personal"]["impressions"] > 0
    assert rows["personal"]["clicked"] > 0 and rows["personal"]["purchases"] > 0
    assert rows["digest:personal"]["impressions"] > 0
    with sqlite3.connect(folder / "cohort.db") as conn:
        kinds = dict(
            conn.execute(
                "SELECT kind, count(*) FROM interactions WHERE source IN ('web', 'webhook') "
                "GROUP BY kind"
            ).fetchall()
        )
    assert kinds.get("click", 0) > 0 and kinds.get("purchase", 0) > 0


def test_running_the_demo_again_keeps_what_the_user_changed(demo_copy: Path) -> None:
    """A second run reuses the store: a member the user erased stays erased, nothing re-imported."""
    with sqlite3.connect(demo_copy / "cohort.db") as conn:
        (member,) = conn.execute(
            "SELECT platform_id FROM members WHERE platform = 'discord' ORDER BY id LIMIT 1"
        ).fetchone()
        (messages,) = conn.execute("SELECT count(*) FROM messages").fetchone()
    config = str(demo_copy / "config.toml")
    code, _, err = cohort("-c", config, "privacy", "forget", f"discord:{member}", "--yes")
    assert code == 0, err

    code, out, err = cohort("demo", "--dir", str(demo_copy), *SMALL, "--store-only")
    assert code == 0, err
    assert "reusing the demo store" in flat(out)
    with sqlite3.connect(demo_copy / "cohort.db") as conn:
        gone = conn.execute("SELECT 1 FROM members WHERE platform_id = ?", (member,)).fetchone()
        (after,) = conn.execute("SELECT count(*) FROM messages").fetchone()
    assert gone is None
    assert 0 < after < messages  # the erased member's messages did not come back


def test_fresh_rebuilds_the_demo_store(demo_copy: Path) -> None:
    """--fresh deletes the demo's own files and builds a new store; other files stay."""
    mine = demo_copy / "notes.txt"
    mine.write_text("keep me", encoding="utf-8")
    code, out, err = cohort(
        "demo", "--dir", str(demo_copy), "--members", "8", "--days", "7", "--fresh", "--store-only"
    )
    assert code == 0, err
    assert "--fresh: deleted" in flat(out)
    assert mine.read_text(encoding="utf-8") == "keep me"
    assert not (demo_copy / "report.html").exists()
    assert json.loads((demo_copy / "demo.json").read_text("utf-8"))["members"] == 8
    with sqlite3.connect(demo_copy / "cohort.db") as conn:
        (interactions,) = conn.execute(
            "SELECT count(*) FROM interactions WHERE kind = 'impression'"
        ).fetchone()
    assert interactions == 0  # the first run's simulated picks are gone with its store
