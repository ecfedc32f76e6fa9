"""What rankers learn from: members × courses interactions plus optional side features.

`IdMap` keeps external ids apart from matrix rows (as lightfm's `Dataset.mapping()`
does); `Dataset` bundles the interaction matrix with per-member and per-course
features and topic vectors, all aligned to the maps. Splits for offline
evaluation live here too: leave-one-out and temporal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

if TYPE_CHECKING:
    from recsys.engagement import ChatActivity

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class IdMap:
    """External ids <-> row numbers, in a fixed order."""

    ids: tuple[str, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {key: i for i, key in enumerate(self.ids)}
        if len(index) != len(self.ids):
            raise ValueError("ids must be unique")
        object.__setattr__(self, "index", index)

    @classmethod
    def of(cls, ids: Iterable[str]) -> IdMap:
        """A map over `ids` (deduplicated, first occurrence wins)."""
        return cls(tuple(dict.fromkeys(ids)))

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, key: object) -> bool:
        return key in self.index

    def rows(self, keys: Sequence[str]) -> IntArray:
        """Row of each key, -1 for keys the map does not know."""
        return np.fromiter((self.index.get(k, -1) for k in keys), np.int64, len(keys))

    def without(self, keys: Iterable[str]) -> tuple[IdMap, IntArray]:
        """A map without `keys`, and the old rows that remain (in order)."""
        drop = set(keys)
        keep = np.asarray([i for i, k in enumerate(self.ids) if k not in drop], dtype=np.int64)
        return IdMap(tuple(self.ids[i] for i in keep)), keep


@dataclass(frozen=True)
class Dataset:
    """Interactions (members × courses, confidence weights) and aligned side information.

    `events` optionally keeps the interactions as a time-stamped list (member row,
    course row, weight, epoch seconds) for temporal splits and recency.
    `member_features`/`course_features` are dense; `member_topics`/`course_topics`
    are rows of one text space (see `recsys.topics`). `chat` optionally keeps the
    messages as implicit feedback (see `recsys.engagement`): what members talk about.
    """

    members: IdMap
    courses: IdMap
    interactions: sp.csr_matrix
    member_features: FloatArray | None = None
    course_features: FloatArray | None = None
    member_topics: sp.csr_matrix | FloatArray | None = None
    course_topics: sp.csr_matrix | FloatArray | None = None
    events: tuple[IntArray, IntArray, FloatArray, npt.NDArray[np.float64]] | None = None
    chat: ChatActivity | None = None

    def __post_init__(self) -> None:
        shape = (len(self.members), len(self.courses))
        if self.interactions.shape != shape:
            raise ValueError(f"interactions shape {self.interactions.shape} != {shape}")
        for name, rows in (
            ("member_features", len(self.members)),
            ("member_topics", len(self.members)),
            ("course_features", len(self.courses)),
            ("course_topics", len(self.courses)),
        ):
            value = getattr(self, name)
            if value is not None and value.shape[0] != rows:
                raise ValueError(f"{name} has {value.shape[0]} rows, expected {rows}")

    @classmethod
    def from_events(
        cls,
        member_ids: Sequence[str],
        course_ids: Sequence[str],
        weights: Sequence[float] | None = None,
        timestamps: Sequence[float] | None = None,
        *,
        members: IdMap | None = None,
        courses: IdMap | None = None,
        **side: object,
    ) -> Dataset:
        """Build from interaction triples; repeated pairs add their weights."""
        members = members or IdMap.of(member_ids)
        courses = courses or IdMap.of(course_ids)
        rows = members.rows(member_ids)
        cols = courses.rows(course_ids)
        if (rows < 0).any() or (cols < 0).any():
            raise ValueError("interaction refers to a member or course outside the maps")
        w = np.ones(len(rows), np.float32) if weights is None else np.asarray(weights, np.float32)
        matrix = sp.csr_matrix((w, (rows, cols)), shape=(len(members), len(courses)))
        matrix.sum_duplicates()
        ts = (
            np.zeros(len(rows), np.float64)
            if timestamps is None
            else np.asarray(timestamps, np.float64)
        )
        return cls(
            members=members,
            courses=courses,
            interactions=matrix.astype(np.float32),
            events=(rows, cols, w, ts),
            **side,  # type: ignore[arg-type]
        )

    @property
    def n_members(self) -> int:
        """Rows of the interaction matrix."""
        return len(self.members)

    @property
    def n_courses(self) -> int:
        """Columns of the interaction matrix."""
        return len(self.courses)

    def owned(self) -> sp.csr_matrix:
        """Binary members × courses: 1 where the member has any positive interaction."""
        binary = self.interactions.copy()
        binary.data = (binary.data > 0).astype(np.float32)
        binary.eliminate_zeros()
        return binary

    def before(self, cutoff: float) -> Dataset:
        """The dataset as it stood at `cutoff`: purchases, chat and talk profiles before it.

        Purchases without times (no `events`) cannot be cut and are kept as they are.
        Member topic profiles are rebuilt from the earlier chat when the chat has text
        vectors (otherwise they are kept as they are).
        """
        interactions, events = self.interactions, self.events
        if events is not None:
            rows, cols, weights, ts = events
            kept = ts < cutoff
            interactions = sp.csr_matrix(
                (weights[kept], (rows[kept], cols[kept])), shape=self.interactions.shape
            )
            interactions.sum_duplicates()
            events = (rows[kept], cols[kept], weights[kept], ts[kept])
        chat = self.chat.before(cutoff) if self.chat is not None else None
        member_topics = self.member_topics
        if chat is not None and chat.topics.shape[1]:
            from recsys.engagement import LONG_HALF_LIFE_DAYS, profiles

            member_topics = profiles(chat, self.n_members, cutoff, LONG_HALF_LIFE_DAYS)
        return replace(
            self,
            interactions=sp.csr_matrix(interactions, dtype=np.float32),
            events=events,
            chat=chat,
            member_topics=member_topics,
        )

    def with_interactions(self, interactions: sp.csr_matrix) -> Dataset:
        """The same dataset with another interaction matrix (events dropped)."""
        return replace(self, interactions=interactions.tocsr(), events=None)

    def without_members(self, keys: Iterable[str]) -> Dataset:
        """The dataset without some members' rows (for erasure)."""
        members, keep = self.members.without(keys)
        features = self.member_features
        topics = self.member_topics
        return Dataset(
            members=members,
            courses=self.courses,
            interactions=self.interactions[keep],
            member_features=None if features is None else features[keep],
            course_features=self.course_features,
            member_topics=None if topics is None else topics[keep],
            course_topics=self.course_topics,
            chat=None if self.chat is None else self.chat.without_members(keep),
        )


