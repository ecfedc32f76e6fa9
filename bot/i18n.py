"""Translations and locale-aware formatting: English source strings, gettext catalogs.

Source strings are English msgids with `{named}` placeholders, written where they are
used through a `Translator` that is always called `t`::

    t = translator(member_locale)
    t("You often discuss {topics}.", topics=...)
    t.plural("{n} member", "{n} members", count)

Babel's Python extractor recognises a call by the last name before the parenthesis,
so `t(...)` is found by the keyword `t` and `t.plural(...)` by the keyword
`plural:1,2` (any attribute called `plural`). Both are set in `babel.cfg`, so a
template is one command::

    pybabel extract -F babel.cfg -o cohort.pot .
    pybabel update -i cohort.pot -d bot/locales -D cohort

(the keywords in `babel.cfg` need Babel 2.18 or later). The translator must be named
`t` for its strings to be extracted; `tests/test_i18n.py` fails when an extracted
string has no translation.

Catalogs are the `.po` files under `bot/locales/<locale>/LC_MESSAGES/cohort.po`, read
with `babel.messages.pofile.read_po` the first time a locale is used and kept for the
life of the process: there is no compile step and no `.mo` file in git. Each catalog is
turned into an in-memory `.mo` and served by the standard library's
`gettext.GNUTranslations`, which evaluates the catalog's `Plural-Forms`. Fuzzy and
empty entries are not used. A missing translation falls back to the English msgid.
A translation whose placeholders differ from its msgid's is a bug: it is dropped when
the catalog is loaded (logged as an error, the English text is shown) and the tests
check every entry.

Supported locales are `en` (the source language) and `zh_Hans` (Simplified Chinese).
Traditional Chinese (`zh-TW`, `zh-HK`, `zh-Hant`) falls back to `zh_Hans`: a reader
of Traditional Chinese reads Simplified far more easily than English. When a `zh_Hant`
catalog exists, add it to `SUPPORTED_LOCALES` and map the `hant` script (`_BY_SCRIPT`)
and the TW, HK and MO regions to it in `normalize_locale`.
"""

from __future__ import annotations

import copy
import functools
import gettext
import io
import logging
import re
import string
from datetime import date as _Date
from datetime import datetime as _DateTime
from datetime import tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import (
    NumberPattern,
    format_compact_decimal,
    format_decimal,
    format_percent,
)

log = logging.getLogger(__name__)

DOMAIN = "cohort"
DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES: tuple[str, ...] = ("en", "zh_Hans")
LOCALE_DIR = Path(__file__).resolve().parent / "locales"

# Language subtag -> supported locale. Chinese of any script or region -> zh_Hans.
_BY_LANGUAGE: dict[str, str] = {"en": "en", "zh": "zh_Hans", "cmn": "zh_Hans"}
# (language, script) -> supported locale, checked before the language alone.
_BY_SCRIPT: dict[tuple[str, str], str] = {("zh", "hans"): "zh_Hans", ("zh", "hant"): "zh_Hans"}
_SUBTAG = re.compile(r"[A-Za-z0-9]+")

Number = int | float | Decimal


