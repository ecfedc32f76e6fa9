"""A synthetic programmers' community, written in the formats real tools produce.

Every member has hidden interests (one to three of `INTERESTS`, the first the
strongest), an activity level, a preferred time of day, a language and a propensity
to help. The interests drive everything they do: what they ask and answer about,
whose messages they react to, which questions they reply to, and which courses they
buy (in their language). The interests are never written anywhere the importers read,
so they can be used afterwards to check what Cohort inferred (`interest_courses`).

A Discord server has a channel per interest, `general` and a Chinese channel; a
Telegram group is mostly Chinese. Chinese members write as Chinese developers do:
Chinese sentences with the English names of tools in them. The same community can be
written as Cohort JSONL events, DiscordChatExporter JSON files, a Telegram Desktop
`result.json` and a purchases CSV, so the demo and the benchmarks exercise the real
importers.

Everything is deterministic for a given seed.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.domain.events import (
    ConsentChanged,
    Event,
    MemberJoined,
    MemberLeft,
    MessageEdited,
    MessagePosted,
    PurchaseMade,
    ReactionAdded,
)


@dataclass(frozen=True, slots=True)
class Interest:
    """A subject members care about: how they talk about it and what it sells.

    `terms` are what English speakers say, `terms_zh` what Chinese speakers say
    (Chinese words and the English names of tools), `courses` the catalog's courses
    on it (ids from `data/courses.toml`), `weight` how common the interest is.
    """

    terms: tuple[str, ...]
    terms_zh: tuple[str, ...]
    courses: tuple[str, ...]
    weight: float


INTERESTS: dict[str, Interest] = {
    "rust": Interest(
        ("rust", "cargo", "the borrow checker", "lifetimes", "tokio", "traits", "serde"),
        ("rust", "所有权", "生命周期", "借用检查", "tokio", "cargo", "异步编程"),
        ("rust-101", "rust-async"),
        1.0,
    ),
    "python": Interest(
        ("python", "pytest", "asyncio", "aiohttp", "decorators", "type hints", "pip"),
        ("python", "爬虫", "装饰器", "asyncio", "虚拟环境", "pip", "零基础"),
        ("python-101", "asyncio-deep-dive", "python-zh"),
        2.0,
    ),
    "frontend": Interest(
        ("react", "typescript", "javascript", "css grid", "vite", "react hooks", "next.js"),
        ("vue", "前端", "组件", "typescript", "小程序", "状态管理", "react"),
        ("react-frontend", "typescript-pro", "vue-zh"),
        1.8,
    ),
    "backend": Interest(
        ("django", "fastapi", "rest apis", "pydantic", "sqlalchemy", "celery"),
        ("django", "fastapi", "接口", "后端", "鉴权", "pydantic"),
        ("django-web", "fastapi-services"),
        1.2,
    ),
    "go": Interest(
        ("go", "goroutines", "channels", "context", "grpc", "microservices"),
        ("go", "goroutine", "并发", "gin", "微服务", "grpc"),
        ("go-concurrency", "go-zh"),
        1.0,
    ),
    "devops": Interest(
        ("kubernetes", "docker", "helm", "k8s", "terraform", "ci pipelines"),
        ("k8s", "docker", "云原生", "helm", "容器", "运维"),
        ("k8s-ops", "cloudnative-zh"),
        1.1,
    ),
    "ml": Interest(
        ("machine learning", "scikit-learn", "pandas", "tensorflow", "keras", "numpy"),
        ("机器学习", "深度学习", "tensorflow", "模型训练", "特征工程", "scikit-learn"),
        ("ml-foundations", "deep-learning-tf", "ml-zh"),
        1.6,
    ),
    "llm": Interest(
        ("llm", "rag", "embeddings", "vector databases", "prompting", "agents"),
        ("大模型", "rag", "提示词", "向量数据库", "智能体", "微调"),
        ("llm-apps", "llm-zh"),
        1.4,
    ),
    "data": Interest(
        ("sql", "postgresql", "window functions", "spark", "airflow", "dbt"),
        ("数据分析", "pandas", "sql", "报表", "可视化", "excel"),
        ("sql-postgres", "data-engineering", "data-analysis-zh"),
        1.2,
    ),
    "cpp": Interest(
        ("c++", "templates", "cmake", "raii", "move semantics", "c++20 ranges"),
        ("c++", "模板", "cmake", "内存管理", "智能指针", "性能优化"),
        ("modern-cpp",),
        0.6,
    ),
    "security": Interest(
        ("security", "owasp", "xss", "csrf", "sql injection", "jwt"),
        ("安全", "xss", "漏洞", "jwt", "渗透测试", "owasp"),
        ("web-security",),
        0.5,
    ),
    "mobile": Interest(
        ("kotlin", "android", "jetpack compose", "flutter", "swiftui", "mobile apps"),
        ("flutter", "安卓", "dart", "移动开发", "ios", "kotlin"),
        ("android-kotlin", "flutter-zh"),
        0.7,
    ),
    "java": Interest(
        ("java", "spring boot", "maven", "jpa", "the jvm", "hibernate"),
        ("java", "spring", "mybatis", "jvm", "redis", "后端"),
        ("java-spring", "java-zh"),
        0.9,
    ),
    "algorithms": Interest(
        ("algorithms", "leetcode", "dynamic programming", "graphs", "big-o", "interviews"),
        ("算法", "leetcode", "动态规划", "二叉树", "刷题", "面试"),
        ("algorithms-interview", "algorithms-zh"),
        1.0,
    ),
}
COURSE_INTEREST: dict[str, str] = {
    course: name for name, interest in INTERESTS.items() for course in interest.courses
}
PRICES: dict[str, tuple[float, str]] = {
    "rust-101": (49, "USD"),
    "rust-async": (79, "USD"),
    "python-101": (39, "USD"),
    "asyncio-deep-dive": (89, "USD"),
    "django-web": (69, "USD"),
    "react-frontend": (59, "USD"),
    "go-concurrency": (69, "USD"),
    "k8s-ops": (99, "USD"),
    "ml-foundations": (79, "USD"),
    "deep-learning-tf": (119, "USD"),
    "modern-cpp": (89, "USD"),
    "python-zh": (199, "CNY"),
    "ml-zh": (299, "CNY"),
    "typescript-pro": (59, "USD"),
    "vue-zh": (249, "CNY"),
    "fastapi-services": (69, "USD"),
    "go-zh": (269, "CNY"),
    "cloudnative-zh": (299, "CNY"),
    "llm-apps": (129, "USD"),
    "llm-zh": (399, "CNY"),
    "sql-postgres": (49, "USD"),
    "data-engineering": (109, "USD"),
    "data-analysis-zh": (199, "CNY"),
    "web-security": (89, "USD"),
    "android-kotlin": (79, "USD"),
    "flutter-zh": (229, "CNY"),
    "java-spring": (79, "USD"),
    "java-zh": (259, "CNY"),
    "algorithms-interview": (59, "USD"),
    "algorithms-zh": (199, "CNY"),
}
QUESTIONS_EN = [
    "How do I use {a} with {b}?",
    "Anyone using {a} for {b} in production?",
    "Why does {a} fail when I add {b}?",
    "{a} or {b}: which should I learn first?",
    "Any good resources on {a}? Struggling with {b}.",
    "Is {a} still worth learning in 2025, or should I go straight to {b}?",
    "Stuck for two days on {a} + {b}, any ideas? Error makes no sense to me",
]
ANSWERS_EN = [
    "You can use {a}, it handles {b} nicely.",
    "Try {a} — I had the same problem with {b} last week.",
    "The trick is {a}; read the docs section on {b}.",
    "I'd start with {a}, then move on to {b}.",
    "We run {a} in prod, {b} was the only painful part. Happy to share our setup",
]
CHATTER_EN = [
    "Just shipped a side project with {a} and {b}!",
    "Reading about {a} today, {b} finally clicks.",
    "Anyone going to the {a} meetup? Talk on {b}.",
    "Hot take: {a} is underrated for {b}.",
    "Wrote a blog post on {a} vs {b}, feedback welcome",
]
QUESTIONS_ZH = [
    "请问 {a} 怎么配合 {b} 使用？",
    "有人在生产环境用过 {a} 吗？{b} 这块踩了不少坑",
    "新手求助：{a} 一直报错，是不是 {b} 没配好？",
    "{a} 和 {b} 哪个更适合入门？",
    "最近在学 {a}，有推荐的教程吗？{b} 总是搞不懂",
    "公司准备上 {a}，{b} 有什么最佳实践吗？",
]
ANSWERS_ZH = [
    "可以试试 {a}，对 {b} 很有帮助。",
    "我之前也遇到过，{a} 的官方文档里专门讲了 {b}。",
    "建议先把 {a} 搞明白，{b} 自然就懂了",
    "这个是 {b} 的问题，换成 {a} 就好了",
]
CHATTER_ZH = [
    "今天用 {a} 写了个小工具，{b} 真好用！",
    "分享一篇关于 {a} 和 {b} 的文章，写得很清楚",
    "周末折腾了一下 {a}，{b} 比想象中简单",
    "面试被问到 {a} 和 {b}，答得不太好😂",
]
QUESTION_TEMPLATES = frozenset(QUESTIONS_EN + QUESTIONS_ZH)
# A space between two Chinese characters (or Chinese punctuation): people write none.
_CJK_GAP = re.compile(
    r"(?<=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]) (?=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])"
)
FIRST = ["alex", "sam", "li", "wei", "maria", "omar", "yuki", "ivan", "nina", "raj", "zoe", "ken"]
FIRST_ZH = ["xiaoming", "lei", "fang", "jun", "hao", "ying", "tao", "min", "qiang", "lin"]
LAST = ["dev", "codes", "py", "rs", "ops", "ml", "hacker", "writes", "builds", "io"]
EMOJI = ["👍", "🔥", "🎉", "❤️", "🙏", "😂"]
DISCORD_EPOCH_MS = 1_420_070_400_000
CHINESE_CHANNEL = "中文交流"
EDIT_SUFFIX = " 🙏"  # what an edit adds (a word here would become a trending term)


def interest_courses(member: Member) -> set[str]:
    """The courses on a member's hidden interests (any language): what would suit them."""
    return {course for topic in member.topics for course in INTERESTS[topic].courses}


