"""Course catalogs from CSV, JSON or TOML, validated row by row before anything is written.

CSV: a header with at least `id,title`; `tags` separated by `;`, `|` or `,`.
JSON: a list of course objects, or `{"courses": [...]}`.
TOML: `[[courses]]` tables.

A course id is any text of up to 100 characters without spaces or control characters
(`c#`, `c++`, `node.js`, `python-入门` are fine): ids travel in CSV cells, CLI
arguments and command options, never in button payloads (those carry tokens). An
empty description (an empty CSV cell, `""` in JSON) is an empty description.
"""

from __future__ import annotations

import csv
import json
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import InputFileError
from bot.importers.base import csv_rows

_TAG_SPLIT = re.compile(r"[;|,]")
_BAD_ID_CHAR = re.compile(r"[\s\x00-\x1f\x7f]")
MAX_COURSE_ID = 100


class CourseRecord(BaseModel):
    """One catalog entry as an operator writes it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    tags: list[str] = Field(default_factory=list)
    level: Literal["beginner", "intermediate", "advanced", "all"] | None = None
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    url: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=2000)
    active: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not value:
            raise ValueError("course id is empty")
        if len(value) > MAX_COURSE_ID:
            raise ValueError(f"course id longer than {MAX_COURSE_ID} characters")
        bad = _BAD_ID_CHAR.search(value)
        if bad:
            what = "a space" if bad.group().isspace() else "a control character"
            raise ValueError(
                f"course id {value!r} contains {what} (ids may hold letters, digits and "
                "symbols such as c#, c++ or node.js, but no spaces)"
            )
        return value

    @field_validator("title", "description")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        return value

    @field_validator("tags")
    @classmethod
    def _tags_text(cls, value: list[str]) -> list[str]:
        for tag in value:
            if _BAD_ID_CHAR.search(tag.replace(" ", "")):
                raise ValueError(f"tag {tag!r} contains a control character")
        return value

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        # Numeric ids are common in exports (JSON numbers, TOML integers).
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = _TAG_SPLIT.split(value)
        if isinstance(value, list):
            tags = [str(tag).strip().lower() for tag in value if str(tag).strip()]
            return list(dict.fromkeys(tags))
        return value

    @field_validator("level", "language", "currency", "url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("description", mode="before")
    @classmethod
    def _no_description(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def row(self) -> dict[str, Any]:
        """The values for the `courses` table."""
        return {
            **self.model_dump(),
            "description": self.description or "",
            "currency": self.currency.upper() if self.currency else None,
        }


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "value"
    if first["type"] == "extra_forbidden":
        return f"{field}: unknown field"
    if first["type"] == "value_error":
        return f"{field}: {first['ctx']['error']}"
    return f"{field}: {first['msg']}"


def _validate(path: Path, where: int | str, raw: Any) -> CourseRecord:
    if not isinstance(raw, dict):
        raise InputFileError(path, where, "expected a course object")
    try:
        return CourseRecord.model_validate(raw)
    except ValidationError as exc:
        raise InputFileError(path, where, _problem(exc)) from None


def _from_csv(path: Path) -> list[tuple[int | str, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as exc:
            raise InputFileError(path, 1, f"bad CSV: {exc}") from None
        header = [column.strip().lower() for column in fieldnames or []]
        for needed in ("id", "title"):
            if needed not in header:
                raise InputFileError(path, 1, f"missing column {needed!r}")
        reader.fieldnames = header
        rows: list[tuple[int | str, dict[str, Any]]] = []
        for row in csv_rows(reader, path):
            if None in row:
                raise InputFileError(path, reader.line_num, "more fields than columns")
            if not any((value or "").strip() for value in row.values()):
                continue
            cleaned = {key: value for key, value in row.items() if value is not None}
            if "active" in cleaned:
                cleaned["active"] = cleaned["active"].strip().lower() not in {"0", "false", "no"}
            rows.append((reader.line_num, cleaned))
        return rows


def _from_json(path: Path) -> list[tuple[int | str, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputFileError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
    if isinstance(data, dict) and set(data) == {"courses"}:
        data = data["courses"]
        prefix = "courses"
    else:
        prefix = ""
    if not isinstance(data, list):
        raise InputFileError(path, None, 'expected a list of courses or {"courses": [...]}')
    return [(f"{prefix}[{index}]", item) for index, item in enumerate(data)]


def _from_toml(path: Path) -> list[tuple[int | str, dict[str, Any]]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(path, None, f"invalid TOML: {exc}") from None
    unknown = [key for key in data if key != "courses"]
    if unknown:
        raise InputFileError(path, None, f"unknown table {unknown[0]!r} (expected [[courses]])")
    courses = data.get("courses")
    if not isinstance(courses, list):
        raise InputFileError(path, None, "expected [[courses]] tables")
    return [(f"courses[{index}]", item) for index, item in enumerate(courses)]


READERS = {".csv": _from_csv, ".json": _from_json, ".toml": _from_toml}


def read_catalog(path: Path) -> list[CourseRecord]:
    """Read and validate a whole catalog; raise `InputFileError` at the first bad entry."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InputFileError(path, None, "unsupported catalog format (use .csv, .json or .toml)")
    try:
        entries = reader(path)
    except FileNotFoundError:
        raise InputFileError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(path, None, f"not UTF-8 text (byte {exc.start})") from None
    records: list[CourseRecord] = []
    seen: dict[str, int | str] = {}
    for where, raw in entries:
        record = _validate(path, where, raw)
        if record.id in seen:
            raise InputFileError(
                path, where, f"id: duplicate course {record.id!r} (also at {seen[record.id]})"
            )
        seen[record.id] = where
        records.append(record)
    return records
