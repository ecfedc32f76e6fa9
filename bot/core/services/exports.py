"""`cohort export`: tables for spreadsheets and marketing tools, consent respected.

Five kinds, each a list of flat rows with fixed columns:

- `members`: one row per member and community the consent gate identifies *now*
  (profiling granted in opt-in mode; not objected, not erased in opt-out mode).
- `segments`: one row per identified member and segment (clusters and rule segments)
  of the trained model, names in the community's language.
- `scores`: one row per identified member and community: the influence scores of the
  trained model and the member's top picks with their scores.
- `funnel`: one row per variant (aggregates only; nobody is named).
- `deliveries`: one row per outbox row; the recipient is named only when the gate
  identifies them in the delivery's community, else left empty. The text sent is
  never exported.

Members the gate does not identify (never consented, objected, erased) are left out of
the member tables entirely and only counted in `unnamed`. A linked person is named
by their identity on the community's platform.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from bot.core.services.context import ServiceContext
from bot.core.services.funnel import FunnelService
from bot.core.stats import Interval
from bot.errors import CohortError
from bot.i18n import rule_segment_name, segment_description, segment_name, translator
from bot.store import exports as x
from bot.store.communities import CommunityInfo, all_communities
from bot.training.facade import TrainedModel

log = logging.getLogger(__name__)

Cell = str | int | float | bool | None


class ExportKind(StrEnum):
    """What `cohort export` can write."""

    members = "members"
    segments = "segments"
    scores = "scores"
    funnel = "funnel"
    deliveries = "deliveries"


@dataclass(frozen=True, slots=True)
class ExportTable:
    """Rows with fixed columns.

    `unnamed` counts the rows whose member the gate does not identify: left out of the
    member tables, the recipient left empty in `deliveries`.
    """

    kind: ExportKind
    columns: tuple[str, ...]
    rows: list[dict[str, Cell]] = field(default_factory=list)
    unnamed: int = 0


class NoTrainedModel(CohortError):
    """The export needs a trained model and there is none."""

    def __init__(self, kind: ExportKind) -> None:
        super().__init__(f"`export {kind}` needs a trained model: run `cohort train` first")


MEMBER_COLUMNS = (
    "member",
    "name",
    "platform",
    "community",
    "community_name",
    "joined_at",
    "left_at",
    "consent_profiling",
    "consent_dm",
    "locale",
    "messages",
    "last_message_at",
)
SEGMENT_COLUMNS = (
    "community",
    "kind",
    "segment_id",
    "segment",
    "description",
    "member",
    "name",
)
SCORE_COLUMNS = (
    "community",
    "member",
    "name",
    "influence",
    "influence_rank",
    "bridges",
    "bridges_rank",
    "helpers",
    "helpers_rank",
    "helped",
    "rising",
    "rising_rank",
    "graph_community",
)
FUNNEL_COLUMNS = (
    "variant",
    "impressions",
    "clicked",
    "purchases",
    "exposed_members",
    "converted_members",
    *(
        f"{rate}{part}"
        for rate in ("click_rate", "purchase_rate", "member_conversion")
        for part in ("", "_low", "_high")
    ),
)
DELIVERY_COLUMNS = (
    "id",
    "kind",
    "purpose",
    "status",
    "attempts",
    "community",
    "channel",
    "recipient",
    "course",
    "campaign",
    "created_at",
    "sent_at",
)


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _rounded(value: float | int) -> float | int:
    """Scores to 6 decimals (what a spreadsheet shows anyway); ranks and counts as they are."""
    return round(value, 6) if isinstance(value, float) else value


def _rate(name: str, interval: Interval | None) -> dict[str, Cell]:
    if interval is None:
        return {name: None, f"{name}_low": None, f"{name}_high": None}
    return {name: interval.estimate, f"{name}_low": interval.low, f"{name}_high": interval.high}


class ExportService:
    """Builds the export tables from the store, the consent gate and the trained model."""

    def __init__(self, context: ServiceContext, funnel: FunnelService) -> None:
        self.context = context
        self.funnel_service = funnel

    async def export(self, kind: ExportKind, *, k: int | None = None) -> ExportTable:
        """The table of `kind`; `k` is how many picks `scores` lists (default: the config's)."""
        if kind is ExportKind.members:
            return await self.members()
        if kind is ExportKind.segments:
            return await self.segments()
        if kind is ExportKind.scores:
            return await self.scores(k or self.context.cohort.settings.recommend.k)
        if kind is ExportKind.funnel:
            return await self.funnel()
        return await self.deliveries()

    # -- who may be named ----------------------------------------------------------------

    def _identifies(self, member: x.Identity, community: CommunityInfo) -> bool:
        gate = self.context.cohort.gate
        return member.platform == community.platform and gate.identifies(
            member.platform, community.platform_id, member.platform_id
        )

    def _named(
        self,
        member_id: int,
        community: CommunityInfo,
        people: dict[int, x.Identity],
        persons: dict[int, list[x.Identity]],
    ) -> x.Identity | None:
        """The identity to name for a model key in a community, or None (not identified)."""
        member = people.get(member_id)
        if member is None:
            return None  # erased since training
        candidates = [member, *persons.get(member.person_id or -1, [])]
        return next((c for c in candidates if self._identifies(c, community)), None)

    async def _people(
        self,
    ) -> tuple[dict[int, x.Identity], dict[int, list[x.Identity]], list[CommunityInfo]]:
        async with self.context.store.read() as conn:
            people = await x.identities(conn)
            communities = await all_communities(conn)
        persons: dict[int, list[x.Identity]] = {}
        for person in people.values():
            if person.person_id is not None:
                persons.setdefault(person.person_id, []).append(person)
        return people, persons, communities

    async def _model(self, kind: ExportKind) -> TrainedModel:
        model = await self.context.models.current()
        if model is None:
            raise NoTrainedModel(kind)
        return model

    # -- the tables ----------------------------------------------------------------------

    async def members(self) -> ExportTable:
        """Every identified membership with consent flags and stored message activity."""
        async with self.context.store.read() as conn:
            people = await x.identities(conn)
            communities = {c.id: c for c in await all_communities(conn)}
            memberships = await x.memberships(conn)
            activity = await x.activity(conn)
        rows: list[dict[str, Cell]] = []
        unnamed = 0
        for membership in memberships:
            member = people[membership.member_id]
            community = communities[membership.community_id]
            if not self._identifies(member, community):
                unnamed += 1
                continue
            seen = activity.get((member.id, community.id), x.Activity(0, None))
            rows.append(
                {
                    "member": member.ref,
                    "name": member.display_name,
                    "platform": member.platform,
                    "community": community.ref,
                    "community_name": community.name,
                    "joined_at": _when(membership.joined_at),
                    "left_at": _when(membership.left_at),
                    "consent_profiling": membership.consent_profiling,
                    "consent_dm": membership.consent_dm,
                    "locale": member.locale,
                    "messages": seen.messages,
                    "last_message_at": _when(seen.last_message_at),
                }
            )
        return ExportTable(ExportKind.members, MEMBER_COLUMNS, rows, unnamed)

    async def segments(self) -> ExportTable:
        """Each identified member's segment and rule segments, per community."""
        model = await self._model(ExportKind.segments)
        people, persons, communities = await self._people()
        rows: list[dict[str, Cell]] = []
        unnamed = 0
        for community in communities:
            models = model.community(community.ref)
            if models is None:
                continue
            t = translator(community.locale)
            entries: list[tuple[str, str, str, str, str]] = []  # kind, id, name, text, key
            if models.segments is not None:
                described = {s.id: s for s in models.segments.describe()}
                for key, segment_id in sorted(
                    models.segments.assignments().items(), key=lambda item: (item[1], item[0])
                ):
                    segment = described.get(segment_id)
                    if segment is None:
                        continue
                    entries.append(
                        (
                            "cluster",
                            str(segment_id),
                            segment_name(t, segment),
                            segment_description(t, segment),
                            key,
                        )
                    )
            for rule, keys in models.rules.items():
                label = rule_segment_name(t, rule)
                entries.extend(("rule", rule, label, "", key) for key in keys)
            for kind, entry_id, name, description, key in entries:
                named = self._named(int(key), community, people, persons)
                if named is None:
                    unnamed += 1
                    continue
                rows.append(
                    {
                        "community": community.ref,
                        "kind": kind,
                        "segment_id": entry_id,
                        "segment": name,
                        "description": description,
                        "member": named.ref,
                        "name": named.display_name,
                    }
                )
        return ExportTable(ExportKind.segments, SEGMENT_COLUMNS, rows, unnamed)

    async def scores(self, k: int) -> ExportTable:
        """Influence scores and the top `k` picks of each identified member, per community."""
        model = await self._model(ExportKind.scores)
        people, persons, communities = await self._people()
        columns = SCORE_COLUMNS + tuple(
            f"pick_{n}{part}" for n in range(1, k + 1) for part in ("", "_score")
        )
        day = self.context.clock().date().isoformat()
        rows: list[dict[str, Cell]] = []
        unnamed = 0
        for community in communities:
            models = model.community(community.ref)
            if models is None or models.influence is None:
                continue
            named_rows: list[tuple[str, x.Identity, dict[str, Cell]]] = []
            for summary in models.influence.summaries():
                named = self._named(int(summary["member"]), community, people, persons)
                if named is None:
                    unnamed += 1
                    continue
                row: dict[str, Cell] = {
                    "community": community.ref,
                    "member": named.ref,
                    "name": named.display_name,
                    **{
                        column: _rounded(summary[column])  # type: ignore[literal-required]
                        for column in SCORE_COLUMNS[3:-1]
                    },
                    "graph_community": summary["community"],
                }
                named_rows.append((summary["member"], named, row))
            keys = [key for key, _, _ in named_rows if model.knows(key)]
            picks = dict(zip(keys, model.recommend(keys, k, day=day), strict=True))
            for key, _, row in named_rows:
                for n in range(1, k + 1):
                    row[f"pick_{n}"] = row[f"pick_{n}_score"] = None
                for n, pick in enumerate(picks.get(key, []), 1):
                    row[f"pick_{n}"] = pick.course
                    row[f"pick_{n}_score"] = pick.score
                rows.append(row)
        return ExportTable(ExportKind.scores, columns, rows, unnamed)

    async def funnel(self) -> ExportTable:
        """The funnel per variant (as `cohort funnel`, attributing pending purchases first)."""
        report = await self.funnel_service.report()
        rows: list[dict[str, Cell]] = [
            {
                "variant": row.variant,
                "impressions": row.impressions,
                "clicked": row.clicked,
                "purchases": row.purchases,
                "exposed_members": row.exposed_members,
                "converted_members": row.converted_members,
                **_rate("click_rate", row.click_rate),
                **_rate("purchase_rate", row.purchase_rate),
                **_rate("member_conversion", row.member_conversion),
            }
            for row in report.rows
        ]
        return ExportTable(ExportKind.funnel, FUNNEL_COLUMNS, rows)

    async def deliveries(self) -> ExportTable:
        """Every queued or sent message: status and times; the recipient only if identified."""
        people, _, communities = await self._people()
        by_id = {c.id: c for c in communities}
        async with self.context.store.read() as conn:
            outbox = await x.deliveries(conn)
        rows: list[dict[str, Cell]] = []
        unnamed = 0
        for delivery in outbox:
            community = by_id.get(delivery.community_id or -1)
            recipient: str | None = None
            if delivery.member_id is not None:
                member = people.get(delivery.member_id)
                if (
                    member is not None
                    and community is not None
                    and self._identifies(member, community)
                ):
                    recipient = member.ref
                else:
                    unnamed += 1
            rows.append(
                {
                    "id": delivery.id,
                    "kind": delivery.kind,
                    "purpose": delivery.purpose,
                    "status": delivery.status,
                    "attempts": delivery.attempts,
                    "community": community.ref if community else None,
                    "channel": delivery.channel,
                    "recipient": recipient,
                    "course": delivery.course,
                    "campaign": delivery.campaign,
                    "created_at": _when(delivery.created_at),
                    "sent_at": _when(delivery.sent_at),
                }
            )
        return ExportTable(ExportKind.deliveries, DELIVERY_COLUMNS, rows, unnamed)
