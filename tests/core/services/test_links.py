"""`/link` and `/unlink`: one person on Discord and Telegram, and what linking changes."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot.config import DeliverySettings
from bot.core.delivery.policy import CAPPED, DeliveryPolicy
from bot.core.services.links import CODE_TTL, MAX_ATTEMPTS, code_hash
from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.domain.replies import Reply
from bot.store import outbox
from bot.store import schema as s
from bot.store.communities import find_community
from bot.store.members import find_member
from bot.store.training import MemberRow
from bot.training.inputs import load_inputs, person_keys
from tests.core.services.conftest import Clock, load_catalog
from tests.helpers import consent, count, message, purchase, rows, write

GUILD, CHANNEL, GROUP = "1100000000000000001", "1200000000000000002", "-1001987654321"
DISCORD_ID, TELEGRAM_ID = "1312345678901234567", "5123456789"
OTHER_DISCORD, OTHER_TELEGRAM = "1398765432109876543", "6987654321"
CODE = re.compile(r"^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$")


def on_discord(member: str = DISCORD_ID, *, dm: bool = True) -> Actor:
    """A Discord member, in a DM with the bot (or in the guild)."""
    if dm:
        return Actor("discord", member, "alice", None, None, "en")
    return Actor("discord", member, "alice", GUILD, CHANNEL, "en")


def on_telegram(member: str = TELEGRAM_ID) -> Actor:
    """A Telegram member in a private chat with the bot."""
    return Actor("telegram", member, "Alice", None, None, "en")


async def consenting(services: Services, *pairs: tuple[str, str]) -> None:
    """Store members (platform, id) who granted profiling and DMs, one message each."""
    events = []
    for platform, member in pairs:
        community = GUILD if platform == "discord" else GROUP
        channel = CHANNEL if platform == "discord" else GROUP
        events += [
            consent(member, True, True, platform=platform, community=community),
            message(platform=platform, community=community, channel=channel, member=member),
        ]
    await write(services.context.cohort, *events)


def shown_code(reply: Reply) -> str:
    """The code in an issue reply."""
    spans = reply.blocks[0].spans  # type: ignore[union-attr]
    return str(spans[-1].text)  # type: ignore[union-attr]


async def person_of(services: Services, platform: str, member: str) -> int | None:
    """The member's person id."""
    async with services.context.store.read() as conn:
        found = await find_member(conn, platform, member)
    assert found is not None
    return found.person_id


async def linked(services: Services, first: Actor, second: Actor) -> None:
    """Link two consenting identities: `first` issues, `second` redeems."""
    code = shown_code(await services.links.link(first, None))
    reply = await services.links.link(second, code)
    assert reply.plain().startswith("Linked"), reply.plain()


async def test_issuing_shows_a_code_and_stores_only_its_hash(
    services: Services, clock: Clock
) -> None:
    """`/link` shows an `ABCD-EFGH` code, privately; only its hash is stored, for 10 minutes."""
    await consenting(services, ("discord", DISCORD_ID))
    reply = await services.links.link(on_discord(), None)
    code = shown_code(reply)
    assert reply.private and CODE.match(code), code
    assert "Telegram" in reply.plain()
    stored = await rows(
        services.context.cohort,
        select(s.link_codes.c.code_hash, s.link_codes.c.expires_at),
    )
    assert stored == [(code_hash(code), clock.now + CODE_TTL)]
    assert code not in repr(stored) and code.replace("-", "") not in repr(stored)
    assert timedelta(minutes=10) == CODE_TTL


async def test_a_new_code_replaces_the_pending_one(services: Services) -> None:
    """Asking again replaces the pending code: the first no longer works."""
    await consenting(services, ("discord", DISCORD_ID), ("telegram", TELEGRAM_ID))
    first = shown_code(await services.links.link(on_discord(), None))
    second = shown_code(await services.links.link(on_discord(), None))
    assert await count(services.context.cohort, s.link_codes) == 1
    refused = await services.links.link(on_telegram(), first)
    assert "wrong or has expired" in refused.plain()
    accepted = await services.links.link(on_telegram(), second.lower().replace("-", " "))
    assert accepted.plain().startswith("Linked")


