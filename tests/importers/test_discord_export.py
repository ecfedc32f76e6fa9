"""DiscordChatExporter JSON import: parsing the real tool's output, and storing it."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson
import pytest
from sqlalchemy import func, select

from bot.app import Cohort
from bot.domain.events import Event, MemberJoined, MessageEdited, MessagePosted, ReactionsCounted
from bot.errors import InputFileError
from bot.importers.base import ParseStats, import_file
from bot.importers.discord_export import parse_discord_export
from bot.store import schema as s
from recsys.text import tokenize
from tests.helpers import consent, count, snapshot, write

FIXTURES = Path(__file__).parent.parent / "fixtures" / "discord"
GENERAL = FIXTURES / "general.json"
THREAD = FIXTURES / "thread.json"

GUILD = "953612417350455316"
CHANNEL = "953612417350455319"
THREAD_ID = "1235106199977654321"
ALICE = "212681528730189824"
BOB = "318094275839229952"
CAROL = "402913827123863563"
DAVE = "1098765432109876543"
FERRIS = "ferris:1037411195380572230"


def parse_file(path: Path) -> tuple[list[Event], ParseStats]:
    stats = ParseStats()
    with path.open("rb") as handle:
        return list(parse_discord_export(handle, str(path), stats)), stats


def parse_doc(doc: Any, name: str = "export.json") -> tuple[list[Event], ParseStats]:
    stats = ParseStats()
    stream = io.BytesIO(json.dumps(doc, indent=2, ensure_ascii=False).encode())
    return list(parse_discord_export(stream, name, stats)), stats


def load(path: Path = GENERAL) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def of(events: list[Event], kind: type) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


async def grant(cohort: Cohort, *members: str) -> None:
    """Record profiling consent for `members` in the fixture guild, committed."""
    await write(
        cohort, *[consent(member, platform="discord", community=GUILD) for member in members]
    )


# -- parsing ---------------------------------------------------------------------------


def test_channel_export_yields_posts_edits_joins_and_reactions_in_file_order():
    """A normal channel export becomes the expected events, in the order of its messages."""
    events, _ = parse_file(GENERAL)
    assert [type(event).__name__ for event in events] == [
        "MessagePosted",
        "ReactionsCounted",
        "MessagePosted",
        "MessageEdited",
        "MessagePosted",
        "ReactionsCounted",
        "ReactionsCounted",
        "MemberJoined",
        "MessagePosted",
        "MessagePosted",
    ]
    posts = of(events, MessagePosted)
    assert [post.member for post in posts] == [ALICE, BOB, CAROL, DAVE, ALICE]
    assert {post.community for post in posts} == {GUILD}
    assert {post.channel for post in posts} == {CHANNEL}
    assert {post.thread for post in posts} == {None}
    assert posts[0].community_name == "Rustaceans Study Group"
    assert posts[0].channel_name == "general"
    assert posts[0].ts.isoformat() == "2024-05-01T10:00:12.345000+00:00"


def test_quirks_of_real_exports_are_skipped_and_counted():
    """Bots, deleted users, repeated ids, notices and unknown types are skipped with counts."""
    _, stats = parse_file(GENERAL)
    assert dict(stats.skipped) == {
        "bot messages": 1,
        "messages by deleted users": 1,
        "duplicate message ids": 1,
        "system messages": 2,  # a pin, and a thread notice without text of its own
        "unknown message types": 1,
        "bot reactions": 1,
    }


def test_reply_keeps_its_reference_mentions_and_scrubbed_text():
    """A reply points at its parent, names mentioned humans, and loses mention markup."""
    events, _ = parse_file(GENERAL)
    reply = of(events, MessagePosted)[1]
    assert reply.message == "1235101123456789012"
    assert reply.reply_to == "1235100412345012345"
    assert reply.mentions == (ALICE,)
    assert reply.text == "@user yes, I'm on chapter 3 now (futures and pinning)"
    assert of(events, MessagePosted)[0].reply_to is None


def test_member_name_is_the_nickname_or_else_the_user_name():
    """Nickname when the export has one; the user name when the key is missing."""
    posts = of(parse_file(GENERAL)[0], MessagePosted)
    assert posts[0].member_name == "Alice"
    assert posts[1].member_name == "bobcodes"  # no "nickname" key at all
    assert posts[2].member_name == "Carol K."


def test_edited_message_is_followed_by_an_edit_at_timestamp_edited():
    """timestampEdited produces a MessageEdited for the same message after the post."""
    events, _ = parse_file(GENERAL)
    (edit,) = of(events, MessageEdited)
    assert edit.message == "1235101123456789012"
    assert edit.channel == CHANNEL
    assert edit.ts.isoformat() == "2024-05-01T10:07:40.112000+00:00"
    assert edit.text.startswith("@user yes")


def test_reactions_count_per_emoji_with_known_human_reactors():
    """One snapshot per emoji; custom emoji canonical; bots dropped from users and count."""
    reactions = of(parse_file(GENERAL)[0], ReactionsCounted)
    summary = [(r.message, r.emoji, r.count, r.reactors) for r in reactions]
    assert summary == [
        ("1235100412345012345", "👋", 1, (BOB,)),  # the bot among users is not counted
        ("1235102918446813214", FERRIS, 3, ()),  # no users list in the export
        ("1235102918446813214", "👍", 1, (ALICE,)),
    ]
    assert {r.ts.isoformat() for r in reactions[1:]} == {"2024-05-01T10:12:03.918000+00:00"}


def test_mentions_leave_out_bots_and_channel_markup_is_scrubbed():
    """Mentioned bots are not members; channel and user markup become placeholders."""
    last = of(parse_file(GENERAL)[0], MessagePosted)[-1]
    assert last.mentions == (CAROL,)
    assert last.text == "Thanks @user and @user! See #channel for the schedule."


def test_mentions_written_as_display_names_lose_the_names():
    """DCE's `@Display Name` mentions become `@user`: no one's name is stored or a topic."""
    doc = load()
    message = next(m for m in doc["messages"] if m["id"] == "1235105600001112223")
    message["content"] = (
        "Thanks @Carol K. and @MEE6! @carolyn, see #general for the async schedule, @carol"
    )
    post = next(p for p in of(parse_doc(doc)[0], MessagePosted) if p.message == message["id"])
    assert (
        post.text == "Thanks @user and @user! @carolyn, see #general for the async schedule, @user"
    )
    assert post.mentions == (CAROL,)
    terms = tokenize(post.text)
    assert "async" in terms and not {"carol", "k", "mee6", "user"} & set(terms)


def test_join_notice_is_a_member_joining_and_attachment_only_message_keeps_empty_text():
    """GuildMemberJoin -> MemberJoined of its author; a file-only message is kept with ''."""
    events, _ = parse_file(GENERAL)
    (joined,) = of(events, MemberJoined)
    assert (joined.member, joined.member_name, joined.community) == (DAVE, "dave_learns", GUILD)
    dave_post = of(events, MessagePosted)[3]
    assert (dave_post.member, dave_post.text) == (DAVE, "")


def test_thread_export_uses_the_parent_channel_and_the_thread_id():
    """In a thread export, channel = parent (categoryId) and thread = the thread's id."""
    events, stats = parse_file(THREAD)
    posts = of(events, MessagePosted)
    assert len(posts) == 2
    assert {(p.channel, p.thread, p.channel_name) for p in posts} == {
        (CHANNEL, THREAD_ID, "general")
    }
    assert posts[1].reply_to == posts[0].message
    assert of(events, ReactionsCounted)[0].channel == CHANNEL
    assert not stats.skipped