def course_language(course: str) -> str:
    """`zh` for the catalog's Chinese courses, else `en`."""
    return "zh" if course.endswith("-zh") else "en"


@dataclass
class Member:
    """A synthetic member: identity, hidden interests (strongest first) and habits."""

    id: str
    name: str
    topics: list[str]
    activity: float
    helpfulness: float
    evening: bool
    chinese: bool
    joined: datetime
    left: datetime | None
    profiling: bool | None
    dm: bool | None


@dataclass
class Message:
    """A synthetic message with its reactions (emoji -> reactor ids)."""

    id: str
    channel: str
    member: str
    ts: datetime
    text: str
    reply_to: str | None = None
    mentions: list[str] = field(default_factory=list)
    reactions: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)
    edited: datetime | None = None
    topic: str | None = None


@dataclass
class Purchase:
    """A synthetic purchase."""

    member: str
    course: str
    ts: datetime
    amount: float
    currency: str
    order: str


@dataclass
class Community:
    """A whole synthetic community, ready to be written in any format."""

    platform: str
    id: str
    export_id: str
    name: str
    channels: dict[str, str]
    members: list[Member]
    messages: list[Message]
    purchases: list[Purchase]
    start: datetime
    days: int
    _index: dict[str, Member] = field(default_factory=dict, repr=False, compare=False)

    def member(self, member_id: str) -> Member:
        """Look a member up by id."""
        if len(self._index) != len(self.members):
            self._index = {m.id: m for m in self.members}
        return self._index[member_id]


