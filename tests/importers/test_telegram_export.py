"""Telegram Desktop result.json import: single chats, full accounts, and storing them."""

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
from bot.domain.events import (
    Event,
    MemberJoined,
    MemberLeft,
    MessageEdited,
    MessagePosted,
    ReactionsCounted,
)
from bot.errors import InputFileError
from bot.importers.base import ParseStats, import_file
from bot.importers.telegram_export import bot_api_chat_id, parse_telegram_export
from bot.store import schema as s
from recsys.text import tokenize
from tests.helpers import consent, count, snapshot, write

FIXTURES = Path(__file__).parent.parent / "fixtures" / "telegram"
SUPERGROUP = FIXTURES / "supergroup.json"
ACCOUNT = FIXTURES / "account.json"

GROUP = "-1001678203345"  # Bot API id of the exported supergroup 1678203345
BASIC = "-4012345678"
PUBLIC = "-1001587654321"
ALICE = "5012345671"
BOB = "5023456782"
CAROL = "5034567893"
DAN = "5045678904"
MARIA = "5099999999"


def parse_file(path: Path) -> tuple[list[Event], ParseStats]:
    stats = ParseStats()
    with path.open("rb") as handle:
        return list(parse_telegram_export(handle, str(path), stats)), stats


def parse_doc(doc: Any, name: str = "result.json") -> tuple[list[Event], ParseStats]:
    stats = ParseStats()
    stream = io.BytesIO(json.dumps(doc, indent=1, ensure_ascii=False).encode())
    return list(parse_telegram_export(stream, name, stats)), stats


def load(path: Path = SUPERGROUP) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def of(events: list[Event], kind: type) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


async def grant(cohort: Cohort, community: str, *members: str) -> None:
    """Record profiling consent for `members` in a Telegram group, committed."""
    await write(
        cohort, *[consent(member, platform="telegram", community=community) for member in members]
    )


# -- parsing ---------------------------------------------------------------------------


def test_bot_api_chat_ids_of_supergroups_and_basic_groups():
    """Supergroups get -100 in front of their id; basic groups are just negated."""
    assert bot_api_chat_id("private_supergroup", 1678203345) == "-1001678203345"
    assert bot_api_chat_id("public_supergroup", 1) == "-1000000000001"
    assert bot_api_chat_id("private_group", 4012345678) == "-4012345678"


def test_supergroup_export_yields_the_expected_events_in_order():
    """The single-chat fixture becomes joins, posts, an edit, reactions and a leave."""
    events, _ = parse_file(SUPERGROUP)
    assert [type(event).__name__ for event in events] == [
        "MemberJoined",  # Bob by link
        "MessagePosted",
        "MessagePosted",
        "MessageEdited",
        "MessagePosted",
        "ReactionsCounted",
        "ReactionsCounted",
        "MessagePosted",  # Carol's photo
        "MemberJoined",  # Carol, invited by name
        "MessagePosted",  # Bob, old-style date
        "MemberJoined",  # Dan by request
        "MessagePosted",
        "MemberLeft",  # Bob left
    ]
    posts = of(events, MessagePosted)
    assert {(p.community, p.channel, p.community_name, p.channel_name) for p in posts} == {
        (GROUP, GROUP, "Rust Learners", "Rust Learners")
    }
    assert [(p.message, p.member, p.member_name) for p in posts] == [
        ("2", ALICE, "Alice Smith"),
        ("3", BOB, "Bob Jones"),
        ("4", ALICE, "Alice Smith"),
        ("5", CAROL, "Carol White"),
        ("8", BOB, "Bob Jones"),
        ("10", DAN, "Dan Brown"),
    ]


def test_skips_are_counted():
    """Channel posts, paid reactions, unknown names, other services and zone-less dates count."""
    _, stats = parse_file(SUPERGROUP)
    assert dict(stats.skipped) == {
        "channel posts": 1,
        "paid reactions": 1,
        "unresolved names": 1,  # "Eve Green" never wrote before being invited
        "other service messages": 1,  # the pin
        "unsupported messages": 1,
        "timestamps without zone": 1,
    }


