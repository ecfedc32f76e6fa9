"""Translations: locale normalisation, catalog lookups, placeholders, formatting, extraction."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, check_and_call_extract_file
from babel.messages.frontend import parse_mapping_cfg

from bot import i18n
from bot.i18n import (
    Translator,
    load_catalog,
    message_problem,
    normalize_locale,
    placeholder_problems,
    placeholders,
    translator,
)

ROOT = Path(__file__).resolve().parents[1]
BABEL_CFG = ROOT / "babel.cfg"

# The user-facing strings the services were specified with; each must stay translated.
SPECIFIED = [
    "Your course picks",
    "You often discuss {topics}.",
    "Members who took {course} often take this too.",
    "New in the catalog — picked for you to try.",
    "Popular in this community.",
    "Interested",
    "Not for me",
    "Learn more",
    "Previous",
    "Next",
    "Page {page} of {count}",
    "Courses",
    "No courses are available right now.",
    "Picks for this channel",
    "Want picks made for you? Opt in to personal recommendations.",
    "Opt in",
    "Opt out",
    "You're in: Cohort will use your activity here to recommend courses.",
    "Direct messages from Cohort are on.",
    "Direct messages from Cohort are off.",
    "You're out: Cohort no longer profiles you here. Nothing new is stored under your name.",
    "Here is everything Cohort holds about you.",
    "Everything Cohort held about you has been erased.",
    "Only moderators and admins can do this.",
    "Use this command inside the community.",
    "Preview: {audience} members in the audience, {blocked} blocked,"
    " about {clicks} clicks expected.",
    "Blocked by frequency caps: {n}",
    "Blocked by quiet hours: {n}",
    "Blocked: no consent for DMs: {n}",
    "Confirm and send",
    "Cancel",
    "Sent to {n} members.",
    "Posted in the channel.",
    "This week in {community}",
    "Most discussed",
    "Trending topics",
    "New courses",
    "Thanks to our top helpers",
    "Your code is {code}. Enter it on the other platform within 10 minutes: /link {code}",
    "Your accounts are linked.",
    "That code is unknown or has expired.",
    "Your accounts are unlinked.",
    "Thanks! We'll show you more like this.",
    "Got it, we won't suggest this again.",
]

ZH = load_catalog("zh_Hans")
ENTRIES = [message for message in ZH if message.id]


def _extract(directory: Path, root: Path) -> dict[str | tuple[str, ...], list[str]]:
    """Every msgid Babel extracts from the .py files under `directory`, with where."""
    with BABEL_CFG.open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, str(BABEL_CFG))
    found: dict[str | tuple[str, ...], list[str]] = {}
    for path in sorted(directory.rglob("*.py")):
        for filename, lineno, msgid, _, _ in check_and_call_extract_file(
            path, method_map, options_map, None, DEFAULT_KEYWORDS, (), False, root
        ):
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def _untranslated(catalog: Catalog, msgid: str | tuple[str, ...]) -> str | None:
    """Why `msgid` is not usable from `catalog`, or None when it is translated."""
    key = msgid if isinstance(msgid, str) else msgid[0]
    message = catalog.get(key)
    if message is None:
        return "missing"
    if message.fuzzy:
        return "fuzzy"
    if isinstance(msgid, tuple) and (not message.pluralizable or message.id[1] != msgid[1]):
        return "plural form differs"
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    if not all(forms):
        return "empty"
    return None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en-US", "en"),
        ("en-GB", "en"),
        ("en", "en"),
        ("EN", "en"),
        ("zh-CN", "zh_Hans"),
        ("zh-TW", "zh_Hans"),
        ("zh-HK", "zh_Hans"),
        ("zh-hans", "zh_Hans"),
        ("zh-Hans-CN", "zh_Hans"),
        ("zh-hant", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("zh_CN.UTF-8", "zh_Hans"),
        ("en_US.UTF-8", "en"),
        ("en_GB@euro", "en"),
        ("zh_Hans", "zh_Hans"),
        ("  zh-cn  ", "zh_Hans"),
        ("fr", "en"),
        ("de-DE", "en"),
        ("pt-BR", "en"),
        ("C", "en"),
        ("POSIX", "en"),
        ("", "en"),
        (None, "en"),
        ("---", "en"),
    ],
)
def test_normalize_locale(value: str | None, expected: str) -> None:
    """Discord, Telegram and POSIX locale strings map to a supported locale."""
    assert normalize_locale(value) == expected


def test_normalize_locale_default() -> None:
    """Unknown locales take the given default, which must itself be supported."""
    assert normalize_locale("fr", default="zh_Hans") == "zh_Hans"
    assert normalize_locale(None, default="zh_Hans") == "zh_Hans"
    assert normalize_locale("en-US", default="zh_Hans") == "en"
    with pytest.raises(ValueError, match="not one of"):
        normalize_locale("en", default="fr")


def test_translator_is_cached_per_normalised_locale() -> None:
    """Locale strings that normalise alike share one translator instance."""
    assert translator("zh-CN") is translator("zh_CN.UTF-8") is translator("zh-hans")
    assert translator("en-US") is translator(None)
    assert translator("zh-CN").locale == "zh_Hans"
    assert translator("en-GB").locale == "en"


def test_english_passthrough() -> None:
    """English returns the msgid itself with its parameters filled in."""
    t = translator("en-US")
    assert t("Your course picks") == "Your course picks"
    assert t("You often discuss {topics}.", topics="Rust, Go") == "You often discuss Rust, Go."


def test_chinese_lookup() -> None:
    """Simplified Chinese returns the catalog's translation with parameters filled in."""
    t = translator("zh-CN")
    assert t("Your course picks") == "为你推荐的课程"
    assert t("Page {page} of {count}", page=2, count=5) == "第 2 页，共 5 页"
    assert t("This week in {community}", community="Rustaceans") == "Rustaceans 本周动态"


