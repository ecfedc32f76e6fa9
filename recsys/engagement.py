"""Chat as implicit feedback: which courses' topics each message is about, and who engaged.

A community that installs Cohort has chat history and few or no purchases. What a
member asks, answers and discusses is a member × topic signal; courses connect to
topics through their tags (the operator's own keywords) and title. `TopicMatcher`
finds the courses a message mentions; `ChatActivity` keeps, per message, its author,
time, text vector (in the shared topic space) and the courses it engages, so a ranker
can compute any member's engagement *as of any time* (what it needs to learn from
later chat against earlier chat, with no purchases at all).

Engagement of a message's author with a course:

- the message mentions one of the course's keywords (`#asyncio`, "asyncio",
  "neural networks" for the tag `neural-networks`): they wrote about it;
- the message replies to a message about it (an answer to a question): they helped
  or followed up on it (the topic is inherited along the reply chain, a few hops).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data import Dataset, FloatArray, IntArray, Split
from recsys.text import tokenize

INHERIT_HOPS = 3
# A course's keyword in running text may be an ordinary word ("history", "training");
# a tag (`#asyncio`, a forum post's tags) is a deliberate statement of the topic.
MENTION_WEIGHT = 0.5
# A reply this long (in terms) engages fully with its thread's topics; shorter, less.
SUBSTANTIAL_TERMS = 30
# An untagged course's title is its keyword unless more courses share it than this.
MAX_SHARED_TITLE = 2
INHERITED_WEIGHT = 0.8
DAY = 86_400.0
# Half-life of "long-run" engagement and talk profiles.
LONG_HALF_LIFE_DAYS = 365.0
_HASHTAG = re.compile(r"(?<![\w#])#([a-z0-9][a-z0-9.+#_-]*[a-z0-9+#])")
_PLURAL = re.compile(r"(?<=[a-z]{3})(?:es|s)$")


def _stem(token: str) -> str:
    """Fold simple English plurals so "network" and "networks" match."""
    return _PLURAL.sub("", token) if token.isascii() else token


def _phrase(keyword: str) -> tuple[str, ...]:
    """A keyword as the sequence of stemmed tokens a message would contain."""
    tokens = tokenize(keyword)
    if len(tokens) == 1 and "-" in tokens[0]:
        parts = [p for p in tokens[0].split("-") if p]
        return tuple(_stem(p) for p in parts) if parts else ()
    return tuple(_stem(t) for t in tokens)


class TopicMatcher:
    """Finds the courses a text is about from each course's keywords (its tags, else title).

    A keyword matches as one token (`neural-networks`, `c++`) or as the run of words it
    is made of ("neural networks"); English plurals are folded. A keyword shared by
    several courses engages each of them.
    """

    def __init__(
        self, keywords: Sequence[Sequence[str]], mention_weight: float = MENTION_WEIGHT
    ) -> None:
        self.n_courses = len(keywords)
        self.mention_weight = mention_weight
        self._single: dict[str, list[int]] = {}
        self._phrases: dict[tuple[str, ...], list[int]] = {}
        for course, words in enumerate(keywords):
            for keyword in words:
                whole = tokenize(keyword)
                if len(whole) == 1:
                    self._single.setdefault(_stem(whole[0]), []).append(course)
                phrase = _phrase(keyword)
                if len(phrase) > 1:
                    self._phrases.setdefault(phrase, []).append(course)
                elif len(phrase) == 1:
                    self._single.setdefault(phrase[0], []).append(course)
        self._longest = max((len(p) for p in self._phrases), default=1)

    @classmethod
    def for_courses(cls, titles: Sequence[str], tags: Sequence[Sequence[str]]) -> TopicMatcher:
        """Keywords per course: its tags, or its title when it has none.

        A title shared (as words) by several untagged courses names none of them: a
        catalog of "Course 1" … "Course 3000" gives no keyword "course".
        """
        phrases = [_phrase(title) for title in titles]
        shared = Counter(phrase for phrase, t in zip(phrases, tags, strict=True) if not t)
        keywords = [
            list(t) if t else ([title] if shared[phrase] <= MAX_SHARED_TITLE else [])
            for title, t, phrase in zip(titles, tags, phrases, strict=True)
        ]
        return cls(keywords)

    @property
    def empty(self) -> bool:
        """Whether no course has a usable keyword."""
        return not self._single and not self._phrases

    def match(self, text: str) -> dict[int, float]:
        """The courses `text` is about: 1.0 when tagged (`#asyncio`), else `mention_weight`."""
        return self.match_tokens(text, tokenize(text))

    def match_tokens(self, text: str, terms: Sequence[str]) -> dict[int, float]:
        """Like `match`, with the text's terms already tokenized."""
        found: dict[int, float] = {}
        for tag in _HASHTAG.findall(text.lower()):
            for course in self._single.get(_stem(tag), ()):
                found[course] = 1.0
        tokens = [_stem(t) for t in terms]
        for i, token in enumerate(tokens):
            hits = list(self._single.get(token, ()))
            for length in range(2, self._longest + 1):
                hits.extend(self._phrases.get(tuple(tokens[i : i + length]), ()))
            for course in hits:
                found.setdefault(course, self.mention_weight)
        return found


