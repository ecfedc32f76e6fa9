"""Button presses and purchases: interaction rows, idempotent on a dedupe key.

The key is the platform's interaction id or the order id when there is one, else
a keyed hash of what happened. Members the admission did not identify are stored
without a member. Presses and purchases of courses not in the catalog are dropped
(logged and counted as rejected).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.domain.events import ButtonPressed, PurchaseMade
from bot.store.writers.context import WriteContext

log = logging.getLogger(__name__)


def write_interactions(
    ctx: WriteContext,
    buttons: Sequence[tuple[ButtonPressed, bool]],
    purchases: Sequence[tuple[PurchaseMade, bool]],
) -> None:
    """Store presses and purchases of known courses; count the new rows."""
    if not buttons and not purchases:
        return
    wanted = {b.course for b, _ in buttons} | {p.course for p, _ in purchases}
    known = ctx.cache.known_courses(ctx.conn, wanted)
    rows: list[dict[str, Any]] = []
    for button, identified in buttons:
        if button.course not in known:
            log.warning("button press for unknown course %r dropped", button.course)
            ctx.result.rejected += 1
            continue
        rows.append(_button_row(ctx, button, identified))
    for purchase, identified in purchases:
        if purchase.course not in known:
            log.warning("purchase of unknown course %r dropped", purchase.course)
            ctx.result.rejected += 1
            continue
        rows.append(_purchase_row(ctx, purchase, identified))
    if rows:
        inserted = ctx.conn.execute(ctx.sql.interactions, rows)
        ctx.result.interactions += len(inserted.all())


def _button_row(ctx: WriteContext, button: ButtonPressed, identified: bool) -> dict[str, Any]:
    ids = ctx.ids
    dedupe = (
        f"button:{button.platform}:{button.interaction}"
        if button.interaction
        else "button:"
        + ctx.hash(
            button.platform, button.member, button.course, button.action, button.ts.isoformat()
        ).hex()
    )
    return _interaction(
        kind=button.action,
        member=ids.member(button.platform, button.member) if identified else None,
        course=button.course,
        community=ids.community(button.platform, button.community),
        channel=ctx.channel_of(button, button.channel) if button.channel else None,
        ts=button.ts,
        source=button.platform,
        variant=button.variant,
        position=button.position,
        token=button.token,
        dedupe=dedupe,
    )


def _purchase_row(ctx: WriteContext, purchase: PurchaseMade, identified: bool) -> dict[str, Any]:
    ids = ctx.ids
    dedupe = (
        f"purchase:{purchase.source}:{purchase.order}"
        if purchase.order
        else "purchase:"
        + ctx.hash(
            purchase.platform, purchase.member, purchase.course, purchase.ts.isoformat()
        ).hex()
    )
    return _interaction(
        kind="purchase",
        member=ids.member(purchase.platform, purchase.member) if identified else None,
        course=purchase.course,
        community=ids.community(purchase.platform, purchase.community)
        if purchase.community
        else None,
        channel=None,
        ts=purchase.ts,
        source=purchase.source,
        amount=None if purchase.amount is None else Decimal(str(purchase.amount)),
        currency=purchase.currency,
        token=purchase.token,
        dedupe=dedupe,
    )


def _interaction(
    *,
    kind: str,
    member: int | None,
    course: str,
    community: int | None,
    channel: int | None,
    ts: datetime,
    source: str,
    dedupe: str,
    variant: str | None = None,
    position: int | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "member_id": member,
        "course_id": course,
        "community_id": community,
        "channel_id": channel,
        "ts": ts,
        "source": source,
        "variant": variant,
        "position": position,
        "amount": amount,
        "currency": currency,
        "token": token,
        "attributed_to": None,
        "dedupe_key": dedupe,
    }
