"""The store contract: every test runs on a real SQLite file AND the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.app import Cohort
from bot.domain.events import (
    ButtonPressed,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    ReactionRemoved,
    ReactionsCounted,
)
from bot.store import schema as s
from bot.store.store import Store
from tests.conftest import make_settings
from tests.helpers import (
    T0,
    at,
    consent,
    count,
    join,
    message,
    purchase,
    reaction,
    rows,
    snapshot,
    write,
)


async def add_course(cohort: Cohort, course_id: str = "rust-101") -> None:
    async with cohort.store.write() as conn:
        await conn.execute(s.courses.insert().values(id=course_id, title=course_id, tags=[]))


async def test_migrations_create_exactly_the_schema(cohort: Cohort) -> None:
    """Alembic's history and schema.py agree: no drift between migrations and code."""

    def diff(connection: object) -> list[object]:
        context = MigrationContext.configure(connection)  # type: ignore[arg-type]
        return list(compare_metadata(context, s.metadata))

    async with cohort.store.engines.write.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_consenting_members_are_stored_others_only_counted(cohort: Cohort) -> None:
    """Opt-in: only consenting members' messages are stored; the rest become aggregates."""
    await write(
        cohort,
        consent("u1"),
        message(message="m1", member="u1", text="rust async"),
        message(message="m2", member="u2", member_name="bob", text="python"),
    )
    stored = await rows(cohort, select(s.messages.c.platform_id))
    assert [r.platform_id for r in stored] == ["m1"]
    members = await rows(cohort, select(s.members.c.platform_id, s.members.c.display_name))
    assert [(m.platform_id, m.display_name) for m in members] == [("u1", "alice")]
    # Stored rows are their own aggregate; only the anonymous message is counted.
    daily = await rows(cohort, select(s.channel_daily))
    assert [(d.anonymous_messages, d.anonymous_replies) for d in daily] == [(1, 0)]
    # Terms are pre-aggregated only for text we do not keep; stored text speaks for itself.
    terms = {r.term for r in await rows(cohort, select(s.channel_terms.c.term))}
    assert terms == {"python"}


async def test_nobody_is_stored_before_anyone_consents(cohort: Cohort) -> None:
    """Without consent, not even a member row exists: no identity is kept at all."""
    await write(cohort, message(member="u9"), reaction(member="u8"), join("u7"))
    assert await count(cohort, s.members) == 0
    assert await count(cohort, s.memberships) == 0
    assert await count(cohort, s.messages) == 0
    assert await count(cohort, s.reactions) == 0
    assert await count(cohort, s.community_daily) == 1


async def test_opt_out_mode_stores_everyone_but_objectors(backend: tuple[str, str | None]) -> None:
    """Opt-out: members are stored unless they objected in that community."""
    url, schema = backend
    cohort = await Cohort.build(make_settings(url, privacy={"mode": "opt_out"}), schema=schema)
    try:
        await write(
            cohort,
            consent("u2", profiling=False),
            message(message="m1", member="u1"),
            message(message="m2", member="u2"),
        )
        stored = await rows(cohort, select(s.messages.c.platform_id))
        assert [r.platform_id for r in stored] == ["m1"]
    finally:
        await cohort.close()


async def test_writing_the_same_events_twice_changes_nothing(cohort: Cohort) -> None:
    """Replays and backfills never duplicate: a second write of everything is a no-op."""
    await add_course(cohort)
    events = [
        consent("u1"),
        consent("u2"),
        join("u1"),
        message(message="m1", member="u1", mentions=("u2", "u3")),
        message(message="m2", member="u2", reply_to="m1"),
        message(message="m3", member="u3"),
        reaction(message="m1", member="u2"),
        reaction(message="m1", member="u3"),
        MessageEdited(
            platform="discord", community="g1", channel="c1", message="m1", text="x", ts=at(5)
        ),
        ReactionsCounted(
            platform="discord",
            community="g1",
            channel="c1",
            message="m2",
            emoji="🔥",
            count=4,
            reactors=("u1",),
            ts=at(1),
        ),
        purchase("u1"),
        purchase("u3", order="o-9"),
    ]
    first = await write(cohort, *events)
    before = await snapshot(cohort)
    second = await write(cohort, *events)
    assert await snapshot(cohort) == before
    assert first.messages == 2 and first.anonymous_messages == 1
    assert (second.messages, second.anonymous_messages, second.reactions) == (0, 0, 0)
    assert (second.edits, second.consents, second.interactions) == (0, 0, 0)


async def test_duplicate_message_in_one_batch_is_written_once(cohort: Cohort) -> None:
    """Exports repeat message ids; a batch with a repeat stores (or counts) it once."""
    result = await write(
        cohort,
        consent("u1"),
        message(message="m1"),
        message(message="m1"),
        message(message="m2", member="u2"),
        message(message="m2", member="u2"),
    )
    assert (result.messages, result.anonymous_messages) == (1, 1)
    assert await count(cohort, s.messages) == 1
    daily = await rows(cohort, select(s.channel_daily.c.anonymous_messages))
    assert daily[0].anonymous_messages == 1