def test_text_given_as_a_list_is_concatenated_and_mention_names_become_mentions():
    """Entity lists are flattened to plain text; mention_name entities carry the user id."""
    posts = of(parse_file(SUPERGROUP)[0], MessagePosted)
    reply = posts[1]
    assert reply.text == "Thanks @user! Which chapter are we on?"
    assert reply.mentions == (ALICE,)
    assert reply.reply_to == "2"
    assert posts[2].text == (
        "Chapter 8: common collections. "
        "https://doc.rust-lang.org/book/ch08-00-common-collections.html"
    )
    assert posts[5].text == "Hi! @user is the reading list pinned?"
    assert posts[5].mentions == ()  # a @username carries no id


def test_mentioned_usernames_never_become_words_of_the_text():
    """A mention keeps its id but not its name: no username is stored or taken for a topic."""
    doc = load()
    message = next(m for m in doc["messages"] if m.get("id") == 3)
    mention = {"type": "mention_name", "text": "ken_codes47", "user_id": int(ALICE)}
    handle = {"type": "mention", "text": "@maria_rs"}
    message["text"] = [mention, " how do I pin futures? cc ", handle]
    message["text_entities"] = [
        mention,
        {"type": "plain", "text": " how do I pin futures? cc "},
        handle,
    ]
    message.pop("edited", None)
    message.pop("edited_unixtime", None)
    posts = of(parse_doc(doc)[0], MessagePosted)
    post = next(p for p in posts if p.message == "3")
    assert post.text == "@user how do I pin futures? cc @user"
    assert post.mentions == (ALICE,)
    terms = tokenize(post.text)
    assert "pin" in terms and "futures" in terms
    assert not {"ken_codes47", "ken", "maria_rs", "maria", "user"} & set(terms)


def test_dates_come_from_date_unixtime_and_zone_less_dates_are_taken_as_utc():
    """date_unixtime wins over the local `date`; an old `date` alone is read as UTC."""
    events, _ = parse_file(SUPERGROUP)
    posts = of(events, MessagePosted)
    assert posts[0].ts.isoformat() == "2024-05-01T10:00:15+00:00"  # `date` says 12:00:15 local
    assert posts[4].ts.isoformat() == "2024-05-01T12:20:00+00:00"  # no date_unixtime
    (edit,) = of(events, MessageEdited)
    assert (edit.message, edit.ts.isoformat()) == ("3", "2024-05-01T10:03:10+00:00")
    assert edit.text == "Thanks @user! Which chapter are we on?"


def test_media_only_message_keeps_empty_text():
    """A photo without caption is still a message, with empty text."""
    carol = of(parse_file(SUPERGROUP)[0], MessagePosted)[3]
    assert (carol.member, carol.text) == (CAROL, "")


def test_reactions_become_counts_with_recent_reactors_and_custom_emoji():
    """Emoji and custom-emoji reactions are snapshots naming their recent reactors."""
    reactions = of(parse_file(SUPERGROUP)[0], ReactionsCounted)
    assert [(r.message, r.emoji, r.count, r.reactors) for r in reactions] == [
        ("4", "👍", 2, (CAROL, BOB)),
        ("4", "custom:5368324170671202286", 1, (BOB,)),
    ]


def test_service_messages_become_joins_and_leaves_resolved_by_name():
    """Joins by link/request use the actor; invites and removals resolve names seen earlier."""
    events, _ = parse_file(SUPERGROUP)
    joins = [(e.member, e.member_name, e.ts.isoformat()) for e in of(events, MemberJoined)]
    assert joins == [
        (BOB, "Bob Jones", "2024-05-01T09:58:02+00:00"),
        (CAROL, "Carol White", "2024-05-01T10:11:00+00:00"),
        (DAN, "Dan Brown", "2024-05-01T10:25:00+00:00"),
    ]
    (left,) = of(events, MemberLeft)
    assert (left.member, left.community) == (BOB, GROUP)


