"""Business rules between scores and picks: eligibility, diversity, exploration, reasons."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data import Dataset, IdMap
from recsys.policy import CourseInfo, PolicyConfig, Recommender
from recsys.rankers import BlendRanker, ContentRanker, ItemItemRanker, PopularityRanker
from recsys.topics import TfidfEncoder, TopicSpace, course_document

COURSES = {
    "rust-101": ("Rust from Zero", "rust cargo borrow checker ownership", "beginner", "en"),
    "rust-async": ("Async Rust", "rust tokio async futures", "intermediate", "en"),
    "rust-adv": ("Advanced Rust", "rust unsafe macros lifetimes", "advanced", "en"),
    "py-101": ("Python Basics", "python pip pytest", "beginner", "en"),
    "py-zh": ("Python 入门", "python 入门 编程", "beginner", "zh"),
    "k8s": ("Kubernetes", "kubernetes docker helm", "intermediate", "en"),
}


def recommender(**config: object) -> tuple[Recommender, Dataset]:
    ids = list(COURSES)
    members = ["rustacean", "pythonista", "newbie"]
    docs = [
        "rust tokio async futures rust cargo borrow lifetimes",
        "python pytest pip python",
        "",
    ]
    course_docs = [course_document(t, d, []) for t, d, _, _ in COURSES.values()]
    space = TopicSpace(TfidfEncoder(min_df=1, max_df=1.0)).fit(docs, course_docs)
    data = Dataset.from_events(
        ["rustacean", "pythonista", "pythonista"],
        ["rust-101", "py-101", "k8s"],
        members=IdMap(tuple(members)),
        courses=IdMap(tuple(ids)),
        member_topics=space.encode(docs),
        course_topics=space.encode(course_docs),
    )
    ranker = BlendRanker(
        [ContentRanker(), ItemItemRanker(l2=1.0), PopularityRanker()], weights=[1.0, 0.3, 0.1]
    ).fit(data)
    infos = {
        course: CourseInfo(course, title, language=lang, level=level)
        for course, (title, _, level, lang) in COURSES.items()
    }
    infos.update(config.pop("infos", {}))  # type: ignore[arg-type]
    topics = data.course_topics
    assert topics is not None
    rows = {m: data.member_topics[i] for i, m in enumerate(members)}  # type: ignore[index]
    return (
        Recommender(
            ranker=ranker,
            courses=infos,
            config=PolicyConfig(**config),  # type: ignore[arg-type]
            course_vectors=np.asarray(topics.toarray()),
            terms=space.encoder.terms(),
            member_topics=rows,
        ),
        data,
    )


def ids(picks: list) -> list[str]:
    return [pick.course for pick in picks]


def test_owned_and_inactive_courses_never_appear() -> None:
    """A course the member owns, or that the operator retired, is never picked."""
    rec, _ = recommender(
        exploration=0.0,
        infos={"rust-async": CourseInfo("rust-async", "Async Rust", active=False)},
    )
    [picks] = rec.recommend(["rustacean"], k=6)
    assert "rust-101" not in ids(picks)
    assert "rust-async" not in ids(picks)


def test_language_eligibility() -> None:
    """A Chinese course is only eligible for members who read Chinese."""
    rec, _ = recommender(exploration=0.0, level_gate=False)
    [english] = rec.recommend(["pythonista"], k=6, languages={"pythonista": {"en"}})
    [bilingual] = rec.recommend(["pythonista"], k=6, languages={"pythonista": {"en", "zh"}})
    assert "py-zh" not in ids(english)
    assert "py-zh" in ids(bilingual)


def test_level_gate_needs_the_level_below() -> None:
    """Advanced courses wait until the member owns an intermediate one."""
    rec, _ = recommender(exploration=0.0)
    [picks] = rec.recommend(["rustacean"], k=6)  # owns a beginner course only
    assert "rust-adv" not in ids(picks)
    open_rec, _ = recommender(exploration=0.0, level_gate=False)
    [picks] = open_rec.recommend(["rustacean"], k=6)
    assert "rust-adv" in ids(picks)


def test_reasons_name_shared_topics() -> None:
    """A content-driven pick says which of the member's topics it matches."""
    rec, _ = recommender(exploration=0.0)
    [picks] = rec.recommend(["rustacean"], k=1)
    assert picks[0].course == "rust-async"
    assert picks[0].why.startswith("you often discuss ")
    assert any(term in picks[0].why for term in ("tokio", "async", "futures"))
    assert picks[0].score == 1.0


