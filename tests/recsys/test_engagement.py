"""Chat as implicit feedback: topic matching, reply context, time cuts, erasure."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.data import Dataset, IdMap
from recsys.engagement import (
    INHERITED_WEIGHT,
    MENTION_WEIGHT,
    SUBSTANTIAL_TERMS,
    ChatActivity,
    TopicMatcher,
    TopicTalk,
    chat_split,
    decayed,
    engagement_matrices,
    profiles,
)

DAY = 86_400.0
MATCHER = TopicMatcher.for_courses(
    ["Neural networks", "Modern C++", "Asyncio deep dive", "History of AI"],
    [["neural-networks"], ["c++"], ["asyncio", "python"], []],
)


def test_a_tag_counts_fully_and_a_keyword_in_running_text_less() -> None:
    """`#neural-networks` is a statement of topic (1.0); the words in prose are a mention."""
    assert MATCHER.match("Question about training\n#neural-networks") == {0: 1.0}
    assert MATCHER.match("I trained two neural networks yesterday") == {0: MENTION_WEIGHT}


def test_programming_terms_plurals_and_shared_keywords_match() -> None:
    """c++ stays whole, plurals fold, and a title serves as keyword for an untagged course."""
    assert MATCHER.match("templates in C++ are hard") == {1: MENTION_WEIGHT}
    assert MATCHER.match("a neural network question") == {0: MENTION_WEIGHT}
    assert MATCHER.match("the history of AI is long") == {3: MENTION_WEIGHT}
    assert MATCHER.match("nothing relevant here at all") == {}
    assert not MATCHER.empty


def test_a_reply_inherits_its_threads_topics_scaled_by_its_substance() -> None:
    """An answer in a tagged thread engages the topic; a short reply less, "thanks" not."""
    long_answer = " ".join(["asyncio event loop tasks futures coroutines"] * 10)
    texts = ["how to cancel? #asyncio", long_answer, "cancel works now", "thanks", "unrelated"]
    parents = np.asarray([-1, 0, 0, 0, -1], np.int32)
    ts = np.arange(5, dtype=np.float64)
    own, context = engagement_matrices(texts, parents, ts, MATCHER)
    assert own[0, 2] == 1.0
    assert context[1, 2] == pytest.approx(INHERITED_WEIGHT)
    assert 0 < context[2, 2] < 0.2
    assert context[3].nnz == 0
    assert context[4].nnz == 0 and own[4].nnz == 0


def test_context_follows_a_reply_chain_but_not_forever() -> None:
    """A reply to a reply keeps the thread's topic, decaying per hop, and stops after a few."""
    body = " ".join(["word"] * 40)
    texts = ["#c++ question", body, body, body, body, body]
    parents = np.asarray([-1, 0, 1, 2, 3, 4], np.int32)
    _, context = engagement_matrices(texts, parents, np.arange(6.0), MATCHER)
    weights = [context[i, 1] for i in range(1, 6)]
    assert weights[0] > weights[1] > weights[2] > 0
    assert weights[3] == 0 and weights[4] == 0


def test_a_title_shared_by_many_untagged_courses_is_no_keyword() -> None:
    """ "Course 1" … "Course 50" do not all light up when someone says "course"."""
    matcher = TopicMatcher.for_courses(
        [f"Course {i}" for i in range(50)] + ["Rust Basics"], [[]] * 51
    )
    assert matcher.match("which course should I take?") == {}
    assert matcher.match("rust basics please") == {50: MENTION_WEIGHT}


def activity(members: list[int], times: list[float], courses: list[int]) -> ChatActivity:
    n = len(members)
    own = sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), courses)), shape=(n, 3))
    return ChatActivity(
        member=np.asarray(members, np.int64),
        ts=np.asarray(times, np.float64),
        topics=sp.csr_matrix((n, 0), dtype=np.float32),
        courses=own,
        context=sp.csr_matrix((n, 3), dtype=np.float32),
    )


def test_decay_weights_recent_messages_more_and_ignores_the_future() -> None:
    """Half-life decay: a message one half-life old counts half; later ones not at all."""
    chat = activity([0, 0, 0], [0.0, 30 * DAY, 40 * DAY], [0, 1, 2])
    now = 30 * DAY + 1
    matrix = decayed(chat, 1, now, 30.0).toarray()[0]
    assert matrix[0] == pytest.approx(0.5, rel=1e-3)
    assert matrix[1] == pytest.approx(1.0, rel=1e-3)
    assert matrix[2] == 0
    assert decayed(chat, 1, now, None).toarray()[0].tolist() == [1.0, 1.0, 0.0]


