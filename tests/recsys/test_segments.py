"""Member segments: k by silhouette, stable ids, names, persistence, rules and scale."""

from __future__ import annotations

import io
import json
import warnings
from collections import Counter
from dataclasses import dataclass
from itertools import count

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score, silhouette_score

from recsys.activity import ActivityLog, MessageRow, ReactionRow
from recsys.features import FEATURES, ActivityFeatures, activity_features
from recsys.segments import (
    Segment,
    SegmentModel,
    _distinct,
    _silhouettes,
    _subsample,
    rule_segments,
)
from recsys.topics import TfidfEncoder, TopicSpace, documents_by_member

DAY = 86_400.0
NOW = 1_700_006_400.0  # Wednesday 2023-11-15 00:00 UTC
RUST = "tokio borrow checker lifetimes cargo traits macros clippy serde".split()
PYTHON = "pandas numpy django pip virtualenv dataframe pytest flask asyncio".split()
GO = "goroutines gin modules interfaces grpc channels context".split()
BASE = {"python": 44, "rust": 40, "lurkers": 48}


@dataclass
class Community:
    features: ActivityFeatures
    topics: sp.csr_matrix
    terms: list[str]
    groups: dict[str, str]  # member -> planted group
    space: TopicSpace

    def permuted(self, seed: int) -> Community:
        order = np.random.default_rng(seed).permutation(len(self.features.members))
        features = ActivityFeatures(
            members=[self.features.members[i] for i in order],
            names=self.features.names,
            values=self.features.values[order],
        )
        return Community(features, self.topics[order], self.terms, self.groups, self.space)


