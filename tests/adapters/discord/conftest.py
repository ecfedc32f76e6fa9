"""Fixtures of the Discord adapter tests: Discord itself, faked at discord.py's network edge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.discord import FakeDiscord


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    """Discord's side (REST, interaction webhooks, gateway); anything unexpected fails the test."""
    fake = FakeDiscord()
    fake.install(monkeypatch)
    yield fake
    assert fake.unexpected == []
