"""From ranker scores to the picks a member sees: eligibility, diversity, exploration, why.

`Recommender` wraps a fitted ranker with the catalog and applies the business rules:

- owned courses are excluded (the ranker does that);
- inactive courses never appear; a course in a language the member does not use is
  not eligible; an advanced course is only eligible for a member who owns a course
  of the level below (members with no course may see beginner and intermediate);
- the top k is chosen with maximal marginal relevance (MMR), so it is not five
  variations of one course, then listed best first;
- with probability `exploration` (decided by a stable hash of member and day, so a
  member sees the same list all day) one slot goes to the best new course;
- each pick gets a one-line reason: the terms shared by the member's talk and the
  course ("you often discuss asyncio and aiohttp"), a course they took that members
  often take with it, or that it is new or popular.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data import FloatArray
from recsys.rankers.base import Ranker, exclude
from recsys.rankers.blend import BlendRanker
from recsys.rankers.chat import ChatRanker

LEVELS = ("beginner", "intermediate", "advanced")
# Course-to-course similarity above which "members who took X often take this too" holds.
RELATED = 0.2


@dataclass(frozen=True)
class CourseInfo:
    """What the rules need to know about a course."""

    id: str
    title: str
    language: str | None = None
    level: str | None = None
    active: bool = True
    new: bool = False
    topic: str | None = None  # what members call its subject in chat (its first tag)

    @property
    def subject(self) -> str:
        """The course's subject as a member would say it ("neural networks", "asyncio")."""
        return (self.topic or self.title).replace("-", " ").replace("_", " ")


@dataclass(frozen=True)
class Reason:
    """Why a course was picked, in a form a caller can translate.

    Evidence from chat first: `talked` (args: subject, messages) — the member wrote
    about the course's subject; `helped` (args: subject, replies) — they answered
    others about it; `kindred` (args: a subject they talk about, this course's
    subject) — members who talk about the one often discuss the other; `discussed`
    (args: subject) — much discussed in the community lately. Then `related` (args:
    a course the member took), `topics` (args: terms shared by their talk and the
    course's own keywords), `explore`, `new` or `popular` (no args).
    """

    kind: str
    args: tuple[str, ...] = ()

    def english(self, titles: Mapping[str, CourseInfo]) -> str:
        """The reason as an English line."""
        if self.kind == "talked":
            count = int(self.args[1])
            return f"you talked about {self.args[0]} in {_messages(count)}"
        if self.kind == "helped":
            count = int(self.args[1])
            return f"you helped others with {self.args[0]} {_times(count)}"
        if self.kind == "kindred":
            return f"members who talk about {self.args[0]} often discuss {self.args[1]} too"
        if self.kind == "discussed":
            return f"{self.args[0]} is much discussed in the community lately"
        if self.kind == "topics":
            return f"you often discuss {_and(list(self.args))}"
        if self.kind == "related":
            course = titles.get(self.args[0], CourseInfo(self.args[0], self.args[0]))
            return f"members who took {course.title} often take this too"
        return {
            "explore": "new in the catalog, picked for you to try",
            "new": "new in the catalog",
        }.get(self.kind, "popular in the community")


@dataclass(frozen=True)
class Pick:
    """One recommended course: relative score in [0, 1] and a one-line reason."""

    course: str
    score: float
    why: str
    exploration: bool = False
    reason: Reason = Reason("popular")


@dataclass(frozen=True)
class PolicyConfig:
    """Business-rule settings (see `[recommend]` in config.example.toml)."""

    diversity: float = 0.2  # 0 = pure relevance; MMR weight of novelty
    exploration: float = 0.1  # share of lists with one new-course slot
    level_gate: bool = True
    candidates: int = 50  # how many top-scored courses MMR chooses from


