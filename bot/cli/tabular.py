"""Export tables as CSV (safe to open in a spreadsheet) or JSON (raw values).

CSV cells that a spreadsheet would read as a formula (text starting with `=`, `+`,
`-`, `@`, a tab or a carriage return; OWASP's CSV injection guidance) get a leading
`'`, so they show as text. Numbers, booleans and empty cells are written as they are:
only text can carry a formula. JSON is a list of objects with every column, unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum

from bot.core.services.exports import Cell, ExportTable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class TableFormat(StrEnum):
    """How `cohort export` writes a table."""

    csv = "csv"
    json = "json"


def neutralised(value: Cell) -> str:
    """One CSV cell: text a spreadsheet would evaluate is prefixed with `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _ordered(table: ExportTable) -> list[dict[str, Cell]]:
    return [{column: row.get(column) for column in table.columns} for row in table.rows]


def as_csv(table: ExportTable) -> str:
    """The table as CSV text with a header row (RFC 4180 quoting, CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    for row in _ordered(table):
        writer.writerow(neutralised(row[column]) for column in table.columns)
    return buffer.getvalue()


def as_json(table: ExportTable) -> str:
    """The table as a JSON list of objects, values unchanged."""
    return json.dumps(_ordered(table), ensure_ascii=False, indent=2) + "\n"


def render(table: ExportTable, output: TableFormat) -> str:
    """The table in the chosen format."""
    return as_csv(table) if output is TableFormat.csv else as_json(table)
