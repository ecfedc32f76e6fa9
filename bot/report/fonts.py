"""A font that draws Chinese in charts, found at run time with matplotlib's font manager.

matplotlib's bundled DejaVu Sans has no CJK glyphs, so Chinese labels (a Chinese
report, a Chinese channel name or topic in an English one) would be drawn as empty
boxes. `family()` returns the font list charts use: DejaVu Sans first, then the first
CJK font installed, which matplotlib (3.6+) falls back to glyph by glyph.

Cohort depends on `noto-cjk-sans-otc`, a wheel that carries Google's Noto Sans CJK
font file (SIL Open Font License) and nothing else, so every install can draw
Chinese, whatever fonts the machine has. An installed system font is preferred; the
bundled file is registered when none is found. Fonts installed after matplotlib built
its font cache are not in that cache, so well-known font files are also looked for on
disk and added (Debian's `fonts-noto-cjk` or `fonts-wqy-zenhei`). Without any (the
wheel removed), charts still render: one warning is logged, Chinese text shows as
boxes, and matplotlib's warning per missing glyph is not repeated.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

log = logging.getLogger(__name__)

BASE_FONT = "DejaVu Sans"
# Preferred CJK families, best first (Simplified Chinese variants before others).
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "Noto Sans CJK JP",
)
# Font files of those families as Debian installs them (looked for when the cache misses).
CJK_FILES = (
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "wqy-zenhei.ttc",
    "wqy-microhei.ttc",
    "DroidSansFallbackFull.ttf",
    "uming.ttc",
)
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
# The wheel that ships a CJK font file with Cohort, and that file's name in it.
BUNDLED_PACKAGE = "noto_cjk_sans_otc"
BUNDLED_FILE = "NotoSansCJK-Regular.ttc"


def _installed_families() -> set[str]:
    from matplotlib import font_manager

    return {entry.name for entry in font_manager.fontManager.ttflist}


def _first_installed() -> str | None:
    """The first of `CJK_FAMILIES` matplotlib knows, if any."""
    families = _installed_families()
    return next((family for family in CJK_FAMILIES if family in families), None)


def _add_known_files() -> None:
    """Register CJK font files on disk that matplotlib's cached font list does not have."""
    from matplotlib import font_manager

    known = {Path(entry.fname).name for entry in font_manager.fontManager.ttflist}
    for folder in FONT_DIRS:
        if not folder.is_dir():
            continue
        for name in CJK_FILES:
            if name in known:
                continue
            for path in folder.rglob(name):
                try:
                    font_manager.fontManager.addfont(str(path))
                except (OSError, RuntimeError, ValueError) as exc:
                    log.debug("could not add font %s: %s", path, exc)


def _add_bundled() -> None:
    """Register the font file shipped in `BUNDLED_PACKAGE`, when that package is installed."""
    import importlib.resources
    import importlib.util

    from matplotlib import font_manager

    if importlib.util.find_spec(BUNDLED_PACKAGE) is None:
        return
    path = importlib.resources.files(BUNDLED_PACKAGE).joinpath(BUNDLED_FILE)
    try:
        font_manager.fontManager.addfont(str(path))
    except (OSError, RuntimeError, ValueError) as exc:
        log.debug("could not add the bundled font %s: %s", path, exc)


class _WeightNotice(logging.Filter):
    """Drops matplotlib's notice that a CJK font has no exact "normal" weight.

    WenQuanYi Zen Hei, for one, only comes in weight 500; matplotlib uses it anyway
    but logs a warning for every label drawn with it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("findfont: Failed to find font weight")


@functools.cache
def cjk_family() -> str | None:
    """The installed CJK font family charts fall back to (None: none found, logged once)."""
    found = _first_installed()
    for register in (_add_known_files, _add_bundled):  # until one gives a CJK font
        if found is None:
            register()
            found = _first_installed()
    if found is not None:
        logging.getLogger("matplotlib.font_manager").addFilter(_WeightNotice())
    else:
        log.warning(
            "no CJK font found: Chinese text in charts will show as boxes "
            "(reinstall Cohort, which ships one, or install fonts-noto-cjk)"
        )
    return found


def family() -> list[str]:
    """The font family list for charts: the base font, then the CJK fallback if any."""
    cjk = cjk_family()
    return [BASE_FONT, cjk] if cjk else [BASE_FONT]
