"""`cohort report`: the HTML file, its options, and one-line errors that write nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli.test_cli import cohort, community_events, write_config


def test_report_writes_one_self_contained_page(tmp_path: Path) -> None:
    """On an imported community the page holds embedded charts and loads nothing."""
    config = str(write_config(tmp_path))
    assert cohort("-c", config, "import", "events", str(community_events(tmp_path)))[0] == 0
    out = tmp_path / "report.html"
    code, stdout, _ = cohort("-c", config, "report", "--out", str(out), "--days", "30")
    assert code == 0 and f"wrote {out}" in " ".join(stdout.split())
    page = out.read_text("utf-8")
    assert page.count("data:image/png;base64,") >= 2
    assert "<script" not in page and "https://" not in page
    assert "No model trained yet" in page  # segments without a model: a note, not a crash


def test_report_in_chinese_for_one_community(tmp_path: Path) -> None:
    """`--locale zh_Hans --community platform:id` writes that community's page in Chinese."""
    config = str(write_config(tmp_path))
    assert cohort("-c", config, "import", "events", str(community_events(tmp_path)))[0] == 0
    out = tmp_path / "zh.html"
    code, stdout, _ = cohort("-c", config, "stats", "--json")
    ref = next(line.split('"')[3] for line in stdout.splitlines() if '"platform_id"' in line)
    code, _, err = cohort(
        "-c", config, "report", "-o", str(out), "--locale", "zh_Hans",
        "--community", f"discord:{ref}",
    )  # fmt: skip
    assert code == 0, err
    assert 'lang="zh-Hans"' in out.read_text("utf-8")


def test_empty_store_still_writes_a_friendly_page(tmp_path: Path) -> None:
    """A store with nothing in it gives a page that says so (exit 0)."""
    config = str(write_config(tmp_path))
    out = tmp_path / "empty.html"
    assert cohort("-c", config, "report", "--out", str(out))[0] == 0
    assert "Cohort has no community yet" in out.read_text("utf-8")


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """A missing folder, an unknown community or locale: non-zero exit, no file left."""
    config = str(write_config(tmp_path))
    missing = tmp_path / "nowhere" / "r.html"
    code, _, err = cohort("-c", config, "report", "--out", str(missing))
    assert code == 1 and err.strip() == f"error: {missing}: folder {missing.parent} does not exist"
    out = tmp_path / "r.html"
    code, _, err = cohort("-c", config, "report", "--out", str(out), "--community", "discord:42")
    assert code == 1 and err.startswith("error: unknown community 'discord:42'")
    assert len(err.strip().splitlines()) == 1
    code, _, _ = cohort("-c", config, "report", "--out", str(out), "--locale", "fr")
    assert code == 2
    assert not out.exists() and not list(tmp_path.glob(".r.html.*"))


def test_cli_and_adapters_do_not_import_matplotlib_or_jinja2() -> None:
    """`cohort --help` and the bots start fast: charts' libraries load only when drawing."""
    probe = (
        "import sys; from bot.cli.main import app; "
        "import bot.adapters.discord, bot.adapters.telegram, bot.core.commands; "
        "print(sorted(m for m in ('matplotlib', 'jinja2') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
