"""Member references as people type them: `platform:id`, e.g. `discord:1234`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.events import PLATFORMS
from bot.errors import MemberRefInvalid


@dataclass(frozen=True, slots=True)
class MemberRef:
    """A member's identity on one platform."""

    platform: str
    id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.id}"


def parse_member_ref(text: str) -> MemberRef:
    """Parse `platform:id`; raise `MemberRefInvalid` naming the problem."""
    platform, sep, member = text.strip().partition(":")
    if not sep or not member:
        raise MemberRefInvalid(f"member {text!r}: expected platform:id, e.g. discord:1234")
    platform = platform.lower()
    if platform not in PLATFORMS:
        raise MemberRefInvalid(
            f"member {text!r}: unknown platform {platform!r} (use {' or '.join(PLATFORMS)})"
        )
    if len(member) > 100 or member != member.strip():
        raise MemberRefInvalid(f"member {text!r}: invalid id")
    return MemberRef(platform, member)
