"""`cohort train / recommend / segments / influencers / evaluate` on imported demo data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.i18n import segment_name, translator
from bot.training.facade import TrainedModel
from tests.cli.test_cli import cohort


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline demo's store (two communities), trained once for the module."""
    folder = tmp_path_factory.mktemp("demo")
    code, _, err = cohort(
        "demo", "--dir", str(folder), "--members", "30", "--days", "21", "--store-only"
    )
    assert code == 0, err
    config = folder / "config.toml"
    with config.open("a", encoding="utf-8") as handle:
        handle.write("\n[recsys]\nvalidation_members = 200\n")
    code, out, err = cohort("-c", str(config), "train", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["members"] > 0 and report["courses"] == 30  # the demo catalog
    return folder


def member_ref(demo: Path, platform: str = "discord") -> str:
    with sqlite3.connect(demo / "cohort.db") as conn:
        (platform_id,) = conn.execute(
            "select m.platform_id from members m join memberships ms on ms.member_id = m.id "
            "where m.platform = ? and ms.consent_profiling = 1 order by m.id limit 1",
            (platform,),
        ).fetchone()
    return f"{platform}:{platform_id}"


def test_recommend_one_member_as_json(demo: Path) -> None:
    """A consenting member gets k picks with scores in [0, 1] and a reason each."""
    code, out, err = cohort(
        "-c", str(demo / "config.toml"), "recommend", member_ref(demo), "--k", "3", "--json"
    )
    assert code == 0, err
    answer = json.loads(out)
    assert answer["member"] == member_ref(demo)
    assert len(answer["courses"]) == 3
    assert all(0 <= c["score"] <= 1 and c["why"] for c in answer["courses"])


def test_recommend_table_for_a_telegram_member(demo: Path) -> None:
    """The default output is a table naming the member and the courses."""
    ref = member_ref(demo, "telegram")
    code, out, _ = cohort("-c", str(demo / "config.toml"), "recommend", ref)
    assert code == 0
    assert f"picks for {ref}" in out and "why" in out


def test_recommend_all_streams_one_line_per_member(demo: Path) -> None:
    """--all --format jsonl writes one JSON object per stored, consenting member."""
    code, out, _ = cohort(
        "-c", str(demo / "config.toml"), "recommend", "--all", "--k", "2", "--format", "jsonl"
    )
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    with sqlite3.connect(demo / "cohort.db") as conn:
        (consenting,) = conn.execute(
            "select count(distinct member_id) from memberships where consent_profiling = 1"
        ).fetchone()
    assert len(lines) == consenting
    assert all(line["member"].split(":")[0] in {"discord", "telegram"} for line in lines)
    assert all(1 <= len(line["courses"]) <= 2 for line in lines)


def test_recommend_refuses_a_member_who_never_consented(demo: Path) -> None:
    """Someone never stored gets a clear one-line error and exit 1."""
    code, _, err = cohort("-c", str(demo / "config.toml"), "recommend", "discord:42")
    assert code == 1 and "not a stored member" in err


def test_recommend_needs_a_member_or_all(demo: Path) -> None:
    """Giving neither (or both) is a usage error."""
    code, _, err = cohort("-c", str(demo / "config.toml"), "recommend")
    assert code == 2 and "give a member" in err


def test_segments_and_influencers(demo: Path) -> None:
    """Both communities have named segments, rule segments and ranked influencers."""
    config = str(demo / "config.toml")
    code, out, _ = cohort("-c", config, "segments", "--json")
    assert code == 0
    segments = json.loads(out)
    assert {entry["community"].split(":")[0] for entry in segments} == {"discord", "telegram"}
    assert all(
        entry["segments"] and set(entry["rules"]) == {"newcomers", "recently_inactive", "champions"}
        for entry in segments
    )
    code, out, _ = cohort("-c", config, "influencers", "--top", "3", "--by", "helpers", "--json")
    assert code == 0
    tops = json.loads(out)
    assert all(1 <= len(entry["top"]) <= 3 for entry in tops)
    helpers = [row["helpers"] for row in tops[0]["top"]]
    assert helpers == sorted(helpers, reverse=True)


def test_segments_are_named_in_the_communitys_language(demo: Path) -> None:
    """A community set to Chinese sees Chinese segment names; the others stay English."""
    config = str(demo / "config.toml")
    code, out, _ = cohort("-c", config, "segments", "--json")
    assert code == 0
    english = {entry["community"]: entry for entry in json.loads(out)}
    place = next(key for key in english if key.startswith("telegram:"))
    code, _, err = cohort(
        "-c", config, "digest", "schedule", "--community", place, "--locale", "zh"
    )
    assert code == 0, err
    try:
        code, out, _ = cohort("-c", config, "segments", "--json")
        assert code == 0
        chinese = {entry["community"]: entry for entry in json.loads(out)}
        code, table, _ = cohort("-c", config, "segments", "--community", place)
    finally:
        cohort("-c", config, "digest", "schedule", "--community", place, "--locale", "en")
    assert chinese[place]["locale"] == "zh_Hans"
    settings = load_settings(demo / "config.toml")
    model = TrainedModel.load(settings.artifacts_path, settings.recommend)
    described = model.communities[place].segments
    assert described is not None
    t = translator("zh_Hans")
    names = [s["name"] for s in chinese[place]["segments"]]
    assert names == [segment_name(t, s) for s in described.describe()]
    assert names != [s["name"] for s in english[place]["segments"]]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in name) for name in names)
    assert names[0][:2] in table  # the table too (long names are cut or wrapped)
    others = [key for key in english if key != place]
    assert all(chinese[key] == english[key] for key in others)