async def test_redeeming_on_the_other_platform_links_both(services: Services) -> None:
    """The code entered on Telegram links the two accounts into one person (audited)."""
    cohort = services.context.cohort
    await consenting(services, ("discord", DISCORD_ID), ("telegram", TELEGRAM_ID))
    code = shown_code(await services.links.link(on_discord(dm=False), None))
    reply = await services.links.link(on_telegram(), code)
    assert reply.private
    assert reply.plain() == (
        "Linked: your Discord and Telegram accounts are now one person for Cohort."
    )
    person = await person_of(services, "discord", DISCORD_ID)
    assert person is not None and person == await person_of(services, "telegram", TELEGRAM_ID)
    assert await count(cohort, s.persons) == 1
    assert await count(cohort, s.link_codes) == 0  # used up
    [(details,)] = await rows(
        cohort, select(s.audit_log.c.details).where(s.audit_log.c.action == "link")
    )
    assert details == {"platforms": ["discord", "telegram"]}
    again = await services.links.link(on_telegram(), code)
    assert "wrong or has expired" in again.plain()


async def test_a_code_entered_on_the_same_platform_is_refused(services: Services) -> None:
    """A Discord code entered on Discord links nothing."""
    cohort = services.context.cohort
    await consenting(services, ("discord", DISCORD_ID), ("discord", OTHER_DISCORD))
    code = shown_code(await services.links.link(on_discord(), None))
    reply = await services.links.link(on_discord(OTHER_DISCORD), code)
    assert reply.plain() == "Enter the code on your other platform, not this one."
    own = await services.links.link(on_discord(), code)
    assert "Linked" not in own.plain()
    assert await count(cohort, s.persons) == 0
    assert await person_of(services, "discord", OTHER_DISCORD) is None


async def test_an_expired_code_is_refused_and_used_up(services: Services, clock: Clock) -> None:
    """After 10 minutes the code no longer links, and it is deleted."""
    cohort = services.context.cohort
    await consenting(services, ("discord", DISCORD_ID), ("telegram", TELEGRAM_ID))
    code = shown_code(await services.links.link(on_discord(), None))
    clock.advance(minutes=11)
    reply = await services.links.link(on_telegram(), code)
    assert reply.plain() == "That code is wrong or has expired: run /link again."
    assert await count(cohort, s.link_codes) == 0
    assert await count(cohort, s.persons) == 0


async def test_five_wrong_codes_lock_the_member_out_for_a_while(
    services: Services, clock: Clock
) -> None:
    """After 5 wrong codes even the right one is refused until the window passes."""
    await consenting(services, ("discord", DISCORD_ID), ("telegram", TELEGRAM_ID))
    for attempt in range(MAX_ATTEMPTS):
        wrong = await services.links.link(on_telegram(), f"AAAA-AAA{attempt + 2}")
        assert "wrong or has expired" in wrong.plain()
    code = shown_code(await services.links.link(on_discord(), None))
    locked = await services.links.link(on_telegram(), code)
    assert locked.plain() == "Too many wrong codes: wait a few minutes and try again."
    assert await person_of(services, "telegram", TELEGRAM_ID) is None
    assert await count(services.context.cohort, s.link_codes) == 1  # not spent by the lock
    clock.advance(minutes=8)
    code = shown_code(await services.links.link(on_discord(), None))
    clock.advance(minutes=3)  # the wrong tries are now more than 10 minutes old
    accepted = await services.links.link(on_telegram(), code)
    assert accepted.plain().startswith("Linked")


async def test_members_must_opt_in_before_linking(services: Services) -> None:
    """Without profiling consent neither issuing nor redeeming a code works."""
    cohort = services.context.cohort
    await consenting(services, ("discord", DISCORD_ID))
    await write(
        cohort,
        consent(TELEGRAM_ID, False, None, platform="telegram", community=GROUP),
    )
    refused = await services.links.link(on_telegram(), None)
    assert refused.plain() == "Opt in first (/optin), then link your accounts."
    assert await count(cohort, s.link_codes) == 0
    stranger = await services.links.link(on_telegram(OTHER_TELEGRAM), None)
    assert stranger.plain() == "Opt in first (/optin), then link your accounts."
    code = shown_code(await services.links.link(on_discord(), None))
    redeem = await services.links.link(on_telegram(), code)
    assert redeem.plain() == "Opt in first (/optin), then link your accounts."
    assert await count(cohort, s.persons) == 0