def test_a_name_used_by_two_people_is_not_resolved():
    """An ambiguous display name is counted as unresolved rather than guessed."""
    doc = load()
    impostor = copy.deepcopy(doc["messages"][4])  # Carol's photo, from another account
    impostor.update(id=99, from_id="user7000000001")
    doc["messages"].insert(5, impostor)
    events, stats = parse_doc(doc)
    assert CAROL not in {e.member for e in of(events, MemberJoined)}
    assert stats.skipped["unresolved names"] == 2


def test_full_account_export_imports_only_group_chats():
    """Personal chats and channels are skipped and counted; both groups are imported."""
    events, stats = parse_file(ACCOUNT)
    posts = of(events, MessagePosted)
    assert [(p.community, p.message) for p in posts] == [
        (BASIC, "2"),
        (BASIC, "3"),
        (PUBLIC, "57"),
        (PUBLIC, "58"),
        (PUBLIC, "59"),
        (PUBLIC, "60"),
    ]
    assert posts[1].mentions == (MARIA,)
    assert posts[3].reply_to == "57"
    assert dict(stats.skipped) == {
        "personal_chat chats": 1,
        "public_channel chats": 1,
        "other service messages": 1,  # create_group
    }
    (reaction,) = of(events, ReactionsCounted)
    assert (reaction.community, reaction.emoji, reaction.reactors) == (PUBLIC, "❤", (CAROL,))


def test_single_chat_export_of_a_personal_chat_is_skipped_and_counted():
    """Exporting one personal chat imports nothing and says why."""
    doc = load(ACCOUNT)["chats"]["list"][0]
    events, stats = parse_doc(doc)
    assert events == []
    assert dict(stats.skipped) == {"personal_chat chats": 1}


def test_left_chats_are_imported_and_each_chat_has_its_own_names_and_ids():
    """Chats in left_chats are read too; message ids and names do not leak between chats."""
    doc = load(ACCOUNT)
    group = load()
    group["messages"] = group["messages"][1:3]  # Alice's message 2 and Bob's reply 3
    doc["left_chats"] = {"about": "Chats you left.", "list": [group]}
    basic_copy = copy.deepcopy(doc["chats"]["list"][1])
    basic_copy["id"] = 4099999999
    basic_copy["messages"].append(
        {
            "id": 4,
            "type": "service",
            "date": "2024-04-20T11:10:00",
            "date_unixtime": "1713604200",
            "actor": "Maria Lopez",
            "actor_id": "user5099999999",
            "action": "invite_members",
            "members": ["Bob Jones"],
            "text": "",
            "text_entities": [],
        }
    )
    doc["chats"]["list"].append(basic_copy)
    events, stats = parse_doc(doc)
    posts = of(events, MessagePosted)
    assert [(p.community, p.message) for p in posts][-4:] == [
        ("-4099999999", "2"),  # same message ids as the other basic group: not duplicates
        ("-4099999999", "3"),
        (GROUP, "2"),
        (GROUP, "3"),
    ]
    assert "duplicate message ids" not in stats.skipped
    assert stats.skipped["unresolved names"] == 1  # Bob wrote only in another chat


def test_repeated_message_ids_in_one_chat_are_skipped_and_counted():
    """A message id seen before in the same chat is skipped."""
    doc = load()
    doc["messages"].insert(3, copy.deepcopy(doc["messages"][1]))
    events, stats = parse_doc(doc)
    assert len(of(events, MessagePosted)) == 6
    assert stats.skipped["duplicate message ids"] == 1


