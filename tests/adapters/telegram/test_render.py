"""Telegram rendering: HTML escaping, tags, buttons, splitting, captions, link previews."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions

from bot.adapters.telegram.render import (
    ALLOWED_TAGS,
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    TelegramMessage,
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
from tests.fakes import telegram_payloads as tg
from tests.fakes.telegram import FakeTelegram

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class TelegramHtml(HTMLParser):
    """Parses Telegram HTML strictly: allowed tags only, properly nested, text collected."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[str] = []
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, f"tag {tag!r} not allowed"
        assert not attrs or (tag == "a" and [name for name, _ in attrs] == ["href"]), attrs
        if tag == "a":
            assert attrs, "<a> without href"
        self.open.append(tag)
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"unbalanced </{tag}> in {self.open}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def unknown_decl(self, data: str) -> None:
        raise AssertionError(f"declaration in output: {data!r}")

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"comment in output: {data!r}")

    def handle_pi(self, data: str) -> None:
        raise AssertionError(f"processing instruction in output: {data!r}")

    def handle_decl(self, decl: str) -> None:
        raise AssertionError(f"declaration in output: {decl!r}")


def parse(markup: str) -> TelegramHtml:
    """Parse Telegram HTML, failing on anything Telegram would not accept from us."""
    # Telegram knows numeric entities and only these named ones; a bare `&` is an error.
    for entity in re.findall(r"&[^;\s]*;?", markup):
        assert entity in {"&amp;", "&lt;", "&gt;", "&quot;"} or re.fullmatch(
            r"&#(?:\d+|x[0-9a-fA-F]+);", entity
        ), entity
    parser = TelegramHtml()
    parser.feed(markup)
    parser.close()
    assert not parser.open, f"unclosed tags: {parser.open}"
    return parser


def shown(markup: str) -> str:
    """The text a Telegram member sees for some HTML."""
    return "".join(parse(markup).text)


def one(reply: Reply) -> TelegramMessage:
    """The single message a reply renders to."""
    messages = render(reply)
    assert len(messages) == 1
    return messages[0]


def para(*parts: Text | Link | str) -> Reply:
    """A reply holding one paragraph."""
    return Reply(blocks=(Paragraph.of(*parts),))


def text(*parts: Text | Link | str) -> str:
    """The HTML of a one-paragraph reply."""
    return one(para(*parts)).text


# -- escaping ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("<", "&lt;"), (">", "&gt;"), ("&", "&amp;"), ("&amp;", "&amp;amp;"), ("<b>x</b>", None)],
)
def test_html_special_characters_are_escaped(raw: str, escaped: str | None) -> None:
    """`<`, `>` and `&` in user text are escaped; markup in user text stays text."""
    rendered = text(f"a{raw}b")
    if escaped is not None:
        assert rendered == f"a{escaped}b"
    assert shown(rendered) == f"a{raw}b"
    assert parse(rendered).tags == []


@pytest.mark.parametrize("style", list(Style))
def test_escaping_applies_in_every_style(style: Style) -> None:
    """Styled text is escaped inside its tag."""
    rendered = text(Text("<i>&</i>", style))
    assert "&lt;i&gt;&amp;&lt;/i&gt;" in rendered
    assert shown(rendered) == "<i>&</i>"
    assert len(parse(rendered).tags) == (0 if style is Style.PLAIN else 1)


def test_quotes_are_plain_text_but_escaped_in_href() -> None:
    """Quotes need no escaping in text, but the href attribute escapes them."""
    rendered = text('say "hi" ', Link("it's", 'https://x.example/?q="a"&b=<c>'))
    assert rendered == (
        'say "hi" <a href="https://x.example/?q=&quot;a&quot;&amp;b=&lt;c&gt;">it\'s</a>'
    )
    (tag,) = parse(rendered).tags
    assert tag == ("a", [("href", 'https://x.example/?q="a"&b=<c>')])


def test_mention_like_text_is_left_as_text() -> None:
    """Discord mention markup and @-names are plain text in Telegram HTML."""
    rendered = text("@everyone <@123> <#1>")
    assert shown(rendered) == "@everyone <@123> <#1>"
    assert parse(rendered).tags == []