def test_diversity_spreads_the_list() -> None:
    """With MMR, near-duplicates give way to a different course further down."""
    plain, _ = recommender(exploration=0.0, diversity=0.0, level_gate=False)
    diverse, _ = recommender(exploration=0.0, diversity=0.9, level_gate=False)
    [a] = plain.recommend(["rustacean"], k=2)
    [b] = diverse.recommend(["rustacean"], k=2)
    assert ids(a) == ["rust-async", "rust-adv"]  # two Rust courses by relevance
    assert ids(b)[0] == "rust-async" and ids(b)[1] != "rust-adv"


def test_exploration_gives_one_slot_to_a_new_course() -> None:
    """When exploring, the last slot is the best new course, flagged and explained."""
    new = {"k8s": CourseInfo("k8s", "Kubernetes", level="intermediate", new=True)}
    always, _ = recommender(exploration=1.0, infos=new)
    never, _ = recommender(exploration=0.0, infos=new)
    [picks] = always.recommend(["rustacean"], k=3, day="2026-11-24")
    assert picks[-1].course == "k8s" and picks[-1].exploration
    assert "new" in picks[-1].why
    [plain] = never.recommend(["rustacean"], k=3, day="2026-11-24")
    assert not any(p.exploration for p in plain)


def test_exploration_is_stable_for_a_member_and_day() -> None:
    """The same member sees the same list all day (the decision is a hash, not a dice roll)."""
    new = {"k8s": CourseInfo("k8s", "Kubernetes", level="intermediate", new=True)}
    rec, _ = recommender(exploration=0.5, infos=new)
    first = rec.recommend(["rustacean", "pythonista"], k=3, day="2026-11-24")
    again = rec.recommend(["rustacean", "pythonista"], k=3, day="2026-11-24")
    assert first == again


@pytest.mark.parametrize("member", ["newbie", "stranger"])
def test_members_without_history_still_get_picks(member: str) -> None:
    """No text and no purchases (or unknown): popular eligible courses, in order."""
    rec, _ = recommender(exploration=0.0)
    [picks] = rec.recommend([member], k=3)
    assert len(picks) == 3
    assert all(0.0 <= p.score <= 1.0 for p in picks)


def test_a_reason_never_cites_a_word_the_course_only_shares_by_accident() -> None:
    """A C++ member's "templates" does not explain a Django pick (a homonym)."""
    ids = ["cpp", "django"]
    docs = ["c++ templates raii templates cmake", "python web"]
    course_docs = [
        course_document("Modern C++", "c++ templates raii", ["c++"]),
        course_document("Web Apps with Django", "django templates orm views", ["django"]),
    ]
    space = TopicSpace(TfidfEncoder(min_df=1, max_df=1.0)).fit(docs, course_docs)
    data = Dataset.from_events(
        [],
        [],
        members=IdMap(("cpp-fan", "other")),
        courses=IdMap(tuple(ids)),
        member_topics=space.encode(docs),
        course_topics=space.encode(course_docs),
    )
    ranker = BlendRanker([ContentRanker(), PopularityRanker()], weights=[1.0, 0.1]).fit(data)
    infos = {
        "cpp": CourseInfo("cpp", "Modern C++", topic="c++"),
        "django": CourseInfo("django", "Web Apps with Django", topic="django"),
    }
    rec = Recommender(
        ranker=ranker,
        courses=infos,
        config=PolicyConfig(exploration=0.0, diversity=0.0),
        course_vectors=np.asarray(data.course_topics.toarray()),  # type: ignore[union-attr]
        terms=space.encoder.terms(),
        member_topics={"cpp-fan": data.member_topics[0]},  # type: ignore[index]
        keywords={"cpp": {"modern", "c++"}, "django": {"web", "apps", "django"}},
    )
    [picks] = rec.recommend(["cpp-fan"], k=2)
    why = {pick.course: pick.why for pick in picks}
    assert "templates" not in why["django"]
    assert "c++" in why["cpp"]