def test_forum_topic_messages_get_the_topic_as_thread_not_as_reply():
    """'Replying' to a topic's creation puts a message in that topic; its replies inherit it."""
    doc = load()
    base = doc["messages"][1]  # Alice's message 2
    topic = {
        "id": 20,
        "type": "service",
        "date": "2024-05-01T12:30:00",
        "date_unixtime": "1714559400",
        "actor": "Alice Smith",
        "actor_id": "user5012345671",
        "action": "topic_created",
        "title": "Chapter 8",
        "text": "",
        "text_entities": [],
    }
    first = dict(copy.deepcopy(base), id=21, reply_to_message_id=20)
    reply = dict(copy.deepcopy(base), id=22, reply_to_message_id=21)
    outside = dict(copy.deepcopy(base), id=23, reply_to_message_id=2)
    doc["messages"] = [base, topic, first, reply, outside]
    posts = of(parse_doc(doc)[0], MessagePosted)
    assert [(p.message, p.reply_to, p.thread) for p in posts] == [
        ("2", None, None),
        ("21", None, "20"),
        ("22", "21", "20"),
        ("23", "2", None),
    ]


def test_missing_date_names_messages_index_and_id():
    """A message without date raises InputFileError at messages[3] with its id."""
    path = FIXTURES / "missing_date.json"
    with pytest.raises(InputFileError) as caught:
        parse_file(path)
    assert caught.value.where == "messages[3] (id 4)"
    assert "missing date" in caught.value.problem
    assert str(path) in str(caught.value)


def test_error_in_a_full_export_names_the_chat_and_message():
    """In a full-account export the path is chats.list[i].messages[j]."""
    with pytest.raises(InputFileError) as caught:
        parse_file(FIXTURES / "account_bad_from_id.json")
    assert caught.value.where == "chats.list[3].messages[3] (id 60)"
    assert "from_id" in caught.value.problem


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m.pop("id"), "missing id"),
        (lambda m: m.pop("from_id"), "missing from_id"),
        (lambda m: m.update(date_unixtime="soon"), "date_unixtime is not a number"),
        (lambda m: m.update(text=42), "text: neither a string nor a list"),
        (lambda m: m.update(reactions=[{"type": "emoji", "emoji": "👍"}]), "reactions[0]: count"),
    ],
)
def test_invalid_message_is_an_error_naming_messages_index(change, problem):
    """Broken messages raise InputFileError at messages[i]."""
    doc = load()
    change(doc["messages"][2])
    with pytest.raises(InputFileError) as caught:
        parse_doc(doc)
    assert str(caught.value.where).startswith("messages[2]")
    assert problem in caught.value.problem


def test_group_without_id_or_a_document_without_chats_is_rejected():
    """A group's id must precede its messages; a document with no chats is not an export."""
    doc = load()
    del doc["id"]
    with pytest.raises(InputFileError, match="chat id missing"):
        parse_doc(doc)
    with pytest.raises(InputFileError, match="no messages or chats"):
        parse_doc({"about": "x", "personal_information": {"user_id": 1}})
    with pytest.raises(InputFileError) as caught:
        parse_doc(dict(load(), messages=None))
    assert (caught.value.where, caught.value.problem) == ("messages", "not an array")
    account = load(ACCOUNT)
    del account["chats"]["list"][1]["type"]
    with pytest.raises(InputFileError) as caught:
        parse_doc(account)
    assert caught.value.where == "chats.list[1]"


def test_truncated_export_raises_ijson_error():
    """A cut-off result.json ends in ijson's JSONError after the complete messages."""
    with pytest.raises(ijson.JSONError):
        parse_file(FIXTURES / "truncated.json")


