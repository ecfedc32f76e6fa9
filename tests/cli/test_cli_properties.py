"""Property tests: whatever text or integers an operator types, the CLI never shows a traceback.

Every command that takes free-form values is run in-process, as `cohort` would run
it, against a copy of one small trained SQLite store (built once for the module). It
must exit 0 (done), 1 (our one `error:` line) or 2 (a usage error from the command
line parser), and a failure must leave the database exactly as it was.

Text covers what a shell can pass: any character but NUL, including the lone
surrogates Python makes of argv bytes that are not UTF-8.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.cli.main import app

runner = CliRunner()

ARGV_CHARACTERS = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
UNDECODABLE_BYTES = st.sampled_from([chr(code) for code in range(0xDC80, 0xDD00)])
TEXT = st.text(alphabet=ARGV_CHARACTERS | UNDECODABLE_BYTES, max_size=40)
LONG = st.builds(lambda char, n: char * n, ARGV_CHARACTERS, st.integers(60, 20_000))
INTEGERS = st.integers(-(2**70), 2**70) | st.integers(-5, 4000)
MEMBERS = 6
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def free_text(*plausible: str) -> st.SearchStrategy[str]:
    """Arbitrary text, very long text, and values that get past the first checks."""
    return (
        TEXT
        | LONG
        | st.sampled_from(plausible)
        | st.sampled_from(plausible).flatmap(lambda start: TEXT.map(lambda rest: start + rest))
    )


def cohort(folder: Path, *args: str) -> tuple[int, str]:
    """Run `cohort -c folder/config.toml ARGS` in-process: (exit code, stderr)."""
    result = runner.invoke(app, ["-c", str(folder / "config.toml"), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback the operator would have seen
    return result.exit_code, result.stderr


def dump(folder: Path) -> list[str]:
    with sqlite3.connect(folder / "cohort.db") as db:
        return list(db.iterdump())


class Base:
    """The module's store: its folder and its dump (short repr for Hypothesis reports)."""

    def __init__(self, folder: Path, dump: list[str]) -> None:
        self.folder, self.dump = folder, dump

    def __repr__(self) -> str:
        return f"Base({self.folder})"


