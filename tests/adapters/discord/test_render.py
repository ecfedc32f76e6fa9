"""Discord rendering: escaping, mentions, styles, links, lists, buttons, splitting, files."""

from __future__ import annotations

import re

import discord
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.discord.buttons import CohortButton
from bot.adapters.discord.render import (
    MESSAGE_LIMIT,
    ZWSP,
    DiscordMessage,
    escape,
    length,
    pack,
    render,
    render_spans,
)
from bot.domain.replies import (
    Button,
    ButtonStyle,
    Image,
    Items,
    Link,
    Paragraph,
    Reply,
    Style,
    Text,
)

# What Discord treats as a mention or other `<...>` markup when it reads message content.
ACTIVE = re.compile(
    r"@(?:everyone|here)|<@[!&]?\d+>|<#\d+>|</[^\s>]+:\d+>|<a?:\w+:\d+>|<t:-?\d+(?::\w)?>"
    r"|<id:\w+>",
    re.IGNORECASE,
)
MENTIONS = [
    "@everyone",
    "@here",
    "@EveryOne",
    "<@123456789012345678>",
    "<@!123456789012345678>",
    "<@&123456789012345678>",
    "<#123456789012345678>",
    "</promote:123456789012345678>",
    "<:party:123456789012345678>",
    "<a:party:123456789012345678>",
    "<t:1714557600:R>",
    "<id:customize>",
]
MARKDOWN = "\\*_~|`[]<>#-+"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def one(reply: Reply) -> DiscordMessage:
    """The single message a reply renders to."""
    messages = render(reply)
    assert len(messages) == 1
    return messages[0]


def para(*parts: Text | Link | str) -> Reply:
    """A reply holding one paragraph."""
    return Reply(blocks=(Paragraph.of(*parts),))


def content(*parts: Text | Link | str) -> str:
    """The content of a one-paragraph reply."""
    return one(para(*parts)).content


def unescape(markdown: str) -> str:
    """What Discord displays for escaped plain text: escapes resolved, ZWSPs gone."""
    return re.sub(r"\\(.)", r"\1", markdown, flags=re.DOTALL).replace(ZWSP, "")


def unescaped_specials(markdown: str) -> list[str]:
    """Markdown characters not preceded by an escaping backslash."""
    found = []
    index = 0
    while index < len(markdown):
        char = markdown[index]
        if char == "\\":
            index += 2
            continue
        if char in MARKDOWN or (char == "." and index and markdown[index - 1].isdecimal()):
            found.append(char)
        index += 1
    return found


# -- escaping ----------------------------------------------------------------------


@pytest.mark.parametrize("char", list(MARKDOWN))
def test_every_markdown_character_is_escaped(char: str) -> None:
    """Each Markdown special character in user text comes out backslash-escaped."""
    rendered = content(f"a{char}b")
    assert rendered.startswith(f"a\\{char}")
    assert unescape(rendered) == f"a{char}b"
    assert unescaped_specials(rendered) == []


@pytest.mark.parametrize(
    "text",
    [
        "# Heading",
        "## Heading",
        "-# subtext",
        "> quote",
        ">>> block quote",
        "- item",
        "+ item",
        "1. item",
        "||spoiler||",
        "~~strike~~",
        "__underline__",
        "***both***",
        "```py\ncode\n```",
        "[click](https://evil.example)",
        "[**bold inside a link pattern**](https://x)",
        "back\\slash\\*",
    ],
)
def test_line_and_inline_markdown_is_inert(text: str) -> None:
    """Headings, quotes, lists, spoilers, masked links and code fences are escaped."""
    rendered = content(text)
    assert unescaped_specials(rendered) == []
    assert unescape(rendered) == text


def test_discord_escape_markdown_gap_is_covered() -> None:
    """Unlike discord.utils.escape_markdown, bold inside `[..](..)` is escaped too."""
    text = "[**x**](y)"
    assert "**x**" in discord.utils.escape_markdown(text)
    assert "**" not in content(text).replace("\\*", "")


def test_bare_urls_stay_clickable() -> None:
    """A URL typed in text is left unescaped so Discord still links it."""
    rendered = content("see https://example.com/a_b*c_d, or *not*")
    assert "https://example.com/a_b*c_d" in rendered
    assert rendered.endswith(", or \\*not\\*")


