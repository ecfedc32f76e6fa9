"""Member segments: groups of members who behave and talk alike, with stable ids and names.

Two kinds of segment live here:

- `SegmentModel` clusters members on their activity (log-scaled counts, recency and
  tenure, shares of messages by part of day and on weekends, all standardized) plus a
  few TruncatedSVD components of their topic profile. k is chosen by silhouette score
  on a deterministic subsample, so it scales to 100k members. A retrain given the
  previous model keeps segment ids (Hungarian matching of centroids in the previous
  model's space), and every segment gets a readable name and a one-line description
  from its distinguishing traits and terms.
- `rule_segments` lists the members operators ask for by rule: newcomers, recently
  inactive members and champions (the top helpers).

The model is saved without pickle: `state()` returns numpy arrays and JSON-able values
(store them with `np.savez` and `json`), `SegmentModel.from_state()` rebuilds it.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.features import COUNTS, HOURS, TIMES, WEEKDAYS, ActivityFeatures

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# A scipy sparse matrix or a dense array, one row per member (scipy ships no type stubs).
TopicMatrix = Any

SHARES: Final = (
    "night_share",  # 00-06h
    "morning_share",  # 06-12h
    "afternoon_share",  # 12-18h
    "evening_share",  # 18-24h
    "weekend_share",  # Saturday and Sunday
)
ACTIVITY_COLUMNS: Final = COUNTS + TIMES + SHARES
"""The activity columns of the model, in order; topic components follow them."""

_LOGGED: Final = len(COUNTS) + len(TIMES)  # leading columns that are log1p-scaled
_N_ACTIVITY: Final = len(ACTIVITY_COLUMNS)
_DAY_PARTS: Final = ((0, 6), (6, 12), (12, 18), (18, 24))
_TINY: Final = 1e-9
_TRAIT_MIN: Final = 0.5  # standardized centroid difference for a trait to count
_MATCH_FLOOR: Final = 0.5  # smallest match radius, for segments of identical members
_NAME_TRAITS: Final = 2
_DESCRIPTION_TRAITS: Final = 3
_DESCRIPTION_TERMS: Final = 3
_TOP_TERMS: Final = 5
_TERM_SUPPORT: Final = 0.2  # share of a segment's members who must use a term
_TERM_MIN_MEMBERS: Final = 2  # ... and at least this many of them
_TERM_LIFT: Final = 1.5  # a term's mean weight in the segment over the rest's
_CHUNK: Final = 1 << 22  # distance matrix elements per block in the silhouette
_STATE_FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment as shown to operators.

    `name` and `description` are in English; `bot.i18n.segment_name` and
    `segment_description` render them in a member's or moderator's language from the
    parts kept here. `traits` are short labels ("answer often", "evenings"), strongest
    first (the name shows the first two); `top_terms` are the terms that distinguish the
    segment from the rest of the community; `head` is the term the name leads with ("" when
    no term is distinctive enough and the name comes from activity alone), `role` the
    noun it ends with ("helpers"; "" for "members"), `facts` the (trait label, segment
    mean, community mean) behind each trait of the description, `qualifier` the trait or
    term added to tell two otherwise equal names apart and `numbered` whether the id had
    to be added as well.
    """

    id: int
    name: str
    description: str
    size: int
    top_terms: tuple[str, ...]
    traits: tuple[str, ...]
    head: str = ""
    role: str = ""
    facts: tuple[tuple[str, float, float], ...] = ()
    qualifier: str = ""
    numbered: bool = False


@dataclass(frozen=True, slots=True)
class _Trait:
    """A way a segment can stand out: a column, high (+1) or low (-1), and its wording."""

    column: str
    sign: int
    family: str  # one trait per family, so correlated counts do not crowd the rest out
    label: str  # short, for names
    role: str | None  # noun for the name ("helpers"), if the trait defines one
    template: str  # for descriptions; fields: ratio (× the average), value, often


_TRAITS: Final = (
    _Trait("answers", 1, "help", "answer often", "helpers", "answer {ratio}× the average"),
    _Trait(
        "helpful_answers",
        1,
        "help",
        "helpful answers",
        "helpers",
        "{ratio}× the average helpful answers",
    ),
    _Trait("questions", 1, "asking", "ask often", "askers", "ask {ratio}× the average"),
    _Trait("messages", 1, "volume", "very active", "regulars", "post {ratio}× the average"),
    _Trait(
        "messages",
        -1,
        "volume",
        "rarely post",
        "lurkers",
        "rarely post ({value:.1f} messages each)",
    ),
    _Trait(
        "active_days", 1, "volume", "on many days", "regulars", "active on {value:.0f} days each"
    ),
    _Trait("replies_given", 1, "volume", "reply a lot", "repliers", "reply {ratio}× the average"),
    _Trait(
        "mentions_given",
        1,
        "volume",
        "mention others",
        None,
        "mention others {ratio}× the average",
    ),
    _Trait(
        "channels", 1, "volume", "many channels", "explorers", "post in {value:.1f} channels each"
    ),
    _Trait(
        "reactions_received",
        1,
        "recognition",
        "well received",
        None,
        "receive {ratio}× the average reactions",
    ),
    _Trait(
        "replies_received",
        1,
        "recognition",
        "get replies",
        None,
        "get {ratio}× the average replies",
    ),
    _Trait(
        "mentions_received",
        1,
        "recognition",
        "often mentioned",
        None,
        "mentioned {ratio}× the average",
    ),
    _Trait(
        "reactions_given",
        1,
        "reacting",
        "react a lot",
        "cheerleaders",
        "give {ratio}× the average reactions",
    ),
    _Trait(
        "recency_days", 1, "recency", "gone quiet", None, "quiet for {value:.0f} days on average"
    ),
    _Trait(
        "tenure_days",
        1,
        "tenure",
        "long-standing",
        "veterans",
        "members for {value:.0f} days on average",
    ),
    _Trait(
        "tenure_days",
        -1,
        "tenure",
        "recently joined",
        "newcomers",
        "joined {value:.0f} days ago on average",
    ),
    _Trait("night_share", 1, "daytime", "nights", None, "{often} at night"),
    _Trait("morning_share", 1, "daytime", "mornings", None, "{often} mornings"),
    _Trait("afternoon_share", 1, "daytime", "afternoons", None, "{often} afternoons"),
    _Trait("evening_share", 1, "daytime", "evenings", None, "{often} evenings"),
    _Trait("weekend_share", 1, "weekend", "weekends", None, "{often} on weekends"),
)


