"""What moderators and the operator are told after a promotion: its real outcome.

The dispatcher records each delivery's final state on its outbox row; the status is a
query over those rows, so most tests set the rows as the dispatcher leaves them, and
one runs the real `Dispatcher` over a recording transport to completion.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import select, update

from bot.app import Cohort
from bot.core.delivery.dispatcher import Dispatcher
from bot.core.delivery.transport import SendResult, SendStatus
from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.domain.replies import Reply
from bot.store import schema as s
from tests.cli.test_cli import cohort as cli
from tests.conftest import make_settings
from tests.core.services.conftest import NOW, Clock, load_catalog
from tests.fakes.transport import RecordingTransport
from tests.helpers import consent, write

MOD = Actor("discord", "mod1", "Mod", "g1", "c1", "en", roles=("Moderator",))
MEMBER = Actor("discord", "u1", "alice", "g1", "c1", "en", roles=("Member",))
FORBIDDEN = "403 Forbidden (error code: 50007): Cannot send messages to this user"


async def _campaign_of_five(services: Services) -> list[int]:
    """Five members opted in to DMs, a promotion to them confirmed; the outbox row ids."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await write(cohort, *(consent(f"u{n}", True, True) for n in range(1, 6)))
    preview = await services.promote.preview(MOD, "rust-101", "opted-in")
    [draft] = [
        b.action.removeprefix("pr:")
        for b in preview.all_buttons()
        if b.action and b.action.startswith("pr:") and b.action != "pr:cancel"
    ]
    await services.promote.confirm(MOD, draft)
    async with cohort.store.read() as conn:
        ids = list((await conn.execute(select(s.outbox.c.id).order_by(s.outbox.c.id))).scalars())
    assert len(ids) == 5
    return ids


async def _finish(
    services: Services, ids: list[int], status: str, error: str | None = None
) -> None:
    """Record final states as the dispatcher does."""
    async with services.context.store.write() as conn:
        await conn.execute(
            update(s.outbox).where(s.outbox.c.id.in_(ids)).values(status=status, last_error=error)
        )


def _text(reply: Reply | None) -> str:
    assert reply is not None
    return reply.plain()


async def test_status_tells_sent_unreachable_cancelled_failed_and_pending(
    services: Services,
) -> None:
    """`/promote status` counts each final state of the campaign, not what was queued."""
    ids = await _campaign_of_five(services)
    await _finish(services, ids[:2], "sent")
    await _finish(services, ids[2:3], "unreachable")
    await _finish(services, ids[3:4], "cancelled")
    text = _text(await services.promote.preview(MOD, "status", ""))
    assert "rust-101 → opted-in: 2 sent, 1 unreachable, 1 cancelled, 0 failed, 1 pending." in text


async def test_follow_up_waits_for_the_campaign_to_finish(services: Services) -> None:
    """The follow-up comes once nothing is pending, with the last error of a failed delivery."""
    ids = await _campaign_of_five(services)
    await _finish(services, ids[:4], "sent")
    draft = await _latest_draft(services)
    waiting = asyncio.ensure_future(
        services.promote.follow_up(MOD, draft, wait_at_most=3600, poll=0.001)
    )
    await asyncio.sleep(0.05)
    assert not waiting.done()  # one delivery still pending
    await _finish(services, ids[4:], "failed", FORBIDDEN)
    text = _text(await asyncio.wait_for(waiting, 30))
    assert "4 sent, 0 unreachable, 0 cancelled, 1 failed, 0 pending." in text
    assert "50007" in text


async def test_follow_up_past_its_wait_reports_what_is_still_pending(services: Services) -> None:
    """When the wait runs out, the follow-up says what is still pending instead of nothing."""
    await _campaign_of_five(services)
    text = _text(
        await services.promote.follow_up(MOD, await _latest_draft(services), wait_at_most=0)
    )
    assert "0 sent" in text and "5 pending" in text