def test_thread_created_with_text_of_its_own_is_a_post():
    """A ThreadCreated message whose content is the member's own text is kept as a post."""
    doc = load()
    notice = copy.deepcopy(doc["messages"][-1])
    notice["id"] = "1235106299999999999"
    notice["content"] = "async book club"
    doc["messages"] = [notice]
    events, _ = parse_doc(doc)
    assert [(type(e).__name__, e.text) for e in events] == [("MessagePosted", "async book club")]


def test_missing_timestamp_names_the_message_index_and_id():
    """A message without timestamp is an InputFileError at messages[3] with its id."""
    path = FIXTURES / "missing_timestamp.json"
    with pytest.raises(InputFileError) as caught:
        parse_file(path)
    assert caught.value.where == "messages[3] (id 1235104200011122233)"
    assert "missing timestamp" in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m.pop("id"), "missing id"),
        (lambda m: m.pop("author"), "missing author"),
        (lambda m: m["author"].pop("id"), "missing author"),
        (lambda m: m.update(timestamp="2024-05-01T10:00:12.345"), "no UTC offset"),
        (lambda m: m.update(timestamp="yesterday"), "not an ISO 8601 time"),
        (lambda m: m.update(timestampEdited="2024-05-01T10:00:12"), "no UTC offset"),
        (lambda m: m["reactions"][0].pop("count"), "reactions[0]: count"),
    ],
)
def test_invalid_message_is_an_error_naming_messages_index(change, problem):
    """Missing id/author/timestamp or a timestamp without offset raise at messages[i]."""
    doc = load()
    doc["messages"] = doc["messages"][:2]
    change(doc["messages"][1] if problem != "reactions[0]: count" else doc["messages"][0])
    with pytest.raises(InputFileError) as caught:
        parse_doc(doc)
    assert str(caught.value.where).startswith(
        "messages[0]" if problem.startswith("reactions") else "messages[1]"
    )
    assert problem in caught.value.problem