def test_parameter_values_are_not_reinterpreted() -> None:
    """Braces inside parameter values are inserted literally, not formatted again."""
    t = translator("zh-CN")
    assert t("You often discuss {topics}.", topics="{n} {0}") == "你经常讨论 {n} {0}。"


def test_plural_english() -> None:
    """English picks the singular for exactly one and formats `n` with separators."""
    t = translator("en")
    assert t.plural("{n} member", "{n} members", 1) == "1 member"
    assert t.plural("{n} member", "{n} members", 0) == "0 members"
    assert t.plural("{n} member", "{n} members", 1234) == "1,234 members"
    assert t.plural("{n} member", "{n} members", 2, n="two") == "two members"


def test_plural_chinese() -> None:
    """Chinese has one plural form (nplurals=1) used for every count."""
    t = translator("zh-CN")
    assert t.plural("{n} member", "{n} members", 1) == "1 名成员"
    assert t.plural("{n} member", "{n} members", 2) == "2 名成员"
    assert t.plural("{n} member", "{n} members", 12345) == "12,345 名成员"


def test_unknown_msgid_falls_back_to_english() -> None:
    """A msgid missing from the catalog is shown in English, singular and plural."""
    t = translator("zh-CN")
    assert t("A string nobody translated yet, {name}.", name="Ada") == (
        "A string nobody translated yet, Ada."
    )
    assert t.plural("{n} course left", "{n} courses left", 1) == "1 course left"
    assert t.plural("{n} course left", "{n} courses left", 3) == "3 courses left"


def test_missing_parameter_at_call_site_raises() -> None:
    """A call that forgets a parameter of its own msgid is a bug and raises."""
    with pytest.raises(KeyError):
        translator("en")("You often discuss {topics}.")


def test_catalog_header() -> None:
    """The zh_Hans catalog declares its language and a single plural form."""
    assert str(ZH.locale) == "zh_Hans"
    assert ZH.num_plurals == 1
    assert ZH.plural_expr == "0"
    assert ZH.mime_headers and dict(ZH.mime_headers)["Content-Type"].endswith("charset=utf-8")
    assert not ZH.fuzzy


@pytest.mark.parametrize("message", ENTRIES, ids=lambda m: str(m.id)[:40])
def test_catalog_placeholders_match(message: Message) -> None:
    """Every translation uses exactly the placeholders of its msgid."""
    assert message_problem(message) is None
    sources = (message.id,) if isinstance(message.id, str) else message.id
    forms = (message.string,) if isinstance(message.string, str) else message.string
    for form in forms:
        assert form, f"empty translation for {message.id!r}"
        assert placeholders(form) <= frozenset().union(*map(placeholders, sources))


def test_whole_catalog_has_no_placeholder_problems() -> None:
    """The catalog-level check agrees: no entry has mismatched placeholders."""
    assert placeholder_problems(ZH) == []


