"""Item-item collaborative ranking: a dropout-emphasised linear autoencoder (DLAE).

The closed form of Steck's denoising linear autoencoder: with Gram matrix
G = XᵀX and Λ = p/(1-p)·diag(G) + λ, the course-to-course weights are
B = I − (G + Λ)⁻¹ Λ with a zeroed diagonal; a member's scores are their row of X
times B. p = 0 is EASE. It needs one inversion of a courses × courses matrix, so
it is meant for catalogs up to tens of thousands of courses (Cohort's are far
smaller); above `max_courses` it refuses to fit rather than run out of memory.

When the data has timestamps (`Dataset.events`), a member's row is not binary but
weighted by recency: the course taken k enrolments before the latest one counts
decay^k (decay = 1 is the binary row), so what a member took last matters most
for what they take next. Without timestamps the rows stay binary.

With `tune=True` (the default) p, λ and the decay are chosen at every fit, like
scikit-learn's `RidgeCV`: one interaction of up to `tune_members` members is held
out (their latest one when there are timestamps), the rest is fitted (one Gram
matrix shared by every candidate), and a coordinate search keeps the best NDCG@10
on the held-out interactions: every decay at the default (p, λ), then every p of
the grid at the chosen decay, then every λ. The test data
of an evaluation never takes part.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.sparse as sp

from recsys.data import Dataset, FloatArray, IntArray, leave_one_out
from recsys.rankers.base import Ranker
from recsys.rankers.sequence import hold_out_latest, recency_rows, timeline, window_for

log = logging.getLogger(__name__)

MIN_TUNING_MEMBERS = 200


def gram(owned: sp.csr_matrix) -> npt.NDArray[np.float64]:
    """XᵀX of a binary members × courses matrix, dense."""
    return np.asarray((owned.T @ owned).toarray(), dtype=np.float64)


def dlae_from_gram(gram_matrix: npt.NDArray[np.float64], dropout: float, l2: float) -> FloatArray:
    """The DLAE course-to-course weights from a Gram matrix (which is left unchanged)."""
    emphasis = dropout / (1.0 - dropout) * np.diag(gram_matrix) + l2
    regularised = gram_matrix.astype(np.float32)
    regularised[np.diag_indices_from(regularised)] += emphasis.astype(np.float32)
    try:
        # Symmetric positive definite when λ > 0: a single-precision Cholesky inverse is
        # several times faster than a double-precision LU one and accurate enough here.
        factor = scipy.linalg.cho_factor(regularised, overwrite_a=True, check_finite=False)
        identity = np.eye(len(emphasis), dtype=np.float32)
        inverse = np.asarray(
            scipy.linalg.cho_solve(factor, identity, check_finite=False), np.float32
        )
    except np.linalg.LinAlgError:
        exact = gram_matrix.copy()
        exact[np.diag_indices_from(exact)] += emphasis
        inverse = np.linalg.inv(exact).astype(np.float32)
    weights = -inverse * emphasis[None, :].astype(np.float32)
    weights[np.diag_indices_from(weights)] = 0.0  # I − P·Λ, diagonal forced to zero
    return np.asarray(weights, np.float32)


def dlae_weights(owned: sp.csr_matrix, dropout: float, l2: float) -> FloatArray:
    """The DLAE course-to-course weight matrix for a binary members × courses matrix."""
    return dlae_from_gram(gram(owned), dropout, l2)


class ItemItemRanker(Ranker):
    """DLAE: co-choice patterns between courses ("members who took X also took Y")."""

    name = "itemitem"

    def __init__(
        self,
        dropout: float = 0.25,
        l2: float = 50.0,
        max_courses: int = 30_000,
        tune: bool = True,
        dropouts: Sequence[float] = (0.15, 0.25, 0.33),
        l2s: Sequence[float] = (50.0, 150.0),
        tune_members: int = 20_000,
        seed: int = 0,
        decay: float = 1.0,
        decays: Sequence[float] = (1.0, 0.9, 0.75, 0.5),
        max_window: int = 1000,
    ) -> None:
        self.dropout = dropout
        self.l2 = l2
        self.max_courses = max_courses
        self.tune = tune
        self.dropouts = dropouts
        self.l2s = l2s
        self.tune_members = tune_members
        self.seed = seed
        self.decay = decay
        self.decays = decays
        self.max_window = max_window

    def _fit(self, data: Dataset) -> None:
        for value in (self.dropout, *self.dropouts):
            if not 0 <= value < 1:
                raise ValueError("dropout must be in [0, 1)")
        for value in (self.decay, *self.decays):
            if not 0 < value <= 1:
                raise ValueError("decay must be in (0, 1]")
        if data.n_courses > self.max_courses:
            raise ValueError(
                f"{data.n_courses} courses exceed max_courses={self.max_courses} for DLAE"
            )
        self.order_ = timeline(data, self.owned_)
        if self.tune:
            self.dropout_, self.l2_, self.decay_ = self._choose(data)
        else:
            self.dropout_, self.l2_, self.decay_ = self.dropout, self.l2, self.decay
        self.weights_ = dlae_weights(self.owned_, self.dropout_, self.l2_)

    def refit_params(self) -> dict[str, Any]:
        """The chosen dropout, L2 and decay, with tuning off."""
        self.check_fitted()
        return {
            **self.get_params(),
            "tune": False,
            "dropout": self.dropout_,
            "l2": self.l2_,
            "decay": self.decay_,
        }

    def _choose(self, data: Dataset) -> tuple[float, float, float]:
        """(p, λ, decay) with the best held-out NDCG@10, or the defaults when data is scarce."""
        from recsys.rankers.blend import ndcg_at_k

        defaults = (self.dropout, self.l2, self.decay)
        counts = np.diff(self.owned_.indptr)
        eligible = np.flatnonzero(counts >= 2)
        if len(eligible) < MIN_TUNING_MEMBERS:
            return defaults
        rng = np.random.default_rng(self.seed)
        if len(eligible) > self.tune_members:
            eligible = np.sort(rng.choice(eligible, self.tune_members, replace=False))
        if self.order_.nnz:
            # Timestamps: hold out each sampled member's latest course (never the past).
            rest, rows, targets = hold_out_latest(self.order_, eligible)
            held = sp.csr_matrix(
                (np.ones(len(rows), np.float32), (rows, targets)), shape=self.owned_.shape
            )
            train = sp.csr_matrix(self.owned_ - held, dtype=np.float32)
            train.eliminate_zeros()
            decays = tuple(self.decays)
        else:
            split = leave_one_out(data, seed=self.seed, only=eligible)
            train = split.train.owned()
            rows = np.fromiter(split.held_out, np.int64, len(split.held_out))
            targets = np.asarray([split.held_out[int(r)][0] for r in rows], dtype=np.int64)
            rest, decays = sp.csr_matrix(train.shape, dtype=np.float32), (1.0,)
        if len(rows) < MIN_TUNING_MEMBERS:
            return defaults
        shared = gram(train)
        histories = {decay: self._history(train, rest, rows, decay) for decay in decays}
        r, c = train[rows].nonzero()
        results: dict[tuple[float, float, float], float] = {}

        def measure(dropout: float, l2: float, decays: Sequence[float]) -> None:
            weights = dlae_from_gram(shared, dropout, l2)
            for decay in decays:
                scores = np.asarray(histories[decay] @ weights, np.float32)
                scores[r, c] = -np.inf
                results[(dropout, l2, decay)] = ndcg_at_k(scores, targets, 10)

        # Coordinate search (each step one inversion per value): the decay at the
        # default (p, λ), then p at that decay, then λ.
        measure(self.dropout, self.l2, decays)
        best = max(results, key=lambda key: results[key])
        for dropout in self.dropouts:
            if (dropout, self.l2, best[2]) not in results:
                measure(dropout, self.l2, (best[2],))
        best = max(results, key=lambda key: results[key])
        for l2 in self.l2s:
            if (best[0], l2, best[2]) not in results:
                measure(best[0], l2, (best[2],))
        best = max(results, key=lambda key: results[key])
        self.tuning_ = {f"{p}/{lam}/{d}": round(v, 5) for (p, lam, d), v in results.items()}
        log.info(
            "item-item chose dropout %.2f, l2 %.0f, decay %.2f (validation NDCG@10 %.4f)",
            *best,
            results[best],
        )
        return best

    def _history(
        self, owned: sp.csr_matrix, order: sp.csr_matrix, rows: IntArray, decay: float
    ) -> sp.csr_matrix:
        """Member rows weighted by recency (binary where no order is known)."""
        binary = owned[rows]
        if decay >= 1.0 or not order.nnz:
            return binary
        ordered = order[rows]
        weighted = recency_rows(ordered, decay, window_for(decay, self.max_window))
        # Owned courses without a known time (none when events cover the data) count 1.
        unordered = binary - binary.multiply(ordered > 0)
        unordered.eliminate_zeros()
        return sp.csr_matrix(weighted + unordered if unordered.nnz else weighted)

    def _score(self, rows: IntArray) -> FloatArray:
        history = self._history(self.owned_, self.order_, rows, self.decay_)
        return np.asarray(history @ self.weights_, dtype=np.float32)

    def _forget_rows(self, keep: IntArray) -> None:
        # Co-choice statistics include the forgotten members: recompute without them.
        self.order_ = self.order_[keep]
        self.weights_ = dlae_weights(self.owned_, self.dropout_, self.l2_)

    def _state(self) -> dict[str, npt.NDArray[Any]]:
        order = self.order_.tocsr()
        return {
            "weights": self.weights_,
            "chosen": np.asarray([self.dropout_, self.l2_, self.decay_]),
            "order_data": order.data,
            "order_indices": order.indices,
            "order_indptr": order.indptr,
        }

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.weights_ = arrays["weights"]
        self.dropout_, self.l2_, self.decay_ = (float(v) for v in arrays["chosen"])
        self.order_ = sp.csr_matrix(
            (arrays["order_data"], arrays["order_indices"], arrays["order_indptr"]),
            shape=(len(self.members_), len(self.courses_)),
        )
