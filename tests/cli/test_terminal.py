"""The terminal as a new user sees it: help texts, narrow tables, summaries, warnings, no spam."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from bot.cli.main import app
from recsys.quiet_tensorflow import is_noise
from tests.cli.test_cli import ROOT, cohort, runner
from tests.cli.test_export_cli import imported
from tests.cli.test_recsys_cli import chat_only_store


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A config whose store holds a synthetic Discord community, trained once."""
    config, _ = imported(tmp_path_factory.mktemp("terminal"))
    code, _, err = cohort("-c", config, "train", "--json")
    assert code == 0, err
    return config


def terminal(*args: str, columns: int = 80, extra_env: dict[str, str] | None = None) -> str:
    """Run `cohort` in a subprocess with a terminal this wide; returns stdout (exit 0)."""
    env = {**os.environ, "COLUMNS": str(columns), **(extra_env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def flat(text: str) -> str:
    """Help output without panel borders and line breaks."""
    return " ".join(text.replace("│", " ").split())


def help_texts() -> list[tuple[list[str], str]]:
    """(command path, help text) of every command and option whose help has a `[`."""
    found: list[tuple[list[str], str]] = []

    def walk(command: object, path: list[str]) -> None:
        texts = [getattr(command, "help", None) or ""]
        texts += [getattr(p, "help", None) or "" for p in getattr(command, "params", [])]
        found.extend((path, text) for text in texts if "[" in text)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_help_shows_config_sections_in_brackets() -> None:
    """`[web]`, `[privacy]` and other bracketed text in help is shown, not eaten as markup."""
    texts = help_texts()
    assert {" ".join(path) for path, _ in texts} >= {"web", "privacy purge"}
    for path, text in texts:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "250"})
        assert result.exit_code == 0
        for section in re.findall(r"\[([a-z_]+)\]", text):
            assert f"[{section}]" in result.stdout, (path, text)


def test_tables_keep_ids_whole_in_an_80_column_terminal(trained: str) -> None:
    """Member and course ids the next command needs are printed whole, never cut with `…`."""
    _, out, _ = cohort("-c", trained, "influencers", "--top", "5", "--json")
    members = [row["member"] for entry in json.loads(out) for row in entry["top"]]
    assert members and all(len(m) > 20 for m in members)
    table = terminal("-c", trained, "influencers", "--top", "5")
    assert "…" not in table and all(member in table for member in members)
    courses = terminal("-c", trained, "courses", "list")
    assert "…" not in courses and "asyncio-deep-dive" in courses
    picks = terminal("-c", trained, "recommend", members[0])
    assert "…" not in picks and members[0] in picks
    assert "…" not in terminal("-c", trained, "stats")


def test_recommend_all_as_a_table(trained: str) -> None:
    """`recommend --all --format table` prints a table of members and picks, not JSON lines."""
    _, out, _ = cohort("-c", trained, "recommend", "--all", "--k", "2", "--format", "jsonl")
    members = [json.loads(line)["member"] for line in out.splitlines()]
    table = terminal("-c", trained, "recommend", "--all", "--k", "2", "--format", "table")
    assert not table.lstrip().startswith("{")
    assert f"picks for {len(members)} members" in table
    assert all(member in table for member in members)


def test_recommend_without_a_member_says_what_to_give(trained: str) -> None:
    """No member and no --all: the error says to give one, not "…not both"."""
    code, _, err = cohort("-c", trained, "recommend")
    assert code == 2 and "not both" not in err
    assert err.strip() == "error: give a member id (platform:id, e.g. discord:1234) or --all"


def test_train_prints_a_readable_summary(trained: str) -> None:
    """`cohort train` shows tables of components and communities, not Python dicts."""
    code, out, err = cohort("-c", trained, "train")
    assert code == 0, err
    assert "{'" not in out and "ranker components" in out
    assert "segments per community" in flat(out) and "recently" in out and "inactive" in out


def test_evaluate_warns_that_hits_mean_little_on_a_small_catalog(tmp_path: Path) -> None:
    """HR@10 on a 4-course catalog comes with a warning, even with enough members."""
    config = chat_only_store(tmp_path, members=40)
    code, _, err = cohort("-c", str(config), "evaluate")
    assert code == 0, err
    assert "the top 10 covers 100% of a 4-course catalog" in flat(err)
    assert "members evaluated:" not in err


def test_training_with_tensorflow_prints_no_tensorflow_log_lines(tmp_path: Path) -> None:
    """The Keras hybrid imports TensorFlow without its Abseil start-up lines on stderr."""
    config, _ = imported(tmp_path)
    with Path(config).open("a", encoding="utf-8") as handle:
        handle.write("\n[recsys]\nhybrid = true\n")
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "-c", config, "train", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "hybrid" in json.loads(done.stdout)["blend_weights"]  # TensorFlow was imported
    noise = [line for line in done.stderr.splitlines() if is_noise(line)]
    assert noise == [] and "oneDNN" not in done.stderr and "absl" not in done.stderr
