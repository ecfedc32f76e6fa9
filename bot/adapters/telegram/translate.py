"""Pure translation from python-telegram-bot objects to Cohort's core events.

Nothing here touches the network or the sink: each function takes one PTB object
and returns the events worth storing (None or an empty list for everything else).

Ids follow the Telegram Desktop history importer, so live and imported data meet:
platform `telegram`; community and channel are both `str(chat.id)` (a Telegram
group has no sub-channels); `thread` is the forum topic id, set only for topic
messages; message and member ids are the Bot API's integers as strings.

What a bot actually receives, and what we skip:

* Only groups and supergroups are communities. Private chats and channels are
  skipped everywhere.
* Messages posted on behalf of a chat (`sender_chat`: anonymous admins, the linked
  channel's automatic forwards, users posting as their channel) have no person
  behind them; their `from` is a placeholder (`GroupAnonymousBot`, or `Telegram`
  777000, which is *not* flagged as a bot), so they are skipped on `sender_chat`.
* Bots' messages, reactions and memberships are skipped, and so are bot commands
  (`/promote rust-101 opted-in`, `/recommend@cohort_bot`): a command is addressed to
  a bot, not said to the community, and would become profile text.
* Service messages carry no text; only `new_chat_members` / `left_chat_member`
  become membership events. When the bot is an admin, a join also arrives as a
  `chat_member` update. Both are translated (either may be missing: service
  messages can be hidden or absent in large groups, `chat_member` needs admin
  rights); the writer counts a join once per (community, member, ts), so the two
  collapse when Telegram gives them the same date.
* In a forum every topic message "replies" to the topic's creation message; that
  is not a reply. In a non-forum supergroup `message_thread_id` marks reply
  chains, not topics, so `thread` is only set when `is_topic_message`.
* A reaction from an anonymous admin has no `user` (only `actor_chat`) and is
  skipped; `message_reaction_count` (anonymous reactions, e.g. on channel posts
  forwarded into a discussion group) becomes one `ReactionsCounted` per emoji.
  Paid (star) reactions are not emoji and are skipped.
* `text_mention` entities name a user id; an `@username` mention names one when
  the username was seen on a person in an earlier update (`Usernames`, in memory
  only: the Bot API cannot look a username up). In the stored text both become
  `@user`, as the export importer stores them: names are not words of the text.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Final

from telegram import (
    Chat,
    ChatMember,
    ChatMemberAdministrator,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    ChatMemberUpdated,
    Message,
    MessageEntity,
    MessageReactionCountUpdated,
    MessageReactionUpdated,
    ReactionType,
    ReactionTypeCustomEmoji,
    ReactionTypeEmoji,
    Update,
    User,
)

from bot.domain.events import (
    Event,
    MemberJoined,
    MemberLeft,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    ReactionsCounted,
    utc,
)
from bot.domain.text import custom_emoji

log = logging.getLogger(__name__)

PLATFORM: Final = "telegram"
GROUP_TYPES: Final = frozenset({Chat.GROUP, Chat.SUPERGROUP})
CUSTOM_EMOJI_NAME: Final = "custom"


USERNAME_LIMIT: Final = 100_000


class Usernames:
    """Usernames seen on people in updates → their user ids (the most recent `limit`).

    Kept in memory only, to resolve `@username` mentions; usernames are
    case-insensitive on Telegram.
    """

    def __init__(self, limit: int = USERNAME_LIMIT) -> None:
        self.limit = limit
        self._ids: OrderedDict[str, str] = OrderedDict()

    def learn(self, user: User | None) -> None:
        """Remember `user`'s username, if they are a person and have one."""
        if user is None or user.is_bot or not user.username:
            return
        key = user.username.lower()
        self._ids.pop(key, None)
        self._ids[key] = str(user.id)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def resolve(self, mention: str) -> str | None:
        """The user id behind `@username`, if that username was seen."""
        return self._ids.get(mention.removeprefix("@").lower())


def is_group(chat: Chat) -> bool:
    """Whether `chat` is a group or supergroup, the only chats Cohort treats as communities."""
    return chat.type in GROUP_TYPES


def _person(user: User | None) -> User | None:
    """`user` if it is a human account, else None."""
    if user is None or user.is_bot:
        return None
    return user


def _author(message: Message) -> User | None:
    """The person who wrote `message` in a group, or None if we do not store it."""
    if not is_group(message.chat) or message.sender_chat is not None:
        return None
    return _person(message.from_user)


def _body(message: Message) -> tuple[str, Sequence[MessageEntity]] | None:
    """The text (or media caption) and its entities, or None for messages without either."""
    if message.text is not None:
        return message.text, message.entities
    if message.caption is not None:
        return message.caption, message.caption_entities
    return None


