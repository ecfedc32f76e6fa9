"""`cohort train`: profiles, topic space, the course ranker, segments and influence.

Pure computation over `TrainingInputs` (no database access, no async): the CLI reads
the store, calls `train`, and saves the resulting `Bundle` with `bot.training.artifacts`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import scipy.sparse as sp

from bot.store.training import POSITIVE_WEIGHTS
from bot.training.inputs import TrainingInputs, community_key
from recsys.activity import ActivityLog
from recsys.data import Dataset, IdMap
from recsys.engagement import ChatActivity, TopicMatcher, engagement_matrices
from recsys.features import COUNTS, ActivityFeatures, activity_features
from recsys.graph import InfluenceModel
from recsys.model import RankingConfig, default_ranker
from recsys.policy import CourseInfo
from recsys.rankers.blend import BlendRanker
from recsys.segments import SegmentModel, rule_segments
from recsys.text import tokenize
from recsys.topics import TfidfEncoder, TopicSpace, course_document, documents_by_member

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
TOPIC_COMPONENTS = 8
NEW_COURSE_CHOICES = 3
MIN_MESSAGES_TO_CLUSTER = 3


@dataclass
class CommunityModels:
    """What training learned about one community's members."""

    key: str
    name: str | None
    segments: SegmentModel | None
    rules: dict[str, list[str]]
    influence: InfluenceModel | None


