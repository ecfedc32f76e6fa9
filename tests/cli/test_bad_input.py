"""Bad input found with real files and arguments: one line, a non-zero exit, nothing written.

Each case runs the `cohort` command as a user would (in-process) against a store
holding a community, a consenting member and a catalog, on a real SQLite file and on
a scratch database on the real PostgreSQL (whose 32-bit integers, 100-character
columns and NUL-free text SQLite does not enforce), and checks that the store is
exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from tests.process.conftest import ProcessDatabase

runner = CliRunner()

MESSAGE = {
    "id": "1",
    "type": "Default",
    "timestamp": "2024-05-01T10:00:00+00:00",
    "author": {"id": "9", "name": "a"},
    "content": "hi",
}


def cohort(folder: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["-c", str(folder / "config.toml"), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def discord_export(*messages: dict[str, object]) -> str:
    return json.dumps(
        {
            "guild": {"id": "g1", "name": "G"},
            "channel": {"id": "c1", "type": "GuildTextChat", "name": "general"},
            "messages": list(messages),
            "messageCount": len(messages),
        }
    )


def deep_export() -> str:
    depth = 10_000  # 20 KB: before the fix, a few hundred MB of parser memory
    return discord_export({**MESSAGE, "embeds": "@DEEP@"}).replace(
        '"@DEEP@"', "[" * depth + "]" * depth
    )


def deep_telegram_export() -> str:
    depth = 10_000
    message = {"id": 1, "type": "message", "date": "2024-05-01T10:00:00", "from_id": "user1",
               "text": "hi", "media": "@DEEP@"}  # fmt: skip
    chat = {"name": "G", "type": "private_supergroup", "id": 1, "messages": [message]}
    return json.dumps(chat).replace('"@DEEP@"', "[" * depth + "]" * depth)


FILES: dict[str, Callable[[], str]] = {
    "unknown-course.jsonl": lambda: (
        json.dumps(
            {
                "type": "purchase",
                "platform": "discord",
                "member": "u1",
                "course": "cobol-9000",
                "ts": "2024-05-02T10:00:00Z",
                "order": "o-1",
            }
        )
        + "\n"
    ),
    "huge-field.csv": lambda: "member,course,ts\ndiscord:u1," + "x" * 10_000_000 + ",2024-05-02\n",
    "huge-courses.csv": lambda: "id,title\nc1," + "x" * 10_000_000 + "\n",
    "nul-title.csv": lambda: 'id,title\nc1,"a\x00b"\n',
    "deep.json": deep_export,
    "deep-telegram.json": deep_telegram_export,
    "count.json": lambda: discord_export(
        {**MESSAGE, "reactions": [{"emoji": {"id": "", "name": "x"}, "count": 2**40}]}
    ),
    "content-list.json": lambda: discord_export({**MESSAGE, "content": ["hi"]}),
    "count-2-31.json": lambda: discord_export(
        {**MESSAGE, "reactions": [{"emoji": {"id": "", "name": "x"}, "count": 2**31}]}
    ),
    "nul-emoji.json": lambda: discord_export(
        {**MESSAGE, "reactions": [{"emoji": {"id": "", "name": "x\x00"}, "count": 3}]}
    ),
    "huge-amount.csv": lambda: "member,course,ts,amount\ndiscord:u1,rust-101,2024-05-02,1e23\n",
    "counts-add-up.json": lambda: discord_export(
        *(
            {**MESSAGE, "id": str(n), "reactions": [{"emoji": {"name": "x"}, "count": 2**31 - 1}]}
            for n in (1, 2, 3)
        )
    ),
}


@pytest.fixture
def store(tmp_path: Path, database: ProcessDatabase) -> ProcessDatabase:
    """A store with community g1, member u1 (consenting, one message) and course rust-101."""
    database.config()
    (tmp_path / "courses.toml").write_text(
        '[[courses]]\nid = "rust-101"\ntitle = "Rust"\n', encoding="utf-8"
    )
    events = [
        {
            "type": "consent",
            "platform": "discord",
            "community": "g1",
            "member": "u1",
            "profiling": True,
            "ts": "2024-04-30T09:00:00Z",
        },
        {
            "type": "message",
            "platform": "discord",
            "community": "g1",
            "channel": "c1",
            "member": "u1",
            "id": "m1",
            "ts": "2024-05-01T10:00:00Z",
            "text": "hello",
        },
    ]
    (tmp_path / "events.jsonl").write_text(
        "".join(json.dumps(event) + "\n" for event in events), encoding="utf-8"
    )
    assert cohort(tmp_path, "courses", "import", str(tmp_path / "courses.toml"))[0] == 0
    assert cohort(tmp_path, "import", "events", str(tmp_path / "events.jsonl"))[0] == 0
    for name, content in FILES.items():
        (tmp_path / name).write_text(content(), encoding="utf-8")
    return database


LONG = "A" * 10_000

CASES = [
    (["digest", "schedule", "--locale", "xx"], "--locale 'xx': not a supported language"),
    (["digest", "schedule", "--timezone", LONG], "--timezone: must be 1 to 64 characters"),
    (["digest", "schedule", "--timezone", "a:x:"], "--timezone 'a:x:': unknown timezone"),
    (["digest", "schedule", "--channel", LONG], "--channel: must be 1 to 100 characters"),
    (["digest", "schedule", "--channel", "c" * 101], "--channel: must be 1 to 100 characters"),
    (["digest", "run", "--period", "9999-01-01"], "--period '9999-01-01': must lie between"),
    (["digest", "run", "--period", "0001-01-01T00:00:00"], "--period '0001-01-01T00:00:00'"),
    (["funnel", "--days", "999999999999"], "--days 999999999999: at most"),
    (["privacy", "forget", "discord:never-seen", "--yes"], "holds no data about 'discord:never"),
    (["import", "events", "unknown-course.jsonl"], ":1: course: unknown course 'cobol-9000'"),
    (["import", "purchases", "huge-field.csv"], "huge-field.csv:2: bad CSV: field larger"),
    (["courses", "import", "huge-courses.csv"], "huge-courses.csv:2: bad CSV: field larger"),
    (["courses", "import", "nul-title.csv"], "nul-title.csv:2: title: contains a NUL"),
    (["import", "discord-export", "deep.json"], "deep.json:messages[0]: nested deeper than"),
    (
        ["import", "telegram-export", "deep-telegram.json"],
        "deep-telegram.json:messages[0]: nested deeper than",
    ),
    (["import", "discord-export", "count.json"], "count: 1099511627776 is larger than"),
    (["import", "discord-export", "content-list.json"], "content is not a string"),
    (["import", "discord-export", "count-2-31.json"], "count: 2147483648 is larger than"),
    (["import", "discord-export", "nul-emoji.json"], "emoji: contains a NUL character"),
    (["import", "purchases", "huge-amount.csv"], "huge-amount.csv:2: amount: 1e+23 is larger"),
]


@pytest.mark.parametrize(("args", "problem"), CASES, ids=[" ".join(c[0])[:40] for c in CASES])
def test_bad_input_is_one_line_a_failure_and_changes_nothing(
    store: ProcessDatabase, monkeypatch: pytest.MonkeyPatch, args: list[str], problem: str
) -> None:
    """Each bad argument or file: exit 1, one `error:` line naming it, the store unchanged."""
    monkeypatch.chdir(store.folder)
    before = store.dump()
    code, err = cohort(store.folder, *args)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert problem in lines[0]
    assert store.dump() == before


def test_reaction_counts_adding_up_past_2_31_are_stored(
    store: ProcessDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three messages with 2^31 - 1 reactions each: imported, the day's count not overflowed."""
    monkeypatch.chdir(store.folder)
    code, err = cohort(store.folder, "import", "discord-export", "counts-add-up.json")
    assert code == 0, err
    total = store.scalar("SELECT sum(anonymous_reactions) FROM channel_daily")
    assert total == 3 * (2**31 - 1)
