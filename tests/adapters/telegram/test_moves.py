"""A Telegram group upgraded to a supergroup stays one community: the store moves it,
consent follows it, and sends to the old id go to the new one. Real PTB updates, the
real services and store; only Telegram's servers are fake (`FakeTelegram`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from telegram import Update

from bot.adapters.telegram import TelegramAdapter
from bot.app import Cohort
from bot.core.commands import Commands
from bot.core.delivery.transport import Delivery, SendStatus
from bot.core.services.suite import Services
from bot.domain.replies import Paragraph, Reply
from bot.store import schema as s
from bot.store.community_moves import move_community
from tests.fakes import telegram as fake
from tests.fakes import telegram_payloads as tg
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram_payloads import ALICE
from tests.helpers import T0, consent, count, join, message, rows, write

OLD = -4012345678  # the basic group (tg.basic_group())
NEW = -1001234567890  # the supergroup it became (tg.GROUP_ID)
UPGRADED = (
    400,
    "Bad Request: group chat was upgraded to a supergroup chat",
    {"migrate_to_chat_id": NEW},
)


@dataclass
class Harness:
    cohort: Cohort
    api: FakeTelegram
    adapter: TelegramAdapter

    async def feed(self, **kind: dict[str, Any]) -> None:
        application = self.adapter.application
        await application.process_update(Update.de_json(tg.update(**kind), application.bot))
        await fake.settle()


@pytest.fixture
async def harness(sqlite_cohort: Cohort) -> AsyncIterator[Harness]:
    api = FakeTelegram()
    api.chats[OLD] = tg.basic_group()
    commands = Commands(Services.build(sqlite_cohort))
    sqlite_cohort.pipeline.start()
    adapter = TelegramAdapter(sqlite_cohort.pipeline, tg.TOKEN, request=api, commands=commands)
    await adapter.application.initialize()
    await adapter.application.start()
    yield Harness(sqlite_cohort, api, adapter)
    await adapter.stop()


async def communities(cohort: Cohort) -> list[str]:
    return [row[0] for row in await rows(cohort, select(s.communities.c.platform_id))]


async def test_upgrade_keeps_one_community_with_its_history_and_consent(harness: Harness) -> None:
    """migrate_to/migrate_from: the community takes the supergroup's id, keeps the old
    group's messages, and Alice's DM consent from the old group holds in the new one."""
    cohort = harness.cohort
    old_group, new_group = tg.basic_group(), tg.supergroup()
    await harness.feed(message=tg.message("rust in the old group", chat=old_group, message_id=5))
    await harness.feed(message=tg.command("/optin", chat=old_group, message_id=6))
    assert cohort.gate.may_dm("telegram", str(OLD), str(ALICE["id"]))

    await harness.feed(message=tg.message(None, chat=old_group, migrate_to_chat_id=NEW))
    await harness.feed(message=tg.message(None, chat=new_group, migrate_from_chat_id=OLD))
    await harness.feed(message=tg.message("rust in the supergroup", chat=new_group, message_id=1))
    await cohort.pipeline.flush()

    assert await communities(cohort) == [str(NEW)]
    assert cohort.gate.may_dm("telegram", str(NEW), str(ALICE["id"]))
    assert not cohort.gate.may_dm("telegram", str(OLD), str(ALICE["id"]))
    texts = await rows(cohort, select(s.messages.c.text).order_by(s.messages.c.text))
    assert [t for (t,) in texts] == ["rust in the old group", "rust in the supergroup"]


async def test_send_to_the_old_id_is_resent_once_to_the_new_one(harness: Harness) -> None:
    """A delivery to the old group gets ChatMigrated: it is resent to the supergroup,
    the community is moved, and the next send goes straight to the new id."""
    cohort = harness.cohort
    await harness.feed(message=tg.message("hello", chat=tg.basic_group(), message_id=5))
    await cohort.pipeline.flush()
    harness.api.fail("sendMessage", UPGRADED, chat_id=OLD, times=None)
    transport = harness.adapter.transport()
    await harness.adapter.application.bot.initialize()

    def delivery(number: int) -> Delivery:
        reply = Reply((Paragraph.of(f"digest {number}"),))
        return Delivery(number, "channel", "digest", "telegram", str(OLD), str(OLD), reply)

    first = await transport.send(delivery(1))
    second = await transport.send(delivery(2))

    assert (first.status, second.status) == (SendStatus.SENT, SendStatus.SENT)
    assert len(harness.api.sent("sendMessage", OLD)) == 1  # refused once, never again
    assert [c.parameters["text"] for c in harness.api.sent("sendMessage", NEW)] == [
        "digest 1",
        "digest 2",
    ]
    assert await communities(cohort) == [str(NEW)]


async def test_after_a_restart_a_send_to_the_old_id_goes_to_the_new_one_at_once(
    harness: Harness,
) -> None:
    """After a restart, a send to a group whose move is stored goes straight to the new id."""
    cohort = harness.cohort
    await write(cohort, message(platform="telegram", community=str(OLD), channel=str(OLD)))
    await cohort.store.run_write(lambda conn: move_community(conn, "telegram", str(OLD), str(NEW)))
    harness.api.fail("sendMessage", UPGRADED, chat_id=OLD, times=None)
    assert harness.adapter.moves.where(OLD) == OLD  # the restarted process knows nothing yet
    transport = harness.adapter.transport()
    await harness.adapter.application.bot.initialize()

    reply = Reply((Paragraph.of("digest"),))
    outcome = await transport.send(
        Delivery(1, "channel", "digest", "telegram", str(OLD), str(NEW), reply)
    )

    assert outcome.status == SendStatus.SENT
    assert harness.api.sent("sendMessage", OLD) == []
    assert [c.parameters["text"] for c in harness.api.sent("sendMessage", NEW)] == ["digest"]


async def test_merge_when_both_ids_already_have_a_community(cohort: Cohort) -> None:
    """If the supergroup was stored before the upgrade was seen, the old community is
    merged into it: channels, members (later consent wins) and daily joins."""
    old, new = str(OLD), str(NEW)
    telegram: dict[str, Any] = {"platform": "telegram"}
    await write(
        cohort,
        consent("a", community=old, dm=True, ts=T0, **telegram),
        consent("a", community=new, profiling=True, dm=False, ts=T0 - timedelta(hours=1),
                **telegram),
        consent("b", community=old, ts=T0, **telegram),
        message(member="a", community=old, channel=old, message="5", **telegram),
        message(member="a", community=new, channel=new, message="5", **telegram),
        join("a", community=old, ts=T0, **telegram),
        join("c", community=new, ts=T0 + timedelta(minutes=1), **telegram),
    )  # fmt: skip
    joins = select(s.community_daily.c.day, s.community_daily.c.joins)
    before = await rows(cohort, joins)
    result = await cohort.store.run_write(lambda conn: move_community(conn, "telegram", old, new))
    assert result.merged
    await cohort.reload_consent()

    assert await communities(cohort) == [new]
    assert await count(cohort, s.channels) == 2
    assert await count(cohort, s.messages) == 2  # same message id, two channels
    assert cohort.gate.may_dm("telegram", new, "a")  # the later decision won
    assert cohort.gate.identifies("telegram", new, "b")
    assert await count(cohort, s.memberships) == 2  # a (merged) and b
    after = await rows(cohort, joins)
    assert len(before) == 2 and len(after) == 1  # one day, counted once per community
    assert sum(n for _, n in after) == sum(n for _, n in before) == 2
    again = await cohort.store.run_write(lambda conn: move_community(conn, "telegram", old, new))
    assert not again.moved


async def test_move_of_an_unknown_group_changes_nothing(cohort: Cohort) -> None:
    """Reporting the upgrade of a group Cohort never stored is harmless."""
    await write(cohort, message(platform="telegram", community="-1", channel="-1", member="a"))
    result = await cohort.store.run_write(
        lambda conn: move_community(conn, "telegram", "-2", "-1002")
    )
    assert not result.moved
    assert await communities(cohort) == ["-1"]
