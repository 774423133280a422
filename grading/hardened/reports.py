"""Renderings of check results: Gradescope's results.json, grades.csv rows and the
per-student summary.csv; the terminal table is the self-check's
(:func:`assignment.check.render_table`).

Each function reads :class:`CheckResult` objects and never re-scores. A message names the
case(s) it happened in ("[hidden case 'batch of 1']"); a hidden case's message is the
check's own (trusted) text or, for an error the student's code raised, only its type (see
``grading.hardened.grader``), so no report repeats a hidden case's inputs.

One total: the notebooks' written questions (:class:`WrittenQuestion`) are part of the
grade. grades.csv has a row for each (status ``pending``, score 0, until
``python -m grading export`` brings in the score a grader gave in the formgrader: status
``graded``), so summary.csv's maxima are those of the whole assignment, with the points
still to grade by hand in its ``pending`` column; results.json scores the code (Gradescope
grades the written part by hand) and says what is pending and the total so far.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable, Mapping

from assignment.check import as_points, feedback, render_table
from assignment.checks import CheckResult
from grading.errors import GradingError
from grading.layout import curriculum_rank
from grading.release.notebook_transforms import WrittenQuestion
from grading.util import atomic_write, write_text_atomically

CSV_FIELDS = ("student", "notebook", "check", "score", "max_score", "status", "flagged", "message")
GRADES_CSV = "grades.csv"
SUMMARY_CSV = "summary.csv"
# The statuses of a written question's row (a check's are CheckResult.status).
PENDING = "pending"
GRADED = "graded"
PENDING_MESSAGE = "graded by hand in the formgrader"
__all__ = [
    "CSV_FIELDS",
    "GRADED",
    "PENDING",
    "PENDING_MESSAGE",
    "feedback",
    "grade_rows",
    "is_written",
    "render_table",
    "results_json",
    "merge_grade_rows",
    "read_grades_csv",
    "summary_table",
    "refresh_written",
    "total_line",
    "written_lines",
    "written_rows",
    "written_text",
    "write_grade_tables",
    "write_grades_csv",
    "write_results_json",
    "write_summary_csv",
]


def results_json(
    results: Iterable[CheckResult],
    isolation: str,
    *,
    output: str = "",
    written: Iterable[WrittenQuestion] = (),
) -> dict:
    """The Gradescope results format: the code's score, one test per check, and a top-level
    output naming the isolation the scores were obtained under, the code's score out of its
    points, the ``written`` questions (pending: graded by hand) and the total so far."""
    results, written = list(results), list(written)
    score = as_points(sum(r.score for r in results))
    code = as_points(sum(r.max_score for r in results))
    lines = [
        f"Graded outside the notebook; isolation: {isolation}.",
        f"Code: {score} of {code} points.",
    ]
    if written:
        rows = written_rows("", written)
        lines += [*written_lines(rows), total_line(rows, score, code)]
    return {
        "score": score,
        "output": "\n".join([*lines, *([output] if output else [])]),
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


def written_text(written: Iterable[WrittenQuestion]) -> str:
    """How many written questions, worth how many points, are graded by hand; one line each."""
    return "\n".join(written_lines(written_rows("", written)))


def written_lines(rows: Iterable[Mapping]) -> list[str]:
    """The written questions of grades.csv ``rows`` (pending or graded): how many, worth how
    many points, then one line each with its state."""
    rows = list(rows)
    if not rows:
        return []
    points = as_points(sum(float(r["max_score"]) for r in rows))
    graded = sum(r["status"] == GRADED for r in rows)
    lines = [
        f"Written answers: {len(rows)} question{'s' * (len(rows) != 1)} worth {points} "
        f"points, graded by hand ({f'{graded} of {len(rows)} {GRADED}' if graded else PENDING}):"
    ]
    for r in rows:
        state = (
            f"{as_points(r['score'])} of {as_points(r['max_score'])} points, {GRADED}"
            if r["status"] == GRADED
            else f"{as_points(r['max_score'])} points, {PENDING}"
        )
        lines.append(f"  {r['notebook']}.ipynb {r['check']}: {state}")
    return lines


def total_line(rows: Iterable[Mapping], code_score: float, code_max: float) -> str:
    """The total of the code's score and the written rows graded so far, out of everything."""
    rows = list(rows)
    graded = sum(float(r["score"]) for r in rows if r["status"] == GRADED)
    pending = sum(float(r["max_score"]) for r in rows if r["status"] == PENDING)
    top = as_points(code_max + sum(float(r["max_score"]) for r in rows))
    total = f"{as_points(code_score + graded)} of {top} points"
    if pending:
        return f"Total so far: {total} ({as_points(pending)} points still to grade by hand)."
    return f"Total: {total}."