def test_erasure_drops_a_members_messages_and_renumbers_the_rest() -> None:
    """without_members keeps only the kept members' messages, under their new rows."""
    chat = activity([0, 1, 2, 1], [1.0, 2.0, 3.0, 4.0], [0, 1, 2, 2])
    kept = chat.without_members(np.asarray([0, 2], np.int64))
    assert kept.member.tolist() == [0, 1]
    assert kept.courses.toarray().argmax(axis=1).tolist() == [0, 2]


def worded(
    members: list[int], tags: list[int], terms: list[list[int]], width: int = 4
) -> ChatActivity:
    """Messages at days 0, 1, 2 … tagging one course each, with unit term vectors."""
    n = len(members)
    rows = [i for i, row in enumerate(terms) for _ in row]
    cols = [t for row in terms for t in row]
    values = [1.0 / np.sqrt(len(row)) for row in terms for _ in row]
    return ChatActivity(
        member=np.asarray(members, np.int64),
        ts=np.arange(n, dtype=np.float64) * DAY,
        topics=sp.csr_matrix((values, (rows, cols)), shape=(n, width), dtype=np.float32),
        courses=sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), tags)), shape=(n, 3)),
        context=sp.csr_matrix((n, 3), dtype=np.float32),
    )


def test_topic_talk_is_what_members_wrote_when_they_tagged_each_course() -> None:
    """Per member and course, the tagged messages' vectors, weighted by substance."""
    chat = worded([0, 0, 1, 1], [0, 0, 1, 0], [[0], [0, 1], [2], [3]])
    talk = TopicTalk.of(chat, 2.5 * DAY, chat.courses)  # the last message is later
    pairs = {
        (int(m), int(c)): row
        for m, c, row in zip(talk.member, talk.course, talk.vectors.toarray(), strict=True)
    }
    assert sorted(pairs) == [(0, 0), (1, 1)]
    one_term = 1 / SUBSTANTIAL_TERMS
    assert pairs[(0, 0)] == pytest.approx(
        [one_term + 2 / SUBSTANTIAL_TERMS / np.sqrt(2), 2 / SUBSTANTIAL_TERMS / np.sqrt(2), 0, 0]
    )
    assert pairs[(1, 1)] == pytest.approx([0, 0, one_term, 0])


def test_course_text_is_description_and_talk_equally() -> None:
    """A talked-about course mixes both halves; the others keep their description."""
    chat = worded([0, 1], [0, 0], [[0], [0]])
    described = sp.csr_matrix(np.asarray([[0, 0, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]], np.float32))
    text = TopicTalk.of(chat, 9 * DAY, chat.courses).course_text(described).toarray()
    assert text[0] == pytest.approx([np.sqrt(0.5), 0, 0, np.sqrt(0.5)])
    assert text[1] == pytest.approx([0, 0, 1, 0])
    assert not text[2].any()


def test_forgetting_a_member_takes_their_words_out_of_the_course_text() -> None:
    """Only member 0 wrote term 1 about course 0: once forgotten, the course never says it."""
    chat = worded([0, 1, 2], [0, 0, 1], [[0, 1], [0], [2]])
    described = sp.csr_matrix((3, 4), dtype=np.float32)
    talk = TopicTalk.of(chat, 9 * DAY, chat.courses)
    assert talk.course_text(described).toarray()[0, 1] > 0
    kept = talk.without_members(np.asarray([1, 2], np.int64))
    pairs = zip(kept.member.tolist(), kept.course.tolist(), strict=True)
    assert sorted(pairs) == [(0, 0), (1, 1)]
    assert kept.course_text(described).toarray()[0].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_profiles_by_substance_weigh_a_worked_answer_over_a_thanks() -> None:
    """A one-term message barely moves a profile weighted by substance."""
    long_answer = list(range(1, 31))
    chat = worded([0, 0], [0, 0], [[0], long_answer], width=31)
    plain = profiles(chat, 1, 9 * DAY, 365.0).toarray()[0]
    weighted = profiles(chat, 1, 9 * DAY, 365.0, by_substance=True).toarray()[0]
    assert weighted[0] < plain[0] / 3


def test_chat_split_trains_on_earlier_chat_and_holds_out_later_topics() -> None:
    """The training side never sees a message after the cut-off; targets are later topics."""
    members = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    times = [float(t) for t in range(10)]
    courses = [0, 1, 0, 1, 0, 1, 0, 1, 2, 2]
    data = Dataset.from_events(
        [],
        [],
        members=IdMap(("a", "b")),
        courses=IdMap(("x", "y", "z")),
        chat=activity(members, times, courses),
    )
    split = chat_split(data, 0.8)
    assert split.train.chat is not None
    cutoff = split.train.chat.ts.max()
    assert cutoff < 8.0
    assert {int(r): sorted(c.tolist()) for r, c in split.held_out.items()} == {0: [2], 1: [2]}
