"""Item-item collaborative ranking: a dropout-emphasised linear autoencoder (DLAE).

The closed form of Steck's denoising linear autoencoder: with Gram matrix
G = XᵀX and Λ = p/(1-p)·diag(G) + λ, the course-to-course weights are
B = I − (G + Λ)⁻¹ Λ with a zeroed diagonal; a member's scores are their row of X
times B. p = 0 is EASE. It needs one inversion of a courses × courses matrix, so
it is meant for catalogs up to tens of thousands of courses (Cohort's are far
smaller); above `max_courses` it refuses to fit rather than run out of memory.

With `tune=True` (the default) p and λ are chosen at every fit, like scikit-learn's
`RidgeCV`: one interaction of up to `tune_members` members is held out, each
(p, λ) of the grid is fitted on the rest (sharing one Gram matrix), and the pair
with the best NDCG@10 on the held-out interactions wins. The test data of an
evaluation never takes part.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data import Dataset, FloatArray, IntArray, leave_one_out
from recsys.rankers.base import Ranker

log = logging.getLogger(__name__)

MIN_TUNING_MEMBERS = 200


def gram(owned: sp.csr_matrix) -> npt.NDArray[np.float64]:
    """XᵀX of a binary members × courses matrix, dense."""
    return np.asarray((owned.T @ owned).toarray(), dtype=np.float64)


def dlae_from_gram(gram_matrix: npt.NDArray[np.float64], dropout: float, l2: float) -> FloatArray:
    """The DLAE course-to-course weights from a Gram matrix (which is left unchanged)."""
    emphasis = dropout / (1.0 - dropout) * np.diag(gram_matrix) + l2
    regularised = gram_matrix.copy()
    regularised[np.diag_indices_from(regularised)] += emphasis
    inverse = np.linalg.inv(regularised)
    weights = -inverse * emphasis[None, :]
    weights[np.diag_indices_from(weights)] = 0.0  # I − P·Λ, diagonal forced to zero
    return weights.astype(np.float32)


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
    ) -> None:
        self.dropout = dropout
        self.l2 = l2
        self.max_courses = max_courses
        self.tune = tune
        self.dropouts = dropouts
        self.l2s = l2s
        self.tune_members = tune_members
        self.seed = seed

    def _fit(self, data: Dataset) -> None:
        for value in (self.dropout, *self.dropouts):
            if not 0 <= value < 1:
                raise ValueError("dropout must be in [0, 1)")
        if data.n_courses > self.max_courses:
            raise ValueError(
                f"{data.n_courses} courses exceed max_courses={self.max_courses} for DLAE"
            )
        self.dropout_, self.l2_ = self._choose(data) if self.tune else (self.dropout, self.l2)
        self.weights_ = dlae_weights(self.owned_, self.dropout_, self.l2_)

    def _choose(self, data: Dataset) -> tuple[float, float]:
        """(p, λ) with the best held-out NDCG@10, or the defaults when data is scarce."""
        from recsys.rankers.blend import ndcg_at_k

        counts = np.diff(self.owned_.indptr)
        eligible = np.flatnonzero(counts >= 2)
        if len(eligible) < MIN_TUNING_MEMBERS:
            return self.dropout, self.l2
        rng = np.random.default_rng(self.seed)
        if len(eligible) > self.tune_members:
            eligible = np.sort(rng.choice(eligible, self.tune_members, replace=False))
        split = leave_one_out(data, seed=self.seed, only=eligible)
        train = split.train.owned()
        rows = np.fromiter(split.held_out, np.int64, len(split.held_out))
        targets = np.asarray([split.held_out[int(r)][0] for r in rows], dtype=np.int64)
        shared = gram(train)
        member_rows = train[rows]
        r, c = member_rows.nonzero()
        results: dict[tuple[float, float], float] = {}
        for dropout in self.dropouts:
            for l2 in self.l2s:
                scores = np.asarray(member_rows @ dlae_from_gram(shared, dropout, l2), np.float32)
                scores[r, c] = -np.inf
                results[(dropout, l2)] = ndcg_at_k(scores, targets, 10)
        best = max(results, key=lambda key: results[key])
        self.tuning_ = {f"{p}/{lam}": round(v, 5) for (p, lam), v in results.items()}
        log.info(
            "item-item chose dropout %.2f, l2 %.0f (validation NDCG@10 %.4f)", *best, results[best]
        )
        return best

    def _score(self, rows: IntArray) -> FloatArray:
        return np.asarray(self.owned_[rows] @ self.weights_, dtype=np.float32)

    def _forget_rows(self, keep: IntArray) -> None:
        # Co-choice statistics include the forgotten members: recompute without them.
        self.weights_ = dlae_weights(self.owned_, self.dropout_, self.l2_)

    def _state(self) -> dict[str, npt.NDArray[Any]]:
        return {"weights": self.weights_, "chosen": np.asarray([self.dropout_, self.l2_])}

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.weights_ = arrays["weights"]
        self.dropout_, self.l2_ = (float(v) for v in arrays["chosen"])
