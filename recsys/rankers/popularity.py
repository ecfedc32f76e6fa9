"""The baseline every other ranker must beat: how many members chose each course."""

from __future__ import annotations

import numpy as np

from recsys.data import Dataset, FloatArray, IntArray
from recsys.rankers.base import Ranker


class PopularityRanker(Ranker):
    """Scores each course by log(1 + number of members who chose it), the same for all."""

    name = "popularity"

    def __init__(self) -> None:
        pass

    def _fit(self, data: Dataset) -> None:
        """Nothing beyond the popularity the base class computes."""

    def _score(self, rows: IntArray) -> FloatArray:
        return np.broadcast_to(self.popularity_, (len(rows), len(self.popularity_))).copy()
