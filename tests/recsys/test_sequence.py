"""Order of enrolments: the next-item ranker and the item-item ranker's recency weights.

The planted data is a chain of courses c0 → c1 → … → c19 → c0: every member takes a
run of consecutive courses in chain order, so the next course follows from the last
one taken, and only the order (the timestamps) says which end of the run is the last.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.data import Dataset, IdMap, Split
from recsys.evaluate import evaluate
from recsys.rankers import BlendRanker, ItemItemRanker, NextItemRanker, Ranker
from recsys.rankers.sequence import event_order, hold_out_latest, recency_rows

CHAIN = 20
COURSES = IdMap(tuple(f"c{i}" for i in range(CHAIN)))


def chain(
    members: int = 800, seed: int = 0, *, times: str = "ordered"
) -> tuple[Dataset, dict[int, np.ndarray]]:
    """Training data (runs of the chain) and each member's next course in the chain.

    `times`: "ordered" (true order), "shuffled" (each member's times permuted) or
    "none" (no timestamps).
    """
    rng = np.random.default_rng(seed)
    member_ids, course_ids, stamps = [], [], []
    nexts = {}
    for m in range(members):
        start, length = int(rng.integers(CHAIN)), int(rng.integers(3, 7))
        run = [(start + j) % CHAIN for j in range(length)]
        clock = np.arange(1, length + 1, dtype=float)
        if times == "shuffled":
            rng.shuffle(clock)
        member_ids += [f"m{m}"] * length
        course_ids += [f"c{c}" for c in run]
        stamps += list(clock)
        nexts[m] = np.asarray([(start + length) % CHAIN], dtype=np.int64)
    data = Dataset.from_events(
        member_ids,
        course_ids,
        timestamps=None if times == "none" else stamps,
        members=IdMap(tuple(f"m{m}" for m in range(members))),
        courses=COURSES,
    )
    return data, nexts


def ndcg(ranker: Ranker, times: str, k: int = 1) -> float:
    data, nexts = chain(times=times)
    return evaluate(ranker, Split(train=data, held_out=nexts), k).ndcg


def test_next_item_model_uses_the_order() -> None:
    """With true times the next course is found; with times that carry no order it is not."""
    ordered = ndcg(NextItemRanker(), "ordered")
    shuffled = ndcg(NextItemRanker(), "shuffled")
    assert ordered > 0.9
    assert shuffled < 0.7 * ordered


def test_item_item_recency_weights_use_the_order() -> None:
    """Recency-weighted rows beat the binary rows of the same model on ordered data."""
    ranker = ItemItemRanker()
    ordered = ndcg(ranker, "ordered")
    assert ranker.decay_ < 1.0  # validation chose to weight recent courses more
    binary = ndcg(ItemItemRanker(), "none")
    shuffled = ndcg(ItemItemRanker(), "shuffled")
    assert ordered > 1.3 * binary
    assert ordered > 1.3 * shuffled


def test_without_timestamps_the_next_item_model_learns_nothing() -> None:
    """No times: every known member scores 0, so a blend gives the model no weight."""
    data, _ = chain(times="none")
    ranker = NextItemRanker().fit(data)
    assert not ranker.score(["m0", "m1"]).any()
    blend = BlendRanker([ItemItemRanker(), NextItemRanker()], validation_members=400).fit(data)
    weights = dict(zip([c.name for c in blend.components_], blend.weights_, strict=True))
    assert weights["sequence"] == 0
    assert weights["itemitem"] > 0


def test_too_few_transitions_learn_nothing() -> None:
    """Below min_pairs transitions the model stays empty instead of fitting noise."""
    data, _ = chain(members=5)
    ranker = NextItemRanker(min_pairs=1000).fit(data)
    assert not ranker.score(["m0"]).any()
    assert len(ranker.recommend(["m0"], 3).courses[0]) == 3


def test_event_order_counts_the_latest_time_and_breaks_ties_by_course() -> None:
    """Positions follow time; a repeated course sits at its latest time; ties go by course."""
    data = Dataset.from_events(
        ["a", "a", "a", "a", "b", "b"],
        ["x", "y", "x", "z", "y", "x"],
        timestamps=[1.0, 2.0, 5.0, 3.0, 7.0, 7.0],
    )
    order = event_order(data, data.owned())
    assert order is not None
    position = {
        (data.members.ids[r], data.courses.ids[c]): order[r, c]
        for r, c in zip(*order.nonzero(), strict=True)
    }
    assert position == {
        ("a", "y"): 1,
        ("a", "z"): 2,
        ("a", "x"): 3,
        ("b", "x"): 1,
        ("b", "y"): 2,
    }
    weights = recency_rows(order, 0.5, 10).toarray()
    assert weights[data.members.index["a"]].tolist() == [1.0, 0.25, 0.5]
    rest, rows, targets = hold_out_latest(order, np.asarray([0, 1]))
    assert [data.courses.ids[t] for t in targets] == ["x", "y"]
    assert rest.nnz == 3 and rows.tolist() == [0, 1]


@pytest.mark.parametrize("kind", [NextItemRanker, ItemItemRanker])
def test_save_and_load_keep_the_order(kind: type[Ranker], tmp_path: Path) -> None:
    """A saved model with timestamps loads (no pickle) and scores exactly the same."""
    data, _ = chain()
    ranker = kind().fit(data)
    ranker.save(tmp_path / "model")
    loaded = Ranker.load(tmp_path / "model")
    ids = ["m0", "m3", "stranger"]
    np.testing.assert_allclose(loaded.score(ids), ranker.score(ids), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", [NextItemRanker, ItemItemRanker])
def test_forget_recomputes_without_the_member(kind: type[Ranker]) -> None:
    """After forget(), the learned weights are those of a fit that never saw the member."""
    data, _ = chain()
    params = {"tune": False}
    ranker = kind(**params).fit(data)
    ranker.forget(["m7"])
    without = kind(**params).fit(chain_without(data, "m7"))
    np.testing.assert_allclose(ranker.weights_, without.weights_, rtol=1e-4, atol=1e-5)
    ids = ["m0", "m9"]
    np.testing.assert_allclose(ranker.score(ids), without.score(ids), rtol=1e-4, atol=1e-5)


def chain_without(data: Dataset, member: str) -> Dataset:
    """The same events without one member (timestamps kept)."""
    assert data.events is not None
    rows, cols, weights, ts = data.events
    keep = rows != data.members.index[member]
    members = [data.members.ids[r] for r in rows[keep]]
    return Dataset.from_events(
        members,
        [data.courses.ids[c] for c in cols[keep]],
        weights[keep],
        ts[keep],
        members=IdMap(tuple(m for m in data.members.ids if m != member)),
        courses=data.courses,
    )


def test_the_blends_validation_keeps_purchase_times_so_order_earns_weight() -> None:
    """leave_one_out keeps the remaining times: the next-item model earns a weight."""
    data, _ = chain()
    blend = BlendRanker(
        [ItemItemRanker(tune=False, decay=1.0), NextItemRanker()],
        validation_members=500,
        min_validation_members=50,
    ).fit(data)
    weights = dict(zip([c.name for c in blend.components_], blend.weights_, strict=True))
    assert weights["sequence"] > 0
    assert blend.validation_["alone"]["sequence"] > blend.validation_["alone"]["itemitem"]


def test_the_final_fit_reuses_what_validation_chose() -> None:
    """The blend refits tuned components with their chosen values, not a second search."""
    data, _ = chain()
    blend = BlendRanker([ItemItemRanker(), NextItemRanker()], validation_members=500).fit(data)
    refitted = [c for c, w in zip(blend.components_, blend.weights_, strict=True) if w]
    assert refitted
    for component in refitted:
        assert component.get_params()["tune"] is False
        assert component.name in blend.validation_["tuning"]
        assert component.get_params()["decay"] == component.decay_
