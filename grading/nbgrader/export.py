"""Bring the written answers' scores from the formgrader into the grade tables:
``python -m grading export --grades OUT [--course OUT/.nbgrader]``.

    summary = export_grades(Path("grades"))

grades.csv lists every written question of a student as ``pending`` (score 0, its points
at stake) from the batch on (:func:`grading.hardened.reports.written_rows`). Graders score
the answers in the formgrader, which keeps the score in nbgrader's gradebook as the
``manual_score`` of the student's grade of that cell (the cell's grade_id is the row's
``check``). Export reads those scores and rewrites ``OUT/grades.csv`` and
``OUT/summary.csv``: a written row with a score becomes ``graded`` with it, one without
stays pending; each student's ``results.json`` then lists the same states and total. An
answer left as released scores 0 in nbgrader's autograde and asks for no hand grading; it
becomes ``graded`` with that 0, which the formgrader can still change.

The rows of the checks are never touched: the hardened scores stand (they are in the
gradebook too, reconciled by :mod:`grading.nbgrader.reconcile`, so the gradebook's total of
a student and the tables' agree). Export can run any number of times, after each grading
session; a regrade of a student writes pending rows again, and the next export fills them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from assignment.check import as_points
from grading.errors import GradingError
from grading.hardened.reports import (
    GRADED,
    GRADES_CSV,
    PENDING,
    PENDING_MESSAGE,
    is_written,
    merge_grade_rows,
    read_grades_csv,
    refresh_written,
    write_grade_tables,
)
from grading.nbgrader.autograde import COURSE_FOLDER
from grading.nbgrader.course import COURSE_ID, Course

GRADED_MESSAGE = "scored by hand in the formgrader"
UNANSWERED_MESSAGE = "left as released: nbgrader scored it 0 (the formgrader can change it)"


@dataclass
class ExportSummary:
    """What an export did: written answers now graded and still pending, where grades.csv
    is, and notes (students the gradebook does not know)."""

    graded: int = 0
    pending: int = 0
    csv: Path | None = None
    notes: list[str] = field(default_factory=list)


def export_grades(grades: Path, course: Path | None = None) -> ExportSummary:
    """Merge the formgrader's scores of the written answers from the gradebook of ``course``
    (default: ``grades/.nbgrader``) into ``grades/grades.csv`` and ``grades/summary.csv``."""
    grades = Path(grades)
    rows = read_grades_csv(grades / GRADES_CSV)
    if not rows:
        raise GradingError(
            grades / GRADES_CSV,
            None,
            "export: no grades to export into; grade the submissions into this folder first",
        )
    course = Course(grades / COURSE_FOLDER if course is None else Path(course))
    if not course.gradebook.is_file():
        raise GradingError(
            course.gradebook,
            None,
            "export: no nbgrader gradebook here; the full autograde (without --checks-only) "
            "writes one into OUT/.nbgrader, or name the course with --course",
        )
    students = sorted({row["student"] for row in rows})
    scores = hand_scores(course, students)
    summary = ExportSummary()
    updated: dict[str, list[dict]] = {}
    for row in rows:
        if row["student"] in scores:
            if is_written(row):
                row = _with_score(row, scores[row["student"]].get((row["notebook"], row["check"])))
            updated.setdefault(row["student"], []).append(row)
        if is_written(row):
            summary.graded += row["status"] == GRADED
            summary.pending += row["status"] == PENDING
    unknown = [s for s in students if s not in scores]
    if unknown:
        summary.notes.append(
            f"the gradebook has no submission of {len(unknown)} student(s), whose written "
            f"answers are left as they were: {', '.join(unknown[:10])}"
            + (" ..." if len(unknown) > 10 else "")
        )
    summary.csv = write_grade_tables(grades, merge_grade_rows(rows, updated))
    for student, mine in updated.items():
        results = grades / student / "results.json"
        if results.is_file():
            refresh_written(results, [row for row in mine if is_written(row)])
    return summary


def hand_scores(
    course: Course, students: list[str]
) -> dict[str, dict[tuple[str, str], tuple[float, float, str] | None]]:
    """``{student: {(notebook, grade_id): (score, max score, message) or None}}`` of the
    written answers (markdown grade cells) in ``course``'s gradebook, None where the answer
    waits for a grader; students without a submission there are left out."""
    from nbgrader.api import Gradebook, MissingEntry

    found = {}
    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        for student in students:
            try:
                submission = gradebook.find_submission(course.assignment, student)
            except MissingEntry:
                continue
            found[student] = {
                (notebook.name, grade.name): _hand_score(grade)
                for notebook in submission.notebooks
                for grade in notebook.grades
                if grade.cell_type == "markdown"
            }
    return found


def _hand_score(grade) -> tuple[float, float, str] | None:
    if grade.manual_score is not None:
        return float(grade.score), float(grade.max_score), GRADED_MESSAGE
    if not grade.needs_manual_grade and grade.auto_score is not None:
        return float(grade.score), float(grade.max_score), UNANSWERED_MESSAGE
    return None


def _with_score(row: dict, found: tuple[float, float, str] | None) -> dict:
    """The written row ``row`` graded with ``found`` (score, max, message), or pending."""
    if found is None:
        return {**row, "score": 0, "status": PENDING, "message": PENDING_MESSAGE}
    score, top, message = found
    return {
        **row,
        "score": as_points(score),
        "max_score": as_points(top),
        "status": GRADED,
        "message": message,
    }
