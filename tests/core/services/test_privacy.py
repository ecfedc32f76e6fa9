"""`/mydata`, `/forgetme` and retention: export, erasure (rows, files, models, gate), purge."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import Cohort
from bot.core.services.recommend import in_holdout
from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.domain.events import MessageDeleted
from bot.domain.refs import MemberRef
from bot.domain.replies import Paragraph, Reply, Text, reply_to_dict
from bot.store import outbox
from bot.store import schema as s
from bot.store.communities import find_community
from bot.store.engine import SQLITE_PRAGMAS
from bot.store.links import save_code
from bot.store.members import find_member, members_by_ids
from bot.store.stats import community_counts
from bot.training.artifacts import (
    CURRENT,
    current_folder,
    load_bundle,
    load_folder,
    remove_stale_staging,
    versions,
)
from bot.training.models import Models
from tests.core.services.conftest import (
    NOW,
    Clock,
    build_services,
    import_community,
    load_catalog,
    train_model,
)
from tests.helpers import consent, count, join, message, purchase, reaction, rows, write

# Realistic Discord snowflakes: a guild, two channels, three members, messages.
GUILD, CHANNEL, OTHER_CHANNEL = "1100000000000000001", "1200000000000000002", "1200000000000000003"
ALICE, BOB, CAROL = "1312345678901234567", "1398765432109876543", "1377777777777777777"
ALICE_NAME = "quinzel_harleen"
MSG_A1, MSG_A2, MSG_B1, MSG_A3 = (
    "1400000000000000001",
    "1400000000000000002",
    "1400000000000000003",
    "1400000000000000004",
)
TG_ALICE, TG_GROUP = "5123456789", "-1001987654321"

Make = Callable[..., Any]


def at(days: float = 0, minutes: float = 0) -> datetime:
    """NOW moved by some days and minutes."""
    return NOW + timedelta(days=days, minutes=minutes)


def actor(member: str = ALICE, **overrides: Any) -> Actor:
    """A member of the test guild, asking in its channel."""
    fields: dict[str, Any] = {
        "platform": "discord",
        "member": member,
        "name": ALICE_NAME if member == ALICE else "someone",
        "community": GUILD,
        "channel": CHANNEL,
        "locale": "en",
    }
    fields.update(overrides)
    return Actor(**fields)


def in_guild(**fields: Any) -> dict[str, Any]:
    """Event overrides placing it in the test guild and channel."""
    return {"community": GUILD, "channel": CHANNEL, **fields}


async def seed(services: Services) -> dict[str, int]:
    """Alice, Bob and Carol with messages, reactions, a mention, picks, a delivery, an audit line.

    Returns the member row ids by name.
    """
    cohort = services.context.cohort
    await load_catalog(cohort)
    await write(
        cohort,
        consent(ALICE, True, True, community=GUILD, member_name=ALICE_NAME, ts=at(-30)),
        consent(BOB, True, True, community=GUILD, member_name="bob_builds", ts=at(-30)),
        join(ALICE, community=GUILD, member_name=ALICE_NAME, ts=at(-29)),
        message(
            **in_guild(
                message=MSG_A1,
                member=ALICE,
                member_name=ALICE_NAME,
                text="How do lifetimes work with tokio tasks?",
                ts=at(-2),
            )
        ),
        message(
            **in_guild(
                message=MSG_B1,
                member=BOB,
                member_name="bob_builds",
                text=f"<@{ALICE}> wrap it in an Arc, serde helps too",
                reply_to=MSG_A1,
                mentions=(ALICE,),
                ts=at(-2, 5),
            )
        ),
        message(
            **in_guild(
                message=MSG_A2,
                member=ALICE,
                member_name=ALICE_NAME,
                text="thanks, cargo build passes now",
                reply_to=MSG_B1,
                ts=at(-2, 9),
            )
        ),
        message(
            **in_guild(
                message=MSG_A3,
                member=ALICE,
                member_name=ALICE_NAME,
                text="oops wrong channel",
                ts=at(-2, 10),
            )
        ),
        MessageDeleted(
            platform="discord", community=GUILD, channel=CHANNEL, message=MSG_A3, ts=at(-2, 11)
        ),
        reaction(**in_guild(message=MSG_B1, member=ALICE, emoji="🙏", ts=at(-2, 6))),
        reaction(**in_guild(message=MSG_A1, member=BOB, emoji="👍", ts=at(-2, 1))),
        # Carol never consented: her reaction is only a tally.
        reaction(**in_guild(message=MSG_A1, member=CAROL, emoji="👍", ts=at(-2, 2))),
        purchase(ALICE, "rust-101", order="order-1", ts=at(-1)),
    )
    ids = {name: await member_id(services, pid) for name, pid in (("alice", ALICE), ("bob", BOB))}
    reply = await services.recommend.recommend(actor())
    token = next(b.action for b in reply.all_buttons() if b.action and b.action.startswith("in:"))
    await services.feedback.pick(actor(), "in", token.removeprefix("in:"), "press-1")
    await cohort.pipeline.flush()
    denied = await services.context.moderator_denial(actor(), "promote", "rust-101")
    assert denied is not None
    dm = Reply((Paragraph.of("A course picked for you: ", Text("Rust 101")),))
    digest = Reply(
        (
            Paragraph.of("Thanks to our top helpers ", Text(ALICE_NAME), ", ", Text("bob_builds")),
            Paragraph.of(f"Most discussed: <@{ALICE}> asked about tokio"),
            # A digest quotes the most replied-to messages, as a span of its own.
            Paragraph.of("#general: ", "How do lifetimes work with tokio tasks?", " (1)"),
            Paragraph.of("#general: ", "thanks, cargo build…", " (1)"),
        )
    )
    async with cohort.store.write() as conn:
        guild = await find_community(conn, "discord", GUILD)
        assert guild is not None
        await outbox.enqueue(
            conn,
            [
                outbox.NewDelivery(
                    kind="dm",
                    purpose="promotion",
                    payload={"platform": "discord", "recipient": ALICE, "reply": reply_to_dict(dm)},
                    dedupe_key="test:dm:alice",
                    community_id=guild.id,
                    member_id=ids["alice"],
                    course_id="rust-101",
                ),
                outbox.NewDelivery(
                    kind="channel",
                    purpose="digest",
                    payload={
                        "platform": "discord",
                        "recipient": CHANNEL,
                        "reply": reply_to_dict(digest),
                    },
                    dedupe_key="test:digest",
                    community_id=guild.id,
                ),
            ],
            services.context.clock(),
        )
        await save_code(conn, ids["alice"], "f" * 64, at(minutes=10), at())
    return ids


async def member_id(services: Services, platform_id: str, platform: str = "discord") -> int:
    """A stored member's row id."""
    async with services.context.store.read() as conn:
        found = await find_member(conn, platform, platform_id)
    assert found is not None, f"{platform}:{platform_id} is not stored"
    return found.id