@pytest.mark.parametrize(
    ("msgid", "msgstr"),
    [
        ("You often discuss {topics}.", "你经常讨论 {topic}。"),  # renamed
        ("You often discuss {topics}.", "你经常讨论。"),  # dropped
        ("Page {page} of {count}", "第 {page} 页，共 {count} 页 {extra}"),  # invented
        ("Page {page} of {count}", "第 {page 页"),  # malformed
        ("Page {page} of {count}", "第 {0} 页，共 {count} 页"),  # positional
        ("Page {page} of {count}", "第 {page.__class__} 页，共 {count} 页"),  # attribute
        ("Page {page} of {count}", "第 {page[0]} 页，共 {count} 页"),  # index
    ],
)
def test_placeholder_mismatch_is_detected(msgid: str, msgstr: str) -> None:
    """A translation whose placeholders differ from the msgid's is reported."""
    catalog = Catalog(locale="zh_Hans")
    catalog.add(msgid, msgstr)
    assert len(placeholder_problems(catalog)) == 1


def test_plural_placeholder_rules() -> None:
    """Plural forms may omit a name only the plural msgid uses, never a shared one."""
    ok = Catalog(locale="zh_Hans")
    ok.add(("One member in {group}", "{n} members in {group}"), ("{group} 里有 {n} 名成员",))
    assert placeholder_problems(ok) == []
    bad = Catalog(locale="zh_Hans")
    bad.add(("One member in {group}", "{n} members in {group}"), ("有 {n} 名成员",))
    assert len(placeholder_problems(bad)) == 1


def test_bad_translation_is_dropped_and_english_shown(caplog: pytest.LogCaptureFixture) -> None:
    """A mismatched translation is logged at load and the English text is used."""
    catalog = Catalog(locale="zh_Hans")
    catalog.add("You often discuss {topics}.", "你经常讨论 {topic}。")
    catalog.add("Courses", "课程")
    with caplog.at_level(logging.ERROR, logger="bot.i18n"):
        t = Translator.from_catalog("zh_Hans", catalog)
    assert "dropping a bad" in caplog.text
    assert "You often discuss {topics}." in catalog  # the caller's catalog is untouched
    assert t("You often discuss {topics}.", topics="Rust") == "You often discuss Rust."
    assert t("Courses") == "课程"


def test_failing_translation_at_runtime_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    """If a translation still fails to format, the English msgid is used and logged."""
    catalog = Catalog(locale="zh_Hans")
    catalog.add("Total: {amount}", "总计：{amount:d}")  # an integer format for a str
    t = Translator.from_catalog("zh_Hans", catalog)
    with caplog.at_level(logging.ERROR, logger="bot.i18n"):
        assert t("Total: {amount}", amount="3") == "Total: 3"
    assert "using English" in caplog.text


def test_fuzzy_entries_are_not_used() -> None:
    """A fuzzy translation (not yet reviewed) is ignored in favour of English."""
    catalog = Catalog(locale="zh_Hans")
    catalog.add("Courses", "课程", flags=["fuzzy"])
    assert Translator.from_catalog("zh_Hans", catalog)("Courses") == "Courses"


@pytest.mark.parametrize("msgid", SPECIFIED)
def test_specified_strings_are_translated(msgid: str) -> None:
    """Every string the services were specified with has a Chinese translation."""
    assert _untranslated(ZH, msgid) is None
    assert translator("zh-CN")(msgid, **dict.fromkeys(placeholders(msgid), "X")) != (
        msgid.format(**dict.fromkeys(placeholders(msgid), "X"))
    )


def test_number_formatting() -> None:
    """Numbers use Babel's locale data: grouping, decimals and compact forms."""
    en, zh = translator("en"), translator("zh_Hans")
    assert en.number(1234567.891) == "1,234,567.891"
    assert en.number(Decimal("1234.5678"), digits=1) == "1,234.6"
    assert en.number(3, digits=0) == "3"
    assert zh.number(1234567.891) == "1,234,567.891"  # CLDR: same symbols as English
    assert en.compact(12345) == "12.3K"
    assert zh.compact(12345) == "1.2万"
    assert en.compact(12345) != zh.compact(12345)
    # Formatting is driven by the locale, not hard-coded: German swaps the separators.
    assert Translator("de").number(1234567.891) == "1.234.567,891"


def test_percent_formatting() -> None:
    """Percentages use the locale's pattern with the requested decimals."""
    en, zh = translator("en"), translator("zh_Hans")
    assert en.percent(0.125) == "12%"
    assert en.percent(0.125, digits=1) == "12.5%"
    assert en.percent(1 / 3, digits=2) == "33.33%"
    assert en.percent(0.5, digits=2) == "50%"
    assert zh.percent(0.125, digits=1) == "12.5%"  # CLDR: same pattern as English
    assert Translator("de").percent(0.125, digits=1) == "12,5\xa0%"
    assert Translator("hi").number(12345678.9, digits=1) == "1,23,45,678.9"  # lakh grouping
    assert Translator("tr").percent(0.125) == "%12"


