"""`cohort export` tables: consent respected, CSV safe for spreadsheets, on both backends."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

from bot.cli.tabular import TableFormat, as_csv, neutralised, render
from bot.core.services.exports import ExportKind, ExportService, ExportTable
from bot.core.services.suite import Services
from bot.demo import synthetic
from bot.store.communities import find_community
from bot.store.members import find_member
from bot.store.outbox import NewDelivery, enqueue
from tests.core.services.conftest import NOW, import_community, load_catalog, train_model
from tests.helpers import consent, message, write

FORMULA = '=HYPERLINK("http://evil.example","click")'


def exports(services: Services) -> ExportService:
    """The export service over the test's services."""
    return ExportService(services.context, services.funnel)


def parsed(table: ExportTable) -> list[dict[str, str]]:
    """The table written as CSV and read back with the csv module."""
    return list(csv.DictReader(io.StringIO(as_csv(table), newline="")))


async def community_with_a_formula_and_an_objection(
    services: Services, tmp_path: Path
) -> tuple[synthetic.Community, str, synthetic.Member]:
    """An imported community where a new consenting member is named like a formula.

    Returns the community, the formula member's id, and a consenting member who will
    object (not yet).
    """
    cohort = services.context.cohort
    await load_catalog(cohort)
    generated = await import_community(cohort, tmp_path, members=30)
    place = generated.id
    when = NOW - timedelta(hours=1)
    await write(
        cohort,
        consent("evil", community=place, ts=when - timedelta(minutes=1)),
        message(member="evil", member_name=FORMULA, community=place, ts=when, text="hi rust"),
    )
    objector = next(m for m in generated.members if m.profiling)
    return generated, "evil", objector


async def objects(services: Services, community: str, member: str) -> None:
    """The member objects to profiling now (their rows stay until they ask for erasure)."""
    await write(
        services.context.cohort,
        consent(member, profiling=False, community=community, ts=NOW - timedelta(minutes=5)),
    )


async def test_members_export_names_only_consenting_members_and_neutralises_formulas(
    services: Services, tmp_path: Path
) -> None:
    """Members who never consented or objected are not in the export; a formula name is text."""
    generated, evil, objector = await community_with_a_formula_and_an_objection(services, tmp_path)
    await objects(services, generated.id, objector.id)
    table = await exports(services).export(ExportKind.members)
    rows = parsed(table)
    assert list(rows[0]) == list(table.columns)
    named = {row["member"] for row in rows}
    consenting = {f"discord:{m.id}" for m in generated.members if m.profiling}
    assert named == (consenting - {f"discord:{objector.id}"}) | {f"discord:{evil}"}
    assert table.unnamed >= 1  # the objector's stored membership
    text = as_csv(table)
    for member in generated.members:
        if not member.profiling or member is objector:
            assert member.id not in text and member.name not in text
    [row] = [row for row in rows if row["member"] == f"discord:{evil}"]
    assert row["name"] == "'" + FORMULA
    assert row["consent_profiling"] == "true" and int(row["messages"]) == 1
    raw = json.loads(render(table, TableFormat.json))
    assert next(r for r in raw if r["member"] == f"discord:{evil}")["name"] == FORMULA


async def test_segments_and_scores_leave_out_a_member_who_objected_after_training(
    services: Services, tmp_path: Path
) -> None:
    """The model still holds a member who objected since training; the exports do not name them."""
    generated, evil, objector = await community_with_a_formula_and_an_objection(services, tmp_path)
    await train_model(services)
    before = await exports(services).export(ExportKind.segments)
    assert f"discord:{objector.id}" in {row["member"] for row in parsed(before)}
    await objects(services, generated.id, objector.id)
    for kind in (ExportKind.segments, ExportKind.scores):
        table = await exports(services).export(kind)
        rows = parsed(table)
        assert rows and table.unnamed >= 1
        assert all(row["community"] == f"discord:{generated.id}" for row in rows)
        assert objector.id not in as_csv(table) and objector.name not in as_csv(table)
        named = {row["member"] for row in rows}
        assert named <= {f"discord:{m.id}" for m in generated.members if m.profiling} | {
            f"discord:{evil}"
        }
    scores = parsed(await exports(services).export(ExportKind.scores, k=2))
    assert all(row["pick_1"] and float(row["pick_1_score"]) >= 0 for row in scores)
    assert {"pick_2", "pick_2_score"} <= set(scores[0]) and "pick_3" not in scores[0]


async def test_deliveries_name_only_identified_recipients(
    services: Services, tmp_path: Path
) -> None:
    """A delivery to a member who objected since keeps its row but not their identity."""
    generated, _, objector = await community_with_a_formula_and_an_objection(services, tmp_path)
    other = next(m for m in generated.members if m.profiling and m is not objector)
    cohort = services.context.cohort
    async with cohort.store.read() as conn:
        place = await find_community(conn, "discord", generated.id)
        ids = [await find_member(conn, "discord", m.id) for m in (objector, other)]
    assert place is not None and all(ids)
    queued = [
        NewDelivery(
            "dm", "promotion", {"reply": None}, f"k{n}", place.id, member.id, None, "rust-101"
        )
        for n, member in enumerate(ids)
        if member is not None
    ]
    async with cohort.store.write() as conn:
        await enqueue(conn, queued, NOW)
    await objects(services, generated.id, objector.id)
    table = await exports(services).export(ExportKind.deliveries)
    rows = parsed(table)
    assert [row["recipient"] for row in rows] == ["", f"discord:{other.id}"]
    assert all(row["status"] == "pending" and row["course"] == "rust-101" for row in rows)
    assert table.unnamed == 1 and objector.id not in as_csv(table)


async def test_funnel_export_has_one_row_per_variant(services: Services, tmp_path: Path) -> None:
    """The funnel table carries counts and interval bounds as numbers, nobody's identity."""
    generated, _, _ = await community_with_a_formula_and_an_objection(services, tmp_path)
    table = await exports(services).export(ExportKind.funnel)
    rows = parsed(table)
    assert {row["variant"] for row in rows} == {"organic"}  # imported purchases, no picks shown
    assert int(rows[0]["purchases"]) == len(generated.purchases)
    assert all(m.id not in as_csv(table) for m in generated.members)


def test_every_formula_start_is_neutralised_and_numbers_are_not() -> None:
    """Text starting with = + - @ tab or CR gets a quote; numbers, booleans and None do not."""
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert neutralised(f"{start}1+1") == f"'{start}1+1"
    assert neutralised("rust-101") == "rust-101"
    assert (neutralised(-0.5), neutralised(-3), neutralised(True), neutralised(None)) == (
        "-0.5",
        "-3",
        "true",
        "",
    )