def lazy_stream(messages: int, counter: list[int], *, full: bool) -> io.BufferedReader:
    """A large export (one chat, or a whole account) produced on demand.

    counter[0] holds the bytes handed out so far.
    """
    template = load()["messages"][1]
    chat = b'{\n "name": "Big",\n "type": "public_supergroup",\n "id": 1,\n "messages": [\n'

    def pieces() -> Iterator[bytes]:
        if full:
            yield b'{\n "about": "Here is the data you requested.",\n "chats": {\n "about": "",'
            yield b'\n "list": [\n' + chat
        else:
            yield chat
        for number in range(messages):
            item = dict(template, id=number + 1)
            yield (("," if number else "") + json.dumps(item, indent=1)).encode()
        yield b"\n ]\n}" + (b"\n ]\n }\n}" if full else b"")

    chunks = pieces()

    class Raw(io.RawIOBase):
        pending = b""

        def readable(self):
            return True

        def readinto(self, buffer):
            while not self.pending:
                chunk = next(chunks, None)
                if chunk is None:
                    return 0
                self.pending = chunk
            size = min(len(buffer), len(self.pending))
            buffer[:size] = self.pending[:size]
            self.pending = self.pending[size:]
            counter[0] += size
            return size

    return io.BufferedReader(Raw(), buffer_size=1 << 16)


@pytest.mark.parametrize("full", [False, True], ids=["single-chat", "full-account"])
def test_parser_streams_messages_chat_by_chat(full):
    """The first event comes after reading a small prefix of a large export."""
    counter = [0]
    stream = lazy_stream(30_000, counter, full=full)
    events = parse_telegram_export(stream, "big.json", ParseStats())
    first = next(events)
    at_first = counter[0]
    assert isinstance(first, MessagePosted) and first.community == "-1000000000001"
    assert sum(1 for _ in events) == 29_999
    assert at_first < counter[0] / 50, (at_first, counter[0])


# -- importing ---------------------------------------------------------------------------


async def anonymous_messages(cohort: Cohort) -> int:
    async with cohort.store.read() as conn:
        total = await conn.scalar(
            select(func.coalesce(func.sum(s.channel_daily.c.anonymous_messages), 0))
        )
    return int(total)


async def test_import_stores_consenting_members_and_only_counts_the_others(cohort: Cohort):
    """Alice's and Bob's messages are stored; Carol's and Dan's are only counted."""
    await grant(cohort, GROUP, ALICE, BOB)
    report = await import_file(cohort, SUPERGROUP, parse_telegram_export)

    assert report.written.messages == 4
    assert report.written.anonymous_messages == 2
    assert report.skipped["channel posts"] == 1
    assert await anonymous_messages(cohort) == 2
    async with cohort.store.read() as conn:
        stored = sorted(
            (
                await conn.execute(
                    select(s.members.c.platform_id, s.messages.c.platform_id).join(
                        s.members, s.members.c.id == s.messages.c.member_id
                    )
                )
            ).all()
        )
        bob = (
            await conn.execute(
                select(s.memberships)
                .join(s.members, s.members.c.id == s.memberships.c.member_id)
                .where(s.members.c.platform_id == BOB)
            )
        ).one()
        community = (await conn.execute(select(s.communities))).one()
        daily = (
            await conn.execute(
                select(func.sum(s.community_daily.c.joins), func.sum(s.community_daily.c.leaves))
            )
        ).one()
        edited = await conn.scalar(
            select(s.messages.c.edited_at).where(s.messages.c.platform_id == "3")
        )
    assert stored == [(ALICE, "2"), (ALICE, "4"), (BOB, "3"), (BOB, "8")]
    assert (community.platform, community.platform_id) == ("telegram", GROUP)
    assert bob.joined_at is not None and bob.left_at is not None
    assert tuple(daily) == (3, 1)  # Bob, Carol and Dan joined; Bob left
    assert edited is not None
    assert await count(cohort, s.mentions) == 1  # Bob -> Alice
    assert await count(cohort, s.reactions) == 2  # Bob's 👍 and custom emoji; Carol's is a tally


