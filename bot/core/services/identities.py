"""Which members a service may name: display names, consent checked now.

The model and the store may know members who objected since; every place that names
members (top helpers in `/insights`, the report's interaction graph) asks here.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.services.context import ServiceContext
from bot.store.communities import CommunityInfo
from bot.store.members import members_by_ids, person_members


async def identified_names(
    context: ServiceContext, conn: AsyncConnection, community: CommunityInfo, ids: Sequence[int]
) -> dict[int, str]:
    """Display names of the members (row ids) the gate may identify in `community` now.

    A linked person is named by their identity on the community's platform.
    """
    gate = context.cohort.gate
    members = await members_by_ids(conn, ids)
    names: dict[int, str] = {}
    for member_id in ids:
        member = members.get(member_id)
        if member is None:
            continue
        if member.platform != community.platform and member.person_id is not None:
            member = next(
                (
                    other
                    for other in await person_members(conn, member.id)
                    if other.platform == community.platform
                ),
                member,
            )
        if member.display_name and gate.identifies(
            member.platform, community.platform_id, member.platform_id
        ):
            names[member_id] = member.display_name
    return names