@pytest.mark.parametrize("mention", MENTIONS)
@pytest.mark.parametrize("style", list(Style))
def test_mentions_are_inert_in_every_style(mention: str, style: Style) -> None:
    """Mentions and `<...>` markup never survive, whatever the span's style."""
    rendered = content("hi ", Text(f"{mention} there", style))
    assert not ACTIVE.search(rendered), rendered
    assert mention[1:] in rendered.replace("\\", "").replace(ZWSP, "")


@pytest.mark.parametrize("mention", MENTIONS)
def test_mentions_are_inert_in_titles_items_labels_and_urls(mention: str) -> None:
    """Titles, list items, link labels and link URLs are neutralised too."""
    reply = Reply(
        title=mention,
        blocks=(
            Items((Paragraph.of(mention),)),
            Paragraph.of(Link(mention, "https://example.com/@everyone/@here")),
        ),
    )
    rendered = one(reply).content
    assert not ACTIVE.search(rendered), rendered


def test_mention_markup_is_broken_twice() -> None:
    """`<@id>` is both escaped and broken by a zero-width space; mass mentions get one too."""
    assert content("<@123>") == f"\\<{ZWSP}@123\\>"
    assert content(Text("<@123>", Style.CODE)) == f"`<{ZWSP}@123>`"
    assert content("@everyone @Here") == f"@{ZWSP}everyone @{ZWSP}Here"


def test_mentions_split_across_spans_are_inert() -> None:
    """`@` in one span and `everyone` in the next cannot join into a mention."""
    assert not ACTIVE.search(content("@", "everyone", " <", "@123456789012345678>"))
    assert not ACTIVE.search(content(Text("@", Style.CODE), "here"))


def test_allowed_mentions_are_always_none() -> None:
    """Every message disables mentions, including the replied-to user."""
    rows = tuple((Button(f"b{i}", action=f"a:{i}"),) for i in range(12))
    reply = Reply(blocks=(Paragraph.of("x"),), buttons=rows)
    assert len(render(reply)) == 3
    for message in render(reply):
        mentions = message.allowed_mentions
        assert mentions.everyone is False
        assert mentions.users is False
        assert mentions.roles is False
        assert mentions.replied_user is False


_fragments = st.one_of(
    st.sampled_from([*MENTIONS, "@", "<", ">", "every", "one", "here", "#", "&", "!", ":"]),
    st.text(max_size=20),
    st.integers(min_value=0, max_value=10**19).map(str),
)
_text = st.lists(_fragments, max_size=8).map("".join)
_spans = st.lists(
    st.one_of(
        st.builds(Text, _text, st.sampled_from(list(Style))),
        st.builds(Link, _text, st.just("https://example.com/x")),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(title=_text, spans=_spans, item=_text)
def test_no_rendering_contains_an_active_mention(
    title: str, spans: list[Text | Link], item: str
) -> None:
    """For arbitrary text anywhere in a reply, no mention pattern is ever active."""
    reply = Reply(
        title=title or None,
        blocks=(Paragraph(tuple(spans)), Items((Paragraph.of(item),), numbered=True)),
    )
    for message in render(reply):
        assert not ACTIVE.search(message.content), message.content


@settings(max_examples=300)
@given(text=st.text().filter(lambda text: "://" not in text))
def test_plain_text_round_trips_and_is_fully_escaped(text: str) -> None:
    """Arbitrary plain text displays as itself and leaves no Markdown character active."""
    rendered = render_spans([Text(text)])
    assert unescape(rendered) == text.replace(ZWSP, "")
    assert unescaped_specials(rendered) == []
    assert escape(text, keep_urls=False) in rendered.replace("@" + ZWSP, "@")


# -- styles, links, lists ------------------------------------------------------------


def test_styles() -> None:
    """Bold, italic and code become Discord's Markdown pairs around escaped text."""
    assert content(Text("big_deal", Style.BOLD)) == "**big\\_deal**"
    assert content(Text("soft*", Style.ITALIC)) == "*soft\\**"
    assert content(Text("x = 1", Style.CODE)) == "`x = 1`"
    assert content("a ", Text("b", Style.BOLD), " c") == "a **b** c"


def test_spaces_stay_outside_style_markers() -> None:
    """Discord ignores `** x **`, so surrounding spaces move outside the markers."""
    assert content("a", Text(" b ", Style.BOLD), "c") == "a **b** c"
    assert content("a", Text(" b ", Style.ITALIC), "c") == "a *b* c"
    assert content("a", Text("   ", Style.BOLD), "c") == "a   c"


def test_adjacent_styled_spans_do_not_merge() -> None:
    """`**a***b*` is ambiguous, so adjacent markers are separated by a zero-width space."""
    rendered = content(Text("a", Style.BOLD), Text("b", Style.ITALIC), Text("c", Style.CODE))
    assert rendered == f"**a**{ZWSP}*b*{ZWSP}`c`"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("plain", "`plain`"),
        ("a`b", "``a`b``"),
        ("`edge`", "`` `edge` ``"),
        ("a``b", f"``a`{ZWSP}`b``"),
        ("```", f"`` `{ZWSP}`{ZWSP}` ``"),
        ("*not bold* _x_", "`*not bold* _x_`"),
    ],
)
def test_code_spans_handle_backticks(code: str, expected: str) -> None:
    """Backticks inside code cannot close it: double fences, padded, runs broken up."""
    assert content(Text(code, Style.CODE)) == expected


