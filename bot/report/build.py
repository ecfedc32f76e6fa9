"""Build a whole report (gather, then draw and write off the event loop) and save it safely."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bot.core.services.context import ServiceContext
from bot.core.services.funnel import FunnelService
from bot.report.gather import gather
from bot.report.page import render_html
from bot.store.communities import CommunityInfo

log = logging.getLogger(__name__)


async def build_report(
    context: ServiceContext,
    funnel: FunnelService,
    *,
    days: int,
    locale: str | None = None,
    communities: Sequence[CommunityInfo] | None = None,
) -> str:
    """The HTML report of the last `days` days (charts drawn in a worker thread)."""
    data = await gather(context, funnel, days=days, locale=locale, communities=communities)
    return await asyncio.to_thread(render_html, data)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file: the old file or the new, never half.

    Raises `OSError` when the folder does not exist or cannot be written.
    """
    folder = path.parent if str(path.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
