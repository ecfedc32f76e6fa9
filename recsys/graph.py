"""The interaction graph and the people a community leans on.

`interaction_graph` turns an `ActivityLog` into a weighted directed member → member
graph: an edge A → B means A gave B attention (A replied to B's message, mentioned
B or reacted to B's message), with one weight per kind of attention
(`EdgeWeights`) summed over every event. It is aggregated with numpy (`np.unique`
over (source, target) pairs, `np.bincount` of weights), so millions of events cost
a few vector operations and one bulk insert per distinct edge.

`InfluenceModel` (scikit-learn conventions: `__init__` stores parameters, `fit`
returns `self`, learned state ends in `_`) scores every active member:

- `influence_`: weighted PageRank on the directed graph, so attention flows to
  whom it is given and attention from influential members counts more;
- `bridges_`: betweenness centrality on the undirected projection (an edge's
  weight is the attention exchanged both ways, its length 1 / weight), exact up
  to `betweenness_sample` members and estimated from that many seeded sources
  above; the members through whom otherwise separate groups reach each other;
- `communities_`: seeded Louvain communities on the undirected projection
  (igraph's C implementation), numbered by size (0 = largest);
- `helpers_`: helpful answers + 0.5 × reactions on answers, where an answer is a
  reply to another member's question (`recsys.features.is_question`) and a
  helpful answer is one with at least one reaction; `helped_` counts the distinct
  members a helpful answer went to;
- `rising_`: PageRank on the last `window_days` minus PageRank on the window
  before it (each sums to 1 over its own members, absent members count 0).

Betweenness is computed with Brandes' algorithm vectorised over batches of
sources: scipy's Dijkstra gives the distances, the shortest-path DAG of every
source in the batch is stacked into one sparse matrix, and path counts and
dependencies are two triangular sparse solves. networkx's pure-Python version
takes minutes on a 5,000-member community; this takes seconds and gives the same
numbers (same normalisation as `networkx.betweenness_centrality` with
`normalized=True`; shortest paths whose lengths agree to 1e-9 relative count as
ties, where networkx needs bit-identical sums).
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Final, Self, TypedDict

import networkx as nx
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.sparse.linalg import spsolve_triangular

from recsys.activity import ActivityLog
from recsys.features import is_question

log = logging.getLogger(__name__)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

DAY: Final = 86_400.0
METRICS: Final = ("influence", "bridges", "helpers", "rising")
STATE_FORMAT: Final = "cohort.influence/1"
REACTION_CREDIT: Final = 0.5  # helper points per reaction on an answer
_TIE: Final = 1e-9  # relative tolerance under which two path lengths are equal
_LOUVAIN_RANDOM: Final = threading.Lock()
_BATCH_CELLS: Final = 2_000_000  # sources × arcs examined at once by betweenness
_PAGERANK_TOL: Final = 1e-10  # mean absolute change per member at convergence
_PAGERANK_MAX_ITER: Final = 1_000


class UnknownMetric(ValueError):
    """A metric name that `InfluenceModel.top` does not know."""

    def __init__(self, metric: str) -> None:
        super().__init__(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        self.metric = metric


class UnknownMember(KeyError):
    """A member the fitted model has no scores for (no activity, or forgotten)."""

    def __init__(self, member: str) -> None:
        super().__init__(member)
        self.member = member


@dataclass(frozen=True, slots=True)
class EdgeWeights:
    """How much attention each kind of interaction gives (added up per edge)."""

    reply: float = 1.0
    mention: float = 0.5
    reaction: float = 0.3

    def __post_init__(self) -> None:
        for name in ("reply", "mention", "reaction"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} weight must be finite and >= 0, got {value}")


DEFAULT_WEIGHTS: Final = EdgeWeights()


@dataclass(frozen=True, slots=True)
class _Edges:
    """Aggregated attention in member-index space: active members and weighted edges."""

    nodes: Ints  # sorted member indexes active in the window
    src: Ints
    dst: Ints
    weight: Floats


def _sum_by(index: Ints, weights: Floats, n: int) -> Floats:
    """Sum of `weights` per value of `index` in 0..n-1."""
    return np.bincount(index, weights=weights, minlength=n).astype(np.float64)


def _in_window(ts: Floats, since: float | None, until: float | None) -> npt.NDArray[np.bool_]:
    mask = np.ones(len(ts), dtype=bool)
    if since is not None:
        mask &= ts >= since
    if until is not None:
        mask &= ts < until
    return mask


def _edges(
    activity: ActivityLog, since: float | None, until: float | None, weights: EdgeWeights
) -> _Edges:
    n = activity.n_members
    in_msg = _in_window(activity.msg_ts, since, until)
    in_rx = _in_window(activity.rx_ts, since, until)
    in_mn = _in_window(activity.mn_ts, since, until)
    src = np.concatenate(
        [activity.msg_member[in_msg], activity.mn_member[in_mn], activity.rx_member[in_rx]]
    ).astype(np.int64)
    dst = np.concatenate(
        [activity.msg_reply_member[in_msg], activity.mn_target[in_mn], activity.rx_author[in_rx]]
    ).astype(np.int64)
    weight = np.concatenate(
        [
            np.full(int(in_msg.sum()), weights.reply),
            np.full(int(in_mn.sum()), weights.mention),
            np.full(int(in_rx.sum()), weights.reaction),
        ]
    )
    keep = (src >= 0) & (dst >= 0) & (src != dst) & (weight > 0)
    src, dst, weight = src[keep], dst[keep], weight[keep]
    pairs, inverse = np.unique(src * n + dst, return_inverse=True)
    total = _sum_by(inverse.ravel(), weight, len(pairs))

    active = np.zeros(n, dtype=bool)
    active[activity.msg_member[in_msg]] = True
    active[activity.rx_member[in_rx]] = True
    active[src] = True
    active[dst] = True
    return _Edges(
        nodes=np.flatnonzero(active).astype(np.int64),
        src=(pairs // max(n, 1)).astype(np.int64),
        dst=(pairs % max(n, 1)).astype(np.int64),
        weight=total.astype(np.float64),
    )


def interaction_graph(
    activity: ActivityLog,
    *,
    since: float | None = None,
    until: float | None = None,
    weights: EdgeWeights = DEFAULT_WEIGHTS,
) -> nx.DiGraph:
    """Who gave whom attention in `[since, until)` (epoch seconds; None = unbounded).

    Nodes are member ids: every member who posted or reacted in the window, plus
    everyone on an edge (isolated members included). Edge A → B carries `weight`,
    the sum over A's replies to B's messages, A's mentions of B and A's reactions
    to B's messages, each weighted by `weights`. Self-edges, replies and reactions
    to unknown authors and zero-weight edges are dropped. The window applies to
    the time of the reply, mention or reaction.
    """
    edges = _edges(activity, since, until, weights)
    names = np.asarray(activity.members, dtype=object)
    graph = nx.DiGraph(since=since, until=until)
    graph.add_nodes_from(names[edges.nodes].tolist())
    graph.add_weighted_edges_from(
        zip(
            names[edges.src].tolist(), names[edges.dst].tolist(), edges.weight.tolist(), strict=True
        )
    )
    log.debug("interaction graph: %d members, %d edges", len(edges.nodes), len(edges.src))
    return graph


def _compact(edges: _Edges) -> tuple[Ints, Ints]:
    """Edge endpoints as positions in `edges.nodes`."""
    return np.searchsorted(edges.nodes, edges.src), np.searchsorted(edges.nodes, edges.dst)


def _pagerank(n: int, src: Ints, dst: Ints, weight: Floats, damping: float) -> Floats:
    """Weighted PageRank as `networkx.pagerank` (uniform teleport and dangling mass)."""
    if n == 0:
        return np.zeros(0)
    out = _sum_by(src, weight, n)
    dangling = out == 0
    share = weight / out[src]  # share of src's attention given to dst
    transition_t = sp.csr_array((share, (dst, src)), shape=(n, n))
    rank = np.full(n, 1.0 / n)
    for _ in range(_PAGERANK_MAX_ITER):
        previous = rank
        rank = damping * (transition_t @ rank + previous[dangling].sum() / n) + (1 - damping) / n
        if np.abs(rank - previous).sum() < n * _PAGERANK_TOL:
            break
    else:
        log.warning("PageRank did not converge in %d iterations", _PAGERANK_MAX_ITER)
    return np.asarray(rank / rank.sum(), dtype=np.float64)


def _undirected(n: int, src: Ints, dst: Ints, weight: Floats) -> tuple[Ints, Ints, Floats]:
    """Merge A → B and B → A into one edge (low, high) carrying both weights."""
    low, high = np.minimum(src, dst), np.maximum(src, dst)
    pairs, inverse = np.unique(low * n + high, return_inverse=True)
    total = _sum_by(inverse.ravel(), weight, len(pairs))
    return pairs // max(n, 1), pairs % max(n, 1), total


def _dependencies(
    distance: Floats, sources: Ints, arc_src: Ints, arc_dst: Ints, arc_len: Floats
) -> Floats:
    """Sum of Brandes dependencies δ_s(v) over the batch of `sources`, per node v."""
    batch, n = distance.shape
    from_len = distance[:, arc_src]
    to_len = distance[:, arc_dst]
    # Arcs of each source's shortest-path DAG (strictly closer to the source first).
    on_dag = (from_len + arc_len <= to_len * (1 + _TIE)) & (from_len < to_len)
    rows, arcs = np.nonzero(on_dag)
    flat = distance.ravel()
    reach = np.flatnonzero(np.isfinite(flat))
    order = reach[np.lexsort((flat[reach], reach // n))]  # per source, by distance
    rank = np.empty(batch * n, dtype=np.int64)
    rank[order] = np.arange(len(order))
    tail = rank[rows * n + arc_src[arcs]]
    head = rank[rows * n + arc_dst[arcs]]
    size = len(order)
    identity = sp.eye_array(size, format="csr")
    starts = rank[np.arange(batch) * n + sources]

    # σ (shortest-path counts): σ = e_s + Pᵀσ, P strictly upper triangular in this order.
    seed = np.zeros(size)
    seed[starts] = 1.0
    counts_in = sp.csr_array((np.ones(len(tail)), (head, tail)), shape=(size, size))
    sigma = spsolve_triangular((identity - counts_in).tocsr(), seed, lower=True)
    # δ: δ(v) = Σ_{v→w} σ(v)/σ(w) · (1 + δ(w)).
    ratio = sp.csr_array((sigma[tail] / sigma[head], (tail, head)), shape=(size, size))
    delta = spsolve_triangular((identity - ratio).tocsr(), ratio @ np.ones(size), lower=False)
    delta[starts] = 0.0
    return _sum_by(order % n, delta, n)


def _betweenness(n: int, low: Ints, high: Ints, weight: Floats, sources: Ints | None) -> Floats:
    """Betweenness on the undirected graph with edge length 1/weight, normalised as networkx.

    `sources=None` is exact; otherwise the estimate from those sources, rescaled as
    `networkx.betweenness_centrality(k=len(sources), normalized=True)`.
    """
    total = np.zeros(n)
    if n < 3 or len(low) == 0:
        return total
    length = 1.0 / weight
    arc_src = np.concatenate([low, high])
    arc_dst = np.concatenate([high, low])
    arc_len = np.concatenate([length, length])
    graph = sp.csr_array((arc_len, (arc_src, arc_dst)), shape=(n, n))
    starts = np.arange(n, dtype=np.int64) if sources is None else sources
    batch = max(1, min(len(starts), _BATCH_CELLS // len(arc_src)))
    for begin in range(0, len(starts), batch):
        chunk = starts[begin : begin + batch]
        distance = np.atleast_2d(dijkstra(graph, directed=True, indices=chunk))
        total += _dependencies(distance, chunk, arc_src, arc_dst, arc_len)

    pairs = n - 1  # possible (s, t) partners of a node that is neither
    if sources is None:
        scale = np.full(n, 1.0 / (pairs * (pairs - 1)))
    else:
        k = len(sources)
        scale = np.full(n, 1.0 / (k * (pairs - 1)))
        scale[sources] = 1.0 / ((k - 1) * (pairs - 1)) if k > 1 else 0.0
    return np.asarray(total * scale, dtype=np.float64)


def _louvain(
    n: int, low: Ints, high: Ints, weight: Floats, resolution: float, seed: int | None
) -> list[set[int]]:
    """Louvain communities of the weighted undirected graph (igraph's C implementation).

    networkx's pure-Python Louvain had not finished after 25 minutes on the interaction
    graph of a 100,000-member community (75,000 active members, 437,000 edges);
    igraph's takes under two seconds. `seed` makes the node order, hence the result, repeatable.
    """
    import igraph

    graph = igraph.Graph(n=n, edges=np.column_stack([low, high]).tolist(), directed=False)
    with _LOUVAIN_RANDOM:  # igraph's random source is process-wide
        igraph.set_random_number_generator(random.Random(seed))
        try:
            clustering = graph.community_multilevel(weights=weight.tolist(), resolution=resolution)
        finally:
            igraph.set_random_number_generator(random)
    return [set(part) for part in clustering]


def _number_by_size(assignment: dict[str, int]) -> dict[str, int]:
    """Renumber communities 0.. by decreasing size (ties: smallest member id first)."""
    groups: dict[int, list[str]] = {}
    for member, community in assignment.items():
        groups.setdefault(community, []).append(member)
    ranked = sorted(groups.values(), key=lambda group: (-len(group), min(group)))
    number = {member: k for k, group in enumerate(ranked) for member in group}
    return {member: number[member] for member in assignment}


def _helpers(activity: ActivityLog) -> tuple[Floats, Ints]:
    """Per member of the log: helper score and distinct members helped."""
    n = activity.n_members
    parent = activity.msg_reply_to.astype(np.int64)
    author = activity.msg_member.astype(np.int64)
    asker = activity.msg_reply_member.astype(np.int64)
    candidate = (parent >= 0) & (asker >= 0) & (asker != author)
    parents = np.unique(parent[candidate])
    question = np.zeros(activity.n_messages, dtype=bool)
    question[parents] = np.fromiter(
        (is_question(activity.msg_text[p]) for p in parents.tolist()),
        dtype=bool,
        count=len(parents),
    )
    answer = candidate & question[np.maximum(parent, 0)]
    reactions = activity.msg_reactions.astype(np.float64)
    helpful = answer & (reactions > 0)
    score = np.bincount(author[helpful], minlength=n) + REACTION_CREDIT * np.bincount(
        author[answer], weights=reactions[answer], minlength=n
    )
    pairs = np.unique(author[helpful] * max(n, 1) + asker[helpful])
    helped = np.bincount(pairs // max(n, 1), minlength=n).astype(np.int64)
    return score.astype(np.float64), helped


class MemberSummary(TypedDict):
    """One member's scores, ranks (1 = top) and community."""

    member: str
    influence: float
    influence_rank: int
    bridges: float
    bridges_rank: int
    helpers: float
    helpers_rank: int
    helped: int
    rising: float
    rising_rank: int
    community: int
    community_size: int


class InfluenceModel:
    """Who the community leans on: influence, bridges, communities, helpers, rising stars.

    Parameters: `window_days` (length of each of the two windows compared by
    `rising_`), `betweenness_sample` (exact betweenness up to this many members,
    estimated from this many seeded sources above), `random_state` (seeds the
    betweenness sample and Louvain), `louvain_resolution` (above 1: smaller
    communities), `damping` (PageRank's probability of following attention) and
    `weights` (attention per reply, mention and reaction).

    Learned (after `fit`), keyed by member id for every member active in the log:
    `members_`, `influence_`, `bridges_`, `communities_`, `helpers_`, `helped_`,
    `rising_` (ordered by decreasing growth), plus `now_`, `n_edges_` and
    `bridges_exact_`. Scores are computed on the whole log; only `rising_` uses
    the windows ending at `log.now`.
    """

    def __init__(
        self,
        window_days: float = 14.0,
        betweenness_sample: int = 500,
        random_state: int | None = 0,
        louvain_resolution: float = 1.0,
        *,
        damping: float = 0.85,
        weights: EdgeWeights = DEFAULT_WEIGHTS,
    ) -> None:
        self.window_days = window_days
        self.betweenness_sample = betweenness_sample
        self.random_state = random_state
        self.louvain_resolution = louvain_resolution
        self.damping = damping
        self.weights = weights

    def _validate(self) -> None:
        if not (math.isfinite(self.window_days) and self.window_days > 0):
            raise ValueError(f"window_days must be > 0, got {self.window_days}")
        if self.betweenness_sample < 2:
            raise ValueError(f"betweenness_sample must be >= 2, got {self.betweenness_sample}")
        if not self.louvain_resolution > 0:
            raise ValueError(f"louvain_resolution must be > 0, got {self.louvain_resolution}")
        if not 0 < self.damping < 1:
            raise ValueError(f"damping must be in (0, 1), got {self.damping}")

    def fit(self, activity: ActivityLog) -> Self:
        """Score every member active in `activity`; return self."""
        self._validate()
        edges = _edges(activity, None, None, self.weights)
        names = [activity.members[i] for i in edges.nodes.tolist()]
        n = len(names)
        src, dst = _compact(edges)

        influence = _pagerank(n, src, dst, edges.weight, self.damping)
        low, high, both = _undirected(n, src, dst, edges.weight)
        exact = n <= self.betweenness_sample
        sources = None
        if not exact:
            rng = np.random.default_rng(self.random_state)
            sources = np.sort(rng.choice(n, size=self.betweenness_sample, replace=False))
        bridges = _betweenness(n, low, high, both, sources)
        parts = _louvain(n, low, high, both, self.louvain_resolution, self.random_state)
        communities = _number_by_size({names[i]: k for k, part in enumerate(parts) for i in part})
        helper_score, helped = _helpers(activity)

        self.members_ = names
        self.influence_ = dict(zip(names, influence.tolist(), strict=True))
        self.bridges_ = dict(zip(names, bridges.tolist(), strict=True))
        self.communities_ = {name: communities[name] for name in names}
        self.helpers_ = dict(zip(names, helper_score[edges.nodes].tolist(), strict=True))
        self.helped_ = dict(zip(names, helped[edges.nodes].tolist(), strict=True))
        self.rising_ = self._rising(activity, names)
        self.now_ = float(activity.now)
        self.n_edges_ = len(edges.src)
        self.bridges_exact_ = exact
        log.info(
            "influence model: %d members, %d edges, %d communities, %s betweenness",
            n,
            self.n_edges_,
            len(parts),
            "exact" if exact else f"sampled ({self.betweenness_sample} sources)",
        )
        return self

    def _window_rank(
        self, activity: ActivityLog, since: float, until: float | None
    ) -> dict[int, float]:
        edges = _edges(activity, since, until, self.weights)
        src, dst = _compact(edges)
        rank = _pagerank(len(edges.nodes), src, dst, edges.weight, self.damping)
        return dict(zip(edges.nodes.tolist(), rank.tolist(), strict=True))

    def _rising(self, activity: ActivityLog, names: list[str]) -> dict[str, float]:
        span = self.window_days * DAY
        recent = self._window_rank(activity, activity.now - span, None)
        before = self._window_rank(activity, activity.now - 2 * span, activity.now - span)
        index = activity.member_index
        growth = {
            name: recent.get(index[name], 0.0) - before.get(index[name], 0.0) for name in names
        }
        return dict(sorted(growth.items(), key=lambda item: (-item[1], item[0])))

    def _check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("InfluenceModel is not fitted; call fit(log) first")

    def _scores(self, metric: str) -> dict[str, float]:
        if metric not in METRICS:
            raise UnknownMetric(metric)
        scores: dict[str, float] = getattr(self, f"{metric}_")
        return scores

    def top(self, metric: str, n: int = 10) -> list[tuple[str, float]]:
        """The `n` members with the highest positive `metric` score, best first.

        `metric` is one of `METRICS`; ties go to the smaller member id. Members
        scoring 0 or less (no helpful answers, no growth, on no shortest path)
        are left out.
        """
        self._check_fitted()
        scores = self._scores(metric)
        if n <= 0:
            return []
        ranked = sorted(
            ((member, score) for member, score in scores.items() if score > 0),
            key=lambda item: (-item[1], item[0]),
        )
        return ranked[:n]

    def summary(self, member: str) -> MemberSummary:
        """One member's scores, their rank on each metric (1 = top) and community.

        Raises `UnknownMember` for a member with no activity in the fitted log.
        """
        self._check_fitted()
        if member not in self.influence_:
            raise UnknownMember(member)

        def rank(metric: str) -> int:
            scores = self._scores(metric)
            values = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
            return int((values > scores[member]).sum()) + 1

        community = self.communities_[member]
        return MemberSummary(
            member=member,
            influence=self.influence_[member],
            influence_rank=rank("influence"),
            bridges=self.bridges_[member],
            bridges_rank=rank("bridges"),
            helpers=self.helpers_[member],
            helpers_rank=rank("helpers"),
            helped=self.helped_[member],
            rising=self.rising_[member],
            rising_rank=rank("rising"),
            community=community,
            community_size=sum(1 for c in self.communities_.values() if c == community),
        )

    def summaries(self) -> list[MemberSummary]:
        """Every member's `summary`, ordered by member id, with the ranks computed once."""
        self._check_fitted()
        members = sorted(self.influence_)
        ranks: dict[str, npt.NDArray[np.int64]] = {}
        for metric in METRICS:
            scores = self._scores(metric)
            every = np.sort(np.fromiter(scores.values(), dtype=np.float64, count=len(scores)))
            mine = np.array([scores[member] for member in members], dtype=np.float64)
            ranks[metric] = len(every) - np.searchsorted(every, mine, side="right") + 1
        sizes: dict[int, int] = {}
        for community in self.communities_.values():
            sizes[community] = sizes.get(community, 0) + 1
        return [
            MemberSummary(
                member=member,
                influence=self.influence_[member],
                influence_rank=int(ranks["influence"][i]),
                bridges=self.bridges_[member],
                bridges_rank=int(ranks["bridges"][i]),
                helpers=self.helpers_[member],
                helpers_rank=int(ranks["helpers"][i]),
                helped=self.helped_[member],
                rising=self.rising_[member],
                rising_rank=int(ranks["rising"][i]),
                community=self.communities_[member],
                community_size=sizes[self.communities_[member]],
            )
            for i, member in enumerate(members)
        ]

    def forget(self, member_ids: Iterable[str]) -> int:
        """Remove members from every learned attribute; return how many were known.

        Communities are renumbered by size afterwards. Other members' scores still
        reflect past interactions with the forgotten members until the next `fit`
        on a log without them.
        """
        self._check_fitted()
        gone = set(member_ids) & set(self.influence_)
        if not gone:
            return 0
        self.members_ = [m for m in self.members_ if m not in gone]
        for attribute in ("influence_", "bridges_", "helpers_", "helped_", "rising_"):
            scores = getattr(self, attribute)
            setattr(self, attribute, {m: s for m, s in scores.items() if m not in gone})
        self.communities_ = _number_by_size(
            {m: c for m, c in self.communities_.items() if m not in gone}
        )
        log.info("influence model: forgot %d members", len(gone))
        return len(gone)

    def state(self) -> dict[str, Any]:
        """Parameters and learned scores as JSON-able values and numpy arrays (no pickle)."""
        self._check_fitted()
        members = self.members_
        return {
            "format": STATE_FORMAT,
            "params": {
                "window_days": self.window_days,
                "betweenness_sample": self.betweenness_sample,
                "random_state": self.random_state,
                "louvain_resolution": self.louvain_resolution,
                "damping": self.damping,
                "weights": asdict(self.weights),
            },
            "members": list(members),
            "influence": np.array([self.influence_[m] for m in members], dtype=np.float64),
            "bridges": np.array([self.bridges_[m] for m in members], dtype=np.float64),
            "helpers": np.array([self.helpers_[m] for m in members], dtype=np.float64),
            "helped": np.array([self.helped_[m] for m in members], dtype=np.int64),
            "rising": np.array([self.rising_[m] for m in members], dtype=np.float64),
            "community": np.array([self.communities_[m] for m in members], dtype=np.int64),
            "now": self.now_,
            "n_edges": self.n_edges_,
            "bridges_exact": self.bridges_exact_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> InfluenceModel:
        """Rebuild a fitted model from `state()` (arrays may also be plain lists)."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"not an influence model state: {state.get('format')!r}")
        params = state["params"]
        random_state = params["random_state"]
        model = cls(
            window_days=float(params["window_days"]),
            betweenness_sample=int(params["betweenness_sample"]),
            random_state=None if random_state is None else int(random_state),
            louvain_resolution=float(params["louvain_resolution"]),
            damping=float(params["damping"]),
            weights=EdgeWeights(**{k: float(v) for k, v in params["weights"].items()}),
        )
        members = [str(m) for m in state["members"]]

        def column(name: str, dtype: type[np.generic]) -> list[Any]:
            values = np.asarray(state[name], dtype=dtype)
            if values.shape != (len(members),):
                raise ValueError(f"{name} has shape {values.shape}, expected ({len(members)},)")
            return list(values.tolist())

        model.members_ = members
        model.influence_ = dict(zip(members, column("influence", np.float64), strict=True))
        model.bridges_ = dict(zip(members, column("bridges", np.float64), strict=True))
        model.helpers_ = dict(zip(members, column("helpers", np.float64), strict=True))
        model.helped_ = dict(zip(members, column("helped", np.int64), strict=True))
        model.communities_ = dict(zip(members, column("community", np.int64), strict=True))
        rising = dict(zip(members, column("rising", np.float64), strict=True))
        model.rising_ = dict(sorted(rising.items(), key=lambda item: (-item[1], item[0])))
        model.now_ = float(state["now"])
        model.n_edges_ = int(state["n_edges"])
        model.bridges_exact_ = bool(state["bridges_exact"])
        return model
