"""The final ranker: a weighted blend of other rankers' per-member standardised scores.

Weights are learned, not guessed: `fit` holds out one interaction from each of up
to `validation_members` members, fits the components without them, and searches
the weights (coordinate ascent over `grid`) that maximise NDCG@k on the held-out
courses. The components are then refitted on all the data; an `expensive`
component (the Keras models) keeps its validation fit instead, so training time is
not doubled: its learned weights only miss those few held-out interactions, and it
`adopt`s the full data, so they count when members are scored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data import Dataset, FloatArray, IntArray, Split, leave_one_out
from recsys.rankers.base import Ranker, exclude, top_k

log = logging.getLogger(__name__)


def standardize_rows(scores: FloatArray) -> FloatArray:
    """Each row to mean 0 and standard deviation 1 (constant rows become 0)."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    std[std == 0] = 1.0
    return np.asarray((scores - mean) / std, dtype=np.float32)


def ndcg_per_row(scores: FloatArray, targets: IntArray, k: int) -> FloatArray:
    """NDCG@k of one held-out course per row (excluded courses must be -inf).

    Its rank is found without sorting; ties count against it, so a ranker that cannot
    tell courses apart earns nothing.
    """
    target_scores = scores[np.arange(len(targets)), targets]
    rank = (scores >= target_scores[:, None]).sum(axis=1) - 1
    hit = np.isfinite(target_scores) & (rank < k)
    return np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0).astype(np.float32)


def ndcg_at_k(scores: FloatArray, targets: IntArray, k: int) -> float:
    """Mean NDCG@k of one held-out course per row (excluded courses must be -inf)."""
    return float(ndcg_per_row(scores, targets, k).mean()) if len(targets) else 0.0


