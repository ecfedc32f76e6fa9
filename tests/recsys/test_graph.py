"""Tests for recsys.graph: the interaction graph and InfluenceModel."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from fractions import Fraction
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from recsys.activity import ActivityLog, MessageRow, ReactionRow
from recsys.graph import (
    METRICS,
    EdgeWeights,
    InfluenceModel,
    UnknownMember,
    UnknownMetric,
    interaction_graph,
)

NOW = 1_700_000_000.0
DAY = 86_400.0


class Chat:
    """Builds an ActivityLog message by message."""

    def __init__(self) -> None:
        self.messages: list[MessageRow] = []
        self.reactions: list[ReactionRow] = []
        self.ids = itertools.count(1)

    def say(
        self,
        member: str,
        text: str = "hello",
        *,
        ts: float = NOW - DAY,
        reply_to: str | None = None,
        mentions: tuple[str, ...] = (),
        reactions: int = 0,
    ) -> str:
        mid = f"m{next(self.ids)}"
        self.messages.append(
            MessageRow(
                mid,
                member,
                "c1",
                ts,
                text,
                reply_to=reply_to,
                mentions=mentions,
                reactions=reactions,
            )
        )
        return mid

    def reply(self, member: str, to: str, text: str = "sure", **kwargs: Any) -> str:
        return self.say(member, text, reply_to=to, **kwargs)

    def react(self, member: str, author: str | None, ts: float = NOW - DAY) -> None:
        self.reactions.append(ReactionRow(member, author, ts))

    def log(self, **kwargs: Any) -> ActivityLog:
        return ActivityLog.build(self.messages, self.reactions, now=NOW, **kwargs)


def converse(chat: Chat, a: str, b: str, ts: float = NOW - DAY) -> None:
    """a and b reply to each other once."""
    first = chat.say(a, ts=ts)
    chat.reply(b, first, ts=ts)
    second = chat.say(b, ts=ts)
    chat.reply(a, second, ts=ts)


def undirected_distances(graph: nx.DiGraph, *, exact: bool = False) -> nx.Graph:
    """The undirected projection (weights of both directions summed), length 1/weight.

    `exact` makes lengths Fractions, so paths of equal length tie exactly in networkx
    (weights are sums of 1, 0.5 and 0.3, hence small-denominator rationals).
    """
    projection = nx.Graph()
    projection.add_nodes_from(graph)
    for u, v, weight in graph.edges(data="weight"):
        if projection.has_edge(u, v):
            projection[u][v]["weight"] += weight
        else:
            projection.add_edge(u, v, weight=weight)
    for _, _, data in projection.edges(data=True):
        if exact:
            data["distance"] = 1 / Fraction(data["weight"]).limit_denominator(1000)
        else:
            data["distance"] = 1.0 / data["weight"]
    return projection


def two_cliques(size: int, gateways: int) -> ActivityLog:
    """Cliques a0.. and b0.. of `size` members; x talks with `gateways` members of each."""
    chat = Chat()
    for side in "ab":
        members = [f"{side}{i}" for i in range(size)]
        for u, v in itertools.combinations(members, 2):
            chat.reply(v, chat.say(u))
        for member in members[:gateways]:
            converse(chat, "x", member)
    return chat.log()


def random_log(seed: int, members: int, messages: int, reactions: int) -> ActivityLog:
    """A random log built with ActivityLog.build (replies to recent messages)."""
    rng = np.random.default_rng(seed)
    chat = Chat()
    ids: list[str] = []
    names = [f"u{i}" for i in range(members)]
    for k in range(messages):
        author = names[int(rng.integers(members))]
        ts = NOW - float(rng.uniform(0, 40)) * DAY
        parent = (
            ids[-int(rng.integers(1, min(len(ids), 20) + 1))]
            if ids and rng.random() < 0.6
            else None
        )
        mentions = (names[int(rng.integers(members))],) if rng.random() < 0.1 else ()
        text = "how do I start?" if rng.random() < 0.3 else f"message {k}"
        ids.append(
            chat.say(
                author,
                text,
                ts=ts,
                reply_to=parent,
                mentions=mentions,
                reactions=int(rng.poisson(0.7)),
            )
        )
    for _ in range(reactions):
        chat.react(
            names[int(rng.integers(members))],
            names[int(rng.integers(members))],
            ts=NOW - float(rng.uniform(0, 40)) * DAY,
        )
    return chat.log()


def assert_same_model(a: InfluenceModel, b: InfluenceModel) -> None:
    assert a.members_ == b.members_
    for attribute in ("influence_", "bridges_", "helpers_", "helped_", "rising_", "communities_"):
        assert getattr(a, attribute) == getattr(b, attribute), attribute
    assert list(a.rising_) == list(b.rising_)
    assert (a.now_, a.n_edges_, a.bridges_exact_) == (b.now_, b.n_edges_, b.bridges_exact_)


# --- interaction_graph -------------------------------------------------------------------


def test_each_kind_of_attention_adds_its_weight_in_its_direction():
    """Reply, mention and reaction each add their weight to the giver → receiver edge."""
    chat = Chat()
    post = chat.say("bob")
    chat.reply("ann", post)  # ann → bob 1.0
    chat.say("ann", "look at this", mentions=("bob",))  # ann → bob 0.5
    chat.react("ann", "bob")  # ann → bob 0.3
    chat.react("bob", "ann")  # bob → ann 0.3
    graph = interaction_graph(chat.log())
    assert graph["ann"]["bob"]["weight"] == pytest.approx(1.8)
    assert graph["bob"]["ann"]["weight"] == pytest.approx(0.3)
    assert graph.number_of_edges() == 2


def test_repeated_interactions_add_up():
    """Several replies and mentions between the same pair sum into one edge."""
    chat = Chat()
    post = chat.say("bob")
    chat.reply("ann", post)
    chat.reply("ann", post)
    chat.say("ann", "@bob", mentions=("bob",))
    graph = interaction_graph(chat.log())
    assert graph["ann"]["bob"]["weight"] == pytest.approx(2.5)
    assert not graph.has_edge("bob", "ann")


def test_self_interactions_are_dropped_but_member_stays_a_node():
    """Replying to, mentioning or reacting to oneself creates no edge."""
    chat = Chat()
    post = chat.say("cat")
    chat.reply("cat", post, mentions=("cat",))
    chat.react("cat", "cat")
    graph = interaction_graph(chat.log())
    assert list(graph.nodes) == ["cat"]
    assert graph.number_of_edges() == 0


def test_nodes_are_active_members_and_everyone_on_an_edge():
    """Posters and reactors are nodes (even isolated); idle listed members are not."""
    chat = Chat()
    chat.say("lonely")
    chat.say("ann", "hey", mentions=("quiet",))  # quiet never posts but is given attention
    chat.react("reactor", None)  # unknown author: reactor is active, no edge
    graph = interaction_graph(chat.log(members=["idle"]))
    assert set(graph.nodes) == {"lonely", "ann", "quiet", "reactor"}
    assert list(graph.edges) == [("ann", "quiet")]
    assert graph.degree("lonely") == 0


def test_window_is_half_open_on_event_time():
    """Only events in [since, until) count; an event exactly at `until` is out."""
    chat = Chat()
    post = chat.say("bob", ts=NOW - 30 * DAY)
    chat.reply("ann", post, ts=NOW - 10 * DAY)  # in
    chat.reply("cat", post, ts=NOW - 5 * DAY)  # at until: out
    chat.react("dan", "bob", ts=NOW - 20 * DAY)  # before since: out
    graph = interaction_graph(chat.log(), since=NOW - 10 * DAY, until=NOW - 5 * DAY)
    assert list(graph.edges) == [("ann", "bob")]
    assert set(graph.nodes) == {"ann", "bob"}


def test_custom_weights_and_zero_weight_kinds():
    """EdgeWeights sets each kind's weight; a zero weight drops that kind's edges."""
    chat = Chat()
    post = chat.say("bob")
    chat.reply("ann", post)
    chat.say("cat", "@bob", mentions=("bob",))
    chat.react("dan", "bob")
    graph = interaction_graph(chat.log(), weights=EdgeWeights(reply=2.0, mention=0.0, reaction=1.0))
    assert graph["ann"]["bob"]["weight"] == pytest.approx(2.0)
    assert graph["dan"]["bob"]["weight"] == pytest.approx(1.0)
    assert not graph.has_edge("cat", "bob")
    assert "cat" in graph


def test_negative_edge_weight_is_rejected():
    """A negative weight is a configuration error, not a silent sign flip."""
    with pytest.raises(ValueError, match="mention"):
        EdgeWeights(mention=-1.0)


@st.composite
def chats(draw: st.DrawFn) -> tuple[list[MessageRow], list[ReactionRow]]:
    people = [f"p{i}" for i in range(draw(st.integers(1, 6)))]
    member = st.sampled_from(people)
    messages: list[MessageRow] = []
    for k in range(draw(st.integers(0, 25))):
        parent = draw(st.none() | st.integers(0, k - 1)) if k else None
        messages.append(
            MessageRow(
                f"m{k}",
                draw(member),
                "c",
                float(k),
                "x",
                reply_to=None if parent is None else f"m{parent}",
                mentions=tuple(draw(st.lists(member, max_size=2))),
            )
        )
    reactions = draw(
        st.lists(st.builds(ReactionRow, member, st.none() | member, st.just(0.0)), max_size=10)
    )
    return messages, reactions


@settings(max_examples=60, deadline=None)
@given(chats())
def test_graph_matches_a_naive_event_by_event_count(
    rows: tuple[list[MessageRow], list[ReactionRow]],
):
    """The vectorized aggregation equals summing every event one by one."""
    messages, reactions = rows
    author = {m.id: m.member for m in messages}
    expected: defaultdict[tuple[str, str], float] = defaultdict(float)
    for message in messages:
        if message.reply_to is not None:
            expected[message.member, author[message.reply_to]] += 1.0
        for target in message.mentions:
            expected[message.member, target] += 0.5
    for reaction in reactions:
        if reaction.author is not None:
            expected[reaction.member, reaction.author] += 0.3
    expected_edges = {pair: w for pair, w in expected.items() if pair[0] != pair[1]}

    graph = interaction_graph(ActivityLog.build(messages, reactions, now=100.0))
    actual = {(u, v): w for u, v, w in graph.edges(data="weight")}
    assert actual.keys() == expected_edges.keys()
    for pair, weight in expected_edges.items():
        assert actual[pair] == pytest.approx(weight)


# --- InfluenceModel: influence ------------------------------------------------------------


def test_member_everyone_replies_to_has_highest_influence():
    """Attention flows to whom it is given: the hub wins, not the loud replier."""
    chat = Chat()
    hub_post = chat.say("hub", "how do I learn rust?")
    for fan in ("f1", "f2", "f3", "f4", "f5"):
        chat.reply(fan, hub_post)
        chat.reply("loud", chat.say(fan))  # loud gives attention to everyone
    log = chat.log()
    model = InfluenceModel().fit(log)
    assert model.top("influence", 1)[0][0] == "hub"
    assert model.influence_["hub"] > model.influence_["loud"]
    assert sum(model.influence_.values()) == pytest.approx(1.0)
    reference = nx.pagerank(interaction_graph(log), weight="weight", tol=1e-12, max_iter=10_000)
    assert model.influence_ == pytest.approx(reference, abs=1e-8)


# --- bridges ------------------------------------------------------------------------------


def test_only_link_between_two_cliques_is_top_bridge_exact():
    """The member joining two cliques has the highest exact betweenness."""
    log = two_cliques(size=5, gateways=2)
    model = InfluenceModel().fit(log)
    assert model.bridges_exact_
    assert model.top("bridges", 1)[0][0] == "x"
    reference = nx.betweenness_centrality(
        undirected_distances(interaction_graph(log)), weight="distance"
    )
    assert model.bridges_ == pytest.approx(reference, abs=1e-12)


def test_exact_betweenness_matches_networkx_on_a_random_log():
    """Vectorized Brandes equals networkx's weighted betweenness with exact path lengths.

    With float lengths networkx misses ties such as (1 + 10/3) + 10/3 vs (10/3 + 10/3) + 1
    and differs by up to 1e-3 on this log; graph.py treats them as ties.
    """
    log = random_log(seed=3, members=40, messages=300, reactions=100)
    model = InfluenceModel().fit(log)
    assert model.bridges_exact_
    projection = undirected_distances(interaction_graph(log), exact=True)
    reference = nx.betweenness_centrality(projection, weight="distance")
    assert model.bridges_ == pytest.approx(reference, abs=1e-12)


def test_bridge_is_still_top_with_sampled_betweenness_on_a_large_graph():
    """With 100 sampled sources on two 300-member cliques the bridge still ranks first."""
    log = two_cliques(size=300, gateways=10)
    model = InfluenceModel(betweenness_sample=100, random_state=7).fit(log)
    assert not model.bridges_exact_
    top = model.top("bridges", 5)
    assert top[0][0] == "x"
    assert top[0][1] > 3 * top[1][1]


# --- communities --------------------------------------------------------------------------


def test_louvain_finds_planted_groups_numbered_by_size():
    """Dense groups joined by single mentions come back as communities, 0 = largest."""
    chat = Chat()
    groups = {"small": 4, "large": 8, "mid": 6}  # appearance order differs from size order
    names = {g: [f"{g}{i}" for i in range(k)] for g, k in groups.items()}
    for members in names.values():
        for u, v in itertools.combinations(members, 2):
            converse(chat, u, v)
    chat.say("small0", "@large0", mentions=("large0",))
    chat.say("large1", "@mid0", mentions=("mid0",))
    model = InfluenceModel().fit(chat.log())
    for number, group in enumerate(("large", "mid", "small")):
        assert {model.communities_[m] for m in names[group]} == {number}


# --- helpers ------------------------------------------------------------------------------


def test_helpers_rank_answers_to_others_questions_that_get_reactions():
    """Helpful answers to others' questions score; own questions and non-questions do not."""
    chat = Chat()
    q1 = chat.say("asker", "How do I install numpy?")
    q2 = chat.say("other", "Anyone know a good SQL course?")
    chat.reply("h1", q1, "pip install numpy", reactions=3)
    chat.reply("h1", q2, "try the intro one", reactions=1)
    own = chat.say("h2", "Why does my loop hang?")
    chat.reply("h2", own, "found it, never mind", reactions=10)  # own question
    statement = chat.say("asker", "I finished the course today.")
    chat.reply("h3", statement, "really? how long did it take?", reactions=10)  # not a question
    chat.reply("h4", q1, "no idea", reactions=0)  # an answer nobody found helpful
    chat.reply("h5", q1, "use conda", reactions=1)
    model = InfluenceModel().fit(chat.log())
    assert model.top("helpers", 10) == [("h1", 4.0), ("h5", 1.5)]
    assert model.helpers_["h2"] == model.helpers_["h3"] == model.helpers_["h4"] == 0.0
    assert model.helped_["h1"] == 2
    assert model.helped_["h5"] == 1
    assert model.helped_["h4"] == 0