class _Ids:
    """Platform-shaped ids: Discord snowflakes, Telegram integers."""

    def __init__(self, platform: str, rng: random.Random) -> None:
        self.platform = platform
        self.rng = rng
        self._sequence = 0
        self._message = 0

    def snowflake(self, ts: datetime) -> str:
        self._sequence = (self._sequence + 1) % 4096
        ms = int(ts.timestamp() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (self.rng.randrange(32) << 17) | self._sequence)

    def user(self, ts: datetime) -> str:
        if self.platform == "discord":
            return self.snowflake(ts)
        return str(self.rng.randrange(100_000_000, 7_999_999_999))

    def message(self, ts: datetime) -> str:
        if self.platform == "discord":
            return self.snowflake(ts)
        self._message += 1
        return str(self._message)


def generate(
    platform: str = "discord",
    *,
    members: int = 60,
    days: int = 56,
    seed: int = 7,
    start: datetime | None = None,
    messages_per_member_day: float = 0.6,
) -> Community:
    """Generate a community of `members` over `days` (deterministic for `seed`).

    By default the history ends today, so recency and "rising" read as they would in
    a live community; pass `start` for dates that never move.
    """
    rng = random.Random(seed)
    if start is None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=days)
    ids = _Ids(platform, rng)
    topic_names = list(INTERESTS)
    topic_weights = [INTERESTS[name].weight for name in topic_names]

    if platform == "discord":
        community_id = ids.snowflake(start - timedelta(days=400))
        export_id = community_id
        channels = {ids.snowflake(start - timedelta(days=399)): "general"}
        for topic in topic_names:
            channels[ids.snowflake(start - timedelta(days=398))] = topic
        channels[ids.snowflake(start - timedelta(days=397))] = CHINESE_CHANNEL
        name = "Cohort Devs"
        chinese_share = 0.12
    else:
        export_id = str(rng.randrange(1_000_000_000, 1_999_999_999))
        community_id = str(-(1_000_000_000_000 + int(export_id)))
        channels = {community_id: "程序员交流群"}
        name = "程序员交流群"
        chinese_share = 0.8

    people: list[Member] = []
    for index in range(members):
        joined = start + timedelta(days=rng.uniform(-30, days * 0.7))
        draw = rng.random()
        count = 1 if draw < 0.45 else (2 if draw < 0.85 else 3)
        interests: list[str] = []
        while len(interests) < count:
            topic = rng.choices(topic_names, weights=topic_weights)[0]
            if topic not in interests:
                interests.append(topic)
        profiling_draw = rng.random()
        profiling = True if profiling_draw < 0.75 else (False if profiling_draw < 0.8 else None)
        left = None
        if rng.random() < 0.06:
            left = joined + timedelta(days=rng.uniform(5, 40))
            left = left if left < start + timedelta(days=days) else None  # not yet
        chinese = rng.random() < chinese_share
        first = rng.choice(FIRST_ZH if chinese else FIRST)
        people.append(
            Member(
                id=ids.user(joined),
                name=f"{first}_{rng.choice(LAST)}{index}",
                topics=interests,
                activity=min(8.0, rng.paretovariate(1.6) - 0.6),
                helpfulness=rng.betavariate(1.2, 3.0) if index % 9 else rng.uniform(0.7, 1.0),
                evening=rng.random() < 0.6,
                chinese=chinese,
                joined=joined,
                left=left,
                profiling=profiling,
                dm=(rng.random() < 0.6) if profiling else None,
            )
        )

    people_by_id = {member.id: member for member in people}
    fans: dict[str, list[Member]] = {topic: [] for topic in topic_names}
    for member in people:
        for topic in member.topics:
            fans[topic].append(member)
    channel_of_topic = {name: cid for cid, name in channels.items()}
    general = next(iter(channels))
    messages: list[Message] = []
    by_id: dict[str, Message] = {}
    open_questions: dict[str, list[Message]] = {cid: [] for cid in channels}
    for day in range(days):
        day_start = start + timedelta(days=day)
        todays: list[tuple[datetime, Member]] = []
        for member in people:
            if member.joined > day_start + timedelta(days=1):
                continue
            if member.left is not None and member.left < day_start:
                continue
            for _ in range(_poisson(rng, member.activity * messages_per_member_day)):
                hour = rng.gauss(20 if member.evening else 10, 2.5) % 24
                ts = day_start + timedelta(hours=hour, seconds=rng.randrange(60))
                if member.joined <= ts and (member.left is None or ts < member.left):
                    todays.append((ts, member))
        todays.sort(key=lambda pair: pair[0])
        for ts, member in todays:
            topic = member.topics[0] if rng.random() < 0.6 else rng.choice(member.topics)
            in_chinese = member.chinese and (platform == "telegram" or rng.random() < 0.75)
            if platform == "telegram":
                channel = community_id
            elif in_chinese:
                channel = channel_of_topic[CHINESE_CHANNEL]
            else:
                channel = channel_of_topic[topic] if rng.random() < 0.75 else general
            terms = INTERESTS[topic].terms_zh if in_chinese else INTERESTS[topic].terms
            a, b = rng.sample(terms, 2)
            pending = [q for q in open_questions[channel][-12:] if q.member != member.id]
            on_topic = [q for q in pending if q.topic in member.topics]
            kind = rng.random()
            reply_to: str | None = None
            mentions: list[str] = []
            if (on_topic or pending) and kind < 0.25 + member.helpfulness * 0.6:
                question = rng.choice(on_topic or pending)
                reply_to = question.id
                if question.topic is not None and question.topic in member.topics:
                    topic = question.topic  # answering about what was asked
                    terms = INTERESTS[topic].terms_zh if in_chinese else INTERESTS[topic].terms
                    a, b = rng.sample(terms, 2)
                if rng.random() < 0.35:
                    mentions.append(question.member)
                template = rng.choice(ANSWERS_ZH if in_chinese else ANSWERS_EN)
            elif kind < 0.75:
                template = rng.choice(QUESTIONS_ZH if in_chinese else QUESTIONS_EN)
            else:
                template = rng.choice(CHATTER_ZH if in_chinese else CHATTER_EN)
            message = Message(
                id=ids.message(ts),
                channel=channel,
                member=member.id,
                ts=ts,
                text=_CJK_GAP.sub("", template.format(a=a, b=b)),
                reply_to=reply_to,
                mentions=mentions,
                topic=topic,
            )
            if rng.random() < 0.05:
                message.edited = ts + timedelta(minutes=rng.uniform(1, 30))
            if template in QUESTION_TEMPLATES:
                open_questions[channel].append(message)
                del open_questions[channel][:-30]
            messages.append(message)
            by_id[message.id] = message
            _react(
                rng, message, member, people, people_by_id, fans[topic], by_id.get(reply_to or "")
            )

    purchases: list[Purchase] = []
    end = start + timedelta(days=days)
    for member in people:
        owned: set[str] = set()
        for rank_of_topic, topic in enumerate(member.topics):
            strength = 1.0 if rank_of_topic == 0 else 0.6
            for rank, course in enumerate(INTERESTS[topic].courses):
                in_language = (course_language(course) == "zh") == member.chinese
                if not in_language and rng.random() < 0.85:
                    continue
                chance = (0.35 if rank == 0 else 0.15) * strength
                if rng.random() < chance * min(1.5, 0.5 + member.activity):
                    owned.add(course)
        if rng.random() < 0.05:
            owned.add(rng.choice(sorted(PRICES)))
        for course in sorted(owned):
            ts = member.joined + (end - member.joined) * rng.uniform(0.1, 1.0)
            amount, currency = PRICES[course]
            purchases.append(
                Purchase(member.id, course, ts, amount, currency, f"ord-{rng.randrange(10**9)}")
            )
    purchases.sort(key=lambda p: p.ts)
    return Community(
        platform=platform,
        id=community_id,
        export_id=export_id,
        name=name,
        channels=channels,
        members=people,
        messages=messages,
        purchases=purchases,
        start=start,
        days=days,
    )


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method; means here are small.
    limit, product, count = pow(2.718281828459045, -mean), rng.random(), 0
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _react(
    rng: random.Random,
    message: Message,
    author: Member,
    people: list[Member],
    index: dict[str, Member],
    fans: list[Member],
    question: Message | None,
) -> None:
    """Reactions: the asker thanks a helpful answer; others react mostly on their interests."""
    chance = 0.15 + (0.6 * author.helpfulness if question else 0.0)
    reactors: list[Member] = []
    if question is not None and rng.random() < 0.7:
        asker = index.get(question.member)
        if asker is not None:
            reactors.append(asker)
    for _ in range(3):
        if rng.random() < chance:
            reactors.append(rng.choice(fans if fans and rng.random() < 0.75 else people))
    for reactor in reactors:
        if reactor.id == author.id or reactor.joined > message.ts:
            continue
        emoji = rng.choice(EMOJI[:3] if question else EMOJI)
        entry = message.reactions.setdefault(emoji, [])
        if all(existing != reactor.id for existing, _ in entry):
            entry.append((reactor.id, message.ts + timedelta(minutes=rng.uniform(1, 120))))


