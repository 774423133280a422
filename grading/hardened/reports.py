"""Renderings of check results: Gradescope's results.json, grades.csv rows; the terminal
table is the self-check's (:func:`assignment.check.render_table`).

Each function reads :class:`CheckResult` objects and never re-scores. A message names the
case(s) it happened in ("[hidden case 'batch of 1']"); a hidden case's message is the
check's own (trusted) text or, for an error the student's code raised, only its type (see
``grading.hardened.grader``), so no report repeats a hidden case's inputs.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable

from assignment.check import as_points, feedback, render_table
from assignment.checks import CheckResult
from grading.util import atomic_write, write_text_atomically

CSV_FIELDS = ("student", "notebook", "check", "score", "max_score", "status", "flagged", "message")
__all__ = [
    "CSV_FIELDS",
    "feedback",
    "grade_rows",
    "render_table",
    "results_json",
    "write_grades_csv",
    "write_results_json",
]


def results_json(results: Iterable[CheckResult], isolation: str, *, output: str = "") -> dict:
    """The Gradescope results format: total score, one test per check, and a top-level
    output naming the isolation the scores were obtained under."""
    results = list(results)
    header = f"Graded outside the notebook; isolation: {isolation}."
    return {
        "score": as_points(sum(r.score for r in results)),
        "output": header + (f"\n{output}" if output else ""),
        "tests": [
            {
                "name": r.name,
                "score": as_points(r.score),
                "max_score": as_points(r.max_score),
                "status": "passed" if r.passed else "failed",
                "output": feedback(r),
                "visibility": "visible",
            }
            for r in results
        ],
    }


def write_results_json(
    path: Path, results: Iterable[CheckResult], isolation: str, *, output: str = ""
) -> Path:
    """Write results.json atomically (a reader never sees half a file)."""
    data = results_json(results, isolation, output=output)
    return write_text_atomically(Path(path), json.dumps(data, indent=2) + "\n")


def grade_rows(student: str, results: Iterable[CheckResult]) -> list[dict]:
    """One grades.csv row per check."""
    return [
        {
            "student": student,
            "notebook": r.notebook,
            "check": r.name,
            "score": as_points(r.score),
            "max_score": as_points(r.max_score),
            "status": r.status,
            "flagged": "yes" if r.flagged else "",
            "message": feedback(r),
        }
        for r in results
    ]


def write_grades_csv(path: Path, rows: Iterable[dict]) -> Path:
    """Write grades.csv (header and rows, in the order given) atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _cell(row[k]) for k in CSV_FIELDS})

    return atomic_write(Path(path), write)


def _cell(value):
    """A text that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is
    quoted with a leading apostrophe; numbers are left as they are."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
