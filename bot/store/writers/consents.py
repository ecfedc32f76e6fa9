"""Consent decisions: the two flags and their time on the member's membership row."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.events import ConsentChanged
from bot.store import statements
from bot.store.writers.context import WriteContext


def write_consents(ctx: WriteContext, consents: Sequence[ConsentChanged]) -> None:
    """Store the decisions the gate applied (an older stored one never overrides a newer)."""
    if not consents:
        return
    ids = ctx.ids
    ctx.conn.execute(
        statements.CONSENT,
        [
            {
                "cid": ids.community(event.platform, event.community),
                "uid": ids.member(event.platform, event.member),
                "cts": event.ts,
                "profiling": event.profiling,
                "dm": event.dm,
            }
            for event in consents
        ],
    )
    ctx.result.consents += len(consents)