@dataclass(frozen=True)
class _Transform:
    """Features and topics → the model's standardized space (fitted, applied row by row)."""

    center: FloatArray  # activity columns, after log1p
    scale: FloatArray
    terms: list[str] | None
    n_terms: int
    components: FloatArray  # (n_topic, n_terms) TruncatedSVD components
    topic_center: FloatArray
    topic_scale: float

    @property
    def n_topic(self) -> int:
        """How many topic components the space has (0 when topics were skipped)."""
        return int(self.components.shape[0])

    def components_for(self, n_columns: int, terms: Sequence[str] | None) -> FloatArray:
        """The components laid out on another matrix's columns (matched by term)."""
        if terms is not None and self.terms is not None:
            if list(terms) == self.terms:
                return self.components
            index = {term: i for i, term in enumerate(self.terms)}
            columns = np.fromiter((index.get(t, -1) for t in terms), np.int64, len(terms))
            known = columns >= 0
            aligned = np.zeros((self.n_topic, n_columns))
            aligned[:, known] = self.components[:, columns[known]]
            return aligned
        if n_columns == self.n_terms:
            return self.components
        raise ValueError(
            f"the topic matrix has {n_columns} columns but the model was fitted on "
            f"{self.n_terms}; pass terms to align them"
        )

    def apply(
        self, raw: FloatArray, topics: TopicMatrix | None, terms: Sequence[str] | None
    ) -> FloatArray:
        """Model rows for `raw` activity (see `_activity_raw`) and topics (None: no text)."""
        activity: FloatArray = (_log_scale(raw) - self.center) / self.scale
        if self.n_topic == 0:
            return activity
        if topics is None:
            projected = np.zeros((len(raw), self.n_topic))
        else:
            components = self.components_for(int(topics.shape[1]), terms)
            projected = np.asarray(topics @ components.T, dtype=np.float64)
        return np.hstack([activity, (projected - self.topic_center) / self.topic_scale])


