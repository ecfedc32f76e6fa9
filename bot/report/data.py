"""What a report shows, as neutral dataclasses: gathered once, drawn and written later.

Nothing here knows about SQL, matplotlib or HTML. `bot.report.gather` fills these from
the store, the services and the trained model; `bot.report.charts` draws them and
`bot.report.page` writes the page. Member names appear only in `GraphNode.label`, and
only for members Cohort may identify (`named`); everyone else is a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from bot.core.services.funnel import FunnelReport

WEEKDAYS = 7
HOURS = 24


@dataclass(frozen=True, slots=True)
class ChannelActivity:
    """One channel's messages per day (stored plus counted anonymously)."""

    name: str
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        """Messages over the whole period."""
        return sum(self.counts)


@dataclass(frozen=True, slots=True)
class SegmentRow:
    """A segment as the reader sees it: name and description in the report's language."""

    name: str
    description: str
    size: int


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A member drawn in the interaction graph.

    `label` is the display name when `named` (the member may be identified), else
    an anonymous number. `group` colours the node (their segment; -1: none) and
    `group_label` names it in the legend.
    """

    label: str
    named: bool
    influence: float
    group: int
    group_label: str


@dataclass(frozen=True, slots=True)
class Graph:
    """The top members and the attention between them (`edges`: node index pairs → count).

    `total` is how many members the influence model scored; the drawing shows the
    top `len(nodes)` of them.
    """

    nodes: tuple[GraphNode, ...] = ()
    edges: tuple[tuple[int, int, int], ...] = ()
    total: int = 0


@dataclass(frozen=True, slots=True)
class CourseShown:
    """A course and how often it was shown as a pick."""

    title: str
    impressions: int


@dataclass(frozen=True, slots=True)
class Coverage:
    """Catalog coverage of the picks: which active courses were shown at all."""

    shown: tuple[CourseShown, ...] = ()
    catalog_size: int = 0

    @property
    def shown_count(self) -> int:
        """Distinct courses shown at least once."""
        return sum(1 for course in self.shown if course.impressions > 0)


DELIVERY_STATUSES = ("sent", "unreachable", "failed", "cancelled", "pending")


@dataclass(frozen=True, slots=True)
class Deliveries:
    """Outbox outcomes by status (`pending` includes messages being sent)."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Every delivery queued in the period."""
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class CommunityReport:
    """Everything the report shows about one community over the period."""

    ref: str
    name: str
    timezone: str
    members: int
    profiled: int
    dm: int
    days: tuple[date, ...]
    channels: tuple[ChannelActivity, ...]
    heatmap: tuple[tuple[int, ...], ...]  # [weekday Monday=0][local hour]
    segments: tuple[SegmentRow, ...] | None  # None: no trained model for this community
    graph: Graph
    topics: tuple[tuple[str, int], ...]
    trending: tuple[str, ...]
    funnel: FunnelReport
    coverage: Coverage
    deliveries: Deliveries

    @property
    def messages(self) -> int:
        """Messages over the period, every channel."""
        return sum(channel.total for channel in self.channels)

    def daily_totals(self) -> tuple[int, ...]:
        """Messages per day, every channel together."""
        return tuple(
            sum(channel.counts[i] for channel in self.channels) for i in range(len(self.days))
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The last weeks of one community, for the chart `/insights` sends in chat."""

    days: tuple[date, ...]
    totals: tuple[int, ...]  # messages per day, every channel
    topics: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ReportData:
    """A whole report: when, over which period, in which language, for which communities."""

    generated: datetime
    since: datetime
    days: int
    locale: str
    model_version: str | None
    communities: tuple[CommunityReport, ...]
