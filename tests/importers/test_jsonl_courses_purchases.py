"""Cohort JSONL events, course catalogs and purchase CSVs: streaming, atomic, idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Cohort
from bot.errors import InputFileError
from bot.importers.base import import_file
from bot.importers.courses import read_catalog
from bot.importers.events_jsonl import parse_events
from bot.importers.purchases import purchases_parser
from bot.store import schema as s
from bot.store.courses import list_courses, upsert_courses
from tests.helpers import count, snapshot

EVENTS = [
    {
        "type": "consent",
        "platform": "discord",
        "community": "g1",
        "member": "u1",
        "profiling": True,
        "ts": "2024-04-30T10:00:00Z",
    },
    {
        "type": "message",
        "platform": "discord",
        "community": "g1",
        "channel": "c1",
        "member": "u1",
        "name": "alice",
        "id": "m1",
        "ts": "2024-05-01T10:00:00Z",
        "text": "asyncio question",
        "mentions": ["u2"],
    },
    {
        "type": "reaction",
        "platform": "discord",
        "community": "g1",
        "channel": "c1",
        "member": "u2",
        "message": "m1",
        "emoji": "👍",
        "ts": "2024-05-01T10:01:00Z",
    },
    {
        "type": "join",
        "platform": "discord",
        "community": "g1",
        "member": "u3",
        "ts": "2024-05-01T11:00:00Z",
    },
    {
        "type": "leave",
        "platform": "discord",
        "community": "g1",
        "member": "u3",
        "ts": "2024-05-02T11:00:00Z",
    },
]


def jsonl(path: Path, objects: list[dict[str, object]], extra: str = "") -> Path:
    path.write_text(
        "\n".join(json.dumps(o, ensure_ascii=False) for o in objects) + "\n" + extra,
        encoding="utf-8",
    )
    return path


async def test_events_file_imports_once(cohort: Cohort, tmp_path: Path) -> None:
    """Importing the same JSONL twice changes nothing the second time."""
    path = jsonl(tmp_path / "events.jsonl", EVENTS)
    first = await import_file(cohort, path, parse_events)
    assert first.events == 5 and first.written.messages == 1
    before = await snapshot(cohort)
    second = await import_file(cohort, path, parse_events)
    assert second.written.messages == 0
    assert await snapshot(cohort) == before


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ("{not json", "invalid JSON"),
        ('{"type": "message", "platform": "discord"}', "community: required for type 'message'"),
        (
            '{"type": "join", "platform": "discord", "community": "g", "member": "u", '
            '"ts": "yesterday"}',
            "ts: not an ISO 8601 timestamp",
        ),
    ],
)
async def test_bad_line_names_file_and_line_and_writes_nothing(
    cohort: Cohort, tmp_path: Path, bad_line: str, problem: str
) -> None:
    """A malformed line aborts the whole file: error names file:line, database unchanged."""
    path = jsonl(tmp_path / "events.jsonl", EVENTS, extra=bad_line + "\n")
    before = await snapshot(cohort)
    with pytest.raises(InputFileError) as error:
        await import_file(cohort, path, parse_events, batch_size=2)
    assert str(error.value).startswith(f"{path}:6: {problem}")
    assert await snapshot(cohort) == before
    assert not cohort.gate.identifies("discord", "g1", "u1")


async def test_progress_is_reported_in_bytes(sqlite_cohort: Cohort, tmp_path: Path) -> None:
    """The importer reports bytes read, ending at the file size (drives the progress bar)."""
    path = jsonl(tmp_path / "events.jsonl", EVENTS * 1)
    seen: list[int] = []
    await import_file(sqlite_cohort, path, parse_events, on_progress=seen.append)
    assert seen and seen[-1] == path.stat().st_size and seen == sorted(seen)


CSV_CATALOG = """id,title,description,tags,level,language,price,currency,url
rust-101,Rust from Zero,Ownership and borrowing,rust;systems,Beginner,en,49,usd,https://x.test/r
py-zh,Python 入门,从零开始,"python, 中文",,zh,199.5,CNY,
"""


def test_csv_catalog_is_validated_and_normalised(tmp_path: Path) -> None:
    """CSV rows become courses: tags split and lower-cased, level and currency normalised."""
    path = tmp_path / "courses.csv"
    path.write_text(CSV_CATALOG, encoding="utf-8")
    records = read_catalog(path)
    assert [r.id for r in records] == ["rust-101", "py-zh"]
    assert records[0].tags == ["rust", "systems"] and records[0].level == "beginner"
    assert records[0].row()["currency"] == "USD"
    assert records[1].tags == ["python", "中文"] and records[1].url is None


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        (
            "c.csv",
            "id,title,price\nok,Fine,1\nbad id,Broken,1\n",
            "c.csv:3: id: course id 'bad id' contains a space",
        ),
        ("c.csv", "id,title,price\nok,Fine,-4\n", "c.csv:2: price: Input should be greater"),
        ("c.csv", "id,name\nok,Fine\n", "c.csv:1: missing column 'title'"),
        (
            "c.json",
            '[{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]',
            "c.json:[1]: id: duplicate course 'a' (also at [0])",
        ),
        (
            "c.json",
            '{"courses": [{"id": "a", "titel": "A"}]}',
            "c.json:courses[0]: title: Field required",
        ),
        ("c.json", '[{"id": "a",\n "title": }]', "c.json:2: invalid JSON"),
        (
            "c.toml",
            '[[courses]]\nid = "a"\ntitle = "A"\nlevel = "expert"\n',
            "c.toml:courses[0]: level: Input should be",
        ),
        ("c.yaml", "- id: a", "c.yaml: unsupported catalog format"),
    ],
)
def test_catalog_errors_name_file_and_entry(
    tmp_path: Path, name: str, content: str, where: str
) -> None:
    """Catalog errors name the file and the row or entry, in one line."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError) as error:
        read_catalog(path)
    assert str(error.value).startswith(f"{tmp_path}/{where}")


