"""The ranker contract every model follows (popularity, content, item-item, hybrid, blend).

Like scikit-learn estimators: `__init__` only stores parameters, `fit(data)` returns
`self`, learned state ends in `_`. Like implicit's recommenders: `recommend(member_ids,
k, exclude_owned=True)` returns course ids and scores. Scoring is vectorized: a
subclass maps a batch of member rows to a (batch × courses) score matrix and the
base class does exclusion and top-k for all of them at once.

Members the ranker has not seen get the ranker's cold-start scores (for most, the
popularity prior; see `_cold`). `forget(member_ids)` removes members from the
learned state (erasure); `save(folder)`/`load(folder)` write versioned artifacts:
JSON, `np.savez` arrays (loaded with `allow_pickle=False`) and, for Keras, a
`.keras` file. Never pickle.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data import Dataset, FloatArray, IdMap, IntArray

log = logging.getLogger(__name__)

ARTIFACT_VERSION = 1
SCORE_BATCH = 2048
REGISTRY: dict[str, type[Ranker]] = {}


class NotFittedError(RuntimeError):
    """The ranker was used before `fit` (or `load`)."""


@dataclass(frozen=True)
class Recommendations:
    """Top courses per member, best first (fewer than k when fewer are eligible)."""

    members: list[str]
    courses: list[list[str]]
    scores: list[list[float]]

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[tuple[str, list[str], list[float]]]:
        return iter(zip(self.members, self.courses, self.scores, strict=True))

    def for_member(self, member: str) -> list[tuple[str, float]]:
        """One member's (course, score) pairs."""
        index = self.members.index(member)
        return list(zip(self.courses[index], self.scores[index], strict=True))


def top_k(scores: FloatArray, k: int) -> tuple[IntArray, FloatArray]:
    """Column indexes and values of each row's k best finite scores, best first.

    Positions with no eligible course (score -inf) come back as index -1.
    """
    n = scores.shape[1]
    k = min(k, n)
    if k <= 0:
        return np.empty((scores.shape[0], 0), np.int64), np.empty((scores.shape[0], 0), np.float32)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(scores, part, axis=1)
    # Best first; ties broken by course index so results are deterministic.
    order = np.lexsort((part, -values), axis=1)
    index = np.take_along_axis(part, order, axis=1).astype(np.int64)
    values = np.take_along_axis(values, order, axis=1)
    index[~np.isfinite(values)] = -1
    return index, values.astype(np.float32)


