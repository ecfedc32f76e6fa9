"""The consent gate decides identity without I/O, per community and per mode."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import PrivacyMode
from bot.domain.consent import Consent, ConsentGate

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)


def test_opt_in_identifies_only_granted_members() -> None:
    """Opt-in: never asked means anonymous; profiling consent is per community."""
    gate = ConsentGate(PrivacyMode.OPT_IN)
    gate.record("discord", "g1", "u1", True, None, JAN)
    assert gate.identifies("discord", "g1", "u1")
    assert not gate.identifies("discord", "g2", "u1")
    assert not gate.identifies("discord", "g1", "u2")
    assert not gate.identifies("telegram", "g1", "u1")


def test_opt_out_identifies_everyone_but_objectors() -> None:
    """Opt-out: everyone is profiled until they object in that community."""
    gate = ConsentGate(PrivacyMode.OPT_OUT)
    gate.record("discord", "g1", "u1", False, None, JAN)
    assert not gate.identifies("discord", "g1", "u1")
    assert gate.identifies("discord", "g2", "u1")
    assert gate.identifies("discord", "g1", "u2")


def test_dms_need_an_explicit_opt_in_in_every_mode() -> None:
    """Nobody gets a DM without saying yes to DMs, even in opt-out mode."""
    for mode in PrivacyMode:
        gate = ConsentGate(mode)
        gate.record("discord", "g1", "u1", True, None, JAN)
        assert not gate.may_dm("discord", "g1", "u1")
        gate.record("discord", "g1", "u1", None, True, FEB)
        assert gate.may_dm("discord", "g1", "u1")
        assert not gate.may_dm("discord", "g1", "u2")


def test_purchases_outside_communities_follow_any_community() -> None:
    """Opt-in: consent anywhere identifies a buyer; opt-out: an objection anywhere hides them."""
    opt_in = ConsentGate(PrivacyMode.OPT_IN)
    opt_in.record("discord", "g1", "u1", True, None, JAN)
    assert opt_in.identifies_anywhere("discord", "u1")
    assert not opt_in.identifies_anywhere("discord", "u2")
    opt_in.record("discord", "g1", "u1", False, None, FEB)
    assert not opt_in.identifies_anywhere("discord", "u1")
    opt_out = ConsentGate(PrivacyMode.OPT_OUT)
    opt_out.record("discord", "g2", "u1", False, None, JAN)
    assert not opt_out.identifies_anywhere("discord", "u1")
    assert opt_out.identifies_anywhere("discord", "u3")


def test_older_or_repeated_decisions_change_nothing() -> None:
    """A decision not newer than the recorded one is ignored (replays, old files)."""
    gate = ConsentGate(PrivacyMode.OPT_IN)
    assert gate.record("discord", "g1", "u1", False, None, FEB) is not None
    assert gate.record("discord", "g1", "u1", True, None, JAN) is None
    assert gate.record("discord", "g1", "u1", False, None, FEB) is None
    assert not gate.identifies("discord", "g1", "u1")


def test_restore_undoes_a_decision() -> None:
    """restore() puts a member back exactly as before (used after a rollback)."""
    gate = ConsentGate(PrivacyMode.OPT_IN)
    before = gate.consent("discord", "g1", "u1")
    gate.record("discord", "g1", "u1", True, True, JAN)
    gate.restore("discord", "g1", "u1", before)
    assert gate.consent("discord", "g1", "u1") == Consent()
    assert not gate.identifies_anywhere("discord", "u1")
    assert len(gate) == 0
