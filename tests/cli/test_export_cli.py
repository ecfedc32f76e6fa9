"""`cohort export KIND --format csv|json [--out FILE]` as an operator runs it."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path

from bot.demo import synthetic
from tests.cli.test_cli import CATALOG, cohort, write_config


def imported(folder: Path) -> tuple[str, synthetic.Community]:
    """A config with the catalog and a synthetic Discord community imported with the CLI."""
    config = str(write_config(folder))
    community = synthetic.generate("discord", members=20, days=14, seed=3)
    events = folder / "events.jsonl"
    synthetic.write_jsonl(events, synthetic.events(community))
    for args in (("courses", "import", str(CATALOG)), ("import", "events", str(events))):
        code, _, err = cohort("-c", config, *args)
        assert code == 0, err
    return config, community


def test_members_csv_on_stdout_opens_with_the_csv_module(tmp_path: Path) -> None:
    """The default is CSV on stdout: a header and one row per consenting member, no one else."""
    config, community = imported(tmp_path)
    code, out, err = cohort("-c", config, "export", "members")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert rows and rows[0]["community"] == f"discord:{community.id}"
    assert {row["member"] for row in rows} == {
        f"discord:{m.id}" for m in community.members if m.profiling
    }
    assert all(m.name not in out for m in community.members if not m.profiling)
    code, out, _ = cohort("-c", config, "export", "members", "--format", "json")
    assert code == 0 and {r["member"] for r in json.loads(out)} == {r["member"] for r in rows}


def test_out_writes_the_file_atomically_for_the_owner_only(tmp_path: Path) -> None:
    """`--out` replaces the file whole (no temporary left), mode 0600, and says so on stderr."""
    config, _ = imported(tmp_path)
    target = tmp_path / "funnel.csv"
    target.write_text("old", encoding="utf-8")
    code, out, err = cohort("-c", config, "export", "funnel", "--out", str(target))
    assert code == 0, err
    assert out == "" and "wrote 1 row to" in " ".join(err.split())
    [row] = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    assert row["variant"] == "organic"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.glob("funnel.csv*")) == ["funnel.csv"]


def test_bad_input_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    """Unknown kind or format, a missing folder or a folder as --out: one line, non-zero exit."""
    config, _ = imported(tmp_path)
    cases = [
        (("export", "people"), 2, "error: unknown export 'people' (choose members, segments"),
        (("export", "members", "--format", "xlsx"), 2, "error: unknown format 'xlsx'"),
        (
            ("export", "members", "--out", str(tmp_path / "missing" / "m.csv")),
            1,
            f"error: {tmp_path / 'missing' / 'm.csv'}: No such file or directory",
        ),
        (("export", "members", "--out", str(tmp_path)), 1, f"error: {tmp_path}: is a folder"),
        (("export", "segments"), 1, "error: `export segments` needs a trained model"),
    ]
    for args, expected_code, start in cases:
        code, out, err = cohort("-c", config, *args)
        assert (code, out) == (expected_code, ""), args
        assert err.startswith(start) and err.strip().count("\n") == 0, err
    assert not (tmp_path / "missing").exists()
    assert not list(tmp_path.rglob("*.partial"))