# -- writers -------------------------------------------------------------------------


def consent_events(community: Community) -> Iterator[Event]:
    """The members' consent decisions (exports do not carry them)."""
    for member in community.members:
        if member.profiling is None and member.dm is None:
            continue
        yield ConsentChanged(
            platform=community.platform,
            community=community.id,
            member=member.id,
            member_name=member.name,
            profiling=member.profiling,
            dm=member.dm,
            ts=member.joined,
        )


def events(community: Community, *, include_purchases: bool = True) -> Iterator[Event]:
    """Everything that happened, as core events in time order (consent first)."""
    timeline: list[Event] = list(consent_events(community))
    channel_names = community.channels
    for member in community.members:
        timeline.append(
            MemberJoined(
                platform=community.platform,
                community=community.id,
                community_name=community.name,
                member=member.id,
                member_name=member.name,
                ts=member.joined,
            )
        )
        if member.left is not None:
            timeline.append(
                MemberLeft(
                    platform=community.platform,
                    community=community.id,
                    member=member.id,
                    ts=member.left,
                )
            )
    for message in community.messages:
        author = community.member(message.member)
        timeline.append(
            MessagePosted(
                platform=community.platform,
                community=community.id,
                community_name=community.name,
                channel=message.channel,
                channel_name=channel_names[message.channel],
                message=message.id,
                member=message.member,
                member_name=author.name,
                text=message.text,
                reply_to=message.reply_to,
                mentions=tuple(message.mentions),
                ts=message.ts,
            )
        )
        if message.edited is not None:
            timeline.append(
                MessageEdited(
                    platform=community.platform,
                    community=community.id,
                    channel=message.channel,
                    message=message.id,
                    text=message.text + EDIT_SUFFIX,
                    ts=message.edited,
                )
            )
        for emoji, reactors in message.reactions.items():
            for reactor, ts in reactors:
                timeline.append(
                    ReactionAdded(
                        platform=community.platform,
                        community=community.id,
                        channel=message.channel,
                        message=message.id,
                        member=reactor,
                        emoji=emoji,
                        ts=ts,
                    )
                )
    if include_purchases:
        for purchase in community.purchases:
            timeline.append(
                PurchaseMade(
                    platform=community.platform,
                    member=purchase.member,
                    course=purchase.course,
                    ts=purchase.ts,
                    amount=purchase.amount,
                    currency=purchase.currency,
                    order=purchase.order,
                )
            )
    timeline.sort(key=lambda event: (event.ts, not isinstance(event, ConsentChanged)))
    return iter(timeline)