@dataclass
class Bundle:
    """Everything one training produced; saved and loaded as a unit."""

    version: str
    created: datetime
    ranker: BlendRanker
    encoder: TfidfEncoder
    courses: list[CourseInfo]
    communities: dict[str, CommunityModels]
    member_languages: dict[str, list[str]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def _nothing(_: str) -> None:
    return None


def _topic_components(
    member_topics: sp.csr_matrix, course_topics: sp.csr_matrix
) -> tuple[np.ndarray, np.ndarray]:
    """Dense SVD components of member and course topic rows, in one projection."""
    both = sp.vstack([member_topics, course_topics]).tocsr()
    n = min(TOPIC_COMPONENTS, both.shape[1] - 1, both.shape[0] - 1)
    if n < 2 or both.nnz == 0:
        return (
            np.zeros((member_topics.shape[0], 0), np.float32),
            np.zeros((course_topics.shape[0], 0), np.float32),
        )
    from sklearn.decomposition import TruncatedSVD

    projected = TruncatedSVD(n_components=n, random_state=0).fit_transform(both)
    projected = projected.astype(np.float32)
    return projected[: member_topics.shape[0]], projected[member_topics.shape[0] :]


def _course_features(inputs: TrainingInputs, components: np.ndarray) -> np.ndarray:
    levels = ("beginner", "intermediate", "advanced")
    languages = sorted({c.language for c in inputs.courses if c.language})
    rows = []
    for course, topic in zip(inputs.courses, components, strict=True):
        level = [1.0 if course.level == name else 0.0 for name in levels]
        language = [1.0 if course.language == name else 0.0 for name in languages]
        rows.append([*topic, *level, *language])
    return np.asarray(rows, dtype=np.float32).reshape(len(inputs.courses), -1)


def catalog_terms(inputs: TrainingInputs) -> frozenset[str]:
    """The terms that name the catalog's topics: its courses' tags, or titles when untagged."""
    return frozenset(
        token
        for course in inputs.courses
        for keyword in course.tags or (course.title,)
        for token in tokenize(keyword)
    )


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def member_languages(inputs: TrainingInputs, documents: list[str]) -> dict[str, list[str]]:
    """Languages each member reads: English plus their locale's, else what they write in.

    Members with neither a locale nor text get no entry (no language filter).
    """
    out: dict[str, list[str]] = {}
    for member, document in zip(inputs.members, documents, strict=True):
        language = (member.locale or "").split("-")[0].lower() or None
        if language is None and document:
            share = len(_CJK.findall(document)) / max(len(document), 1)
            language = "zh" if share > 0.2 else "en"
        if language:
            out[str(member.id)] = sorted({"en", language})
    return out


def build_dataset(inputs: TrainingInputs, activity: ActivityLog, encoder: TfidfEncoder) -> Dataset:
    """Members × courses with weights, timestamps, profile and text features."""
    members = IdMap(tuple(inputs.member_keys))
    if tuple(activity.members) != members.ids:
        raise ValueError("the activity log and the dataset must index members alike")
    courses = IdMap(tuple(c.id for c in inputs.courses))
    space = TopicSpace(encoder)
    member_docs = documents_by_member(activity.msg_text, activity.msg_member, activity.n_members)
    course_docs = [course_document(c.title, c.description, c.tags) for c in inputs.courses]
    space.fit(member_docs, course_docs)
    member_topics = space.encode(member_docs)
    course_topics = space.encode(course_docs)
    member_components, course_components = _topic_components(member_topics, course_topics)
    chat = chat_activity(inputs, activity, space)
    features = activity_features(activity)
    counts = np.log1p(features.values[:, : len(COUNTS) + 2])  # counts, recency, tenure
    member_features = np.hstack([counts, member_components]).astype(np.float32)
    known = [(m, c, k, ts) for m, c, k, ts in inputs.interactions if c in courses]
    return Dataset.from_events(
        [str(m) for m, _, _, _ in known],
        [c for _, c, _, _ in known],
        [POSITIVE_WEIGHTS[k] for _, _, k, _ in known],
        [ts.timestamp() for _, _, _, ts in known],
        members=members,
        courses=courses,
        member_features=member_features,
        course_features=_course_features(inputs, course_components),
        member_topics=sp.csr_matrix(member_topics),
        course_topics=sp.csr_matrix(course_topics),
        chat=chat,
    )


def chat_activity(inputs: TrainingInputs, activity: ActivityLog, space: TopicSpace) -> ChatActivity:
    """Every message as implicit feedback: its author, time, text vector, courses engaged."""
    matcher = TopicMatcher.for_courses(
        [c.title for c in inputs.courses], [list(c.tags) for c in inputs.courses]
    )
    own, context = engagement_matrices(
        activity.msg_text, activity.msg_reply_to, activity.msg_ts, matcher
    )
    return ChatActivity(
        member=activity.msg_member.astype(np.int64),
        ts=activity.msg_ts,
        topics=sp.csr_matrix(space.encode(activity.msg_text), dtype=np.float32),
        courses=own,
        context=context,
    )


def train(
    inputs: TrainingInputs,
    *,
    ranking: RankingConfig | None = None,
    previous: Bundle | None = None,
    progress: Progress = _nothing,
) -> Bundle:
    """Fit everything; `previous` keeps segment ids stable across retrains."""
    if not inputs.courses:
        from bot.errors import CohortError

        raise CohortError("the catalog is empty: import courses first (cohort courses import)")
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def step(name: str) -> None:
        timings[name] = round(time.perf_counter() - started - sum(timings.values()), 2)

    progress("profiles")
    activity = inputs.activity()
    encoder = TfidfEncoder()
    dataset = build_dataset(inputs, activity, encoder)
    step("profiles")

    progress("ranker")
    ranker = default_ranker(ranking).fit(dataset)
    step("ranker")

    progress("segments and influence")
    communities: dict[str, CommunityModels] = {}
    terms = encoder.terms()
    for community in inputs.communities:
        key = community_key(community)
        log_ = inputs.activity(community.id)
        if log_.n_members == 0:
            continue
        features = activity_features(log_)
        member_docs = documents_by_member(log_.msg_text, log_.msg_member, log_.n_members)
        topics = encoder.transform(member_docs)
        old = previous.communities.get(key) if previous else None
        # Members with almost no activity are outliers that would win the silhouette
        # contest on their own; rule segments (newcomers, quiet) describe them instead.
        active = np.flatnonzero(features.column("messages") >= MIN_MESSAGES_TO_CLUSTER)
        segments = None
        if len(active) >= 3:
            segments = SegmentModel().fit(
                ActivityFeatures(
                    members=[features.members[i] for i in active],
                    names=features.names,
                    values=features.values[active],
                ),
                topics[active],
                terms,
                previous=old.segments if old else None,
                topic_terms=catalog_terms(inputs),
            )
        influence = InfluenceModel().fit(log_) if log_.n_messages else None
        communities[key] = CommunityModels(
            key=key,
            name=community.name,
            segments=segments,
            rules=rule_segments(features),
            influence=influence,
        )
    step("segments")

    now = inputs.now
    chosen = np.asarray(dataset.owned().sum(axis=0)).ravel()
    typical = float(np.median(chosen)) if len(chosen) else 0.0
    courses = [
        CourseInfo(
            id=c.id,
            title=c.title,
            language=c.language,
            level=c.level,
            active=c.active,
            topic=c.tags[0] if c.tags else None,
            # New for exploration: fewer than NEW_COURSE_CHOICES members chose it yet,
            # while most courses have been chosen that often (with no purchases at all
            # nothing is "new in the catalog": everything is equally unexplored).
            new=bool(chosen[dataset.courses.index[c.id]] < NEW_COURSE_CHOICES <= typical),
        )
        for c in inputs.courses
    ]
    documents = documents_by_member(activity.msg_text, activity.msg_member, activity.n_members)
    report = {
        "members": dataset.n_members,
        "courses": dataset.n_courses,
        "interactions": int(dataset.interactions.nnz),
        "messages": activity.n_messages,
        "blend_weights": {
            c.name: round(float(w), 3)
            for c, w in zip(ranker.components_, ranker.weights_, strict=True)
        },
        "validation": ranker.validation_,
        "components": {
            c.name: getattr(c, "validation_", None)
            for c in ranker.components_
            if getattr(c, "validation_", None)
        },
        "seconds": timings,
    }
    version = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return Bundle(
        version=version,
        created=now,
        ranker=ranker,
        encoder=encoder,
        courses=courses,
        communities=communities,
        member_languages=member_languages(inputs, documents),
        report=report,
    )
