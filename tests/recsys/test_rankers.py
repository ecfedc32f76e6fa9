"""One contract for every ranker (popularity, content, item-item, hybrid, blend, ALS).

The planted data: members in six interest groups talk about their group's topic and
mostly choose their group's courses; each course's text describes its topic. A good
ranker recovers the groups; all rankers must honour the same contract.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.data import Dataset, IdMap, Split, leave_one_out
from recsys.engagement import ChatActivity, TopicMatcher, engagement_matrices
from recsys.evaluate import evaluate
from recsys.rankers import (
    BlendRanker,
    ChatRanker,
    ContentRanker,
    HybridRanker,
    ItemItemRanker,
    NextItemRanker,
    PopularityRanker,
    Ranker,
)
from recsys.rankers.als import ALSRanker, implicit_available
from recsys.rankers.base import NotFittedError, top_k
from recsys.topics import TfidfEncoder, TopicSpace, course_document

TOPICS = [
    ["rust", "cargo", "tokio", "borrow", "lifetimes"],
    ["python", "asyncio", "pytest", "aiohttp", "django"],
    ["javascript", "react", "typescript", "css", "node.js"],
    ["kubernetes", "docker", "helm", "terraform", "k8s"],
    ["pandas", "numpy", "tensorflow", "keras", "sklearn"],
    ["c++", "templates", "cmake", "raii", "ranges"],
]
GROUPS = len(TOPICS)
COURSES_PER_GROUP = 5


def planted(members: int = 600, seed: int = 0, *, text: bool = True) -> Dataset:
    rng = np.random.default_rng(seed)
    member_ids = [f"m{i}" for i in range(members)]
    course_ids = [f"c{g}-{j}" for g in range(GROUPS) for j in range(COURSES_PER_GROUP)]
    rows, cols = [], []
    for i in range(members):
        group = i % GROUPS
        chosen = rng.choice(COURSES_PER_GROUP, size=rng.integers(2, 5), replace=False)
        for j in chosen:
            rows.append(member_ids[i])
            cols.append(course_ids[group * COURSES_PER_GROUP + int(j)])
        if rng.random() < 0.2:  # some noise across groups
            rows.append(member_ids[i])
            cols.append(course_ids[int(rng.integers(len(course_ids)))])
    side: dict[str, object] = {}
    if text:
        member_docs = [
            " ".join(rng.choice(TOPICS[i % GROUPS], size=12)) + " hello thanks"
            for i in range(members)
        ]
        course_docs = [
            course_document(f"Course {c}", " ".join(TOPICS[int(c[1])]), [TOPICS[int(c[1])][0]])
            for c in course_ids
        ]
        space = TopicSpace(TfidfEncoder()).fit(member_docs, course_docs)
        side["member_topics"] = space.encode(member_docs)
        side["course_topics"] = space.encode(course_docs)
        side["chat"] = planted_chat(
            rng, members, space, [(f"Course {c}", [TOPICS[int(c[1])][0]]) for c in course_ids]
        )
        side["member_features"] = rng.normal(size=(members, 4)).astype(np.float32)
        side["course_features"] = np.eye(GROUPS, dtype=np.float32)[[int(c[1]) for c in course_ids]]
    return Dataset.from_events(
        rows, cols, members=IdMap(tuple(member_ids)), courses=IdMap(tuple(course_ids)), **side
    )


def planted_chat(
    rng: np.random.Generator,
    members: int,
    space: TopicSpace,
    courses: list[tuple[str, list[str]]],
    messages_per_member: int = 8,
) -> ChatActivity:
    """Each member talks about their group's topics over 120 days; a third are replies."""
    texts, authors, times, parents = [], [], [], []
    for m in range(members):
        for _ in range(messages_per_member):
            words = rng.choice(TOPICS[m % GROUPS], size=3)
            texts.append("how do I use " + " ".join(words) + " here?")
            authors.append(m)
            times.append(float(rng.uniform(0, 120 * 86_400)))
    order = np.argsort(times)
    texts = [texts[i] for i in order]
    authors = [authors[i] for i in order]
    times = [times[i] for i in order]
    for i in range(len(texts)):
        parents.append(int(rng.integers(i)) if i and rng.random() < 0.3 else -1)
    matcher = TopicMatcher.for_courses([t for t, _ in courses], [tags for _, tags in courses])
    ts = np.asarray(times)
    own, context = engagement_matrices(texts, np.asarray(parents, np.int32), ts, matcher)
    return ChatActivity(
        member=np.asarray(authors, np.int64),
        ts=ts,
        topics=sp.csr_matrix(space.encode(texts), dtype=np.float32),
        courses=own,
        context=context,
    )