def write_jsonl(path: Path, stream: Iterator[Event]) -> int:
    """Write events as Cohort JSONL; returns the number of lines."""
    from bot.domain.codec import encode

    lines = 0
    with path.open("w", encoding="utf-8") as handle:
        for event in stream:
            handle.write(json.dumps(encode(event), ensure_ascii=False) + "\n")
            lines += 1
    return lines


def write_purchases_csv(path: Path, community: Community) -> int:
    """Write purchases as a course platform exports them (member is platform:id)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["member", "course", "ts", "amount", "currency", "order"])
        for p in community.purchases:
            writer.writerow(
                [
                    f"{community.platform}:{p.member}",
                    p.course,
                    p.ts.isoformat(),
                    p.amount,
                    p.currency,
                    p.order,
                ]
            )
    return len(community.purchases)


def _dce_user(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "name": member.name,
        "discriminator": "0000",
        "nickname": member.name.replace("_", " ").title(),
        "color": None,
        "isBot": False,
        "roles": [],
        "avatarUrl": "https://cdn.discordapp.com/embed/avatars/0.png",
    }


def _dce_timestamp(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds")


def write_discord_exports(folder: Path, community: Community) -> list[Path]:
    """Write one DiscordChatExporter JSON file per channel (the tool's own shape)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    by_channel: dict[str, list[Message]] = {cid: [] for cid in community.channels}
    for message in community.messages:
        by_channel[message.channel].append(message)
    joins = sorted(community.members, key=lambda m: m.joined)
    general = next(iter(community.channels))
    for channel_id, channel_name in community.channels.items():
        items: list[tuple[datetime, dict[str, Any]]] = []
        if channel_id == general:
            for member in joins:
                if member.joined >= community.start:
                    items.append(
                        (
                            member.joined,
                            {
                                "id": str(int(member.id) + 1),
                                "type": "GuildMemberJoin",
                                "timestamp": _dce_timestamp(member.joined),
                                "timestampEdited": None,
                                "callEndedTimestamp": None,
                                "isPinned": False,
                                "content": "Joined the server.",
                                "author": _dce_user(member),
                                "attachments": [],
                                "embeds": [],
                                "stickers": [],
                                "reactions": [],
                                "mentions": [],
                            },
                        )
                    )
        for message in by_channel[channel_id]:
            author = community.member(message.member)
            entry: dict[str, Any] = {
                "id": message.id,
                "type": "Reply" if message.reply_to else "Default",
                "timestamp": _dce_timestamp(message.ts),
                "timestampEdited": _dce_timestamp(message.edited) if message.edited else None,
                "callEndedTimestamp": None,
                "isPinned": False,
                "content": message.text + (EDIT_SUFFIX if message.edited else ""),
                "author": _dce_user(author),
                "attachments": [],
                "embeds": [],
                "stickers": [],
                "reactions": [
                    {
                        "emoji": {
                            "id": "",
                            "name": emoji,
                            "code": "emoji",
                            "isAnimated": False,
                            "imageUrl": "https://cdn.jsdelivr.net/gh/twitter/twemoji/svg/1f44d.svg",
                        },
                        "count": len(reactors),
                        "users": [_dce_user(community.member(r)) for r, _ in reactors],
                    }
                    for emoji, reactors in message.reactions.items()
                ],
                "mentions": [_dce_user(community.member(m)) for m in message.mentions],
            }
            if message.reply_to:
                entry["reference"] = {
                    "messageId": message.reply_to,
                    "channelId": channel_id,
                    "guildId": community.id,
                }
            items.append((message.ts, entry))
        items.sort(key=lambda pair: pair[0])
        document = {
            "guild": {
                "id": community.id,
                "name": community.name,
                "iconUrl": "https://cdn.discordapp.com/embed/avatars/0.png",
            },
            "channel": {
                "id": channel_id,
                "type": "GuildTextChat",
                "categoryId": "0",
                "category": "Text Channels",
                "name": channel_name,
                "topic": None,
            },
            "dateRange": {"after": None, "before": None},
            "exportedAt": _dce_timestamp(community.start + timedelta(days=community.days)),
            "messages": [entry for _, entry in items],
            "messageCount": len(items),
        }
        path = folder / f"{community.name} - {channel_name} [{channel_id}].json"
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
        paths.append(path)
    return paths


def _tg_date(ts: datetime) -> dict[str, str]:
    return {
        "date": ts.replace(tzinfo=None).isoformat(timespec="seconds"),
        "date_unixtime": str(int(ts.timestamp())),
    }


def write_telegram_export(path: Path, community: Community) -> Path:
    """Write a Telegram Desktop single-chat `result.json` for the group."""
    items: list[tuple[datetime, dict[str, Any]]] = []
    next_id = max((int(m.id) for m in community.messages), default=0) + 1
    for member in community.members:
        if member.joined < community.start:
            continue
        items.append(
            (
                member.joined,
                {
                    "id": next_id,
                    "type": "service",
                    **_tg_date(member.joined),
                    "actor": member.name,
                    "actor_id": f"user{member.id}",
                    "action": "join_group_by_link",
                    "inviter": "Group",
                    "text": "",
                    "text_entities": [],
                },
            )
        )
        next_id += 1
    for message in community.messages:
        author = community.member(message.member)
        entry: dict[str, Any] = {
            "id": int(message.id),
            "type": "message",
            **_tg_date(message.ts),
        }
        if message.edited:
            entry["edited"] = message.edited.replace(tzinfo=None).isoformat(timespec="seconds")
            entry["edited_unixtime"] = str(int(message.edited.timestamp()))
        entry["from"] = author.name
        entry["from_id"] = f"user{author.id}"
        if message.reply_to:
            entry["reply_to_message_id"] = int(message.reply_to)
        text = message.text + (EDIT_SUFFIX if message.edited else "")
        if message.mentions:
            mentioned = community.member(message.mentions[0])
            parts: list[Any] = [
                {"type": "mention_name", "text": mentioned.name, "user_id": int(mentioned.id)},
                " " + text,
            ]
            entry["text"] = parts
            entry["text_entities"] = [
                parts[0],
                {"type": "plain", "text": " " + text},
            ]
        else:
            entry["text"] = text
            entry["text_entities"] = [{"type": "plain", "text": text}]
        if message.reactions:
            entry["reactions"] = [
                {
                    "type": "emoji",
                    "count": len(reactors),
                    "emoji": emoji,
                    "recent": [
                        {
                            "from": community.member(r).name,
                            "from_id": f"user{r}",
                            "date": ts.replace(tzinfo=None).isoformat(timespec="seconds"),
                        }
                        for r, ts in reactors
                    ],
                }
                for emoji, reactors in message.reactions.items()
            ]
        items.append((message.ts, entry))
    items.sort(key=lambda pair: pair[0])
    document = {
        "name": community.name,
        "type": "private_supergroup",
        "id": int(community.export_id),
        "messages": [entry for _, entry in items],
    }
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    return path
