"""Charts: Chinese labels render with a CJK font; without one, one log line and still a chart."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from PIL import Image

from bot.i18n import translator
from bot.report import charts, fonts
from bot.report.data import Snapshot

TERMS = (("异步编程", 30), ("并发", 21), ("rust", 12))


@pytest.fixture
def fresh_font_lookup() -> Iterator[None]:
    """Forget which CJK font was found, before and after the test."""
    fonts.cjk_family.cache_clear()
    yield
    fonts.cjk_family.cache_clear()


def test_chinese_labels_have_every_glyph(fresh_font_lookup: None) -> None:
    """A chart with Chinese terms and labels draws every glyph (no "Glyph missing")."""
    t = translator("zh_Hans")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns per missing glyph
        png = charts.topics(TERMS, t)
    assert png is not None and fonts.cjk_family() is not None
    assert Image.open(io.BytesIO(png), formats=["PNG"]).width > 300


def test_the_bundled_font_draws_chinese_without_any_system_font(
    fresh_font_lookup: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No system CJK font: the font shipped in Cohort's dependency draws every glyph."""
    from matplotlib import font_manager

    system = [e for e in font_manager.fontManager.ttflist if "CJK" in e.name or "Hei" in e.name]
    monkeypatch.setattr(
        font_manager.fontManager,
        "ttflist",
        [e for e in font_manager.fontManager.ttflist if e not in system],
    )
    monkeypatch.setattr(fonts, "CJK_FILES", ())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = charts.topics(TERMS, translator("zh_Hans"))
    assert png is not None
    assert fonts.cjk_family() == "Noto Sans CJK SC"
    (entry,) = {e.fname for e in font_manager.fontManager.ttflist if e.name == "Noto Sans CJK SC"}
    assert fonts.BUNDLED_PACKAGE in entry


def test_without_a_cjk_font_one_line_is_logged_and_charts_still_render(
    fresh_font_lookup: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No CJK font at all: one warning naming the fix, no warning per glyph, a valid chart."""
    monkeypatch.setattr(fonts, "CJK_FAMILIES", ("No Such CJK Font",))
    monkeypatch.setattr(fonts, "CJK_FILES", ())
    monkeypatch.setattr(fonts, "BUNDLED_PACKAGE", "no_such_font_package")
    with caplog.at_level(logging.WARNING, logger="bot.report.fonts"):
        assert fonts.family() == [fonts.BASE_FONT]
        assert fonts.family() == [fonts.BASE_FONT]
        days = tuple(date(2026, 11, 1) + timedelta(days=i) for i in range(7))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the per-glyph warnings are not repeated
            png = charts.insights(Snapshot(days, (3, 5, 0, 2, 8, 1, 4), TERMS), translator("en"))
    assert png is not None and Image.open(io.BytesIO(png), formats=["PNG"]).height > 100
    (record,) = [r for r in caplog.records if r.name == "bot.report.fonts"]
    assert "fonts-noto-cjk" in record.getMessage()


def test_nothing_to_draw_is_none() -> None:
    """Empty data gives no chart (the page shows a note instead)."""
    t = translator("en")
    assert charts.topics((), t) is None
    assert charts.insights(Snapshot((), (), ()), t) is None
