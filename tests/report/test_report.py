"""`cohort report`'s page: gathered from a real store and a trained model, drawn, written as HTML.

Checks what the reader sees: every section, charts that decode, Chinese when asked,
friendly notes where there is nothing to show, and names only for members the
consent gate may identify.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from PIL import Image
from sqlalchemy import insert

from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.report.gather import gather
from bot.report.page import render_html
from bot.store import schema as s
from bot.store.communities import find_community
from bot.store.members import members_by_ids
from bot.store.tracking import Shown, record_impressions
from tests.core.services.conftest import NOW, import_community, load_catalog, train_model
from tests.helpers import message, write

IMAGE = re.compile(r'<img src="data:image/png;base64,([^"]+)"')
SECTIONS = (
    "activity",
    "heatmap",
    "segments",
    "influencers",
    "topics",
    "funnel",
    "coverage",
    "deliveries",
)


def images(page: str) -> list[Image.Image]:
    """Every embedded chart of the page, decoded (raises if one is not a valid PNG)."""
    decoded = []
    for data in IMAGE.findall(page):
        image = Image.open(io.BytesIO(base64.b64decode(data)), formats=["PNG"])
        image.load()
        decoded.append(image)
    return decoded


def section(page: str, name: str) -> str:
    """The HTML of one panel."""
    start = page.index(f'<div class="panel" id="{name}">')
    return page[start : page.index("</div>\n", start)]


async def shown_and_sent(services: Services, community_ref: str) -> None:
    """Picks shown to two members (personal and holdout) and two deliveries, one sent."""
    cohort = services.context.cohort
    platform, _, platform_id = community_ref.partition(":")
    async with cohort.store.read() as conn:
        place = await find_community(conn, platform, platform_id)
        members = list((await members_by_ids(conn, range(1, 400))).values())[:4]
    assert place is not None and len(members) == 4
    shown = [
        Shown(m.id, "rust-101", 1, variant, platform, place.id)
        for m, variant in zip(members, ("personal", "holdout", "personal", "holdout"), strict=True)
    ]
    when = NOW.replace(hour=0)

    def work(conn: object) -> None:
        record_impressions(conn, shown, when)  # type: ignore[arg-type]
        for status in ("sent", "unreachable"):
            conn.execute(  # type: ignore[attr-defined]
                insert(s.outbox).values(
                    kind="dm", community_id=place.id, payload={}, status=status, created_at=when
                )
            )

    await cohort.store.run_write(work)


async def test_trained_community_report_has_every_section_with_decodable_charts(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """After training, each section has a chart; every chart is a PNG that decodes."""
    services = sqlite_services
    await load_catalog(services.context.cohort)
    generated = await import_community(services.context.cohort, tmp_path, members=40)
    await train_model(services)
    await shown_and_sent(services, f"discord:{generated.id}")

    data = await gather(services.context, services.funnel, days=30)
    page = render_html(data)

    (community,) = data.communities
    assert community.segments and community.graph.nodes and community.topics
    assert community.deliveries.counts == {"sent": 1, "unreachable": 1}
    assert community.coverage.shown_count == 1
    for name in SECTIONS:
        assert "<img " in section(page, name), name
        assert 'class="empty"' not in section(page, name), name
    charts = images(page)
    assert len(charts) == len(SECTIONS)  # one chart per section
    assert all(image.width > 300 and image.height > 100 for image in charts)
    assert 'lang="en"' in page and "Activity per channel" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


async def test_only_members_the_gate_identifies_are_named_in_the_graph(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """A top member who objects after training is drawn as a number, never by name."""
    services = sqlite_services
    await load_catalog(services.context.cohort)
    generated = await import_community(services.context.cohort, tmp_path, members=40)
    await train_model(services)
    before = (await gather(services.context, services.funnel, days=30)).communities[0].graph
    named = [node for node in before.nodes if node.named]
    assert named, "the synthetic community has consenting top members"
    leaving = next(m for m in generated.members if m.name == named[0].label)

    actor = Actor("discord", leaving.id, leaving.name, generated.id, None, "en")
    await services.consent.opt_out(actor)
    data = await gather(services.context, services.funnel, days=30)
    page = render_html(data)

    after = data.communities[0].graph
    assert len(after.nodes) == len(before.nodes)
    assert leaving.name not in [node.label for node in after.nodes]
    assert leaving.name not in page
    assert any(not node.named and node.label.startswith("Member ") for node in after.nodes)


async def test_chinese_report_is_in_chinese(sqlite_services: Services, tmp_path: Path) -> None:
    """`locale=zh_Hans` writes the page and its labels in Simplified Chinese."""
    services = sqlite_services
    await import_community(services.context.cohort, tmp_path, members=20)
    page = render_html(await gather(services.context, services.funnel, days=30, locale="zh_Hans"))
    assert 'lang="zh-Hans"' in page
    assert "各频道活跃度" in page and "Activity per channel" not in page
    assert "尚未训练" in page  # no model yet, said in Chinese
    assert images(page)


async def test_empty_store_says_so_instead_of_drawing(sqlite_services: Services) -> None:
    """No community at all: one friendly note, no chart, no error."""
    page = render_html(await gather(sqlite_services.context, sqlite_services.funnel, days=30))
    assert 'id="no-communities"' in page and "Cohort has no community yet" in page
    assert images(page) == []


async def test_untrained_quiet_community_gets_a_note_in_every_empty_section(
    sqlite_services: Services,
) -> None:
    """A community with one anonymous message and no model: notes, not empty charts."""
    services = sqlite_services
    await write(services.context.cohort, message(ts=NOW.replace(hour=9)))  # u1 has not opted in
    page = render_html(await gather(services.context, services.funnel, days=7))
    assert "<img " in section(page, "activity")  # counted anonymously, still activity
    assert "No messages from members who opted in" in section(page, "heatmap")
    assert "No model trained yet" in section(page, "segments")
    assert "No interaction graph yet" in section(page, "influencers")
    assert "No picks shown in this period yet." in section(page, "funnel")
    assert "Nothing was queued for delivery" in section(page, "deliveries")
    assert "alice" not in page
