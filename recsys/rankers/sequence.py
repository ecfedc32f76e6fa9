"""Next-course ranking from the order of enrolments: a linear next-item model (SLIST-like).

Each member's enrolments, ordered by their timestamps (`Dataset.events`), give one
training pair per enrolment after the first: the member's history just before it,
recent courses weighted more (decay^j for the course j+1 steps back, at most
`window` steps), and the course taken next. The course-to-course weights are the
closed-form ridge regression from history to next course,
B = (XᵀX + λI)⁻¹ XᵀY with λ = `l2` × the mean diagonal of XᵀX, so the strength does
not depend on how many members there are. A member's scores are their
recency-weighted history (the same decay, the latest course weight 1) times B.

With `tune=True` (the default) the decay and the ridge strength are chosen at every
fit on validation data carved from the training data: each member's latest
enrolment is held out, the rest is fitted, and a coordinate search keeps the best
NDCG@10 on the held-out enrolments (every decay at the default strength, then every
strength at the chosen decay).

Without timestamps (every event at time 0) or with fewer than `min_pairs` training
pairs the ranker learns nothing: every known member scores 0 on every course (a
blend then gives it no weight) and unknown members get the popularity prior.

The helpers `event_order` (`timeline`), `recency_rows` and `hold_out_latest` are
shared with the item-item ranker, which uses the same recency weights for its member
rows, and `timeline` and `steps_back` with the self-attention model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.sparse as sp

from recsys.data import Dataset, FloatArray, IntArray
from recsys.rankers.base import Ranker

log = logging.getLogger(__name__)

MIN_TUNING_MEMBERS = 200
# Lags whose weight falls below this are dropped from the history (keeps X sparse).
NEGLIGIBLE = 1e-3


def event_order(data: Dataset, owned: sp.csr_matrix) -> sp.csr_matrix | None:
    """Members × courses: 1-based position of each owned course in the member's timeline.

    Built from `data.events`, ordered by time (simultaneous events by course row, as
    `leave_one_out` does); a course chosen more than once sits at its latest time.
    None when the data has no timestamps (no events, or every time 0).
    """
    if data.events is None:
        return None
    rows, cols, weights, ts = data.events
    if not len(ts) or not np.any(ts):
        return None
    positive = weights > 0
    rows, cols, ts = rows[positive], cols[positive], ts[positive]
    order = np.lexsort((cols, ts, rows))
    rows, cols = rows[order], cols[order]
    key = rows.astype(np.int64) * data.n_courses + cols
    # Latest occurrence of each (member, course): first one seen from the end.
    _, first_from_end = np.unique(key[::-1], return_index=True)
    latest = np.sort(len(key) - 1 - first_from_end)
    rows, cols = rows[latest], cols[latest]
    inside = np.asarray(owned[rows, cols]).ravel() > 0
    rows, cols = rows[inside], cols[inside]
    if not len(rows):
        return None
    starts = np.r_[True, rows[1:] != rows[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(rows)), 0))
    position = (np.arange(len(rows)) - first + 1).astype(np.float32)
    matrix = sp.csr_matrix((position, (rows, cols)), shape=owned.shape, dtype=np.float32)
    matrix.sort_indices()
    return matrix


def _row_of(matrix: sp.csr_matrix) -> IntArray:
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


def _row_max(matrix: sp.csr_matrix) -> FloatArray:
    top = np.zeros(matrix.shape[0], np.float32)
    np.maximum.at(top, _row_of(matrix), matrix.data)
    return top


def window_for(decay: float, cap: int) -> int:
    """How many steps back a history reaches before decay makes a course negligible."""
    if decay >= 1.0:
        return cap
    return int(min(cap, max(1, np.ceil(np.log(NEGLIGIBLE) / np.log(decay)))))


def timeline(data: Dataset, owned: sp.csr_matrix) -> sp.csr_matrix:
    """`event_order`, or an empty matrix of `owned`'s shape when the data has no times."""
    order = event_order(data, owned)
    return order if order is not None else sp.csr_matrix(owned.shape, dtype=np.float32)


def steps_back(order: sp.csr_matrix) -> tuple[IntArray, FloatArray]:
    """Per stored entry of `order`: its member row, and how many courses before the latest it is.

    0 is the member's latest course; entries follow `order`'s storage order.
    """
    rows = _row_of(order)
    return rows, _row_max(order)[rows] - order.data


def recency_rows(order: sp.csr_matrix, decay: float, window: int) -> sp.csr_matrix:
    """History rows weighted by recency: decay^k for the course k steps before the latest."""
    _, back = steps_back(order)
    weights = np.where(back < window, np.power(decay, back), 0.0)
    out = sp.csr_matrix(
        (weights.astype(np.float32), order.indices.copy(), order.indptr.copy()),
        shape=order.shape,
    )
    out.eliminate_zeros()
    return out


