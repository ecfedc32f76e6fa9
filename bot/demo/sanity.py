"""An honest check of the whole pipeline: how often the picks find the hidden interests.

The synthetic members' interests never reach Cohort: it only sees what they said,
reacted to and bought. So for every member the trained model knows, a hit is a top-k
list holding at least one course on one of their hidden interests (in any language),
not counting courses they already own. The personal picks (the trained model, with
the business rules members get) are compared with the popularity ranking the holdout
group gets, on the same members: HR@k for both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.demo import synthetic
from bot.store.interactions import owned_courses
from bot.store.members import members_by_ids
from bot.training.facade import TrainedModel

log = logging.getLogger(__name__)

KS = (1, 3, 5)


@dataclass(frozen=True, slots=True)
class HitRates:
    """HR@k of the personal picks and of popularity, on `members` members."""

    members: int
    personal: dict[int, float]
    popularity: dict[int, float]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A member the model knows, with what they own and what would suit them."""

    key: str
    owned: frozenset[str]
    suits: frozenset[str]


async def candidates(
    conn: AsyncConnection,
    model: TrainedModel,
    members: Mapping[tuple[str, str], synthetic.Member],
) -> list[Candidate]:
    """Members the model was trained on, known to the demo and with a suitable course left."""
    keys = model.member_keys()
    stored = await members_by_ids(conn, [int(key) for key in keys])
    out = []
    for key in keys:
        info = stored.get(int(key))
        member = members.get((info.platform, info.platform_id)) if info else None
        if info is None or member is None:
            continue
        owned = await owned_courses(conn, [info.id])
        suits = synthetic.interest_courses(member) - owned
        if suits:
            out.append(Candidate(key, frozenset(owned), frozenset(suits)))
    return out


def popular_order(popularity: Mapping[str, int], courses: Sequence[str]) -> list[str]:
    """Courses by purchases, most first (ties by id): the holdout's ranking."""
    return sorted(courses, key=lambda c: (-popularity.get(c, 0), c))


def hit_rates(
    model: TrainedModel,
    people: Sequence[Candidate],
    popularity: Mapping[str, int],
    courses: Sequence[str],
    *,
    day: str = "",
) -> HitRates:
    """HR@k (k in `KS`) of the model's picks and of popularity for `people`."""
    k = max(KS)
    order = popular_order(popularity, courses)
    picks = model.recommend(
        [p.key for p in people],
        k,
        day=day,
        exclude={p.key: set(p.owned) for p in people},
    )
    personal = {n: 0 for n in KS}
    popular = {n: 0 for n in KS}
    for person, chosen in zip(people, picks, strict=True):
        mine = [pick.course for pick in chosen]
        baseline = [c for c in order if c not in person.owned][:k]
        for n in KS:
            personal[n] += bool(set(mine[:n]) & person.suits)
            popular[n] += bool(set(baseline[:n]) & person.suits)
    total = max(1, len(people))
    return HitRates(
        members=len(people),
        personal={n: personal[n] / total for n in KS},
        popularity={n: popular[n] / total for n in KS},
    )
