"""Saving and loading trained bundles: versioned folders, no pickle, atomic switch-over.

```
artifacts/
  current                      the version in use (replaced atomically)
  20261124T101500123456Z/
    manifest.json              format, report, catalog info, communities, encoder terms
    encoder.npz                TF-IDF idf weights
    ranker/                    the blend and its components (recsys.rankers.base)
    communities/<key>/         segments.{json,npz}, influence.{json,npz}
```

Arrays go to `.npz` (read back with `allow_pickle=False`), everything else to JSON.
Only the newest `KEEP` versions are kept: older ones are deleted after a save, so
erased members do not linger in forgotten folders. `forget_members` rewrites every
kept version without some members (a new folder name per rewrite, `<version>-e<time>`,
so running bots notice and reload).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from bot.training.train import Bundle, CommunityModels
from recsys.graph import InfluenceModel
from recsys.policy import CourseInfo
from recsys.rankers.base import Ranker
from recsys.rankers.blend import BlendRanker
from recsys.segments import SegmentModel
from recsys.topics import TfidfEncoder

log = logging.getLogger(__name__)

FORMAT = "cohort.bundle/1"
KEEP = 2
CURRENT = "current"
STAGING_GRACE = 600.0  # seconds before a staging folder counts as left by a crash


class NoModel(LookupError):
    """No trained bundle exists yet."""


def _folder_name(key: str) -> str:
    return key.replace(":", "_").replace("/", "_")


def save_state(folder: Path, name: str, state: dict[str, Any]) -> None:
    """Write a state dict as `name.npz` (arrays) and `name.json` (the rest)."""
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    rest = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    for key, value in arrays.items():
        if value.dtype == object:
            raise TypeError(f"{name}.{key}: object arrays would need pickle")
    with (folder / f"{name}.npz").open("wb") as handle:
        np.savez(handle, allow_pickle=False, **arrays)
    (folder / f"{name}.json").write_text(json.dumps(rest, ensure_ascii=False), "utf-8")


def load_state(folder: Path, name: str) -> dict[str, Any]:
    """Read what `save_state` wrote."""
    state: dict[str, Any] = json.loads((folder / f"{name}.json").read_text("utf-8"))
    with np.load(folder / f"{name}.npz", allow_pickle=False) as arrays:
        state.update({key: arrays[key] for key in arrays.files})
    return state


def save_bundle(bundle: Bundle, root: Path) -> Path:
    """Write `bundle` under `root`, make it current, and prune old versions."""
    root.mkdir(parents=True, exist_ok=True)
    final = _write_folder(bundle, root)
    _point_at(root, bundle.version)
    for old in versions(root)[:-KEEP]:
        shutil.rmtree(root / old, ignore_errors=True)
    remove_stale_staging(root)
    log.info("saved model %s to %s", bundle.version, final)
    return final


def remove_stale_staging(root: Path, grace: float = STAGING_GRACE) -> int:
    """Delete staging folders left by saves that crashed; returns how many.

    They hold a whole bundle, erased members included, and nothing else would ever
    delete them. One younger than `grace` seconds may be a save still running.
    """
    removed = 0
    for stale in root.glob(".*.partial"):
        try:
            age = time.time() - stale.stat().st_mtime
        except OSError:
            continue
        if age >= grace:
            shutil.rmtree(stale, ignore_errors=True)
            removed += 1
    return removed


def _point_at(root: Path, version: str) -> None:
    pointer = root / f".{CURRENT}.tmp"
    pointer.write_text(version, "utf-8")
    os.replace(pointer, root / CURRENT)


def _write_folder(bundle: Bundle, root: Path) -> Path:
    """Write `bundle` to `root/<version>` through a staging folder; returns it."""
    final = root / bundle.version
    staging = root / f".{bundle.version}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    bundle.ranker.save(staging / "ranker")
    encoder_state = bundle.encoder.state()
    with (staging / "encoder.npz").open("wb") as handle:
        np.savez(handle, allow_pickle=False, idf=encoder_state["idf"])
    communities = []
    for key, models in bundle.communities.items():
        folder = staging / "communities" / _folder_name(key)
        folder.mkdir(parents=True)
        if models.segments is not None:
            save_state(folder, "segments", models.segments.state())
        if models.influence is not None:
            save_state(folder, "influence", models.influence.state())
        communities.append(
            {"key": key, "name": models.name, "folder": folder.name, "rules": models.rules}
        )
    manifest = {
        "format": FORMAT,
        "version": bundle.version,
        "created": bundle.created.isoformat(),
        "report": bundle.report,
        "courses": [asdict(course) for course in bundle.courses],
        "communities": communities,
        "member_languages": bundle.member_languages,
        "encoder": {k: v for k, v in encoder_state.items() if k != "idf"},
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    return final


def versions(root: Path) -> list[str]:
    """Saved versions, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def current_folder(root: Path) -> Path:
    """The folder of the current version; `NoModel` if nothing was trained yet."""
    pointer = root / CURRENT
    if not pointer.exists():
        raise NoModel(f"no trained model in {root}: run `cohort train`")
    return root / pointer.read_text("utf-8").strip()


