"""The chat ranker: picks from what members say, learned on later chat against earlier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys.data import Dataset, IdMap
from recsys.engagement import ChatActivity, TopicMatcher, engagement_matrices
from recsys.rankers import BlendRanker, ChatRanker, ContentRanker, ItemItemRanker, PopularityRanker
from recsys.topics import TfidfEncoder, TopicSpace
from tests.recsys.test_rankers import COURSES_PER_GROUP, planted

DAY = 86_400.0


def no_purchases(data: Dataset) -> Dataset:
    return data.with_interactions(sp.csr_matrix(data.interactions.shape, dtype=np.float32))


def tiny(
    texts: list[tuple[int, float, str]],
    members: int,
    courses: list[str],
    topics: sp.csr_matrix | None = None,
    course_topics: sp.csr_matrix | None = None,
) -> Dataset:
    """A dataset with only chat: (member row, day, text) per message; course = its tag."""
    matcher = TopicMatcher.for_courses(courses, [[c] for c in courses])
    ts = np.asarray([day * DAY for _, day, _ in texts])
    words = [text for _, _, text in texts]
    own, context = engagement_matrices(words, np.full(len(texts), -1, np.int32), ts, matcher)
    chat = ChatActivity(
        member=np.asarray([m for m, _, _ in texts], np.int64),
        ts=ts,
        topics=sp.csr_matrix((len(texts), 0), dtype=np.float32) if topics is None else topics,
        courses=own,
        context=context,
    )
    return Dataset.from_events(
        [],
        [],
        members=IdMap(tuple(f"m{i}" for i in range(members))),
        courses=IdMap(tuple(courses)),
        course_topics=course_topics,
        chat=chat,
    )


def test_learns_from_later_chat_and_ranks_each_members_topics_first() -> None:
    """With zero purchases the ranker learns its weights and finds each member's group."""
    data = no_purchases(planted(members=240))
    ranker = ChatRanker().fit(data)
    assert ranker.validation_["learned"] is True
    picks = ranker.recommend([f"m{i}" for i in range(0, 240, 7)], k=COURSES_PER_GROUP)
    right = [
        sum(c.startswith(f"c{int(m[1:]) % 6}-") for c in courses) / COURSES_PER_GROUP
        for m, courses, _ in picks
    ]
    assert np.mean(right) > 0.9


def test_with_too_little_chat_it_uses_fixed_weights_and_says_so() -> None:
    """Three members cannot teach weights: the prior ranks their own topic first."""
    data = tiny(
        [(0, 1, "#rust lifetimes"), (1, 2, "#go channels"), (2, 3, "#go modules")],
        members=3,
        courses=["rust", "go", "zig"],
    )
    ranker = ChatRanker().fit(data)
    assert ranker.validation_["learned"] is False
    assert "fixed weights" in ranker.validation_["note"]
    assert ranker.recommend(["m0"], 1).courses == [["rust"]]
    assert ranker.recommend(["stranger"], 1).courses == [["go"]]


def test_erasure_removes_a_members_talk_from_the_community_signals() -> None:
    """The only member who talked about zig is forgotten: zig is no longer 'discussed'."""
    data = tiny(
        [(0, 1, "#zig comptime"), (0, 2, "#zig allocators"), (1, 3, "#go"), (2, 4, "#rust")],
        members=3,
        courses=["rust", "go", "zig"],
    )
    ranker = ChatRanker().fit(data)
    zig = data.courses.index["zig"]
    before = ranker.signals_["community_long"].copy()
    ranker.forget(["m0"])
    after = ranker.signals_["community_long"]
    assert before[zig] > before[0]  # zig was the most discussed
    assert after[zig] < after[0]  # now nobody (left) ever talked about it