def refresh_written(path: Path, rows: Iterable[Mapping]) -> Path:
    """Rewrite the written answers' lines of the results.json at ``path`` from the student's
    written rows of grades.csv (after an export), so that its total is the tables'. The
    code's score and tests stay as they are."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    code_max = sum(float(t.get("max_score", 0)) for t in data["tests"])
    lines = data["output"].split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("Written answers: ")), None)
    end = next(
        (i for i, line in enumerate(lines) if line.startswith(("Total so far: ", "Total: "))),
        None,
    )
    rows = list(rows)
    block = [*written_lines(rows), total_line(rows, float(data["score"]), code_max)]
    if start is None or end is None or end < start:
        # A file without the block (written before it existed): it goes after the code's line.
        code = next((i for i, line in enumerate(lines) if line.startswith("Code: ")), 0)
        start, end = code + 1, code
    data["output"] = "\n".join(lines[:start] + block + lines[end + 1 :])
    return write_text_atomically(Path(path), json.dumps(data, indent=2) + "\n")


def write_results_json(
    path: Path,
    results: Iterable[CheckResult],
    isolation: str,
    *,
    output: str = "",
    written: Iterable[WrittenQuestion] = (),
) -> Path:
    """Write results.json atomically (a reader never sees half a file)."""
    data = results_json(results, isolation, output=output, written=written)
    return write_text_atomically(Path(path), json.dumps(data, indent=2) + "\n")


def grade_rows(
    student: str, results: Iterable[CheckResult], written: Iterable[WrittenQuestion] = ()
) -> list[dict]:
    """One grades.csv row per check, then one per written question (:func:`written_rows`)."""
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
    ] + written_rows(student, written)


def written_rows(student: str, written: Iterable[WrittenQuestion]) -> list[dict]:
    """One pending grades.csv row per written question: no points yet, its points at stake."""
    return [
        {
            "student": student,
            "notebook": q.notebook,
            "check": q.grade_id,
            "score": 0,
            "max_score": as_points(q.points),
            "status": PENDING,
            "flagged": "",
            "message": PENDING_MESSAGE,
        }
        for q in written
    ]


def is_written(row: Mapping) -> bool:
    """Whether a grades.csv row is a written question's (graded by hand), not a check's."""
    return row["status"] in (PENDING, GRADED)


def write_grades_csv(path: Path, rows: Iterable[dict]) -> Path:
    """Write grades.csv (header and rows, in the order given) atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _cell(row[k]) for k in CSV_FIELDS})

    return atomic_write(Path(path), write)


def read_grades_csv(path: Path) -> list[dict]:
    """The rows of an existing grades.csv (none when there is no file), to be kept by a
    regrade or joined by a merge.

    A file that is not a grades.csv of this kit (another header, a row cut short, a score
    that is not a number, a student that is not a plain folder name) raises a GradingError
    naming it: rewriting it would lose grades silently."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = tuple(reader.fieldnames or ())
            if header != CSV_FIELDS:
                raise _unreadable(path, None, f"expected the columns {', '.join(CSV_FIELDS)}")
            rows = []
            for row in reader:
                line = reader.line_num
                if None in row or None in row.values():
                    raise _unreadable(path, line, f"expected {len(CSV_FIELDS)} cells in the row")
                row = {k: _uncell(v) for k, v in row.items()}
                if not _plain_name(row["student"]):
                    raise _unreadable(path, line, f"student {row['student']!r} is no folder name")
                try:
                    float(row["score"]), float(row["max_score"])
                except ValueError:
                    raise _unreadable(path, line, "score and max_score must be numbers") from None
                rows.append(row)
    except (UnicodeDecodeError, csv.Error) as error:
        raise _unreadable(path, None, str(error)) from None
    return rows


def merge_grade_rows(kept: Iterable[dict], graded: Mapping[str, list[dict]]) -> list[dict]:
    """``kept`` rows of students not in ``graded`` plus every row of ``graded`` ({student:
    rows}): a student graded again has exactly this grading's rows. Ordered by student, each
    student's rows in the order they came."""
    rows = [row for row in kept if row["student"] not in graded]
    rows += [row for student_rows in graded.values() for row in student_rows]
    return sorted(rows, key=lambda row: row["student"])