def test_header_after_messages_or_missing_is_an_error():
    """guild and channel must come before messages; a document without messages is rejected."""
    doc = load()
    reordered = {"messages": doc["messages"], "guild": doc["guild"], "channel": doc["channel"]}
    with pytest.raises(InputFileError, match="before guild and channel"):
        parse_doc(reordered)
    with pytest.raises(InputFileError, match="no messages array"):
        parse_doc({"guild": doc["guild"], "channel": doc["channel"]})
    with pytest.raises(InputFileError, match="not an object"):
        parse_doc([1, 2])
    del doc["guild"]["id"]
    with pytest.raises(InputFileError) as caught:
        parse_doc(doc)
    assert caught.value.where == "guild"


def test_direct_message_export_is_skipped_entirely():
    """A DM export is not a community's history: nothing is yielded, every message counted."""
    doc = load()
    doc["guild"] = {"id": "0", "name": "Direct Messages", "iconUrl": ""}
    doc["channel"].update(type="DirectTextChat", categoryId=None, category=None)
    events, stats = parse_doc(doc)
    assert events == []
    assert stats.skipped["direct messages"] == 11  # all but the repeated id


def test_truncated_export_raises_ijson_error_after_the_complete_messages():
    """A cut-off file yields what precedes the cut, then ijson's JSONError propagates."""
    stats = ParseStats()
    seen: list[Event] = []
    with (FIXTURES / "truncated.json").open("rb") as handle, pytest.raises(ijson.JSONError):
        for event in parse_discord_export(handle, "truncated.json", stats):
            seen.append(event)
    assert any(isinstance(event, MemberJoined) for event in seen)


class LazyExport(io.RawIOBase):
    """A large synthetic export produced piece by piece, counting the bytes handed out."""

    def __init__(self, messages: int) -> None:
        self._chunks = self._generate(messages)
        self._pending = b""
        self.position = 0

    @staticmethod
    def _generate(messages: int) -> Iterator[bytes]:
        doc = load()
        template = doc["messages"][0]
        head = json.dumps(
            {k: doc[k] for k in ("guild", "channel", "dateRange", "exportedAt")}, indent=2
        )
        yield (head[:-2] + ',\n  "messages": [\n').encode()
        for number in range(messages):
            item = dict(template, id=str(1235100412345012345 + number))
            yield (
                ("," if number else "") + json.dumps(item, indent=2, ensure_ascii=False)
            ).encode()
        yield f'\n  ],\n  "messageCount": {messages}\n}}'.encode()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.position += size
        return size