def _weekday_days_ago(rng: np.random.Generator, low: int, high: int) -> int:
    while True:
        days = int(rng.integers(low, high))
        if (int((NOW - days * DAY) // DAY) + 3) % 7 < 5:
            return days


def community(sizes: dict[str, int] = BASE, *, seed: int = 0, go: int = 0) -> Community:
    """Morning Python askers, evening Rust helpers who answer them, lurkers who only react,
    and optionally Go newcomers who post on weekend afternoons."""
    rng = np.random.default_rng(seed)
    ids = count()
    messages: list[MessageRow] = []
    reactions: list[ReactionRow] = []
    joined: dict[str, float] = {}
    groups: dict[str, str] = {}

    def at(days_ago: float, hour: int) -> float:
        return NOW - days_ago * DAY + hour * 3600 + rng.uniform(0, 3000)

    questions = []
    for i in range(sizes["python"]):
        member = f"py{i:03d}"
        groups[member], joined[member] = "python", NOW - rng.uniform(120, 400) * DAY
        for _ in range(int(rng.integers(5, 9))):
            words = " ".join(rng.choice(PYTHON, 3, replace=False))
            mid = f"m{next(ids)}"
            hour = int(rng.integers(7, 11))
            messages.append(
                MessageRow(
                    mid, member, "help", at(_weekday_days_ago(rng, 1, 25), hour), f"python {words}?"
                )
            )
            questions.append(mid)
    for i in range(sizes["rust"]):
        member = f"rs{i:03d}"
        groups[member], joined[member] = "rust", NOW - rng.uniform(120, 400) * DAY
        for _ in range(int(rng.integers(8, 13))):
            words = " ".join(rng.choice(RUST, 3, replace=False))
            hour = int(rng.integers(19, 23))
            messages.append(
                MessageRow(
                    f"m{next(ids)}",
                    member,
                    "help",
                    at(_weekday_days_ago(rng, 1, 25), hour),
                    f"rust {words}",
                    reply_to=str(rng.choice(questions)),
                    reactions=int(rng.integers(1, 4)),
                )
            )
    for i in range(sizes["lurkers"]):
        member = f"lk{i:03d}"
        groups[member], joined[member] = "lurkers", NOW - rng.uniform(120, 400) * DAY
        for _ in range(int(rng.integers(1, 4))):
            reactions.append(
                ReactionRow(member, None, at(int(rng.integers(1, 25)), int(rng.integers(0, 24))))
            )
    for i in range(go):
        member = f"go{i:03d}"
        groups[member], joined[member] = "go", NOW - rng.uniform(2, 10) * DAY
        for _ in range(int(rng.integers(4, 8))):
            words = " ".join(rng.choice(GO, 3, replace=False))
            # Saturday 13:00-16:00
            ts = NOW - 4 * DAY + 13 * 3600 + rng.uniform(0, 3 * 3600)
            messages.append(MessageRow(f"m{next(ids)}", member, "general", ts, f"go {words}"))
    shuffled = [messages[i] for i in rng.permutation(len(messages))]
    log = ActivityLog.build(shuffled, reactions, now=NOW, joined=joined)
    documents = documents_by_member(log.msg_text, log.msg_member, log.n_members)
    space = TopicSpace(TfidfEncoder()).fit(documents, [])
    terms = space.encoder.terms()
    assert terms is not None
    return Community(activity_features(log), space.encode(documents), terms, groups, space)


def fit(c: Community, previous: SegmentModel | None = None, **params: int) -> SegmentModel:
    return SegmentModel(**params).fit(c.features, c.topics, c.terms, previous=previous)


def id_of_group(model: SegmentModel, c: Community) -> dict[str, int]:
    """The single segment id of each planted group (fails if a group is split)."""
    by_group: dict[str, set[int]] = {}
    for member, segment in model.assignments().items():
        by_group.setdefault(c.groups[member], set()).add(segment)
    assert all(len(ids) == 1 for ids in by_group.values()), by_group
    return {group: ids.pop() for group, ids in by_group.items()}


def segment_of(model: SegmentModel, segment_id: int) -> Segment:
    return next(s for s in model.describe() if s.id == segment_id)


@pytest.fixture(scope="module")
def base() -> Community:
    return community()


@pytest.fixture(scope="module")
def model(base: Community) -> SegmentModel:
    return fit(base)


# -- clustering ------------------------------------------------------------------------


def test_silhouette_recovers_planted_groups(base: Community, model: SegmentModel) -> None:
    """k is chosen by silhouette and each planted group becomes exactly one segment."""
    assert len(model.describe()) == 3
    assert max(model.k_scores_, key=lambda k: model.k_scores_[k]) == 3
    truth = [base.groups[m] for m in model.members_]
    assert adjusted_rand_score(truth, model.labels_) == 1.0


def test_four_planted_groups_give_four_segments() -> None:
    """A fourth planted group (weekend Go newcomers) is found as its own segment."""
    c = community(go=20, seed=2)
    m = fit(c)
    assert len(m.describe()) == 4
    assert adjusted_rand_score([c.groups[x] for x in m.members_], m.labels_) == 1.0


def test_same_input_same_segments(base: Community, model: SegmentModel) -> None:
    """Fitting twice with the same seed gives the same labels, centroids and names."""
    again = fit(base)
    np.testing.assert_array_equal(again.labels_, model.labels_)
    np.testing.assert_array_equal(again.centroids_, model.centroids_)
    assert again.describe() == model.describe()


def test_member_order_does_not_change_segments(base: Community, model: SegmentModel) -> None:
    """The same members handed over in another order get the same segment ids."""
    shuffled = base.permuted(seed=7)
    assert shuffled.features.members != base.features.members
    assert fit(shuffled).assignments() == model.assignments()


def test_member_order_does_not_matter_without_structure() -> None:
    """Even where KMeans depends on its start (no real clusters), member order does not."""
    values = np.random.default_rng(0).poisson(3.0, size=(300, len(FEATURES)))
    features = _features(values)
    order = np.random.default_rng(1).permutation(300)
    shuffled = ActivityFeatures(
        [features.members[i] for i in order], FEATURES, features.values[order]
    )
    a = SegmentModel(k_min=5, k_max=5, n_init=1).fit(features)
    b = SegmentModel(k_min=5, k_max=5, n_init=1).fit(shuffled)
    assert a.assignments() == b.assignments()


def test_subsampled_fit_still_recovers_groups(base: Community) -> None:
    """With max_samples below the community size, k and the groups are still found."""
    m = fit(base, max_samples=60)
    assert len(m.describe()) == 3
    truth = [base.groups[x] for x in m.members_]
    assert adjusted_rand_score(truth, m.labels_) == 1.0


def test_subsample_depends_on_ids_not_order() -> None:
    """The silhouette subsample is a deterministic function of the member ids."""
    members = [f"u{i}" for i in range(1000)]
    picked = {members[i] for i in _subsample(members, 100, seed=0)}
    reversed_members = members[::-1]
    assert {reversed_members[i] for i in _subsample(reversed_members, 100, seed=0)} == picked
    assert len(picked) == 100
    assert {members[i] for i in _subsample(members, 100, seed=1)} != picked


def test_silhouettes_match_scikit_learn() -> None:
    """The shared-distance silhouette equals sklearn's for every labeling, singletons too."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    x[:100] += 4.0
    labelings = [
        (np.arange(300) < 100).astype(np.int64),
        rng.integers(0, 5, 300).astype(np.int64),
        np.r_[np.zeros(299, dtype=np.int64), [7]],  # a singleton cluster, sparse label values
    ]
    ours = _silhouettes(x, labelings)
    for labels, score in zip(labelings, ours, strict=True):
        assert score == pytest.approx(silhouette_score(x, labels), abs=1e-9)


# -- stable ids ------------------------------------------------------------------------


def test_ids_survive_a_retrain_that_reorders_clusters(base: Community, model: SegmentModel) -> None:
    """After resampled activity, shifted sizes and shuffled members, groups keep their ids."""
    before = id_of_group(model, base)
    retrain = community({"python": 44, "rust": 50, "lurkers": 38}, seed=1).permuted(seed=3)
    # Without matching the ids come out differently: the test can tell.
    assert id_of_group(fit(retrain, random_state=5), retrain) != before
    matched = fit(retrain, previous=model, random_state=5)
    assert id_of_group(matched, retrain) == before
    assert matched.next_id_ == model.next_id_


def test_new_group_gets_a_fresh_id(base: Community, model: SegmentModel) -> None:
    """A group that appears gets an id never used before; the others keep theirs."""
    before = id_of_group(model, base)
    grown = community(BASE, seed=1, go=20)
    after = id_of_group(fit(grown, previous=model), grown)
    assert {g: after[g] for g in before} == before
    assert after["go"] == model.next_id_


def test_retired_ids_are_not_reused(base: Community, model: SegmentModel) -> None:
    """A segment that vanished and comes back later is a new segment with a new id."""
    before = id_of_group(model, base)
    without = community({"python": 44, "rust": 40, "lurkers": 0}, seed=1)
    m2 = fit(without, previous=model)
    assert id_of_group(m2, without) == {"rust": before["rust"], "python": before["python"]}
    back = community(BASE, seed=2)
    m3 = fit(back, previous=m2)
    ids = id_of_group(m3, back)
    assert ids["lurkers"] not in set(before.values())
    assert ids["lurkers"] == model.next_id_
    assert {ids["rust"], ids["python"]} == {before["rust"], before["python"]}
    assert ids["rust"] == before["rust"]


def test_a_different_segment_does_not_inherit_an_id(base: Community, model: SegmentModel) -> None:
    """An unrelated group replacing a vanished one gets a fresh id; drifted ones keep theirs."""
    before = id_of_group(model, base)
    # Without the Rust helpers the Python askers get no replies: they drift but stay.
    swapped = community({"python": 44, "rust": 0, "lurkers": 48}, seed=1, go=40)
    ids = id_of_group(fit(swapped, previous=model), swapped)
    assert ids["lurkers"] == before["lurkers"]
    assert ids["python"] == before["python"]
    assert ids["go"] == model.next_id_


def test_matching_survives_a_refitted_vocabulary(base: Community, model: SegmentModel) -> None:
    """Ids are matched through term names even when the new vocabulary has other columns."""
    before = id_of_group(model, base)
    c = community({"python": 40, "rust": 44, "lurkers": 48}, seed=4, go=15)
    assert c.terms != base.terms
    assert {g: v for g, v in id_of_group(fit(c, previous=model), c).items() if g != "go"} == before


# -- names -----------------------------------------------------------------------------


def test_names_and_descriptions_mention_planted_traits(
    base: Community, model: SegmentModel
) -> None:
    """Segments are named after their terms and behaviour, and the names are distinct."""
    ids = id_of_group(model, base)
    rust, python, lurkers = (segment_of(model, ids[g]) for g in ("rust", "python", "lurkers"))
    assert "rust" in rust.name.lower()
    assert "helpers" in rust.name
    assert "answer" in rust.description
    assert "evenings" in rust.description
    assert "rust" in rust.top_terms
    assert "python" in python.name.lower()
    assert "askers" in python.name
    assert "mornings" in python.description
    assert "ask " in python.description
    assert "rust" not in lurkers.name.lower() and "python" not in lurkers.name.lower()
    assert "rarely post" in lurkers.traits
    # One trait per family: correlated help counts do not crowd out the rest.
    assert not {"answer often", "helpful answers"} <= set(rust.traits)
    assert rust.description.startswith("40 members · ")
    assert [s.size for s in model.describe()] == [
        Counter(model.labels_.tolist())[s.id] for s in model.describe()
    ]
    assert len({s.name for s in model.describe()}) == 3


def test_newcomer_group_is_named_as_newcomers() -> None:
    """Recently joined weekend posters read as newcomers who post on weekends."""
    c = community(go=20, seed=2)
    m = fit(c)
    go = segment_of(m, id_of_group(m, c)["go"])
    assert "newcomers" in go.name
    assert "weekends" in go.traits
    assert "joined" in go.description


def test_top_terms_are_relative_to_everyone(base: Community, model: SegmentModel) -> None:
    """A term everyone uses is not a segment's top term, even if it weighs most (dense rows)."""
    rust_members = np.array([base.groups[m] == "rust" for m in base.features.members])
    topics = np.zeros((len(rust_members), 2))
    topics[:, 0] = 0.8  # "hello", used by everyone
    topics[rust_members, 1] = 0.5  # "ferris", only the Rust helpers
    m = SegmentModel().fit(base.features, topics, ["hello", "ferris"])
    rust = segment_of(m, id_of_group(m, base)["rust"])
    assert rust.top_terms == ("ferris",)
    assert all("hello" not in s.top_terms for s in m.describe())


def test_heavy_tailed_counts_do_not_split_off_outliers(base: Community) -> None:
    """A helper with 50× the counts of their peers stays in their peers' segment."""
    values = base.features.values.copy()
    whale = next(i for i, m in enumerate(base.features.members) if base.groups[m] == "rust")
    values[whale, :12] *= 50
    features = ActivityFeatures(base.features.members, base.features.names, values)
    m = SegmentModel().fit(features, base.topics, base.terms)
    assert len(m.describe()) == 3
    assert adjusted_rand_score([base.groups[x] for x in m.members_], m.labels_) == 1.0


def test_duplicate_names_are_disambiguated() -> None:
    """Two segments that would share a name get an extra trait, then their id."""
    names = _distinct(
        ["A — x", "A — x", "B", "C", "C"], [["y"], ["z"], [], ["w"], ["w"]], [0, 1, 2, 3, 4]
    )
    assert names == ["A — x (y)", "A — x (z)", "B", "C (w) #3", "C (w) #4"]


# -- prediction and persistence --------------------------------------------------------


def test_predict_matches_fit_labels(base: Community, model: SegmentModel) -> None:
    """Training members are predicted into the segment fit gave them, in any order."""
    np.testing.assert_array_equal(
        model.predict(base.features, base.topics, base.terms), model.labels_
    )
    shuffled = base.permuted(seed=11)
    predicted = model.predict(shuffled.features, shuffled.topics, shuffled.terms)
    assignments = model.assignments()
    assert predicted.tolist() == [assignments[m] for m in shuffled.features.members]


def test_predict_aligns_topic_columns_by_term(base: Community, model: SegmentModel) -> None:
    """Topic columns in another order are matched to the training terms by name."""
    order = np.random.default_rng(0).permutation(len(base.terms))
    predicted = model.predict(base.features, base.topics[:, order], [base.terms[i] for i in order])
    np.testing.assert_array_equal(predicted, model.labels_)


def test_predict_places_a_new_member(base: Community, model: SegmentModel) -> None:
    """A member unseen in training who behaves like a Rust helper lands in that segment."""
    rows = [
        MessageRow("q", "asker", "help", NOW - 2 * DAY + 9 * 3600, "python pandas?"),
        *(
            MessageRow(
                f"a{i}",
                "newbie",
                "help",
                NOW - (i + 1) * DAY + 20 * 3600,
                "rust tokio borrow serde",
                reply_to="q",
                reactions=2,
            )
            for i in range(10)
        ),
    ]
    log = ActivityLog.build(rows, now=NOW, joined={"newbie": NOW - 200 * DAY})
    documents = documents_by_member(log.msg_text, log.msg_member, log.n_members)
    features = activity_features(log)
    predicted = model.predict(features, base.space.encode(documents), base.terms)
    newbie = predicted[features.members.index("newbie")]
    assert newbie == id_of_group(model, base)["rust"]


def test_state_round_trip_through_savez_and_json(base: Community, model: SegmentModel) -> None:
    """A model saved as npz + JSON (no pickle) predicts, describes and matches the same."""
    state = model.state()
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    rest = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        restored_state = {**json.loads(json.dumps(rest)), **{k: loaded[k] for k in loaded.files}}
    restored = SegmentModel.from_state(restored_state)
    np.testing.assert_array_equal(
        restored.predict(base.features, base.topics, base.terms),
        model.predict(base.features, base.topics, base.terms),
    )
    assert restored.describe() == model.describe()
    assert restored.assignments() == model.assignments()
    retrain = community({"python": 44, "rust": 50, "lurkers": 38}, seed=1)
    assert id_of_group(fit(retrain, previous=restored), retrain) == id_of_group(model, base)


def test_unknown_state_format_is_refused(model: SegmentModel) -> None:
    """A state from another format version is rejected rather than misread."""
    state = model.state()
    state["format"] = 99
    with pytest.raises(ValueError, match="format"):
        SegmentModel.from_state(state)


def test_unfitted_model_refuses_to_predict(base: Community) -> None:
    """Predicting, describing or saving before fit raises NotFittedError."""
    with pytest.raises(NotFittedError):
        SegmentModel().predict(base.features, base.topics, base.terms)
    with pytest.raises(NotFittedError):
        SegmentModel().state()


@pytest.mark.parametrize(
    "params",
    [
        {"k_min": 1},
        {"k_min": 4, "k_max": 3},
        {"topic_components": -1},
        {"n_init": 0},
        {"max_samples": 2},
        {"min_share": 0.5},
    ],
)
def test_invalid_parameters_are_rejected_by_fit(base: Community, params: dict[str, int]) -> None:
    """Invalid parameters are stored by __init__ and rejected by fit."""
    model = SegmentModel(**params)
    with pytest.raises(ValueError):
        model.fit(base.features, base.topics, base.terms)


def test_misaligned_topics_are_rejected(base: Community) -> None:
    """A topic matrix with the wrong number of rows or terms fails loudly."""
    with pytest.raises(ValueError, match="rows"):
        SegmentModel().fit(base.features, base.topics[:-1], base.terms)
    with pytest.raises(ValueError, match="terms"):
        SegmentModel().fit(base.features, base.topics, base.terms[:-1])


# -- degenerate input ------------------------------------------------------------------


def _features(values: np.ndarray, prefix: str = "u") -> ActivityFeatures:
    return ActivityFeatures(
        members=[f"{prefix}{i}" for i in range(len(values))],
        names=FEATURES,
        values=np.asarray(values, dtype=np.float32),
    )


def _quiet_fit(
    features: ActivityFeatures, topics: object = None, terms: list[str] | None = None
) -> SegmentModel:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return SegmentModel().fit(features, topics, terms)


def test_one_member_is_one_segment() -> None:
    """A community of one member gets a single segment without warnings."""
    log = ActivityLog.build([MessageRow("m", "solo", "c", NOW - DAY, "rust")], now=NOW)
    m = _quiet_fit(activity_features(log), sp.csr_matrix(np.ones((1, 1))), ["rust"])
    assert m.assignments() == {"solo": 0}
    assert m.describe()[0].name == "Everyone"
    assert m.describe()[0].description == "1 member · talk about rust"


def test_identical_members_are_one_segment() -> None:
    """Two (or twenty) identical members cannot be split and end up in one segment."""
    row = np.zeros(len(FEATURES))
    row[0] = 5
    for n in (2, 20):
        m = _quiet_fit(_features(np.tile(row, (n, 1))))
        assert set(m.assignments().values()) == {0}
        assert m.silhouette_ is None


def test_no_texts_still_segments_on_activity(base: Community) -> None:
    """Without any text (no matrix, or one with no terms) segments come from activity."""
    for topics, terms in ((None, None), (sp.csr_matrix((len(base.features.members), 0)), [])):
        m = _quiet_fit(base.features, topics, terms)
        assert m.components_.shape[0] == 0
        assert all(s.top_terms == () for s in m.describe())
        truth = [base.groups[x] for x in m.members_]
        assert adjusted_rand_score(truth, m.labels_) == 1.0
        restored = SegmentModel.from_state(m.state())
        np.testing.assert_array_equal(restored.predict(base.features, topics, terms), m.labels_)


def test_empty_community_is_an_error() -> None:
    """Fitting on no members is a ValueError, not an obscure numpy failure."""
    with pytest.raises(ValueError, match="empty"):
        SegmentModel().fit(_features(np.zeros((0, len(FEATURES)))))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 25),
    seed=st.integers(0, 2**16),
    duplicates=st.booleans(),
)
def test_fit_and_predict_agree_on_arbitrary_small_inputs(
    n: int, seed: int, duplicates: bool
) -> None:
    """Any small input fits, every member gets a known segment and predict agrees."""
    rng = np.random.default_rng(seed)
    values = rng.poisson(2.0, size=(n, len(FEATURES))).astype(np.float64)
    if duplicates:
        values[n // 2 :] = values[0]
    topics = sp.random(n, 6, density=0.3, random_state=seed, format="csr")
    m = SegmentModel(k_max=4).fit(_features(values), topics, [f"t{i}" for i in range(6)])
    assert set(m.labels_.tolist()) == set(m.segment_ids_.tolist())
    assert sum(s.size for s in m.describe()) == n
    np.testing.assert_array_equal(m.predict(_features(values), topics), m.labels_)


# -- scale -----------------------------------------------------------------------------


@pytest.mark.slow
def test_fits_fifty_thousand_members() -> None:
    """50k members with the full feature set and a sparse topic matrix fit and predict."""
    n = 50_000
    rng = np.random.default_rng(0)
    kind = rng.integers(0, 3, n)
    values = np.zeros((n, len(FEATURES)))
    values[:, :12] = rng.poisson(np.array([1.0, 10.0, 40.0])[kind][:, None], size=(n, 12))
    values[:, 12] = rng.exponential(np.array([60.0, 5.0, 1.0])[kind])
    values[:, 13] = rng.uniform(1, 500, n)
    hour_weights = np.ones((3, 24))
    hour_weights[1, 6:12] = 20
    hour_weights[2, 18:24] = 20
    values[:, 14:38] = np.vstack([rng.dirichlet(hour_weights[k]) for k in kind])
    values[:, 38:45] = rng.dirichlet(np.ones(7), n)
    topics = sp.random(n, 400, density=0.02, random_state=0, format="csr")
    features = _features(values, prefix="member")
    m = SegmentModel().fit(features, topics, [f"t{i}" for i in range(400)])
    assert 2 <= len(m.describe()) <= 8
    assert len(m.labels_) == n
    np.testing.assert_array_equal(m.predict(features, topics)[:1000], m.labels_[:1000])


# -- rule segments ---------------------------------------------------------------------


def rule_community() -> ActivityFeatures:
    """80 ordinary members plus planted newcomers, recently inactive members and helpers."""
    ids = count()
    rows: list[MessageRow] = []
    reactions: list[ReactionRow] = []
    joined: dict[str, float] = {}

    def post(
        member: str, days_ago: float, text: str = "sharing progress today", **kw: object
    ) -> str:
        mid = f"m{next(ids)}"
        rows.append(MessageRow(mid, member, "c", NOW - days_ago * DAY, text, **kw))
        return mid

    for i in range(80):
        joined[f"o{i:02d}"] = NOW - 100 * DAY
        for day in range(5):
            post(f"o{i:02d}", day * 0.5 + 0.1)
    joined["asker"] = NOW - 100 * DAY
    questions = [post("asker", 1, "how do I deploy this?") for _ in range(12)]
    # Champions: 6, 5 and 4 helpful answers; a fourth helper has only 2.
    for helper, helpful in (("h1", 6), ("h2", 5), ("h3", 4), ("h4", 2)):
        joined[helper] = NOW - 100 * DAY
        for q in questions[:helpful]:
            post(helper, 1, "use the deploy script", reply_to=q, reactions=1)
    # Newcomers: joined 3 and 14 days ago (inclusive bound); 15 days ago is not new.
    joined.update({"new1": NOW - 3 * DAY, "new2": NOW - 14 * DAY, "old15": NOW - 15 * DAY})
    post("new1", 1)
    post("old15", 1)
    # Recently inactive: active once, quiet 7..28 days.
    for member, last, messages in (
        ("gone10", 10, 5),
        ("gone27", 27, 3),
        ("gone40", 40, 5),
        ("once10", 10, 1),
        ("fresh3", 3, 5),
    ):
        joined[member] = NOW - 100 * DAY
        for _ in range(messages):
            post(member, last)
    # Two active days (a message and a reaction on another day), quiet for 20 days.
    joined["days20"] = NOW - 100 * DAY
    post("days20", 20)
    reactions.append(ReactionRow("days20", "o00", NOW - 21 * DAY))
    log = ActivityLog.build(rows, reactions, now=NOW, joined=joined)
    return activity_features(log)


def test_rule_segments_pick_the_planted_members() -> None:
    """Newcomers, recently inactive members and champions are exactly the planted ones."""
    segments = rule_segments(rule_community())
    assert sorted(segments["newcomers"]) == ["new1", "new2"]
    assert sorted(segments["recently_inactive"]) == ["days20", "gone10", "gone27"]
    assert segments["champions"] == ["h1", "h2", "h3"]


def test_rule_segment_thresholds_are_configurable() -> None:
    """Windows, minimums and the champion cap follow the keyword arguments."""
    features = rule_community()
    segments = rule_segments(
        features,
        newcomer_days=15,
        quiet_days=(5, 45),
        min_messages=1,
        champion_min_helpful=2,
        max_champions=2,
    )
    assert sorted(segments["newcomers"]) == ["new1", "new2", "old15"]
    assert sorted(segments["recently_inactive"]) == [
        "days20",
        "gone10",
        "gone27",
        "gone40",
        "once10",
    ]
    assert segments["champions"] == ["h1", "h2"]
    wide = rule_segments(features, champion_share=0.5, champion_min_helpful=2)
    assert wide["champions"] == ["h1", "h2", "h3", "h4"]


def test_champions_need_the_minimum_even_in_a_small_community() -> None:
    """The top 5% of a tiny community is still empty if nobody has enough helpful answers."""
    values = np.zeros((3, len(FEATURES)))
    values[:, FEATURES.index("helpful_answers")] = [2, 1, 0]
    assert rule_segments(_features(values))["champions"] == []
    values[0, FEATURES.index("helpful_answers")] = 3
    assert rule_segments(_features(values))["champions"] == ["u0"]


def test_inverted_quiet_window_is_an_error() -> None:
    """A quiet window whose low end exceeds its high end is refused."""
    with pytest.raises(ValueError, match="quiet_days"):
        rule_segments(rule_community(), quiet_days=(28, 7))


def test_forget_removes_members_from_state_and_sizes(base: Community) -> None:
    """Forgotten members leave `members_`, `labels_`, the sizes and the saved state."""
    model = fit(base)
    before = {segment.id: segment.size for segment in model.describe()}
    gone = model.members_[:3]
    labels = [model.assignments()[member] for member in gone]
    assert model.forget([*gone, "never-seen"]) == 3
    assert not set(gone) & set(model.members_)
    assert len(model.labels_) == len(model.members_)
    after = {segment.id: segment.size for segment in model.describe()}
    for segment_id, size in before.items():
        assert after[segment_id] == size - labels.count(segment_id)
    state = json.dumps({k: v for k, v in model.state().items() if not isinstance(v, np.ndarray)})
    assert all(f'"{member}"' not in state for member in gone)
    assert model.forget(gone) == 0


# -- names from distinguishing, meaningful terms ----------------------------------------


def _chat_community(texts: dict[str, str]) -> tuple[Community, SegmentModel]:
    """The base community's activity, with each planted group writing its own line."""
    base = community()
    documents = [texts[base.groups[m]] for m in base.features.members]
    space = TopicSpace(TfidfEncoder()).fit(documents, [])
    terms = space.encoder.terms()
    assert terms is not None
    c = Community(base.features, space.encode(documents), terms, base.groups, space)
    return c, fit(c)


def test_chinese_names_are_words_not_fragments_or_generic_words() -> None:
    """适合入门 names a segment by the word 入门, never the bigram 合入 or the generic 适合."""
    c, m = _chat_community(
        {
            "python": "这个课程适合入门吗？python 适合入门",
            "rust": "rust 的生命周期和所有权，谢谢大家",
            "lurkers": "谢谢大家",
        }
    )
    ids = id_of_group(m, c)
    python, rust = segment_of(m, ids["python"]), segment_of(m, ids["rust"])
    names = " ".join(s.name + " " + s.description for s in m.describe())
    for bad in ("合入", "更适", "适合", "谢谢", "大家", "的"):
        assert bad not in names, bad
    assert python.head in {"python", "入门", "课程"} and "入门" in python.top_terms
    assert rust.head in {"rust", "生命周期", "所有权"}


def test_english_names_skip_stop_words_and_words_everyone_uses() -> None:
    """ "First", "error" and "thanks" (said by everyone, or stop words) never name a segment."""
    c, m = _chat_community(
        {
            "python": "first error thanks python pandas error first",
            "rust": "first error thanks rust tokio error the",
            "lurkers": "first error thanks",
        }
    )
    for segment in m.describe():
        words = {*segment.name.lower().split(), *segment.top_terms}
        assert not words & {"first", "error", "thanks", "the"}, segment.name
    ids = id_of_group(m, c)
    assert segment_of(m, ids["rust"]).head in {"rust", "tokio"}
    assert segment_of(m, ids["python"]).head in {"python", "pandas"}


def test_a_segment_without_a_distinctive_term_is_named_by_activity() -> None:
    """When every group writes the same words, names come from roles and traits alone."""
    c, m = _chat_community({g: "rust tokio python pandas" for g in ("python", "rust", "lurkers")})
    for segment in m.describe():
        assert segment.head == "" and segment.top_terms == ()
        assert not {"rust", "tokio", "python", "pandas"} & set(segment.name.lower().split())
    rust = segment_of(m, id_of_group(m, c)["rust"])
    assert rust.name.startswith("Helpers — ")


def test_a_term_used_by_a_single_member_does_not_name_a_segment(base: Community) -> None:
    """One member's heavy rare term lacks support: the term the whole segment uses wins."""
    rust = np.array([base.groups[m] == "rust" for m in base.features.members])
    topics = np.zeros((len(rust), 2))
    topics[rust, 0] = 0.1  # "rust", used lightly by every Rust helper
    topics[np.flatnonzero(rust)[0], 1] = 10.0  # "zzyzx", one member, a lot
    m = SegmentModel().fit(base.features, topics, ["rust", "zzyzx"])
    segment = segment_of(m, id_of_group(m, base)["rust"])
    assert segment.top_terms == ("rust",) and segment.name.startswith("Rust ")


def test_with_a_catalog_only_its_topics_lead_a_name(base: Community) -> None:
    """ "hot" distinguishes the Rust helpers most, but the catalog teaches rust: rust leads."""
    rust = np.array([base.groups[m] == "rust" for m in base.features.members])
    lurkers = np.array([base.groups[m] == "lurkers" for m in base.features.members])
    topics = np.zeros((len(rust), 3))
    topics[rust, 0] = 0.2  # "rust"
    topics[rust, 1] = 0.9  # "hot", more distinctive
    topics[lurkers, 2] = 0.5  # "underrated", only the lurkers
    terms = ["rust", "hot", "underrated"]
    plain = SegmentModel().fit(base.features, topics, terms)
    assert segment_of(plain, id_of_group(plain, base)["rust"]).head == "hot"
    m = SegmentModel().fit(base.features, topics, terms, topic_terms={"rust", "go"})
    ids = id_of_group(m, base)
    helpers, quiet = segment_of(m, ids["rust"]), segment_of(m, ids["lurkers"])
    assert helpers.head == "rust" and helpers.top_terms == ("rust", "hot")
    assert quiet.head == "" and "underrated" not in quiet.name  # no topic of the catalog
    assert quiet.top_terms == ("underrated",)  # the description still says what they say


def test_segment_names_and_descriptions_render_in_chinese(model: SegmentModel) -> None:
    """A zh translator renders the stored parts; English shows the stored text unchanged."""
    from bot.i18n import segment_description, segment_name, translator

    zh, en = translator("zh-CN"), translator("en")
    for segment in model.describe():
        assert segment_name(en, segment) == segment.name
        assert segment_description(en, segment) == segment.description
        name, description = segment_name(zh, segment), segment_description(zh, segment)
        assert description.startswith(f"{segment.size} 名成员")
        for english in ("helpers", "askers", "lurkers", "answer", "members", "evenings"):
            assert english not in name and english not in description, (name, description)
    rust = next(s for s in model.describe() if s.head == "rust")
    assert segment_name(zh, rust).startswith("聊 rust 的热心解答者——")
    assert "常聊 rust" in segment_description(zh, rust)


def test_states_saved_before_name_parts_still_load(model: SegmentModel) -> None:
    """A state without the name parts (an older artifact) loads and keeps its names."""
    state = model.state()
    state["segments"] = [
        {
            k: v
            for k, v in s.items()
            if k in {"id", "name", "description", "size", "top_terms", "traits"}
        }
        for s in state["segments"]
    ]
    restored = SegmentModel.from_state(state)
    assert [s.name for s in restored.describe()] == [s.name for s in model.describe()]
    assert all(s.head == "" and s.facts == () for s in restored.describe())
