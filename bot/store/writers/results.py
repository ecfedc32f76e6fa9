"""What a written batch changed."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class WriteResult:
    """What a batch changed: new rows and new anonymous counts, not events seen."""

    events: int = 0
    messages: int = 0
    anonymous_messages: int = 0
    edits: int = 0
    deletes: int = 0
    reactions: int = 0
    anonymous_reactions: int = 0
    joins: int = 0
    leaves: int = 0
    consents: int = 0
    interactions: int = 0
    rejected: int = 0

    def add(self, other: WriteResult) -> None:
        """Accumulate another batch's counts into this one."""
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for JSON output)."""
        return {item.name: getattr(self, item.name) for item in fields(self)}
