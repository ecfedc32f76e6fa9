"""What members and moderators see, asked of the real services as the adapters ask them.

Every reply here comes from `bot.core.commands.Commands` (the object both adapters
call): `/recommend` for a member, `/promote` for a moderator, and the digest from
the digest service, its deliveries written by the real dispatcher to a file while
the simulated members receive them in an inbox. The synthetic members stand in for
the people behind the platform ids; nothing here reads the ranker's internals.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.commands import Commands
from bot.core.delivery.dispatcher import Dispatcher
from bot.core.delivery.transport import Delivery, FileTransport, SendResult
from bot.core.services.recommend import holdout_key, in_holdout
from bot.core.services.suite import Services
from bot.demo import synthetic
from bot.domain.actors import Actor
from bot.domain.consent import ConsentGate
from bot.domain.replies import Reply
from bot.store.communities import CommunityInfo, community_by_id, find_community, update_community
from bot.store.members import find_member

log = logging.getLogger(__name__)

PROMOTE_AUDIENCE = "top:25"


@dataclass(frozen=True, slots=True)
class Place:
    """A community as the store knows it, with the synthetic one behind it."""

    info: CommunityInfo
    community: synthetic.Community

    @property
    def chinese(self) -> bool:
        """Whether the community is mostly Chinese (the Telegram group)."""
        return self.community.platform == "telegram"


async def places(services: Services, communities: Collection[synthetic.Community]) -> list[Place]:
    """The demo's communities in the store (skipping any the user removed)."""
    found = []
    async with services.context.store.read() as conn:
        for community in communities:
            info = await find_community(conn, community.platform, community.id)
            if info is not None:
                found.append(Place(info, community))
    return found


def actor_for(place: Place, member: synthetic.Member, *, admin: bool = False) -> Actor:
    """The member as an adapter would describe them, asking in their usual channel."""
    community = place.community
    channel: str | None
    if community.platform == "telegram":
        channel = community.id
        locale = "zh-hans" if member.chinese else "en"
    else:
        wanted = synthetic.CHINESE_CHANNEL if member.chinese else member.topics[0]
        channel = next((c for c, n in community.channels.items() if n == wanted), None)
        locale = "zh-CN" if member.chinese else "en-US"
    return Actor(
        platform=community.platform,
        member=member.id,
        name=member.name,
        community=community.id,
        channel=channel,
        locale=locale,
        is_admin=admin,
    )


def consenting(place: Place, gate: ConsentGate) -> list[synthetic.Member]:
    """The members the consent gate identifies today (the only ones Cohort may profile)."""
    return [
        m
        for m in place.community.members
        if gate.identifies(place.community.platform, place.community.id, m.id)
    ]


async def showcase_member(
    services: Services, place: Place, holdout: float
) -> synthetic.Member | None:
    """An active consenting member outside the holdout, writing in the community's language."""
    candidates = sorted(
        (
            m
            for m in consenting(place, services.context.cohort.gate)
            if m.left is None and m.chinese == place.chinese
        ),
        key=lambda m: -m.activity,
    )
    async with services.context.store.read() as conn:
        for member in candidates[len(candidates) // 10 :]:  # not the loudest few
            info = await find_member(conn, place.community.platform, member.id)
            actor = actor_for(place, member)
            if info is not None and not in_holdout(holdout_key(actor, info), holdout):
                return member
    return None


async def recommend_for(commands: Commands, place: Place, member: synthetic.Member) -> Reply:
    """What `/recommend` answers this member (their picks are recorded as shown)."""
    return await commands.run(actor_for(place, member), "recommend")


def course_to_promote(place: Place, gate: ConsentGate) -> str:
    """The course in the community's language that most consenting members would want."""
    fans = Counter(
        topic for member in consenting(place, gate) for topic in member.topics[:1]
    ).most_common()
    language = "zh" if place.chinese else "en"
    for topic, _ in fans:
        for course in synthetic.INTERESTS[topic].courses:
            if synthetic.course_language(course) == language:
                return course
    return next(iter(synthetic.PRICES))


def moderator(place: Place, gate: ConsentGate) -> synthetic.Member:
    """The most helpful consenting member, made an admin for the demo."""
    members = consenting(place, gate) or place.community.members
    return max(members, key=lambda m: (m.helpfulness, m.activity))


async def promote_preview(
    commands: Commands, place: Place, course: str, audience: str = PROMOTE_AUDIENCE
) -> Reply:
    """A moderator's `/promote course audience`: the preview with Confirm/Cancel (nothing sent)."""
    gate = commands.services.context.cohort.gate
    actor = actor_for(place, moderator(place, gate), admin=True)
    return await commands.run(actor, "promote", {"course": course, "audience": audience})


@dataclass
class Inbox:
    """A transport that writes deliveries to a file (the file transport) and keeps them.

    The simulated members read what they received from `received` and act on it.
    """

    file: FileTransport
    received: list[Delivery] = field(default_factory=list)

    @property
    def via(self) -> str:
        """Where deliveries go (the file transport's file)."""
        return self.file.via

    async def delivered(self, ids: Collection[int]) -> set[int]:
        """The deliveries among `ids` already in the file."""
        return await self.file.delivered(ids)

    async def send(self, delivery: Delivery) -> SendResult:
        """Write the delivery to the file and keep it for its recipient."""
        result = await self.file.send(delivery)
        self.received.append(delivery)
        return result

    def close(self) -> None:
        """Close the file."""
        self.file.close()


@dataclass
class DigestOutcome:
    """One community's digest: the channel post, and how many personal digests went out."""

    place: Place
    post: Reply
    claimed: bool
    personal: int = 0
    written: int = 0


async def digest(services: Services, place: Place, inbox: Inbox) -> DigestOutcome | None:
    """Run the community's latest digest (once per period), through the dispatcher to `inbox`.

    The first channel of the community becomes its digest channel if it has none.
    """
    info = place.info
    if info.digest_channel is None:
        channel = next(iter(place.community.channels))
        async with services.context.store.write() as conn:
            await update_community(conn, info.id, {"digest_channel": channel})
        async with services.context.store.read() as conn:
            info = await community_by_id(conn, info.id) or info
    period = services.digest.period(info, services.context.clock())
    if period is None:
        return None
    report = await services.digest.run(info, period)
    outcome = DigestOutcome(
        place, await services.digest.channel_digest(info, period), report.claimed, report.personal
    )
    if report.run_id is not None:
        sent = await Dispatcher(services.context, inbox).drain(run_id=report.run_id, deferred=True)
        outcome.written = sent.sent
    return outcome


def digest_file(folder: Path) -> Path:
    """Where the demo's digest deliveries are written."""
    return folder / "digest-deliveries.jsonl"