async def test_catalog_upsert_adds_updates_and_leaves_alone(cohort: Cohort, tmp_path: Path) -> None:
    """Re-importing a catalog changes only what changed; timestamps of others stay put."""
    path = tmp_path / "courses.csv"
    path.write_text(CSV_CATALOG, encoding="utf-8")
    rows = [r.row() for r in read_catalog(path)]
    async with cohort.store.write() as conn:
        first = await upsert_courses(conn, rows)
    before = await snapshot(cohort)
    async with cohort.store.write() as conn:
        again = await upsert_courses(conn, rows)
    assert (first.added, again.added, again.updated, again.unchanged) == (2, 0, 0, 2)
    assert await snapshot(cohort) == before
    rows[1] = {**rows[1], "title": "Python 入门实战"}
    async with cohort.store.write() as conn:
        changed = await upsert_courses(conn, rows)
    assert (changed.updated, changed.unchanged) == (1, 1)
    async with cohort.store.read() as conn:
        titles = [c.title for c in await list_courses(conn)]
    assert titles == ["Python 入门实战", "Rust from Zero"]


async def test_purchases_csv(cohort: Cohort, tmp_path: Path) -> None:
    """Purchases import once; naive timestamps are UTC; buyers without consent stay anonymous."""
    async with cohort.store.write() as conn:
        await conn.execute(s.courses.insert().values(id="rust-101", title="Rust", tags=[]))
    await import_file(cohort, jsonl(tmp_path / "c.jsonl", EVENTS[:1]), parse_events)
    path = tmp_path / "purchases.csv"
    path.write_text(
        "member,course,ts,amount,currency\n"
        "discord:u1,rust-101,2024-05-03T10:00:00Z,49,USD\n"
        "discord:u9,rust-101,2024-05-03 12:00:00,,\n",
        encoding="utf-8",
    )
    parser = purchases_parser({"rust-101"})
    report = await import_file(cohort, path, parser)
    assert report.written.interactions == 2
    again = await import_file(cohort, path, parser)
    assert again.written.interactions == 0
    async with cohort.store.read() as conn:
        bought = (await conn.execute(select(s.interactions.c.member_id, s.interactions.c.ts))).all()
    assert sum(1 for b in bought if b.member_id is None) == 1
    assert {b.ts.hour for b in bought} == {10, 12}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            "member,course,ts\ndiscord:u1,nope,2024-05-03T10:00:00Z\n",
            ":2: course: unknown course 'nope'",
        ),
        (
            "member,course,ts\nu1,rust-101,2024-05-03T10:00:00Z\n",
            ":2: member 'u1': expected platform:id",
        ),
        (
            "member,course,ts\nslack:u1,rust-101,2024-05-03T10:00:00Z\n",
            ":2: member 'slack:u1': unknown platform",
        ),
        ("member,course\ndiscord:u1,rust-101\n", ":1: missing column 'ts'"),
        (
            "member,course,ts,amount\ndiscord:u1,rust-101,2024-05-03T10:00:00Z,lots\n",
            ":2: amount: not a number",
        ),
    ],
)
async def test_purchase_errors_name_the_line(
    sqlite_cohort: Cohort, tmp_path: Path, body: str, problem: str
) -> None:
    """Bad purchase rows are named by line and nothing of the file is written."""
    path = tmp_path / "p.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputFileError) as error:
        await import_file(sqlite_cohort, path, purchases_parser({"rust-101"}))
    assert str(error.value).startswith(f"{path}{problem}")
    assert await count(sqlite_cohort, s.interactions) == 0
