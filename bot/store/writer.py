"""Writing batches of events: one code path for the live pipeline and the bulk importers.

`EventWriter.write(conn, events)` is synchronous SQLAlchemy Core; callers run it
through `Store.run_write`, inside their transaction (on SQLite in the store's
writer thread). In that transaction it

1. rechecks the privacy epoch: other processes erase members and change consent
   too, so it reads the store's epoch (`bot.store.consents`, locked until the
   transaction ends) and reloads the gate when it changed; nobody erased or
   withdrawn anywhere is written under their identity;
2. has the batch admitted (`bot.domain.admission.admit`): the consent decision,
   made on the freshly checked gate, of what is stored, counted or dropped;
3. resolves platform ids to row ids (`bot.store.writers.resolve`, cached);
4. runs the per-table writers (`bot.store.writers`) in a fixed order, each a few
   set-based statements, and writes the anonymous counts once at the end.

Only the thread running the writer mutates its caches and the gate. After the
transaction the caller says how it ended (`committed` / `rolled_back`): a rollback
puts back the consent decisions the batches recorded and drops the caches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from sqlalchemy.engine import Connection

from bot.domain.admission import Undo, admit, undo_decisions
from bot.domain.consent import ConsentGate
from bot.domain.events import ConsentChanged, Event
from bot.store.consents import bump_epoch, read_epoch, reload_gate
from bot.store.ids import IdResolver
from bot.store.statements import Statements
from bot.store.writers.anonymous import (
    StoredMessage,
    StoredReaction,
    count_messages,
    count_stored_activity,
)
from bot.store.writers.consents import write_consents
from bot.store.writers.context import WriteContext, WriterCache
from bot.store.writers.counts import Aggregates, write_aggregates
from bot.store.writers.edits import write_edits
from bot.store.writers.interactions import write_interactions
from bot.store.writers.memberships import write_memberships
from bot.store.writers.messages import write_messages
from bot.store.writers.reactions import count_reactions, write_reactions, write_snapshots
from bot.store.writers.resolve import resolve_ids
from bot.store.writers.results import WriteResult
from bot.store.writers.seen import KeyedHash

log = logging.getLogger(__name__)


class EventWriter:
    """Writes admitted events to the store; owns the id caches and keeps the gate current."""

    def __init__(self, dialect: str, gate: ConsentGate, key: bytes) -> None:
        self.gate = gate
        self._hash = KeyedHash(key)
        self._sql = Statements(dialect)
        self.ids = IdResolver(self._sql)
        self._cache = WriterCache()
        # Consent decisions recorded since the last commit, to undo on a rollback.
        self._undo: list[Undo] = []
        # The privacy epoch the gate reflects (None: reload at the next write).
        self._epoch: str | None = None

    def committed(self) -> None:
        """Call after the transaction holding the written batches committed."""
        self._undo.clear()

    def rolled_back(self) -> None:
        """Call after that transaction rolled back: undo gate changes, drop cached ids."""
        undo_decisions(self.gate, self._undo)
        self._undo.clear()
        self.ids.clear()
        self._cache.clear()
        self._epoch = None

    def sync_privacy(self, conn: Connection, *, exclusive: bool = False) -> bool:
        """Reload the gate if consent or erasures changed since it was loaded; True if so.

        Call first in a write transaction (`write` does): the epoch stays locked until
        the transaction ends, so no erasure can slip in between the check and the
        write. `exclusive` when the transaction may change consent itself.
        """
        epoch = read_epoch(conn, exclusive=exclusive)
        if epoch == self._epoch:
            return False
        reload_gate(conn, self.gate, self.identity_hash)
        # Rows of erased members are gone: cached ids and channels may be stale.
        self.ids.clear()
        self._cache.anonymous_channels = None
        self._epoch = epoch
        log.debug("consent or erasures changed elsewhere; gate reloaded")
        return True

    def privacy_changed(self, conn: Connection) -> None:
        """Tell every process that consent or an erasure changed in this transaction."""
        before, after = bump_epoch(conn)
        # Still current only if nobody else changed it since this gate was loaded.
        self._epoch = after if before == self._epoch else None

    def identity_hash(self, platform: str, member: str) -> bytes:
        """The keyed hash an erasure is remembered by (see `ConsentGate.erase`)."""
        return self._hash("erasure", platform, member)

    def pseudonym(self, *parts: str) -> str:
        """A keyed hash of `parts` (hex): recognises an identity without storing it."""
        return self._hash("pseudonym", *parts).hex()

    def write(self, conn: Connection, events: Sequence[Event]) -> WriteResult:
        """Write `events` inside the caller's transaction and return what changed."""
        result = WriteResult(events=len(events))
        if not events:
            return result
        self.ids.trim()
        self.sync_privacy(conn, exclusive=any(isinstance(e, ConsentChanged) for e in events))
        admission = admit(events, self.gate)
        self._undo.extend(admission.undo)
        result.rejected += admission.dropped
        ctx = self._context(conn, result)
        resolve_ids(ctx, events, admission)
        write_consents(ctx, admission.consents)
        if admission.consents:
            self.privacy_changed(conn)
        write_messages(ctx, admission.messages)
        count_messages(ctx, admission.anonymous_messages)
        write_edits(ctx, admission.edits, admission.deletes)
        write_reactions(ctx, admission.reactions.values())
        count_reactions(ctx, admission.anonymous_reactions.values())
        write_snapshots(ctx, admission.snapshots)
        write_memberships(ctx, admission.memberships)
        write_interactions(ctx, admission.buttons, admission.purchases)
        write_aggregates(conn, self._sql, ctx.counts)
        return result

    def anonymize(
        self,
        conn: Connection,
        messages: Iterable[StoredMessage],
        reactions: Iterable[StoredReaction],
    ) -> tuple[int, int]:
        """Count stored activity anonymously before its rows are erased.

        `messages`: (channel row id, message platform id, time, text, is reply);
        `reactions`: (channel row id, message platform id, member platform id, emoji,
        time), active ones only. They join the channel aggregates exactly as if they
        had arrived anonymously (seen keys included, so a replay is not counted
        twice). Returns how many messages and reactions were newly counted.
        """
        ctx = self._context(conn, WriteResult())
        counted = count_stored_activity(ctx, messages, reactions)
        write_aggregates(conn, self._sql, ctx.counts)
        return counted

    def write_aggregates(self, conn: Connection, counts: Aggregates) -> None:
        """Apply anonymous counts gathered elsewhere (retention folds purged text in)."""
        write_aggregates(conn, self._sql, counts)

    def _context(self, conn: Connection, result: WriteResult) -> WriteContext:
        return WriteContext(conn, self._sql, self.ids, self._hash, self._cache, result)