def kept_members(member: IntArray, keep: IntArray) -> tuple[IntArray, IntArray]:
    """For entries owned by member rows `member`: those whose member is in `keep`.

    Returns their positions and their members' new rows (the index in `keep`).
    """
    size = max(int(member.max(initial=-1)), int(keep.max(initial=-1))) + 1
    new_row = np.full(size, -1, np.int64)
    new_row[keep] = np.arange(len(keep))
    mine = np.flatnonzero(new_row[member] >= 0)
    return mine, new_row[member[mine]]


@dataclass(frozen=True)
class ChatActivity:
    """Per message: author row, time, text vector and engaged courses (weights).

    `topics` is messages × terms (rows L2-normalised, the space of the course
    vectors). `courses` is messages × courses: what the message itself is about (1.0
    for a tag, `MENTION_WEIGHT` for a keyword in its text); `context` is what the
    thread it replies to is about (the author helped or followed up on it).
    """

    member: IntArray
    ts: npt.NDArray[np.float64]
    topics: sp.csr_matrix
    courses: sp.csr_matrix
    context: sp.csr_matrix

    def __post_init__(self) -> None:
        n = len(self.member)
        rows = (len(self.ts), self.topics.shape[0], self.courses.shape[0], self.context.shape[0])
        if any(count != n for count in rows):
            raise ValueError("chat activity arrays must have one row per message")

    @property
    def engaged(self) -> sp.csr_matrix:
        """Messages × courses: the stronger of own and thread engagement."""
        return sp.csr_matrix(self.courses.maximum(self.context))

    @property
    def n_messages(self) -> int:
        """Messages in the log."""
        return len(self.member)

    def before(self, cutoff: float) -> ChatActivity:
        """Only the messages sent before `cutoff`."""
        keep = np.flatnonzero(self.ts < cutoff)
        return ChatActivity(
            member=self.member[keep],
            ts=self.ts[keep],
            topics=self.topics[keep],
            courses=self.courses[keep],
            context=self.context[keep],
        )

    def without_members(self, keep: IntArray) -> ChatActivity:
        """Only the messages of member rows `keep`, renumbered to their new rows."""
        mine, rows = kept_members(self.member, keep)
        return ChatActivity(
            member=rows,
            ts=self.ts[mine],
            topics=self.topics[mine],
            courses=self.courses[mine],
            context=self.context[mine],
        )


