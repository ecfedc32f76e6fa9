"""Who is asking: the member behind a command, as the adapter saw them."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.refs import MemberRef


@dataclass(frozen=True, slots=True)
class Actor:
    """A member issuing a command or pressing a button.

    `community` is None in a private chat with the bot. `roles` are the member's role
    names in that community (Discord); `is_admin` is the platform's own notion of an
    administrator (Discord "Manage Server" or owner, Telegram chat creator or admin).
    """

    platform: str
    member: str
    name: str | None = None
    community: str | None = None
    channel: str | None = None
    locale: str | None = None
    roles: tuple[str, ...] = ()
    is_admin: bool = False

    @property
    def ref(self) -> MemberRef:
        """The member's `platform:id` reference."""
        return MemberRef(self.platform, self.member)