def ndcg_relevant(scores: FloatArray, relevant: list[IntArray], k: int) -> FloatArray:
    """NDCG@k per row against any number of relevant courses (excluded must be -inf).

    With one relevant course per row this is `ndcg_per_row`; otherwise the top k is
    `top_k`'s.
    """
    n = len(relevant)
    out = np.zeros(n, np.float32)
    if not n:
        return out
    lengths = np.fromiter((len(r) for r in relevant), np.int64, n)
    if (lengths == 1).all():  # leave-one-out
        return ndcg_per_row(scores, np.concatenate(relevant).astype(np.int64), k)
    index, _ = top_k(scores, k)
    wanted = sp.csr_matrix(
        (
            np.ones(int(lengths.sum()), bool),
            np.concatenate(relevant).astype(np.int64) if lengths.sum() else np.zeros(0, np.int64),
            np.concatenate([[0], np.cumsum(lengths)]),
        ),
        shape=scores.shape,
    )
    hits = np.asarray(wanted[np.arange(n)[:, None], np.maximum(index, 0)].toarray(), bool)
    hits &= index >= 0
    discounts = 1.0 / np.log2(np.arange(2, index.shape[1] + 2))
    ideal = np.concatenate([[1.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    norm = ideal[np.minimum(lengths, k)]
    gains = hits @ discounts
    np.divide(gains, norm, out=out, where=lengths > 0, casting="unsafe")
    return out


def significant_gain(new: FloatArray, old: FloatArray, z: float) -> bool:
    """Whether `new` beats `old` by more than `z` standard errors of the paired difference."""
    difference = new.astype(np.float64) - old.astype(np.float64)
    mean = float(difference.mean())
    if mean <= 0:
        return False
    error = float(difference.std(ddof=1)) / np.sqrt(len(difference)) if len(difference) > 1 else 0
    return mean > z * error


def clone(ranker: Ranker) -> Ranker:
    """An unfitted copy with the same parameters."""
    return type(ranker)(**ranker.get_params())


class BlendRanker(Ranker):
    """Σ weightᵢ · standardised scoreᵢ over component rankers, weights tuned on validation."""

    name = "blend"

    def __init__(
        self,
        components: Sequence[Ranker] = (),
        weights: Sequence[float] | None = None,
        validation_members: int = 8000,
        k: int = 10,
        seed: int = 0,
        grid: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0),
        rounds: int = 2,
        max_validation_cells: int = 30_000_000,
        min_validation_members: int = 50,
        default_weights: Sequence[float] | None = None,
        min_z: float = 2.0,
    ) -> None:
        self.components = components
        self.weights = weights
        self.validation_members = validation_members
        self.k = k
        self.seed = seed
        self.grid = grid
        self.rounds = rounds
        self.max_validation_cells = max_validation_cells
        self.min_validation_members = min_validation_members
        self.default_weights = default_weights
        self.min_z = min_z

    def _fit(self, data: Dataset) -> None:
        if not self.components:
            raise ValueError("a blend needs at least one component")
        started = time.perf_counter()
        components = [clone(c) for c in self.components]
        if self.weights is not None:
            if len(self.weights) != len(components):
                raise ValueError("one weight per component")
            self.components_ = [c.fit(data) for c in components]
            self.weights_ = np.asarray(self.weights, dtype=np.float32)
            self.validation_: dict[str, Any] = {}
            return
        split = self._validation_split(data)
        source = "purchases"
        if len(split.held_out) < self.min_validation_members and data.chat is not None:
            # Few purchases: later chat against earlier chat is the held-out data.
            from recsys.engagement import chat_split

            later = chat_split(data)
            if len(later.held_out) > len(split.held_out):
                split, source = later, "chat"
        if len(split.held_out) < self.min_validation_members:
            # Too little to learn weights from: noise would decide. One component that
            # needs no tuning (chat engagement if members talk, else popularity).
            self.components_ = [c.fit(data) for c in components]
            self.weights_ = self._fallback_weights(data)
            self.validation_ = {
                "members": len(split.held_out),
                "ndcg": None,
                "source": source,
                "note": f"fewer than {self.min_validation_members} validation members: "
                f"{self._describe(self.weights_)} alone",
            }
            return
        fitted = [c.fit(split.train) for c in components]
        self.weights_, self.validation_ = self._tune(fitted, split)
        self.validation_["source"] = source
        # Refit on all the data with what the validation fit chose (no second search).
        self.validation_["tuning"] = {
            c.name: getattr(c, "tuning_", None) for c in fitted if getattr(c, "tuning_", None)
        }
        self.components_ = [
            (self._keep(c, data) if c.expensive else type(c)(**c.refit_params()).fit(data))
            if w
            else c
            for c, w in zip(fitted, self.weights_, strict=True)
        ]
        self.validation_["seconds"] = round(time.perf_counter() - started, 2)
        log.info(
            "blend weights %s (validation NDCG@%d %s)",
            {c.name: round(float(w), 3) for c, w in zip(components, self.weights_, strict=True)},
            self.k,
            self.validation_["ndcg"],
        )

    @staticmethod
    def _keep(component: Ranker, data: Dataset) -> Ranker:
        """An expensive component's validation fit, reading members' full interactions."""
        component.adopt(data)
        return component

    def _fallback_weights(self, data: Dataset) -> FloatArray:
        """Defaults if given, else all weight on chat (when there is chat) or popularity."""
        if self.default_weights is not None:
            return np.asarray(self.default_weights, dtype=np.float32)
        names = [c.name for c in self.components]
        talked = data.chat is not None and data.chat.engaged.nnz > 0
        if talked and "chat" in names:
            chosen = "chat"
        else:
            chosen = "popularity" if "popularity" in names else names[0]
        weights = np.zeros(len(names), np.float32)
        weights[names.index(chosen)] = 1.0
        return weights

    def _describe(self, weights: FloatArray) -> str:
        return ", ".join(c.name for c, w in zip(self.components, weights, strict=True) if w)

    def _validation_split(self, data: Dataset) -> Split:
        rng = np.random.default_rng(self.seed)
        counts = np.diff(data.owned().indptr)
        eligible = np.flatnonzero(counts >= 2)
        limit = max(1, min(self.validation_members, self.max_validation_cells // data.n_courses))
        if len(eligible) > limit:
            eligible = np.sort(rng.choice(eligible, limit, replace=False))
        return leave_one_out(data, seed=self.seed, only=eligible)

    def _tune(self, fitted: list[Ranker], split: Split) -> tuple[FloatArray, dict[str, Any]]:
        rows = np.fromiter(split.held_out, np.int64, len(split.held_out))
        relevant = [split.held_out[int(r)] for r in rows]
        if not len(rows):
            log.warning("no member with two interactions: blend weights stay equal")
            return np.ones(len(fitted), np.float32), {"ndcg": 0.0, "members": 0}
        scores = []
        for ranker in fitted:
            matrix = standardize_rows(ranker.score_rows(rows))
            exclude(matrix, split.train.owned(), rows)
            scores.append(matrix)
        alone = [float(ndcg_relevant(m, relevant, self.k).mean()) for m in scores]
        weights = np.zeros(len(fitted), np.float32)
        weights[int(np.argmax(alone))] = 1.0

        def gains(candidate: FloatArray) -> FloatArray:
            blended = sum(w * m for w, m in zip(candidate, scores, strict=True) if w)
            return ndcg_relevant(np.asarray(blended, dtype=np.float32), relevant, self.k)

        # Coordinate ascent; a change is kept only if its paired gain over the current
        # weights is significant (min_z standard errors): validation noise must not
        # decide the blend.
        current = gains(weights)
        for _ in range(self.rounds):
            for i in range(len(fitted)):
                best_candidate, best_gains = None, current
                for value in self.grid:
                    candidate = weights.copy()
                    candidate[i] = value
                    if not candidate.any() or np.array_equal(candidate, weights):
                        continue
                    result = gains(candidate)
                    if result.mean() > best_gains.mean() and significant_gain(
                        result, current, self.min_z
                    ):
                        best_candidate, best_gains = candidate, result
                if best_candidate is not None:
                    weights, current = best_candidate, best_gains
        best = float(current.mean())
        report = {
            "ndcg": best,
            "members": len(rows),
            "alone": {r.name: round(a, 5) for r, a in zip(fitted, alone, strict=True)},
        }
        return weights, report

    def _score(self, rows: IntArray) -> FloatArray:
        total = np.zeros((len(rows), len(self.courses_)), np.float32)
        for ranker, weight in zip(self.components_, self.weights_, strict=True):
            if weight:
                total += weight * standardize_rows(ranker.score_rows(rows))
        return total

    def _cold(self) -> FloatArray:
        total = np.zeros(len(self.courses_), np.float32)
        for ranker, weight in zip(self.components_, self.weights_, strict=True):
            if weight:
                cold = ranker._cold()[None, :]
                total += weight * standardize_rows(cold)[0]
        return total

    def component_scores(self, member_ids: Sequence[str]) -> dict[str, FloatArray]:
        """Each weighted component's standardised scores (to explain a pick)."""
        rows = self.members_.rows(member_ids)
        return {
            ranker.name: standardize_rows(ranker.score_rows(rows))
            for ranker, weight in zip(self.components_, self.weights_, strict=True)
            if weight
        }

    def forget(self, member_ids: Sequence[str]) -> None:
        """Forget the members here and in every component."""
        for ranker in self.components_:
            ranker.forget(member_ids)
        super().forget(member_ids)

    def _state(self) -> dict[str, npt.NDArray[Any]]:
        return {"weights": self.weights_}

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.weights_ = arrays["weights"]

    def _save_extra(self, folder: Path) -> None:
        for index, ranker in enumerate(self.components_):
            ranker.save(folder / "components" / f"{index}-{ranker.name}")

    def _load_extra(self, folder: Path) -> None:
        paths = sorted((folder / "components").iterdir(), key=lambda p: int(p.name.split("-")[0]))
        self.components_ = [Ranker.load(path) for path in paths]
        self.validation_ = {}