def small_hybrid() -> HybridRanker:
    return HybridRanker(dim=16, epochs=1, batch_size=256, min_steps=150, learning_rate=1e-2)


FACTORIES: dict[str, Callable[[], Ranker]] = {
    "popularity": PopularityRanker,
    "content": ContentRanker,
    "itemitem": ItemItemRanker,
    "sequence": NextItemRanker,
    "chat": ChatRanker,
    "hybrid": small_hybrid,
    "blend": lambda: BlendRanker(
        [ItemItemRanker(), small_hybrid(), ContentRanker(), PopularityRanker()],
        validation_members=300,
    ),
}
if implicit_available():
    FACTORIES["als"] = lambda: ALSRanker(factors=8, iterations=10)
NAMES = list(FACTORIES)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return planted()


@pytest.fixture(scope="module")
def fitted(data: Dataset) -> dict[str, Ranker]:
    return {name: factory().fit(data) for name, factory in FACTORIES.items()}


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self_and_unfitted_use_fails(name: str, data: Dataset) -> None:
    """fit() returns the ranker itself; using an unfitted ranker raises NotFittedError."""
    ranker = FACTORIES[name]()
    with pytest.raises(NotFittedError):
        ranker.recommend(["m0"], 3)
    assert ranker.fit(data) is ranker
    assert ranker.check_fitted() is None


@pytest.mark.parametrize("name", NAMES)
def test_recommend_returns_k_best_unowned_courses(
    name: str, fitted: dict[str, Ranker], data: Dataset
) -> None:
    """recommend() returns at most k ids and scores, best first, never an owned course."""
    ranker = fitted[name]
    members = ["m0", "m1", "m7"]
    recs = ranker.recommend(members, k=5)
    owned = data.owned()
    for member, courses, scores in recs:
        assert len(courses) == 5 == len(scores)
        assert scores == sorted(scores, reverse=True)
        row = data.members.index[member]
        mine = {
            data.courses.ids[c] for c in owned.indices[owned.indptr[row] : owned.indptr[row + 1]]
        }
        assert not mine & set(courses)
        assert len(set(courses)) == len(courses)


@pytest.mark.parametrize("name", NAMES)
def test_owned_courses_can_be_included_on_request(
    name: str, fitted: dict[str, Ranker], data: Dataset
) -> None:
    """With exclude_owned=False every course is ranked, owned ones included."""
    ranker = fitted[name]
    every = ranker.recommend(["m0"], k=data.n_courses, exclude_owned=False)
    assert sorted(every.courses[0]) == sorted(data.courses.ids)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_members_get_cold_start_picks(name: str, fitted: dict[str, Ranker]) -> None:
    """A member the ranker never saw still gets k picks (nothing to exclude)."""
    recs = fitted[name].recommend(["stranger"], k=4)
    assert len(recs.courses[0]) == 4


@pytest.mark.parametrize("name", NAMES)
def test_scoring_is_batched_and_aligned(
    name: str, fitted: dict[str, Ranker], data: Dataset
) -> None:
    """score() gives one row per member and one column per course, same as row-by-row."""
    ranker = fitted[name]
    ids = list(data.members.ids[:300])
    together = ranker.score(ids)
    assert together.shape == (300, data.n_courses)
    one = ranker.score([ids[123]])
    np.testing.assert_allclose(together[123], one[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_round_trip_without_pickle(
    name: str, fitted: dict[str, Ranker], tmp_path: Path
) -> None:
    """A saved ranker loads (allow_pickle=False) and scores exactly the same."""
    ranker = fitted[name]
    ranker.save(tmp_path / "model")
    assert not list((tmp_path / "model").rglob("*.pkl"))
    for npz in (tmp_path / "model").rglob("*.npz"):
        with np.load(npz, allow_pickle=False) as arrays:
            assert arrays.files
    loaded = Ranker.load(tmp_path / "model")
    assert type(loaded) is type(ranker)
    ids = ["m0", "m5", "stranger"]
    np.testing.assert_allclose(loaded.score(ids), ranker.score(ids), rtol=1e-6, atol=1e-6)
    assert loaded.recommend(ids, 3) == ranker.recommend(ids, 3)


@pytest.mark.parametrize("name", NAMES)
def test_forget_removes_the_member_from_state_and_artifacts(
    name: str, data: Dataset, tmp_path: Path
) -> None:
    """After forget(), the member is unknown and their id is in no saved file."""
    ranker = FACTORIES[name]().fit(data)
    secret = "m123"
    ranker.forget([secret])
    assert secret not in ranker.members_
    cold = ranker.recommend(["stranger"], 5)
    assert ranker.recommend([secret], 5).courses == cold.courses
    ranker.save(tmp_path / "model")
    for path in (tmp_path / "model").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert ranker.score(["m0"]).shape == (1, data.n_courses)


# The planted data has no timestamps, so the next-item model rightly learns nothing
# there; tests/recsys/test_sequence.py checks it on ordered data.
@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("popularity", "sequence")])
def test_beats_popularity_on_planted_groups(name: str, data: Dataset) -> None:
    """Every personalised ranker recovers the planted interest groups better than popularity."""
    split = leave_one_out(data, seed=1)
    baseline = evaluate(PopularityRanker(), split, 5)
    result = evaluate(FACTORIES[name](), split, 5)
    assert result.ndcg > 2 * baseline.ndcg, (result, baseline)


