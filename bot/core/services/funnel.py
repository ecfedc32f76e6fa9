"""`cohort funnel`: impressions → clicks → purchases per variant, and the holdout lift.

Rates come with 95 % Wilson intervals. The lift compares personal picks with the
holdout (the popularity ranking shown to a stable share of opted-in members) on the
share of exposed members who bought something the picks led to: the holdout is
drawn per person, so members, not impressions, are the independent units. It is
reported as a difference (Newcombe interval) and a ratio (Katz interval, when both
groups have a buyer).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from bot.core.services.attribution import AttributionReport, AttributionService
from bot.core.services.context import ServiceContext
from bot.core.stats import Interval, rate_difference, rate_ratio, wilson
from bot.errors import CohortError
from bot.store import attribution as a
from bot.store.communities import find_community

# (name, treatment variant, control variant)
LIFTS = (
    ("recommend", "personal", "holdout"),
    ("digest", "digest:personal", "digest:holdout"),
)


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """One variant's funnel and its rates."""

    variant: str
    impressions: int
    clicked: int
    purchases: int
    exposed_members: int
    converted_members: int
    click_rate: Interval | None
    purchase_rate: Interval | None
    member_conversion: Interval | None


@dataclass(frozen=True, slots=True)
class Lift:
    """Personal picks against the holdout, on member conversion."""

    name: str
    treatment: str
    control: str
    difference: Interval | None
    ratio: Interval | None
    note: str = ""


@dataclass
class FunnelReport:
    """The funnel of a period (all time when `since` is None)."""

    since: datetime | None
    community: str | None
    rows: list[FunnelRow] = field(default_factory=list)
    lifts: list[Lift] = field(default_factory=list)
    attribution: AttributionReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "community": self.community,
            "variants": [asdict(row) for row in self.rows],
            "lifts": [asdict(lift) for lift in self.lifts],
            "attributed_now": asdict(self.attribution) if self.attribution else None,
        }


def funnel_row(counts: a.VariantCounts) -> FunnelRow:
    """Rates for one variant's counts."""
    clicked = min(counts.clicked, counts.impressions)
    bought = min(counts.purchases, counts.impressions)
    converted = min(counts.converted_members, counts.exposed_members)
    return FunnelRow(
        variant=counts.variant,
        impressions=counts.impressions,
        clicked=counts.clicked,
        purchases=counts.purchases,
        exposed_members=counts.exposed_members,
        converted_members=counts.converted_members,
        click_rate=wilson(clicked, counts.impressions),
        purchase_rate=wilson(bought, counts.impressions),
        member_conversion=wilson(converted, counts.exposed_members),
    )


def lift(name: str, treatment: FunnelRow | None, control: FunnelRow | None) -> Lift | None:
    """The lift of `treatment` over `control` (None when neither was shown)."""
    if treatment is None and control is None:
        return None
    t_name = treatment.variant if treatment else "?"
    c_name = control.variant if control else "?"
    if (
        treatment is None
        or control is None
        or not (treatment.exposed_members and control.exposed_members)
    ):
        return Lift(name, t_name, c_name, None, None, "not enough exposed members in both groups")
    args = (
        min(treatment.converted_members, treatment.exposed_members),
        treatment.exposed_members,
        min(control.converted_members, control.exposed_members),
        control.exposed_members,
    )
    ratio = rate_ratio(*args)
    return Lift(
        name,
        t_name,
        c_name,
        rate_difference(*args),
        ratio,
        "" if ratio is not None else "ratio undefined: a group has no buyer yet",
    )


class FunnelService:
    """Builds the funnel report."""

    def __init__(self, context: ServiceContext, attribution: AttributionService) -> None:
        self.context = context
        self.attribution = attribution

    async def report(
        self, since: datetime | None = None, community: str | None = None, attribute: bool = True
    ) -> FunnelReport:
        """Attribute pending purchases (unless told not to), then count.

        `community` is `platform:id`; an unknown one is an error.
        """
        done = await self.attribution.run() if attribute else None
        community_id = None
        async with self.context.store.read() as conn:
            if community is not None:
                platform, _, platform_id = community.partition(":")
                info = await find_community(conn, platform, platform_id)
                if info is None:
                    raise CohortError(f"unknown community {community!r} (expected platform:id)")
                community_id = info.id
            counts = await a.funnel_counts(conn, since, community_id)
        rows = [funnel_row(c) for c in counts]
        by_variant = {row.variant: row for row in rows}
        lifts = [
            found
            for name, treatment, control in LIFTS
            if (found := lift(name, by_variant.get(treatment), by_variant.get(control)))
        ]
        return FunnelReport(since, community, rows, lifts, done)
