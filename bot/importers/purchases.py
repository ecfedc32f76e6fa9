"""Purchases exported by course platforms: CSV `member,course,ts[,amount,currency][,order]`.

`member` is `platform:id`; `ts` is ISO 8601 (a timestamp without an offset is taken
as UTC, as course platforms usually export UTC without saying so).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from typing import IO

from bot.domain.events import Event, PurchaseMade
from bot.domain.refs import parse_member_ref
from bot.errors import EventInvalid, InputFileError, MemberRefInvalid
from bot.importers.base import Parser, ParseStats, csv_rows

REQUIRED = ("member", "course", "ts")
OPTIONAL = ("amount", "currency", "order")


def _timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise EventInvalid(f"ts: not an ISO 8601 timestamp: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _amount(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise EventInvalid(f"amount: not a number: {value!r}") from None


def purchases_parser(known_courses: Collection[str], source: str = "import") -> Parser:
    """A parser for purchase CSVs that rejects courses not in `known_courses`."""

    def parse(stream: IO[bytes], name: str, stats: ParseStats) -> Iterator[Event]:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as exc:
            raise InputFileError(name, 1, f"bad CSV: {exc}") from None
        header = [column.strip().lower() for column in (fieldnames or [])]
        missing = [column for column in REQUIRED if column not in header]
        if missing:
            raise InputFileError(name, 1, f"missing column {missing[0]!r} (need member,course,ts)")
        unknown = [column for column in header if column not in REQUIRED + OPTIONAL]
        if unknown:
            raise InputFileError(name, 1, f"unknown column {unknown[0]!r}")
        reader.fieldnames = header
        for row in csv_rows(reader, name):
            line = reader.line_num
            if None in row:
                raise InputFileError(name, line, "more fields than columns")
            if not any((value or "").strip() for value in row.values()):
                stats.skip("blank lines")
                continue
            try:
                ref = parse_member_ref(row["member"] or "")
                course = (row["course"] or "").strip()
                if course not in known_courses:
                    raise EventInvalid(
                        f"course: unknown course {course!r} (import the catalog first)"
                    )
                yield PurchaseMade(
                    platform=ref.platform,
                    member=ref.id,
                    course=course,
                    ts=_timestamp(row["ts"] or ""),
                    amount=_amount(row.get("amount") or ""),
                    currency=(row.get("currency") or "").strip() or None,
                    order=(row.get("order") or "").strip() or None,
                    source=source,
                )
            except (EventInvalid, MemberRefInvalid) as exc:
                raise InputFileError(name, line, str(exc).removeprefix("PurchaseMade.")) from None

    return parse
