"""A tiny hand-made trained bundle (no store, no training run) for facade and loader tests.

Members are keyed like real bundles (member row ids as strings):
`1` talks Rust and owns rust-101; `2` talks Python, owns py-101 and k8s and reads
English only; `3` has said nothing and has no language on record.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.config import RecommendSettings
from bot.training.facade import TrainedModel
from bot.training.train import Bundle, CommunityModels
from recsys.data import Dataset, IdMap
from recsys.policy import CourseInfo
from recsys.rankers import BlendRanker, ContentRanker, PopularityRanker
from recsys.topics import TfidfEncoder, TopicSpace, course_document

COURSES = {
    "rust-101": ("Rust from Zero", "rust cargo borrow checker ownership", "beginner", "en"),
    "rust-async": ("Async Rust", "rust tokio async futures", "intermediate", "en"),
    "py-101": ("Python Basics", "python pip pytest", "beginner", "en"),
    "py-zh": ("Python 入门", "python 入门 编程", "beginner", "zh"),
    "k8s": ("Kubernetes", "kubernetes docker helm", "intermediate", "en"),
}
MEMBERS = ("1", "2", "3")
DOCUMENTS = ["rust tokio async futures rust cargo borrow", "python pytest pip python", ""]
OWNED = [("1", "rust-101"), ("2", "py-101"), ("2", "k8s")]
# Recommendations without diversity or exploration: picks are the plain score order.
PLAIN = RecommendSettings(diversity=0.0, exploration=0.0, level_gate=False)


def tiny_bundle(version: str = "20261101T000000000000Z") -> Bundle:
    """A fitted blend (content + popularity) over five courses and three members."""
    course_docs = [course_document(t, d, []) for t, d, _, _ in COURSES.values()]
    encoder = TfidfEncoder(min_df=1, max_df=1.0)
    space = TopicSpace(encoder).fit(DOCUMENTS, course_docs)
    data = Dataset.from_events(
        [m for m, _ in OWNED],
        [c for _, c in OWNED],
        members=IdMap(MEMBERS),
        courses=IdMap(tuple(COURSES)),
        member_topics=space.encode(DOCUMENTS),
        course_topics=space.encode(course_docs),
    )
    ranker = BlendRanker([ContentRanker(), PopularityRanker()], weights=[1.0, 0.1]).fit(data)
    return Bundle(
        version=version,
        created=datetime(2026, 11, 1, tzinfo=UTC),
        ranker=ranker,
        encoder=encoder,
        courses=[
            CourseInfo(course, title, language=language, level=level)
            for course, (title, _, level, language) in COURSES.items()
        ],
        communities={
            "discord:9": CommunityModels(
                key="discord:9",
                name="Rustaceans",
                segments=None,
                rules={"champions": ["1"], "newcomers": ["3"]},
                influence=None,
            )
        },
        member_languages={"2": ["en"]},
    )


def tiny_model(version: str = "20261101T000000000000Z") -> TrainedModel:
    """`tiny_bundle` behind the facade, with plain (score-ordered) picks."""
    return TrainedModel(tiny_bundle(version), PLAIN)


def renamed(model: TrainedModel, version: str) -> TrainedModel:
    """Another version of the same model (a fresh bundle object with a new name)."""
    return TrainedModel(replace(model.bundle, version=version), PLAIN)