def _thread(message: Message) -> str | None:
    if message.is_topic_message and message.message_thread_id is not None:
        return str(message.message_thread_id)
    return None


def _reply_to(message: Message) -> str | None:
    replied = message.reply_to_message
    if replied is None:
        return None
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        # Telegram sets the topic's creation message as the "reply" of every topic message.
        return None
    return str(replied.message_id)


_NAMING = (MessageEntity.MENTION, MessageEntity.TEXT_MENTION)
MENTION_PLACEHOLDER = "@user"


def _without_names(text: str, entities: Sequence[MessageEntity]) -> str:
    """The text with every mention of a person replaced by `@user`, as imports store it.

    People's names and usernames must not become words of the text (they would be
    taken for topics, and would name people who never consented). Entity offsets
    count UTF-16 code units, as Telegram counts them.
    """
    spans = sorted(((e.offset, e.length) for e in entities if e.type in _NAMING), reverse=True)
    if not spans:
        return text
    data = text.encode("utf-16-le")
    placeholder = MENTION_PLACEHOLDER.encode("utf-16-le")
    for offset, length in spans:
        data = data[: offset * 2] + placeholder + data[(offset + length) * 2 :]
    return data.decode("utf-16-le", errors="replace")


def _entity_text(text: str, entity: MessageEntity) -> str:
    """The text an entity covers (offsets in UTF-16 code units)."""
    data = text.encode("utf-16-le")
    start = entity.offset * 2
    return data[start : start + entity.length * 2].decode("utf-16-le", errors="replace")


def _mentions(
    text: str, entities: Iterable[MessageEntity], usernames: Usernames | None = None
) -> tuple[str, ...]:
    """Ids of the people named: `text_mention` entities, and `@username`s seen before."""
    found: dict[str, None] = {}
    for entity in entities:
        if entity.type == MessageEntity.TEXT_MENTION:
            user = _person(entity.user)
            if user is not None:
                found[str(user.id)] = None
        elif entity.type == MessageEntity.MENTION and usernames is not None:
            member = usernames.resolve(_entity_text(text, entity))
            if member is not None:
                found[member] = None
    return tuple(found)


def is_command(message: Message) -> bool:
    """Whether `message` is a bot command: its text starts with a `bot_command` entity."""
    return any(
        entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0
        for entity in message.entities
    )


def message_posted(message: Message, usernames: Usernames | None = None) -> MessagePosted | None:
    """A person's message in a group (text, caption, or media alone with empty text), else None.

    Media without a caption is kept with empty text, as the history importer keeps
    it: posting a file or an image is activity too. Service messages and bot
    commands are not posts.
    """
    user = _author(message)
    if user is None or is_command(message):
        return None
    body = _body(message)
    if body is None:
        if message.effective_attachment is None:
            return None
        body = ("", ())
    text, entities = body
    chat = str(message.chat.id)
    return MessagePosted(
        platform=PLATFORM,
        community=chat,
        community_name=message.chat.title,
        channel=chat,
        channel_name=message.chat.title,
        message=str(message.message_id),
        member=str(user.id),
        member_name=user.full_name,
        text=_without_names(text, entities),
        ts=utc(message.date),
        reply_to=_reply_to(message),
        thread=_thread(message),
        mentions=_mentions(text, entities, usernames),
    )


def message_edited(message: Message) -> MessageEdited | None:
    """The new text of an edited message we would have stored, else None.

    Edits without text or caption (live locations, a caption removed) are skipped.
    """
    body = _body(message)
    if _author(message) is None or body is None or is_command(message):
        return None
    chat = str(message.chat.id)
    return MessageEdited(
        platform=PLATFORM,
        community=chat,
        community_name=message.chat.title,
        channel=chat,
        message=str(message.message_id),
        text=_without_names(*body),
        ts=utc(message.edit_date or message.date),
    )


def membership_messages(message: Message) -> list[MemberJoined | MemberLeft]:
    """Joins and leaves announced by `new_chat_members` / `left_chat_member` service messages."""
    if not is_group(message.chat):
        return []
    chat = str(message.chat.id)
    ts = utc(message.date)
    events: list[MemberJoined | MemberLeft] = []
    for joined in message.new_chat_members:
        user = _person(joined)
        if user is not None:
            events.append(
                MemberJoined(
                    platform=PLATFORM,
                    community=chat,
                    community_name=message.chat.title,
                    member=str(user.id),
                    member_name=user.full_name,
                    ts=ts,
                )
            )
    left = _person(message.left_chat_member)
    if left is not None:
        events.append(
            MemberLeft(
                platform=PLATFORM,
                community=chat,
                community_name=message.chat.title,
                member=str(left.id),
                ts=ts,
            )
        )
    return events