def hold_out_latest(
    order: sp.csr_matrix, eligible: IntArray
) -> tuple[sp.csr_matrix, IntArray, IntArray]:
    """Remove each eligible member's latest course: (rest of the order, rows, held-out courses).

    Eligible rows with fewer than two ordered courses are skipped.
    """
    counts = np.diff(order.indptr)
    rows = eligible[counts[eligible] >= 2]
    top = _row_max(order)
    member = np.zeros(order.shape[0], bool)
    member[rows] = True
    row_of = _row_of(order)
    latest = member[row_of] & (order.data == top[row_of])
    targets = np.full(order.shape[0], -1, np.int64)
    targets[row_of[latest]] = order.indices[latest]
    rest = order.copy()
    rest.data = np.where(latest, 0.0, rest.data).astype(np.float32)
    rest.eliminate_zeros()
    return rest, rows, targets[rows]


def transition_pairs(
    order: sp.csr_matrix, decay: float, window: int
) -> tuple[sp.csr_matrix, IntArray]:
    """(recency-weighted history before each enrolment, the enrolment) for every non-first one."""
    row_of = _row_of(order)
    sequence = np.lexsort((order.data, row_of))
    position = order.data[sequence].astype(np.int64)
    course = order.indices[sequence].astype(np.int64)
    targets = np.flatnonzero(position >= 2)
    pair_rows, pair_cols, pair_weights = [], [], []
    pair_ids = np.arange(len(targets), dtype=np.int64)
    for lag in range(1, window + 1):
        valid = position[targets] - lag >= 1
        if not valid.any():
            break
        pair_rows.append(pair_ids[valid])
        pair_cols.append(course[targets[valid] - lag])
        pair_weights.append(np.full(int(valid.sum()), decay ** (lag - 1), np.float32))
    n_courses = order.shape[1]
    if not pair_rows:
        return sp.csr_matrix((0, n_courses), dtype=np.float32), np.empty(0, np.int64)
    history = sp.csr_matrix(
        (np.concatenate(pair_weights), (np.concatenate(pair_rows), np.concatenate(pair_cols))),
        shape=(len(targets), n_courses),
        dtype=np.float32,
    )
    return history, course[targets]


