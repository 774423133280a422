"""Tests of grading/nbgrader/reconcile.py: hardened scores into the gradebook, disagreements
flagged.

The course is the fake source of test_release, graded once by nbgrader for one student (the
release as it is: the test cell of affine_forward fails in the kernel, the warning cell
passes); each test reconciles a private copy of it. The hardened results are made up here,
named so that their test cells are the fake notebook's (``affine`` -> ``test_affine``).
"""

from __future__ import annotations

import pytest

from assignment.checks import CaseOutcome, CheckResult
from grading.hardened.reports import grade_rows, results_json
from grading.nbgrader.course import ASSIGNMENT, COURSE_ID
from grading.nbgrader.reconcile import FLAG, Disagreement, cell_scores, flag, grade_id_of, reconcile
from grading.nbgrader.workspace import build_course, private_copy
from tests.grading.test_release import write_fake_source

pytestmark = pytest.mark.grading

NOTEBOOK = "FullyConnectedNets"
STUDENT = "ada"


def result(name: str, passed: bool, points: float = 2.0) -> CheckResult:
    messages = [] if passed else [f"{name}: out differs from the reference"]
    return CheckResult(name, NOTEBOOK, points, [CaseOutcome("seed0", messages)])


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    base = tmp_path_factory.mktemp("reconcile")
    course = build_course(write_fake_source(base / "source"), base / "course")
    submission = base / "submission"
    for path in course.release_dir.rglob("*"):
        if path.is_file():
            target = submission / path.relative_to(course.release_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    course.add_submission(STUDENT, submission)
    course.autograde(STUDENT)
    return course


@pytest.fixture
def course(graded_course, tmp_path):
    return private_copy(graded_course, tmp_path / "copy")


def grades(course) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, STUDENT)
        return {
            g.name: (g.auto_score, g.manual_score, g.max_score, g.needs_manual_grade)
            for g in notebook.grades
        } | {"flagged": notebook.flagged}


def test_grade_id_of_a_method_uses_underscores():
    """Is the test cell of a method named with underscores, as the notebooks name it?"""
    assert grade_id_of("FullyConnectedNet.loss") == "test_FullyConnectedNet_loss"
    assert grade_id_of("affine_forward") == "test_affine_forward"


@pytest.mark.slow
def test_the_fake_kernel_verdicts(graded_course):
    """Does the fake course give the in-kernel verdicts the other tests rely on?"""
    found = grades(graded_course)
    assert found["test_affine"][0] == 0 and found["test_warning"][0] == found["test_warning"][2]


@pytest.mark.slow
def test_hardened_score_becomes_the_manual_score(course):
    """Is the hardened score written as manual_score (nbgrader's score then), with the
    kernel's auto_score kept and the written answer left to the formgrader?"""
    before = grades(course)
    done = reconcile(course, STUDENT, [result("affine", False), result("warning", True)])
    found = grades(course)
    assert (
        found["test_affine"][:2] == (0, 0) and found["test_warning"][1] == found["test_warning"][2]
    )
    assert found["answer"] == before["answer"]
    assert done.cells == {"test_affine": (0.0, 2.0), "test_warning": (1.0, 1.0)}
    assert cell_scores(course, STUDENT)[(NOTEBOOK, "test_warning")] == (1.0, 1.0)


@pytest.mark.slow
def test_score_is_scaled_to_the_cells_points(course):
    """Does a check worth 5 points give a 2-point cell its 2 points when it passes?"""
    reconcile(course, STUDENT, [result("affine", True, points=5)])
    assert grades(course)["test_affine"][1] == 2


@pytest.mark.slow
def test_agreement_is_not_flagged(course):
    """Do matching verdicts leave the results and the notebook unflagged?"""
    done = reconcile(course, STUDENT, [result("affine", False), result("warning", True)])
    assert done.disagreements == [] and not grades(course)["flagged"]
    assert not any(r.flags for r in done.results)


@pytest.mark.slow
def test_forged_pass_in_the_kernel_is_flagged(course):
    """Is a cell that passed in the kernel while the check fails outside flagged, with no
    points for it?"""
    done = reconcile(course, STUDENT, [result("affine", False), result("warning", False, 1)])
    assert [(d.check, d.kernel_passed, d.hardened_passed) for d in done.disagreements] == [
        ("warning", True, False)
    ]
    flagged = {r.name: r for r in done.results}["warning"]
    assert flagged.flagged and flagged.score == 0 and FLAG in flagged.message
    assert grades(course)["flagged"] and grades(course)["test_warning"][1] == 0


@pytest.mark.slow
def test_pass_outside_a_failing_kernel_is_flagged_and_keeps_its_points(course):
    """Is the reverse disagreement flagged too, while the hardened pass keeps its points?"""
    done = reconcile(course, STUDENT, [result("affine", True), result("warning", True, 1)])
    assert [d.check for d in done.disagreements] == ["affine"]
    flagged = {r.name: r for r in done.results}["affine"]
    assert flagged.passed and flagged.score == 2 and flagged.status == "passed"
    assert grades(course)["test_affine"][1] == 2


@pytest.mark.slow
def test_notebook_that_did_not_run_is_scored_but_not_flagged(course):
    """Does a notebook the submission lacked (no kernel verdict) get the hardened scores
    without a flag?"""
    done = reconcile(
        course, STUDENT, [result("affine", True), result("warning", False, 1)], not_run=[NOTEBOOK]
    )
    assert done.disagreements == [] and not grades(course)["flagged"]
    assert done.cells == {"test_affine": (2.0, 2.0), "test_warning": (0.0, 1.0)}


@pytest.mark.slow
def test_checks_without_a_cell_leave_the_gradebook_alone(course):
    """Is a check with no test cell in the course reported as it is, unflagged?"""
    before = grades(course)
    done = reconcile(course, STUDENT, [result("conv_forward_naive", True)])
    assert grades(course) == before and done.cells == {} and done.disagreements == []


@pytest.mark.slow
def test_student_nbgrader_never_graded_gets_a_note(course):
    """Does an unknown student leave the gradebook alone with a note, not an error?"""
    done = reconcile(course, "nobody-here", [result("affine", True)])
    assert done.cells == {} and "no submission of nobody-here" in done.notes[0]


def test_flag_note_shows_in_reports_without_changing_the_score():
    """Do results.json and grades.csv carry the flag in the check's message, with the
    hardened score and status unchanged?"""
    passed = flag(result("affine", True), Disagreement("affine", NOTEBOOK, False, True))
    failed = flag(result("adam", False), Disagreement("adam", NOTEBOOK, True, False))
    data = results_json([passed, failed], "namespaces+uid")
    assert data["score"] == 2
    assert [t["status"] for t in data["tests"]] == ["passed", "failed"]
    assert all(FLAG in t["output"] for t in data["tests"])
    assert "passed in the student's kernel" in data["tests"][1]["output"]
    rows = grade_rows("ada", [passed, failed])
    assert [r["score"] for r in rows] == [2, 0] and all(FLAG in r["message"] for r in rows)
