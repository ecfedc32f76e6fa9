"""The Telegram Desktop importer streams through `bot.importers.json_stream`, as the
Discord one does: a field it ignores that nests thousands of levels deep is one clear
error, in bounded memory, wherever it is (a message, an account section, a skipped chat)."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.errors import InputFileError
from bot.importers.base import ParseStats
from bot.importers.json_stream import MAX_DEPTH
from bot.importers.telegram_export import parse_telegram_export

FIXTURES = Path(__file__).parent.parent / "fixtures"
DEPTH = 3_000  # 6 KB of brackets; JSON-path parsing holds ~20 MB of prefixes for it
PEAK_LIMIT = 4 * 1024 * 1024
DEEP = "@DEEP@"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def telegram_message_field() -> dict[str, Any]:
    doc = load(FIXTURES / "telegram" / "supergroup.json")
    doc["messages"][1]["media_spoiler"] = DEEP
    return doc


def telegram_account_section() -> dict[str, Any]:
    doc = load(FIXTURES / "telegram" / "account.json")
    doc["personal_information"] = {"user_id": 1, "bio": DEEP}
    return doc


def telegram_skipped_chat() -> dict[str, Any]:
    doc = load(FIXTURES / "telegram" / "account.json")
    doc["chats"]["list"][0]["messages"][0]["sticker_emoji"] = DEEP  # a personal chat
    return doc


CASES: list[tuple[Callable[[], dict[str, Any]], str]] = [
    (telegram_message_field, "messages[1]"),
    (telegram_account_section, "personal_information"),
    (telegram_skipped_chat, "chats.list[0].messages[0]"),
]


@pytest.mark.parametrize(
    ("make", "where"),
    CASES,
    ids=["message", "account-section", "skipped-chat"],
)
def test_deeply_nested_ignored_field_is_one_line_error_in_bounded_memory(make, where):
    """A 3,000-deep ignored field: one `file:path: nested deeper` line, peak under 4 MB."""
    text = json.dumps(make(), indent=1, ensure_ascii=False)
    raw = text.replace(f'"{DEEP}"', "[" * DEPTH + "]" * DEPTH).encode()
    tracemalloc.start()
    try:
        with pytest.raises(InputFileError) as caught:
            for _ in parse_telegram_export(io.BytesIO(raw), "export.json", ParseStats()):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(caught.value) == f"export.json:{where}: nested deeper than {MAX_DEPTH} levels"
    assert peak < PEAK_LIMIT, peak