def test_erasure_takes_a_members_words_out_of_every_course_text(tmp_path: Path) -> None:
    """Only m0 said "comptime" about zig: forgotten, and saved, the model no longer has it."""
    texts = ["#zig comptime", "#zig allocators", "#go goroutines", "#rust lifetimes", "#zig"]
    space = TopicSpace(TfidfEncoder())
    space.fit(texts, ["rust", "go", "zig"])
    data = tiny(
        [(0, 1, texts[0]), (1, 2, texts[1]), (1, 3, texts[2]), (2, 4, texts[3]), (2, 5, texts[4])],
        members=3,
        courses=["rust", "go", "zig"],
        topics=sp.csr_matrix(space.encode(texts), dtype=np.float32),
        course_topics=sp.csr_matrix(space.encode(["rust", "go", "zig"]), dtype=np.float32),
    )
    ranker = ChatRanker().fit(data)
    terms = space.encoder.terms()
    assert terms is not None
    zig, comptime = data.courses.index["zig"], terms.index("comptime")
    assert ranker.signals_["course_text"][zig, comptime] > 0
    ranker.forget(["m0"])
    assert ranker.signals_["course_text"][zig, comptime] == 0
    ranker.save(tmp_path)
    loaded = ChatRanker.load(tmp_path)
    assert isinstance(loaded, ChatRanker)
    assert loaded.signals_["course_text"][zig, comptime] == 0
    assert (loaded.signals_["course_text"] != ranker.signals_["course_text"]).nnz == 0


def test_a_model_saved_before_courses_had_talk_still_loads(tmp_path: Path) -> None:
    """No talk arrays in an older artifact: course text is the description, picks still come."""
    data = tiny(
        [(0, 1, "#rust"), (1, 2, "#go"), (2, 3, "#go")],
        members=3,
        courses=["rust", "go", "zig"],
        topics=sp.csr_matrix(np.eye(3, dtype=np.float32)),
        course_topics=sp.csr_matrix(np.eye(3, dtype=np.float32)),
    )
    ChatRanker().fit(data).save(tmp_path)
    with np.load(tmp_path / "arrays.npz") as saved:
        older = {k: saved[k] for k in saved.files if not k.startswith("talk_")}
    np.savez(tmp_path / "arrays.npz", **older)
    loaded = ChatRanker.load(tmp_path)
    assert isinstance(loaded, ChatRanker)
    assert (loaded.signals_["course_text"] != data.course_topics).nnz == 0
    assert loaded.recommend(["m0"], 1).courses == [["rust"]]


def test_evidence_counts_the_messages_each_member_wrote_about_a_course() -> None:
    """evidence() gives per member and course the messages that name it (reasons cite it)."""
    data = tiny([(0, 1, "#rust"), (0, 2, "#rust and #go")], members=2, courses=["rust", "go"])
    ranker = ChatRanker().fit(data)
    said, helped = ranker.evidence(["m0", "m1", "stranger"])
    assert said.tolist() == [[2.0, 1.0], [0.0, 0.0], [0.0, 0.0]]
    assert not helped.any()


def test_blend_validates_on_later_chat_when_nobody_bought_anything() -> None:
    """No purchases: the blend's weights are earned on later chat; co-choice gets none."""
    data = no_purchases(planted(members=300))
    blend = BlendRanker(
        [ItemItemRanker(), ChatRanker(), ContentRanker(), PopularityRanker()],
        min_validation_members=50,
    ).fit(data)
    weights = dict(zip([c.name for c in blend.components_], blend.weights_, strict=True))
    assert blend.validation_["source"] == "chat"
    assert blend.validation_["members"] >= 50
    assert weights["chat"] > 0
    assert weights["itemitem"] == 0


def test_blend_with_too_little_to_validate_uses_chat_alone() -> None:
    """Below the validation minimum no component gets a weight it did not earn."""
    data = tiny(
        [(0, 1, "#rust"), (1, 2, "#go"), (0, 3, "#rust"), (1, 4, "#zig")],
        members=2,
        courses=["rust", "go", "zig"],
    )
    blend = BlendRanker([ItemItemRanker(), ChatRanker(), PopularityRanker()]).fit(data)
    assert blend.weights_.tolist() == [0.0, 1.0, 0.0]
    assert "chat alone" in blend.validation_["note"]