def test_parser_streams_the_first_event_long_before_the_end_of_a_large_file():
    """The first event is yielded after reading a small prefix of a ~20 MB export."""
    raw = LazyExport(12_000)
    stream = io.BufferedReader(raw, buffer_size=1 << 16)
    events = parse_discord_export(stream, "big.json", ParseStats())
    first = next(events)
    read_at_first = raw.position
    assert isinstance(first, MessagePosted)
    rest = sum(1 for _ in events)
    total = raw.position
    assert total > 15_000_000
    assert rest == 12_000 * 2 - 1  # a post and a reaction snapshot per message
    assert read_at_first < total / 50, (read_at_first, total)


# -- older DiscordChatExporter versions -------------------------------------------------

DCE2 = FIXTURES / "dce2_channel.json"
LOCAL_TIMES = FIXTURES / "local_times.json"
NUMERIC_TYPES = FIXTURES / "numeric_types.json"
ANN_ID = "259777134624538624"
BEN_ID = "301446791203520512"


def test_dce2_export_without_category_nickname_or_mentions_is_read():
    """DCE 2.x: channel without category, authors without nickname, no mentions/reference."""
    events, stats = parse_file(DCE2)
    posts = of(events, MessagePosted)
    assert [(p.channel, p.channel_name, p.member, p.member_name) for p in posts[:2]] == [
        ("611581462395637773", "async-help", ANN_ID, "Ann Lee"),
        ("611581462395637773", "async-help", BEN_ID, "ben_rs"),
    ]
    assert [p.thread for p in posts] == [None, None, None]
    assert posts[1].reply_to is None  # a "Reply" written without its reference
    assert [e.member for e in of(events, MemberJoined)] == ["402913827123863563"]
    assert stats.skipped == {"bot messages": 1, "system messages": 1}


def test_dce2_unicode_reaction_with_null_emoji_id_is_the_emoji_itself():
    """`emoji.id` null (DCE 2.x) is a Unicode emoji; a custom one keeps `name:id`."""
    events, _ = parse_file(DCE2)
    assert [(r.emoji, r.count, r.reactors) for r in of(events, ReactionsCounted)] == [
        ("👍", 2, ()),
        ("ferris:615934553613860864", 1, ()),
    ]


def test_without_mentions_the_names_of_known_authors_become_placeholders():
    """Without `mentions`, `@Ann Lee` and `@ben_rs` (authors seen before) lose the names."""
    events, _ = parse_file(DCE2)
    texts = [p.text for p in of(events, MessagePosted)]
    assert texts == [
        "anyone using tokio for a web crawler?",
        "@user yes, with reqwest and a semaphore",
        "thanks @user!",
    ]
    assert not {"ann", "lee", "ben_rs"} & set(tokenize(" ".join(texts)))


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2020-06-01T10:00:00.1234567+02:00", "2020-06-01T08:00:00.123456+00:00"),
        ("2020-06-01T10:00:00.1+00:00", "2020-06-01T10:00:00.100000+00:00"),
        ("2020-06-01T10:00:00+00:00", "2020-06-01T10:00:00+00:00"),
        ("2020-06-01T10:00:00Z", "2020-06-01T10:00:00+00:00"),
    ],
)
def test_timestamps_with_any_fraction_and_offset_or_z_are_read(timestamp, expected):
    """Fractions of 0 to 7 digits, an offset or `Z`: all the same instant in UTC."""
    doc = load(DCE2)
    doc["messages"] = doc["messages"][:1]
    doc["messages"][0]["timestamp"] = timestamp
    events, _ = parse_doc(doc)
    assert of(events, MessagePosted)[0].ts.isoformat() == expected