def _moments(
    history: sp.csr_matrix, nexts: IntArray, n_courses: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """XᵀX and XᵀY (Y one-hot next courses), dense."""
    one_hot = sp.csr_matrix(
        (np.ones(len(nexts), np.float32), (np.arange(len(nexts)), nexts)),
        shape=(len(nexts), n_courses),
    )
    transposed = history.T.tocsr()
    gram = np.asarray((transposed @ history).toarray(), np.float64)
    cross = np.asarray((transposed @ one_hot).toarray(), np.float64)
    return gram, cross


def ridge_weights(
    gram: npt.NDArray[np.float64], cross: npt.NDArray[np.float64], l2: float
) -> FloatArray:
    """B = (G + λI)⁻¹ C with λ = l2 × mean diagonal of G."""
    strength = l2 * max(float(np.mean(np.diag(gram))), 1e-9)
    regularised = gram.astype(np.float32)
    regularised[np.diag_indices_from(regularised)] += np.float32(strength)
    # Symmetric positive definite (λ > 0): a single-precision Cholesky solve is several
    # times faster than a double-precision LU one and accurate enough here.
    factor = scipy.linalg.cho_factor(regularised, overwrite_a=True, check_finite=False)
    solved = scipy.linalg.cho_solve(factor, cross.astype(np.float32), check_finite=False)
    return np.asarray(solved, dtype=np.float32)


class NextItemRanker(Ranker):
    """Which course a member takes next, from the courses they took last (needs timestamps)."""

    name = "sequence"

    def __init__(
        self,
        decay: float = 0.6,
        l2: float = 0.1,
        max_window: int = 30,
        tune: bool = True,
        decays: Sequence[float] = (0.3, 0.6, 0.85),
        l2s: Sequence[float] = (0.03, 0.1, 0.3),
        tune_members: int = 20_000,
        min_pairs: int = 50,
        max_courses: int = 30_000,
        seed: int = 0,
    ) -> None:
        self.decay = decay
        self.l2 = l2
        self.max_window = max_window
        self.tune = tune
        self.decays = decays
        self.l2s = l2s
        self.tune_members = tune_members
        self.min_pairs = min_pairs
        self.max_courses = max_courses
        self.seed = seed

    def refit_params(self) -> dict[str, Any]:
        """The chosen decay and L2, with tuning off."""
        self.check_fitted()
        return {**self.get_params(), "tune": False, "decay": self.decay_, "l2": self.l2_}

    def _fit(self, data: Dataset) -> None:
        for value in (self.decay, *self.decays):
            if not 0 < value <= 1:
                raise ValueError("decay must be in (0, 1]")
        for value in (self.l2, *self.l2s):
            if not value > 0:
                raise ValueError("l2 must be positive")
        if data.n_courses > self.max_courses:
            raise ValueError(
                f"{data.n_courses} courses exceed max_courses={self.max_courses} for the "
                "next-item model"
            )
        self.order_ = timeline(data, self.owned_)
        self.decay_, self.l2_ = self._choose() if self.tune else (self.decay, self.l2)
        self._refit()

    def _refit(self) -> None:
        """Fit B on every member's transitions with the chosen decay and strength."""
        window = window_for(self.decay_, self.max_window)
        history, nexts = transition_pairs(self.order_, self.decay_, window)
        self.pairs_ = len(nexts)
        if len(nexts) < self.min_pairs:
            if self.order_.nnz:
                log.info("next-item model: %d transitions, too few to learn from", len(nexts))
            self.weights_ = np.zeros((0, 0), np.float32)
            return
        gram, cross = _moments(history, nexts, self.order_.shape[1])
        self.weights_ = ridge_weights(gram, cross, self.l2_)

    def _choose(self) -> tuple[float, float]:
        """(decay, l2) with the best NDCG@10 on each member's held-out latest course."""
        from recsys.rankers.blend import ndcg_at_k

        counts = np.diff(self.order_.indptr)
        eligible = np.flatnonzero(counts >= 2)
        if len(eligible) < MIN_TUNING_MEMBERS or self.order_.nnz - len(eligible) < self.min_pairs:
            return self.decay, self.l2
        rest, rows, targets = hold_out_latest(self.order_, eligible)
        if len(rows) > self.tune_members:
            rng = np.random.default_rng(self.seed)
            pick = np.sort(rng.choice(len(rows), self.tune_members, replace=False))
            rows, targets = rows[pick], targets[pick]
        results: dict[tuple[float, float], float] = {}
        fitted: dict[
            float, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], sp.csr_matrix]
        ] = {}

        def measure(decay: float, l2: float) -> None:
            if decay not in fitted:
                window = window_for(decay, self.max_window)
                history, nexts = transition_pairs(rest, decay, window)
                gram, cross = _moments(history, nexts, rest.shape[1])
                fitted[decay] = (gram, cross, recency_rows(rest[rows], decay, window))
            gram, cross, member_rows = fitted[decay]
            scores = np.asarray(member_rows @ ridge_weights(gram, cross, l2), np.float32)
            scores[owned_r, owned_c] = -np.inf
            results[(decay, l2)] = ndcg_at_k(scores, targets, 10)

        owned_r, owned_c = rest[rows].nonzero()
        # Coordinate search: every decay at the default strength, then every strength.
        for decay in self.decays:
            measure(decay, self.l2)
        best = max(results, key=lambda key: results[key])
        for l2 in self.l2s:
            if (best[0], l2) not in results:
                measure(best[0], l2)
        best = max(results, key=lambda key: results[key])
        self.tuning_ = {f"{d}/{lam}": round(v, 5) for (d, lam), v in results.items()}
        log.info(
            "next-item chose decay %.2f, l2 %.3f (validation NDCG@10 %.4f)", *best, results[best]
        )
        return best

    def _score(self, rows: IntArray) -> FloatArray:
        if not self.weights_.size:
            return np.zeros((len(rows), len(self.courses_)), np.float32)
        window = window_for(self.decay_, self.max_window)
        history = recency_rows(self.order_[rows], self.decay_, window)
        return np.asarray(history @ self.weights_, dtype=np.float32)

    def _forget_rows(self, keep: IntArray) -> None:
        # The transitions include the forgotten members: refit without them.
        self.order_ = self.order_[keep]
        self._refit()

    def _state(self) -> dict[str, npt.NDArray[Any]]:
        order = self.order_.tocsr()
        return {
            "weights": self.weights_,
            "chosen": np.asarray([self.decay_, self.l2_]),
            "order_data": order.data,
            "order_indices": order.indices,
            "order_indptr": order.indptr,
        }

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.weights_ = arrays["weights"]
        self.decay_, self.l2_ = (float(v) for v in arrays["chosen"])
        self.order_ = sp.csr_matrix(
            (arrays["order_data"], arrays["order_indices"], arrays["order_indptr"]),
            shape=(len(self.members_), len(self.courses_)),
        )
        self.pairs_ = -1