@dataclass(frozen=True)
class Split:
    """A training dataset and, per evaluated member row, the held-out course rows."""

    train: Dataset
    held_out: dict[int, IntArray]


def leave_one_out(
    data: Dataset,
    *,
    seed: int = 0,
    min_interactions: int = 2,
    only: IntArray | None = None,
) -> Split:
    """Hold out one interaction per member with at least `min_interactions`.

    With timestamped events, the member's latest interaction is held out (the future
    never predicts the past); without, a random one. `only` restricts the members
    evaluated (rows). Vectorized: no loop per member.
    """
    owned = data.owned()
    counts = np.diff(owned.indptr)
    eligible = np.flatnonzero(counts >= min_interactions)
    if only is not None:
        eligible = np.intersect1d(eligible, only)
    if data.events is not None and np.any(data.events[3]):
        rows, cols, _, ts = data.events
        order = np.lexsort((cols, ts, rows))  # by member, then time
        last = np.r_[rows[order][1:] != rows[order][:-1], True]
        latest_course = np.full(data.n_members, -1, dtype=np.int64)
        latest_course[rows[order][last]] = cols[order][last]
        chosen = latest_course[eligible]
    else:
        rng = np.random.default_rng(seed)
        offsets = (rng.random(len(eligible)) * counts[eligible]).astype(np.int64)
        chosen = owned.indices[owned.indptr[eligible] + offsets].astype(np.int64)
    keep = chosen >= 0
    eligible, chosen = eligible[keep], chosen[keep]
    mask = sp.csr_matrix(
        (np.ones(len(eligible), np.float32), (eligible, chosen)), shape=owned.shape
    )
    train = data.interactions - data.interactions.multiply(mask)
    train = sp.csr_matrix(train, dtype=np.float32)
    train.eliminate_zeros()
    held = {int(r): np.asarray([c], dtype=np.int64) for r, c in zip(eligible, chosen, strict=True)}
    events = None
    if data.events is not None:
        # The remaining purchases keep their times: order-aware rankers need them.
        e_rows, e_cols, e_weights, e_ts = data.events
        width = np.int64(max(data.n_courses, 1))
        dropped = np.isin(e_rows.astype(np.int64) * width + e_cols, eligible * width + chosen)
        events = (e_rows[~dropped], e_cols[~dropped], e_weights[~dropped], e_ts[~dropped])
    return Split(train=replace(data.with_interactions(train), events=events), held_out=held)


def temporal_split(data: Dataset, cutoff: float) -> Split:
    """Train on the data before `cutoff`; evaluate on courses first chosen after it."""
    if data.events is None:
        raise ValueError("a temporal split needs timestamped events")
    train = data.before(cutoff)
    rows, cols, _, ts = data.events
    later = ts >= cutoff
    owned_before = train.interactions > 0
    held: dict[int, list[int]] = {}
    for r, c in zip(rows[later], cols[later], strict=True):
        if not owned_before[r, c]:
            held.setdefault(int(r), []).append(int(c))
    return Split(
        train=train,
        held_out={r: np.unique(np.asarray(c, dtype=np.int64)) for r, c in held.items()},
    )