async def test_an_issuer_who_opts_out_before_redeeming_is_not_linked(
    services: Services,
) -> None:
    """Consent is checked for both accounts when the code is redeemed."""
    cohort = services.context.cohort
    await consenting(services, ("discord", DISCORD_ID), ("telegram", TELEGRAM_ID))
    code = shown_code(await services.links.link(on_discord(), None))
    await services.consent.opt_out(on_discord(dm=False))
    reply = await services.links.link(on_telegram(), code)
    assert "Linked" not in reply.plain()
    assert await count(cohort, s.persons) == 0


async def test_unlink_separates_the_accounts(services: Services) -> None:
    """`/unlink` takes the account out of the person; the person row goes with one left."""
    cohort = services.context.cohort
    await consenting(services, ("discord", DISCORD_ID), ("telegram", TELEGRAM_ID))
    await linked(services, on_discord(), on_telegram())
    reply = await services.links.unlink(on_telegram())
    assert reply.plain() == "Unlinked: this account is on its own again."
    assert await person_of(services, "discord", DISCORD_ID) is None
    assert await person_of(services, "telegram", TELEGRAM_ID) is None
    assert await count(cohort, s.persons) == 0
    again = await services.links.unlink(on_telegram())
    assert again.plain() == "This account is not linked to another one."
    actions = [a for (a,) in await rows(cohort, select(s.audit_log.c.action))]
    assert actions.count("unlink") == 1


async def test_linking_two_linked_persons_merges_them(services: Services) -> None:
    """Linking identities of two persons leaves one person with all four identities."""
    cohort = services.context.cohort
    await consenting(
        services,
        ("discord", DISCORD_ID),
        ("telegram", TELEGRAM_ID),
        ("discord", OTHER_DISCORD),
        ("telegram", OTHER_TELEGRAM),
    )
    await linked(services, on_discord(), on_telegram())
    await linked(services, on_discord(OTHER_DISCORD), on_telegram(OTHER_TELEGRAM))
    assert await count(cohort, s.persons) == 2
    await linked(services, on_discord(), on_telegram(OTHER_TELEGRAM))
    persons = {
        await person_of(services, platform, member)
        for platform, member in (
            ("discord", DISCORD_ID),
            ("telegram", TELEGRAM_ID),
            ("discord", OTHER_DISCORD),
            ("telegram", OTHER_TELEGRAM),
        )
    }
    assert len(persons) == 1 and None not in persons
    [(person,)] = await rows(cohort, select(s.persons.c.id))
    assert persons == {person}
    await services.links.unlink(on_telegram())
    assert await person_of(services, "discord", DISCORD_ID) == person  # three are still one


# -- what linking changes --------------------------------------------------------------


async def test_a_consent_decision_applies_to_every_linked_identity(services: Services) -> None:
    """Opting out on Discord objects on Telegram too; opting back in grants both."""
    gate = services.context.cohort.gate
    await consenting(services, ("discord", DISCORD_ID), ("telegram", TELEGRAM_ID))
    await linked(services, on_discord(), on_telegram())
    services.context.clock.advance(minutes=1)  # type: ignore[attr-defined]
    await services.consent.opt_out(on_discord(dm=False))
    assert not gate.identifies("discord", GUILD, DISCORD_ID)
    assert not gate.identifies("telegram", GROUP, TELEGRAM_ID)
    assert not gate.may_dm("telegram", GROUP, TELEGRAM_ID)
    services.context.clock.advance(minutes=1)  # type: ignore[attr-defined]
    await services.consent.opt_in(on_discord(dm=False))
    assert gate.identifies("telegram", GROUP, TELEGRAM_ID)
    assert gate.may_dm("telegram", GROUP, TELEGRAM_ID)


