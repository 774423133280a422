"""Errors of the instructor tools, each carrying the place it is about.

One exception type per tool. The CLI prints ``str(error)`` on one line and exits
non-zero; the location comes first so that an editor can jump to it.
"""

from __future__ import annotations

from pathlib import Path


class GradingError(Exception):
    """An instructor tool refused its input: ``path``, ``line`` (1-based) or ``cell``, why."""

    def __init__(
        self, path: str | Path | None, line: int | None, msg: str, *, cell: int | None = None
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.cell = cell
        self.msg = msg
        super().__init__(str(self))

    def location(self) -> str:
        """``file:line``, ``file, cell N, line M`` or ``file``; empty when there is no file."""
        if self.path is None:
            return ""
        if self.cell is not None:
            where = f"{self.path}, cell {self.cell}"
            return where if self.line is None else f"{where}, line {self.line}"
        return self.path if self.line is None else f"{self.path}:{self.line}"

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.msg}" if where else self.msg


class ReleaseError(GradingError):
    """The release build (stripping, staging, nbgrader, leak scan) cannot produce a safe release."""


class StripError(ReleaseError):
    """A ``.py`` file's solution or hidden-test markers cannot be stripped safely."""


class LeakError(ReleaseError):
    """Instructor-only material reached the release; ``leaks`` lists every finding."""

    def __init__(self, leaks: list) -> None:
        if not leaks:
            raise ValueError("LeakError: expected at least one leak, got none")
        self.leaks = list(leaks)
        first = self.leaks[0]
        more = len(self.leaks) - 1
        msg = first.msg + (f" (and {more} more leak{'s' * (more > 1)})" if more else "")
        super().__init__(first.path, first.line, msg, cell=first.cell)


class CourseError(GradingError):
    """An nbgrader course could not be set up or an nbgrader step failed."""