async def test_message_counted_anonymously_is_promoted_after_consent(cohort: Cohort) -> None:
    """Re-importing after a member consents stores their history without double counting."""
    history = [message(message="m1", member="u1"), message(message="m2", member="u1")]
    await write(cohort, *history)
    await write(cohort, consent("u1", ts=T0 + timedelta(days=3)))
    result = await write(cohort, *history)
    assert result.messages == 2
    daily = await rows(cohort, select(s.channel_daily))
    assert [d.anonymous_messages for d in daily] == [0]
    again = await write(cohort, *history)
    assert (again.messages, again.anonymous_messages) == (0, 0)
    assert [d.anonymous_messages for d in await rows(cohort, select(s.channel_daily))] == [0]


async def test_withdrawn_consent_does_not_count_stored_messages_again(cohort: Cohort) -> None:
    """A stored message re-imported after its author objected is not counted a second time."""
    history = [message(message="m1", member="u1")]
    await write(cohort, consent("u1", ts=T0 - timedelta(days=2)), *history)
    await write(cohort, consent("u1", profiling=False, ts=T0 + timedelta(days=2)))
    result = await write(cohort, *history)
    assert result.anonymous_messages == 0
    assert await count(cohort, s.channel_daily) == 0
    await write(cohort, consent("u1", profiling=True, ts=T0 + timedelta(days=4)))
    assert (await write(cohort, *history)).messages == 0
    assert await count(cohort, s.channel_daily) == 0


async def test_an_older_consent_never_overrides_a_newer_one(cohort: Cohort) -> None:
    """Re-importing a January opt-in after a March opt-out keeps the member opted out."""
    january = consent("u1", profiling=True, ts=datetime(2024, 1, 1, tzinfo=UTC))
    march = consent("u1", profiling=False, ts=datetime(2024, 3, 1, tzinfo=UTC))
    await write(cohort, january, march)
    await write(cohort, january)
    assert not cohort.gate.identifies("discord", "g1", "u1")
    membership = await rows(cohort, select(s.memberships.c.consent_profiling))
    assert membership[0].consent_profiling is False
    await write(cohort, message(member="u1"))
    assert await count(cohort, s.messages) == 0


async def test_consent_survives_a_restart(backend: tuple[str, str | None]) -> None:
    """The gate is rebuilt from the database, so consent holds across restarts."""
    url, schema = backend
    first = await Cohort.build(make_settings(url), schema=schema)
    try:
        await write(first, consent("u1", dm=True))
    finally:
        await first.close()
    second = await Cohort.build(make_settings(url), schema=schema)
    try:
        assert second.gate.identifies("discord", "g1", "u1")
        assert second.gate.may_dm("discord", "g1", "u1")
        assert not second.gate.may_dm("discord", "g1", "u2")
    finally:
        await second.close()


async def test_mentions_only_of_consenting_members(cohort: Cohort) -> None:
    """A mention of someone who never consented is not stored under their id."""
    await write(cohort, consent("u1"), consent("u2"), message(member="u1", mentions=("u2", "u3")))
    mentioned = await rows(
        cohort,
        select(s.members.c.platform_id).join(s.mentions, s.mentions.c.member_id == s.members.c.id),
    )
    assert [m.platform_id for m in mentioned] == ["u2"]
    assert await count(cohort, s.members, s.members.c.platform_id == "u3") == 0


async def test_edits_apply_only_when_newer_and_deletes_drop_text(cohort: Cohort) -> None:
    """Edits never roll text back; a deleted message keeps no text and takes no edits."""
    await write(cohort, consent("u1"), message(message="m1", text="v1"))

    def edit(text: str, minutes: float) -> MessageEdited:
        return MessageEdited(
            platform="discord",
            community="g1",
            channel="c1",
            message="m1",
            text=text,
            ts=at(minutes),
        )

    result = await write(cohort, edit("v3", 10), edit("v2", 5))
    assert result.edits == 1
    await write(cohort, edit("v2", 5))
    text = await rows(cohort, select(s.messages.c.text, s.messages.c.edited_at))
    assert text[0].text == "v3" and text[0].edited_at == at(10)
    deleted = await write(
        cohort,
        MessageDeleted(platform="discord", community="g1", channel="c1", message="m1", ts=at(20)),
    )
    assert deleted.deletes == 1
    await write(cohort, edit("v4", 30))
    final = await rows(cohort, select(s.messages.c.text, s.messages.c.deleted_at))
    assert final[0].text is None and final[0].deleted_at == at(20)


async def test_reaction_add_remove_and_anonymous_tally(cohort: Cohort) -> None:
    """Identified reactions are rows with a removed flag; anonymous ones a net tally."""
    await write(cohort, consent("u2"))

    def removed(member: str) -> ReactionRemoved:
        return ReactionRemoved(
            platform="discord",
            community="g1",
            channel="c1",
            message="m1",
            member=member,
            emoji="👍",
            ts=at(3),
        )

    await write(cohort, reaction(member="u2"), reaction(member="u5"), reaction(member="u6"))
    await write(cohort, removed("u2"), removed("u5"))
    stored = await rows(cohort, select(s.reactions.c.removed))
    assert [r.removed for r in stored] == [True]
    tally = await rows(cohort, select(s.reaction_tallies.c.anonymous_count))
    assert [t.anonymous_count for t in tally] == [1]
    await write(cohort, reaction(member="u2", ts=at(9)))
    stored = await rows(cohort, select(s.reactions.c.removed))
    assert [r.removed for r in stored] == [False]


