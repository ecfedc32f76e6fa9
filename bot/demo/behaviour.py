"""Simulated members acting on what they were shown, by their hidden interests.

Each consenting member asks `/recommend` (through `Commands`, as the adapters do) and
may have received a personal digest. For every pick they saw they decide, from how
well the course fits their hidden interests and language and where it sat in the
list, whether to open "Learn more", press "Interested" or "Not for me", and buy.
Everything goes through the real paths:

- "Learn more" is an HTTP GET of the link in the message, served by Cohort's own
  web app (`bot.web`) on a local port: the redirect records the click and answers
  with the course page (not followed: the demo stays offline);
- the buttons are `Commands.press`, like a button press on either platform;
- a purchase after a click reaches the signed purchase webhook with the link's
  token, as a shop would send it; one without a click goes into a CSV for
  `cohort import purchases` (attributed to the last pick shown, if any).
"""

from __future__ import annotations

import csv
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from bot.core.commands import Commands
from bot.demo import synthetic
from bot.domain.actors import Actor
from bot.domain.replies import Items, Reply, Text

log = logging.getLogger(__name__)

CLICK_BASE, CLICK_FIT = 0.02, 0.55
BUY_AFTER_CLICK = 0.35
BUY_WITHOUT_CLICK = 0.04
INTERESTED_AFTER_CLICK = 0.4
DISMISS_UNFIT = 0.12
SECONDARY_INTEREST = 0.6
OTHER_LANGUAGE = 0.3
UNRELATED = 0.04


@dataclass(frozen=True, slots=True)
class Pick:
    """One course as a member saw it: where, and the buttons that came with it."""

    course: str
    position: int
    link: str | None = None
    interested: str | None = None  # button action
    dismiss: str | None = None  # button action


@dataclass(frozen=True, slots=True)
class Seen:
    """A message a member received with picks in it."""

    member: synthetic.Member
    actor: Actor
    picks: tuple[Pick, ...]


@dataclass
class Outcome:
    """What the simulated members did."""

    members: int = 0
    picks: int = 0
    clicks: int = 0
    interested: int = 0
    dismissed: int = 0
    webhook_purchases: int = 0
    csv_purchases: list[list[str]] = field(default_factory=list)


def picks_in(reply: Reply, course_by_title: dict[str, str]) -> tuple[Pick, ...]:
    """The picks in a reply: its numbered list of titles and the buttons of each position."""
    listed = next((b for b in reply.blocks if isinstance(b, Items) and b.numbered), None)
    if listed is None:
        return ()
    buttons = reply.all_buttons()
    picks = []
    for position, item in enumerate(listed.items, 1):
        title = next((s.text for s in item.spans if isinstance(s, Text)), "")
        course = course_by_title.get(title)
        if course is None:
            continue
        mine = [b for b in buttons if b.label.startswith(f"{position}. ")]
        row = next((r for r in reply.buttons if r and r[0] in mine), ())
        links = [b.url for b in (*mine, *row) if b.url]
        actions = [b.action for b in row if b.action]
        picks.append(
            Pick(
                course=course,
                position=position,
                link=links[0] if links else None,
                interested=next((a for a in actions if a.startswith("in:")), None),
                dismiss=next((a for a in actions if a.startswith("no:")), None),
            )
        )
    return tuple(picks)


def fit(member: synthetic.Member, course: str) -> float:
    """How much a course suits a member: 1 on their main interest, less on others."""
    topic = synthetic.COURSE_INTEREST.get(course)
    if topic is None or topic not in member.topics:
        score = UNRELATED
    else:
        score = 1.0 if member.topics[0] == topic else SECONDARY_INTEREST
    if (synthetic.course_language(course) == "zh") != member.chinese:
        score *= OTHER_LANGUAGE
    return score


class Shopper:
    """The simulated members' decisions (deterministic for a seed)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def clicks(self, member: synthetic.Member, pick: Pick) -> bool:
        """Whether the member opens "Learn more"."""
        attention = 1.0 / (1.0 + 0.25 * (pick.position - 1))
        return self.rng.random() < CLICK_BASE + CLICK_FIT * fit(member, pick.course) * attention

    def buys(self, member: synthetic.Member, pick: Pick, clicked: bool) -> bool:
        """Whether the member buys the course (more likely after reading its page)."""
        chance = BUY_AFTER_CLICK if clicked else BUY_WITHOUT_CLICK
        return self.rng.random() < chance * fit(member, pick.course)

    def presses_interested(self) -> bool:
        """Whether a member who opened a pick also presses "Interested"."""
        return self.rng.random() < INTERESTED_AFTER_CLICK

    def dismisses(self, member: synthetic.Member, pick: Pick) -> bool:
        """Whether the member answers "Not for me" to a pick that does not suit them."""
        return fit(member, pick.course) < 0.1 and self.rng.random() < DISMISS_UNFIT


async def act(
    seen: list[Seen],
    commands: Commands,
    shopper: Shopper,
    *,
    click: Callable[[str], Awaitable[object]],
    buy: Callable[[Seen, Pick], Awaitable[object]],
    buy_later: Callable[[Seen, Pick], list[str]],
    tick: Callable[[], None] = lambda: None,
) -> Outcome:
    """Every member acts on every pick they saw; returns what they did.

    `click(path)` opens a tracking link, `buy(seen, pick)` reports a purchase made
    after a click, `buy_later` makes the CSV row of one made without.
    """
    outcome = Outcome()
    members: set[tuple[str, str]] = set()
    for message in seen:
        members.add((message.actor.platform, message.member.id))
        for pick in message.picks:
            outcome.picks += 1
            clicked = pick.link is not None and shopper.clicks(message.member, pick)
            if clicked and pick.link is not None:
                await click(urlsplit(pick.link).path)
                outcome.clicks += 1
                if pick.interested and shopper.presses_interested():
                    await commands.press(message.actor, pick.interested)
                    outcome.interested += 1
            elif pick.dismiss and shopper.dismisses(message.member, pick):
                await commands.press(message.actor, pick.dismiss)
                outcome.dismissed += 1
            if shopper.buys(message.member, pick, clicked):
                if clicked:
                    await buy(message, pick)
                    outcome.webhook_purchases += 1
                else:
                    outcome.csv_purchases.append(buy_later(message, pick))
        tick()
    outcome.members = len(members)
    return outcome


def order_row(message: Seen, pick: Pick, ts: datetime, order: str) -> list[str]:
    """A purchases CSV row (`member,course,ts,amount,currency,order`)."""
    amount, currency = synthetic.PRICES.get(pick.course, (0.0, "USD"))
    return [
        f"{message.actor.platform}:{message.member.id}",
        pick.course,
        ts.isoformat(),
        str(amount),
        currency,
        order,
    ]


def webhook_body(pick: Pick, order: str) -> bytes:
    """The shop's purchase webhook body: the order, course and the link's token."""
    token = urlsplit(pick.link or "").path.rsplit("/", 1)[-1]
    amount, currency = synthetic.PRICES.get(pick.course, (0.0, "USD"))
    body = {
        "order_id": order,
        "course": pick.course,
        "token": token,
        "amount": amount,
        "currency": currency,
    }
    return json.dumps(body).encode()


def write_orders(path: Path, rows: list[list[str]]) -> Path:
    """The shop's export of the purchases made without a click (CSV with a header)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["member", "course", "ts", "amount", "currency", "order"])
        writer.writerows(rows)
    return path
