"""Put the hardened grader's scores into nbgrader's gradebook, and flag every disagreement.

A notebook's autograder test cell for a check is the cell whose grade_id is
``test_<check name, dots as underscores>`` (:func:`grade_id_of`). nbgrader 0.9.6 scores a
cell with its ``manual_score`` when one is set, so the hardened score (scaled to the
cell's points) is written there; the formgrader, the feedback and ``nbgrader export`` all
follow. The in-kernel verdict stays in ``auto_score``, for the record.

The kernel's verdict and the hardened one should agree: the cell runs the same check. When
they do not (the cell passed in the student's kernel and the check fails outside it, or the
reverse), the check is flagged as possible tampering: the result carries the flag
(``CheckResult.flags``), which every report shows with its message, and the notebook is
flagged in the gradebook for the formgrader. A flag never changes a score.
Manually graded cells (the written answers) are left to the formgrader.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from assignment.checks import CheckResult
from grading.nbgrader.course import COURSE_ID, Course

FLAG = "possible tampering"


def grade_id_of(check_name: str) -> str:
    """The grade_id of the autograder test cell of a check (``FullyConnectedNet.loss`` ->
    ``test_FullyConnectedNet_loss``)."""
    return "test_" + check_name.replace(".", "_")


@dataclass
class Disagreement:
    """A check whose test cell and hardened check gave different verdicts."""

    check: str
    notebook: str
    kernel_passed: bool
    hardened_passed: bool

    def describe(self) -> str:
        if self.kernel_passed:
            return (
                f"{FLAG}: the notebook's test cell for {self.check} passed in the student's "
                "kernel, but the check fails when run outside it"
            )
        return (
            f"{FLAG}: the notebook's test cell for {self.check} failed in the student's "
            "kernel, but the check passes when run outside it"
        )


@dataclass
class Reconciliation:
    """What reconciling one student did."""

    results: list[CheckResult]
    disagreements: list[Disagreement] = field(default_factory=list)
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)  # grade_id: (score, max)
    notes: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> list[str]:
        return [d.check for d in self.disagreements]


def reconcile(
    course: Course, student: str, results: list[CheckResult], *, not_run: Iterable[str] = ()
) -> Reconciliation:
    """Write the hardened ``results`` of ``student`` into ``course``'s gradebook.

    Returns the results, each disagreeing one with a flag (:func:`flag`). The cells of
    the notebooks ``not_run`` (missing or unreadable in the submission), and cells nbgrader
    left unscored, have no kernel verdict: they get the hardened score and no flag. A
    student nbgrader never graded leaves the gradebook alone, with a note.
    """
    from nbgrader.api import Gradebook, MissingEntry

    by_cell = {grade_id_of(r.name): r for r in results}
    not_run = set(not_run)
    done = Reconciliation(list(results))
    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        try:
            submission = gradebook.find_submission(course.assignment, student)
        except MissingEntry:
            done.notes.append(
                f"reconcile: nbgrader has no submission of {student}; the hardened "
                "scores stand alone"
            )
            return done
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                result = by_cell.get(grade.name)
                if result is None or grade.cell_type != "code":
                    continue
                score = (
                    grade.max_score * (result.score / result.max_score) if result.max_score else 0.0
                )
                ran = notebook.name not in not_run and grade.auto_score is not None
                kernel_passed = grade.max_score > 0 and (grade.auto_score or 0) >= grade.max_score
                grade.manual_score = score
                grade.needs_manual_grade = False
                done.cells[grade.name] = (score, float(grade.max_score))
                # In the kernel a check waits on a failing layer it uses; the grade judged it
                # with a correct layer standing in: expected to differ, not tampering.
                waited = result.passed and bool(result.stand_ins) and not kernel_passed
                if ran and kernel_passed != result.passed and not waited:
                    done.disagreements.append(
                        Disagreement(result.name, notebook.name, kernel_passed, result.passed)
                    )
                    notebook.flagged = True
        gradebook.db.commit()
    course.secure_gradebook()
    flags = {d.check: d for d in done.disagreements}
    done.results = [flag(r, flags[r.name]) if r.name in flags else r for r in results]
    return done


def cell_scores(course: Course, student: str) -> dict[tuple[str, str], tuple[float, float]]:
    """``{(notebook, grade_id): (score, max score)}`` of ``student``'s autograder test cells
    in the gradebook (empty when nbgrader has no submission of the student)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        try:
            submission = gradebook.find_submission(course.assignment, student)
        except MissingEntry:
            return {}
        return {
            (notebook.name, grade.name): (float(grade.score), float(grade.max_score))
            for notebook in submission.notebooks
            for grade in notebook.grades
            if grade.cell_type == "code"
        }


def flag(result: CheckResult, disagreement: Disagreement) -> CheckResult:
    """``result`` with the disagreement among its flags (same score, same status)."""
    return replace(result, flags=(*result.flags, disagreement.describe()))
