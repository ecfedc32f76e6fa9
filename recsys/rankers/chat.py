"""Ranking from what members say: a learned ranker over chat engagement signals.

No purchases needed. For every member × course it computes signals from the chat
(`recsys.engagement`), as of a reference time:

- the member's own engagement with the course's topics: tagged, mentioned, replied
  and helped (substantial replies), their recent and long-run shares, the last week;
- the community's engagement with it: last week, recent, long-run, threads started
  (the cold-start prior);
- co-occurrence: an item-item (DLAE/EASE) model on member × topic engagement ("members
  who talk about X also talk about Y");
- text similarity of what the member says (long-run, substantial messages counting
  most) and the course's text: its description plus what members wrote when they
  tagged it (`TopicTalk`: how the community itself talks about the topic);
- two interactions (helpers × what the community talks about, volume × own share).

How much each signal counts is learned on the store's own chat, later against
earlier: at several past cut-offs the signals are computed from the chat before the
cut-off, and a listwise linear model (softmax over each member's courses, once over
all of them and once over those not yet engaged with; an L2 prior worth
`regularization` member lists) learns which courses each member went on to engage
with after it. Courses the member already engaged with deliberately get their own
weights. With too little chat to learn from, fixed weights (own engagement, then the
community's) are used and `validation_` says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data import Dataset, FloatArray, IntArray
from recsys.engagement import (
    INHERITED_WEIGHT,
    LONG_HALF_LIFE_DAYS,
    ChatActivity,
    TopicTalk,
    cutoff_at,
    decayed,
    engaged_after,
    profiles,
    row_shares,
)
from recsys.rankers.base import Ranker
from recsys.rankers.blend import standardize_rows
from recsys.rankers.itemitem import dlae_from_gram, gram

log = logging.getLogger(__name__)

FEATURES = (
    "own_tagged",
    "own_mentioned",
    "own_replied",
    "own_helped",
    "own_share_recent",
    "own_share_long",
    "own_fresh",
    "community_fresh",
    "community_recent",
    "community_long",
    "community_started",
    "helper_x_community",
    "volume_x_share",
    "cooccurrence",
    "text_similarity",
)
OWN = ("own_tagged", "own_helped")
# With too little chat to learn from: own engagement first, then the community's.
# (Raw signals: own counts are log1p, community signals log shares, so the community
# mostly orders what the member has not talked about.)
PRIOR = {
    "own_tagged": 1.0,
    "own_mentioned": 0.5,
    "own_replied": 0.25,
    "own_helped": 0.5,
    "community_recent": 0.1,
    "community_long": 0.1,
}
STRONG = 0.75
FRESH_DAYS = 7.0
COMMUNITY_SIGNALS = (
    "cooccurrence",
    "community_fresh",
    "community_recent",
    "community_long",
    "community_started",
)
MEMBER_SIGNALS = (
    "tagged",
    "mentioned",
    "replied",
    "recent",
    "long",
    "fresh",
    "profile",
    "said",
    "helped",
)
SCORE_ROWS = 256


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """1 where the matrix is positive."""
    return sp.csr_matrix(matrix > 0, dtype=np.float32)


def _at_least(matrix: sp.csr_matrix, weight: float) -> sp.csr_matrix:
    """Only the entries of at least `weight`."""
    out = sp.csr_matrix(matrix, copy=True)
    out.data[out.data < weight] = 0
    out.eliminate_zeros()
    return out


def _softmax_loss(
    x: npt.NDArray[np.float64],
    valid: npt.NDArray[np.bool_],
    target: npt.NDArray[np.bool_],
) -> Callable[[npt.NDArray[np.float64]], tuple[float, npt.NDArray[np.float64]]]:
    """Mean over lists of the mean negative log-probability of the wanted candidates."""
    wanted = target & valid
    counts = wanted.sum(axis=1)
    keep = counts > 0
    x, valid, wanted, counts = x[keep], valid[keep], wanted[keep], counts[keep]
    per_target = wanted / np.maximum(counts, 1)[:, None]
    n = max(len(x), 1)

    def loss(w: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        if not len(x):
            return 0.0, np.zeros_like(w)
        logits = np.where(valid, x @ w, -np.inf)
        top = logits.max(axis=1, keepdims=True)
        exp = np.exp(logits - top)
        total = exp.sum(axis=1, keepdims=True)
        log_prob = np.where(valid, logits - top - np.log(total), 0.0)
        value = -float((log_prob * per_target).sum()) / n
        grad = -np.einsum("lc,lcf->f", per_target - exp / total, x) / n
        return value, grad

    return loss


def _fit_listwise(
    design: FloatArray,
    valid: npt.NDArray[np.bool_],
    target: npt.NDArray[np.bool_],
    engaged: npt.NDArray[np.bool_],
    l2: float,
) -> tuple[FloatArray, float]:
    """Weights w maximising each list's softmax probability of its wanted courses.

    Two lists per member and cut-off: every candidate, and only the courses they had
    not talked about yet (what a recommendation of something new must get right).
    `design` is lists × candidates × features; plus `l2`/2·|w|²/lists.
    """
    from scipy.optimize import minimize

    x = design.astype(np.float64)
    every = _softmax_loss(x, valid, target)
    fresh = _softmax_loss(x, valid & ~engaged, target)
    n_lists = design.shape[0]

    def loss(w: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        value_all, grad_all = every(w)
        value_new, grad_new = fresh(w)
        value = value_all + value_new + 0.5 * l2 * float(w @ w) / n_lists
        return value, grad_all + grad_new + l2 * w / n_lists

    result = minimize(loss, np.zeros(x.shape[2]), jac=True, method="L-BFGS-B")
    return result.x.astype(np.float32), float(result.fun)


class ChatRanker(Ranker):
    """Learned combination of own, community, co-occurrence and text signals from chat."""

    name = "chat"

    def __init__(
        self,
        recent_days: float = 30.0,
        long_days: float = LONG_HALF_LIFE_DAYS,
        cutoffs: tuple[float, ...] = (0.5, 0.65, 0.8),
        min_members: int = 8,
        max_negatives: int = 300,
        max_lists: int = 6000,
        regularization: float = 100.0,
        seed: int = 0,
    ) -> None:
        self.recent_days = recent_days
        self.long_days = long_days
        self.cutoffs = cutoffs
        self.min_members = min_members
        self.max_negatives = max_negatives
        self.max_lists = max_lists
        self.regularization = regularization
        self.seed = seed

    # -- fitting -------------------------------------------------------------------------

    def _fit(self, data: Dataset) -> None:
        chat = data.chat
        n_courses = data.n_courses
        if data.course_topics is not None:
            course_topics = sp.csr_matrix(data.course_topics, dtype=np.float32)
        else:
            course_topics = sp.csr_matrix((n_courses, 0), dtype=np.float32)
        self.course_topics_ = course_topics
        if chat is None or chat.n_messages == 0:
            chat = ChatActivity(
                member=np.zeros(0, np.int64),
                ts=np.zeros(0, np.float64),
                topics=sp.csr_matrix((0, course_topics.shape[1]), dtype=np.float32),
                courses=sp.csr_matrix((0, n_courses), dtype=np.float32),
                context=sp.csr_matrix((0, n_courses), dtype=np.float32),
            )
        self.now_ = float(chat.ts.max()) + 1.0 if chat.n_messages else 0.0
        prior = np.asarray([PRIOR.get(name, 0.0) for name in FEATURES], np.float32)
        self.coef_ = np.concatenate([prior, np.zeros_like(prior)])
        self.mean_ = np.zeros(len(FEATURES), np.float32)
        self.scale_ = np.ones(len(FEATURES), np.float32)
        self.validation_: dict[str, Any] = {"learned": False}
        self.strong_only_ = False
        if chat.engaged.nnz:
            self._learn(chat, data.n_members)
        self._set_state(chat, data.n_members)

    def _strong(self, chat: ChatActivity) -> sp.csr_matrix:
        """Messages × courses: deliberate statements only (tags, substantial replies)."""
        return sp.csr_matrix(
            _at_least(chat.courses, STRONG).maximum(
                _at_least(chat.context, STRONG * INHERITED_WEIGHT)
            )
        )

    def _signals_at(self, chat: ChatActivity, n_members: int, now: float) -> dict[str, Any]:
        """Everything scoring needs, computed from the chat before `now`."""
        tags = _at_least(chat.courses, STRONG)
        tagged = decayed(chat, n_members, now, None, tags)
        started = decayed(chat, n_members, now, None, chat.courses)
        # Shares and the community's signals count deliberate statements when the
        # community makes enough of them; keywords in running text are too noisy then.
        basis = self._strong(chat) if self.strong_only_ else chat.engaged
        profile = (
            profiles(chat, n_members, now, self.long_days, by_substance=True)
            if self.course_topics_.shape[1]
            else sp.csr_matrix((n_members, 0), dtype=np.float32)
        )
        signals = {
            # How the community words each topic, from the messages that tag it (or,
            # where members rarely tag, that name it).
            "talk": TopicTalk.of(chat, now, tags if self.strong_only_ else chat.courses),
            "tagged": tagged,
            "mentioned": started - tagged,
            "replied": decayed(chat, n_members, now, None, chat.context),
            "recent": decayed(chat, n_members, now, self.recent_days, basis),
            "long": decayed(chat, n_members, now, self.long_days, basis),
            "fresh": decayed(chat, n_members, now, FRESH_DAYS, basis),
            "profile": profile,
            # Evidence for reasons, in messages: wrote about it; helped with it.
            "said": decayed(chat, n_members, now, None, _binary(chat.courses)),
            "helped": decayed(
                chat,
                n_members,
                now,
                None,
                _binary(_at_least(chat.context, STRONG * INHERITED_WEIGHT)),
            ),
        }
        signals.update(self._community_signals(signals))
        return signals

    def _community_signals(self, signals: dict[str, Any]) -> dict[str, FloatArray]:
        """The signals that pool every member (recomputed after erasure)."""
        started = (
            signals["tagged"] if self.strong_only_ else signals["tagged"] + signals["mentioned"]
        )
        return {
            "course_text": self._course_text(signals["talk"]),
            "cooccurrence": self._cooccurrence(signals["long"]),
            "community_fresh": self._community(signals["fresh"]),
            "community_recent": self._community(signals["recent"]),
            "community_long": self._community(signals["long"]),
            "community_started": self._community(started),
        }

    def _course_text(self, talk: TopicTalk) -> sp.csr_matrix:
        """Courses × terms: description plus talk (empty without a text space)."""
        if not self.course_topics_.shape[1]:
            return self.course_topics_
        return talk.course_text(self.course_topics_)

    @staticmethod
    def _community(matrix: sp.csr_matrix) -> FloatArray:
        totals = np.asarray(matrix.sum(axis=0), np.float64).ravel()
        share = totals / max(float(totals.sum()), 1e-9)
        return np.log(share + 1e-4).astype(np.float32)

    @staticmethod
    def _cooccurrence(count: sp.csr_matrix) -> FloatArray:
        """DLAE course-to-course weights on who engages with which topics.

        Empty (0 × 0) when nobody talked about any course: nothing to learn, and a
        catalog-sized matrix of zeros would only cost memory and disk.
        """
        if count.nnz == 0:
            return np.zeros((0, 0), np.float32)
        shared = gram(sp.csr_matrix(count > 0, dtype=np.float32))
        diag = np.diag(shared)
        positive = diag[diag > 0]
        # Regularisation relative to how many members a topic typically has.
        l2 = max(1.0, 0.5 * float(np.median(positive))) if len(positive) else 1.0
        return dlae_from_gram(shared, 0.25, l2)

    def _features(self, signals: dict[str, Any], rows: IntArray) -> FloatArray:
        """Rows × courses × features."""
        tagged = np.asarray(signals["tagged"][rows].toarray(), np.float32)
        mentioned = np.asarray(signals["mentioned"][rows].toarray(), np.float32)
        started = tagged + mentioned
        replied = np.asarray(signals["replied"][rows].toarray(), np.float32)
        recent = row_shares(signals["recent"][rows])
        long = row_shares(signals["long"][rows])
        fresh = np.log1p(np.asarray(signals["fresh"][rows].toarray(), np.float32))
        shape = started.shape
        total_started = started.sum(axis=1, keepdims=True)
        total_replied = replied.sum(axis=1, keepdims=True)
        volume = np.log1p(total_started + total_replied)
        helper = total_replied / np.maximum(total_started + total_replied, 1e-6)
        community_recent = signals["community_recent"][None, :]
        talked = ((started + replied) > 0).astype(np.float32)
        if signals["cooccurrence"].size:
            cooccurrence = standardize_rows(
                np.asarray(talked @ signals["cooccurrence"], np.float32)
            )
        else:
            cooccurrence = np.zeros(shape, np.float32)
        if self.course_topics_.shape[1]:
            similarity = np.asarray(
                (signals["profile"][rows] @ signals["course_text"].T).toarray(), np.float32
            )
            similarity = standardize_rows(similarity)
        else:
            similarity = np.zeros(shape, np.float32)
        columns = {
            "own_tagged": np.log1p(tagged),
            "own_mentioned": np.log1p(mentioned),
            "own_replied": np.log1p(replied),
            "own_helped": np.log1p(np.asarray(signals["helped"][rows].toarray(), np.float32)),
            "own_share_recent": recent,
            "own_share_long": long,
            "own_fresh": fresh,
            "community_fresh": np.broadcast_to(signals["community_fresh"][None, :], shape),
            "community_recent": np.broadcast_to(community_recent, shape),
            "community_long": np.broadcast_to(signals["community_long"][None, :], shape),
            "community_started": np.broadcast_to(signals["community_started"][None, :], shape),
            "helper_x_community": helper * community_recent,
            "volume_x_share": volume * long,
            "cooccurrence": cooccurrence,
            "text_similarity": similarity,
        }
        return np.stack([columns[name] for name in FEATURES], axis=2).astype(np.float32)

    def _learn(self, chat: ChatActivity, n_members: int) -> None:
        """Learn the signal weights on later chat against earlier chat (listwise)."""
        # Deliberate statements of a topic (tags, replies to tagged messages) are the
        # target when the community has enough of them; otherwise any engagement.
        self.strong_only_ = True
        lists, wanted = self._lists(chat, self._strong(chat), n_members)
        if len(lists) < self.min_members:
            self.strong_only_ = False
            lists, wanted = self._lists(chat, chat.engaged, n_members)
        self._fit_lists(lists, wanted)

    def _lists(
        self, chat: ChatActivity, target: sp.csr_matrix, n_members: int
    ) -> tuple[list[FloatArray], list[npt.NDArray[np.bool_]]]:
        """Per past cut-off and member: candidate signals and which were engaged after."""
        rng = np.random.default_rng(self.seed)
        lists: list[FloatArray] = []
        wanted: list[npt.NDArray[np.bool_]] = []
        for quantile in self.cutoffs:
            cutoff = cutoff_at(chat, target, quantile)
            if cutoff is None:
                return lists, wanted
            earlier = chat.before(cutoff)
            rows, after = engaged_after(chat, n_members, cutoff, target)
            limit = max(1, self.max_lists // len(self.cutoffs))
            if len(rows) > limit:  # a large community: a sample of members is plenty
                rows = np.sort(rng.choice(rows, limit, replace=False))
            if not len(rows):
                continue
            signals = self._signals_at(earlier, n_members, cutoff)
            for start in range(0, len(rows), SCORE_ROWS):
                chunk = rows[start : start + SCORE_ROWS]
                features = self._features(signals, chunk)
                positives = after[chunk].toarray()
                for i in range(len(chunk)):
                    candidates = np.arange(features.shape[1])
                    negatives = np.flatnonzero(~positives[i])
                    if len(negatives) > self.max_negatives:
                        # Positives plus a uniform sample of the rest (sampled softmax).
                        rest = rng.choice(negatives, self.max_negatives, replace=False)
                        candidates = np.concatenate([np.flatnonzero(positives[i]), rest])
                    lists.append(features[i, candidates])
                    wanted.append(positives[i, candidates])
        return lists, wanted

    def _fit_lists(self, lists: list[FloatArray], wanted: list[npt.NDArray[np.bool_]]) -> None:
        """Learn the weights from the lists (or keep the prior with too few)."""
        self.validation_ = {"learned": False, "lists": len(lists)}
        if len(lists) < self.min_members:
            self.validation_["note"] = (
                f"only {len(lists)} member(s) talked both before and after a past cut-off: "
                "fixed weights"
            )
            return
        width = max(len(x) for x in lists)
        x = np.zeros((len(lists), width, len(FEATURES)), np.float32)
        valid = np.zeros((len(lists), width), bool)
        target = np.zeros((len(lists), width), bool)
        for i, (features, positive) in enumerate(zip(lists, wanted, strict=True)):
            x[i, : len(features)] = features
            valid[i, : len(features)] = True
            target[i, : len(features)] = positive
        flat = x[valid]
        self.mean_ = flat.mean(axis=0)
        self.scale_ = flat.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        design = self._design(x)
        own = [FEATURES.index(name) for name in OWN]
        engaged = np.asarray((x[..., own] > 0).any(axis=-1), bool)
        self.coef_, loss = _fit_listwise(design, valid, target, engaged, self.regularization)
        self.validation_.update(
            {
                "learned": True,
                "positives": int(target.sum()),
                "loss": round(loss, 4),
                "coefficients": self._describe_coef(),
            }
        )
        log.info("chat ranker learned from %d member lists (loss %.4f)", len(lists), loss)

    def _describe_coef(self) -> dict[str, dict[str, float]]:
        d = len(FEATURES)
        new, extra = self.coef_[:d], self.coef_[d:]
        return {
            "new": dict(zip(FEATURES, np.round(new, 3).tolist(), strict=True)),
            "engaged": dict(zip(FEATURES, np.round(new + extra, 3).tolist(), strict=True)),
        }

    def _design(self, features: FloatArray) -> FloatArray:
        """Standardised signals, and again for courses the member already talked about."""
        own = [FEATURES.index(name) for name in OWN]
        engaged = np.asarray((features[..., own] > 0).any(axis=-1), np.float32)
        standard = (features - self.mean_) / self.scale_
        both = np.concatenate([standard, standard * engaged[..., None]], axis=-1)
        return np.asarray(both, np.float32)

    def _set_state(self, chat: ChatActivity, n_members: int) -> None:
        self.signals_ = self._signals_at(chat, n_members, self.now_)

    # -- scoring -------------------------------------------------------------------------

    def _combine(self, features: FloatArray) -> FloatArray:
        return np.asarray(self._design(features) @ self.coef_, np.float32)

    def _score(self, rows: IntArray) -> FloatArray:
        out = np.empty((len(rows), len(self.courses_)), np.float32)
        for start in range(0, len(rows), SCORE_ROWS):
            chunk = rows[start : start + SCORE_ROWS]
            out[start : start + len(chunk)] = self._combine(self._features(self.signals_, chunk))
        return out

    def _cold(self) -> FloatArray:
        """A member with no chat: the community's engagement (then purchases)."""
        features = np.zeros((1, len(self.courses_), len(FEATURES)), np.float32)
        for name in ("community_fresh", "community_recent", "community_long", "community_started"):
            features[0, :, FEATURES.index(name)] = self.signals_[name]
        return np.asarray(self._combine(features)[0] + 1e-3 * self.popularity_, np.float32)

    def evidence(self, member_ids: list[str]) -> tuple[FloatArray, FloatArray]:
        """Per member × course: messages they wrote about it, substantial replies about it."""
        rows = self.members_.rows(member_ids)
        known = rows >= 0
        said = np.zeros((len(rows), len(self.courses_)), np.float32)
        helped = np.zeros_like(said)
        if known.any():
            said[known] = self.signals_["said"][rows[known]].toarray()
            helped[known] = self.signals_["helped"][rows[known]].toarray()
        return said, helped

    def kindred(self, member_id: str, course: int, top: int = 3) -> list[int]:
        """Courses the member talks about that are among the `top` co-occurring with `course`.

        Best first; empty when none of the member's topics is a strong neighbour (so
        "members who talk about X often discuss Y too" is never said of a weak link).
        """
        row = self.members_.index.get(member_id)
        if row is None:
            return []
        evidence = self.signals_["said"][row] + self.signals_["helped"][row]
        talked = set(evidence.indices.tolist())
        if not self.signals_["cooccurrence"].size:
            return []
        weights = self.signals_["cooccurrence"][:, course]
        neighbours = [int(k) for k in np.argsort(-weights)[:top] if weights[k] > 0]
        return [k for k in neighbours if k in talked and k != course]

    def discussed(self, share: float = 0.2) -> npt.NDArray[np.bool_]:
        """Courses among the community's most discussed lately (the top `share`)."""
        recent = self.signals_["community_recent"]
        floor = np.log(1e-4) + 1e-6
        talked = recent > floor
        if not talked.any():
            return np.zeros(len(recent), bool)
        cut = np.quantile(recent[talked], 1 - share)
        return np.asarray(talked & (recent >= cut))

    # -- erasure and artifacts -------------------------------------------------------------

    def _forget_rows(self, keep: IntArray) -> None:
        for name in MEMBER_SIGNALS:
            self.signals_[name] = self.signals_[name][keep]
        # Their words leave every course's text too.
        self.signals_["talk"] = self.signals_["talk"].without_members(keep)
        # Community signals include the forgotten members: recompute without them.
        self.signals_.update(self._community_signals(self.signals_))

    def _state(self) -> dict[str, npt.NDArray[Any]]:
        state: dict[str, npt.NDArray[Any]] = {
            "now": np.asarray([self.now_]),
            "strong_only": np.asarray([self.strong_only_]),
            "coef": self.coef_,
            "mean": self.mean_,
            "scale": self.scale_,
        }
        for name in COMMUNITY_SIGNALS:
            state[name] = self.signals_[name]
        talk: TopicTalk = self.signals_["talk"]
        state["talk_member"] = talk.member
        state["talk_course"] = talk.course
        sparse = {name: self.signals_[name] for name in MEMBER_SIGNALS}
        for name, matrix in {
            **sparse,
            "course_topics": self.course_topics_,
            "talk_vectors": talk.vectors,
        }.items():
            matrix = sp.csr_matrix(matrix)
            state[f"{name}_data"] = matrix.data
            state[f"{name}_indices"] = matrix.indices
            state[f"{name}_indptr"] = matrix.indptr
            state[f"{name}_shape"] = np.asarray(matrix.shape)
        return state

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.now_ = float(arrays["now"][0])
        self.strong_only_ = bool(arrays["strong_only"][0])
        self.coef_ = arrays["coef"]
        self.mean_ = arrays["mean"]
        self.scale_ = arrays["scale"]
        self.signals_ = {name: arrays[name] for name in COMMUNITY_SIGNALS}
        matrices = {
            name: sp.csr_matrix(
                (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
                shape=tuple(int(v) for v in arrays[f"{name}_shape"]),
            )
            for name in (*MEMBER_SIGNALS, "course_topics", "talk_vectors")
            if f"{name}_data" in arrays
        }
        self.course_topics_ = matrices.pop("course_topics")
        if "talk_member" in arrays:
            talk = TopicTalk(
                arrays["talk_member"], arrays["talk_course"], matrices.pop("talk_vectors")
            )
        else:  # saved before courses had talk: their descriptions alone, until retrained
            talk = TopicTalk.empty(self.course_topics_.shape[1])
        self.signals_["talk"] = talk
        self.signals_.update(matrices)
        self.signals_["course_text"] = self._course_text(self.signals_["talk"])
        self.validation_ = {}