async def test_full_account_import_creates_only_the_group_communities(cohort: Cohort):
    """Importing a full-account export writes the two groups and nothing of other chats."""
    await grant(cohort, PUBLIC, CAROL)
    report = await import_file(cohort, ACCOUNT, parse_telegram_export)
    async with cohort.store.read() as conn:
        communities = dict(
            (await conn.execute(select(s.communities.c.platform_id, s.communities.c.name))).all()
        )
    assert set(communities) == {BASIC, PUBLIC}
    assert communities[BASIC] == "Study Buddies"
    assert report.written.messages == 2  # Carol's two messages in the public supergroup
    assert report.written.anonymous_messages == 4


async def test_importing_the_same_export_twice_changes_nothing(cohort: Cohort):
    """A second import of the same files leaves every table exactly as it was."""
    await grant(cohort, GROUP, ALICE, BOB)
    await import_file(cohort, SUPERGROUP, parse_telegram_export)
    await import_file(cohort, ACCOUNT, parse_telegram_export)
    before = await snapshot(cohort)
    again = await import_file(cohort, SUPERGROUP, parse_telegram_export)
    await import_file(cohort, ACCOUNT, parse_telegram_export)
    assert again.written.messages == 0 and again.written.anonymous_messages == 0
    assert await snapshot(cohort) == before


async def test_malformed_export_raises_and_leaves_the_database_as_it_was(cohort: Cohort):
    """messages[3] without date: InputFileError naming file and index; nothing is written."""
    await grant(cohort, GROUP, ALICE, BOB)
    await import_file(cohort, ACCOUNT, parse_telegram_export)
    before = await snapshot(cohort)
    path = FIXTURES / "missing_date.json"
    with pytest.raises(InputFileError) as caught:
        await import_file(cohort, path, parse_telegram_export)
    assert str(path) in str(caught.value)
    assert "messages[3]" in str(caught.value)
    assert await snapshot(cohort) == before


async def test_truncated_export_raises_with_a_line_number_and_writes_nothing(cohort: Cohort):
    """A cut-off result.json is reported as file:line and rolled back entirely."""
    before = await snapshot(cohort)
    path = FIXTURES / "truncated.json"
    with pytest.raises(InputFileError) as caught:
        await import_file(cohort, path, parse_telegram_export)
    assert isinstance(caught.value.where, int)
    assert caught.value.where == path.read_bytes().count(b"\n") + 1
    assert "invalid JSON" in caught.value.problem
    assert await snapshot(cohort) == before


# -- older Telegram Desktop versions ---------------------------------------------------


def _as_old_export(doc: dict[str, Any]) -> dict[str, Any]:
    """The export as older Telegram Desktop versions wrote it: bare integer ids."""
    old = copy.deepcopy(doc)
    for message in old["messages"]:
        for key in ("from_id", "actor_id"):
            value = message.get(key)
            if isinstance(value, str) and value.startswith("user"):
                message[key] = int(value[4:])
    return old


def test_older_exports_with_integer_from_id_and_actor_id_give_the_same_events():
    """`"from_id": 5012345671` and `"actor_id": 5023456782` (old versions) read like
    `"user5012345671"`: the same events, joins included."""
    doc = load()
    new_events, _ = parse_doc(doc)
    old_events, _ = parse_doc(_as_old_export(doc))
    assert old_events == new_events
    assert of(old_events, MemberJoined)


def test_older_exports_with_from_id_zero_skip_that_message_and_count_it():
    """`"from_id": 0` (old versions: sender unknown) is skipped and counted, not a
    reason to refuse the whole file."""
    doc = _as_old_export(load())
    doc["messages"][2]["from_id"] = 0
    events, stats = parse_doc(doc)
    assert str(doc["messages"][2]["id"]) not in [e.message for e in of(events, MessagePosted)]
    assert len(of(events, MessagePosted)) == len(of(parse_doc(load())[0], MessagePosted)) - 1
    assert stats.skipped["messages without a sender"] == 1
