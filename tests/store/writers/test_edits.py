"""Edits and deletions reach stored messages only, and only forward in time."""

from __future__ import annotations

from sqlalchemy import select

from bot.domain.events import MessageDeleted, MessageEdited
from bot.store import schema as s
from bot.store.writers.edits import write_edits
from bot.store.writers.messages import write_messages
from tests.helpers import at, message, rows
from tests.store.writers.conftest import Tables


def edit(text: str, minutes: float, target: str = "m1") -> MessageEdited:
    """An edit of `target` in g1/c1."""
    return MessageEdited(
        platform="discord", community="g1", channel="c1", message=target, text=text, ts=at(minutes)
    )


def delete(minutes: float, target: str = "m1") -> MessageDeleted:
    """A deletion of `target` in g1/c1."""
    return MessageDeleted(
        platform="discord", community="g1", channel="c1", message=target, ts=at(minutes)
    )


async def stored(tables: Tables) -> list[tuple[object, ...]]:
    """(text, deleted?) of every stored message."""
    found = await rows(tables.cohort, select(s.messages.c.text, s.messages.c.deleted_at))
    return [(r.text, r.deleted_at is not None) for r in found]


async def test_the_newest_edit_wins_and_unknown_messages_are_untouched(tables: Tables) -> None:
    """Of several edits the newest applies; an older one later changes nothing."""
    tables.consent("u1")
    await tables.run([message(message="m1")], lambda ctx, a: write_messages(ctx, a.messages))
    newest = await tables.run(
        [edit("second", 2), edit("first", 1), edit("elsewhere", 3, target="m9")],
        lambda ctx, a: write_edits(ctx, a.edits, a.deletes),
    )
    older = await tables.run(
        [edit("stale", 1)], lambda ctx, a: write_edits(ctx, a.edits, a.deletes)
    )
    assert (newest.edits, older.edits) == (1, 0)
    assert await stored(tables) == [("second", False)]


async def test_a_deletion_removes_the_text_and_ends_editing(tables: Tables) -> None:
    """A deleted message loses its text; edits after that do not bring it back."""
    tables.consent("u1")
    await tables.run([message(message="m1")], lambda ctx, a: write_messages(ctx, a.messages))
    removed = await tables.run([delete(1)], lambda ctx, a: write_edits(ctx, a.edits, a.deletes))
    after = await tables.run(
        [edit("back", 2), delete(3)], lambda ctx, a: write_edits(ctx, a.edits, a.deletes)
    )
    assert (removed.deletes, after.edits, after.deletes) == (1, 0, 0)
    assert await stored(tables) == [(None, True)]