async def test_status_and_follow_up_report_what_the_dispatcher_did(
    services: Services, clock: Clock
) -> None:
    """Sent, unreachable, failed and retried deliveries of the real Dispatcher are what is told."""
    await _campaign_of_five(services)
    draft = await _latest_draft(services)
    rejected = "400 Bad Request (error code: 50035): Invalid Form Body"
    transport = RecordingTransport(
        SendResult(SendStatus.SENT),
        SendResult(SendStatus.SENT),
        SendResult(SendStatus.UNREACHABLE, error=FORBIDDEN),
        SendResult(SendStatus.FAILED, error=rejected),
        SendResult(SendStatus.RETRY, error="connection refused"),
    )
    dispatcher = Dispatcher(services.context, transport)
    waiting = asyncio.ensure_future(
        services.promote.follow_up(MOD, draft, wait_at_most=3600, poll=0.01)
    )
    await dispatcher.drain()  # the retried one is due again later
    assert len(transport.sent) == 5
    status = _text(await services.promote.preview(MOD, "status", ""))
    assert "2 sent, 1 unreachable, 0 cancelled, 1 failed, 1 pending." in status
    assert not waiting.done()  # the follow-up waits for the pending one
    clock.advance(hours=1)
    await dispatcher.drain()
    assert len(transport.sent) == 6
    text = _text(await asyncio.wait_for(waiting, 30))
    assert "3 sent, 1 unreachable, 0 cancelled, 1 failed, 0 pending." in text
    assert f"Last error: {rejected}" in text


async def test_a_discord_slow_down_is_told_to_the_moderator(
    services: Services, clock: Clock
) -> None:
    """40003 ("opening DMs too fast") pauses the campaign; its status says so, none unreachable."""
    await _campaign_of_five(services)
    transport = RecordingTransport(
        SendResult(SendStatus.SENT),
        SendResult(SendStatus.RATE_LIMITED, error="40003 opening DMs too fast", slow_down=True),
        *(SendResult(SendStatus.SENT) for _ in range(4)),
    )
    dispatcher = Dispatcher(services.context, transport)
    await dispatcher.drain()
    clock.advance(hours=1)
    await dispatcher.drain()
    text = _text(await services.promote.preview(MOD, "status", ""))
    assert "5 sent, 0 unreachable, 0 cancelled, 0 failed, 0 pending." in text
    assert "asked Cohort to open DMs more slowly once" in text


async def test_status_and_follow_up_are_for_moderators_only(services: Services) -> None:
    """A member asking for the status is refused; a member's follow-up is nothing."""
    await _campaign_of_five(services)
    refused = _text(await services.promote.preview(MEMBER, "status", ""))
    assert refused == "Only moderators and admins can do this."
    assert (
        await services.promote.follow_up(MEMBER, await _latest_draft(services), wait_at_most=0)
        is None
    )


async def _latest_draft(services: Services) -> str:
    async with services.context.store.read() as conn:
        draft = await conn.scalar(
            select(s.audit_log.c.id)
            .where(s.audit_log.c.action == "promote.preview")
            .order_by(s.audit_log.c.id.desc())
            .limit(1)
        )
    return str(draft)


def test_cli_promote_status_prints_each_campaign(tmp_path: Path) -> None:
    """`cohort promote status` prints the campaign's counts and error; --json has them too."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cohort.db'}"

    async def prepare() -> None:
        from bot.core.services.suite import Services as Built
        from tests.core.services.conftest import Clock, build_services

        app = await Cohort.build(make_settings(url))
        try:
            services: Built = build_services(app, Clock(NOW), tmp_path / "artifacts")
            ids = await _campaign_of_five(services)
            await _finish(services, ids, "failed", FORBIDDEN)
        finally:
            await app.close()

    asyncio.run(prepare())
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    code, out, err = cli("--config", str(config), "promote", "status", "--community", "discord:g1")
    assert code == 0, err
    assert "rust-101 → opted-in: failed 5 (finished); last error: " + FORBIDDEN in out
    code, out, _ = cli(
        "--config", str(config), "promote", "status", "--community", "discord:g1", "--json"
    )
    [campaign] = json.loads(out)
    assert campaign["statuses"] == {"failed": 5} and campaign["finished"]
    code, _, err = cli("--config", str(config), "promote", "rust-101", "--community", "discord:g1")
    assert code == 1 and "--audience is required" in err
