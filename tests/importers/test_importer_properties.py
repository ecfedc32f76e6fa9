"""Property tests: whatever an importer is fed, it yields events or one InputFileError.

Never another exception (a traceback for the operator), whatever the JSON values
or CSV cells hold.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ijson.common import JSONError

from bot.errors import InputFileError
from bot.importers.base import ParseStats
from bot.importers.courses import read_catalog
from bot.importers.discord_export import parse_discord_export
from bot.importers.events_jsonl import events_parser
from bot.importers.purchases import purchases_parser
from bot.importers.telegram_export import parse_telegram_export

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
FIELDS = ["id", "type", "timestamp", "author", "content", "reactions", "mentions", "embeds"]
TELEGRAM_FIELDS = [
    "id",
    "type",
    "date",
    "date_unixtime",
    "from",
    "from_id",
    "actor_id",
    "action",
    "text",
    "text_entities",
    "reply_to_message_id",
    "reactions",
    "edited_unixtime",
]


def drain(parser: Any, raw: bytes) -> None:
    with contextlib.suppress(InputFileError, JSONError):
        list(parser(io.BytesIO(raw), "f", ParseStats()))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=len(FIELDS)))
def test_discord_messages_of_any_shape_never_crash(message: dict[str, Any]) -> None:
    """Any JSON in any message field: events or an InputFileError, nothing else."""
    doc = {
        "guild": {"id": "g", "name": "G"},
        "channel": {"id": "c", "type": "GuildTextChat"},
        "messages": [
            {"type": "Default", "timestamp": "2024-05-01T10:00:00+00:00", "id": "1", **message}
        ],
    }
    drain(parse_discord_export, json.dumps(doc).encode())


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.sampled_from(TELEGRAM_FIELDS), JSON, max_size=len(TELEGRAM_FIELDS)),
    st.sampled_from(["private_supergroup", "public_supergroup", "private_group", "personal_chat"]),
)
def test_telegram_messages_of_any_shape_never_crash(message: dict[str, Any], kind: str) -> None:
    """Any JSON in any Telegram Desktop message field: events or an InputFileError."""
    doc = {
        "name": "Group",
        "type": kind,
        "id": 1678203345,
        "messages": [
            {
                "id": 2,
                "type": "message",
                "date": "2024-05-01T12:00:15",
                "date_unixtime": "1714557615",
                "from": "Alice",
                "from_id": "user5012345671",
                "text": "hello",
                **message,
            }
        ],
    }
    drain(parse_telegram_export, json.dumps(doc).encode())


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=10), JSON, max_size=8))
def test_jsonl_lines_of_any_shape_never_crash(line: dict[str, Any]) -> None:
    """Any JSON object as an event line: an event or an InputFileError."""
    drain(events_parser({"rust-101"}), json.dumps(line).encode() + b"\n")


CELL = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(CELL, CELL, CELL), max_size=4))
def test_purchase_csv_rows_of_any_text_never_crash(cells: list[tuple[str, str, str]]) -> None:
    """Any cell text in a purchases CSV: purchases or an InputFileError."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["member", "course", "ts"])
    writer.writerows(cells)
    drain(purchases_parser({"rust-101"}), text.getvalue().encode())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.dictionaries(st.text(max_size=8), JSON, max_size=5), max_size=3))
def test_course_catalogs_of_any_shape_never_crash(
    tmp_path: Path, courses: list[dict[str, Any]]
) -> None:
    """Any JSON course list: records or an InputFileError."""
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(courses), encoding="utf-8")
    with contextlib.suppress(InputFileError):
        read_catalog(path)