def test_links() -> None:
    """Links are `[label](<url>)` with the label escaped and the embed suppressed."""
    assert content(Link("Rust *book*", "https://doc.rust-lang.org/book/")) == (
        "[Rust \\*book\\*](<https://doc.rust-lang.org/book/>)"
    )


def test_link_labels_cannot_break_out() -> None:
    """Brackets and newlines in a label, and `>`/spaces in a URL, stay inside the link."""
    rendered = content(Link("a] [b\nc", "https://x.example/a b>c?q=1&r=(2)"))
    assert rendered == "[a\\] \\[b c](<https://x.example/a%20b%3Ec?q=1&r=(2)>)"


def test_link_with_empty_label_shows_the_url() -> None:
    """A link without a label is shown as the bare (embed-suppressed) URL."""
    assert content("see ", Link("", "https://x.example/")) == "see <https://x.example/>"


def test_lists_and_title() -> None:
    """The title is a bold first line; lists use `- ` or `1. ` lines."""
    reply = Reply(
        title="Your course picks",
        blocks=(
            Paragraph.of("You often discuss ", Text("async", Style.ITALIC), "."),
            Items((Paragraph.of("Rust"), Paragraph.of("Go"))),
            Items((Paragraph.of("first"), Paragraph.of("second")), numbered=True),
        ),
    )
    assert one(reply).content == (
        "**Your course picks**\nYou often discuss *async*.\n\n- Rust\n- Go\n\n1. first\n2. second"
    )


def test_title_is_escaped() -> None:
    """A title is user-visible text like any other: escaped inside the bold."""
    assert one(Reply(title="**x** # y")).content == "**\\*\\*x\\*\\* \\# y**"


def test_empty_reply_renders_nothing() -> None:
    """A reply with no text, buttons or image produces no message."""
    assert render(Reply()) == []
    assert render(Reply(blocks=(Paragraph.of("   "),))) == []


# -- buttons -----------------------------------------------------------------------


def components(message: DiscordMessage) -> list[list[dict[str, object]]]:
    """The message's component rows as Discord receives them."""
    assert message.view is not None
    rows = message.view.to_components()
    assert all(row["type"] == 1 for row in rows)
    return [list(row["components"]) for row in rows]  # type: ignore[call-overload]


def test_buttons_map_to_real_discord_buttons() -> None:
    """Action buttons carry custom_id, URL buttons a url; styles are mapped."""
    reply = Reply(
        blocks=(Paragraph.of("Pick one"),),
        buttons=(
            (
                Button("Interested", action="fb:up:c1", style=ButtonStyle.PRIMARY),
                Button("Not for me", action="fb:down:c1", style=ButtonStyle.DANGER),
                Button("Later", action="fb:later:c1"),
                Button("Learn more", url="https://courses.example/c1"),
            ),
        ),
    )
    message = one(reply)
    assert message.view is not None
    assert message.view.timeout is None
    *actions, link = message.view.children
    # Action buttons are routed by custom_id alone (a DynamicItem), the link is a button.
    assert all(isinstance(button, CohortButton) for button in actions)
    assert isinstance(link, discord.ui.Button)
    (row,) = components(message)
    assert [(c.get("custom_id"), c.get("url"), c["style"]) for c in row] == [
        ("fb:up:c1", None, discord.ButtonStyle.primary.value),
        ("fb:down:c1", None, discord.ButtonStyle.danger.value),
        ("fb:later:c1", None, discord.ButtonStyle.secondary.value),
        (None, "https://courses.example/c1", discord.ButtonStyle.link.value),
    ]
    assert [c["label"] for c in row] == ["Interested", "Not for me", "Later", "Learn more"]