# --- rising -------------------------------------------------------------------------------


def test_rising_prefers_recent_attention_over_past_popularity():
    """Attention that moved to `new` in the last window makes it rise and `old` fall."""
    chat = Chat()
    fans = [f"f{i}" for i in range(6)]
    before, recent, ancient = NOW - 20 * DAY, NOW - 3 * DAY, NOW - 60 * DAY
    for star, ts in (("old", before), ("new", recent)):
        post = chat.say(star, ts=ts)
        for fan in fans:
            chat.reply(fan, post, ts=ts)
    chat.say("new", ts=before)  # present but ignored before
    chat.reply("f0", chat.say("old", ts=recent), ts=recent)  # still around, barely noticed
    post = chat.say("ancient", ts=ancient)
    for fan in fans:
        chat.reply(fan, post, ts=ancient)  # outside both windows
    fresh_post = chat.say("fresh", ts=recent)
    chat.reply("f1", fresh_post, ts=recent)
    model = InfluenceModel(window_days=14).fit(chat.log())
    assert model.top("rising", 1)[0][0] == "new"
    assert next(iter(model.rising_)) == "new"
    assert model.rising_["old"] < 0
    assert model.rising_["fresh"] > 0  # only in the recent window: growth from zero
    assert model.rising_["ancient"] == 0.0
    assert sum(model.rising_.values()) == pytest.approx(0.0, abs=1e-12)


