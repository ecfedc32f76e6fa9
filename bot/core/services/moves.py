"""Communities that change their platform id (a Telegram group becoming a supergroup).

The adapter reports a move when it sees it (a `migrate_to_chat_id` service message,
or Telegram refusing a send with "group chat was upgraded to a supergroup chat").
`CommunityMoves.moved` writes everything queued so far, so no event of the old id
lands after the move, then keeps one community in the store (see
`bot.store.community_moves`) and reloads the consent gate, whose decisions are keyed
by the community's id. Moves are idempotent: reporting one twice changes nothing.
"""

from __future__ import annotations

import logging

from bot.core.services.context import ServiceContext
from bot.store.community_moves import MoveResult, current_chat, move_community

log = logging.getLogger(__name__)


class CommunityMoves:
    """Keeps one community when its platform id changes; says where an old id now is."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def moved(self, platform: str, old: str, new: str) -> MoveResult:
        """Record that community `old` is now `new` (idempotent)."""
        cohort = self.context.cohort
        await cohort.pipeline.flush()
        result = await cohort.store.run_write(
            lambda conn: move_community(conn, platform, old, new), durable=True
        )
        if result.moved:
            await cohort.reload_consent()
            how = "merged into" if result.merged else "is now"
            log.info("%s community %s %s %s (group upgraded)", platform, old, how, new)
        return result

    async def current(self, platform: str, chat: str) -> str:
        """Where messages for `chat` must go now: its community's new id, or `chat` itself."""
        async with self.context.store.read() as conn:
            return await current_chat(conn, platform, chat) or chat