class SegmentModel:
    """Clusters members into named segments whose ids survive retraining.

    `k_min`..`k_max` bound the number of segments (chosen by silhouette score);
    `topic_components` is how many TruncatedSVD components of the topic matrix join
    the activity features; `max_samples` caps the members used to fit the candidate
    clusterings and score them (the final clustering covers everyone); `n_init` is the
    number of KMeans restarts per candidate k. A candidate k is only considered if
    each of its clusters holds at least `min_share` of the sampled members and at
    least 2 of them: a power user far out on every count is not a segment of one. The
    same input, in any member order, gives the same segments.

    Learned attributes: `members_`, `labels_` (segment id per member, in the order of
    `members_`), `segment_ids_` and `centroids_` (one row per segment, in the
    standardized space), `radii_` (RMS distance of a segment's members to its
    centroid), `next_id_` (first id never used), `center_`/`scale_` (activity
    standardization), `components_`/`topic_center_`/`topic_scale_`/`terms_`/`n_terms_`
    (topic projection), `k_scores_` (silhouette per candidate k), `silhouette_` (of
    the chosen k; None for a single segment), `segments_`.
    """

    members_: list[str]
    labels_: IntArray
    segment_ids_: IntArray
    centroids_: FloatArray
    radii_: FloatArray
    next_id_: int
    center_: FloatArray
    scale_: FloatArray
    components_: FloatArray
    topic_center_: FloatArray
    topic_scale_: float
    terms_: list[str] | None
    n_terms_: int
    k_scores_: dict[int, float]
    silhouette_: float | None
    segments_: list[Segment]

    def __init__(
        self,
        k_min: int = 2,
        k_max: int = 8,
        topic_components: int = 5,
        random_state: int = 0,
        max_samples: int = 20_000,
        n_init: int = 4,
        min_share: float = 0.01,
    ) -> None:
        self.k_min = k_min
        self.k_max = k_max
        self.topic_components = topic_components
        self.random_state = random_state
        self.max_samples = max_samples
        self.n_init = n_init
        self.min_share = min_share

    # -- fitting ---------------------------------------------------------------------

    def fit(
        self,
        features: ActivityFeatures,
        topics: TopicMatrix | None = None,
        terms: Sequence[str] | None = None,
        previous: SegmentModel | None = None,
        topic_terms: Collection[str] = (),
    ) -> Self:
        """Segment the members of `features`; return self.

        `topics` has one row per member of `features` (same order) and one column per
        entry of `terms` (None for dense embeddings; then columns must match between
        fits). With `previous`, segments that are still there keep their id and new
        segments get ids never used before. `topic_terms` are the terms that name a
        topic of the catalog (its courses' tags and titles): when some are in `terms`,
        only they can lead a segment's name, and they come first among its terms.
        """
        self._check_params()
        if previous is not None:
            previous._check_fitted()
        members = list(features.members)
        n = len(members)
        if n == 0:
            raise ValueError("cannot segment an empty community")
        if len(set(members)) != n:
            raise ValueError("member ids must be unique")
        raw_input = _activity_raw(features)
        topics_input = _check_topics(topics, n, terms)

        # Canonical order: KMeans and the subsample see members sorted by id, so the
        # order the store returns them in does not change the segments.
        order = np.argsort(np.asarray(members, dtype=np.str_), kind="stable")
        ordered = [members[i] for i in order]
        raw = raw_input[order]
        matrix = None if topics_input is None else topics_input[order]
        transform = self._fit_transform(raw, matrix, terms)
        x = transform.apply(raw, matrix, terms)

        sample = _subsample(ordered, self.max_samples, self.random_state)
        centers, scores = self._cluster(x, sample)
        labels = _nearest(x, centers)
        used = np.unique(labels)
        centers, labels = centers[used], np.searchsorted(used, labels)
        k = len(used)
        sizes = np.bincount(labels, minlength=k)

        if previous is None:
            by_size = np.lexsort((np.arange(k), -sizes))
            ids = np.empty(k, dtype=np.int64)
            ids[by_size] = np.arange(k)
            next_id = k
        else:
            ids, next_id = _match(previous, raw, matrix, terms, labels, sizes)
        radii = np.sqrt(_group_means(((x - centers[labels]) ** 2).sum(axis=1)[:, None], labels, k))
        segments = _describe(ids, sizes, x, raw, labels, matrix, terms, topic_terms)

        by_id = np.argsort(ids)
        member_ids = np.empty(n, dtype=np.int64)
        member_ids[order] = ids[labels]

        self.members_ = members
        self.labels_ = member_ids
        self.segment_ids_ = ids[by_id]
        self.centroids_ = centers[by_id]
        self.radii_ = radii[:, 0][by_id]
        self.next_id_ = int(next_id)
        self.center_ = transform.center
        self.scale_ = transform.scale
        self.components_ = transform.components
        self.topic_center_ = transform.topic_center
        self.topic_scale_ = transform.topic_scale
        self.terms_ = transform.terms
        self.n_terms_ = transform.n_terms
        self.k_scores_ = scores
        self.silhouette_ = scores.get(k)
        self.segments_ = [segments[i] for i in by_id]
        log.info(
            "segmented %d members into %d segments (silhouette %s, %d topic components)",
            n,
            k,
            "n/a" if self.silhouette_ is None else f"{self.silhouette_:.3f}",
            transform.n_topic,
        )
        return self

    def _check_params(self) -> None:
        if self.k_min < 2:
            raise ValueError(f"k_min must be at least 2, got {self.k_min}")
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) is below k_min ({self.k_min})")
        if self.topic_components < 0:
            raise ValueError(f"topic_components must be >= 0, got {self.topic_components}")
        if self.max_samples <= self.k_min:
            raise ValueError(f"max_samples must exceed k_min, got {self.max_samples}")
        if self.n_init < 1:
            raise ValueError(f"n_init must be at least 1, got {self.n_init}")
        if not 0.0 <= self.min_share < 0.5:
            raise ValueError(f"min_share must be within [0, 0.5), got {self.min_share}")

    def _fit_transform(
        self, raw: FloatArray, topics: TopicMatrix | None, terms: Sequence[str] | None
    ) -> _Transform:
        logged = _log_scale(raw)
        center = logged.mean(axis=0)
        scale = logged.std(axis=0)
        scale[scale < _TINY] = 1.0
        n_terms = 0 if topics is None else int(topics.shape[1])
        n_components = min(self.topic_components, n_terms - 1, len(raw) - 1)
        components = np.zeros((0, n_terms))
        topic_center = np.zeros(0)
        topic_scale = 1.0
        if topics is not None and n_components >= 1 and _has_signal(topics):
            from sklearn.decomposition import TruncatedSVD

            svd = TruncatedSVD(n_components=n_components, random_state=self.random_state)
            svd.fit(topics)
            fitted = np.asarray(svd.components_, dtype=np.float64)
            projected = np.asarray(topics @ fitted.T, dtype=np.float64)
            variance = float(projected.var(axis=0).sum())
            if variance > _TINY:
                # One scale for the whole block: it weighs as much as n_components
                # standardized columns, and minor components are not blown up to unit
                # variance (that would turn vocabulary noise into clusters).
                components = fitted
                topic_center = projected.mean(axis=0)
                topic_scale = math.sqrt(variance / n_components)
        return _Transform(
            center=center,
            scale=scale,
            terms=None if terms is None else list(terms),
            n_terms=n_terms,
            components=components,
            topic_center=topic_center,
            topic_scale=topic_scale,
        )

    def _cluster(self, x: FloatArray, sample: IntArray) -> tuple[FloatArray, dict[int, float]]:
        """Centroids of the best k by silhouette on the sample (one centroid if none fits)."""
        from sklearn.cluster import KMeans

        xs = x[sample]
        distinct = len(np.unique(xs, axis=0))
        min_size = max(2, math.ceil(self.min_share * len(xs)))
        high = min(self.k_max, len(xs) - 1, distinct, len(xs) // min_size)
        fits: dict[int, FloatArray] = {}
        labelings: list[IntArray] = []
        for k in range(self.k_min, high + 1):
            kmeans = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)
            kmeans.fit(xs)
            labels = np.asarray(kmeans.labels_, dtype=np.int64)
            sizes = np.bincount(labels, minlength=k)
            if sizes.min() < min_size:
                log.debug("k=%d skipped: a cluster of %d members", k, int(sizes.min()))
                continue
            fits[k] = np.asarray(kmeans.cluster_centers_, dtype=np.float64)
            labelings.append(labels)
        if not fits:
            return x.mean(axis=0, keepdims=True), {}
        scores = dict(zip(fits, _silhouettes(xs, labelings), strict=True))
        best = max(scores, key=lambda k: (scores[k], -k))
        centers = fits[best]
        if len(xs) < len(x):
            # Refine on everyone, starting from the sample's solution.
            kmeans = KMeans(n_clusters=best, init=centers, n_init=1, random_state=self.random_state)
            centers = np.asarray(kmeans.fit(x).cluster_centers_, dtype=np.float64)
        log.debug("silhouette by k: %s", {k: round(s, 3) for k, s in scores.items()})
        return centers, scores

    # -- using a fitted model --------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "centroids_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this SegmentModel is not fitted yet; call fit() first")

    def _transform(self) -> _Transform:
        return _Transform(
            center=self.center_,
            scale=self.scale_,
            terms=self.terms_,
            n_terms=self.n_terms_,
            components=self.components_,
            topic_center=self.topic_center_,
            topic_scale=self.topic_scale_,
        )

    def predict(
        self,
        features: ActivityFeatures,
        topics: TopicMatrix | None = None,
        terms: Sequence[str] | None = None,
    ) -> IntArray:
        """The segment id of each member of `features` (nearest centroid).

        Topic columns are matched to the training vocabulary by `terms` when given
        (the bot may have refitted its topic space since); without `terms` they must be
        the training columns. Members without a topic row (`topics=None`) are treated
        as members who wrote nothing.
        """
        self._check_fitted()
        n = len(features.members)
        matrix = _check_topics(topics, n, terms)
        x = self._transform().apply(_activity_raw(features), matrix, terms)
        return self.segment_ids_[_nearest(x, self.centroids_)]

    def assignments(self) -> dict[str, int]:
        """Segment id of every member the model was fitted on."""
        self._check_fitted()
        return dict(zip(self.members_, (int(i) for i in self.labels_), strict=True))

    def describe(self) -> list[Segment]:
        """Every segment, in id order."""
        self._check_fitted()
        return list(self.segments_)

    def forget(self, member_ids: Iterable[str]) -> int:
        """Remove members from `members_`/`labels_`; return how many were known.

        Segment sizes shrink accordingly. Centroids, radii and descriptions still
        reflect the forgotten members until the next `fit` on data without them
        (one member among many barely moves a centroid, and none is stored).
        """
        self._check_fitted()
        gone = set(member_ids) & set(self.members_)
        if not gone:
            return 0
        keep = np.array([m not in gone for m in self.members_], dtype=bool)
        removed = Counter(int(label) for label in self.labels_[~keep])
        self.members_ = [m for m, kept in zip(self.members_, keep, strict=True) if kept]
        self.labels_ = self.labels_[keep]
        self.segments_ = [
            replace(segment, size=segment.size - removed.get(segment.id, 0))
            for segment in self.segments_
        ]
        return len(gone)

    # -- persistence -----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the model: numpy arrays and JSON-able values.

        Save arrays with `np.savez` and the rest as JSON; load arrays with
        `allow_pickle=False`. The state also carries what `fit(previous=...)` needs.
        """
        self._check_fitted()
        return {
            "format": _STATE_FORMAT,
            "params": {
                "k_min": self.k_min,
                "k_max": self.k_max,
                "topic_components": self.topic_components,
                "random_state": self.random_state,
                "max_samples": self.max_samples,
                "n_init": self.n_init,
                "min_share": self.min_share,
            },
            "members": list(self.members_),
            "labels": self.labels_.copy(),
            "segment_ids": self.segment_ids_.copy(),
            "centroids": self.centroids_.copy(),
            "radii": self.radii_.copy(),
            "next_id": self.next_id_,
            "center": self.center_.copy(),
            "scale": self.scale_.copy(),
            "components": self.components_.copy(),
            "topic_center": self.topic_center_.copy(),
            "topic_scale": self.topic_scale_,
            "terms": None if self.terms_ is None else list(self.terms_),
            "n_terms": self.n_terms_,
            "k_scores": {str(k): v for k, v in self.k_scores_.items()},
            "silhouette": self.silhouette_,
            "segments": [asdict(segment) for segment in self.segments_],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SegmentModel:
        """Rebuild a fitted model from `state()` (arrays may come back from `np.load`)."""
        if state.get("format") != _STATE_FORMAT:
            raise ValueError(f"unsupported segment model state format {state.get('format')!r}")
        params = state["params"]
        model = cls(
            k_min=int(params["k_min"]),
            k_max=int(params["k_max"]),
            topic_components=int(params["topic_components"]),
            random_state=int(params["random_state"]),
            max_samples=int(params["max_samples"]),
            n_init=int(params["n_init"]),
            min_share=float(params["min_share"]),
        )
        n_terms = int(state["n_terms"])
        model.members_ = [str(m) for m in state["members"]]
        model.labels_ = np.asarray(state["labels"], dtype=np.int64)
        model.segment_ids_ = np.asarray(state["segment_ids"], dtype=np.int64)
        model.centroids_ = np.asarray(state["centroids"], dtype=np.float64)
        model.radii_ = np.asarray(state["radii"], dtype=np.float64)
        model.next_id_ = int(state["next_id"])
        model.center_ = np.asarray(state["center"], dtype=np.float64)
        model.scale_ = np.asarray(state["scale"], dtype=np.float64)
        model.topic_center_ = np.asarray(state["topic_center"], dtype=np.float64)
        model.components_ = np.asarray(state["components"], dtype=np.float64).reshape(
            len(model.topic_center_), n_terms
        )
        model.topic_scale_ = float(state["topic_scale"])
        terms = state["terms"]
        model.terms_ = None if terms is None else [str(t) for t in terms]
        model.n_terms_ = n_terms
        model.k_scores_ = {int(k): float(v) for k, v in state["k_scores"].items()}
        silhouette = state["silhouette"]
        model.silhouette_ = None if silhouette is None else float(silhouette)
        model.segments_ = [
            Segment(
                id=int(s["id"]),
                name=str(s["name"]),
                description=str(s["description"]),
                size=int(s["size"]),
                top_terms=tuple(str(t) for t in s["top_terms"]),
                traits=tuple(str(t) for t in s["traits"]),
                head=str(s.get("head", "")),
                role=str(s.get("role", "")),
                facts=tuple(
                    (str(label), float(value), float(average))
                    for label, value, average in s.get("facts", ())
                ),
                qualifier=str(s.get("qualifier", "")),
                numbered=bool(s.get("numbered", False)),
            )
            for s in state["segments"]
        ]
        if len(model.labels_) != len(model.members_):
            raise ValueError("state must have one label per member")
        if model.centroids_.shape != (
            len(model.segment_ids_),
            _N_ACTIVITY + len(model.topic_center_),
        ):
            raise ValueError("state centroids do not match its segments and columns")
        return model


# -- rule segments -------------------------------------------------------------------


def rule_segments(
    features: ActivityFeatures,
    *,
    newcomer_days: float = 14.0,
    quiet_days: tuple[float, float] = (7.0, 28.0),
    min_messages: int = 3,
    min_active_days: int = 2,
    champion_share: float = 0.05,
    champion_min_helpful: int = 3,
    max_champions: int = 20,
) -> dict[str, list[str]]:
    """Members by rule: `newcomers`, `recently_inactive` and `champions`.

    - newcomers: tenure of at most `newcomer_days`;
    - recently_inactive: were active (at least `min_messages` messages or active on at
      least `min_active_days` days) and quiet for `quiet_days[0]`..`quiet_days[1]` days
      (inclusive);
    - champions: ranked by helpful answers, then answers, then reactions received
      (ties by member id), the top `champion_share` of members (at least one, at most
      `max_champions`) who have at least `champion_min_helpful` helpful answers.

    Newcomers and recently inactive members come in `features` order, champions best
    first. Members with neither a join time nor any activity have tenure 0, so they
    count as newcomers.
    """
    low, high = quiet_days
    if low > high:
        raise ValueError(f"quiet_days must be (low, high) with low <= high, got {quiet_days}")
    if not 0.0 <= champion_share <= 1.0:
        raise ValueError(f"champion_share must be within [0, 1], got {champion_share}")
    members = list(features.members)
    n = len(members)

    def column(name: str) -> FloatArray:
        return np.asarray(features.column(name), dtype=np.float64)

    tenure = column("tenure_days")
    recency = column("recency_days")
    was_active = (column("messages") >= min_messages) | (column("active_days") >= min_active_days)
    quiet = was_active & (recency >= low) & (recency <= high)

    helpful, answers, received = (
        column("helpful_answers"),
        column("answers"),
        column("reactions_received"),
    )
    by_id = np.argsort(np.argsort(np.asarray(members, dtype=np.str_), kind="stable"))
    ranking = np.lexsort((by_id, -received, -answers, -helpful))
    top = min(max_champions, max(1, math.ceil(champion_share * n))) if n else 0
    champions = [members[i] for i in ranking[:top] if helpful[i] >= champion_min_helpful]
    return {
        "newcomers": [m for m, t in zip(members, tenure, strict=True) if t <= newcomer_days],
        "recently_inactive": [m for m, q in zip(members, quiet, strict=True) if q],
        "champions": champions,
    }


# -- helpers -------------------------------------------------------------------------


def _activity_raw(features: ActivityFeatures) -> FloatArray:
    """Counts, recency, tenure and the five time shares (unscaled), one row per member."""
    index = {name: i for i, name in enumerate(features.names)}
    missing = [name for name in (*COUNTS, *TIMES, *HOURS, *WEEKDAYS) if name not in index]
    if missing:
        raise ValueError(f"features lack columns {missing}")
    values = np.asarray(features.values, dtype=np.float64)
    if values.shape != (len(features.members), len(features.names)):
        raise ValueError(
            f"features have shape {values.shape}, expected "
            f"({len(features.members)}, {len(features.names)})"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("features must be finite")
    base = values[:, [index[name] for name in (*COUNTS, *TIMES)]]
    hours = values[:, [index[name] for name in HOURS]]
    parts = [hours[:, start:stop].sum(axis=1) for start, stop in _DAY_PARTS]
    weekend = values[:, index["weekday_5"]] + values[:, index["weekday_6"]]
    return np.column_stack([base, *parts, weekend])


def _log_scale(raw: FloatArray) -> FloatArray:
    """log1p on the heavy-tailed counts and day spans; shares stay as they are."""
    scaled = raw.copy()
    scaled[:, :_LOGGED] = np.log1p(np.maximum(raw[:, :_LOGGED], 0.0))
    return scaled


def _check_topics(
    topics: TopicMatrix | None, n: int, terms: Sequence[str] | None
) -> TopicMatrix | None:
    """The topic matrix as CSR or a 2-D float array, checked against members and terms."""
    if topics is None:
        return None
    if sp.issparse(topics):
        matrix = sp.csr_matrix(topics)
        if not np.issubdtype(matrix.dtype, np.floating):
            matrix = matrix.astype(np.float64)
        data = matrix.data
    else:
        matrix = np.asarray(topics)
        if not np.issubdtype(matrix.dtype, np.floating):
            matrix = matrix.astype(np.float64)
        if matrix.ndim != 2:
            raise ValueError(f"topics must be 2-D, got {matrix.ndim} dimensions")
        data = matrix
    if matrix.shape[0] != n:
        raise ValueError(f"topics have {matrix.shape[0]} rows for {n} members")
    if terms is not None and len(terms) != matrix.shape[1]:
        raise ValueError(f"{len(terms)} terms for {matrix.shape[1]} topic columns")
    if not np.all(np.isfinite(data)):
        raise ValueError("topics must be finite")
    return matrix


def _has_signal(topics: TopicMatrix) -> bool:
    """Whether the topic rows differ at all (identical rows cannot separate anyone)."""
    if sp.issparse(topics):
        if topics.count_nonzero() == 0:
            return False
        first = sp.csr_matrix(topics[0])
        ones = sp.csr_matrix(np.ones((topics.shape[0], 1)))
        return bool(abs(topics - ones @ first).max() > _TINY)
    dense = np.asarray(topics)
    return bool(np.any(dense)) and bool(np.any(np.abs(dense - dense[:1]) > _TINY))


def _dense(matrix: Any) -> FloatArray:
    if sp.issparse(matrix):
        return np.asarray(matrix.toarray(), dtype=np.float64)
    return np.asarray(matrix, dtype=np.float64)


def _group_means(values: Any, labels: IntArray, k: int) -> FloatArray:
    """Per-label mean rows of a dense or sparse matrix."""
    n = len(labels)
    onehot = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
    sums = _dense(onehot @ values)
    counts = np.bincount(labels, minlength=k)
    return sums / np.maximum(counts, 1)[:, None]


def _subsample(members: Sequence[str], size: int, seed: int) -> IntArray:
    """At most `size` positions, chosen by a seeded hash of the member id.

    The choice depends only on the ids (not their order), and a member who was in the
    sample stays in it as long as the sample is not crowded by newcomers with smaller
    hashes, so retrains see mostly the same members.
    """
    n = len(members)
    if n <= size:
        return np.arange(n, dtype=np.int64)
    prefix = f"{seed}\x00".encode()
    keys = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(prefix + m.encode(), digest_size=8).digest(), "big")
            for m in members
        ),
        dtype=np.uint64,
        count=n,
    )
    return np.sort(np.argpartition(keys, size - 1)[:size]).astype(np.int64)


def _nearest(x: FloatArray, centers: FloatArray) -> IntArray:
    """Index of the nearest center for each row (row by row, so order does not matter)."""
    best = np.zeros(len(x), dtype=np.int64)
    best_distance = np.full(len(x), np.inf)
    for j, center in enumerate(centers):
        distance = ((x - center) ** 2).sum(axis=1)
        closer = distance < best_distance
        best[closer] = j
        best_distance[closer] = distance[closer]
    return best


def _distances(a: FloatArray, b: FloatArray) -> FloatArray:
    """Euclidean distances between the rows of two small matrices."""
    return np.asarray(np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)))


def _silhouettes(x: FloatArray, labelings: Sequence[IntArray]) -> list[float]:
    """Mean silhouette coefficient of each labeling of `x` (as scikit-learn defines it).

    The pairwise distances are computed once, block by block, and shared by all the
    labelings: one pass instead of one per candidate k.
    """
    n = len(x)
    codes: list[IntArray] = []
    widths: list[int] = []
    for labels in labelings:
        _, inverse = np.unique(labels, return_inverse=True)
        codes.append(inverse.ravel().astype(np.int64))
        widths.append(int(inverse.max()) + 1)
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    rows = np.arange(n)
    onehot = np.zeros((n, int(offsets[-1])))
    for code, offset in zip(codes, offsets, strict=False):
        onehot[rows, offset + code] = 1.0
    sums = np.empty_like(onehot)
    squares = np.einsum("ij,ij->i", x, x)
    step = max(1, _CHUNK // max(n, 1))
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = squares[start:stop, None] - 2.0 * (x[start:stop] @ x.T) + squares[None, :]
        np.maximum(block, 0.0, out=block)
        np.sqrt(block, out=block)
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        sums[start:stop] = block @ onehot
    scores: list[float] = []
    for code, offset, width in zip(codes, offsets, widths, strict=False):
        if width < 2:
            scores.append(float("nan"))
            continue
        totals = sums[:, offset : offset + width]
        counts = np.bincount(code, minlength=width).astype(np.float64)
        own = counts[code]
        a = totals[rows, code] / np.maximum(own - 1.0, 1.0)
        others = totals / counts
        others[rows, code] = np.inf
        b = others.min(axis=1)
        spread = np.maximum(a, b)
        valid = (own > 1) & (spread > 0)
        silhouette = np.where(valid, (b - a) / np.where(valid, spread, 1.0), 0.0)
        scores.append(float(silhouette.mean()))
    return scores


def _match(
    previous: SegmentModel,
    raw: FloatArray,
    topics: TopicMatrix | None,
    terms: Sequence[str] | None,
    labels: IntArray,
    sizes: IntArray,
) -> tuple[IntArray, int]:
    """Ids for the new clusters: the previous id of a matching segment, else a fresh one.

    New clusters are placed in the previous model's space (the previous transform
    applied to their members) and paired with previous centroids by Hungarian
    assignment on Euclidean distance. A pair counts when the new centre lies within the
    previous segment's reach: its radius (RMS distance of its members to the centroid)
    or half the gap to its nearest neighbouring centroid, whichever is larger (within
    half the gap the new centre is nearer that segment than any other). So a segment
    that merely drifts keeps its id, and an unrelated segment that happens to be
    paired with a vanished one does not inherit it.
    """
    from scipy.optimize import linear_sum_assignment

    transform = previous._transform()
    old = previous.centroids_
    x: FloatArray | None = None
    if topics is not None or transform.n_topic == 0:
        try:
            x = transform.apply(raw, topics, terms)
        except ValueError as error:  # vocabularies that cannot be aligned
            log.warning("matching segments on activity only: %s", error)
    if x is None:
        x = transform.apply(raw, None, None)[:, :_N_ACTIVITY]
        old = old[:, :_N_ACTIVITY]
    k = len(sizes)
    means = _group_means(x, labels, k)
    cost = _distances(means, old)
    separation = _distances(old, old)
    np.fill_diagonal(separation, np.inf)
    half_gap = separation.min(axis=1) / 2.0
    reach = np.maximum(previous.radii_, _MATCH_FLOOR)
    reach = np.where(np.isfinite(half_gap), np.maximum(reach, half_gap), reach)
    ids = np.full(k, -1, dtype=np.int64)
    for new, prior in zip(*linear_sum_assignment(cost), strict=True):
        if cost[new, prior] <= reach[prior]:
            ids[new] = previous.segment_ids_[prior]
    next_id = max(previous.next_id_, int(ids.max()) + 1)
    for new in np.lexsort((np.arange(k), -sizes)):
        if ids[new] < 0:
            ids[new] = next_id
            next_id += 1
    log.info(
        "segment ids: %d kept, %d new, %d retired",
        int(np.sum(ids < previous.next_id_)),
        int(np.sum(ids >= previous.next_id_)),
        len(set(previous.segment_ids_.tolist()) - set(ids.tolist())),
    )
    return ids, next_id


def _describe(
    ids: IntArray,
    sizes: IntArray,
    x: FloatArray,
    raw: FloatArray,
    labels: IntArray,
    topics: TopicMatrix | None,
    terms: Sequence[str] | None,
    topic_terms: Collection[str] = (),
) -> list[Segment]:
    """Names, descriptions, traits and top terms, one segment per cluster index."""
    k = len(ids)
    z = _group_means(x[:, :_N_ACTIVITY], labels, k)
    segment_raw = _group_means(raw, labels, k)
    overall_raw = raw.mean(axis=0)
    top_terms = _top_terms(topics, terms, labels, k, topic_terms)
    # With a catalog whose topics the members use, only a topic may name a segment.
    namers = set(topic_terms) & set(terms or ())

    chosen: list[list[_Trait]] = []
    for s in range(k):
        candidates = [
            (trait.sign * float(z[s, ACTIVITY_COLUMNS.index(trait.column)]), position, trait)
            for position, trait in enumerate(_TRAITS)
        ]
        candidates.sort(key=lambda c: (-c[0], c[1]))
        families: set[str] = set()
        traits: list[_Trait] = []
        for score, _, trait in candidates:
            if score >= _TRAIT_MIN and trait.family not in families:
                families.add(trait.family)
                traits.append(trait)
        chosen.append(traits)

    names: list[str] = []
    extras: list[list[str]] = []
    heads: list[str] = []
    roles: list[str] = []
    for s in range(k):
        traits = chosen[s]
        labels_text = [t.label for t in traits]
        role = next((t.role for t in traits if t.role), None) or ""
        head = top_terms[s][0] if top_terms[s] and k > 1 else ""
        if namers and head not in namers:
            head = ""
        heads.append(head)
        roles.append(role if k > 1 else "")
        if k == 1:
            base = "Everyone"
        else:
            base = " ".join(p for p in (head, role or ("members" if head else "Members")) if p)
            base = base[:1].upper() + base[1:]
        shown = labels_text[:_NAME_TRAITS]
        names.append(f"{base} — {', '.join(shown)}" if shown else base)
        extras.append(labels_text[_NAME_TRAITS:] + list(top_terms[s][1:]))
    marks = _disambiguate(names, extras, [int(i) for i in ids])

    segments: list[Segment] = []
    for s in range(k):
        size = int(sizes[s])
        parts = [f"{size} member" if size == 1 else f"{size} members"]
        facts: list[tuple[str, float, float]] = []
        for trait in chosen[s][:_DESCRIPTION_TRAITS]:
            column = ACTIVITY_COLUMNS.index(trait.column)
            value, average = float(segment_raw[s, column]), float(overall_raw[column])
            facts.append((trait.label, value, average))
            parts.append(_phrase(trait, value, average))
        if top_terms[s]:
            parts.append("talk about " + ", ".join(top_terms[s][:_DESCRIPTION_TERMS]))
        name, qualifier, numbered = marks[s]
        segments.append(
            Segment(
                id=int(ids[s]),
                name=name,
                description=" · ".join(parts),
                size=size,
                top_terms=top_terms[s],
                traits=tuple(t.label for t in chosen[s][:_DESCRIPTION_TRAITS]),
                head=heads[s],
                role=roles[s],
                facts=tuple(facts),
                qualifier=qualifier,
                numbered=numbered,
            )
        )
    return segments


def _top_terms(
    topics: TopicMatrix | None,
    terms: Sequence[str] | None,
    labels: IntArray,
    k: int,
    topic_terms: Collection[str] = (),
) -> list[tuple[str, ...]]:
    """The terms that distinguish each segment from the rest of the community, best first.

    Terms in `topic_terms` (the catalog's topics) come before the others.

    A term qualifies when at least `_TERM_SUPPORT` of the segment's members (and at
    least 2) use it, and its mean weight in the segment's topic rows is `_TERM_LIFT`
    times its mean weight in the rest of the community. Rows are normalised per member,
    so a segment that simply writes more does not make every common word its own.
    Qualifying terms are ranked by the difference of those means, broad use breaking
    ties. Stop words and words too common to name a topic ("适合", "使用", see
    `recsys.text.is_generic`) never qualify. A term that everyone uses ("hello",
    "error" in a help forum) has no lift; a segment with no qualifying term is named after its
    activity alone. A single segment has no rest: its most widely used terms describe it.
    """
    from recsys.text import is_generic

    if topics is None or terms is None or int(topics.shape[1]) == 0:
        return [() for _ in range(k)]
    matrix = sp.csr_matrix(topics, dtype=np.float64)
    present = (abs(matrix) > _TINY).astype(np.float64)
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    users = _group_means(present, labels, k) * sizes[:, None]  # members using each term
    sums = _group_means(matrix, labels, k) * sizes[:, None]  # summed weight of each term
    allowed = np.fromiter((not is_generic(str(t)) for t in terms), bool, len(terms))
    topical = np.fromiter((str(t) in topic_terms for t in terms), bool, len(terms))
    n = float(labels.size)
    result: list[tuple[str, ...]] = []
    for s in range(k):
        mean = sums[s] / sizes[s]
        if k == 1:
            eligible = np.flatnonzero(allowed & (users[s] > 0))
            best = eligible[
                np.lexsort((eligible, -mean[eligible], -users[s][eligible], ~topical[eligible]))
            ]
            result.append(tuple(str(terms[i]) for i in best[:_TOP_TERMS]))
            continue
        rest_n = max(n - sizes[s], 1.0)
        rest = (sums.sum(axis=0) - sums[s]) / rest_n
        support = max(_TERM_MIN_MEMBERS, math.ceil(_TERM_SUPPORT * sizes[s]))
        eligible = np.flatnonzero(
            allowed & (users[s] >= support) & (mean >= _TERM_LIFT * rest) & (mean > rest)
        )
        gain = mean - rest
        best = eligible[
            np.lexsort((eligible, -users[s][eligible], -gain[eligible], ~topical[eligible]))
        ]
        result.append(tuple(str(terms[i]) for i in best[:_TOP_TERMS]))
    return result


def _phrase(trait: _Trait, value: float, average: float) -> str:
    ratio = value / average if average > 0 else float("nan")
    ratio_text = f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.1f}"
    return trait.template.format(
        ratio=ratio_text, value=value, often="mostly" if value >= 0.5 else "often"
    )


def _distinct(names: list[str], extras: list[list[str]], ids: list[int]) -> list[str]:
    """Make names unique: add the next trait or term, then the id if that is not enough."""
    return [name for name, _, _ in _disambiguate(names, extras, ids)]


def _disambiguate(
    names: list[str], extras: list[list[str]], ids: list[int]
) -> list[tuple[str, str, bool]]:
    """Each unique name with the qualifier added to it ("" for none) and whether the id was."""
    counts = Counter(names)
    qualified: list[tuple[str, str]] = []
    for name, extra in zip(names, extras, strict=True):
        if counts[name] > 1 and extra:
            qualified.append((f"{name} ({extra[0]})", extra[0]))
        else:
            qualified.append((name, ""))
    counts = Counter(name for name, _ in qualified)
    return [
        (f"{name} #{i}", qualifier, True) if counts[name] > 1 else (name, qualifier, False)
        for (name, qualifier), i in zip(qualified, ids, strict=True)
    ]