def normalize_locale(value: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The supported locale for a platform's locale string; `default` when none fits.

    Accepts Discord locales (`en-US`, `en-GB`, `zh-CN`, `zh-TW`), Telegram
    `language_code`s (`en`, `zh-hans`, `zh-hant`, `zh`), POSIX locales (`zh_CN.UTF-8`,
    `en_US@euro`) and BCP 47 tags in any case. English of any region is `en`; Chinese
    of any script or region is `zh_Hans` (see the module docstring); anything else,
    empty, `C` or `POSIX` is `default`, which must itself be supported.
    """
    if default not in SUPPORTED_LOCALES:
        raise ValueError(f"default locale {default!r} is not one of {SUPPORTED_LOCALES}")
    if not value:
        return default
    # Drop a POSIX codeset and modifier (`zh_CN.UTF-8@pinyin`), then split the tag.
    tag = value.strip().split(".", 1)[0].split("@", 1)[0]
    subtags = [part.lower() for part in _SUBTAG.findall(tag)]
    if not subtags:
        return default
    language = subtags[0]
    for subtag in subtags[1:]:
        if len(subtag) == 4 and subtag.isalpha():
            by_script = _BY_SCRIPT.get((language, subtag))
            if by_script is not None:
                return by_script
            break
    return _BY_LANGUAGE.get(language, default)


def catalog_path(locale: str) -> Path:
    """Where the `.po` catalog of a supported locale lives."""
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_catalog(locale: str) -> Catalog:
    """The catalog of `locale` read from its `.po` file (obsolete entries left out).

    Raises `FileNotFoundError` when the locale has no catalog and `ValueError`
    (Babel's `PoFileError`) when the file is malformed.
    """
    with catalog_path(locale).open("rb") as po:
        return read_po(po, locale=locale, domain=DOMAIN, ignore_obsolete=True, abort_invalid=True)


def placeholders(text: str) -> frozenset[str]:
    """The names of the `{named}` placeholders in a format string.

    Raises `ValueError` for a malformed format string (an unmatched brace), for
    positional placeholders (`{}` or `{0}`), which translations cannot reorder safely,
    and for attribute or index access (`{user.name}`, `{items[0]}`), which would let a
    catalog reach into the objects passed as parameters.
    """
    names: set[str] = set()
    for _, field, _, _ in string.Formatter().parse(text):
        if field is None:
            continue
        if not field.isidentifier():
            raise ValueError(f"placeholder {{{field}}} in {text!r} is not a plain name")
        names.add(field)
    return frozenset(names)


def _as_tuple(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def message_problem(message: Message) -> str | None:
    """Why a catalog entry's translation is unusable, or None when it is fine.

    A singular entry's translation must use exactly the msgid's placeholders. Each
    form of a plural entry must use only placeholders of the msgid's forms, and at
    least those the singular and plural msgids share (a language may say "one member"
    without `{n}`, but may not drop or invent a name). Untranslated entries are fine:
    they fall back to English.
    """
    sources = _as_tuple(message.id)
    translations = [form for form in _as_tuple(message.string or "") if form]
    try:
        source_sets = [placeholders(source) for source in sources]
    except ValueError as exc:
        return f"msgid {sources[0]!r}: {exc}"
    allowed = frozenset().union(*source_sets)
    required = frozenset.intersection(*source_sets)
    for form in translations:
        try:
            used = placeholders(form)
        except ValueError as exc:
            return f"msgid {sources[0]!r}: translation {form!r}: {exc}"
        if not message.pluralizable and used != allowed:
            return (
                f"msgid {sources[0]!r}: translation {form!r} uses {sorted(used)},"
                f" not {sorted(allowed)}"
            )
        if message.pluralizable and not required <= used <= allowed:
            return (
                f"msgid {sources[0]!r}: translation {form!r} uses {sorted(used)};"
                f" needs {sorted(required)}, allows {sorted(allowed)}"
            )
    return None


def placeholder_problems(catalog: Catalog) -> list[str]:
    """Every entry of `catalog` whose translation does not match its placeholders."""
    problems = []
    for message in catalog:
        if not message.id:
            continue  # the header
        problem = message_problem(message)
        if problem is not None:
            problems.append(problem)
    return problems


def _translations_of(catalog: Catalog) -> gettext.GNUTranslations:
    """A stdlib gettext object serving `catalog`, without its unusable entries."""
    catalog = copy.deepcopy(catalog)  # the caller's catalog stays as it was
    for message in list(catalog):
        if not message.id:
            continue
        problem = message_problem(message)
        if problem is not None:
            log.error("dropping a bad %s translation: %s", catalog.locale_identifier, problem)
            catalog.delete(message.id, context=message.context)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Translator:
    """Translations and number/date formatting for one locale.

    Call it for a message and use `plural` for counted ones; parameters fill the
    msgid's `{named}` placeholders after translation. Values are inserted as they are
    (format numbers with `number`/`percent` first), except a plural's `n`, which is
    formatted with `number` unless given explicitly.
    """

    def __init__(self, locale: str, translations: gettext.NullTranslations | None = None) -> None:
        self.locale = locale
        self.babel_locale = Locale.parse(locale)
        self._translations = translations or gettext.NullTranslations()

    @classmethod
    def from_catalog(cls, locale: str, catalog: Catalog) -> Translator:
        """A translator serving `catalog` (entries with mismatched placeholders dropped)."""
        return cls(locale, _translations_of(catalog))

    def __repr__(self) -> str:
        return f"Translator({self.locale!r})"

    def __call__(self, msgid: str, /, **params: object) -> str:
        """The translation of `msgid` with `params` filled in (English when missing)."""
        return self._fill(self._translations.gettext(msgid), msgid, params)

    def plural(self, singular: str, plural: str, n: int, /, **params: object) -> str:
        """The form of a counted message that fits `n`, with `params` (and `n`) filled in."""
        params.setdefault("n", self.number(n))
        source = singular if n == 1 else plural
        return self._fill(self._translations.ngettext(singular, plural, n), source, params)

    def _fill(self, text: str, source: str, params: dict[str, object]) -> str:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError, AttributeError):
            if text == source:
                raise  # the call site and its own msgid disagree: a bug to fix there
            log.exception("translation %r of %r failed (%s); using English", text, source, self)
            return source.format(**params)

    def number(self, x: Number, digits: int | None = None) -> str:
        """A number with the locale's separators (at most `digits` decimals; default 3)."""
        if digits is None:
            return format_decimal(x, locale=self.babel_locale)
        pattern = _with_decimals(self.babel_locale.decimal_formats[None], digits)
        return format_decimal(x, format=pattern, locale=self.babel_locale)

    def compact(self, x: Number, digits: int = 1) -> str:
        """A short number for charts and badges (`12K` in English, `1.2万` in Chinese)."""
        return format_compact_decimal(x, locale=self.babel_locale, fraction_digits=digits)

    def percent(self, x: Number, digits: int = 0) -> str:
        """A ratio as a percentage in the locale's style (0.125 -> `12.5%` with digits=1)."""
        pattern = _with_decimals(self.babel_locale.percent_formats[None], digits)
        return format_percent(x, format=pattern, locale=self.babel_locale)

    def date(self, d: _Date, format: str = "medium") -> str:
        """A calendar date (`short`, `medium`, `long`, `full` or a CLDR pattern)."""
        return format_date(d, format=format, locale=self.babel_locale)

    def datetime(self, dt: _DateTime, timezone: str | tzinfo, format: str = "medium") -> str:
        """An aware datetime shown in `timezone` (an IANA name or a tzinfo).

        Raises `ValueError` for a naive datetime or an unknown time zone name.
        """
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise ValueError("datetime must be timezone-aware")
        zone = _zone(timezone)
        return format_datetime(dt, format=format, tzinfo=zone, locale=self.babel_locale)


def _with_decimals(pattern: NumberPattern, digits: int) -> str:
    """The locale's number pattern (sign, grouping, `%` position) with up to `digits` decimals."""
    number = pattern.number_pattern or "#,##0"
    whole = number.split(".", 1)[0]
    fraction = "." + "#" * digits if digits > 0 else ""
    return pattern.pattern.replace(number, whole + fraction, 1)


def _zone(timezone: str | tzinfo) -> tzinfo:
    if not isinstance(timezone, str):
        return timezone
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r}") from exc


@functools.cache
def _translator_for(locale: str) -> Translator:
    if locale == DEFAULT_LOCALE:
        return Translator(locale)
    return Translator.from_catalog(locale, load_catalog(locale))


def translator(locale: str | None) -> Translator:
    """The (cached) translator for a platform locale string, normalised first."""
    return _translator_for(normalize_locale(locale))


# -- segment names -----------------------------------------------------------------------


def N_(message: str) -> str:
    """Mark `message` for extraction; it is translated later, where it is shown."""
    return message


# Trait label (as `recsys.segments` stores it) -> its short label and its description
# template (fields: ratio, value, often), both msgids.
_SEGMENT_TRAITS: dict[str, tuple[str, str]] = {
    "answer often": (N_("answer often"), N_("answer {ratio}× the average")),
    "helpful answers": (N_("helpful answers"), N_("{ratio}× the average helpful answers")),
    "ask often": (N_("ask often"), N_("ask {ratio}× the average")),
    "very active": (N_("very active"), N_("post {ratio}× the average")),
    "rarely post": (N_("rarely post"), N_("rarely post ({value} messages each)")),
    "on many days": (N_("on many days"), N_("active on {value} days each")),
    "reply a lot": (N_("reply a lot"), N_("reply {ratio}× the average")),
    "mention others": (N_("mention others"), N_("mention others {ratio}× the average")),
    "many channels": (N_("many channels"), N_("post in {value} channels each")),
    "well received": (N_("well received"), N_("receive {ratio}× the average reactions")),
    "get replies": (N_("get replies"), N_("get {ratio}× the average replies")),
    "often mentioned": (N_("often mentioned"), N_("mentioned {ratio}× the average")),
    "react a lot": (N_("react a lot"), N_("give {ratio}× the average reactions")),
    "gone quiet": (N_("gone quiet"), N_("quiet for {value} days on average")),
    "long-standing": (N_("long-standing"), N_("members for {value} days on average")),
    "recently joined": (N_("recently joined"), N_("joined {value} days ago on average")),
    "nights": (N_("nights"), N_("{often} at night")),
    "mornings": (N_("mornings"), N_("{often} mornings")),
    "afternoons": (N_("afternoons"), N_("{often} afternoons")),
    "evenings": (N_("evenings"), N_("{often} evenings")),
    "weekends": (N_("weekends"), N_("{often} on weekends")),
}
# Decimals shown for `{value}` per trait (counts of days are whole, messages per member not).
_SEGMENT_VALUE_DIGITS: dict[str, int] = {"rarely post": 1, "many channels": 1}
_SEGMENT_ROLES: dict[str, str] = {
    "helpers": N_("helpers"),
    "askers": N_("askers"),
    "regulars": N_("regulars"),
    "lurkers": N_("lurkers"),
    "repliers": N_("repliers"),
    "explorers": N_("explorers"),
    "cheerleaders": N_("cheerleaders"),
    "veterans": N_("veterans"),
    "newcomers": N_("newcomers"),
}


_RULE_SEGMENTS: dict[str, str] = {
    "newcomers": N_("newcomers"),
    "recently_inactive": N_("recently inactive"),
    "champions": N_("champions"),
}


def _between_cjk(t: Translator, term: str) -> str:
    """A Latin term set between Chinese characters gets a space on each side."""
    if t.locale.startswith("zh") and term.isascii():
        return f" {term} "
    return term


def rule_segment_name(t: Translator, rule: str) -> str:
    """A rule segment's name (newcomers, recently inactive, champions) in `t`'s language."""
    known = _RULE_SEGMENTS.get(rule)
    return t(known) if known else rule.replace("_", " ")


class SegmentText(Protocol):
    """What `segment_name` and `segment_description` read (`recsys.segments.Segment`)."""

    @property
    def id(self) -> int: ...  # noqa: D102
    @property
    def name(self) -> str: ...  # noqa: D102
    @property
    def description(self) -> str: ...  # noqa: D102
    @property
    def size(self) -> int: ...  # noqa: D102
    @property
    def top_terms(self) -> tuple[str, ...]: ...  # noqa: D102
    @property
    def traits(self) -> tuple[str, ...]: ...  # noqa: D102
    @property
    def head(self) -> str: ...  # noqa: D102
    @property
    def role(self) -> str: ...  # noqa: D102
    @property
    def facts(self) -> tuple[tuple[str, float, float], ...]: ...  # noqa: D102
    @property
    def qualifier(self) -> str: ...  # noqa: D102
    @property
    def numbered(self) -> bool: ...  # noqa: D102


def _segment_trait(t: Translator, label: str) -> str:
    known = _SEGMENT_TRAITS.get(label)
    return t(known[0]) if known else label


def segment_name(t: Translator, segment: SegmentText, *, alone: bool = False) -> str:
    """A segment's name in `t`'s language ("Rust helpers — evenings, answer often").

    `alone` is for the only segment of a community ("Everyone"). Segments saved before
    names had parts (no traits and no head) keep their stored English name.
    """
    if t.locale == DEFAULT_LOCALE or not (segment.traits or segment.head or segment.role):
        return segment.name
    if alone or segment.name.startswith("Everyone"):
        base = t("Everyone")
    else:
        role = _SEGMENT_ROLES.get(segment.role)
        if segment.head:
            base = t(
                "{term} {role}",
                term=_between_cjk(t, segment.head),
                role=t(role) if role else t("members"),
            )
        else:
            base = t(role) if role else t("Members")
    shown = [_segment_trait(t, label) for label in segment.traits[:2]]
    name = t("{name} — {traits}", name=base, traits=t(", ").join(shown)) if shown else base
    if segment.qualifier:
        qualifier = _segment_trait(t, segment.qualifier)
        name = t("{name} ({detail})", name=name, detail=qualifier)
    if segment.numbered:
        name = f"{name} #{segment.id}"
    return name


def segment_description(t: Translator, segment: SegmentText) -> str:
    """A segment's one-line description in `t`'s language ("31 members · answer 1.7× ...")."""
    if t.locale == DEFAULT_LOCALE or not (segment.facts or segment.top_terms):
        return segment.description
    parts = [t.plural("{n} member", "{n} members", segment.size)]
    for label, value, average in segment.facts:
        known = _SEGMENT_TRAITS.get(label)
        if known is None:
            continue
        ratio = value / average if average > 0 else float("nan")
        parts.append(
            t(
                known[1],
                ratio=t.number(ratio, 0 if ratio >= 10 else 1),
                value=t.number(value, _SEGMENT_VALUE_DIGITS.get(label, 0)),
                often=t("mostly") if value >= 0.5 else t("often"),
            )
        )
    if segment.top_terms:
        terms = t(", ").join(segment.top_terms[:3])
        parts.append(t("talk about {terms}", terms=terms))
    return " · ".join(parts)
