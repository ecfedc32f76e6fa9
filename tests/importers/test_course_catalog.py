"""Course catalogs: empty descriptions, ids with symbols, and one-line errors for bad ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.telegram.commands import parse_args
from bot.app import Cohort
from bot.core.commands import BY_NAME
from bot.domain.codec import decode, encode
from bot.errors import InputFileError
from bot.importers.base import import_file
from bot.importers.courses import read_catalog
from bot.importers.purchases import purchases_parser
from bot.store import schema as s
from bot.store.courses import list_courses, upsert_courses
from tests.helpers import count, purchase


def test_empty_description_cell_in_csv_is_accepted(tmp_path: Path) -> None:
    """An empty description cell in a CSV catalog is an empty description, not an error."""
    path = tmp_path / "courses.csv"
    path.write_text("id,title,description,tags\nC1,Course 1,,\nC2,Course 2, ,x\n", "utf-8")
    records = read_catalog(path)
    assert [(r.id, r.description) for r in records] == [("C1", ""), ("C2", "")]
    assert records[0].row()["description"] == ""


@pytest.mark.parametrize("value", ['""', "null"])
def test_empty_description_in_json_is_accepted(tmp_path: Path, value: str) -> None:
    """`"description": ""` (or null) in a JSON catalog is an empty description."""
    path = tmp_path / "courses.json"
    path.write_text(f'[{{"id": "c1", "title": "Course 1", "description": {value}}}]', "utf-8")
    [record] = read_catalog(path)
    assert record.description == "" and record.row()["description"] == ""


async def test_ids_with_symbols_import_and_round_trip(cohort: Cohort, tmp_path: Path) -> None:
    """Ids such as c#, c++, .net and python-入门 import, are stored as given and buy-able."""
    ids = ["c#", "c++", ".net", "node.js", "python-入门"]
    path = tmp_path / "courses.toml"
    path.write_text(
        "".join(f'[[courses]]\nid = "{i}"\ntitle = "About {i}"\n' for i in ids), "utf-8"
    )
    records = read_catalog(path)
    async with cohort.store.write() as conn:
        await upsert_courses(conn, [r.row() for r in records])
    async with cohort.store.read() as conn:
        assert sorted(c.id for c in await list_courses(conn)) == sorted(ids)
    purchases = tmp_path / "purchases.csv"
    purchases.write_text(
        "member,course,ts\ndiscord:u1,c#,2024-05-01T10:00:00Z\ndiscord:u1,c++,2024-05-01T11:00:00Z\n",
        "utf-8",
    )
    await import_file(cohort, purchases, purchases_parser(set(ids)))
    assert await count(cohort, s.interactions) == 2


def test_symbol_ids_survive_event_codec_and_command_arguments() -> None:
    """A `c#` course id survives JSONL purchase events and Telegram /promote arguments."""
    event = purchase(course="c#")
    assert decode(encode(event)) == event
    assert parse_args(BY_NAME["promote"], ["c#", "top:5"]) == {"course": "c#", "audience": "top:5"}


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("id,title\nok,Fine\nbad id,Broken\n", "c.csv:3: id: course id 'bad id' contains a space"),
        ("id,title\n,Nameless\n", "c.csv:2: id: course id is empty"),
        (f"id,title\n{'x' * 101},Long\n", "c.csv:2: id: course id longer than 100 characters"),
    ],
)
def test_bad_ids_are_one_clear_line(tmp_path: Path, content: str, where: str) -> None:
    """An id Cohort cannot use is refused in one line naming the file, the row and why."""
    path = tmp_path / "c.csv"
    path.write_text(content, "utf-8")
    with pytest.raises(InputFileError) as error:
        read_catalog(path)
    message = str(error.value)
    assert message.startswith(f"{tmp_path}/{where}") and "\n" not in message
