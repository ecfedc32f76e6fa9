"""`TrainedModel`: the one facade services and the CLI use over a trained bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.training.artifacts import NoModel, save_bundle
from bot.training.facade import CourseNotInModel, TrainedModel, locale_languages
from bot.training.recommender import build_recommender
from recsys.policy import Pick
from tests.training.conftest import COURSES, MEMBERS, PLAIN, tiny_bundle, tiny_model


def courses(picks: list[Pick]) -> list[str]:
    """The course ids of a list of picks."""
    return [pick.course for pick in picks]


def test_recommend_is_the_policys_picks_with_the_members_languages() -> None:
    """Picks are exactly what the policy recommender gives with the trained languages."""
    model = tiny_model()
    bundle = model.bundle
    policy = build_recommender(bundle, PLAIN)
    expected = policy.recommend(list(MEMBERS), 3, languages=bundle.member_languages, day="d")
    assert model.recommend(list(MEMBERS), 3, day="d") == expected
    [picks] = model.recommend(["1"], 5)
    assert picks[0].course == "rust-async" and picks[0].reason.kind == "topics"
    assert "rust-101" not in courses(picks)  # owned


def test_languages_come_from_training_else_from_the_locale() -> None:
    """A member's trained languages filter picks; a locale fills in only when none is known."""
    model = tiny_model()
    assert "py-zh" not in courses(model.recommend(["2"], 5)[0])  # trained: English only
    assert "py-zh" in courses(model.recommend(["2"], 5, filter_languages=False)[0])
    assert "py-zh" in courses(model.recommend(["3"], 5)[0])  # no language known: no filter
    assert "py-zh" not in courses(model.recommend(["3"], 5, locales={"3": "en-US"})[0])
    assert "py-zh" in courses(model.recommend(["3"], 5, locales={"3": "zh_CN"})[0])
    # The trained languages win over the locale.
    assert "py-zh" not in courses(model.recommend(["2"], 5, locales={"2": "zh"})[0])
    assert locale_languages("zh-Hans_CN") == ["en", "zh"]


def test_excluded_courses_are_never_picked() -> None:
    """Courses excluded for a member (other identity owns it, "not for me") never appear."""
    model = tiny_model()
    [picks] = model.recommend(["1"], 5, exclude={"1": {"rust-async", "k8s"}})
    assert not {"rust-async", "k8s", "rust-101"} & set(courses(picks))


def test_members_and_courses_the_model_knows() -> None:
    """Known members and courses, a person's key (lowest known identity), the catalog."""
    model = tiny_model()
    assert model.member_keys() == list(MEMBERS)
    assert model.knows("2") and not model.knows("7")
    assert model.member_key([9, 3, 2]) == "2" and model.member_key([9]) is None
    assert model.languages("2") == ["en"] and model.languages("1") is None
    assert model.knows_course("k8s") and not model.knows_course("go-101")
    assert [c.id for c in model.courses()] == list(COURSES)
    course = model.course("py-zh")
    assert course is not None and course.language == "zh" and model.course("go") is None
    assert model.version == model.bundle.version


def test_top_members_ranks_by_score_and_leaves_owners_out() -> None:
    """Top members for a course: best score first, owners and non-candidates left out."""
    model = tiny_model()
    everyone = set(MEMBERS)
    assert model.top_members("rust-async", 3, among=everyone) == ["1", "2", "3"]
    assert model.top_members("py-zh", 3, among=everyone) == ["2", "1", "3"]
    assert model.top_members("py-zh", 1, among=everyone) == ["2"]
    assert "2" not in model.top_members("py-101", 3, among=everyone)  # 2 owns it
    assert model.top_members("rust-async", 3, among={"3", "42"}) == ["3"]
    assert model.top_members("rust-async", 3, among=set()) == []
    with pytest.raises(CourseNotInModel):
        model.top_members("go-101", 3, among=everyone)


def test_channel_picks_follow_what_the_channel_talks_about() -> None:
    """A channel talking Python gets Python courses first; silence falls back (None)."""
    model = tiny_model()
    catalog = set(COURSES)
    picks = model.channel_picks("python pip pytest questions", 2, among=catalog)
    assert picks == ["py-101", "py-zh"]
    narrowed = model.channel_picks("python pip pytest", 5, among={"py-zh", "k8s"})
    assert narrowed is not None and narrowed[0] == "py-zh"
    assert model.channel_picks("   ", 3, among=catalog) is None


def test_explain_gives_the_reason_of_a_pick() -> None:
    """`explain` is the reason the pick carries; a course not among the candidates has none."""
    model = tiny_model()
    [picks] = model.recommend(["1"], 5)
    for pick in picks:
        assert model.explain("1", pick.course) == pick.reason
    assert model.explain("1", "rust-101") is None  # owned: never a pick


def test_community_view_lists_what_the_communities_hold() -> None:
    """Per community: the member's rule segments (and segment, influence when trained)."""
    model = tiny_model()
    assert model.community_view("1") == {"discord:9": {"rule_segments": ["champions"]}}
    assert model.community_view("2") == {}
    community = model.community("discord:9")
    assert community is not None and community.name == "Rustaceans"
    assert model.community("telegram:1") is None and list(model.communities) == ["discord:9"]


def test_forget_removes_members_everywhere_in_memory() -> None:
    """After `forget` the member is unknown, keeps no language or rule, and gets cold picks."""
    model = tiny_model()
    model.recommend(["2"], 3)  # the policy is built before forgetting
    model.forget(["2"])
    assert not model.knows("2") and model.languages("2") is None
    assert model.member_keys() == ["1", "3"]
    assert model.top_members("rust-async", 3, among=set(MEMBERS)) == ["1", "3"]
    [cold] = model.recommend(["2"], 5)
    assert "py-101" in courses(cold)  # no longer known to own it
    model.forget(["1"])
    assert model.community_view("1") == {}


def test_load_reads_the_current_version(tmp_path: Path) -> None:
    """`TrainedModel.load` reads what `current` points at; before any training it is NoModel."""
    with pytest.raises(NoModel):
        TrainedModel.load(tmp_path / "none", PLAIN)
    bundle = tiny_bundle()
    folder = save_bundle(bundle, tmp_path / "artifacts")
    loaded = TrainedModel.load(tmp_path / "artifacts", PLAIN)
    assert loaded.version == bundle.version and loaded.member_keys() == list(MEMBERS)
    assert loaded.recommend(["1"], 3) == tiny_model().recommend(["1"], 3)
    assert TrainedModel.read(folder, PLAIN).version == bundle.version