_spans = st.lists(
    st.one_of(
        st.builds(Text, st.text(), st.sampled_from(list(Style))),
        st.builds(
            Link,
            st.text(),
            st.text(alphabet=st.characters(codec="ascii"), max_size=40).map(
                lambda tail: "https://example.com/" + tail
            ),
        ),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=400)
@given(spans=_spans)
def test_arbitrary_text_parses_with_allowed_tags_and_round_trips(spans: list[Text | Link]) -> None:
    """For arbitrary spans, the HTML is valid, uses only allowed tags and shows the text."""
    rendered = render_spans(spans)
    parser = parse(rendered)
    expected = "".join(
        span.text if isinstance(span, Text) else span.label or span.url for span in spans
    )
    assert "".join(parser.text) == expected
    hrefs = [dict(attrs)["href"] for tag, attrs in parser.tags if tag == "a"]
    assert hrefs == [span.url for span in spans if isinstance(span, Link)]


# -- styles, links, lists ------------------------------------------------------------


def test_styles() -> None:
    """Bold, italic and code use <b>, <i> and <code>."""
    assert text(Text("b", Style.BOLD), Text("i", Style.ITALIC), Text("c", Style.CODE)) == (
        "<b>b</b><i>i</i><code>c</code>"
    )


def test_whitespace_only_styled_span_has_no_tag() -> None:
    """An empty-looking styled span is written as plain spaces, not an empty entity."""
    assert text("a", Text("  ", Style.BOLD), "b") == "a  b"


def test_link_without_label_shows_its_url() -> None:
    """A link with an empty label uses the URL as its text."""
    assert text(Link("", "https://x.example/")) == (
        '<a href="https://x.example/">https://x.example/</a>'
    )


def test_lists_and_title() -> None:
    """The title is a bold first line; lists use `• ` or `1. ` lines."""
    reply = Reply(
        title="Your <course> picks",
        blocks=(
            Paragraph.of("You often discuss ", Text("async", Style.ITALIC), "."),
            Items((Paragraph.of("Rust"), Paragraph.of("Go"))),
            Items((Paragraph.of("first"), Paragraph.of("second")), numbered=True),
        ),
    )
    assert one(reply).text == (
        "<b>Your &lt;course&gt; picks</b>\n"
        "You often discuss <i>async</i>.\n\n"
        "• Rust\n• Go\n\n"
        "1. first\n2. second"
    )


def test_empty_reply_renders_nothing() -> None:
    """A reply with nothing to show produces no message."""
    assert render(Reply()) == []
    assert render(Reply(blocks=(Paragraph.of(" \n "),))) == []


def test_buttons_without_text_are_refused() -> None:
    """Telegram cannot send buttons without text or a photo: that is a service bug."""
    with pytest.raises(ValueError, match="needs text"):
        render(Reply(buttons=((Button("Opt in", action="consent:in"),),)))


# -- buttons -----------------------------------------------------------------------


def test_buttons_become_inline_keyboard() -> None:
    """Action buttons carry callback_data, URL buttons a url; styles where Telegram has them."""
    reply = Reply(
        blocks=(Paragraph.of("Pick one"),),
        buttons=(
            (
                Button("Interested", action="fb:up:c1", style=ButtonStyle.PRIMARY),
                Button("Not for me", action="fb:down:c1", style=ButtonStyle.DANGER),
            ),
            (Button("Learn more", url="https://courses.example/c1"),),
        ),
    )
    markup = one(reply).reply_markup
    assert isinstance(markup, InlineKeyboardMarkup)
    assert markup.to_dict() == {
        "inline_keyboard": [
            [
                {"text": "Interested", "callback_data": "fb:up:c1", "style": "primary"},
                {"text": "Not for me", "callback_data": "fb:down:c1", "style": "danger"},
            ],
            [{"text": "Learn more", "url": "https://courses.example/c1"}],
        ]
    }


def test_keyboard_serialises_within_bot_api_limits() -> None:
    """The keyboard JSON keeps callback_data within 64 bytes, rows within 8, total within 100."""
    action = "pg:" + "é" * 30 + "x"  # 64 bytes of UTF-8, 34 characters
    assert len(action.encode()) == 64
    rows = (tuple(Button(f"{i}", action=f"pg:{'é' * 29}{i:02d}") for i in range(11)),)
    reply = Reply(blocks=(Paragraph.of("x"),), buttons=(*rows, (Button("Max", action=action),)))
    markup = one(reply).reply_markup
    assert markup is not None
    data = json.loads(json.dumps(markup.to_dict()))
    keyboard = data["inline_keyboard"]
    assert [len(row) for row in keyboard] == [8, 3, 1]
    assert sum(len(row) for row in keyboard) <= 100
    for row in keyboard:
        for button in row:
            assert 1 <= len(button["callback_data"].encode()) <= 64
    assert InlineKeyboardMarkup.de_json(data, None) == markup


def test_more_than_100_buttons_is_refused() -> None:
    """Telegram allows at most 100 buttons per keyboard; services must paginate."""
    rows = tuple(tuple(Button(f"{r}{i}", action=f"a:{r}:{i}") for i in range(8)) for r in range(13))
    with pytest.raises(ValueError, match="paginate"):
        render(Reply(blocks=(Paragraph.of("x"),), buttons=rows))


# -- splitting -----------------------------------------------------------------------


def paragraphs(*sizes: int) -> Reply:
    """A reply of plain paragraphs of the given lengths, each made of one letter."""
    return Reply(blocks=tuple(Paragraph.of(chr(97 + i) * size) for i, size in enumerate(sizes)))


def test_exactly_the_limit_is_one_message() -> None:
    """Paragraphs totalling exactly 4096 characters (with the gap) stay in one message."""
    (message,) = render(paragraphs(2047, 2047))
    assert len(message.text) == MESSAGE_LIMIT


def test_one_over_the_limit_splits_between_paragraphs() -> None:
    """One character more and the split falls between the paragraphs."""
    assert [m.text for m in render(paragraphs(2047, 2048))] == ["a" * 2047, "b" * 2048]


def test_single_paragraph_at_and_over_the_limit() -> None:
    """A 4096-character paragraph is one message; 4097 is two, nothing lost."""
    assert len(render(paragraphs(MESSAGE_LIMIT))) == 1
    assert [len(m.text) for m in render(paragraphs(MESSAGE_LIMIT + 1))] == [MESSAGE_LIMIT, 1]


def test_hard_split_never_cuts_an_entity() -> None:
    """Text made of escaped characters is cut between entities, never inside one."""
    raw = "&<>" * 1500
    messages = render(para(raw))
    assert len(messages) > 1
    for message in messages:
        assert length(message.text) <= MESSAGE_LIMIT
    assert "".join(shown(m.text) for m in messages) == raw


def test_hard_split_never_cuts_a_tag() -> None:
    """A long bold link is closed and reopened around every cut."""
    label = "word " * 2000
    messages = render(para(Text("intro ", Style.BOLD), Link(label, "https://x.example/")))
    assert len(messages) > 1
    collected = []
    for message in messages:
        assert length(message.text) <= MESSAGE_LIMIT
        parser = parse(message.text)
        collected.append("".join(parser.text))
    assert "".join(collected).split() == ("intro " + label).split()


def test_long_list_keeps_numbers_and_order() -> None:
    """A numbered list split across messages keeps its numbers and order."""
    items = tuple(Paragraph.of("y" * 200) for _ in range(60))
    messages = render(Reply(blocks=(Items(items, numbered=True),)))
    assert len(messages) > 1
    lines = [line for m in messages for line in m.text.split("\n")]
    assert lines == [f"{n}. " + "y" * 200 for n in range(1, 61)]


@settings(max_examples=150, deadline=None)
@given(
    blocks=st.lists(
        st.one_of(
            st.builds(
                lambda spans: Paragraph(tuple(spans)),
                st.lists(
                    st.builds(Text, st.text(max_size=200), st.sampled_from(list(Style))), max_size=4
                ),
            ),
            st.builds(
                lambda items, numbered: Items(tuple(map(Paragraph.of, items)), numbered),
                st.lists(st.text(max_size=60).filter(str.strip), max_size=5),
                st.booleans(),
            ),
        ),
        max_size=8,
    ),
    limit=st.integers(min_value=40, max_value=500),
)
def test_packing_respects_any_limit_and_loses_nothing(
    blocks: list[Paragraph | Items], limit: int
) -> None:
    """For any content and limit: chunks fit, parse, and keep all text in order."""
    reply = Reply(blocks=tuple(blocks))
    chunks = pack(reply, limit)
    assert all(length(chunk) <= limit for chunk in chunks)

    def squash(value: str) -> str:
        return re.sub(r"\s", "", value.replace("•", "-"))

    assert squash("".join(shown(chunk) for chunk in chunks)) == squash(reply.plain())


# -- photos and captions -------------------------------------------------------------


def test_short_text_becomes_the_photo_caption() -> None:
    """With an image and short text, one photo message carries text and buttons."""
    reply = Reply(
        title="Clicks",
        blocks=(Paragraph.of("per day"),),
        buttons=((Button("Confirm and send", action="promo:ok:1"),),),
        image=Image(PNG, "clicks.png", "Clicks per day"),
    )
    message = one(reply)
    assert message.photo == PNG
    assert message.text == "<b>Clicks</b>\nper day"
    assert message.reply_markup is not None
    kwargs = message.send_kwargs()
    assert kwargs["caption"] == message.text
    assert kwargs["photo"] == PNG
    assert "text" not in kwargs


def test_caption_at_exactly_the_limit() -> None:
    """Text of exactly 1024 characters is still the caption; 1025 is not."""
    image = Image(PNG, "c.png", "")
    (photo,) = render(Reply(blocks=(Paragraph.of("c" * CAPTION_LIMIT),), image=image))
    assert photo.photo == PNG and len(photo.text) == CAPTION_LIMIT
    first, photo = render(Reply(blocks=(Paragraph.of("c" * (CAPTION_LIMIT + 1)),), image=image))
    assert first.photo is None and len(first.text) == CAPTION_LIMIT + 1
    assert photo.photo == PNG and photo.text == ""
    assert "caption" not in photo.send_kwargs()


def test_long_text_with_image_and_buttons() -> None:
    """Long text is sent first, split; the photo comes last with the buttons."""
    reply = Reply(
        blocks=(Paragraph.of("a" * 3000), Paragraph.of("b" * 3000)),
        buttons=((Button("Next", action="pg:x:2"),),),
        image=Image(PNG, "c.png", ""),
        private=True,
    )
    messages = render(reply)
    assert [m.photo is not None for m in messages] == [False, False, True]
    assert [m.reply_markup is not None for m in messages] == [False, False, True]
    assert all(m.private for m in messages)


# -- link previews -------------------------------------------------------------------


def test_single_link_is_previewed() -> None:
    """With exactly one link, that link (not a URL in the text) is previewed."""
    message = one(para("see https://other.example and ", Link("the course", "https://c.example/1")))
    assert message.disable_web_page_preview is False
    assert message.preview_url == "https://c.example/1"
    assert message.link_preview_options == LinkPreviewOptions(url="https://c.example/1")


@pytest.mark.parametrize(
    "reply",
    [
        para("no links, https://typed.example"),
        para(Link("a", "https://a.example"), " ", Link("b", "https://b.example")),
    ],
)
def test_previews_are_off_otherwise(reply: Reply) -> None:
    """With no link or several, previews are disabled."""
    message = one(reply)
    assert message.disable_web_page_preview is True
    assert message.link_preview_options == LinkPreviewOptions(is_disabled=True)


def test_only_the_message_with_the_link_previews_it() -> None:
    """When split, only the chunk holding the single link has previews on."""
    reply = Reply(
        blocks=(Paragraph.of("a" * 4080), Paragraph.of(Link("course", "https://c.example/1")))
    )
    first, second = render(reply)
    assert first.disable_web_page_preview is True
    assert second.disable_web_page_preview is False


# -- sending through the Bot API -----------------------------------------------------


async def test_rendered_messages_are_accepted_by_ptb() -> None:
    """`send_kwargs` feed `Bot.send_message`/`send_photo`; the request is well formed."""
    api = FakeTelegram()
    reply = Reply(
        title="Your course picks",
        blocks=(Paragraph.of("Rust & ", Link("Go", "https://c.example/go")),),
        buttons=((Button("Interested", action="fb:up:go", style=ButtonStyle.PRIMARY),),),
    )
    async with Bot(tg.TOKEN, request=api) as bot:
        for message in render(reply):
            await bot.send_message(chat_id=tg.ALICE["id"], **message.send_kwargs())
        (photo,) = render(Reply(title="Chart", image=Image(PNG, "c.png", "")))
        await bot.send_photo(chat_id=tg.ALICE["id"], **photo.send_kwargs())
    sent = [(call.method, call.parameters) for call in api.outgoing()]
    (method, params), (photo_method, photo_params) = sent
    assert method == "sendMessage"
    assert params["parse_mode"] == "HTML"
    assert html.unescape(params["text"]).endswith('Rust & <a href="https://c.example/go">Go</a>')
    keyboard = params["reply_markup"]
    assert keyboard["inline_keyboard"][0][0]["callback_data"] == "fb:up:go"
    assert keyboard["inline_keyboard"][0][0]["style"] == "primary"
    assert params["link_preview_options"] == {"url": "https://c.example/go"}
    assert json.loads(json.dumps(params)) == params  # what goes on the wire is plain JSON
    assert photo_method == "sendPhoto"
    assert photo_params["caption"] == "<b>Chart</b>"