async def test_reaction_snapshot_splits_identified_and_anonymous(cohort: Cohort) -> None:
    """Export counts keep named consenting reactors as rows and the rest as a tally."""
    await write(cohort, consent("u1"))
    snapshot_event = ReactionsCounted(
        platform="discord",
        community="g1",
        channel="c1",
        message="m9",
        emoji="🎉",
        count=5,
        reactors=("u1", "u4"),
        ts=T0,
    )
    result = await write(cohort, snapshot_event)
    assert (result.reactions, result.anonymous_reactions) == (1, 4)
    assert await count(cohort, s.reactions) == 1
    tally = await rows(cohort, select(s.reaction_tallies.c.anonymous_count))
    assert tally[0].anonymous_count == 4


async def test_purchases_identified_anonymous_and_deduplicated(cohort: Cohort) -> None:
    """Purchases keep the buyer only with consent; order ids deduplicate; unknown courses drop."""
    await add_course(cohort)
    await write(cohort, consent("u1"))
    result = await write(
        cohort,
        purchase("u1", order="o1", amount=49.5, currency="usd"),
        purchase("u1", order="o1", amount=49.5, currency="usd"),
        purchase("u2", order="o2"),
        purchase("u1", course="nope", order="o3"),
    )
    assert (result.interactions, result.rejected) == (2, 1)
    bought = await rows(
        cohort,
        select(s.interactions.c.member_id, s.interactions.c.amount, s.interactions.c.currency),
    )
    by_member = sorted(bought, key=lambda r: r.member_id is None)
    assert by_member[0].amount == Decimal("49.50") and by_member[0].currency == "USD"
    assert by_member[1].member_id is None


async def test_button_presses_are_idempotent_on_the_interaction_id(cohort: Cohort) -> None:
    """A replayed button press (same platform interaction id) is stored once."""
    await add_course(cohort)
    await write(cohort, consent("u1"))
    press = ButtonPressed(
        platform="discord",
        community="g1",
        member="u1",
        action="interest",
        course="rust-101",
        interaction="i-1",
        channel="c1",
        variant="personal",
        position=1,
        ts=T0,
    )
    await write(cohort, press, press)
    stored = await rows(cohort, select(s.interactions.c.kind, s.interactions.c.variant))
    assert [(r.kind, r.variant) for r in stored] == [("interest", "personal")]


async def test_joins_and_leaves_update_membership_and_daily_counts(cohort: Cohort) -> None:
    """Join/leave keep the latest times; the same join reported twice a day counts once."""
    await write(cohort, consent("u1"))
    leave = MemberLeft(platform="discord", community="g1", member="u1", ts=at(60))
    await write(cohort, join("u1", ts=at(0)), join("u1", ts=at(1)), leave, join("u9"))
    membership = await rows(cohort, select(s.memberships.c.joined_at, s.memberships.c.left_at))
    assert membership[0].joined_at == at(1) and membership[0].left_at == at(60)
    daily = await rows(cohort, select(s.community_daily.c.joins, s.community_daily.c.leaves))
    assert [(d.joins, d.leaves) for d in daily] == [(2, 1)]


async def test_text_round_trips_unicode_and_nul(cohort: Cohort) -> None:
    """Chinese, emoji and stray NUL bytes (which PostgreSQL rejects) are stored safely."""
    await write(cohort, consent("u1"), message(text="我喜欢 rust 🦀\x00!"))
    stored = await rows(cohort, select(s.messages.c.text, s.messages.c.ts))
    assert stored[0].text == "我喜欢 rust 🦀!"
    assert stored[0].ts == T0 and stored[0].ts.tzinfo is not None


async def test_failed_transaction_leaves_nothing_and_undoes_the_gate(cohort: Cohort) -> None:
    """If a transaction rolls back, neither rows nor consent decisions survive it."""
    before = await snapshot(cohort)

    def crash(conn: Connection) -> None:
        cohort.writer.write(conn, [consent("u1"), message(member="u1")])
        raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        await cohort.store.run_write(crash)
    cohort.writer.rolled_back()
    assert await snapshot(cohort) == before
    assert not cohort.gate.identifies("discord", "g1", "u1")
    await write(cohort, consent("u1"), message(member="u1"))
    assert await count(cohort, s.messages) == 1


async def test_install_key_is_stable_across_opens(backend: tuple[str, str | None]) -> None:
    """The keyed-hash secret is created once and reused, so dedupe keys stay valid."""
    url, schema = backend
    first = await Store.open(url, schema=schema)
    key = await first.install_key()
    await first.close()
    second = await Store.open(url, schema=schema)
    try:
        assert await second.install_key() == key and len(key) == 32
    finally:
        await second.close()