@pytest.fixture(scope="module")
def base() -> Iterator[Base]:
    """A trained store: catalog, six consenting members' chat, a digest channel; its dump."""
    folder = Path(tempfile.mkdtemp(prefix="cohort-cli-properties-"))
    (folder / "config.toml").write_text(
        '[database]\nurl = "sqlite+aiosqlite:///cohort.db"\n', encoding="utf-8"
    )
    catalog = Path(__file__).resolve().parents[2] / "bot" / "demo" / "data" / "courses.toml"
    topics = ["rust async tokio", "python asyncio", "go channels", "postgres indexes"]
    events: list[dict[str, object]] = [
        {
            "type": "consent",
            "platform": "discord",
            "community": "g1",
            "member": f"u{n}",
            "profiling": True,
            "dm": True,
            "ts": "2024-04-01T09:00:00Z",
        }
        for n in range(MEMBERS)
    ]
    events += [
        {
            "type": "message",
            "platform": "discord",
            "community": "g1",
            "channel": "c1",
            "member": f"u{n}",
            "name": f"user{n}",
            "id": f"m{day}-{n}",
            "ts": f"2024-04-{day + 2:02d}T10:{n:02d}:00Z",
            "text": f"{topics[(n + day) % len(topics)]} question",
        }
        for day in range(20)
        for n in range(MEMBERS)
    ]
    (folder / "events.jsonl").write_text(
        "".join(json.dumps(event) + "\n" for event in events), encoding="utf-8"
    )
    for step in (
        ("courses", "import", str(catalog)),
        ("import", "events", str(folder / "events.jsonl")),
        ("digest", "schedule", "--community", "discord:g1", "--channel", "c1"),
        ("train",),
    ):
        code, err = cohort(folder, *step)
        assert code == 0, err
    try:
        yield Base(folder, dump(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check(base: Base, *args: str) -> None:
    """ARGS on a copy of the store: exit 0, 1 (one `error:` line) or 2; failing changes nothing."""
    original, before = base.folder, base.dump
    with tempfile.TemporaryDirectory(prefix="cohort-example-") as scratch:
        folder = Path(scratch) / "store"
        shutil.copytree(original, folder)
        code, err = cohort(folder, *args)
        assert code in (0, 1, 2), (code, err)
        lines = err.strip().splitlines()
        one_line = len(lines) == 1 and lines[0].startswith("error: ")
        if code == 1:
            assert one_line, err
        if code == 2:  # our one line, or the parser's usage error naming the option
            assert one_line or (lines[0].startswith("Usage: ") and "Error" in err), err
        if code != 0:
            assert dump(folder) == before, f"exit {code} changed the database: {err}"


@EXAMPLES
@given(
    st.sampled_from(["--timezone", "--channel", "--locale", "--cron"]),
    free_text("UTC", "Europe/Berlin", "c1", "en", "zh_Hans", "0 9 * * MON", "*/5 * * * *"),
)
def test_digest_schedule_takes_any_value(base: Base, option: str, value: str) -> None:
    """`digest schedule` with any timezone, channel, locale or cron: no traceback."""
    check(base, "digest", "schedule", "--community", "discord:g1", option, value)


@EXAMPLES
@given(
    free_text("2024-05-06", "2024-05-06T09:00:00+00:00", "9999-12-31", "0001-01-01")
    | st.datetimes().map(lambda at: at.isoformat())
)
def test_digest_run_takes_any_period(base: Base, period: str) -> None:
    """`digest run --period` with any text or date: no traceback."""
    check(base, "digest", "run", "--community", "discord:g1", "--period", period)


@EXAMPLES
@given(INTEGERS)
def test_funnel_takes_any_days(base: Base, days: int) -> None:
    """`funnel --days` with any integer: no traceback."""
    check(base, "funnel", "--days", str(days))


@EXAMPLES
@given(free_text("discord:u1", "discord:", "telegram:", "discord:u", "x:y"))
@example("discord:0\n0")  # found by Hypothesis: a line break in the one error line
def test_privacy_forget_takes_any_member(base: Base, member: str) -> None:
    """`privacy forget ID --yes` with any id: no traceback, nothing erased on failure."""
    check(base, "privacy", "forget", member, "--yes")


@EXAMPLES
@given(free_text("discord:u1", "discord:", "telegram:", "discord:u", "x:y"))
@example("DISCORD:0\x850")  # found by Hypothesis: U+0085 breaks the line too
def test_recommend_takes_any_member(base: Base, member: str) -> None:
    """`recommend ID` with any id: no traceback."""
    check(base, "recommend", member)


@EXAMPLES
@given(
    free_text("rust-101", "python-async", "status"),
    free_text("opted-in", "top:", "top:3", "segment:", "channel:", "channel:c1"),
)
def test_promote_takes_any_course_and_audience(base: Base, course: str, audience: str) -> None:
    """`promote COURSE --audience A --yes` with any values: no traceback."""
    check(base, "promote", course, "--audience", audience, "--yes")


@EXAMPLES
@given(
    free_text("members", "segments", "scores", "funnel", "deliveries"),
    free_text("csv", "json"),
)
def test_export_takes_any_kind_and_format(base: Base, kind: str, format_: str) -> None:
    """`export KIND --format F` with any values: no traceback."""
    check(base, "export", kind, "--format", format_)


@settings(EXAMPLES, max_examples=12)
@given(INTEGERS, free_text("en", "zh_Hans"))
def test_report_takes_any_days_and_locale(base: Base, days: int, locale: str) -> None:
    """`report --days N --locale L` with any values: no traceback."""
    with tempfile.TemporaryDirectory(prefix="cohort-report-") as out:
        check(base, "report", "--days", str(days), "--locale", locale, "--out", f"{out}/r.html")
