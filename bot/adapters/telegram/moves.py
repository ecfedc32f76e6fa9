"""Group → supergroup migration: one community, and sends that follow the group.

When a Telegram group is upgraded to a supergroup the chat gets a new id. Telegram
says so twice: a service message `migrate_to_chat_id` in the old group and
`migrate_from_chat_id` in the new supergroup, and every later send to the old id
fails with `ChatMigrated` (carrying the new id).

* `ChatMoves.on_migration` (a handler of the ingestion group) reports the move to the
  `moved` callback (`CommunityMoves.moved`: the store keeps one community) and
  remembers it, so sends to the old id go to the new one from then on.
* Moves seen before a restart are in the store: the first call to a group chat asks
  the `lookup` callback (`CommunityMoves.current`) where that chat is now, once per
  chat id and process, so a send to a group that moved goes to the new id at once.
* `FollowingRateLimiter` is the application's rate limiter (PTB's `AIORateLimiter`,
  with retries on flood control). Every Bot API call passes through it, command
  replies and deliveries alike: a call to a chat known to have moved goes to the
  new id, and a `ChatMigrated` refusal is reported as a move and the call is sent
  once more, to the new id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final

from telegram import Update
from telegram.error import ChatMigrated
from telegram.ext import AIORateLimiter, ContextTypes

log = logging.getLogger(__name__)

FLOOD_RETRIES: Final = 3
Moved = Callable[[str, str], Awaitable[object]]
Lookup = Callable[[str], Awaitable[str]]


def _chat_id(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


class ChatMoves:
    """Old chat id → new chat id, for the chats seen moving; reports each move once.

    `lookup` answers where a chat is now from the store (moves recorded before this
    process started); each group chat id is looked up once.
    """

    def __init__(self, moved: Moved | None = None, lookup: Lookup | None = None) -> None:
        self._moved = moved
        self._lookup = lookup
        self._to: dict[int, int] = {}
        self._looked_up: set[int] = set()

    def where(self, chat_id: int) -> int:
        """Where messages for `chat_id` go now, as far as this process knows."""
        return self._to.get(chat_id, chat_id)

    async def resolve(self, chat_id: int) -> int:
        """Where messages for `chat_id` go now, asking the store the first time.

        Only group chats (negative ids) can move; a failed lookup is logged and
        retried on the next call, and the message goes to `chat_id` meanwhile.
        """
        if chat_id in self._to or chat_id >= 0 or self._lookup is None:
            return self.where(chat_id)
        if chat_id in self._looked_up:
            return chat_id
        try:
            current = _chat_id(await self._lookup(str(chat_id)))
        except Exception as exc:
            log.warning("could not look up where Telegram chat %s is now: %r", chat_id, exc)
            return chat_id
        self._looked_up.add(chat_id)
        if current is not None and current != chat_id:
            self._to[chat_id] = current
            log.info("Telegram group %s was upgraded to supergroup %s (stored)", chat_id, current)
        return self.where(chat_id)

    async def record(self, old: int, new: int) -> None:
        """Note that chat `old` is now `new` and report it (never raises)."""
        first = self._to.get(old) != new
        self._to[old] = new
        if first:
            log.info("Telegram group %s was upgraded to supergroup %s", old, new)
        if self._moved is None:
            return
        try:
            await self._moved(str(old), str(new))
        except Exception:
            log.exception("could not move community %s to %s", old, new)

    async def on_migration(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A `migrate_to_chat_id` / `migrate_from_chat_id` service message."""
        message = update.effective_message
        if message is None:
            return
        if message.migrate_to_chat_id is not None:
            await self.record(message.chat.id, message.migrate_to_chat_id)
        elif message.migrate_from_chat_id is not None:
            await self.record(message.migrate_from_chat_id, message.chat.id)


class FollowingRateLimiter(AIORateLimiter):
    """`AIORateLimiter` that retries flood control and follows groups that moved."""

    def __init__(self, moves: ChatMoves, *, max_retries: int = FLOOD_RETRIES) -> None:
        super().__init__(max_retries=max_retries)
        self.moves = moves

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Send the call (to where its chat is now); once more to the new id on `ChatMigrated`.

        `args` holds `data` itself, so changing `chat_id` here changes the request.
        """
        chat = _chat_id(data.get("chat_id"))
        if chat is not None and (current := await self.moves.resolve(chat)) != chat:
            data["chat_id"] = current
        try:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        except ChatMigrated as exc:
            old = _chat_id(data.get("chat_id"))
            if old is None:
                raise
            await self.moves.record(old, exc.new_chat_id)
            data["chat_id"] = exc.new_chat_id
            log.info("%s to chat %s resent to %s", endpoint, old, exc.new_chat_id)
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