def test_long_rows_wrap_at_five() -> None:
    """A row of seven buttons becomes rows of five and two."""
    row = tuple(Button(str(i), action=f"a:{i}") for i in range(7))
    message = one(Reply(blocks=(Paragraph.of("x"),), buttons=(row,)))
    assert [len(r) for r in components(message)] == [5, 2]


def test_more_than_five_rows_overflow_to_further_messages() -> None:
    """Rows beyond the fifth go to further messages, in order, without text."""
    rows = tuple(
        tuple(Button(f"{r}.{i}", action=f"a:{r}:{i}") for i in range(5)) for r in range(12)
    )
    messages = render(Reply(blocks=(Paragraph.of("Pick"),), buttons=rows, private=True))
    assert [m.content for m in messages] == ["Pick", "", ""]
    assert [len(components(m)) for m in messages] == [5, 5, 2]
    ids = [c["custom_id"] for m in messages for row in components(m) for c in row]
    assert ids == [f"a:{r}:{i}" for r in range(12) for i in range(5)]
    assert all(m.ephemeral for m in messages)
    for message in messages:
        assert all(len(row) <= 5 for row in components(message))


def test_labels_are_trimmed_to_discords_limit() -> None:
    """Button labels longer than 80 characters are shortened with an ellipsis."""
    message = one(Reply(blocks=(Paragraph.of("x"),), buttons=((Button("L" * 100, action="a"),),)))
    (row,) = components(message)
    assert row[0]["label"] == "L" * 79 + "…"


def test_duplicate_custom_ids_are_dropped_within_a_message() -> None:
    """Discord rejects a message whose components repeat a custom_id; the repeat is dropped."""
    reply = Reply(
        blocks=(Paragraph.of("x"),),
        buttons=((Button("A", action="same"), Button("B", action="same")),),
    )
    (row,) = components(one(reply))
    assert [c["label"] for c in row] == ["A"]


def test_buttons_only_reply() -> None:
    """A reply with only buttons renders one message with an empty content."""
    message = one(Reply(buttons=((Button("Opt in", action="consent:in"),),)))
    assert message.content == ""
    assert "content" not in message.send_kwargs()


# -- splitting -----------------------------------------------------------------------


def paragraphs(*sizes: int) -> Reply:
    """A reply of plain paragraphs of the given lengths, each made of one letter."""
    return Reply(blocks=tuple(Paragraph.of(chr(97 + i) * size) for i, size in enumerate(sizes)))


def test_exactly_the_limit_is_one_message() -> None:
    """Two paragraphs totalling exactly 2000 characters (with the gap) stay together."""
    messages = render(paragraphs(999, 999))
    assert [len(m.content) for m in messages] == [MESSAGE_LIMIT]


def test_one_over_the_limit_splits_between_paragraphs() -> None:
    """One character more and the split falls between the paragraphs, nothing lost."""
    messages = render(paragraphs(999, 1000))
    assert [m.content for m in messages] == ["a" * 999, "b" * 1000]


def test_a_single_paragraph_of_exactly_the_limit_fits() -> None:
    """A paragraph of exactly 2000 characters is one message; 2001 is two."""
    assert len(render(paragraphs(MESSAGE_LIMIT))) == 1
    assert [len(m.content) for m in render(paragraphs(MESSAGE_LIMIT + 1))] == [MESSAGE_LIMIT, 1]


def test_overlong_paragraph_is_hard_split_in_order() -> None:
    """A paragraph longer than a message is cut into pieces that each fit, in order."""
    text = "".join(f"{i:05d} " for i in range(1200))  # 7200 characters
    messages = render(para(text))
    assert len(messages) == 4
    assert all(length(m.content) <= MESSAGE_LIMIT for m in messages)
    assert "".join(m.content for m in messages).replace(" ", "") == text.replace(" ", "")
    assert all(m.content.endswith(" ") for m in messages[:-1])  # cut at a space


def test_hard_split_never_cuts_an_escape() -> None:
    """Text made of escaped characters is cut between escapes, never inside one."""
    text = "*_" * 1700
    messages = render(para(text))
    assert len(messages) > 1
    for message in messages:
        assert length(message.content) <= MESSAGE_LIMIT
        trailing = len(message.content) - len(message.content.rstrip("\\"))
        assert trailing % 2 == 0
        assert unescaped_specials(message.content) == []
    assert "".join(unescape(m.content) for m in messages) == text


