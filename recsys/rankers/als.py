"""Baseline: implicit's alternating least squares, when the `implicit` package is installed.

Only for comparisons (`cohort evaluate`, the MOOCCubeX benchmark); Cohort's own
ranking never depends on it. Factors are copied out into numpy after fitting.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.data import Dataset, FloatArray, IntArray
from recsys.rankers.base import Ranker


def implicit_available() -> bool:
    """Whether the optional `implicit` package can be imported."""
    return importlib.util.find_spec("implicit") is not None


class ALSRanker(Ranker):
    """Implicit-feedback matrix factorisation (Hu, Koren & Volinsky) via `implicit`."""

    name = "als"

    def __init__(
        self,
        factors: int = 128,
        iterations: int = 15,
        regularization: float = 0.05,
        alpha: float = 2.0,
        seed: int = 0,
        threads: int = 2,
    ) -> None:
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.seed = seed
        self.threads = threads

    def _fit(self, data: Dataset) -> None:
        import threadpoolctl
        from implicit.als import AlternatingLeastSquares

        with threadpoolctl.threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # implicit's BLAS-threads notice
            model = AlternatingLeastSquares(
                factors=self.factors,
                iterations=self.iterations,
                regularization=self.regularization,
                alpha=self.alpha,
                random_state=self.seed,
                num_threads=self.threads,
            )
            model.fit(self.owned_, show_progress=False)
        users, items = model.user_factors, model.item_factors
        self.member_factors_ = np.asarray(getattr(users, "to_numpy", lambda: users)(), np.float32)
        self.course_factors_ = np.asarray(getattr(items, "to_numpy", lambda: items)(), np.float32)

    def _score(self, rows: IntArray) -> FloatArray:
        return np.asarray(self.member_factors_[rows] @ self.course_factors_.T, dtype=np.float32)

    def _forget_rows(self, keep: IntArray) -> None:
        self.member_factors_ = self.member_factors_[keep]

    def _state(self) -> dict[str, npt.NDArray[Any]]:
        return {"member_factors": self.member_factors_, "course_factors": self.course_factors_}

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.member_factors_ = arrays["member_factors"]
        self.course_factors_ = arrays["course_factors"]
