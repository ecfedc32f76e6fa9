"""`cohort funnel [--json]` on imported data with picks shown to members."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import Cohort
from bot.config import load_settings
from bot.core.stats import rate_difference, wilson
from bot.demo import synthetic
from bot.store.communities import find_community
from bot.store.members import find_member
from bot.store.tracking import Shown, record_impressions
from tests.cli.test_cli import CATALOG, cohort, write_config


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def prepared(folder: Path) -> tuple[str, synthetic.Community]:
    """A config and an imported community (no purchases yet), with picks shown.

    Consenting members alternate between the personal variant and the holdout; each
    sees their community's first course a day ago, and the first five personal
    members a second one eight days ago.
    """
    config = str(write_config(folder))
    community = synthetic.generate("discord", members=30, days=14, seed=11)
    events = folder / "events.jsonl"
    synthetic.write_jsonl(events, synthetic.events(community, include_purchases=False))
    assert cohort("-c", config, "courses", "import", str(CATALOG))[0] == 0
    assert cohort("-c", config, "import", "events", str(events))[0] == 0
    consenting = [m.id for m in community.members if m.profiling]
    now = datetime.now(UTC)

    async def show() -> None:
        app = await Cohort.build(load_settings(Path(config)))
        try:
            async with app.store.read() as conn:
                place = await find_community(conn, "discord", community.id)
                assert place is not None
                ids = [(await find_member(conn, "discord", m)) for m in consenting]
            shown = []
            for n, member in enumerate(ids):
                assert member is not None
                variant = "personal" if n % 2 == 0 else "holdout"
                shown.append(Shown(member.id, "rust-101", 1, variant, "discord", place.id))
            await app.store.run_write(
                lambda conn: record_impressions(conn, shown, now - timedelta(days=1))
            )
            older = [
                Shown(m.id, "python-101", 2, "personal", "discord", place.id)
                for m in ids[0:10:2]
                if m is not None
            ]
            await app.store.run_write(
                lambda conn: record_impressions(conn, older, now - timedelta(days=8))
            )
        finally:
            await app.close()

    asyncio.run(show())
    return config, community


def buy(folder: Path, config: str, buyers: list[str]) -> None:
    """Import purchases of rust-101 (today) by these Discord members with the CSV importer."""
    path = folder / "purchases.csv"
    today = datetime.now(UTC).isoformat()
    lines = ["member,course,ts,amount,currency,order"]
    lines += [f"discord:{m},rust-101,{today},49,USD,ord-{m}" for m in buyers]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = cohort("-c", config, "import", "purchases", str(path))
    assert code == 0, err


def test_funnel_json_shape_and_counts(tmp_path: Path) -> None:
    """`funnel --json` attributes the imported purchases and reports each variant and the lift."""
    config, community = prepared(tmp_path)
    consenting = [m.id for m in community.members if m.profiling]
    personal, holdout = consenting[0::2], consenting[1::2]
    buy(tmp_path, config, [*personal[:3], holdout[0]])
    code, out, err = cohort("-c", config, "funnel", "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    assert set(data) == {"since", "community", "variants", "lifts", "attributed_now"}
    assert data["since"] is None and data["community"] is None
    assert data["attributed_now"] == {"by_token": 0, "last_touch": 4, "organic": 0}
    rows = {row["variant"]: row for row in data["variants"]}
    assert set(rows) == {"personal", "holdout"}
    row = rows["personal"]
    assert set(row) == {
        "variant",
        "impressions",
        "clicked",
        "purchases",
        "exposed_members",
        "converted_members",
        "click_rate",
        "purchase_rate",
        "member_conversion",
    }
    assert row["impressions"] == len(personal) + 5
    assert (row["exposed_members"], row["converted_members"], row["purchases"]) == (
        len(personal),
        3,
        3,
    )
    assert row["clicked"] == 0 and row["click_rate"]["estimate"] == row["click_rate"]["low"] == 0
    expected = wilson(3, len(personal))
    assert expected is not None
    assert row["member_conversion"] == {
        "estimate": expected.estimate,
        "low": expected.low,
        "high": expected.high,
    }
    assert rows["holdout"]["converted_members"] == 1
    [lift] = data["lifts"]
    assert (lift["name"], lift["treatment"], lift["control"]) == (
        "recommend",
        "personal",
        "holdout",
    )
    difference = rate_difference(3, len(personal), 1, len(holdout))
    assert difference is not None
    assert lift["difference"]["estimate"] == difference.estimate
    assert lift["ratio"]["estimate"] > 1 and lift["note"] == ""
    again = json.loads(cohort("-c", config, "funnel", "--json")[1])
    assert again["attributed_now"] == {"by_token": 0, "last_touch": 0, "organic": 0}
    assert again["variants"] == data["variants"]


def test_funnel_table(tmp_path: Path) -> None:
    """The default output is a table per variant and a line for the lift."""
    config, community = prepared(tmp_path)
    consenting = [m.id for m in community.members if m.profiling]
    buy(tmp_path, config, [consenting[0], consenting[1]])
    code, out, err = cohort("-c", config, "funnel")
    assert code == 0, err
    text = flat(out)
    assert "Funnel" in text
    for column in ("variant", "impressions", "clicked", "purchases", "members", "converted"):
        assert column in text
    assert "personal" in text and "holdout" in text
    assert "lift recommend (personal vs holdout): conversion" in text
    assert " pts [" in text and "×" in text


def test_funnel_days_and_community(tmp_path: Path) -> None:
    """`--days` leaves out older picks; `--community` names one; an unknown one is an error."""
    config, community = prepared(tmp_path)
    consenting = [m.id for m in community.members if m.profiling]
    code, out, _ = cohort("-c", config, "funnel", "--json", "--days", "7")
    assert code == 0
    rows = {row["variant"]: row for row in json.loads(out)["variants"]}
    assert rows["personal"]["impressions"] == len(consenting[0::2])  # not the 8-day-old ones
    code, out, _ = cohort(
        "-c", config, "funnel", "--json", "--community", f"discord:{community.id}"
    )
    assert code == 0 and json.loads(out)["community"] == f"discord:{community.id}"
    code, out, err = cohort("-c", config, "funnel", "--community", "discord:1")
    assert (code, out) == (1, "")
    assert err.strip() == "error: unknown community 'discord:1' (expected platform:id)"


def test_funnel_before_any_pick(tmp_path: Path) -> None:
    """An empty store says no picks were shown yet."""
    config = str(write_config(tmp_path))
    code, out, err = cohort("-c", config, "funnel")
    assert code == 0, err
    assert "no picks shown yet" in out
    code, out, _ = cohort("-c", config, "funnel", "--json")
    assert json.loads(out)["variants"] == [] and json.loads(out)["lifts"] == []