async def link_telegram(services: Services) -> None:
    """Alice's Telegram identity (consenting, one message), linked to her Discord one."""
    cohort = services.context.cohort
    await write(
        cohort,
        consent(TG_ALICE, True, True, platform="telegram", community=TG_GROUP, ts=at(-3)),
        message(
            platform="telegram",
            community=TG_GROUP,
            channel=TG_GROUP,
            message="77",
            member=TG_ALICE,
            member_name="Harleen Q",
            text="привет, kubernetes helm question",
            ts=at(-1),
        ),
    )
    reply = await services.links.link(actor(community=None, channel=None), None)
    code = reply.blocks[0].spans[-1].text  # type: ignore[union-attr]
    telegram = Actor("telegram", TG_ALICE, "Harleen Q", None, None, "en")
    linked = await services.links.link(telegram, code)
    assert linked.plain().startswith("Linked"), linked.plain()


# -- export ----------------------------------------------------------------------------


async def test_export_holds_every_section_of_the_member(services: Services) -> None:
    """The export has the member's identity, consent, messages, reactions, mentions, picks,
    deliveries and audit lines, and nothing of other members."""
    ids = await seed(services)
    data = await services.privacy.export_data(MemberRef("discord", ALICE))
    assert data is not None
    assert json.loads(json.dumps(data)) == data  # plain JSON, no custom types
    assert data["format"] == "cohort.export/1" and data["subject"] == f"discord:{ALICE}"
    [identity] = data["identities"]
    assert identity["id"] == ALICE and identity["display_name"] == ALICE_NAME
    assert identity["linked"] is False
    [membership] = data["memberships"]
    assert membership["community"] == GUILD
    assert membership["consent_profiling"] is True and membership["consent_dm"] is True
    assert membership["joined_at"].startswith(at(-29).date().isoformat())
    texts = {m["message"]: m["text"] for m in data["messages"]}
    assert texts == {
        MSG_A1: "How do lifetimes work with tokio tasks?",
        MSG_A2: "thanks, cargo build passes now",
        MSG_A3: None,  # deleted: the row is kept without its text
    }
    assert all(m["channel"] == CHANNEL for m in data["messages"])
    assert [(r["message"], r["emoji"]) for r in data["reactions"]] == [(MSG_B1, "🙏")]
    assert [m["message"] for m in data["mentioned_in"]] == [MSG_B1]
    kinds = [i["kind"] for i in data["interactions"]]
    assert kinds.count("impression") >= 1 and "interest" in kinds and "purchase" in kinds
    [delivery] = data["deliveries"]
    assert delivery["text"] == "A course picked for you: Rust 101"
    assert delivery["status"] == "pending" and delivery["course"] == "rust-101"
    assert [(a["action"], a["outcome"]) for a in data["audit"]] == [("promote", "denied")]
    model = data["model"]
    assert model["version"] is None and model["identities"] == []
    assert model["holdout_group"] is in_holdout(f"m{ids['alice']}", 0.1)
    dumped = json.dumps(data, ensure_ascii=False)
    assert BOB not in dumped and "bob_builds" not in dumped  # nothing about Bob
    assert "wrap it in an Arc" not in dumped  # Bob's text is not in her export