async def test_a_purchase_on_one_identity_excludes_the_course_for_the_other(
    services: Services,
) -> None:
    """A course bought on Telegram is not recommended on Discord once linked (and is after
    unlinking)."""
    await load_catalog(services.context.cohort)
    await consenting(services, ("discord", DISCORD_ID), ("telegram", TELEGRAM_ID))
    await write(services.context.cohort, purchase(TELEGRAM_ID, "rust-101", platform="telegram"))
    async with services.context.store.read() as conn:
        member = await find_member(conn, "discord", DISCORD_ID)
    _, before = await services.recommend.choices_for(member, 100)  # the whole catalog
    assert "rust-101" in [c.course for c in before]
    await linked(services, on_discord(), on_telegram())
    async with services.context.store.read() as conn:
        member = await find_member(conn, "discord", DISCORD_ID)
    _, after = await services.recommend.choices_for(member, 100)
    assert "rust-101" not in [c.course for c in after]
    assert len(after) == len(before) - 1


async def test_dm_caps_count_every_linked_identity(services: Services) -> None:
    """A promotional DM to the Telegram identity caps the Discord one for the period."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await consenting(services, ("discord", DISCORD_ID), ("telegram", TELEGRAM_ID))
    now = services.context.clock()
    async with cohort.store.write() as conn:
        telegram = await find_member(conn, "telegram", TELEGRAM_ID)
        group = await find_community(conn, "telegram", GROUP)
        assert telegram is not None and group is not None
        await outbox.enqueue(
            conn,
            [
                outbox.NewDelivery(
                    kind="dm",
                    purpose="promotion",
                    payload={"platform": "telegram", "recipient": TELEGRAM_ID},
                    dedupe_key="promo:test:telegram",
                    community_id=group.id,
                    member_id=telegram.id,
                    course_id="python-101",
                )
            ],
            now - timedelta(days=1),
        )
    policy = DeliveryPolicy(DeliverySettings(), cohort.gate)

    async def verdict() -> str | None:
        async with cohort.store.read() as conn:
            discord = await find_member(conn, "discord", DISCORD_ID)
            guild = await find_community(conn, "discord", GUILD)
            assert discord is not None and guild is not None
            verdicts = await policy.check(conn, [discord], guild, "rust-101", now)
        return verdicts[discord.id].blocked

    assert await verdict() is None
    await linked(services, on_discord(), on_telegram())
    assert await verdict() == CAPPED


async def test_training_merges_linked_identities_into_one_member(services: Services) -> None:
    """Training sees a linked person once: the lower row id, with both identities' activity."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await consenting(services, ("discord", DISCORD_ID), ("telegram", TELEGRAM_ID))
    await write(cohort, purchase(TELEGRAM_ID, "rust-101", platform="telegram"))
    await linked(services, on_discord(), on_telegram())
    async with cohort.store.read() as conn:
        discord = await find_member(conn, "discord", DISCORD_ID)
        telegram = await find_member(conn, "telegram", TELEGRAM_ID)
    assert discord is not None and telegram is not None
    keep = min(discord.id, telegram.id)
    inputs = await load_inputs(cohort.store, cohort.gate, now=services.context.clock())
    assert [m.id for m in inputs.members] == [keep]
    assert {m.member for m in inputs.messages} == {keep} and len(inputs.messages) == 2
    assert [(i[0], i[1]) for i in inputs.interactions] == [(keep, "rust-101")]
    assert len(inputs.member_communities[keep]) == 2


def test_person_keys_map_each_linked_identity_to_the_lowest() -> None:
    """Identities of one person map to its lowest row id; lone members are not mapped."""
    members = [
        MemberRow(7, "discord", "d7", None, None, None, person_id=1),
        MemberRow(3, "telegram", "t3", None, None, None, person_id=1),
        MemberRow(9, "telegram", "t9", None, None, None, person_id=1),
        MemberRow(4, "discord", "d4", None, None, None, person_id=2),
        MemberRow(5, "discord", "d5", None, None, None),
    ]
    assert person_keys(members) == {7: 3, 9: 3}
