"""`cohort privacy export | forget | purge` on data imported through the real importers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import Cohort
from bot.config import load_settings
from bot.demo import synthetic
from bot.training.artifacts import save_bundle, versions
from bot.training.inputs import load_inputs
from bot.training.train import train
from recsys.model import RankingConfig
from tests.cli.test_cli import CATALOG, cohort, write_config


def imported(folder: Path, *, days_ago: int = 0) -> tuple[str, synthetic.Community]:
    """A config, the catalog and a synthetic Discord community imported with the CLI.

    The community's history ends `days_ago` days before today.
    """
    config = str(write_config(folder))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=14 + days_ago)
    community = synthetic.generate("discord", members=20, days=14, seed=3, start=start)
    events = folder / "events.jsonl"
    synthetic.write_jsonl(events, synthetic.events(community))
    code, _, err = cohort("-c", config, "courses", "import", str(CATALOG))
    assert code == 0, err
    code, _, err = cohort("-c", config, "import", "events", str(events))
    assert code == 0, err
    return config, community


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def talker(community: synthetic.Community) -> synthetic.Member:
    """The consenting member with the most messages."""
    return max(
        (m for m in community.members if m.profiling),
        key=lambda m: sum(1 for x in community.messages if x.member == m.id),
    )


def stored_messages(folder: Path, member: str) -> int:
    """Messages stored under a member, read with plain sqlite3."""
    with sqlite3.connect(folder / "cohort.db") as conn:
        (n,) = conn.execute(
            "select count(*) from messages join members on members.id = messages.member_id "
            "where members.platform_id = ?",
            (member,),
        ).fetchone()
    return int(n)


def test_export_prints_the_members_data_as_json(tmp_path: Path) -> None:
    """`privacy export discord:<id>` prints one JSON document of everything held."""
    config, community = imported(tmp_path)
    member = talker(community)
    code, out, err = cohort("-c", config, "privacy", "export", f"discord:{member.id}")
    assert code == 0, err
    data = json.loads(out)
    assert data["format"] == "cohort.export/1" and data["subject"] == f"discord:{member.id}"
    [identity] = data["identities"]
    assert identity["id"] == member.id and identity["display_name"] == member.name
    assert len(data["messages"]) == stored_messages(tmp_path, member.id) > 0
    assert data["memberships"][0]["consent_profiling"] is True
    for section in ("reactions", "mentioned_in", "interactions", "deliveries", "audit", "model"):
        assert section in data
    bought = [p.course for p in community.purchases if p.member == member.id]
    assert sorted(i["course"] for i in data["interactions"] if i["kind"] == "purchase") == sorted(
        bought
    )


def test_export_out_writes_the_file_atomically(tmp_path: Path) -> None:
    """`--out` writes the file (no partial left behind) and prints nothing on stdout."""
    config, community = imported(tmp_path)
    member = talker(community)
    target = tmp_path / "export.json"
    target.write_text("old", encoding="utf-8")
    code, out, err = cohort(
        "-c", config, "privacy", "export", f"discord:{member.id}", "--out", str(target)
    )
    assert code == 0, err
    assert out == "" and "wrote" + str(target) == "".join(err.split())
    assert json.loads(target.read_text("utf-8"))["subject"] == f"discord:{member.id}"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # personal data: the owner only
    assert sorted(p.name for p in tmp_path.glob("export.json*")) == ["export.json"]
    missing = tmp_path / "no-such-folder" / "export.json"
    code, _, err = cohort(
        "-c", config, "privacy", "export", f"discord:{member.id}", "--out", str(missing)
    )
    assert code == 1 and err.startswith("error: ") and err.strip().count("\n") == 0
    assert not missing.parent.exists()
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, _, err = cohort(
        "-c", config, "privacy", "export", f"discord:{member.id}", "--out", str(folder)
    )
    assert code == 1 and err.strip().count("\n") == 0
    assert folder.is_dir() and not list(tmp_path.glob("*.partial"))


def test_export_of_an_unknown_member_is_a_one_line_error(tmp_path: Path) -> None:
    """Nobody stored under the id, or a malformed reference: exit 1, one line."""
    config, _ = imported(tmp_path)
    code, out, err = cohort("-c", config, "privacy", "export", "discord:42")
    assert (code, out) == (1, "")
    assert err.strip() == "error: no data held about discord:42"
    code, _, err = cohort("-c", config, "privacy", "export", "myspace:42")
    assert code == 1 and err.strip().count("\n") == 0 and "unknown platform" in err
    code, _, err = cohort("-c", config, "privacy", "export", "42")
    assert code == 1 and "expected platform:id" in err


def test_forget_needs_yes_when_not_interactive(tmp_path: Path) -> None:
    """Without `--yes` and without a terminal nothing is erased."""
    config, community = imported(tmp_path)
    member = talker(community)
    code, _, err = cohort("-c", config, "privacy", "forget", f"discord:{member.id}")
    assert code == 1 and err.strip() == "error: add --yes to erase"
    assert stored_messages(tmp_path, member.id) > 0


def test_forget_with_yes_erases_the_member_everywhere(tmp_path: Path) -> None:
    """`forget --yes` erases rows and model rows; the id is gone from the files."""
    config, community = imported(tmp_path)
    member = talker(community)
    messages = stored_messages(tmp_path, member.id)
    settings = load_settings(Path(config))

    async def trained() -> None:
        app = await Cohort.build(settings)
        try:
            inputs = await load_inputs(app.store, app.gate)
            ranking = RankingConfig(hybrid_min_steps=60, validation_members=200)
            save_bundle(train(inputs, ranking=ranking), settings.artifacts_path)
        finally:
            await app.close()

    asyncio.run(trained())
    [before] = versions(settings.artifacts_path)
    code, out, err = cohort("-c", config, "privacy", "forget", f"discord:{member.id}", "--yes")
    assert code == 0, err
    assert flat(out).startswith(f"erased discord:{member.id} (1 stored identity):")
    assert f"{messages} messages" in flat(out)
    assert "1 model versions rewritten" in flat(out)
    [after] = versions(settings.artifacts_path)
    assert after != before and after.startswith(before + "-e")
    assert stored_messages(tmp_path, member.id) == 0
    for path in [*tmp_path.glob("cohort.db*"), *settings.artifacts_path.rglob("*")]:
        if path.is_file():
            assert member.id.encode() not in path.read_bytes(), path
    code, _, err = cohort("-c", config, "privacy", "export", f"discord:{member.id}")
    assert code == 1 and "no data held" in err


def test_forget_json_reports_what_was_done(tmp_path: Path) -> None:
    """`forget --yes --json` prints counts, never the identity."""
    config, community = imported(tmp_path)
    member = talker(community)
    code, out, err = cohort(
        "-c", config, "privacy", "forget", f"discord:{member.id}", "--yes", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["identities"] == 1 and report["model_versions"] == []
    assert report["rows"]["messages"] > 0 and report["wal_checkpointed"] is True
    assert set(report["rows"]) == {
        "messages",
        "reactions",
        "anonymized_interactions",
        "deliveries",
        "scrubbed_messages",
        "scrubbed_deliveries",
        "scrubbed_audit",
    }
    assert member.id not in out


@pytest.mark.parametrize("as_json", [False, True])
def test_purge_removes_old_text(tmp_path: Path, as_json: bool) -> None:
    """`privacy purge` drops text older than retention_days; running it again drops nothing."""
    config, _ = imported(tmp_path, days_ago=100)
    with sqlite3.connect(tmp_path / "cohort.db") as conn:
        (texts,) = conn.execute("select count(*) from messages where text is not null").fetchone()
    assert texts > 0
    args = ["-c", config, "privacy", "purge", *(["--json"] if as_json else [])]
    code, out, err = cohort(*args)
    assert code == 0, err
    if as_json:
        assert json.loads(out) == {"texts": texts, "deliveries": 0, "link_codes": 0}
    else:
        assert flat(out).startswith(
            f"purged {texts} message texts older than 90 days, 0 delivery texts, "
            "0 expired link codes"
        )
    with sqlite3.connect(tmp_path / "cohort.db") as conn:
        (left,) = conn.execute("select count(*) from messages where text is not null").fetchone()
        (terms,) = conn.execute("select count(*) from channel_terms").fetchone()
    assert left == 0 and terms > 0
    code, out, _ = cohort("-c", config, "privacy", "purge", "--json")
    assert code == 0 and json.loads(out)["texts"] == 0


def test_purge_keeps_recent_text(tmp_path: Path) -> None:
    """A community whose history is recent loses nothing."""
    config, _ = imported(tmp_path)
    code, out, _ = cohort("-c", config, "privacy", "purge", "--json")
    assert code == 0 and json.loads(out)["texts"] == 0
