"""`/insights` on Telegram: the summary as a photo in the moderator's private chat, and the
full report as a document from its button. Real PTB updates; only the Bot API is fake."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from PIL import Image

from tests.adapters.telegram.test_commands import Harness, harness, text_of
from tests.fakes import telegram as fake
from tests.fakes import telegram_payloads as tg
from tests.fakes.telegram_payloads import BOB, GROUP_ID

__all__ = ["harness"]


async def test_insights_sends_a_chart_photo_and_its_button_sends_the_report(
    harness: Harness,
) -> None:
    """An admin's /insights arrives as a PNG photo with the summary as caption; pressing
    "Full report" there sends the HTML report as a document."""
    harness.api.statuses[(GROUP_ID, BOB["id"])] = "administrator"
    today = datetime.now(UTC).timestamp()
    await harness.feed(message={**tg.message("rust tokio", sender=BOB, message_id=78)})
    await harness.feed(
        message={**tg.message("async rust", sender=BOB, message_id=79), "date": int(today)}
    )
    await harness.cohort.pipeline.flush()
    await harness.feed(message=tg.command("/insights", sender=BOB, message_id=80))

    (photo,) = harness.api.sent("sendPhoto", BOB["id"])
    assert "Insights:" in text_of(photo)
    (upload,) = photo.uploads
    chart = Image.open(io.BytesIO(upload.content), formats=["PNG"])
    assert chart.width > 300 and chart.height > 100
    assert fake.callback_data(photo) == ["rp:"]
    assert harness.group() == []

    await harness.feed(callback_query=tg.callback_query("rp:", who=BOB, message=photo.result))
    (document,) = harness.api.sent("sendDocument", BOB["id"])
    (report,) = document.uploads
    assert (report.filename, report.mimetype) == ("cohort-report.html", "text/html")
    assert "data:image/png;base64," in report.content.decode("utf-8")


async def test_report_button_is_refused_to_a_member(harness: Harness) -> None:
    """A member who presses "Full report" (a forwarded keyboard) gets a refusal, no file."""
    await harness.seen_in_group(BOB)
    group_message = tg.bot_message(BOB, chat=tg.supergroup())
    await harness.feed(callback_query=tg.callback_query("rp:", who=BOB, message=group_message))
    assert harness.api.sent("sendDocument") == []
    assert any("Only moderators" in text_of(call) for call in harness.api.sent("sendMessage"))