def test_unknown_community_is_named(demo: Path) -> None:
    """Asking for a community the model does not know lists the ones it does."""
    code, _, err = cohort("-c", str(demo / "config.toml"), "segments", "--community", "discord:1")
    assert code == 1 and "unknown community 'discord:1'" in err


def test_evaluate_reports_every_ranker(demo: Path) -> None:
    """Evaluation compares Cohort's rankers with popularity on a temporal split."""
    code, out, err = cohort("-c", str(demo / "config.toml"), "evaluate", "--k", "5", "--json")
    assert code == 0, err
    report = json.loads(out)
    names = [r["ranker"] for r in report["results"]]
    assert names[:5] == ["popularity", "content", "chat", "itemitem", "blend"]
    assert all(0 <= r["ndcg"] <= 1 and 0 <= r["coverage"] <= 1 for r in report["results"])


def chat_only_store(folder: Path, members: int) -> Path:
    """A community that talks (each member about one topic, in turns) and bought nothing."""
    topics = ["rust", "python", "kubernetes", "react"]
    courses = [{"id": f"{t}-course", "title": f"{t.title()} course", "tags": [t]} for t in topics]
    (folder / "courses.json").write_text(json.dumps(courses), encoding="utf-8")
    lines = []
    base = {"platform": "discord", "community": "g1"}
    for m in range(members):
        lines.append(
            {
                **base,
                "type": "consent",
                "member": f"u{m}",
                "profiling": True,
                "ts": "2024-01-01T00:00:00Z",
            }
        )
    for day in range(1, 29):
        for m in range(members):
            topic = topics[m % len(topics)] if day % 5 else topics[(m + 1) % len(topics)]
            lines.append(
                {
                    **base,
                    "channel": "c1",
                    "type": "message",
                    "id": f"{day}-{m}",
                    "member": f"u{m}",
                    "ts": f"2024-01-{day:02d}T10:{m % 60:02d}:00Z",
                    "text": f"question about #{topic} today",
                }
            )
    (folder / "events.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8"
    )
    config = folder / "config.toml"
    config.write_text('[database]\nurl = "sqlite+aiosqlite:///cohort.db"\n', encoding="utf-8")
    for args in (
        ("courses", "import", str(folder / "courses.json")),
        ("import", "events", str(folder / "events.jsonl")),
    ):
        code, _, err = cohort("-c", str(config), *args)
        assert code == 0, err
    return config


def test_evaluate_without_purchases_measures_what_members_talk_about_next(
    tmp_path: Path,
) -> None:
    """No purchases: evaluation uses later chat as the target instead of refusing."""
    config = chat_only_store(tmp_path, members=40)
    code, out, err = cohort("-c", str(config), "evaluate", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["split"].startswith("later chat")
    results = {r["ranker"]: r for r in report["results"]}
    assert results["chat"]["members"] == 40
    assert results["chat"]["ndcg"] > results["popularity"]["ndcg"]
    assert "members evaluated" not in report["warning"]  # enough members; 4 courses is small


def test_evaluate_warns_when_too_few_members_count(tmp_path: Path) -> None:
    """A handful of members gives figures, and a warning that they mean little."""
    config = chat_only_store(tmp_path, members=8)
    code, _, err = cohort("-c", str(config), "evaluate")
    assert code == 0, err
    assert "only 8 members evaluated" in err


def test_commands_explain_when_nothing_is_trained(tmp_path: Path) -> None:
    """Before `cohort train`, recommend says so instead of crashing."""
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "sqlite+aiosqlite:///cohort.db"\n', encoding="utf-8")
    code, _, err = cohort("-c", str(config), "segments")
    assert code == 1 and "run `cohort train`" in err


def test_with_chat_only_picks_cite_what_the_member_said(tmp_path: Path) -> None:
    """No purchases: picks come from talk, say so, and nothing is called new."""
    config = chat_only_store(tmp_path, members=12)
    code, _, err = cohort("-c", str(config), "train")
    assert code == 0, err
    code, out, err = cohort("-c", str(config), "recommend", "discord:u0", "--k", "2", "--json")
    assert code == 0, err
    picks = json.loads(out)["courses"]
    assert picks[0]["course"] == "rust-course"
    assert picks[0]["why"].startswith("you talked about rust in ")
    assert not any("new in the catalog" in pick["why"] for pick in picks)


def test_the_attention_setting_adds_the_sequence_model_to_the_blend(demo: Path) -> None:
    """`[recsys] attention = true` reaches the blend; on a small store it is not trained."""
    text = (demo / "config.toml").read_text("utf-8")
    config = demo / "attention.toml"  # same store; its own model folder
    config.write_text(
        text.replace(
            "[recsys]\n",
            '[recsys]\nattention = true\nattention_epochs = 2\nartifacts_dir = "attention"\n',
            1,
        ),
        "utf-8",
    )
    assert load_settings(config).recsys.attention_epochs == 2
    code, out, err = cohort("-c", str(config), "train", "--json")
    assert code == 0, err
    weights = json.loads(out)["blend_weights"]
    # A few hundred purchases are far below the 20,000 transitions it needs: no weight.
    assert weights["attention"] == 0
