"""The consent decision for a batch: what is stored, counted anonymously or dropped."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from bot.config import PrivacyMode
from bot.domain.admission import admit, undo_decisions
from bot.domain.consent import ConsentGate
from bot.domain.events import (
    ButtonPressed,
    MemberLeft,
    MessageEdited,
    ReactionRemoved,
    ReactionsCounted,
)
from tests.helpers import T0, at, consent, join, message, purchase, reaction


def gate(mode: PrivacyMode = PrivacyMode.OPT_IN) -> ConsentGate:
    """A gate that can remember erasures (an unkeyed hash stands in for the store's)."""
    made = ConsentGate(mode)
    made.load_erasures(lambda p, m: hashlib.blake2b(f"{p}:{m}".encode()).digest(), {})
    return made


def test_consenting_members_are_stored_everyone_else_only_counted() -> None:
    """Opt-in: a consenting member's message is stored; a stranger's is only counted."""
    decided = admit([consent("u1"), message(member="u1"), message(member="u2")], gate())
    assert [(m.member, named) for m, named in decided.messages] == [("u1", ())]
    assert [m.member for m in decided.anonymous_messages] == ["u2"]
    assert [c.member for c in decided.consents] == ["u1"]


def test_a_decision_binds_only_the_events_after_it() -> None:
    """Event order: a message before the opt-in is anonymous, the one after is stored."""
    decided = admit(
        [message(message="early"), consent("u1", ts=at(1)), message(message="late", ts=at(2))],
        gate(),
    )
    assert [m.message for m, _ in decided.messages] == ["late"]
    assert [m.message for m in decided.anonymous_messages] == ["early"]


def test_a_withdrawal_in_the_batch_turns_the_rest_anonymous() -> None:
    """After an opt-out in the same batch, the member's next reaction and join are anonymous."""
    before = gate()
    before.record("discord", "g1", "u2", True, None, T0 - timedelta(days=2))
    decided = admit(
        [reaction(member="u2"), consent("u2", False, ts=at(1)), join("u2", ts=at(2))], before
    )
    assert [r.member for r in decided.reactions.values()] == ["u2"]
    assert decided.memberships[0][1] is False


def test_mentions_name_only_members_the_gate_identifies_after_the_batch() -> None:
    """A mention names a member who consents anywhere in the batch, never a stranger."""
    decided = admit(
        [
            consent("u1"),
            message(member="u1", mentions=("u2", "u3")),
            consent("u2", ts=at(5)),
        ],
        gate(),
    )
    assert decided.messages[0][1] == ("u2",)


def test_the_last_reaction_action_wins_and_anonymous_ones_are_kept_apart() -> None:
    """Per (message, member, emoji) only the last add/remove counts, for both kinds."""
    removed = ReactionRemoved(
        platform="discord",
        community="g1",
        channel="c1",
        message="m1",
        member="u2",
        emoji="👍",
        ts=at(1),
    )
    decided = admit([consent("u1"), reaction(member="u1"), reaction(), removed], gate())
    assert [r.member for r in decided.reactions.values()] == ["u1"]
    assert list(decided.anonymous_reactions.values()) == [removed]


def test_snapshots_buttons_leaves_and_edits_are_sorted_by_the_gate() -> None:
    """Export counts keep only consenting reactors; presses and leaves carry the decision."""
    counted = ReactionsCounted(
        platform="discord",
        community="g1",
        channel="c1",
        message="m1",
        emoji="👍",
        count=3,
        reactors=("u1", "u2"),
        ts=T0,
    )
    pressed = ButtonPressed(
        platform="discord",
        community="g1",
        member="u2",
        course="rust-101",
        action="interest",
        ts=T0,
    )
    left = MemberLeft(platform="discord", community="g1", member="u1", ts=T0)
    edit = MessageEdited(
        platform="discord", community="g1", channel="c1", message="m1", text="new", ts=T0
    )
    decided = admit([consent("u1"), counted, pressed, left, edit], gate())
    assert decided.snapshots == [(counted, ["u1"])]
    assert decided.buttons == [(pressed, False)]
    assert decided.memberships == [(left, True)]
    assert decided.edits == [edit]


def test_purchases_of_erased_members_are_dropped() -> None:
    """An erased buyer's purchase is dropped; one outside a community needs consent anywhere."""
    erasing = gate()
    erasing.record("discord", "g2", "u1", True, None, T0 - timedelta(days=3))
    erasing.erase("discord", "u9", T0 - timedelta(days=1))
    decided = admit([purchase("u9"), purchase("u1"), purchase("u2")], erasing)
    assert decided.dropped == 1
    assert [(p.member, identified) for p, identified in decided.purchases] == [
        ("u1", True),
        ("u2", False),
    ]


def test_a_stale_decision_is_not_applied_and_needs_no_undo() -> None:
    """A decision older than the recorded one changes nothing: not stored, nothing to undo."""
    current = gate()
    current.record("discord", "g1", "u1", True, None, at(10))
    decided = admit([consent("u1", False, ts=at(1))], current)
    assert decided.consents == [] and decided.undo == []
    assert current.identifies("discord", "g1", "u1")


def test_undo_puts_the_gate_back_as_it_was_before_the_batches() -> None:
    """A rolled-back transaction leaves no decision of its batches in the gate."""
    current = gate()
    current.record("discord", "g1", "u1", True, True, at(-60))
    first = admit([consent("u1", False, ts=at(1)), consent("u2", ts=at(1))], current)
    second = admit([consent("u1", True, False, ts=at(2))], current)
    assert current.consent("discord", "g1", "u1").dm is False
    undo_decisions(current, first.undo + second.undo)
    assert current.identifies("discord", "g1", "u1")
    assert current.may_dm("discord", "g1", "u1")
    assert not current.identifies("discord", "g1", "u2")


def test_admit_reads_only_the_gate_it_is_given() -> None:
    """The same batch on two gates with the same decisions is admitted the same way."""
    events = [consent("u1"), message(member="u1", mentions=("u2",)), message(member="u2")]
    one, two = admit(events, gate()), admit(events, gate())
    assert one.messages == two.messages
    assert one.anonymous_messages == two.anonymous_messages
