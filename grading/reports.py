"""Renderings of check results: Gradescope's results.json, grades.csv rows, a terminal table.

Each function reads :class:`CheckResult` objects and never re-scores. Messages of hidden
cases are shown as "a hidden case failed: <message>", where the message is the check's
own (trusted) text or, for an error the student's code raised, only its type (see
``grading.hardened``), so no report repeats a hidden case's inputs.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Iterable

from assignment.checks import CheckResult

CSV_FIELDS = ("student", "notebook", "check", "score", "max_score", "status", "message")
HIDDEN_PREFIX = "a hidden case failed: "


def feedback(result: CheckResult) -> str:
    """What a student may read about one result: each distinct message once."""
    lines = []
    for outcome in result.outcomes:
        for message in outcome.messages:
            lines.append(HIDDEN_PREFIX + message if outcome.hidden else message)
    return "\n".join(dict.fromkeys(lines))


def results_json(results: Iterable[CheckResult], isolation: str, *, output: str = "") -> dict:
    """The Gradescope results format: total score, one test per check, and a top-level
    output naming the isolation the scores were obtained under."""
    results = list(results)
    header = f"Graded outside the notebook; isolation: {isolation}."
    return {
        "score": _number(sum(r.score for r in results)),
        "output": header + (f"\n{output}" if output else ""),
        "tests": [{"name": r.name,
                   "score": _number(r.score),
                   "max_score": _number(r.max_score),
                   "status": "passed" if r.passed else "failed",
                   "output": feedback(r),
                   "visibility": "visible"} for r in results],
    }


def write_results_json(path: Path, results: Iterable[CheckResult], isolation: str, *,
                       output: str = "") -> Path:
    """Write results.json atomically (a reader never sees half a file)."""
    data = results_json(results, isolation, output=output)
    return _atomic_write(Path(path), json.dumps(data, indent=2) + "\n")


def grade_rows(student: str, results: Iterable[CheckResult]) -> list[dict]:
    """One grades.csv row per check."""
    return [{"student": student, "notebook": r.notebook, "check": r.name,
             "score": _number(r.score), "max_score": _number(r.max_score),
             "status": r.status, "message": feedback(r)} for r in results]


def write_grades_csv(path: Path, rows: Iterable[dict]) -> Path:
    """Write grades.csv (header and rows, in the order given) atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in CSV_FIELDS})
    os.replace(tmp, path)
    return path


def render_table(results: Iterable[CheckResult], isolation: str | None = None) -> str:
    """A plain-text table (check, status, points), the total, then what failed and why."""
    results = list(results)
    width = max([len(r.name) for r in results] + [5])
    lines = [f"{'check':<{width}}  {'result':<6}  points", f"{'-' * width}  ------  ------"]
    for r in results:
        label = {"passed": "PASS", "error": "ERROR"}.get(r.status, "FAIL")
        lines.append(f"{r.name:<{width}}  {label:<6}  {_number(r.score):g}/{_number(r.max_score):g}")
    total = sum(r.score for r in results)
    out_of = sum(r.max_score for r in results)
    lines.append(f"{'total':<{width}}  {'':6}  {_number(total):g}/{_number(out_of):g}")
    if isolation:
        lines.append(f"isolation: {isolation}")
    for r in results:
        if not r.passed:
            lines += ["", f"{r.name}:"] + ["  " + m for m in feedback(r).splitlines()]
    return "\n".join(lines)


def _number(value: float) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else round(value, 6)


def _atomic_write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
