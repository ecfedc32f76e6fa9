"""Where `cohort demo` runs: a new folder, the same one again, `--fresh`, or a sibling."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.demo.folder import Manifest, choose
from bot.errors import CohortError

MANIFEST = Manifest(seed=7, members=10, days=7, start="2026-01-01T00:00:00+00:00")


def built(folder: Path) -> Path:
    """A folder as the demo leaves it: a store and its manifest."""
    folder.mkdir(parents=True)
    (folder / "cohort.db").write_bytes(b"store")
    MANIFEST.save(folder)
    return folder


def test_an_empty_folder_gets_a_new_community(tmp_path: Path) -> None:
    """No store yet: the demo builds one there."""
    choice = choose(tmp_path / "cohort-demo", fresh=False)
    assert choice.folder == tmp_path / "cohort-demo" and choice.manifest is None


def test_a_folder_the_demo_built_is_reused_as_it_is(tmp_path: Path) -> None:
    """A second run reuses the store and its manifest, deleting nothing."""
    folder = built(tmp_path / "cohort-demo")
    choice = choose(folder, fresh=False)
    assert choice.folder == folder and choice.manifest == MANIFEST
    assert "reusing" in choice.note and (folder / "cohort.db").read_bytes() == b"store"


def test_a_store_the_demo_did_not_build_is_left_alone(tmp_path: Path) -> None:
    """A folder with someone else's store: the demo moves on to the next free sibling."""
    folder = tmp_path / "cohort-demo"
    folder.mkdir()
    (folder / "cohort.db").write_bytes(b"theirs")
    built(tmp_path / "cohort-demo-2")
    choice = choose(folder, fresh=False)
    assert choice.folder == tmp_path / "cohort-demo-3" and choice.manifest is None
    assert "left untouched" in choice.note and (folder / "cohort.db").read_bytes() == b"theirs"


def test_fresh_deletes_only_what_the_demo_wrote(tmp_path: Path) -> None:
    """--fresh removes the store, manifest and exports, and keeps the user's own files."""
    folder = built(tmp_path / "cohort-demo")
    (folder / "discord").mkdir()
    (folder / "discord" / "export.json").write_text("{}", encoding="utf-8")
    (folder / "mine.txt").write_text("mine", encoding="utf-8")
    choice = choose(folder, fresh=True)
    assert choice.manifest is None and "--fresh: deleted 3" in choice.note
    assert sorted(p.name for p in folder.iterdir()) == ["mine.txt"]


def test_a_broken_manifest_is_a_clear_error(tmp_path: Path) -> None:
    """An unreadable demo.json names the file and the way out."""
    folder = built(tmp_path / "cohort-demo")
    (folder / "demo.json").write_text("{", encoding="utf-8")
    with pytest.raises(CohortError, match=r"demo\.json: not a demo manifest .*--fresh"):
        choose(folder, fresh=False)
