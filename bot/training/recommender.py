"""A `Recommender` (ranker + catalog + business rules) built from a trained bundle.

Used through `bot.training.facade.TrainedModel`; services never build one themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import scipy.sparse as sp

from bot.config import RecommendSettings
from bot.training.train import Bundle
from recsys.policy import PolicyConfig, Recommender
from recsys.rankers.blend import BlendRanker
from recsys.rankers.chat import ChatRanker
from recsys.rankers.content import ContentRanker
from recsys.text import tokenize


class _MemberTopics(Mapping[str, sp.csr_matrix]):
    """Member key -> topic row, read from the content ranker without copying."""

    def __init__(self, ranker: ContentRanker) -> None:
        self._ranker = ranker

    def __getitem__(self, key: str) -> sp.csr_matrix:
        row = self._ranker.members_.index.get(key)
        if row is None:
            raise KeyError(key)
        return self._ranker.member_topics_[row]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ranker.members_.ids)

    def __len__(self) -> int:
        return len(self._ranker.members_)


def content_ranker(ranker: BlendRanker) -> ContentRanker | None:
    """The blend's topic (TF-IDF) component, if it has one: it reads text."""
    return next((c for c in ranker.components_ if isinstance(c, ContentRanker)), None)


def chat_ranker(ranker: BlendRanker) -> ChatRanker | None:
    """The blend's chat component, if it has one: what members said, for reasons."""
    return next((c for c in ranker.components_ if isinstance(c, ChatRanker)), None)


def course_keywords(bundle: Bundle) -> dict[str, frozenset[str]]:
    """Per course, the terms of its own title and subject (what a reason may cite)."""
    return {
        course.id: frozenset(tokenize(f"{course.title} {course.topic or ''}"))
        for course in bundle.courses
    }


def build_recommender(bundle: Bundle, settings: RecommendSettings) -> Recommender:
    """The bundle's ranker with its catalog, rules and reasons."""
    content = content_ranker(bundle.ranker)
    course_vectors = content.course_topics_ if content is not None else None
    if course_vectors is not None and course_vectors.shape[1] == 0:
        course_vectors = None
    return Recommender(
        ranker=bundle.ranker,
        courses={course.id: course for course in bundle.courses},
        config=PolicyConfig(
            diversity=settings.diversity,
            exploration=settings.exploration,
            level_gate=settings.level_gate,
        ),
        course_vectors=np.asarray(course_vectors) if course_vectors is not None else None,
        terms=bundle.encoder.terms(),
        member_topics=_MemberTopics(content) if content is not None else None,
        chat=chat_ranker(bundle.ranker),
        keywords=course_keywords(bundle),
    )
