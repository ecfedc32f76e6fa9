"""The consent gate: who may be stored under their identity, and who may get a DM.

In `opt_in` mode (the default) a member is profiled only after granting profiling
consent in that community. In `opt_out` mode everyone is profiled unless they
objected there. Nobody is ever sent a DM without an explicit DM opt-in. Everyone
the gate turns away is still counted, anonymously, in channel-level aggregates.

The gate keeps explicit consent decisions in memory so that the ingestion path
never waits for the database; the store loads it at start and the writer keeps
it current as consent events are written.

An erased member (`forgetme`) is remembered only as a keyed hash of their identity
and the time of erasure: decisions made before it (a re-imported history file) are
ignored, and in opt-out mode the erasure stands as an objection until the member
makes a new profiling decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.config import PrivacyMode

ConsentKey = tuple[str, str, str]  # (platform, community platform id, member platform id)
Hasher = Callable[[str, str], bytes]  # (platform, member) -> keyed hash


@dataclass(frozen=True, slots=True)
class Consent:
    """A member's decisions in one community; None means never asked.

    `updated_at` is when the latest decision was made: an older decision arriving
    later (a re-imported file, a replay) never overrides a newer one.
    """

    profiling: bool | None = None
    dm: bool | None = None
    updated_at: datetime | None = None

    def merged(self, profiling: bool | None, dm: bool | None, at: datetime | None) -> Consent:
        """Apply a change where `None` keeps the current value."""
        return Consent(
            profiling=self.profiling if profiling is None else profiling,
            dm=self.dm if dm is None else dm,
            updated_at=at,
        )


NEVER_ASKED = Consent()


class ConsentGate:
    """Answers, without I/O, whether an event may be stored under a member's identity."""

    def __init__(self, mode: PrivacyMode) -> None:
        self.mode = mode
        self._opt_in = mode is PrivacyMode.OPT_IN
        self._decisions: dict[ConsentKey, Consent] = {}
        # Keys whose profiling decision is True / False: `identifies` is one set lookup.
        self._profiled: set[ConsentKey] = set()
        self._objected: set[ConsentKey] = set()
        # (platform, member) -> communities with an explicit profiling decision
        self._granted: dict[tuple[str, str], set[str]] = {}
        self._refused: dict[tuple[str, str], set[str]] = {}
        # Erasures: keyed hash of (platform, member) -> when; checked only if any exist.
        self._hasher: Hasher | None = None
        self._erased: dict[bytes, datetime] = {}

    def __len__(self) -> int:
        return len(self._decisions)

    def consent(self, platform: str, community: str, member: str) -> Consent:
        """The recorded decisions of a member in a community."""
        return self._decisions.get((platform, community, member), NEVER_ASKED)

    def identifies(self, platform: str, community: str, member: str) -> bool:
        """Whether this member's events in this community may be stored as theirs."""
        if self._opt_in:
            return (platform, community, member) in self._profiled
        if (platform, community, member) in self._objected:
            return False
        return not self._erased or self.erased_at(platform, member) is None

    # -- erasure -------------------------------------------------------------------------

    def load_erasures(self, hasher: Hasher, erased: dict[bytes, datetime]) -> None:
        """Set the identity hash and the stored erasures (before loading decisions)."""
        self._hasher = hasher
        self._erased = dict(erased)

    def erased_at(self, platform: str, member: str) -> datetime | None:
        """When the member was erased (None: never, or they decided again since)."""
        if not self._erased or self._hasher is None:
            return None
        return self._erased.get(self._hasher(platform, member))

    def erase(self, platform: str, member: str, at: datetime) -> bytes:
        """Forget every decision of the member and remember the erasure; returns its key."""
        if self._hasher is None:
            raise RuntimeError("load_erasures() must be called before erase()")
        for key in [k for k in self._decisions if k[0] == platform and k[2] == member]:
            self.restore(*key, NEVER_ASKED)
        digest = self._hasher(platform, member)
        self._erased[digest] = at
        return digest

    def _track(self, key: ConsentKey, profiling: bool | None) -> None:
        if profiling is True:
            self._profiled.add(key)
        else:
            self._profiled.discard(key)
        if profiling is False:
            self._objected.add(key)
        else:
            self._objected.discard(key)

    def identifies_anywhere(self, platform: str, member: str) -> bool:
        """Whether an event outside any community (a purchase) may be stored as theirs.

        Opt-in: the member granted profiling in at least one community; opt-out: the
        member objected in none.
        """
        key = (platform, member)
        if self.mode is PrivacyMode.OPT_IN:
            return bool(self._granted.get(key))
        return not self._refused.get(key) and (
            not self._erased or self.erased_at(platform, member) is None
        )

    def may_dm(self, platform: str, community: str, member: str) -> bool:
        """Whether the member opted in to direct messages in this community."""
        return self.consent(platform, community, member).dm is True

    def record(
        self,
        platform: str,
        community: str,
        member: str,
        profiling: bool | None,
        dm: bool | None,
        at: datetime | None = None,
    ) -> Consent | None:
        """Apply a decision made at `at`; return the decisions afterwards.

        Returns None (and changes nothing) when the decision is older than the one
        already recorded (one made at the same time is later: it arrived later), or
        would change nothing.
        """
        key = (platform, community, member)
        if self._erased and self._hasher is not None:
            digest = self._hasher(platform, member)
            erased = self._erased.get(digest)
            if erased is not None:
                if at is not None and at <= erased:
                    return None  # made before the erasure: it was erased too
                if profiling is not None:
                    del self._erased[digest]  # a new profiling decision replaces it
        current = self._decisions.get(key, NEVER_ASKED)
        if at is not None and current.updated_at is not None and at < current.updated_at:
            return None
        updated = current.merged(profiling, dm, at or current.updated_at)
        if (updated.profiling, updated.dm) == (current.profiling, current.dm) and (
            current.updated_at is not None
        ):
            self._decisions[key] = updated
            return None
        self._decisions[key] = updated
        self._track(key, updated.profiling)
        person = (platform, member)
        for table, flag in ((self._granted, True), (self._refused, False)):
            communities = table.setdefault(person, set())
            if updated.profiling is flag:
                communities.add(community)
            else:
                communities.discard(community)
                if not communities:
                    del table[person]
        return updated

    def restore(self, platform: str, community: str, member: str, consent: Consent) -> None:
        """Put back a member's decisions exactly as they were (undo of `record`)."""
        self._decisions.pop((platform, community, member), None)
        self._track((platform, community, member), None)
        person = (platform, member)
        for table in (self._granted, self._refused):
            communities = table.get(person)
            if communities is not None:
                communities.discard(community)
                if not communities:
                    del table[person]
        if consent != NEVER_ASKED:
            self.record(
                platform, community, member, consent.profiling, consent.dm, consent.updated_at
            )

    def replace_all(
        self, rows: Iterable[tuple[str, str, str, bool | None, bool | None, datetime | None]]
    ) -> None:
        """Forget every decision and load `(platform, community, member, profiling, dm, at)`."""
        self._decisions.clear()
        self._profiled.clear()
        self._objected.clear()
        self._granted.clear()
        self._refused.clear()
        for platform, community, member, profiling, dm, at in rows:
            self.record(platform, community, member, profiling, dm, at)
