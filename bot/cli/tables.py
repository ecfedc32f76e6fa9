"""Rich tables for the terminal that never hide what the next command needs.

Id columns (members, courses, communities) are never wrapped or shortened: they are
copied into the next command. Every other column wraps, and a word too long for its
column is folded onto the next line rather than cut with an ellipsis. Cells and titles
are plain text: a member named `[bold]x` is shown as such, not read as markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.table import Table

Justify = Literal["left", "center", "right"]


def table(
    *headers: str,
    ids: tuple[str, ...] = (),
    numbers: tuple[str, ...] = (),
    right: tuple[str, ...] = (),
    title: str | None = None,
) -> Table:
    """A table with these column headers.

    `ids` and `numbers` are never wrapped (numbers are aligned right); `right` columns
    are aligned right but may wrap; the others wrap.
    """
    from rich.table import Column, Table
    from rich.text import Text

    columns = [
        Column(
            header,
            no_wrap=header in ids or header in numbers,
            overflow="fold",
            justify="right" if header in numbers or header in right else "left",
        )
        for header in headers
    ]
    return Table(*columns, title=None if title is None else Text(title))


def add_row(table: Table, *cells: str) -> None:
    """Add a row of plain-text cells (never read as markup)."""
    from rich.text import Text

    table.add_row(*(Text(cell) for cell in cells))