def test_local_times_without_offset_are_placed_through_the_message_id():
    """Local times (UTC+2, no offset) become UTC via the snowflake; the edit takes that offset."""
    events, stats = parse_file(LOCAL_TIMES)
    posts, edits = of(events, MessagePosted), of(events, MessageEdited)
    assert [p.ts.isoformat() for p in posts] == [
        "2021-03-14T08:30:05.250000+00:00",
        "2021-03-14T08:37:05.250000+00:00",
    ]
    assert [e.ts.isoformat() for e in edits] == ["2021-03-14T08:33:05.250000+00:00"]
    assert stats.skipped["timestamps without offset"] == 2


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m.update(timestamp="2021-03-14T15:30:05.250"), "does not match the message id"),
        (lambda m: m.update(id="42"), "timestamp has no UTC offset"),
    ],
)
def test_local_time_that_its_id_cannot_place_is_refused(change, problem):
    """A local time off its snowflake by more than a zone, or with a non-snowflake id: one line."""
    doc = load(LOCAL_TIMES)
    change(doc["messages"][1])
    with pytest.raises(InputFileError) as caught:
        parse_doc(doc, "old.json")
    assert str(caught.value).startswith("old.json:messages[1] (id ")
    assert problem in caught.value.problem
    assert "\n" not in str(caught.value)


def test_message_types_written_as_numbers_are_discords_types():
    """Types `0`, `19`, `"19"`, `7`, `6` are Default, Reply, Reply, join, pin; `"21"` unknown."""
    events, stats = parse_file(NUMERIC_TYPES)
    posts = of(events, MessagePosted)
    assert [p.text for p in posts] == [
        "how do I share state across tasks?",
        "Arc<Mutex<T>> to start with",
        "thanks",
    ]
    assert [p.reply_to for p in posts] == [None, posts[0].message, posts[1].message]
    assert [e.member for e in of(events, MemberJoined)] == ["402913827123863563"]
    assert stats.skipped == {"system messages": 1, "unknown message types": 1}


def test_numeric_export_without_is_bot_content_or_emoji_id_is_read():
    """Authors without `isBot` are people, `content` null is empty text, emoji without `id`."""
    doc = load(NUMERIC_TYPES)
    doc["messages"][1]["content"] = None
    events, _ = parse_doc(doc)
    posts = of(events, MessagePosted)
    assert [(p.member, p.text) for p in posts][:2] == [
        (ANN_ID, "how do I share state across tasks?"),
        (BEN_ID, ""),
    ]
    assert [(r.emoji, r.count) for r in of(events, ReactionsCounted)] == [("🤔", 1)]


@pytest.mark.parametrize(
    ("change", "where", "problem"),
    [
        (lambda d: d["messages"][0].pop("type"), "messages[0]", "missing type"),
        (lambda d: d["messages"][0].update(type=None), "messages[0]", "missing type"),
        (lambda d: d["messages"][2].pop("timestamp"), "messages[2]", "missing timestamp"),
        (lambda d: d["messages"][1]["author"].pop("id"), "messages[1]", "missing author"),
        (lambda d: d["messages"][0]["reactions"][0].update(emoji={"id": None}), "messages[0]",
         "emoji has neither id nor name"),
        (lambda d: d["channel"].update(type="GuildPublicThread"), "channel",
         "thread export without its parent"),
    ],
)  # fmt: skip
def test_old_export_that_truly_lacks_what_cohort_needs_is_refused(change, where, problem):
    """No type, timestamp, author id or emoji, or a parentless thread: one line naming the place."""
    doc = load(NUMERIC_TYPES)
    change(doc)
    with pytest.raises(InputFileError) as caught:
        parse_doc(doc, "old.json")
    assert str(caught.value.where).startswith(where)
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"old.json:{where}")


# -- importing ---------------------------------------------------------------------------


async def anonymous_messages(cohort: Cohort) -> int:
    async with cohort.store.read() as conn:
        return int(
            await conn.scalar(
                select(func.coalesce(func.sum(s.channel_daily.c.anonymous_messages), 0))
            )
        )