def test_content_ranker_needs_no_purchases() -> None:
    """With zero interactions, content similarity alone puts the member's topic first."""
    full = planted(members=60)
    empty = full.with_interactions(sp.csr_matrix(full.interactions.shape, dtype=np.float32))
    ranker = ContentRanker().fit(empty)
    top = ranker.recommend(["m2"], k=COURSES_PER_GROUP)  # group 2: javascript
    assert all(course.startswith("c2-") for course in top.courses[0])


def test_hybrid_ranks_a_new_course_by_its_text_features() -> None:
    """A course nobody chose yet is still ranked by its features for the right members."""
    data = planted()
    owned = data.interactions.tolil()
    new = data.courses.index["c1-4"]  # a python course
    owned[:, new] = 0
    cold = data.with_interactions(owned.tocsr())
    ranker = HybridRanker(dim=16, epochs=1, batch_size=256, min_steps=300).fit(cold)
    scores = ranker.score([f"m{i}" for i in range(1, 600, GROUPS)])  # python members
    others = ranker.score([f"m{i}" for i in range(3, 600, GROUPS)])  # kubernetes members
    assert scores[:, new].mean() > others[:, new].mean()


def test_blend_weighs_the_informative_component() -> None:
    """Validation gives the collaborative ranker weight and ignores a useless one."""
    data = planted(text=False)
    blend = BlendRanker([ItemItemRanker(), PopularityRanker()], validation_members=500).fit(data)
    weights = dict(zip([c.name for c in blend.components_], blend.weights_, strict=True))
    assert weights["itemitem"] > 0
    assert weights["itemitem"] >= weights["popularity"]
    assert blend.validation_["members"] > 0


def test_top_k_marks_missing_candidates() -> None:
    """top_k returns -1 where fewer than k courses are eligible, best first otherwise."""
    scores = np.asarray([[0.1, -np.inf, 0.3], [-np.inf, -np.inf, -np.inf]], np.float32)
    index, values = top_k(scores, 2)
    assert index.tolist() == [[2, 0], [-1, -1]]
    assert values[0].tolist() == pytest.approx([0.3, 0.1])


def test_temporal_holdout_never_uses_the_future() -> None:
    """leave_one_out holds out each member's latest interaction when times are known."""
    data = Dataset.from_events(["a", "a", "a"], ["x", "y", "z"], timestamps=[3.0, 1.0, 2.0])
    split: Split = leave_one_out(data)
    assert split.held_out[0].tolist() == [data.courses.index["x"]]


def test_leave_one_out_keeps_the_other_purchase_times() -> None:
    """The held-out purchase leaves the events; every other one keeps its time."""
    data = Dataset.from_events(
        ["a", "a", "a", "b", "b"],
        ["x", "y", "z", "x", "y"],
        timestamps=[1.0, 2.0, 3.0, 1.0, 2.0],
    )
    split = leave_one_out(data)
    assert split.train.events is not None
    rows, cols, _, ts = split.train.events
    kept = {
        (data.members.ids[r], data.courses.ids[c], t)
        for r, c, t in zip(rows, cols, ts, strict=True)
    }
    assert kept == {("a", "x", 1.0), ("a", "y", 2.0), ("b", "x", 1.0)}


def test_validation_ndcg_gives_a_constant_ranker_nothing() -> None:
    """With one held-out course per member, ties count against it: constant scores earn 0."""
    from recsys.rankers.blend import ndcg_relevant

    scores = np.zeros((4, 6), np.float32)
    assert ndcg_relevant(scores, [np.asarray([i]) for i in range(4)], 3).tolist() == [0.0] * 4
    scores[:, 2] = 1.0
    assert ndcg_relevant(scores, [np.asarray([2])] * 4, 3).tolist() == [1.0] * 4
    both = ndcg_relevant(scores, [np.asarray([2, 5])] * 4, 3)
    assert all(0.6 < value <= 1.0 for value in both)