async def test_export_covers_every_linked_identity(services: Services) -> None:
    """A linked person's export holds both identities and the messages of each."""
    await seed(services)
    await link_telegram(services)
    for ref in (MemberRef("discord", ALICE), MemberRef("telegram", TG_ALICE)):
        data = await services.privacy.export_data(ref)
        assert data is not None
        assert {(i["platform"], i["id"]) for i in data["identities"]} == {
            ("discord", ALICE),
            ("telegram", TG_ALICE),
        }
        assert all(i["linked"] for i in data["identities"])
        assert {m["community"] for m in data["memberships"]} == {GUILD, TG_GROUP}
        assert "привет, kubernetes helm question" in [m["text"] for m in data["messages"]]
        assert MSG_A1 in [m["message"] for m in data["messages"]]
        assert [a["action"] for a in data["audit"]].count("link") == 1
        async with services.context.store.read() as conn:
            person = (await find_member(conn, "discord", ALICE)).person_id  # type: ignore[union-attr]
        assert data["model"]["holdout_group"] is in_holdout(f"p{person}", 0.1)


async def test_export_of_someone_never_stored(services: Services) -> None:
    """Nothing stored: the export is None and `/mydata` says so instead of sending a file."""
    await seed(services)
    assert await services.privacy.export_data(MemberRef("discord", CAROL)) is None
    reply = await services.privacy.export(actor(CAROL))
    assert reply.file is None and reply.private
    assert reply.plain() == "Cohort holds no data about you."


async def test_mydata_sends_the_export_as_a_private_json_file(services: Services) -> None:
    """`/mydata` replies privately with the export attached as JSON."""
    await seed(services)
    reply = await services.privacy.export(actor())
    assert reply.private and reply.file is not None
    assert reply.file.filename == "cohort-data.json" and reply.file.mime == "application/json"
    data = json.loads(reply.file.data)
    assert data["subject"] == f"discord:{ALICE}" and len(data["messages"]) == 3


