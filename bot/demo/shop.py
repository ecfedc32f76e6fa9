"""The demo's network edge: Cohort's own web app on a local port, and a shop calling it.

`LocalWeb` serves `bot.web` (the click redirect and the purchase webhook) on a free
port of 127.0.0.1 for the length of the simulation, and plays both sides a real
deployment has: a member's browser opening a "Learn more" link (the redirect is not
followed: the course page is on the internet), and the shop reporting a purchase with
the link's token through the signed webhook. Without a webhook secret in the config
(an older demo folder) purchases go to the shop's CSV export instead.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import aiohttp

from bot.demo.behaviour import Pick, Seen, order_row, webhook_body
from bot.web.app import SIGNATURE_HEADER, sign
from bot.web.server import WebServer

if TYPE_CHECKING:
    from bot.app import Cohort

log = logging.getLogger(__name__)

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) cohort-demo"


def order_id() -> str:
    """A new order number, as a shop would make one."""
    return f"shop-{secrets.token_hex(6)}"


@dataclass
class LocalWeb:
    """A member's browser and the shop, both talking to Cohort's web app."""

    http: aiohttp.ClientSession
    secret: str
    csv_rows: list[list[str]] = field(default_factory=list)

    async def click(self, path: str) -> None:
        """Open a tracking link (`/r/<token>`): Cohort records the click and redirects."""
        async with self.http.get(path, allow_redirects=False) as response:
            if response.status != 302:
                log.warning("click on %s answered %d", path, response.status)

    async def buy(self, message: Seen, pick: Pick) -> None:
        """The shop reports a purchase made from a link (signed webhook with its token)."""
        if not self.secret:
            self.csv_rows.append(order_row(message, pick, datetime.now(UTC), order_id()))
            return
        body = webhook_body(pick, order_id())
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body)}
        async with self.http.post("/hooks/purchase", data=body, headers=headers) as response:
            if response.status != 202:
                log.warning("purchase webhook answered %d", response.status)

    def buy_later(self, message: Seen, pick: Pick) -> list[str]:
        """A purchase made without a click: a row of the shop's CSV export."""
        return order_row(message, pick, datetime.now(UTC), order_id())


@asynccontextmanager
async def local_web(cohort: Cohort) -> AsyncIterator[LocalWeb]:
    """Cohort's web app on a free local port, and a client for it; stopped afterwards."""
    server = WebServer(cohort, host="127.0.0.1", port=0)
    await server.start()
    try:
        async with aiohttp.ClientSession(
            base_url=server.url, headers={"User-Agent": BROWSER}
        ) as http:
            yield LocalWeb(http, cohort.settings.web.webhook_secret.get_secret_value())
    finally:
        await server.stop()
