"""Offline evaluation: ranking accuracy, catalog coverage and diversity of the top k.

For each evaluated member the ranker ranks every course it may recommend (courses
the member owns in the training data are removed), and the held-out courses are
looked up in the top k:

- HR@k: share of members with at least one held-out course in their top k;
- NDCG@k: discounted gain of the held-out courses' ranks, normalised by the ideal;
- Recall@k: share of each member's held-out courses found in the top k, averaged;
- coverage: share of the catalog that appears in anyone's top k;
- diversity: mean pairwise dissimilarity (1 − cosine) of courses within a top k,
  using course vectors when given (text topics or co-choice columns).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data import Split
from recsys.rankers.base import SCORE_BATCH, Ranker, exclude, top_k


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one ranker on one split."""

    ranker: str
    k: int
    members: int
    hr: float
    ndcg: float
    recall: float
    coverage: float
    diversity: float | None
    fit_seconds: float
    score_seconds: float

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly values, rounded."""
        return {
            key: (round(value, 5) if isinstance(value, float) else value)
            for key, value in asdict(self).items()
        }


def _unit_rows(vectors: sp.csr_matrix | npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    dense = np.asarray(vectors) if isinstance(vectors, np.ndarray) else vectors.toarray()
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(dense / norms, dtype=np.float32)


def evaluate(
    ranker: Ranker,
    split: Split,
    k: int = 10,
    *,
    course_vectors: sp.csr_matrix | npt.NDArray[np.float32] | None = None,
    fit: bool = True,
    batch: int = SCORE_BATCH,
) -> Evaluation:
    """Fit `ranker` on `split.train` (unless `fit` is false) and measure it on the held-out."""
    started = time.perf_counter()
    if fit:
        ranker.fit(split.train)
    fit_seconds = time.perf_counter() - started
    rows = np.fromiter(split.held_out, np.int64, len(split.held_out))
    n_courses = split.train.n_courses
    owned = split.train.owned()
    unit = _unit_rows(course_vectors) if course_vectors is not None else None
    hits = ndcg = recall = 0.0
    diversity_sum, diversity_n = 0.0, 0
    shown = np.zeros(n_courses, dtype=bool)
    started = time.perf_counter()
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        scores = ranker.score_rows(chunk)
        exclude(scores, owned, chunk)
        index, _ = top_k(scores, k)
        for member, picks in zip(chunk, index, strict=True):
            picks = picks[picks >= 0]
            shown[picks] = True
            held = split.held_out[int(member)]
            relevant = np.isin(picks, held)
            if relevant.any():
                hits += 1
            gain = float(discounts[: len(picks)][relevant].sum())
            ideal = float(discounts[: min(len(held), k)].sum())
            ndcg += gain / ideal if ideal else 0.0
            recall += relevant.sum() / len(held)
            if unit is not None and len(picks) > 1:
                sims = unit[picks] @ unit[picks].T
                upper = sims[np.triu_indices(len(picks), 1)]
                diversity_sum += float(np.mean(1.0 - upper))
                diversity_n += 1
    score_seconds = time.perf_counter() - started
    n = max(len(rows), 1)
    return Evaluation(
        ranker=ranker.name,
        k=k,
        members=len(rows),
        hr=hits / n,
        ndcg=ndcg / n,
        recall=recall / n,
        coverage=float(shown.mean()) if n_courses else 0.0,
        diversity=(diversity_sum / diversity_n) if diversity_n else None,
        fit_seconds=fit_seconds,
        score_seconds=score_seconds,
    )