async def test_export_includes_the_trained_models_view(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """With a trained model the export shows segment, influence, course scores and holdout."""
    services = sqlite_services
    cohort = services.context.cohort
    await load_catalog(cohort)
    community = await import_community(cohort, tmp_path)
    await train_model(services)
    bundle = services.context.models.get()
    assert bundle is not None
    [models] = bundle.communities.values()
    assert models.segments is not None and models.influence is not None
    assignments = models.segments.assignments()
    by_platform_id = {}
    for member in community.members:
        async with cohort.store.read() as conn:
            stored = await find_member(conn, "discord", member.id)
        if stored is not None:
            by_platform_id[member.id] = str(stored.id)
    subject = next(
        pid
        for pid, key in by_platform_id.items()
        if key in assignments and key in models.influence.influence_
    )
    key = by_platform_id[subject]
    data = await services.privacy.export_data(MemberRef("discord", subject))
    assert data is not None
    json.dumps(data)
    model = data["model"]
    assert model["version"] == bundle.version
    assert model["holdout_group"] is in_holdout(f"m{key}", 0.1)
    [view] = model["identities"]
    assert view["identity"] == f"discord:{subject}"
    [info] = view["communities"].values()
    assert info["segment"]["id"] == assignments[key]
    assert info["segment"]["name"] and info["segment"]["size"] >= 1
    assert info["influence"]["member"] == key
    assert info["influence"]["influence"] == models.influence.influence_[key]
    assert view["course_scores"] and all(
        {"course", "score", "reason"} == set(pick) for pick in view["course_scores"]
    )
    assert view["languages"] == bundle.member_languages.get(key)


# -- erasure: rows ---------------------------------------------------------------------


async def test_forget_erases_rows_and_scrubs_traces(services: Services) -> None:
    """After `forget`: no row of the member, their id cut from others' text, deliveries and
    the audit log, their name dropped from pending channel posts, picks kept anonymously."""
    cohort = services.context.cohort
    ids = await seed(services)
    alice = ids["alice"]
    interactions_before = await count(cohort, s.interactions)
    report = await services.privacy.forget(MemberRef("discord", ALICE))
    assert report.identities == 1
    assert report.rows.messages == 3 and report.rows.reactions == 1
    assert report.rows.scrubbed_messages == 1 and report.rows.scrubbed_deliveries == 1
    assert report.rows.scrubbed_audit >= 1 and report.rows.deliveries == 1
    for table in (s.messages, s.reactions, s.mentions, s.memberships, s.outbox, s.link_codes):
        assert await count(cohort, table, table.c.member_id == alice) == 0, table.name
    assert await count(cohort, s.members, s.members.c.platform_id == ALICE) == 0
    # Bob's reply keeps its words, not Alice's id.
    [(text,)] = await rows(
        cohort, select(s.messages.c.text).where(s.messages.c.platform_id == MSG_B1)
    )
    assert text == "<@[deleted]> wrap it in an Arc, serde helps too"
    [(payload,)] = await rows(cohort, select(s.outbox.c.payload))
    dumped = json.dumps(payload, ensure_ascii=False)
    assert ALICE not in dumped and ALICE_NAME not in dumped and "bob_builds" in dumped
    assert "lifetimes" not in dumped  # her words are not published after her erasure
    assert "cargo" not in dumped
    assert dumped.count("[deleted]") == 4  # the name, the id, two quotes
    # The picks and the purchase stay for the funnel, without a member.
    assert await count(cohort, s.interactions) == interactions_before
    assert await count(cohort, s.interactions, s.interactions.c.member_id == alice) == 0
    assert report.rows.anonymized_interactions == interactions_before
    audit = await rows(
        cohort, select(s.audit_log.c.action, s.audit_log.c.actor_member_id, s.audit_log.c.details)
    )
    assert ("privacy.forget", None) in [(a, m) for a, m, _ in audit]
    pseudonym = cohort.writer.pseudonym("discord", ALICE)
    for _, member, details in audit:
        assert member is None
        assert pseudonym not in json.dumps(details) and ALICE not in json.dumps(details)
    # Bob is untouched.
    assert await count(cohort, s.messages, s.messages.c.member_id == ids["bob"]) == 1
    assert await count(cohort, s.reactions, s.reactions.c.member_id == ids["bob"]) == 1


async def test_forget_remembers_only_a_keyed_hash(services: Services) -> None:
    """The erasure is stored as the keyed identity hash and its time, never the id."""
    cohort = services.context.cohort
    await seed(services)
    await services.privacy.forget(MemberRef("discord", ALICE))
    [(key, erased_at)] = await rows(cohort, select(s.erasures.c.key, s.erasures.c.erased_at))
    assert bytes(key) == cohort.writer.identity_hash("discord", ALICE)
    assert ALICE.encode() not in bytes(key) and erased_at == NOW
    assert cohort.gate.erased_at("discord", ALICE) == NOW


async def test_forget_moves_activity_into_channel_aggregates(services: Services) -> None:
    """What is erased is counted anonymously: channel totals and topics do not change."""
    cohort = services.context.cohort
    await seed(services)
    async with cohort.store.read() as conn:
        before = await community_counts(conn)
    daily_before = await _sum(cohort, s.channel_daily.c.anonymous_messages)
    replies_before = await _sum(cohort, s.channel_daily.c.anonymous_replies)
    terms_before = await _terms(cohort)
    tallies_before = await _tallies(cohort)
    await services.privacy.forget(MemberRef("discord", ALICE))
    async with cohort.store.read() as conn:
        after = await community_counts(conn)
    for b, a in zip(before, after, strict=True):
        assert (a["messages"], a["reactions"]) == (b["messages"], b["reactions"])
    guild = next(c for c in after if c["platform_id"] == GUILD)
    assert guild["stored_messages"] == 1 and guild["anonymous_messages"] == 3
    assert await _sum(cohort, s.channel_daily.c.anonymous_messages) == daily_before + 3
    assert await _sum(cohort, s.channel_daily.c.anonymous_replies) == replies_before + 1
    terms = await _terms(cohort)
    for term in ("lifetimes", "tokio", "tasks", "cargo", "build", "passes"):
        assert terms.get(term, 0) == terms_before.get(term, 0) + 1, term
    tallies = await _tallies(cohort)
    assert tallies[(MSG_B1, "🙏")] == tallies_before.get((MSG_B1, "🙏"), 0) + 1
    assert tallies[(MSG_A1, "👍")] == tallies_before[(MSG_A1, "👍")]  # Bob's stays his row


async def test_forgetting_again_or_a_stranger_changes_no_counts(services: Services) -> None:
    """Erasing twice counts nothing twice; erasing someone never stored is still remembered."""
    cohort = services.context.cohort
    await seed(services)
    await services.privacy.forget(MemberRef("discord", ALICE))
    daily = await _sum(cohort, s.channel_daily.c.anonymous_messages)
    again = await services.privacy.forget(MemberRef("discord", ALICE))
    assert again.identities == 0 and again.rows.messages == 0
    stranger = await services.privacy.forget(MemberRef("discord", CAROL))
    assert stranger.identities == 0 and stranger.model_versions == []
    assert await _sum(cohort, s.channel_daily.c.anonymous_messages) == daily
    assert await count(cohort, s.erasures) == 2
    assert cohort.gate.erased_at("discord", CAROL) == NOW


async def test_forget_erases_every_linked_identity(services: Services) -> None:
    """Erasing one identity of a linked person erases the other and the person row."""
    cohort = services.context.cohort
    await seed(services)
    await link_telegram(services)
    assert await count(cohort, s.persons) == 1
    report = await services.privacy.forget(MemberRef("telegram", TG_ALICE))
    assert report.identities == 2
    assert await count(cohort, s.members, s.members.c.platform_id.in_([ALICE, TG_ALICE])) == 0
    assert await count(cohort, s.persons) == 0
    assert cohort.gate.erased_at("discord", ALICE) == NOW
    assert cohort.gate.erased_at("telegram", TG_ALICE) == NOW
    assert await count(cohort, s.erasures) == 2


async def test_forgetme_asks_first_and_the_button_expires(services: Services, clock: Clock) -> None:
    """`/forgetme` erases only after the confirm button, which lapses after 10 minutes."""
    cohort = services.context.cohort
    await seed(services)
    prompt = await services.privacy.forget_prompt(actor())
    confirm = next(b.action for b in prompt.all_buttons() if b.action != "fg:cancel")
    assert confirm is not None and confirm.startswith("fg:")
    cancelled = await services.privacy.forget_confirmed(actor(), "cancel")
    assert cancelled.plain() == "Nothing was erased."
    clock.advance(minutes=11)
    expired = await services.privacy.forget_confirmed(actor(), confirm.removeprefix("fg:"))
    assert expired.plain() == "That button has expired."
    assert await count(cohort, s.members, s.members.c.platform_id == ALICE) == 1
    prompt = await services.privacy.forget_prompt(actor())
    confirm = next(b.action for b in prompt.all_buttons() if b.action != "fg:cancel")
    assert confirm is not None
    clock.advance(minutes=9)
    done = await services.privacy.forget_confirmed(actor(), confirm.removeprefix("fg:"))
    assert done.plain().startswith("Done")
    assert await count(cohort, s.members, s.members.c.platform_id == ALICE) == 0


# -- erasure: the database files -------------------------------------------------------


def _database_bytes(folder: Path) -> dict[str, bytes]:
    found = {p.name: p.read_bytes() for p in folder.glob("cohort.db*")}
    assert "cohort.db" in found
    return found


async def test_forget_leaves_no_trace_in_the_sqlite_files(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """After `forget`, the platform id and the member's own name are in neither the database
    file nor its write-ahead log (zeroed on delete, log checkpointed)."""
    services = sqlite_services
    cohort = services.context.cohort
    await load_catalog(cohort)
    community = await import_community(cohort, tmp_path)
    talkers = sorted(
        (m for m in community.members if m.profiling),
        key=lambda m: -sum(1 for x in community.messages if x.member == m.id),
    )
    subject = next(
        m
        for m in talkers
        if not any(m.name in other.name for other in community.members if other is not m)
    )
    [general] = [cid for cid, name in community.channels.items() if name == "general"]
    await write(
        cohort,
        message(
            platform="discord",
            community=community.id,
            channel=general,
            member=talkers[-1].id if talkers[-1] is not subject else talkers[-2].id,
            member_name=None,
            message="1499999999999999999",
            text=f"ping <@{subject.id}> and <@!{subject.id}>: the docker question",
            ts=NOW,
        ),
    )
    # Asked for explicitly: SQLite builds differ in the default (Debian's zeroes already).
    assert "PRAGMA secure_delete=ON" in SQLITE_PRAGMAS
    before = _database_bytes(tmp_path)
    assert any(subject.id.encode() in data for data in before.values())
    report = await services.privacy.forget(MemberRef("discord", subject.id))
    assert report.rows.messages > 10 and report.rows.scrubbed_messages == 1
    assert report.wal_checkpointed is True
    files = _database_bytes(tmp_path)
    for name, data in files.items():
        assert subject.id.encode() not in data, f"the id is still in {name}"
        assert subject.name.encode() not in data, f"the name is still in {name}"
    # The rest of the community is still there.
    assert talkers[1].id.encode() in files["cohort.db"]


# -- erasure: the models ---------------------------------------------------------------


async def test_forget_rewrites_every_saved_model_without_the_member(
    sqlite_cohort: Cohort, clock: Clock, tmp_path: Path
) -> None:
    """Every saved version of the models the bot serves is rewritten under a new name without
    the member's key (ranker, segments, rules, influence, languages); `current` moves and a
    running bot reloads."""
    cohort = sqlite_cohort
    services = build_services(cohort, clock, tmp_path / "served-models")
    await load_catalog(cohort)
    community = await import_community(cohort, tmp_path)
    await train_model(services)
    root = services.context.models.root
    [newest] = versions(root)
    older = "20261101T000000000000Z"
    shutil.copytree(root / newest, root / older)
    crashed = root / f".{older}.partial"  # a save that crashed an hour ago
    shutil.copytree(root / newest, crashed)
    os.utime(crashed, (NOW.timestamp(), time.time() - 3600))
    bundle = load_bundle(root)
    [models] = bundle.communities.values()
    assert models.segments is not None and models.influence is not None
    # The most active member: in the ranker, a segment, the influence graph, maybe a rule.
    keys = set(models.segments.assignments()) & set(models.influence.influence_)
    ruled = {k for members in models.rules.values() for k in members}
    key = sorted(keys & ruled or keys, key=lambda k: -models.influence.influence_[k])[0]
    async with cohort.store.read() as conn:
        subject = (await members_by_ids(conn, [int(key)]))[int(key)]
    assert subject.platform_id in {m.id for m in community.members}
    running = Models(root, cohort.settings.recommend)  # another process's view
    loaded = running.get()
    assert loaded is not None and key in loaded.ranker.members_
    report = await services.privacy.forget(MemberRef("discord", subject.platform_id))
    assert len(report.model_versions) == 2
    assert sorted(versions(root)) == sorted(report.model_versions)
    assert older not in versions(root) and newest not in versions(root)
    assert current_folder(root).name == max(report.model_versions)
    assert (root / CURRENT).read_text("utf-8").strip().startswith(newest + "-e")
    for version in versions(root):
        rewritten = load_folder(root / version)
        assert key not in rewritten.ranker.members_
        for component in rewritten.ranker.components_:
            assert key not in component.members_, component.name
        assert key not in rewritten.member_languages
        for community_models in rewritten.communities.values():
            assert community_models.segments is not None
            assert key not in community_models.segments.assignments()
            assert community_models.influence is not None
            assert key not in community_models.influence.influence_
            assert all(key not in members for members in community_models.rules.values())
    for path in root.rglob("*"):
        if path.is_file():
            assert subject.platform_id.encode() not in path.read_bytes(), path
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")]  # no staging left
    reloaded = running.get()
    assert reloaded is not None and reloaded is not loaded
    assert key not in reloaded.ranker.members_
    assert services.context.models.get() is not None
    assert key not in services.context.models.get().ranker.members_  # type: ignore[union-attr]


def test_staging_left_by_a_crash_is_removed_but_not_a_running_save(tmp_path: Path) -> None:
    """A staging folder older than the grace period goes; a fresh one may be a save running."""
    old, fresh = tmp_path / ".v1.partial", tmp_path / ".v2.partial"
    for folder in (old, fresh):
        (folder / "ranker").mkdir(parents=True)
    os.utime(old, (time.time(), time.time() - 3600))
    assert remove_stale_staging(tmp_path) == 1
    assert not old.exists() and fresh.exists()


async def test_forgetting_twice_in_one_instant_still_moves_current(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """Two erasures at the same clock time give distinct versions, so running bots reload."""
    services = sqlite_services
    cohort = services.context.cohort
    await load_catalog(cohort)
    community = await import_community(cohort, tmp_path)
    await train_model(services)
    root = services.context.models.root
    running = Models(root, cohort.settings.recommend)
    consenting = [m.id for m in community.members if m.profiling]
    first = await services.privacy.forget(MemberRef("discord", consenting[0]))
    loaded = running.get()
    assert loaded is not None
    second = await services.privacy.forget(MemberRef("discord", consenting[1]))
    assert first.model_versions != second.model_versions
    assert versions(root) == second.model_versions
    reloaded = running.get()
    assert reloaded is not None and reloaded is not loaded
    assert reloaded.version == second.model_versions[0]


async def test_an_erasure_whose_model_rewrite_failed_can_be_retried(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If rewriting the models fails, nothing is erased yet and a retry reaches the models."""
    cohort = services.context.cohort
    ids = await seed(services)
    await link_telegram(services)
    tg_alice = await member_id(services, TG_ALICE, "telegram")
    calls: list[list[str]] = []

    def failing(root: Path, keys: list[str], stamp: datetime) -> list[str]:
        calls.append(list(keys))
        if len(calls) == 1:
            raise OSError("disk full")
        return ["rewritten"]

    monkeypatch.setattr("bot.core.services.privacy.forget_members", failing)
    with pytest.raises(OSError, match="disk full"):
        await services.privacy.forget(MemberRef("discord", ALICE))
    assert await count(cohort, s.members, s.members.c.platform_id == ALICE) == 1
    report = await services.privacy.forget(MemberRef("discord", ALICE))
    expected = sorted([str(ids["alice"]), str(tg_alice)])
    assert [sorted(keys) for keys in calls] == [expected, expected]
    assert report.model_versions == ["rewritten"] and report.identities == 2
    assert await count(cohort, s.members, s.members.c.platform_id == ALICE) == 0


# -- erasure: the consent gate ---------------------------------------------------------


async def test_forgotten_member_is_no_longer_identified_in_opt_in_mode(
    services: Services,
) -> None:
    """Opt-in: after erasure the member's consent is gone; new messages are only counted."""
    cohort = services.context.cohort
    await seed(services)
    assert cohort.gate.identifies("discord", GUILD, ALICE)
    await services.privacy.forget(MemberRef("discord", ALICE))
    assert not cohort.gate.identifies("discord", GUILD, ALICE)
    assert not cohort.gate.identifies_anywhere("discord", ALICE)
    assert services.consent.status(actor()).profiling is None
    result = await write(
        cohort, message(**in_guild(member=ALICE, member_name=ALICE_NAME, text="back again"))
    )
    assert result.messages == 0 and result.anonymous_messages == 1
    # Her consent re-imported from an old history file does not bring her back.
    await write(cohort, consent(ALICE, True, True, community=GUILD, ts=at(-30)))
    assert not cohort.gate.identifies("discord", GUILD, ALICE)
    assert await count(cohort, s.members, s.members.c.platform_id == ALICE) == 0


async def test_opt_out_erasure_stands_as_an_objection_until_a_new_grant(
    cohort_with: Make, clock: Clock, tmp_path: Path
) -> None:
    """Opt-out: the erased member is not stored again, a re-imported older consent is
    ignored, and only a new explicit grant makes them identified again."""
    cohort = await cohort_with(privacy={"mode": "opt_out"})
    services = build_services(cohort, clock, tmp_path / "artifacts")
    first = await write(cohort, message(**in_guild(member=ALICE, member_name=ALICE_NAME)))
    assert first.messages == 1  # opt-out: stored without asking
    await services.privacy.forget(MemberRef("discord", ALICE))
    assert not cohort.gate.identifies("discord", GUILD, ALICE)
    again = await write(cohort, message(**in_guild(member=ALICE, member_name=ALICE_NAME)))
    assert again.messages == 0 and again.anonymous_messages == 1
    bought = await write(cohort, purchase(ALICE, "rust-101", order="o-2"))
    assert (
        bought.interactions == 0
        or await count(cohort, s.interactions, s.interactions.c.member_id.is_not(None)) == 0
    )
    # A history file replayed later carries a grant made before the erasure.
    await write(cohort, consent(ALICE, True, True, community=GUILD, ts=NOW - timedelta(days=3)))
    assert not cohort.gate.identifies("discord", GUILD, ALICE)
    late = await write(cohort, message(**in_guild(member=ALICE, member_name=ALICE_NAME)))
    assert late.messages == 0
    assert await count(cohort, s.members, s.members.c.platform_id == ALICE) == 0
    clock.advance(minutes=5)
    await services.consent.opt_in(actor())
    assert cohort.gate.identifies("discord", GUILD, ALICE)
    welcome = await write(cohort, message(**in_guild(member=ALICE, member_name=ALICE_NAME)))
    assert welcome.messages == 1


async def test_erasure_survives_a_restart(cohort_with: Make, clock: Clock, tmp_path: Path) -> None:
    """A new process on the same database still treats the erased member as erased."""
    cohort = await cohort_with(privacy={"mode": "opt_out"})
    services = build_services(cohort, clock, tmp_path / "artifacts")
    await write(cohort, message(**in_guild(member=ALICE, member_name=ALICE_NAME)))
    await services.privacy.forget(MemberRef("discord", ALICE))
    restarted = await cohort_with(privacy={"mode": "opt_out"})
    assert restarted.gate.erased_at("discord", ALICE) == NOW
    assert not restarted.gate.identifies("discord", GUILD, ALICE)
    assert restarted.gate.identifies("discord", GUILD, BOB)
    await write(restarted, consent(ALICE, True, None, community=GUILD, ts=NOW - timedelta(hours=1)))
    assert not restarted.gate.identifies("discord", GUILD, ALICE)
    result = await write(restarted, message(**in_guild(member=ALICE, member_name=ALICE_NAME)))
    assert result.messages == 0


async def test_a_grant_after_erasure_survives_a_restart(
    cohort_with: Make, clock: Clock, tmp_path: Path
) -> None:
    """A new explicit grant after the erasure still identifies the member after a restart."""
    cohort = await cohort_with(privacy={"mode": "opt_out"})
    services = build_services(cohort, clock, tmp_path / "artifacts")
    await write(cohort, message(**in_guild(member=ALICE, member_name=ALICE_NAME)))
    await services.privacy.forget(MemberRef("discord", ALICE))
    clock.advance(minutes=1)
    await services.consent.opt_in(actor())
    restarted = await cohort_with(privacy={"mode": "opt_out"})
    assert restarted.gate.identifies("discord", GUILD, ALICE)


async def test_a_running_bot_picks_up_an_erasure_made_elsewhere(
    cohort_with: Make, clock: Clock, tmp_path: Path
) -> None:
    """`reload_consent` in the bot applies an erasure made by the CLI on the same database."""
    bot = await cohort_with()
    bot_services = build_services(bot, clock, tmp_path / "artifacts")
    await bot_services.context.write([consent(ALICE, True, True, community=GUILD)])
    await write(bot, message(**in_guild(member=ALICE, member_name=ALICE_NAME)))
    assert bot.gate.identifies("discord", GUILD, ALICE)
    cli = await cohort_with()
    cli_services = build_services(cli, clock, tmp_path / "artifacts")
    await cli_services.privacy.forget(MemberRef("discord", ALICE))
    assert bot.gate.identifies("discord", GUILD, ALICE)  # not yet reloaded
    await bot.reload_consent()
    assert not bot.gate.identifies("discord", GUILD, ALICE)
    assert bot.gate.erased_at("discord", ALICE) == NOW
    result = await write(bot, message(**in_guild(member=ALICE, member_name=ALICE_NAME)))
    assert result.messages == 0 and result.anonymous_messages == 1
    assert await count(bot, s.members, s.members.c.platform_id == ALICE) == 0


# -- retention -------------------------------------------------------------------------


async def test_purge_removes_old_text_and_keeps_its_topics(services: Services) -> None:
    """Text older than `retention_days` goes (its terms join channel_terms); newer stays."""
    cohort = services.context.cohort
    old, recent = at(-100), at(-10)
    await write(
        cohort,
        consent(ALICE, True, True, community=GUILD, ts=at(-200)),
        message(**in_guild(member=ALICE, message="1", text="kubernetes helm charts", ts=old)),
        message(**in_guild(member=ALICE, message="2", text="terraform modules", ts=old)),
        message(**in_guild(member=ALICE, message="3", text="kubernetes operators", ts=recent)),
    )
    terms_before = await _terms(cohort)
    report = await services.privacy.purge()
    assert report.texts == 2
    texts = dict(await rows(cohort, select(s.messages.c.platform_id, s.messages.c.text)))
    assert texts == {"1": None, "2": None, "3": "kubernetes operators"}
    terms = await _terms(cohort)
    assert terms["kubernetes"] == terms_before.get("kubernetes", 0) + 1
    assert terms["helm"] == terms_before.get("helm", 0) + 1
    assert terms["terraform"] == terms_before.get("terraform", 0) + 1
    assert "operators" not in terms  # still in the stored text, not counted twice
    weeks = {
        w
        for (w,) in await rows(
            cohort, select(s.channel_terms.c.week).where(s.channel_terms.c.term == "helm")
        )
    }
    assert weeks == {old.date() - timedelta(days=old.weekday())}
    assert await count(cohort, s.messages) == 3  # rows stay, without text
    again = await services.privacy.purge()
    assert (again.texts, again.deliveries, again.link_codes) == (0, 0, 0)
    assert await _terms(cohort) == terms


async def test_purge_honours_the_configured_retention(
    cohort_with: Make, clock: Clock, tmp_path: Path
) -> None:
    """`[privacy] retention_days` sets the cut-off."""
    cohort = await cohort_with(privacy={"retention_days": 7})
    services = build_services(cohort, clock, tmp_path / "artifacts")
    await write(
        cohort,
        consent(ALICE, True, True, community=GUILD, ts=at(-200)),
        message(**in_guild(member=ALICE, message="1", text="week old", ts=at(-8))),
        message(**in_guild(member=ALICE, message="2", text="fresh", ts=at(-6))),
    )
    assert (await services.privacy.purge()).texts == 1
    texts = dict(await rows(cohort, select(s.messages.c.platform_id, s.messages.c.text)))
    assert texts == {"1": None, "2": "fresh"}


async def test_purge_works_through_more_than_one_batch(services: Services) -> None:
    """More old messages than one batch are all purged."""
    cohort = services.context.cohort
    await write(cohort, consent(ALICE, True, True, community=GUILD, ts=at(-400)))
    await write(
        cohort,
        *(
            message(**in_guild(member=ALICE, message=f"b{i}", text="golang channels", ts=at(-200)))
            for i in range(2100)
        ),
    )
    report = await services.privacy.purge()
    assert report.texts == 2100
    assert await count(cohort, s.messages, s.messages.c.text.is_not(None)) == 0
    terms = await _terms(cohort)
    assert terms["go"] == 2100 and terms["channels"] == 2100


async def test_purge_slims_old_finished_deliveries_and_drops_expired_codes(
    services: Services,
) -> None:
    """Finished deliveries older than retention lose their text; expired link codes go."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await write(cohort, consent(ALICE, True, True, community=GUILD, ts=at(-200)))
    alice = await member_id(services, ALICE)
    text = reply_to_dict(Reply((Paragraph.of("A course picked for you"),)))
    async with cohort.store.write() as conn:
        for key, created in (("old-sent", at(-100)), ("old-pending", at(-100)), ("new", at(-1))):
            await outbox.enqueue(
                conn,
                [
                    outbox.NewDelivery(
                        kind="dm",
                        purpose="promotion",
                        payload={"platform": "discord", "recipient": ALICE, "reply": text},
                        dedupe_key=key,
                        member_id=alice,
                    )
                ],
                created,
            )
        await conn.execute(
            s.outbox.update()
            .where(s.outbox.c.dedupe_key.in_(["old-sent", "new"]))
            .values(status="sent", sent_at=at(-1))
        )
        for code, expires in (("a" * 64, at(minutes=-1)), ("b" * 64, at(minutes=5))):
            await conn.execute(
                s.link_codes.insert().values(
                    code_hash=code, member_id=alice, expires_at=expires, created_at=at(-1)
                )
            )
    report = await services.privacy.purge()
    assert (report.deliveries, report.link_codes) == (1, 1)
    payloads = dict(await rows(cohort, select(s.outbox.c.dedupe_key, s.outbox.c.payload)))
    assert "reply" not in payloads["old-sent"] and payloads["old-sent"]["recipient"] == ALICE
    assert "reply" in payloads["old-pending"] and "reply" in payloads["new"]
    assert [h for (h,) in await rows(cohort, select(s.link_codes.c.code_hash))] == ["b" * 64]


# -- helpers ---------------------------------------------------------------------------


async def _sum(cohort: Cohort, column: Any) -> int:
    async with cohort.store.read() as conn:
        return int(await conn.scalar(select(func.coalesce(func.sum(column), 0))) or 0)


async def _terms(cohort: Cohort) -> dict[str, int]:
    t = s.channel_terms.c
    found = await rows(cohort, select(t.term, func.sum(t.count)).group_by(t.term))
    return {term: int(n) for term, n in found}


async def _tallies(cohort: Cohort) -> dict[tuple[str, str], int]:
    t = s.reaction_tallies.c
    found = await rows(cohort, select(t.message_platform_id, t.emoji, t.anonymous_count))
    return {(mid, emoji): int(n) for mid, emoji, n in found}