# --- determinism, state, forget -----------------------------------------------------------


def test_fit_is_deterministic_with_a_fixed_seed():
    """Same seed, same log: identical scores, sampled betweenness and communities."""
    log = random_log(seed=11, members=150, messages=1500, reactions=500)
    first = InfluenceModel(betweenness_sample=40, random_state=5).fit(log)
    second = InfluenceModel(betweenness_sample=40, random_state=5).fit(log)
    assert not first.bridges_exact_
    assert_same_model(first, second)


def test_state_round_trips_directly_and_through_json():
    """state()/from_state() restore every learned attribute and parameter, without pickle."""
    log = random_log(seed=2, members=30, messages=200, reactions=50)
    model = InfluenceModel(
        window_days=10, louvain_resolution=1.2, weights=EdgeWeights(reply=2.0)
    ).fit(log)
    state = model.state()
    assert_same_model(model, InfluenceModel.from_state(state))

    as_json = json.dumps(
        {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in state.items()}
    )
    restored = InfluenceModel.from_state(json.loads(as_json))
    assert_same_model(model, restored)
    assert restored.weights == EdgeWeights(reply=2.0)
    assert (restored.window_days, restored.louvain_resolution) == (10, 1.2)
    assert restored.summary("u0") == model.summary("u0")


def test_from_state_rejects_foreign_state():
    """A state from something else fails loudly instead of building a broken model."""
    with pytest.raises(ValueError, match="influence"):
        InfluenceModel.from_state({"format": "something-else"})