def engagement_matrices(
    texts: Sequence[str],
    parents: npt.NDArray[np.int32],
    ts: npt.NDArray[np.float64],
    matcher: TopicMatcher,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Messages × courses twice: what each message says, and what its thread is about.

    `parents[i]` is the index of the message `i` replies to (-1 if none). A reply's
    context is its parent's own topics (or, for a parent that names none, the
    parent's context) at `INHERITED_WEIGHT` per hop, up to `INHERIT_HOPS` hops.
    """
    n = len(texts)
    own: list[dict[int, float]] = [{} for _ in range(n)]
    context: list[dict[int, float]] = [{} for _ in range(n)]
    depth = np.zeros(n, np.int64)
    substance = np.zeros(n, np.float32)
    for i in np.argsort(ts, kind="stable"):
        terms = tokenize(texts[i]) if texts[i] else []
        substance[i] = min(1.0, len(terms) / SUBSTANTIAL_TERMS)
        own[i] = matcher.match_tokens(texts[i], terms) if terms else {}
        parent = int(parents[i])
        if not (0 <= parent < n and parent != i):
            continue
        source = own[parent] or context[parent]
        hops = 1 if own[parent] else depth[parent] + 1
        if hops > INHERIT_HOPS:
            continue
        depth[i] = hops
        # A one-line "thanks" says less about the topic than a worked answer.
        scale = INHERITED_WEIGHT * float(substance[i])
        context[i] = {c: w * scale for c, w in source.items() if w * scale > 0}
    return _to_matrix(own, matcher.n_courses), _to_matrix(context, matcher.n_courses)


def _to_matrix(rows: list[dict[int, float]], n_courses: int) -> sp.csr_matrix:
    index = [i for i, row in enumerate(rows) for _ in row]
    cols = [c for row in rows for c in row]
    values = [w for row in rows for w in row.values()]
    return sp.csr_matrix(
        (np.asarray(values, np.float32), (index, cols)), shape=(len(rows), n_courses)
    )


def substance(chat: ChatActivity) -> FloatArray:
    """Per message, how substantial it is: its distinct terms / `SUBSTANTIAL_TERMS`, at most 1.

    A worked answer says more about what its author knows than "thanks, that works".
    """
    terms = np.diff(chat.topics.indptr).astype(np.float32)
    return np.asarray(np.minimum(1.0, terms / SUBSTANTIAL_TERMS), np.float32)


def _by_author(
    chat: ChatActivity,
    n_members: int,
    now: float,
    half_life_days: float | None,
    by_substance: bool = False,
) -> tuple[IntArray, sp.csr_matrix]:
    """The messages before `now`, and members × those messages weighted by their age.

    `half_life_days=None` weighs every message 1; `by_substance` also weighs each by
    how substantial it is.
    """
    mask = np.flatnonzero(chat.ts < now)
    if half_life_days is None:
        weights = np.ones(len(mask), np.float32)
    else:
        age_days = np.maximum(now - chat.ts[mask], 0.0) / DAY
        weights = np.power(0.5, age_days / half_life_days).astype(np.float32)
    if by_substance:
        weights = weights * substance(chat)[mask]
    authors = sp.csr_matrix(
        (weights, (chat.member[mask], np.arange(len(mask)))), shape=(n_members, len(mask))
    )
    return mask, authors


def decayed(
    chat: ChatActivity,
    n_members: int,
    now: float,
    half_life_days: float | None,
    courses: sp.csr_matrix | None = None,
) -> sp.csr_matrix:
    """Members × courses engagement as of `now`, each message weighted by its age.

    `courses` (messages × courses) defaults to `chat.engaged`; `half_life_days=None`
    counts every message fully. Messages at or after `now` are ignored.
    """
    mask, authors = _by_author(chat, n_members, now, half_life_days)
    matrix = (chat.engaged if courses is None else courses)[mask]
    return sp.csr_matrix(authors @ matrix, dtype=np.float32)


def profiles(
    chat: ChatActivity,
    n_members: int,
    now: float,
    half_life_days: float,
    by_substance: bool = False,
) -> sp.csr_matrix:
    """Members × terms: decayed sum of their message vectors, L2-normalised.

    `by_substance` weighs each message by how substantial it is (`substance`).
    """
    mask, authors = _by_author(chat, n_members, now, half_life_days, by_substance)
    return unit_rows(sp.csr_matrix(authors @ chat.topics[mask], dtype=np.float32))


def unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix, dtype=np.float32)


@dataclass(frozen=True)
class TopicTalk:
    """What members wrote when they tagged a course: how the community talks about it.

    One row per (member, course) pair: the sum of the text vectors of the member's
    messages that tag the course (each weighted by its tag and by how substantial it
    is). Kept per member so that erasing a member takes their words out of every
    course's text (`without_members`).
    """

    member: IntArray
    course: IntArray
    vectors: sp.csr_matrix

    @classmethod
    def of(cls, chat: ChatActivity, now: float, tags: sp.csr_matrix) -> TopicTalk:
        """The talk before `now`; `tags` is messages × courses (what each message tags)."""
        mask = np.flatnonzero(chat.ts < now)
        tagged = sp.coo_matrix(tags[mask])
        weights = tagged.data * substance(chat)[mask][tagged.row]
        n_courses = tags.shape[1]
        pair = chat.member[mask][tagged.row].astype(np.int64) * n_courses + tagged.col
        keys, index = np.unique(pair, return_inverse=True)
        pairs = sp.csr_matrix(
            (weights.astype(np.float32), (index, tagged.row)), shape=(len(keys), len(mask))
        )
        vectors = sp.csr_matrix(pairs @ chat.topics[mask], dtype=np.float32)
        return cls(keys // n_courses, keys % n_courses, vectors)

    @classmethod
    def empty(cls, n_terms: int) -> TopicTalk:
        """Nobody has tagged anything yet."""
        none = np.zeros(0, np.int64)
        return cls(none, none, sp.csr_matrix((0, n_terms), dtype=np.float32))

    def course_text(self, described: sp.csr_matrix) -> sp.csr_matrix:
        """Courses × terms: each course's description plus its talk, equally weighted.

        `described` holds the courses' own text vectors (unit rows). A course nobody
        has tagged keeps its description; one with no description, its talk.
        """
        n_courses = described.shape[0]
        by_course = sp.csr_matrix(
            (np.ones(len(self.course), np.float32), (self.course, np.arange(len(self.course)))),
            shape=(n_courses, len(self.course)),
        )
        talk = unit_rows(sp.csr_matrix(by_course @ self.vectors, dtype=np.float32))
        return unit_rows(sp.csr_matrix(talk + unit_rows(described), dtype=np.float32))

    def without_members(self, keep: IntArray) -> TopicTalk:
        """Only the pairs of member rows `keep`, renumbered to their new rows."""
        mine, rows = kept_members(self.member, keep)
        return TopicTalk(rows, self.course[mine], self.vectors[mine])


def cutoff_at(chat: ChatActivity, target: sp.csr_matrix, quantile: float) -> float | None:
    """The `quantile` of the times of messages that engage a course (`target` rows)."""
    engaged_ts = chat.ts[np.diff(target.indptr) > 0]
    return float(np.quantile(engaged_ts, quantile)) if len(engaged_ts) else None


def engaged_after(
    chat: ChatActivity, n_members: int, cutoff: float, target: sp.csr_matrix
) -> tuple[IntArray, sp.csr_matrix]:
    """Who talked before `cutoff` and engaged (by `target`) after it, and with what.

    Returns the member rows and a binary members × courses matrix of what each
    engaged with at or after the cut-off.
    """
    later = np.flatnonzero(chat.ts >= cutoff)
    authors = sp.csr_matrix(
        (np.ones(len(later), np.float32), (chat.member[later], np.arange(len(later)))),
        shape=(n_members, len(later)),
    )
    after = sp.csr_matrix((authors @ target[later]) > 0)
    talked_before = np.bincount(chat.member[chat.ts < cutoff], minlength=n_members) > 0
    return np.flatnonzero(talked_before & (np.diff(after.indptr) > 0)), after


def row_shares(matrix: sp.csr_matrix) -> FloatArray:
    """Dense rows divided by their sums (all-zero rows stay zero)."""
    dense = np.asarray(matrix.toarray(), np.float32)
    totals = dense.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1.0
    return np.asarray(dense / totals, np.float32)


def chat_split(data: Dataset, quantile: float = 0.8) -> Split:
    """Earlier chat against later chat: train on what was said before a cut-off.

    The cut-off is the `quantile` of the times of messages that engage a course. The
    training dataset is the data as it stood then (`Dataset.before`); each member who
    talked before it is evaluated on the courses they engaged with after it. Works
    from day one, with no purchases.
    """
    chat = data.chat
    cutoff = None if chat is None else cutoff_at(chat, chat.engaged, quantile)
    if chat is None or cutoff is None:
        return Split(train=data, held_out={})
    rows, after = engaged_after(chat, data.n_members, cutoff, chat.engaged)
    held = {
        int(row): after.indices[after.indptr[row] : after.indptr[row + 1]].astype(np.int64)
        for row in rows
    }
    return Split(train=data.before(cutoff), held_out=held)