def load_bundle(root: Path) -> Bundle:
    """Load the current bundle (no TensorFlow needed)."""
    return load_folder(current_folder(root))


def load_folder(folder: Path) -> Bundle:
    """Load the bundle saved in `folder`."""
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{folder}: unknown model format {manifest.get('format')!r}")
    ranker = Ranker.load(folder / "ranker")
    if not isinstance(ranker, BlendRanker):
        raise ValueError(f"{folder}: expected a blend ranker, found {ranker.name}")
    with np.load(folder / "encoder.npz", allow_pickle=False) as arrays:
        encoder = TfidfEncoder.from_state({**manifest["encoder"], "idf": arrays["idf"]})
    communities: dict[str, CommunityModels] = {}
    for entry in manifest["communities"]:
        sub = folder / "communities" / entry["folder"]
        segments = (
            SegmentModel.from_state(load_state(sub, "segments"))
            if (sub / "segments.json").exists()
            else None
        )
        influence = (
            InfluenceModel.from_state(load_state(sub, "influence"))
            if (sub / "influence.json").exists()
            else None
        )
        communities[entry["key"]] = CommunityModels(
            key=entry["key"],
            name=entry["name"],
            segments=segments,
            rules=entry["rules"],
            influence=influence,
        )
    return Bundle(
        version=manifest["version"],
        created=datetime.fromisoformat(manifest["created"]),
        ranker=ranker,
        encoder=encoder,
        courses=[CourseInfo(**course) for course in manifest["courses"]],
        communities=communities,
        member_languages=manifest.get("member_languages", {}),
        report=manifest["report"],
    )


def forget_in_bundle(bundle: Bundle, keys: Sequence[str]) -> None:
    """Remove members (model keys) from every part of a bundle."""
    wanted = sorted(set(keys))
    bundle.ranker.forget(wanted)
    for key in wanted:
        bundle.member_languages.pop(key, None)
    gone = set(wanted)
    for models in bundle.communities.values():
        if models.segments is not None:
            models.segments.forget(wanted)
        if models.influence is not None:
            models.influence.forget(wanted)
        # Rule segments (newcomers, champions, ...) list member keys too.
        models.rules = {
            name: [member for member in members if member not in gone]
            for name, members in models.rules.items()
        }


def forget_members(root: Path, keys: Sequence[str], stamp: datetime) -> list[str]:
    """Rewrite every saved version without the members `keys`; the new version names.

    Each version is rewritten to a new folder (`<version>-e<stamp>`), the pointer
    moves if it was current, and the old folder is deleted, so nothing of the
    members is left under `root`.
    """
    if not keys or not root.is_dir():
        return []
    remove_stale_staging(root)
    try:
        current = current_folder(root).name
    except NoModel:
        current = None
    suffix = "-e" + stamp.strftime("%Y%m%dT%H%M%S%fZ")
    existing = set(versions(root))
    rewritten = []
    for version in versions(root):
        old = root / version
        bundle = load_folder(old)
        forget_in_bundle(bundle, keys)
        # Always a new name (even for two erasures in the same instant): running bots
        # notice the moved `current` pointer and reload.
        name = version.split("-e")[0] + suffix
        attempt = 1
        while name in existing:
            attempt += 1
            name = f"{version.split('-e')[0]}{suffix}-{attempt}"
        existing.add(name)
        bundle.version = name
        _write_folder(bundle, root)
        if version == current:
            _point_at(root, bundle.version)
        shutil.rmtree(old)
        rewritten.append(bundle.version)
    log.info("erased %d member(s) from %d model version(s)", len(keys), len(rewritten))
    return rewritten
