"""Training on a real store: inputs, the bundle, its artifacts, and what they may contain."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Cohort
from bot.demo import synthetic
from bot.importers.base import import_file
from bot.importers.courses import read_catalog
from bot.importers.events_jsonl import parse_events
from bot.store import schema as s
from bot.store.courses import upsert_courses
from bot.training.artifacts import KEEP, load_bundle, save_bundle, versions
from bot.training.inputs import load_inputs
from bot.training.train import train
from recsys.model import RankingConfig
from tests.helpers import rows

CATALOG = Path(__file__).resolve().parents[2] / "bot" / "demo" / "data" / "courses.toml"
START = datetime(2024, 3, 4, tzinfo=UTC)
FAST = RankingConfig(hybrid_min_steps=60, validation_members=200)


@pytest.fixture
async def community(sqlite_cohort: Cohort, tmp_path: Path) -> synthetic.Community:
    """A synthetic Discord community imported into the store (75 % consent)."""
    generated = synthetic.generate("discord", members=40, days=21, seed=5, start=START)
    path = tmp_path / "events.jsonl"
    synthetic.write_jsonl(path, synthetic.events(generated))
    async with sqlite_cohort.store.write() as conn:
        await upsert_courses(conn, [r.row() for r in read_catalog(CATALOG)])
    await import_file(sqlite_cohort, path, parse_events)
    return generated


async def test_inputs_hold_only_stored_members(
    sqlite_cohort: Cohort, community: synthetic.Community
) -> None:
    """Training sees consenting members only; the others exist as counts, not as rows."""
    inputs = await load_inputs(sqlite_cohort.store, sqlite_cohort.gate)
    stored = {m.platform_id for m in inputs.members}
    consenting = {m.id for m in community.members if m.profiling}
    assert stored == consenting
    assert {str(m.member) for m in inputs.messages} <= {str(m.id) for m in inputs.members}
    assert len(inputs.courses) == len(read_catalog(CATALOG)) and inputs.interactions


async def test_train_save_load_and_recommend(
    sqlite_cohort: Cohort, community: synthetic.Community, tmp_path: Path
) -> None:
    """A trained bundle round-trips and recommends unowned courses with reasons."""
    inputs = await load_inputs(sqlite_cohort.store, sqlite_cohort.gate)
    bundle = train(inputs, ranking=FAST)
    folder = save_bundle(bundle, tmp_path / "artifacts")
    loaded = load_bundle(tmp_path / "artifacts")
    assert loaded.version == bundle.version and folder.name == bundle.version
    keys = list(loaded.ranker.members_.ids)
    assert keys == [str(m.id) for m in inputs.members]
    original = bundle.ranker.recommend(keys[:10], 3)
    assert loaded.ranker.recommend(keys[:10], 3) == original
    [key] = [str(m.id) for m in inputs.members][:1]
    owned = {c for m, c, _, _ in inputs.interactions if str(m) == key}
    picks = loaded.ranker.recommend([key], 5).courses[0]
    assert picks and not set(picks) & owned
    [community_models] = loaded.communities.values()
    assert community_models.influence is not None
    assert community_models.segments is not None and community_models.segments.describe()


async def test_artifacts_hold_no_platform_ids(
    sqlite_cohort: Cohort, community: synthetic.Community, tmp_path: Path
) -> None:
    """Saved models key members by row id: no Discord user id appears in any file."""
    inputs = await load_inputs(sqlite_cohort.store, sqlite_cohort.gate)
    save_bundle(train(inputs, ranking=FAST), tmp_path / "artifacts")
    blobs = [p.read_bytes() for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    for member in community.members:
        assert not any(member.id.encode() in blob for blob in blobs), member.id


async def test_retraining_keeps_segment_ids_and_prunes_versions(
    sqlite_cohort: Cohort, community: synthetic.Community, tmp_path: Path
) -> None:
    """A retrain on the same data keeps segment ids; only the newest versions stay."""
    inputs = await load_inputs(sqlite_cohort.store, sqlite_cohort.gate)
    root = tmp_path / "artifacts"
    first = train(inputs, ranking=FAST)
    save_bundle(first, root)
    for _ in range(KEEP + 1):
        inputs.now = datetime.now(UTC)
        again = train(inputs, ranking=FAST, previous=load_bundle(root))
        save_bundle(again, root)
    [before] = first.communities.values()
    [after] = load_bundle(root).communities.values()
    assert before.segments is not None and after.segments is not None
    assert before.segments.assignments() == after.segments.assignments()
    assert len(versions(root)) == KEEP


async def test_empty_catalog_is_a_clear_error(sqlite_cohort: Cohort) -> None:
    """Training without courses says what to do instead of failing deep inside."""
    from bot.errors import CohortError

    inputs = await load_inputs(sqlite_cohort.store, sqlite_cohort.gate)
    with pytest.raises(CohortError, match="catalog is empty"):
        train(inputs)
    assert await rows(sqlite_cohort, select(s.courses.c.id)) == []


async def test_a_member_who_withdraws_consent_leaves_training(
    sqlite_cohort: Cohort, community: synthetic.Community
) -> None:
    """After a member objects, their stored history no longer feeds any model."""
    from tests.helpers import consent, write

    inputs = await load_inputs(sqlite_cohort.store, sqlite_cohort.gate)
    member = inputs.members[0]
    assert any(m.member == member.id for m in inputs.messages)
    await write(
        sqlite_cohort,
        consent(member.platform_id, profiling=False, community=community.id, ts=datetime.now(UTC)),
    )
    after = await load_inputs(sqlite_cohort.store, sqlite_cohort.gate)
    assert member.id not in {m.id for m in after.members}
    assert not any(m.member == member.id for m in after.messages)
    assert not any(i[0] == member.id for i in after.interactions)


async def test_catalog_of_course_n_titles_without_chat_trains(
    sqlite_cohort: Cohort, tmp_path: Path
) -> None:
    """Course texts that share every word ("Course N", no description) do not crash training."""
    from tests.helpers import consent, purchase, write

    catalog = tmp_path / "courses.csv"
    catalog.write_text(
        "id,title,description\n" + "".join(f"C{i},Course {i},\n" for i in range(3000)),
        encoding="utf-8",
    )
    async with sqlite_cohort.store.write() as conn:
        await upsert_courses(conn, [r.row() for r in read_catalog(catalog)])
    members = [f"u{i}" for i in range(30)]
    await write(sqlite_cohort, *(consent(m) for m in members))
    await write(
        sqlite_cohort,
        *(
            purchase(m, f"C{(7 * i + j) % 40}", order=f"{m}-{j}", ts=START.replace(day=1 + j))
            for i, m in enumerate(members)
            for j in range(3)
        ),
    )
    inputs = await load_inputs(sqlite_cohort.store, sqlite_cohort.gate)
    assert len(inputs.courses) == 3000 and not inputs.messages
    bundle = train(inputs, ranking=FAST)
    folder = save_bundle(bundle, tmp_path / "artifacts")
    loaded = load_bundle(tmp_path / "artifacts")
    assert folder.name == loaded.version
    key = str(inputs.members[0].id)
    picks = loaded.ranker.recommend([key], 5).courses[0]
    assert len(picks) == 5


def test_catalog_terms_are_the_courses_tags_or_titles_when_untagged() -> None:
    """What may name a segment: each course's tags, its title's words only when untagged."""
    from bot.store.courses import Course
    from bot.training.inputs import TrainingInputs
    from bot.training.train import catalog_terms

    def course(id: str, title: str, tags: list[str]) -> Course:
        return Course(id, title, "", tags, None, None, None, None, None, True)

    inputs = TrainingInputs(
        now=datetime(2026, 1, 1, tzinfo=UTC),
        communities=[],
        members=[],
        messages=[],
        reactions=[],
        mentions={},
        interactions=[],
        courses=[
            course("rust", "Rust for the web", ["rust", "c++"]),
            course("k8s", "Kubernetes in practice", []),
        ],
    )
    assert catalog_terms(inputs) == {"rust", "c++", "kubernetes", "practice"}
