"""Who may use moderator commands: checked in the service, never only in the platform UI."""

from __future__ import annotations

from collections.abc import Collection

from bot.domain.actors import Actor
from bot.errors import CohortError


class PermissionDenied(CohortError):
    """The actor may not do this; the message says what is needed."""

    def __init__(self, action: str, reason: str) -> None:
        self.action = action
        self.reason = reason
        super().__init__(f"{action}: {reason}")


def is_moderator(actor: Actor, moderator_roles: Collection[str]) -> bool:
    """Platform admins, and (Discord) holders of a configured moderator role."""
    if actor.community is None:
        return False
    if actor.is_admin:
        return True
    wanted = {role.casefold() for role in moderator_roles}
    return any(role.casefold() in wanted for role in actor.roles)


def require_moderator(actor: Actor, moderator_roles: Collection[str], action: str) -> None:
    """Raise `PermissionDenied` unless the actor moderates the community they act in."""
    if actor.community is None:
        raise PermissionDenied(action, "use this command inside the community")
    if not is_moderator(actor, moderator_roles):
        raise PermissionDenied(action, "only moderators and admins can do this")