def summary_table(rows: Iterable[dict]) -> tuple[list[str], list[dict]]:
    """The per-student summary of grades.csv rows: the columns, and one row per student
    with ``<notebook> score`` and ``<notebook> max`` for every notebook graded (curriculum
    order; empty where a student has no row of it), ``total`` and ``max`` (checks and written
    questions), ``pending`` (the points of the written questions still to grade by hand) and
    ``flagged`` (how many checks were flagged for review)."""
    students: dict[str, dict] = {}
    notebooks = set()
    for row in rows:
        notebooks.add(row["notebook"])
        per = students.setdefault(row["student"], {"flagged": 0, "pending": 0.0, "notebooks": {}})
        score, top = per["notebooks"].get(row["notebook"], (0.0, 0.0))
        per["notebooks"][row["notebook"]] = (
            score + float(row["score"]),
            top + float(row["max_score"]),
        )
        per["flagged"] += row["flagged"] == "yes"
        if row["status"] == PENDING:
            per["pending"] += float(row["max_score"])
    order = sorted(notebooks, key=curriculum_rank)
    fields = ["student"]
    for notebook in order:
        fields += [f"{notebook} score", f"{notebook} max"]
    fields += ["total", "max", "pending", "flagged"]
    table = []
    for student in sorted(students):
        per = students[student]
        line = {"student": student, "flagged": per["flagged"]}
        for notebook, (score, top) in per["notebooks"].items():
            line[f"{notebook} score"], line[f"{notebook} max"] = as_points(score), as_points(top)
        line["total"] = as_points(sum(s for s, _ in per["notebooks"].values()))
        line["max"] = as_points(sum(t for _, t in per["notebooks"].values()))
        line["pending"] = as_points(per["pending"])
        table.append(line)
    return fields, table


def write_summary_csv(path: Path, rows: Iterable[dict]) -> Path:
    """Write summary.csv (:func:`summary_table` of grades.csv ``rows``) atomically."""
    fields, table = summary_table(rows)

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, restval="")
            writer.writeheader()
            for line in table:
                writer.writerow({k: _cell(v) for k, v in line.items()})

    return atomic_write(Path(path), write)


def write_grade_tables(out: Path, rows: list[dict]) -> Path:
    """Write ``out/grades.csv`` (the long form, ``rows`` as given) and ``out/summary.csv``
    from it; return the path of grades.csv."""
    path = write_grades_csv(Path(out) / GRADES_CSV, rows)
    write_summary_csv(Path(out) / SUMMARY_CSV, rows)
    return path


def _plain_name(student: str) -> bool:
    """Usable as the name of a student's folder beside the tables."""
    return (
        bool(student)
        and Path(student).name == student
        and not student.startswith(".")
        and student.removesuffix(".partial") not in (GRADES_CSV, SUMMARY_CSV)
    )


def _unreadable(path: Path, line: int | None, why: str) -> GradingError:
    return GradingError(
        path,
        line,
        f"not a grades.csv this grader can keep ({why}); it was left as it is: move it "
        "aside or repair it, then grade again",
    )


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """A text that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is
    quoted with a leading apostrophe; numbers are left as they are."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


def _uncell(text: str) -> str:
    """The value :func:`_cell` quoted (writing it again quotes it the same way)."""
    return text[1:] if text[:1] == "'" and text[1:2] in _FORMULA_STARTS else text
