"""Typed errors that carry what went wrong; the CLI and adapters print them as one line."""

from __future__ import annotations

from pathlib import Path


class CohortError(Exception):
    """Base class for errors that are shown to a person as a single line."""


class ConfigError(CohortError):
    """The configuration file or environment holds an invalid setting."""


class EventInvalid(CohortError, ValueError):
    """An event failed validation; the message names the field and the problem."""


class InputFileError(CohortError):
    """A file given to an importer is malformed at a known place.

    `where` is a line number for line-based files, or a path such as
    `messages[12]` for JSON documents.
    """

    def __init__(self, path: Path | str, where: int | str | None, problem: str) -> None:
        self.path = str(path)
        self.where = where
        self.problem = problem
        location = self.path if where is None else f"{self.path}:{where}"
        super().__init__(f"{location}: {problem}")


class MemberRefInvalid(CohortError, ValueError):
    """A member reference is not of the form `platform:id`."""


class CourseNotFound(CohortError, LookupError):
    """No course with this id exists in the catalog."""

    def __init__(self, course_id: str) -> None:
        self.course_id = course_id
        super().__init__(f"unknown course {course_id!r}")


class MemberNotFound(CohortError, LookupError):
    """No member with this platform identity is stored."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(f"unknown member {ref!r}")


class StoreError(CohortError):
    """The database could not be opened, migrated or written."""
