"""Services and the CLI reach the trained model only through `bot.training.facade`.

Learned state (scikit-learn style: attributes ending in `_`, such as `courses_`,
`owned_`, `components_`, `members_`), the bundle's ranker and the ranker modules
belong to `recsys` and `bot.training`. If `bot/core` or `bot/cli` read them, a change
in how the ranking is made would break a service: add what is missing to
`TrainedModel` instead.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"
CHECKED = ("core", "cli")
# SQLAlchemy's operators end in `_` too (`column.in_(...)`); they are not learned state.
SQL_OPERATORS = frozenset({"in_", "is_", "notin_", "isnot_", "and_", "or_", "not_"})
# Attributes that hand out the model's internals instead of asking the facade.
INTERNAL_ATTRIBUTES = frozenset({"ranker", "recommender", "component_scores", "score_rows"})
FORBIDDEN_MODULES = ("recsys.rankers", "bot.training.recommender")
# Functions exempt from a rule, with the reason. `evaluate` compares freshly fitted
# rankers offline (it never uses the trained model), so it imports them.
EXEMPT: dict[tuple[str, str], str] = {
    ("cli/recsys_cmds.py", "evaluate"): "offline evaluation builds its own rankers",
}


@dataclass(frozen=True)
class Violation:
    """One reach into the model's internals."""

    path: str
    line: int
    function: str
    what: str

    def __str__(self) -> str:
        return f"bot/{self.path}:{self.line} ({self.function}): {self.what}"


def internals_used(source: str, path: str) -> list[Violation]:
    """Every access to learned state, ranker internals or ranker modules in `source`."""
    found: list[Violation] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and function == "<module>":
            function = node.name
        what = None
        if isinstance(node, ast.Attribute):
            name = node.attr
            learned = name.endswith("_") and not name.endswith("__") and name[0] != "_"
            if learned and name not in SQL_OPERATORS:
                what = f"learned state .{name}"
            elif name in INTERNAL_ATTRIBUTES:
                what = f"model internals .{name}"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
            )
            hit = next((m for m in modules if m.startswith(FORBIDDEN_MODULES)), None)
            if hit is not None:
                what = f"import of {hit}"
        if what is not None and (path, function) not in EXEMPT:
            found.append(Violation(path, getattr(node, "lineno", 0), function, what))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(ast.parse(source), "<module>")
    return found


def test_services_and_cli_do_not_touch_model_internals() -> None:
    """No module under bot/core or bot/cli reads ranker internals: only the facade."""
    violations: list[Violation] = []
    for package in CHECKED:
        for file in sorted((BOT / package).rglob("*.py")):
            path = file.relative_to(BOT).as_posix()
            violations += internals_used(file.read_text("utf-8"), path)
    assert not violations, "use bot.training.facade.TrainedModel instead:\n" + "\n".join(
        map(str, violations)
    )


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("def f(bundle):\n    return bundle.ranker.members_.ids\n", "learned state .members_"),
        ("def f(r):\n    return r.owned_[0]\n", "learned state .owned_"),
        ("def f(b):\n    return b.ranker\n", "model internals .ranker"),
        ("from recsys.rankers.content import ContentRanker\n", "import of recsys.rankers.content"),
        ("import recsys.rankers.blend\n", "import of recsys.rankers.blend"),
        ("async def f(m):\n    return m.components_\n", "learned state .components_"),
    ],
)
def test_the_check_finds_reaches_into_internals(source: str, what: str) -> None:
    """The checker itself flags learned state, internals and ranker imports."""
    found = internals_used(source, "core/services/example.py")
    assert what in [v.what for v in found]


def test_the_check_allows_facade_calls_and_sql_operators() -> None:
    """Facade calls, dunder names and SQLAlchemy's `in_`/`is_` are not violations."""
    source = (
        "async def f(models, c):\n"
        "    model = await models.current()\n"
        "    keys = model.top_members('x', 3, among=set())\n"
        "    return c.in_(keys), c.is_(None), type(model).__name__\n"
    )
    assert internals_used(source, "core/services/example.py") == []
