"""Simulated members read the picks in real replies and act on those that suit them."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.demo import synthetic
from bot.demo.behaviour import Pick, Shopper, fit, picks_in
from bot.domain.replies import Button, ButtonStyle, Items, Paragraph, Reply, Style, Text

TITLES = {"Rust from Zero": "rust-101", "机器学习实战": "ml-zh"}


def member(topics: list[str], *, chinese: bool = False) -> synthetic.Member:
    """A member with these hidden interests."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return synthetic.Member("1", "m", topics, 1.0, 0.5, False, chinese, now, None, True, True)


def item(title: str) -> Paragraph:
    """A pick's line as the services write it."""
    return Paragraph.of(Text(title, Style.BOLD), " — ", "a reason")


def test_picks_are_read_from_a_recommend_reply() -> None:
    """Each numbered title gets its own row: Interested, Not for me and the tracking link."""
    reply = Reply(
        (Items((item("Rust from Zero"), item("机器学习实战")), numbered=True),),
        buttons=tuple(
            (
                Button(f"{n}. Interested", action=f"in:t{n}", style=ButtonStyle.PRIMARY),
                Button("Not for me", action=f"no:t{n}"),
                Button("Learn more", url=f"http://127.0.0.1:8080/r/t{n}"),
            )
            for n in (1, 2)
        ),
    )
    assert picks_in(reply, TITLES) == (
        Pick("rust-101", 1, "http://127.0.0.1:8080/r/t1", "in:t1", "no:t1"),
        Pick("ml-zh", 2, "http://127.0.0.1:8080/r/t2", "in:t2", "no:t2"),
    )


def test_picks_are_read_from_a_digest() -> None:
    """A digest has one row of numbered links and no feedback buttons."""
    reply = Reply(
        (Items((item("Rust from Zero"), item("机器学习实战")), numbered=True),),
        buttons=(
            (
                Button("1. Learn more", url="https://x.org/r/a"),
                Button("2. Learn more", url="https://x.org/r/b"),
            ),
        ),
    )
    assert picks_in(reply, TITLES) == (
        Pick("rust-101", 1, "https://x.org/r/a"),
        Pick("ml-zh", 2, "https://x.org/r/b"),
    )


def test_a_course_on_the_main_interest_in_ones_language_suits_best() -> None:
    """Main interest > second interest > other language > unrelated."""
    rustacean = member(["rust", "ml"])
    assert fit(rustacean, "rust-101") > fit(rustacean, "ml-foundations") > fit(rustacean, "ml-zh")
    assert fit(rustacean, "ml-zh") > fit(rustacean, "java-spring")


def test_members_click_what_suits_them_far_more_often() -> None:
    """Over many picks, a course on the main interest is opened several times more often."""
    shopper = Shopper(1)
    rustacean = member(["rust"])
    suits = sum(shopper.clicks(rustacean, Pick("rust-101", 1, "u")) for _ in range(2000))
    unrelated = sum(shopper.clicks(rustacean, Pick("java-spring", 1, "u")) for _ in range(2000))
    assert suits > 5 * unrelated > 0
