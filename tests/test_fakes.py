"""The suite's own rules: one fake per network edge, and adapter tests mirror the source.

The fakes in `tests/fakes` stand in for Telegram's Bot API (PTB's `BaseRequest`),
Discord's network (discord.py's `HTTPClient` and webhook adapter), a delivery
transport (`send(delivery)`) and an event sink (`ingest(event)`). A second fake of the
same edge elsewhere drifts from the first: extend the shared one instead (a subclass
of `RecordingTransport` or `RecordingSink` for one test's special behaviour is fine).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
FAKES = TESTS / "fakes"
SHARED = frozenset({"RecordingTransport", "RecordingSink"})
# What only the network fakes may patch: discord.py's doors to Discord.
DOORS = frozenset({"request", "ws_connect"})


def _base_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.add(base.id)
        elif isinstance(base, ast.Attribute):
            names.add(base.attr)
    return names


def _methods(node: ast.ClassDef) -> dict[str, list[str]]:
    return {
        item.name: [arg.arg for arg in item.args.args]
        for item in node.body
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def edge_fakes(source: str) -> list[str]:
    """Every fake of a network edge defined in `source`, as `line: what`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            bases, methods = _base_names(node), _methods(node)
            if bases & SHARED:
                continue
            if "BaseRequest" in bases or "do_request" in methods:
                found.append(f"{node.lineno}: Telegram Bot API fake {node.name}")
            elif methods.get("send", [])[1:2] == ["delivery"]:
                found.append(f"{node.lineno}: delivery transport {node.name}")
            elif methods.get("ingest", [])[1:2] == ["event"]:
                found.append(f"{node.lineno}: event sink {node.name}")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "setattr":
            args = node.args
            if len(args) >= 2 and isinstance(args[1], ast.Constant) and args[1].value in DOORS:
                found.append(f"{node.lineno}: patches discord.py's {args[1].value}")
    return found


def test_edge_fakes_are_recognised() -> None:
    """The scan finds each kind of edge fake, and lets the shared ones be extended."""
    source = """
class Api(BaseRequest): ...
class Net:
    async def do_request(self, url): ...
class Transport:
    async def send(self, delivery): ...
class Sink:
    def ingest(self, event): ...
class Slow(RecordingTransport):
    async def send(self, delivery): ...
def install(monkeypatch):
    monkeypatch.setattr(discord.http.HTTPClient, "ws_connect", connect)
"""
    assert edge_fakes(source) == [
        "2: Telegram Bot API fake Api",
        "3: Telegram Bot API fake Net",
        "5: delivery transport Transport",
        "7: event sink Sink",
        "12: patches discord.py's ws_connect",
    ]


def test_one_fake_per_network_edge() -> None:
    """Outside `tests/fakes` no test defines its own Bot API, Discord, transport or sink fake."""
    found = [
        f"{path.relative_to(ROOT)}:{where}"
        for path in sorted(TESTS.rglob("*.py"))
        if FAKES not in path.parents
        for where in edge_fakes(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "use (or extend) the fake in tests/fakes:\n" + "\n".join(found)


def test_adapter_tests_mirror_the_adapter_modules() -> None:
    """Tests of bot/adapters/<platform>/<m>.py are named tests/adapters/<platform>/test_<m>*.py."""
    adapters = ROOT / "bot" / "adapters"
    stray = []
    for path in sorted((TESTS / "adapters").rglob("test_*.py")):
        platform = path.parent.name
        modules = {m.stem for m in (adapters / platform).glob("*.py") if m.stem != "__init__"}
        stem = path.stem.removeprefix("test_")
        if not any(stem == m or stem.startswith(f"{m}_") for m in modules):
            stray.append(str(path.relative_to(ROOT)))
    assert stray == [], "name adapter tests after the module they test:\n" + "\n".join(stray)
