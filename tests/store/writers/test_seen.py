"""Keyed hashes and seen keys: the guard that makes every anonymous count happen once."""

from __future__ import annotations

from bot.store.writers.context import WriteContext
from bot.store.writers.seen import KeyedHash, new_keys, seen_among, unsee, unsee_one
from tests.helpers import T0
from tests.store.writers.conftest import Tables


def test_keyed_hashes_depend_on_the_installation_key() -> None:
    """The same parts hash alike under one key and differently under another."""
    one, other = KeyedHash(b"a" * 32), KeyedHash(b"b" * 32)
    assert one("m", "1", "x") == one("m", "1", "x")
    assert one("m", "1", "x") != other("m", "1", "x")
    assert one("m", "1x") != one("m1", "x")  # parts are separated, not concatenated


async def test_new_keys_are_reported_once_and_can_be_taken_back(tables: Tables) -> None:
    """Only unseen keys come back as new; deleted keys are new again."""
    a, b, c = (tables.hash("t", str(n)) for n in range(3))
    day = T0.date()

    def first(ctx: WriteContext) -> set[bytes]:
        return new_keys(ctx.conn, ctx.sql, {a: day, b: day})

    def second(ctx: WriteContext) -> tuple[set[bytes], set[bytes], bool, bool]:
        fresh = new_keys(ctx.conn, ctx.sql, {b: day, c: day})
        present = seen_among(ctx.conn, {a, b, c})
        unsee(ctx.conn, [a])
        return fresh, present, unsee_one(ctx.conn, b), unsee_one(ctx.conn, a)

    assert await tables.direct(first) == {a, b}
    fresh, present, removed_b, removed_a = await tables.direct(second)
    assert fresh == {c} and present == {a, b, c}
    assert (removed_b, removed_a) == (True, False)
    assert await tables.direct(lambda ctx: seen_among(ctx.conn, {a, b, c})) == {c}