class Ranker(ABC):
    """Base class: subclasses implement `_fit`, `_score` and their state."""

    name: ClassVar[str] = "ranker"
    # Costly to fit twice: a blend keeps its validation fit rather than refitting it.
    expensive: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            REGISTRY[cls.name] = cls

    # -- parameters --------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (scikit-learn style)."""
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def refit_params(self) -> dict[str, Any]:
        """Parameters for refitting on more data with what this fit chose (default: same).

        A ranker that tunes itself at fit time returns its chosen values with tuning
        off, so a blend's final fit does not repeat the search its validation fit made.
        """
        return self.get_params()

    # -- fitting -----------------------------------------------------------------------

    def fit(self, data: Dataset) -> Self:
        """Learn from `data`; returns self."""
        if data.n_courses == 0:
            raise ValueError("cannot fit a ranker without courses")
        self.members_ = data.members
        self.courses_ = data.courses
        self.owned_ = data.owned()
        counts = np.asarray(self.owned_.sum(axis=0)).ravel().astype(np.float32)
        self.popularity_ = np.log1p(counts)
        self._fit(data)
        return self

    @abstractmethod
    def _fit(self, data: Dataset) -> None:
        """Learn the model's own state."""

    def adopt(self, data: Dataset) -> None:
        """Keep what was learned, but read members' interactions from `data`.

        `data` has the members and courses of the fit. A blend calls this on an
        expensive component it keeps from its validation fit, so the interactions that
        validation held out count when members are scored.
        """
        self.check_fitted()
        if data.members != self.members_ or data.courses != self.courses_:
            raise ValueError("adopt needs the members and courses the ranker was fitted on")
        self.owned_ = data.owned()
        self._adopt(data)

    def _adopt(self, data: Dataset) -> None:
        """Update member-indexed state other than `owned_` from `data` (default: none)."""

    def check_fitted(self) -> None:
        """Raise `NotFittedError` unless fitted or loaded."""
        if not hasattr(self, "courses_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet")

    # -- scoring -----------------------------------------------------------------------

    @abstractmethod
    def _score(self, rows: IntArray) -> FloatArray:
        """Scores (len(rows) × courses) for known member rows (all >= 0)."""

    def _cold(self) -> FloatArray:
        """Scores for a member the ranker has never seen (default: popularity)."""
        return self.popularity_

    def score_rows(self, rows: IntArray) -> FloatArray:
        """Scores for member rows; rows of -1 (unknown members) get cold-start scores."""
        self.check_fitted()
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), len(self.courses_)), dtype=np.float32)
        known = rows >= 0
        if known.any():
            out[known] = self._score(rows[known])
        if (~known).any():
            out[~known] = self._cold()
        return out

    def score(self, member_ids: Sequence[str]) -> FloatArray:
        """Scores of every course for each member (members × courses)."""
        self.check_fitted()
        return self.score_rows(self.members_.rows(member_ids))

    def recommend(
        self,
        member_ids: Sequence[str],
        k: int = 10,
        *,
        exclude_owned: bool = True,
        batch: int = SCORE_BATCH,
    ) -> Recommendations:
        """The `k` best courses per member (owned courses left out unless asked)."""
        self.check_fitted()
        ids = list(member_ids)
        rows = self.members_.rows(ids)
        courses: list[list[str]] = []
        scores: list[list[float]] = []
        names = self.courses_.ids
        for start in range(0, len(ids), batch):
            chunk = rows[start : start + batch]
            matrix = self.score_rows(chunk)
            if exclude_owned:
                exclude(matrix, self.owned_, chunk)
            index, values = top_k(matrix, k)
            for idx_row, val_row in zip(index, values, strict=True):
                keep = idx_row >= 0
                courses.append([names[i] for i in idx_row[keep]])
                scores.append([float(v) for v in val_row[keep]])
        return Recommendations(members=ids, courses=courses, scores=scores)

    # -- erasure -----------------------------------------------------------------------

    def forget(self, member_ids: Sequence[str]) -> None:
        """Remove members from the learned state: they become unknown to the ranker."""
        self.check_fitted()
        members, keep = self.members_.without(member_ids)
        self.members_ = members
        self.owned_ = self.owned_[keep]
        self._forget_rows(keep)

    def _forget_rows(self, keep: IntArray) -> None:
        """Keep only the member rows `keep` in the subclass's member-indexed state."""

    # -- artifacts ---------------------------------------------------------------------

    def _state(self) -> dict[str, npt.NDArray[Any]]:
        """Learned arrays to save (subclasses add theirs)."""
        return {}

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        """Set learned state from saved arrays."""

    def _save_extra(self, folder: Path) -> None:
        """Write files other than arrays (Keras models)."""

    def _load_extra(self, folder: Path) -> None:
        """Read what `_save_extra` wrote."""

    def save(self, folder: Path) -> None:
        """Write the fitted ranker to `folder` (created; existing files replaced)."""
        self.check_fitted()
        folder.mkdir(parents=True, exist_ok=True)
        owned = self.owned_.tocsr()
        arrays: dict[str, npt.NDArray[Any]] = {
            "owned_indptr": owned.indptr,
            "owned_indices": owned.indices,
            "popularity": self.popularity_,
            **self._state(),
        }
        with (folder / "arrays.npz").open("wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)
        config = {
            "ranker": self.name,
            "version": ARTIFACT_VERSION,
            "params": _jsonable(self.get_params()),
            "members": list(self.members_.ids),
            "courses": list(self.courses_.ids),
        }
        (folder / "ranker.json").write_text(json.dumps(config, ensure_ascii=False), "utf-8")
        self._save_extra(folder)

    @classmethod
    def load(cls, folder: Path) -> Ranker:
        """Read a ranker written by `save` (any registered kind)."""
        config = json.loads((folder / "ranker.json").read_text("utf-8"))
        if config.get("version") != ARTIFACT_VERSION:
            raise ValueError(
                f"{folder}: artifact version {config.get('version')}, expected {ARTIFACT_VERSION}"
            )
        kind = REGISTRY.get(config["ranker"])
        if kind is None:
            raise ValueError(f"{folder}: unknown ranker {config['ranker']!r}")
        ranker = kind(**_from_jsonable(kind, config["params"]))
        with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        ranker.members_ = IdMap(tuple(config["members"]))
        ranker.courses_ = IdMap(tuple(config["courses"]))
        ranker.owned_ = sp.csr_matrix(
            (
                np.ones(len(arrays["owned_indices"]), np.float32),
                arrays["owned_indices"],
                arrays["owned_indptr"],
            ),
            shape=(len(ranker.members_), len(ranker.courses_)),
        )
        ranker.popularity_ = arrays["popularity"].astype(np.float32)
        ranker._restore(arrays)
        ranker._load_extra(folder)
        return ranker


def exclude(matrix: FloatArray, owned: sp.csr_matrix, rows: IntArray) -> None:
    """Set owned courses of each (known) row to -inf, in place."""
    known = np.flatnonzero(rows >= 0)
    if not len(known):
        return
    sub = owned[rows[known]]
    r, c = sub.nonzero()
    matrix[known[r], c] = -np.inf


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Ranker):
            continue  # components are saved by the blend itself
        if isinstance(value, list | tuple) and value and isinstance(value[0], Ranker):
            continue
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out


def _from_jsonable(kind: type[Ranker], params: dict[str, Any]) -> dict[str, Any]:
    return {key: tuple(v) if isinstance(v, list) else v for key, v in params.items()}