@dataclass
class Recommender:
    """A fitted ranker plus the catalog and the rules."""

    ranker: Ranker
    courses: Mapping[str, CourseInfo]
    config: PolicyConfig = field(default_factory=PolicyConfig)
    course_vectors: sp.csr_matrix | FloatArray | None = None  # for diversity
    terms: Sequence[str] | None = None  # topic space vocabulary, for reasons
    member_topics: Mapping[str, sp.csr_matrix] | None = None  # per member, for reasons
    chat: ChatRanker | None = None  # what members said, as evidence for reasons
    keywords: Mapping[str, Collection[str]] | None = None  # per course id: its own words

    def __post_init__(self) -> None:
        ids = self.ranker.courses_.ids
        self._similarity = _similarity_matrix(self.course_vectors, self.ranker, len(ids))
        self._eligible_static = np.asarray(
            [self.courses.get(c, CourseInfo(c, c, active=False)).active for c in ids], bool
        )
        self._language = [self.courses.get(c, CourseInfo(c, c)).language for c in ids]
        self._level = np.asarray(
            [_level_rank(self.courses.get(c, CourseInfo(c, c)).level) for c in ids], np.int8
        )
        self._new = np.asarray([self.courses.get(c, CourseInfo(c, c)).new for c in ids], bool)
        self._subjects = [self.courses.get(c, CourseInfo(c, c)).subject for c in ids]
        self._discussed = self.chat.discussed() if self.chat is not None else None

    def recommend(
        self,
        member_ids: Sequence[str],
        k: int = 5,
        *,
        languages: Mapping[str, Collection[str]] | None = None,
        day: str = "",
        exclude_courses: Mapping[str, Collection[str]] | None = None,
    ) -> list[list[Pick]]:
        """Picks for each member (fewer than k when fewer courses are eligible).

        `exclude_courses` adds, per member, courses never to show (owned on a linked
        identity, answered "not for me").
        """
        ranker = self.ranker
        rows = ranker.members_.rows(member_ids)
        scores = ranker.score_rows(rows)
        exclude(scores, ranker.owned_, rows)
        components = (
            ranker.component_scores(list(member_ids)) if isinstance(ranker, BlendRanker) else {}
        )
        said, helped = (
            self.chat.evidence(list(member_ids)) if self.chat is not None else (None, None)
        )
        out: list[list[Pick]] = []
        for position, member in enumerate(member_ids):
            row = scores[position].copy()
            owned = self._owned(int(rows[position]))
            row[~self._eligible(owned, (languages or {}).get(member))] = -np.inf
            for course in (exclude_courses or {}).get(member, ()):
                index = ranker.courses_.index.get(course)
                if index is not None:
                    row[index] = -np.inf
            picks = self._diverse(row, k)
            explore = self._explore(member, day, row, picks, k)
            if explore is not None:
                picks = [*picks[: k - 1], explore]
            member_picks = []
            for c in picks:
                talk = None
                if said is not None and helped is not None:
                    talk = (int(said[position, c]), int(helped[position, c]))
                reason = self._why(member, c, owned, components, position, c == explore, talk)
                member_picks.append(
                    Pick(
                        course=ranker.courses_.ids[c],
                        score=_relative(row, c),
                        why=reason.english(self.courses),
                        exploration=c == explore,
                        reason=reason,
                    )
                )
            out.append(member_picks)
        return out

    # -- rules -----------------------------------------------------------------------

    def _owned(self, row: int) -> npt.NDArray[np.int32]:
        if row < 0:
            return np.zeros(0, np.int32)
        owned = self.ranker.owned_
        return np.asarray(owned.indices[owned.indptr[row] : owned.indptr[row + 1]], np.int32)

    def _eligible(
        self, owned: npt.NDArray[np.int32], languages: Collection[str] | None
    ) -> npt.NDArray[np.bool_]:
        eligible = self._eligible_static.copy()
        if languages:
            eligible &= np.asarray([lang is None or lang in languages for lang in self._language])
        if self.config.level_gate:
            known = self._level[owned][self._level[owned] >= 0]
            ceiling = (int(known.max()) + 1) if len(known) else 1  # up to intermediate
            eligible &= self._level <= ceiling
        return eligible

    def _diverse(self, scores: FloatArray, k: int) -> list[int]:
        """Greedy MMR over the best `candidates` eligible courses."""
        finite = np.flatnonzero(np.isfinite(scores))
        if not len(finite):
            return []
        order = finite[np.argsort(-scores[finite], kind="stable")][: self.config.candidates]
        if self.config.diversity <= 0 or self._similarity is None:
            return [int(c) for c in order[:k]]
        relevance = scores[order]
        span = float(relevance.max() - relevance.min()) or 1.0
        relevance = (relevance - relevance.min()) / span
        chosen: list[int] = []
        remaining = list(range(len(order)))
        while remaining and len(chosen) < k:
            if chosen:
                overlap = self._similarity[
                    np.ix_(order[remaining], np.asarray(chosen, np.int64))
                ].max(axis=1)
            else:
                overlap = np.zeros(len(remaining))
            value = (1 - self.config.diversity) * relevance[remaining] - (
                self.config.diversity * overlap
            )
            best = remaining[int(np.argmax(value))]
            chosen.append(int(order[best]))
            remaining.remove(best)
        # MMR decides which courses make the list; the list reads best first.
        return sorted(chosen, key=lambda c: -float(scores[c]))

    def _explore(
        self, member: str, day: str, scores: FloatArray, picks: list[int], k: int
    ) -> int | None:
        if self.config.exploration <= 0 or k < 3 or not self._new.any():
            return None
        digest = hashlib.blake2b(f"{member}|{day}".encode(), digest_size=8).digest()
        if int.from_bytes(digest, "big") / 2**64 >= self.config.exploration:
            return None
        candidates = np.flatnonzero(self._new & np.isfinite(scores))
        candidates = np.asarray([c for c in candidates if c not in picks[: k - 1]], np.int64)
        if not len(candidates):
            return None
        return int(candidates[np.argmax(scores[candidates])])

    # -- reasons ---------------------------------------------------------------------

    def _why(
        self,
        member: str,
        course: int,
        owned: npt.NDArray[np.int32],
        components: Mapping[str, FloatArray],
        position: int,
        exploring: bool,
        talk: tuple[int, int] | None = None,
    ) -> Reason:
        if exploring:
            return Reason("explore")
        strongest = max(
            components,
            key=lambda name: float(components[name][position, course]),
            default=None,
        )
        subject = self._subjects[course]
        related = self._related_owned(course, owned)
        if related is not None and strongest in ("itemitem", "sequence"):
            return Reason("related", (related,))
        # What the member said is evidence they recognise: cite it first.
        said, helped = talk or (0, 0)
        if helped > said:
            return Reason("helped", (subject, str(helped)))
        if said:
            return Reason("talked", (subject, str(said)))
        if helped:
            return Reason("helped", (subject, str(helped)))
        kindred = [
            self._subjects[k]
            for k in (self.chat.kindred(member, course) if self.chat is not None else [])
            if self._subjects[k] != subject
        ]
        if kindred:
            return Reason("kindred", (kindred[0], subject))
        topics = self._shared_terms(member, course)
        if topics and strongest in (None, "content", "hybrid"):
            return Reason("topics", tuple(topics))
        if related is not None:
            return Reason("related", (related,))
        if topics:
            return Reason("topics", tuple(topics))
        if self._discussed is not None and self._discussed[course]:
            return Reason("discussed", (subject,))
        if self._new[course]:
            return Reason("new")
        return Reason("popular")

    def _shared_terms(self, member: str, course: int) -> list[str]:
        if self.member_topics is None or self.terms is None or self.course_vectors is None:
            return []
        vector = self.member_topics.get(member)
        if vector is None:
            return []
        course_row = self.course_vectors[course]
        product = _dense_row(vector) * _dense_row(course_row)
        if not np.any(product > 0):
            return []
        # Only the course's own words (title, tags): a word its description shares by
        # accident ("templates" in a Django course) is a homonym, not a reason.
        own_words = (self.keywords or {}).get(self.ranker.courses_.ids[course])
        best = [int(i) for i in np.argsort(-product) if product[i] > 0]
        if own_words is not None:
            best = [i for i in best if self.terms[i] in own_words]
        return [self.terms[i] for i in best[:2]]

    def _related_owned(self, course: int, owned: npt.NDArray[np.int32]) -> str | None:
        if not len(owned) or self._similarity is None:
            return None
        similarity = self._similarity[owned, course]
        if float(similarity.max()) < RELATED:
            return None
        return self.ranker.courses_.ids[int(owned[int(np.argmax(similarity))])]