def test_forget_removes_member_from_every_attribute():
    """After forget, the member appears in no score, ranking, community or state."""
    log = two_cliques(size=5, gateways=2)
    model = InfluenceModel().fit(log)
    assert model.forget(["x", "not-a-member"]) == 1
    assert "x" not in model.members_
    for attribute in ("influence_", "bridges_", "helpers_", "helped_", "rising_", "communities_"):
        assert "x" not in getattr(model, attribute), attribute
    for metric in METRICS:
        assert "x" not in dict(model.top(metric, 100))
    with pytest.raises(UnknownMember):
        model.summary("x")
    assert "x" not in model.state()["members"]
    assert model.forget(["x"]) == 0


def test_forget_keeps_communities_numbered_by_size():
    """Erasing members of the largest community renumbers so that 0 is still the largest."""
    chat = Chat()
    for u, v in itertools.combinations(["a0", "a1", "a2", "a3"], 2):
        converse(chat, u, v)
    for u, v in itertools.combinations(["b0", "b1", "b2"], 2):
        converse(chat, u, v)
    model = InfluenceModel().fit(chat.log())
    assert model.communities_["a0"] == 0
    model.forget(["a0", "a1"])
    assert model.communities_ == {"a2": 1, "a3": 1, "b0": 0, "b1": 0, "b2": 0}