async def test_import_stores_consenting_members_and_only_counts_the_others(cohort: Cohort):
    """Consenting authors' rows are stored; the others only add to anonymous_messages."""
    await grant(cohort, ALICE, BOB)
    report = await import_file(cohort, GENERAL, parse_discord_export)

    assert report.written.messages == 3
    assert report.written.anonymous_messages == 2
    assert report.skipped["duplicate message ids"] == 1
    assert await count(cohort, s.messages) == 3
    assert await anonymous_messages(cohort) == 2
    async with cohort.store.read() as conn:
        members = set((await conn.execute(select(s.members.c.platform_id))).scalars())
        reply = (
            await conn.execute(
                select(s.messages).where(s.messages.c.platform_id == "1235101123456789012")
            )
        ).one()
        tallies = {
            row.emoji: row.anonymous_count for row in await conn.execute(select(s.reaction_tallies))
        }
        joins = await conn.scalar(select(func.sum(s.community_daily.c.joins)))
    assert members == {ALICE, BOB}  # never Carol, Dave, the bot or the deleted user
    assert reply.reply_to == "1235100412345012345"
    assert reply.edited_at is not None and reply.thread is None
    assert await count(cohort, s.mentions) == 1  # Bob -> Alice; Alice -> Carol is not kept
    assert await count(cohort, s.reactions) == 2  # Bob's wave, Alice's thumbs up
    assert tallies == {FERRIS: 3}  # no tally rows where every reactor is stored
    assert joins == 1  # Dave, counted without his identity


async def test_thread_export_stores_the_thread_under_its_parent_channel(cohort: Cohort):
    """Messages of a thread export land in the parent channel with their thread id."""
    await grant(cohort, ALICE, BOB)
    await import_file(cohort, THREAD, parse_discord_export)
    async with cohort.store.read() as conn:
        rows = (
            await conn.execute(
                select(s.channels.c.platform_id, s.messages.c.thread).join(
                    s.channels, s.channels.c.id == s.messages.c.channel_id
                )
            )
        ).all()
    assert sorted(rows) == [(CHANNEL, THREAD_ID), (CHANNEL, THREAD_ID)]


async def test_importing_the_same_export_twice_changes_nothing(cohort: Cohort):
    """A second import of the same file leaves every table exactly as the first left it."""
    await grant(cohort, ALICE, BOB)
    await import_file(cohort, GENERAL, parse_discord_export)
    await import_file(cohort, THREAD, parse_discord_export)
    before = await snapshot(cohort)
    again = await import_file(cohort, GENERAL, parse_discord_export)
    assert again.written.messages == 0 and again.written.anonymous_messages == 0
    assert await snapshot(cohort) == before


async def test_malformed_export_raises_and_leaves_the_database_as_it_was(cohort: Cohort):
    """messages[3] without timestamp: InputFileError naming file and index; nothing written."""
    await grant(cohort, ALICE, BOB)
    await import_file(cohort, THREAD, parse_discord_export)
    before = await snapshot(cohort)
    path = FIXTURES / "missing_timestamp.json"
    with pytest.raises(InputFileError) as caught:
        await import_file(cohort, path, parse_discord_export)
    assert str(path) in str(caught.value)
    assert "messages[3]" in str(caught.value)
    assert await snapshot(cohort) == before
    assert cohort.gate.identifies("discord", GUILD, ALICE)


async def test_truncated_export_raises_with_a_line_number_and_writes_nothing(cohort: Cohort):
    """A cut-off JSON file is reported as file:line and rolled back entirely."""
    before = await snapshot(cohort)
    path = FIXTURES / "truncated.json"
    with pytest.raises(InputFileError) as caught:
        await import_file(cohort, path, parse_discord_export)
    assert isinstance(caught.value.where, int)
    assert caught.value.where == path.read_bytes().count(b"\n") + 1
    assert "invalid JSON" in caught.value.problem
    assert await snapshot(cohort) == before