def test_hard_split_never_cuts_a_markdown_pair() -> None:
    """A long bold span is closed at the end of each piece and reopened in the next."""
    text = "bold words " * 400
    messages = render(para(Text(text, Style.BOLD)))
    assert len(messages) > 1
    for message in messages:
        assert length(message.content) <= MESSAGE_LIMIT
        body = message.content.strip()
        assert body.startswith("**")
        assert body.endswith("**")
        assert body.count("**") == 2
    assert " ".join(m.content.strip()[2:-2] for m in messages).split() == text.split()


def test_hard_split_keeps_mentions_inert() -> None:
    """Cutting a run of mentions never produces an active one in any piece."""
    messages = render(para("@everyone <@123456789012345678> " * 200))
    assert len(messages) > 1
    assert not any(ACTIVE.search(m.content) for m in messages)


def test_long_list_continues_numbering_across_messages() -> None:
    """A numbered list split across messages keeps its numbers and order."""
    items = tuple(Paragraph.of("x" * 90) for _ in range(60))
    messages = render(Reply(blocks=(Items(items, numbered=True),)))
    assert len(messages) > 1
    lines = [line for m in messages for line in m.content.split("\n")]
    assert lines == [f"{n}. " + "x" * 90 for n in range(1, 61)]


def test_buttons_and_image_go_with_the_last_chunk() -> None:
    """With split text, only the last chunk carries the view and the file."""
    reply = Reply(
        blocks=(Paragraph.of("a" * 1500), Paragraph.of("b" * 1500)),
        buttons=((Button("Next", action="pg:x:2"),),),
        image=Image(PNG, "chart.png", "A chart of clicks"),
    )
    first, last = render(reply)
    assert first.view is None and first.file is None
    assert last.view is not None and last.file is not None


_no_url = st.text(max_size=300).filter(lambda text: "://" not in text)
_item = st.text(min_size=1, max_size=80).filter(lambda text: text.strip() and "://" not in text)


@settings(max_examples=150, deadline=None)
@given(
    blocks=st.lists(
        st.one_of(
            st.builds(Paragraph.of, _no_url),
            st.builds(
                lambda items, numbered: Items(tuple(map(Paragraph.of, items)), numbered),
                st.lists(_item, max_size=6),
                st.booleans(),
            ),
        ),
        max_size=8,
    ),
    limit=st.integers(min_value=24, max_value=400),
)
def test_packing_respects_any_limit_and_loses_nothing(
    blocks: list[Paragraph | Items], limit: int
) -> None:
    """For any content and limit: no chunk over the limit, all text kept, order kept."""
    reply = Reply(blocks=tuple(blocks))
    chunks = pack(reply, limit)
    assert all(length(chunk) <= limit for chunk in chunks)
    assert all(chunk.strip() for chunk in chunks)

    def squash(text: str) -> str:
        return re.sub(r"\s", "", text.replace(ZWSP, ""))

    assert squash("".join(unescape(chunk) for chunk in chunks)) == squash(reply.plain())


# -- images and privacy --------------------------------------------------------------


def test_image_becomes_a_discord_file() -> None:
    """The image is attached with its filename and alt text."""
    message = one(Reply(title="Clicks", image=Image(PNG, "clicks.png", "Clicks per day")))
    assert message.file is not None
    assert message.file.filename == "clicks.png"
    assert message.file.description == "Clicks per day"
    assert message.file.fp.read() == PNG


def test_image_only_reply() -> None:
    """A reply with just an image is one message with the file and no content."""
    message = one(Reply(image=Image(PNG, "c.png", "")))
    assert message.content == ""
    assert message.file is not None


def test_private_reply_is_ephemeral() -> None:
    """`private` replies are ephemeral; public ones are not."""
    assert one(Reply(title="x", private=True)).ephemeral is True
    assert one(Reply(title="x")).ephemeral is False


def test_send_and_response_kwargs() -> None:
    """Keyword arguments carry only what is set; ephemeral only for interactions."""
    message = one(Reply(title="x", private=True, buttons=((Button("B", action="b"),),)))
    kwargs = message.send_kwargs()
    assert set(kwargs) == {"content", "view", "allowed_mentions"}
    assert "ephemeral" not in kwargs
    assert message.response_kwargs()["ephemeral"] is True