# --- API edges ----------------------------------------------------------------------------


def test_summary_reports_scores_ranks_and_community():
    """summary() gives a member's scores, 1-based ranks and community size."""
    model = InfluenceModel().fit(two_cliques(size=5, gateways=2))
    summary = model.summary("x")
    assert summary["bridges_rank"] == 1
    assert summary["bridges"] == model.bridges_["x"]
    assert summary["community"] == model.communities_["x"]
    assert summary["community_size"] == sum(
        1 for c in model.communities_.values() if c == summary["community"]
    )
    assert set(summary) >= {f"{m}_rank" for m in METRICS}
    with pytest.raises(UnknownMember):
        model.summary("nobody")


def test_top_rejects_unknown_metric_and_requires_fit():
    """top() names the bad metric, refuses to run unfitted and handles n <= 0."""
    with pytest.raises(NotFittedError):
        InfluenceModel().top("influence", 3)
    model = InfluenceModel().fit(two_cliques(size=3, gateways=1))
    with pytest.raises(UnknownMetric, match="popularity"):
        model.top("popularity", 3)
    assert model.top("influence", 0) == []
    assert len(model.top("influence", 2)) == 2


@pytest.mark.parametrize(
    "params",
    [{"betweenness_sample": 1}, {"window_days": 0}, {"louvain_resolution": 0}, {"damping": 1.0}],
)
def test_invalid_parameters_fail_at_fit(params: dict[str, Any]):
    """Nonsense parameters raise in fit (sklearn style), not deep inside an algorithm."""
    with pytest.raises(ValueError):
        InfluenceModel(**params).fit(two_cliques(size=3, gateways=1))


