"""`/digest preview` and `/digest now` on Telegram, for group admins, answered privately.
Real PTB updates; only the Bot API is fake."""

from __future__ import annotations

from tests.adapters.telegram.test_commands import Harness, harness, text_of
from tests.fakes import telegram_payloads as tg
from tests.fakes.telegram_payloads import BOB, GROUP_ID

__all__ = ["harness"]


async def test_an_admin_previews_then_sends_the_digest_privately(harness: Harness) -> None:
    """/digest preview shows the post privately; /digest now queues it; the group sees nothing."""
    harness.api.statuses[(GROUP_ID, BOB["id"])] = "administrator"
    await harness.feed(message={**tg.message("rust tokio async", sender=BOB, message_id=90)})
    await harness.cohort.pipeline.flush()

    await harness.feed(message=tg.command("/digest preview", sender=BOB, message_id=91))
    preview = "\n".join(text_of(call) for call in harness.api.sent("sendMessage", BOB["id"]))
    assert "Digest preview" in preview and "opted in to direct messages" in preview

    await harness.feed(message=tg.command("/digest now", sender=BOB, message_id=92))
    answers = [text_of(call) for call in harness.api.sent("sendMessage", BOB["id"])]
    assert any("queued" in answer for answer in answers), answers
    assert harness.group() == []


async def test_a_member_cannot_send_the_digest(harness: Harness) -> None:
    """A member's /digest now is refused and queues nothing."""
    await harness.seen_in_group(BOB)
    await harness.feed(message=tg.command("/digest now", sender=BOB, message_id=93))
    answers = [text_of(call) for call in harness.api.sent("sendMessage")]
    assert any("Only moderators" in answer for answer in answers), answers
    assert not any("queued" in answer for answer in answers)
