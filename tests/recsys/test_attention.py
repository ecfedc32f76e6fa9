"""The self-attention sequence model (Keras, SASRec-style) on the planted course chain.

The chain (tests/recsys/test_sequence.py) makes the next course follow from the last
one taken, so a model that reads the order finds it and one that cannot does not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.data import Dataset, Split
from recsys.evaluate import evaluate
from recsys.quiet_tensorflow import import_tensorflow
from recsys.rankers import AttentionRanker, BlendRanker, PopularityRanker, Ranker
from recsys.rankers.attention import _build, _export, encode, latest_windows, training_windows
from recsys.rankers.sequence import event_order, timeline
from tests.recsys.test_sequence import chain, chain_without


def small(**overrides: object) -> AttentionRanker:
    """A tiny, quick model that still learns the chain."""
    params: dict[str, object] = {
        "dim": 16,
        "length": 8,
        "epochs": 40.0,
        "batch_size": 128,
        "learning_rate": 1e-2,
        "dropout": 0.0,
        "min_transitions": 100,
    }
    params.update(overrides)
    return AttentionRanker(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ordered() -> tuple[Dataset, dict[int, np.ndarray], AttentionRanker]:
    """The chain with true times, and a model fitted on it."""
    data, nexts = chain()
    return data, nexts, small().fit(data)


def timeline_of(sequences: list[list[int]], n_courses: int = 10) -> sp.csr_matrix:
    """Members × courses: each course's 1-based position in the member's sequence."""
    rows = [r for r, sequence in enumerate(sequences) for _ in sequence]
    cols = [c for sequence in sequences for c in sequence]
    positions = [p + 1.0 for sequence in sequences for p in range(len(sequence))]
    order = sp.csr_matrix(
        (positions, (rows, cols)), shape=(len(sequences), n_courses), dtype=np.float32
    )
    order.sort_indices()  # storage by course, not by position, as `event_order` stores it
    return order


def test_windows_cover_every_transition_once() -> None:
    """Each course after a member's first is a target exactly once, padded on the left."""
    sequences = [[0, 1, 2, 3, 4, 5, 6], [4], [2, 5], [5, 2]]  # the last stored out of order
    inputs, targets = training_windows(timeline_of(sequences), 3)
    assert int((targets > 0).sum()) == 6 + 0 + 1 + 1
    assert inputs.tolist() == [[4, 5, 6], [1, 2, 3], [0, 0, 3], [0, 0, 6]]
    assert targets.tolist() == [[5, 6, 7], [2, 3, 4], [0, 0, 6], [0, 0, 3]]
    latest = latest_windows(timeline_of([[0, 1, 2, 3, 4, 5, 6], []]), 3)
    assert latest.tolist() == [[5, 6, 7], [0, 0, 0]]


def test_the_model_reads_the_order(
    ordered: tuple[Dataset, dict[int, np.ndarray], AttentionRanker],
) -> None:
    """With true times the next course is found; with shuffled times it is not."""
    data, nexts, ranker = ordered
    found = evaluate(ranker, Split(train=data, held_out=nexts), 1, fit=False).ndcg
    shuffled, shuffled_nexts = chain(times="shuffled")
    lost = evaluate(small(), Split(train=shuffled, held_out=shuffled_nexts), 1).ndcg
    assert found > 0.9
    assert lost < 0.7 * found


def test_numpy_forward_pass_matches_keras() -> None:
    """`encode` (numpy, used to score) gives the Keras model's output at the last position."""
    _, keras = import_tensorflow(2)
    keras.utils.set_random_seed(3)
    model = _build(keras, n_courses=12, dim=8, length=5, dropout=0.0)
    rng = np.random.default_rng(0)
    windows = rng.integers(1, 13, size=(6, 5)).astype(np.int32)
    windows[0, :3] = 0  # left padding
    windows[1, :4] = 0
    expected = np.asarray(model(windows, training=False))[:, -1]
    np.testing.assert_allclose(encode(_export(model), windows), expected, rtol=1e-4, atol=1e-5)


def test_too_few_transitions_learn_nothing_without_importing_tensorflow() -> None:
    """Below min_transitions every known member scores 0 and TensorFlow is never imported."""
    code = (
        "import sys\n"
        "from tests.recsys.test_sequence import chain\n"
        "from recsys.rankers import AttentionRanker\n"
        "data, _ = chain(members=40)\n"
        "ranker = AttentionRanker(min_transitions=10_000).fit(data)\n"
        "assert not ranker.score(['m0', 'm1']).any()\n"
        "assert len(ranker.recommend(['m0'], 3).courses[0]) == 3\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == "False"


def test_save_and_load_score_the_same_without_pickle(
    ordered: tuple[Dataset, dict[int, np.ndarray], AttentionRanker], tmp_path: Path
) -> None:
    """A saved model loads (no pickle, no TensorFlow needed) and scores exactly the same."""
    _, _, ranker = ordered
    ranker.save(tmp_path / "model")
    loaded = Ranker.load(tmp_path / "model")
    assert isinstance(loaded, AttentionRanker)
    ids = ["m0", "m3", "stranger"]
    np.testing.assert_allclose(loaded.score(ids), ranker.score(ids), rtol=1e-6, atol=1e-6)


def test_forget_drops_the_member_and_their_order(tmp_path: Path) -> None:
    """After forget() the member is unknown, others score as before, no file names them."""
    data, _ = chain()
    ranker = small().fit(data)
    before = ranker.score(["m0", "m9"])
    ranker.forget(["m7"])
    assert "m7" not in ranker.members_
    assert ranker.states_.shape[0] == ranker.order_.shape[0] == len(ranker.members_)
    np.testing.assert_allclose(ranker.score(["m0", "m9"]), before)
    ranker.save(tmp_path / "model")
    for path in (tmp_path / "model").rglob("*"):
        if path.is_file():
            assert b'"m7"' not in path.read_bytes(), path  # the id as saved (JSON)
    # The member's order is gone: what remains is the order of a store without them.
    without = event_order(chain_without(data, "m7"), chain_without(data, "m7").owned())
    assert without is not None
    assert (ranker.order_ != without).nnz == 0


def test_a_blend_keeps_the_validation_fit_but_reads_every_enrolment() -> None:
    """The expensive model is fitted once; the blend's copy sees the held-out latest courses."""
    data, _ = chain()
    blend = BlendRanker(
        [small(), PopularityRanker()], validation_members=500, min_validation_members=50
    ).fit(data)
    weights = dict(zip([c.name for c in blend.components_], blend.weights_, strict=True))
    assert weights["attention"] > 0
    attention = blend.components_[0]
    assert isinstance(attention, AttentionRanker)
    assert (attention.owned_ != data.owned()).nnz == 0
    full = timeline(data, data.owned())
    assert (attention.order_ != full).nnz == 0
    # Each member's state is read from their latest window, the held-out course included.
    expected = encode(attention.weights_, latest_windows(full, 8))
    np.testing.assert_allclose(attention.states_, expected, rtol=1e-6)


def test_adopt_refuses_other_members() -> None:
    """adopt() needs the ids of the fit: anything else is refused with one message."""
    data, _ = chain(members=200)
    ranker = small(min_transitions=10).fit(data)
    other, _ = chain(members=201)
    with pytest.raises(ValueError, match="members and courses"):
        ranker.adopt(other)