def test_date_formatting_differs() -> None:
    """Dates are written the English or the Chinese way."""
    en, zh = translator("en"), translator("zh_Hans")
    day = date(2024, 5, 1)
    assert en.date(day) == "May 1, 2024"
    assert zh.date(day) == "2024年5月1日"
    assert en.date(day, "short") == "5/1/24"
    assert zh.date(day, "short") == "2024/5/1"


def test_datetime_formatting_in_a_time_zone() -> None:
    """Datetimes are converted to the member's time zone and formatted per locale."""
    en, zh = translator("en"), translator("zh_Hans")
    moment = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert en.datetime(moment, "Asia/Shanghai") == "May 1, 2024, 6:00:00\u202fPM"
    assert zh.datetime(moment, "Asia/Shanghai") == "2024年5月1日 18:00:00"
    assert zh.datetime(moment, timezone(timedelta(hours=-4)), "short") == "2024/5/1 06:00"
    assert en.datetime(moment, "UTC", "short") != zh.datetime(moment, "UTC", "short")


def test_datetime_rejects_naive_and_unknown_zones() -> None:
    """A naive datetime or an unknown zone name is refused rather than guessed."""
    t = translator("en")
    with pytest.raises(ValueError, match="aware"):
        t.datetime(datetime(2024, 5, 1, 10, 0), "UTC")
    with pytest.raises(ValueError, match="unknown time zone"):
        t.datetime(datetime(2024, 5, 1, 10, 0, tzinfo=UTC), "Mars/Olympus_Mons")


def test_po_file_is_valid_and_has_no_compiled_catalog() -> None:
    """The catalog file is where the loader looks, and no compiled .mo file is in git."""
    path = i18n.catalog_path("zh_Hans")
    assert path.is_file()
    assert not list(i18n.LOCALE_DIR.rglob("*.mo"))


def test_extraction_finds_t_and_t_plural(tmp_path: Path) -> None:
    """babel.cfg's keywords extract `t(...)` and `t.plural(...)` calls (and nothing else)."""
    package = tmp_path / "bot"
    package.mkdir()
    (package / "service.py").write_text(
        "def reply(t, n, name):\n"
        '    title = t("Your course picks")\n'
        '    count = t.plural("{n} member", "{n} members", n)\n'
        '    body = t(\n        "Hello {name}, "\n        "welcome.", name=name)\n'
        '    other = log.info("not a message %s", name)\n'
        "    dynamic = t(name)\n"
        "    return title, count, body, other, dynamic\n",
        encoding="utf-8",
    )
    found = _extract(package, tmp_path)
    assert set(found) == {
        "Your course picks",
        ("{n} member", "{n} members"),
        "Hello {name}, welcome.",
    }
    assert _untranslated(ZH, "Your course picks") is None
    assert _untranslated(ZH, ("{n} member", "{n} members")) is None
    assert _untranslated(ZH, "Hello {name}, welcome.") == "missing"
    assert _untranslated(ZH, ("{n} member", "{n} people")) == "plural form differs"


def test_every_extracted_string_is_translated() -> None:
    """Every string Babel extracts from bot/ has a usable zh_Hans translation."""
    found = _extract(ROOT / "bot", ROOT)
    missing = {
        f"{msgid!r} ({reason}) at {', '.join(found[msgid])}"
        for msgid in found
        if (reason := _untranslated(ZH, msgid)) is not None
    }
    assert not missing, "untranslated strings:\n" + "\n".join(sorted(missing))


def test_extracted_strings_have_consistent_placeholders() -> None:
    """Extracted msgids are valid format strings with named placeholders only."""
    for msgid in _extract(ROOT / "bot", ROOT):
        for source in (msgid,) if isinstance(msgid, str) else msgid:
            placeholders(source)


def test_rule_segments_are_named_in_the_readers_language() -> None:
    """Newcomers, recently inactive and champions read in Chinese for a Chinese reader."""
    from bot.i18n import rule_segment_name

    zh = translator("zh-Hans")
    assert rule_segment_name(zh, "recently_inactive") == "最近沉寂"
    assert rule_segment_name(zh, "newcomers") == "新成员"
    assert rule_segment_name(translator("en"), "recently_inactive") == "recently inactive"
