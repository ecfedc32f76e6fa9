"""The consent decision for a batch of events: what is stored, counted or dropped.

`admit(events, gate)` goes through a batch in event order and sorts every event by
what the consent gate allows: stored under the member's identity, counted only
anonymously, or dropped. It does no I/O and reads nothing but its arguments, so
the store only writes what it is handed (`bot/store/writer.py` calls it inside
the write transaction, right after rechecking the privacy epoch).

Consent decisions in the batch bind the events after them, so `admit` records them
in the gate as it meets them; `Admission.undo` holds what they replaced, and
`undo_decisions` puts it back when the transaction rolls back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.domain.consent import Consent, ConsentGate, ConsentKey
from bot.domain.events import (
    ButtonPressed,
    ConsentChanged,
    Event,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    PurchaseMade,
    ReactionAdded,
    ReactionRemoved,
    ReactionsCounted,
)

log = logging.getLogger(__name__)

ReactionKey = tuple[
    str, str, str, str, str, str
]  # platform, community, channel, msg, member, emoji
Reaction = ReactionAdded | ReactionRemoved
Membership = MemberJoined | MemberLeft
Undo = tuple[ConsentKey, Consent]  # a member's decisions before the batch changed them

NO_MENTIONS: tuple[str, ...] = ()


@dataclass(slots=True)
class Admission:
    """One batch sorted by the consent gate.

    Stored under an identity: `consents` (the decisions that changed something),
    `messages` (with the mentioned members who may be named), `reactions`, the
    `known` reactors of `snapshots`, and the memberships, buttons and purchases
    flagged `True`. Counted anonymously: `anonymous_messages`,
    `anonymous_reactions`, the rest of each snapshot, and the memberships, buttons
    and purchases flagged `False` (stored without a member). `edits` and `deletes`
    only touch messages already stored. `dropped`: purchases of erased members,
    not written at all.
    """

    consents: list[ConsentChanged] = field(default_factory=list)
    messages: list[tuple[MessagePosted, tuple[str, ...]]] = field(default_factory=list)
    anonymous_messages: list[MessagePosted] = field(default_factory=list)
    edits: list[MessageEdited] = field(default_factory=list)
    deletes: list[MessageDeleted] = field(default_factory=list)
    # The last action per (message, member, emoji) wins.
    reactions: dict[ReactionKey, Reaction] = field(default_factory=dict)
    anonymous_reactions: dict[ReactionKey, Reaction] = field(default_factory=dict)
    snapshots: list[tuple[ReactionsCounted, list[str]]] = field(default_factory=list)
    memberships: list[tuple[Membership, bool]] = field(default_factory=list)
    buttons: list[tuple[ButtonPressed, bool]] = field(default_factory=list)
    purchases: list[tuple[PurchaseMade, bool]] = field(default_factory=list)
    dropped: int = 0
    undo: list[Undo] = field(default_factory=list)


def admit(events: Iterable[Event], gate: ConsentGate) -> Admission:
    """Sort `events` by what `gate` allows, in order; record their consent decisions."""
    admission = Admission()
    identifies = gate.identifies
    messages: list[MessagePosted] = []
    for event in events:
        if isinstance(event, MessagePosted):
            if identifies(event.platform, event.community, event.member):
                messages.append(event)
            else:
                admission.anonymous_messages.append(event)
        elif isinstance(event, ReactionAdded | ReactionRemoved):
            key = (
                event.platform,
                event.community,
                event.channel,
                event.message,
                event.member,
                event.emoji,
            )
            if identifies(event.platform, event.community, event.member):
                admission.reactions[key] = event
            else:
                admission.anonymous_reactions[key] = event
        elif isinstance(event, MessageEdited):
            admission.edits.append(event)
        elif isinstance(event, MessageDeleted):
            admission.deletes.append(event)
        elif isinstance(event, ConsentChanged):
            _record(gate, event, admission)
        elif isinstance(event, ReactionsCounted):
            known = [r for r in event.reactors if identifies(event.platform, event.community, r)]
            admission.snapshots.append((event, known))
        elif isinstance(event, MemberJoined | MemberLeft):
            identified = identifies(event.platform, event.community, event.member)
            admission.memberships.append((event, identified))
        elif isinstance(event, ButtonPressed):
            identified = identifies(event.platform, event.community, event.member)
            admission.buttons.append((event, identified))
        elif isinstance(event, PurchaseMade):
            _purchase(gate, event, admission)
        else:  # pragma: no cover - every Event subclass is handled above
            raise TypeError(f"cannot admit {type(event).__name__}")
    admission.messages = _with_mentions(messages, gate)
    return admission


def undo_decisions(gate: ConsentGate, undo: Sequence[Undo]) -> None:
    """Put back the decisions admitted batches changed (their transaction rolled back)."""
    for (platform, community, member), before in reversed(undo):
        gate.restore(platform, community, member, before)


def _record(gate: ConsentGate, event: ConsentChanged, admission: Admission) -> None:
    """Apply a consent decision to the gate; keep it (and what it replaced) if it applied."""
    before = gate.consent(event.platform, event.community, event.member)
    applied = gate.record(
        event.platform, event.community, event.member, event.profiling, event.dm, event.ts
    )
    if applied is not None:
        admission.undo.append(((event.platform, event.community, event.member), before))
        admission.consents.append(event)


def _purchase(gate: ConsentGate, event: PurchaseMade, admission: Admission) -> None:
    """A purchase: dropped if its member was erased, else stored with or without them."""
    if gate.erased_at(event.platform, event.member) is not None:
        log.warning(
            "purchase (order %s) of an erased member dropped: not stored",
            event.order or "without id",
        )
        admission.dropped += 1
        return
    identified = (
        gate.identifies(event.platform, event.community, event.member)
        if event.community
        else gate.identifies_anywhere(event.platform, event.member)
    )
    admission.purchases.append((event, identified))


def _with_mentions(
    messages: list[MessagePosted], gate: ConsentGate
) -> list[tuple[MessagePosted, tuple[str, ...]]]:
    """Each stored message with the mentioned members the gate lets it name.

    Decided after the whole batch (a member who consents later in the same batch
    may be named), as the writer always has.
    """
    identifies = gate.identifies
    return [
        (
            message,
            tuple(m for m in message.mentions if identifies(message.platform, message.community, m))
            if message.mentions
            else NO_MENTIONS,
        )
        for message in messages
    ]