def reaction_emoji(reaction: ReactionType) -> str | None:
    """The stored emoji for a reaction type; None for paid or unknown types."""
    if isinstance(reaction, ReactionTypeEmoji):
        return reaction.emoji
    if isinstance(reaction, ReactionTypeCustomEmoji):
        return custom_emoji(CUSTOM_EMOJI_NAME, reaction.custom_emoji_id)
    return None


def _emojis(reactions: Iterable[ReactionType]) -> list[str]:
    return list(dict.fromkeys(e for e in map(reaction_emoji, reactions) if e is not None))


def reaction_changes(update: MessageReactionUpdated) -> list[ReactionAdded | ReactionRemoved]:
    """The reactions a member took back, then those they added, in one reaction update."""
    user = _person(update.user)
    if user is None or not is_group(update.chat):
        return []
    old, new = _emojis(update.old_reaction), _emojis(update.new_reaction)
    chat, message, member = str(update.chat.id), str(update.message_id), str(user.id)
    ts = utc(update.date)
    events: list[ReactionAdded | ReactionRemoved] = [
        ReactionRemoved(
            platform=PLATFORM,
            community=chat,
            community_name=update.chat.title,
            channel=chat,
            message=message,
            member=member,
            emoji=emoji,
            ts=ts,
        )
        for emoji in old
        if emoji not in new
    ]
    events.extend(
        ReactionAdded(
            platform=PLATFORM,
            community=chat,
            community_name=update.chat.title,
            channel=chat,
            message=message,
            member=member,
            member_name=user.full_name,
            emoji=emoji,
            ts=ts,
        )
        for emoji in new
        if emoji not in old
    )
    return events


def reaction_counts(update: MessageReactionCountUpdated) -> list[ReactionsCounted]:
    """One snapshot per emoji of a message's anonymous reactions."""
    if not is_group(update.chat):
        return []
    chat = str(update.chat.id)
    counts: dict[str, int] = {}
    for reaction in update.reactions:
        emoji = reaction_emoji(reaction.type)
        if emoji is not None:
            counts[emoji] = counts.get(emoji, 0) + reaction.total_count
    return [
        ReactionsCounted(
            platform=PLATFORM,
            community=chat,
            community_name=update.chat.title,
            channel=chat,
            message=str(update.message_id),
            emoji=emoji,
            count=count,
            ts=utc(update.date),
        )
        for emoji, count in counts.items()
    ]


def is_member(member: ChatMember) -> bool:
    """Whether this chat member status means "in the group" (restricted members may not be)."""
    if isinstance(member, ChatMemberRestricted):
        return member.is_member
    return isinstance(member, ChatMemberMember | ChatMemberAdministrator | ChatMemberOwner)


def membership_change(update: ChatMemberUpdated) -> MemberJoined | MemberLeft | None:
    """A join or leave in a `chat_member` update, else None.

    Other changes (promotions, banning someone already gone, restrictions that keep
    them in) are not membership changes.
    """
    user = _person(update.new_chat_member.user)
    if user is None or not is_group(update.chat):
        return None
    was, now = is_member(update.old_chat_member), is_member(update.new_chat_member)
    if was == now:
        return None
    chat = str(update.chat.id)
    ts = utc(update.date)
    if now:
        return MemberJoined(
            platform=PLATFORM,
            community=chat,
            community_name=update.chat.title,
            member=str(user.id),
            member_name=user.full_name,
            ts=ts,
        )
    return MemberLeft(
        platform=PLATFORM,
        community=chat,
        community_name=update.chat.title,
        member=str(user.id),
        ts=ts,
    )


def _learn(update: Update, usernames: Usernames) -> None:
    """Note the usernames of the people an update shows."""
    usernames.learn(update.effective_user)
    if update.message is not None:
        for user in update.message.new_chat_members:
            usernames.learn(user)
    if update.chat_member is not None:
        usernames.learn(update.chat_member.new_chat_member.user)


def translate(update: Update, usernames: Usernames | None = None) -> list[Event]:
    """Every event in one update, in the order they happened; empty if none is stored.

    With `usernames`, the people the update shows are remembered, and `@username`
    mentions of people seen before become mentions.
    """
    if usernames is not None:
        _learn(update, usernames)
    events: list[Event] = []
    if update.message is not None:
        posted = message_posted(update.message, usernames)
        if posted is not None:
            events.append(posted)
        events.extend(membership_messages(update.message))
    elif update.edited_message is not None:
        edited = message_edited(update.edited_message)
        if edited is not None:
            events.append(edited)
    elif update.message_reaction is not None:
        events.extend(reaction_changes(update.message_reaction))
    elif update.message_reaction_count is not None:
        events.extend(reaction_counts(update.message_reaction_count))
    elif update.chat_member is not None:
        change = membership_change(update.chat_member)
        if change is not None:
            events.append(change)
    return events