def _level_rank(level: str | None) -> int:
    return LEVELS.index(level) if level in LEVELS else -1


def _relative(scores: FloatArray, course: int) -> float:
    finite = scores[np.isfinite(scores)]
    low, high = float(finite.min()), float(finite.max())
    return round((float(scores[course]) - low) / (high - low), 3) if high > low else 1.0


def _messages(count: int) -> str:
    return "1 message" if count == 1 else f"{count} messages"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _and(terms: list[str]) -> str:
    return " and ".join(terms)


def _dense_row(vector: Any) -> FloatArray:
    if isinstance(vector, np.ndarray):
        return np.asarray(vector, dtype=np.float32).ravel()
    return np.asarray(vector.toarray(), dtype=np.float32).ravel()


def _similarity_matrix(
    vectors: sp.csr_matrix | FloatArray | None, ranker: Ranker, n: int
) -> FloatArray | None:
    """Course × course cosine similarity: text vectors, else co-choice (who took both)."""
    if vectors is not None and vectors.shape[1] > 0:
        dense = _dense(vectors)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        unit = dense / norms
        return np.asarray(unit @ unit.T, dtype=np.float32) if len(unit) == n else None
    owned = ranker.owned_
    if owned.nnz == 0:
        return None
    gram = np.asarray((owned.T @ owned).toarray(), dtype=np.float32)
    norms = np.sqrt(np.diag(gram))
    norms[norms == 0] = 1.0
    return np.asarray(gram / norms[:, None] / norms[None, :], dtype=np.float32)


def _dense(vectors: sp.csr_matrix | FloatArray) -> FloatArray:
    if isinstance(vectors, np.ndarray):
        return np.asarray(vectors, dtype=np.float32)
    return np.asarray(vectors.toarray(), dtype=np.float32)
