"""Content ranking: a member's topic profile against each course's text, no purchases needed.

Scores are cosine similarities in the shared topic space (`recsys.topics`), plus a
small popularity prior that only breaks ties and gives members without text an
order. Works with zero interactions; `score_profiles` scores any profile vectors,
e.g. a channel's aggregate profile for members who did not consent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data import Dataset, FloatArray, IntArray
from recsys.rankers.base import Ranker


def _dense(matrix: Any) -> FloatArray:
    if sp.issparse(matrix):
        return np.asarray(matrix.toarray(), dtype=np.float32)
    return np.asarray(matrix, dtype=np.float32)


class ContentRanker(Ranker):
    """Cosine similarity of member and course topic vectors (+ `prior` × popularity)."""

    name = "content"

    def __init__(self, prior: float = 0.01) -> None:
        self.prior = prior

    def _fit(self, data: Dataset) -> None:
        if data.member_topics is None or data.course_topics is None:
            # No text at all (e.g. an id-only catalog): content has nothing to say.
            self.member_topics_ = sp.csr_matrix((data.n_members, 0), dtype=np.float32)
            self.course_topics_ = np.zeros((data.n_courses, 0), dtype=np.float32)
        else:
            self.member_topics_ = sp.csr_matrix(data.member_topics, dtype=np.float32)
            self.course_topics_ = _dense(data.course_topics)
        top = float(self.popularity_.max()) if len(self.popularity_) else 0.0
        self.prior_scores_ = (
            (self.prior * self.popularity_ / top) if top > 0 else (np.zeros_like(self.popularity_))
        )

    def _score(self, rows: IntArray) -> FloatArray:
        return self.score_profiles(self.member_topics_[rows])

    def _cold(self) -> FloatArray:
        return self.prior_scores_.astype(np.float32)

    def score_profiles(self, profiles: sp.csr_matrix | npt.NDArray[Any]) -> FloatArray:
        """Scores for arbitrary profile rows in the topic space (members, channels, ...)."""
        self.check_fitted()
        if self.course_topics_.shape[1] == 0:
            return np.tile(self.prior_scores_, (profiles.shape[0], 1)).astype(np.float32)
        similarity = profiles @ self.course_topics_.T
        return (np.asarray(similarity, dtype=np.float32) + self.prior_scores_).astype(np.float32)

    def _forget_rows(self, keep: IntArray) -> None:
        self.member_topics_ = self.member_topics_[keep]

    def _state(self) -> dict[str, npt.NDArray[Any]]:
        topics = self.member_topics_.tocsr()
        return {
            "member_topics_data": topics.data,
            "member_topics_indices": topics.indices,
            "member_topics_indptr": topics.indptr,
            "member_topics_shape": np.asarray(topics.shape),
            "course_topics": self.course_topics_,
            "prior_scores": self.prior_scores_,
        }

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.member_topics_ = sp.csr_matrix(
            (
                arrays["member_topics_data"],
                arrays["member_topics_indices"],
                arrays["member_topics_indptr"],
            ),
            shape=tuple(int(v) for v in arrays["member_topics_shape"]),
        )
        self.course_topics_ = arrays["course_topics"]
        self.prior_scores_ = arrays["prior_scores"]
