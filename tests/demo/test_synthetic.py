"""The synthetic community: hidden interests drive what members say, buy and react to."""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from datetime import UTC, datetime

from bot.demo import synthetic
from bot.demo.build import CATALOG
from recsys.text import tokenize

START = datetime(2026, 1, 5, tzinfo=UTC)


def test_every_interest_sells_catalog_courses_and_every_course_has_an_interest() -> None:
    """The catalog and the interests match: no course without an interest, no dangling id."""
    catalog = {row["id"] for row in tomllib.loads(CATALOG.read_text("utf-8"))["courses"]}
    assert set(synthetic.COURSE_INTEREST) == catalog == set(synthetic.PRICES)
    assert len(catalog) >= 25 and all(i.courses for i in synthetic.INTERESTS.values())


def test_members_talk_and_buy_along_their_hidden_interests() -> None:
    """Every message and nearly every purchase is on one of the member's hidden interests."""
    community = synthetic.generate("discord", members=80, days=21, seed=3, start=START)
    on_topic = Counter(
        message.topic in community.member(message.member).topics for message in community.messages
    )
    assert on_topic[True] == len(community.messages)
    bought = Counter(
        synthetic.COURSE_INTEREST[p.course] in community.member(p.member).topics
        for p in community.purchases
    )
    assert bought[True] >= 0.85 * len(community.purchases)
    interests = {topic for member in community.members for topic in member.topics}
    assert interests == set(synthetic.INTERESTS)


def test_chinese_members_write_chinese_that_jieba_splits_into_terms() -> None:
    """The Telegram group is mostly Chinese, without spaces between Chinese words."""
    community = synthetic.generate("telegram", members=40, days=14, seed=4, start=START)
    chinese = [m.text for m in community.messages if community.member(m.member).chinese]
    assert len(chinese) > len(community.messages) / 2
    assert not any(re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", text) for text in chinese)
    terms = Counter(term for text in chinese for term in tokenize(text))
    assert {"机器学习", "前端"} & set(terms)


def test_the_discord_server_has_a_channel_per_interest_and_a_chinese_one() -> None:
    """English topic channels, general, and one channel where Chinese members talk."""
    community = synthetic.generate("discord", members=60, days=14, seed=5, start=START)
    names = set(community.channels.values())
    assert names == {"general", synthetic.CHINESE_CHANNEL, *synthetic.INTERESTS}
    used = {community.channels[m.channel] for m in community.messages}
    assert synthetic.CHINESE_CHANNEL in used