def test_empty_log_does_not_crash():
    """An empty community gives an empty graph, empty scores and a valid state."""
    log = ActivityLog.build([], now=NOW)
    assert interaction_graph(log).number_of_nodes() == 0
    model = InfluenceModel().fit(log)
    assert model.members_ == []
    assert all(model.top(metric, 5) == [] for metric in METRICS)
    assert InfluenceModel.from_state(model.state()).members_ == []


def test_single_member_log_does_not_crash():
    """One member talking to themselves gets all the influence and community 0."""
    chat = Chat()
    chat.reply("solo", chat.say("solo", "anyone here?"), reactions=2)
    model = InfluenceModel().fit(chat.log())
    assert model.influence_ == {"solo": pytest.approx(1.0)}
    assert model.bridges_ == {"solo": 0.0}
    assert model.communities_ == {"solo": 0}
    assert model.helpers_ == {"solo": 0.0}
    assert model.rising_ == {"solo": pytest.approx(1.0)}


# --- scale --------------------------------------------------------------------------------


@pytest.mark.slow
def test_graph_and_fit_scale_to_200k_messages_and_5k_members():
    """Building the graph and fitting work on a community of 5k members and 200k messages."""
    rng = np.random.default_rng(0)
    n_members, n_msgs, n_rx, n_mn = 5_000, 200_000, 100_000, 20_000
    popularity = rng.pareto(1.2, n_members) + 1
    p = popularity / popularity.sum()
    author = rng.choice(n_members, n_msgs, p=p).astype(np.int32)
    ts = np.sort(rng.uniform(NOW - 90 * DAY, NOW, n_msgs))
    parent = np.arange(n_msgs) - rng.integers(1, 50, n_msgs)
    parent = np.where((rng.random(n_msgs) < 0.5) & (parent >= 0), parent, -1).astype(np.int32)
    log = ActivityLog(
        members=[f"u{i}" for i in range(n_members)],
        channels=["c"],
        msg_member=author,
        msg_channel=np.zeros(n_msgs, np.int32),
        msg_ts=ts,
        msg_reply_to=parent,
        msg_reply_member=np.where(parent >= 0, author[np.maximum(parent, 0)], -1).astype(np.int32),
        msg_reactions=rng.poisson(0.5, n_msgs).astype(np.int32),
        msg_text=np.where(rng.random(n_msgs) < 0.2, "how do I start?", "an answer").tolist(),
        rx_member=rng.integers(0, n_members, n_rx).astype(np.int32),
        rx_author=rng.choice(n_members, n_rx, p=p).astype(np.int32),
        rx_ts=rng.uniform(NOW - 90 * DAY, NOW, n_rx),
        mn_member=rng.integers(0, n_members, n_mn).astype(np.int32),
        mn_target=rng.choice(n_members, n_mn, p=p).astype(np.int32),
        mn_ts=rng.uniform(NOW - 90 * DAY, NOW, n_mn),
        joined=np.full(n_members, np.nan),
        now=NOW,
    )
    graph = interaction_graph(log)
    assert graph.number_of_nodes() == n_members
    assert graph.number_of_edges() > 100_000

    model = InfluenceModel().fit(log)
    assert not model.bridges_exact_
    assert model.n_edges_ == graph.number_of_edges()
    assert len(model.influence_) == n_members
    assert sum(model.influence_.values()) == pytest.approx(1.0)
    assert all(np.isfinite(v) and v >= 0 for v in model.bridges_.values())
    sizes = np.bincount(list(model.communities_.values()))
    assert (np.diff(sizes) <= 0).all()
    most_popular = f"u{int(np.argmax(popularity))}"
    assert model.top("influence", 1)[0][0] == most_popular
    for metric in METRICS:
        assert len(model.top(metric, 10)) == 10
