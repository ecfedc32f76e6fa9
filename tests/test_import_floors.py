"""Lower floors never import higher ones (docs/architecture.md, "Floors").

Every `import` in `bot/` and `recsys/` is checked, including the lazy ones inside
functions, because a lazy import is still an arrow. A module may import its own
floor and the floors below it; `recsys` is a library and imports nothing of `bot`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Lowest first. A package not listed falls back to its parent (`bot.core.services`
# is `bot.core`); `bot` itself is the package's metadata.
FLOORS: dict[str, int] = {
    "bot": 0,
    "bot.errors": 0,
    "bot.config": 0,
    "bot.i18n": 0,
    "bot.logging_setup": 0,
    "bot.domain": 1,
    "bot.store": 2,
    "bot.training": 3,
    "bot.core": 4,
    "bot.report": 4,
    "bot.app": 5,
    "bot.adapters": 6,
    "bot.importers": 6,
    "bot.web": 6,
    "bot.demo": 6,
    "bot.serve": 6,
    "bot.cli": 6,
    "bot.__main__": 6,
}
FLOOR_NAMES = {
    0: "settings and errors",
    1: "domain",
    2: "store",
    3: "training",
    4: "services",
    5: "composition root",
    6: "edges",
}


@dataclass(frozen=True)
class Arrow:
    """One import that points up (or out of the library)."""

    path: str
    line: int
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.imported}: {self.why}"


def floor_of(module: str) -> int | None:
    """The floor of a `bot` module (None outside `bot`)."""
    parts = module.split(".")
    while parts:
        name = ".".join(parts)
        if name in FLOORS:
            return FLOORS[name]
        parts.pop()
    return None


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import in a parsed file, lazy ones included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def upward_arrows(source: str, module: str, path: str) -> list[Arrow]:
    """Imports in `source` (the text of `module`) that break the floor rules."""
    arrows: list[Arrow] = []
    own = floor_of(module)
    for line, imported in imported_modules(ast.parse(source)):
        if module.startswith("recsys") and imported.split(".")[0] == "bot":
            arrows.append(Arrow(path, line, imported, "recsys never imports bot"))
            continue
        target = floor_of(imported) if imported.split(".")[0] == "bot" else None
        if own is not None and target is not None and target > own:
            arrows.append(
                Arrow(
                    path,
                    line,
                    imported,
                    f"{FLOOR_NAMES[own]} (floor {own}) may not import "
                    f"{FLOOR_NAMES[target]} (floor {target})",
                )
            )
    return sorted(set(arrows), key=lambda a: (a.path, a.line, a.imported))


def module_name(path: Path) -> str:
    """`bot/core/services/promote.py` -> `bot.core.services.promote`."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_a_higher_floor() -> None:
    """Nothing in bot/ or recsys/ imports upward: services never import the root, etc."""
    arrows: list[Arrow] = []
    for package in ("bot", "recsys"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = module_name(path)
            source = path.read_text(encoding="utf-8")
            arrows.extend(upward_arrows(source, module, str(path.relative_to(ROOT))))
    assert not arrows, "upward imports:\n" + "\n".join(map(str, arrows))


def test_every_bot_package_has_a_floor() -> None:
    """A new top-level package under bot/ must be placed on a floor here and in the docs."""
    packages = {
        f"bot.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "bot").iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "__init__.py"
    }
    assert not sorted(packages - set(FLOORS))


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from bot.app import Cohort\n", "bot.core.services.context", "bot.app.Cohort"),
        ("def f():\n    from bot.core.services import promote\n", "bot.store.outbox", "bot.core"),
        ("import bot.adapters.discord\n", "bot.training.train", "bot.adapters.discord"),
        ("from bot.domain.events import Event\n", "recsys.data", "bot.domain.events"),
    ],
)
def test_the_check_finds_upward_and_lazy_imports(source: str, module: str, expected: str) -> None:
    """Top-level, lazy and plain imports that point up are all found."""
    arrows = upward_arrows(source, module, "x.py")
    assert any(a.imported.startswith(expected) for a in arrows), arrows


def test_the_check_allows_same_and_lower_floors() -> None:
    """Importing the domain from the store, or the store from services, is fine."""
    source = "from bot.domain.events import Event\nfrom bot.store import outbox\n"
    assert upward_arrows(source, "bot.core.services.promote", "x.py") == []
    assert upward_arrows("from bot.domain import events\n", "bot.store.writer", "x.py") == []
