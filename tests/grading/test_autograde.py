"""Tests of grading/nbgrader/autograde.py: the full pipeline with ``--execute`` (nbgrader in a
confined kernel, hardened grader, reconciliation, feedback) on the real source; the default,
which records the notebooks, is tested in test_recorded.py.

The slow tests share one batch (``full_batch`` in conftest.py): the four samples, the
reference a second time, a reference with a notebook that is not JSON and a broken zip,
graded with two workers on one notebook.
"""

from __future__ import annotations

import csv
import json
import threading

import pytest

from assignment.checks import CATALOGUE
from grading.errors import GradingError
from grading.layout import NOTEBOOKS, REPO_ROOT
from grading.nbgrader.autograde import COURSE_FOLDER
from grading.nbgrader.course import ASSIGNMENT, COURSE_ID, Course
from grading.nbgrader.reconcile import cell_scores, grade_id_of
from grading.nbgrader.workspace import (
    build_course,
    merge_into,
    open_course,
    private_copy,
    unusable_notebooks,
)
from grading.release.notebook_transforms import written_questions
from tests.grading.conftest import tree_digest
from tests.grading.test_release import write_fake_source

pytestmark = pytest.mark.grading

STUDENTS = [
    "altered",
    "broken",
    "buggy",
    "cheat",
    "malformed",
    "reference",
    "reference-again",
    "stub",
]


def results(batch, student: str) -> dict:
    return json.loads((batch.out / student / "results.json").read_text())


def csv_rows(batch) -> list[dict]:
    with open(batch.out / "grades.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def graded_checks(batch) -> list[str]:
    return [c.name for c in CATALOGUE.values() if c.notebook == batch.notebook]


# -- the shared batch -----------------------------------------------------------------------


@pytest.mark.slow
def test_every_submission_has_results_and_rows(full_batch):
    """Does every submission, broken ones included, get results.json and grades.csv rows?"""
    checks = graded_checks(full_batch)
    assert (
        sorted(p.name for p in full_batch.out.iterdir() if p.is_dir() and p.name != COURSE_FOLDER)
        == STUDENTS
    )
    rows = csv_rows(full_batch)
    written = [q.grade_id for q in written_questions(REPO_ROOT / NOTEBOOKS, [full_batch.notebook])]
    for student in STUDENTS:
        assert [t["name"] for t in results(full_batch, student)["tests"]] == checks
        assert [r["check"] for r in rows if r["student"] == student] == checks + written
        assert {r["status"] for r in rows if r["check"] in written} == {"pending"}


@pytest.mark.slow
def test_scores_of_the_samples(full_batch):
    """Reference full marks, stub zero, cheat zero (the buggy one: see test_demo)."""
    total = sum(CATALOGUE[c].points for c in graded_checks(full_batch))
    assert results(full_batch, "reference")["score"] == total
    assert results(full_batch, "stub")["score"] == 0
    assert results(full_batch, "cheat")["score"] == 0


@pytest.mark.slow
def test_edited_notebook_metadata_is_restored_graded_and_flagged(full_batch):
    """A notebook whose test cell's points, lock and code were edited keeps the reference's
    full marks (nbgrader alone would drop it), with the flag."""
    data = results(full_batch, "altered")
    assert data["score"] == results(full_batch, "reference")["score"]
    assert "notebook metadata altered" in data["output"]
    course = Course(full_batch.out / COURSE_FOLDER)
    assert cell_scores(course, "altered") == cell_scores(course, "reference")


@pytest.mark.slow
def test_same_submission_graded_twice_gives_the_same_scores(full_batch):
    """Do two gradings of the same submission (in parallel workers) agree, in results.json
    and in the gradebook?"""
    first, second = results(full_batch, "reference"), results(full_batch, "reference-again")
    assert [(t["name"], t["score"], t["status"]) for t in first["tests"]] == [
        (t["name"], t["score"], t["status"]) for t in second["tests"]
    ]
    course = Course(full_batch.out / COURSE_FOLDER)
    assert cell_scores(course, "reference") == cell_scores(course, "reference-again")


@pytest.mark.slow
def test_broken_zip_scores_zero_with_a_reason(full_batch):
    """Does a zip that is no zip score 0 with the reason, without stopping the batch?"""
    data = results(full_batch, "broken")
    assert data["score"] == 0
    assert all("not graded" in t["output"] and "zip" in t["output"] for t in data["tests"])
    assert "broken" in full_batch.summary.batch.failed


@pytest.mark.slow
def test_malformed_notebook_costs_that_notebook_with_a_reason(full_batch):
    """Does a notebook that is not JSON cost only what it holds, with the reason: its
    written answers score 0, the checks of the code (graded outside it) stand unflagged?"""
    data = results(full_batch, "malformed")
    assert data["score"] == results(full_batch, "reference")["score"]
    assert f"{full_batch.notebook}.ipynb is not a readable notebook (NotJSONError" in data["output"]
    assert "Flagged" not in data["output"]
    scores = cell_scores(Course(full_batch.out / COURSE_FOLDER), "malformed")
    assert scores == cell_scores(Course(full_batch.out / COURSE_FOLDER), "reference")
    assert sum(score for score, _ in scores.values()) == data["score"]


@pytest.mark.slow
def test_originals_are_not_modified(full_batch):
    """Is every submission byte for byte what it was before grading?"""
    assert tree_digest(full_batch.submissions) == full_batch.before


@pytest.mark.slow
def test_gradebook_holds_the_hardened_scores(full_batch):
    """Does every test cell score what results.json says, and do the written answers still
    wait for the formgrader?"""
    from nbgrader.api import Gradebook

    course = Course(full_batch.out / COURSE_FOLDER)
    for student in ("reference", "stub", "buggy", "cheat"):
        scores = cell_scores(course, student)
        for test in results(full_batch, student)["tests"]:
            assert scores[(full_batch.notebook, grade_id_of(test["name"]))][0] == test["score"]
    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        notebook = gradebook.find_submission_notebook(full_batch.notebook, ASSIGNMENT, "reference")
        manual = [g for g in notebook.grades if g.cell_type == "markdown"]
        assert manual and all(g.needs_manual_grade and g.manual_score is None for g in manual)
        tests = [g for g in notebook.grades if g.cell_type == "code"]
        assert all(g.auto_score == g.max_score for g in tests), "the kernel's verdict is kept"


@pytest.mark.slow
def test_cheat_is_flagged_and_gains_nothing(full_batch):
    """Is every check of the cheat flagged as possible tampering, in results.json, grades.csv
    and on its notebook in the gradebook, while it scores nothing?"""
    from nbgrader.api import Gradebook

    data = results(full_batch, "cheat")
    assert data["score"] == 0
    assert all("possible tampering" in t["output"] for t in data["tests"])
    assert "Flagged for review" in data["output"]
    rows = [r for r in csv_rows(full_batch) if r["student"] == "cheat" and r["status"] != "pending"]
    assert rows and all("possible tampering" in r["message"] and r["score"] == "0" for r in rows)
    course = Course(full_batch.out / COURSE_FOLDER)
    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        assert gradebook.find_submission_notebook(full_batch.notebook, ASSIGNMENT, "cheat").flagged
        assert not gradebook.find_submission_notebook(
            full_batch.notebook, ASSIGNMENT, "reference"
        ).flagged


@pytest.mark.slow
def test_kernel_isolation_is_reported(full_batch):
    """Does results.json say how the notebook kernel was confined?"""
    isolation = full_batch.summary.kernel_isolation
    assert f"kernel with isolation: {isolation}" in results(full_batch, "reference")["output"]


@pytest.mark.slow
def test_executed_notebooks_keep_their_figures(full_batch):
    """Does the executed notebook hold its plots as images, in the formgrader's copy and in
    the feedback page?"""
    import nbformat

    course = Course(full_batch.out / COURSE_FOLDER)
    path = course.autograded_dir("reference") / f"{full_batch.notebook}.ipynb"
    nb = nbformat.read(path, as_version=4)
    images = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert images, "the kernel ran with a backend that shows no figures"
    page = full_batch.out / "reference" / "feedback" / f"{full_batch.notebook}.html"
    assert "data:image/png;base64," in page.read_text()


@pytest.mark.slow
def test_course_stays_private(full_batch):
    """Are the course folder and its gradebook closed to other users?"""
    course = Course(full_batch.out / COURSE_FOLDER)
    assert course.root.stat().st_mode & 0o777 == 0o700
    assert course.gradebook.stat().st_mode & 0o777 == 0o600


# -- the course: reopening, private copies, merging ------------------------------------------


@pytest.fixture(scope="module")
def fake_course(tmp_path_factory):
    """A course of the fake source of test_release, with two students autograded in two
    private copies (plain kernel: the fake notebook needs nothing else)."""
    base = tmp_path_factory.mktemp("merge")
    source = write_fake_source(base / "source")
    course = build_course(source, base / "course")
    copies = {}
    for student in ("ada", "bo"):
        copy = private_copy(course, base / f"{student}-copy")
        submission = base / f"{student}-submission"
        submission.mkdir()
        for path in course.release_dir.rglob("*"):
            if path.is_file():
                target = submission / path.relative_to(course.release_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
        copy.add_submission(student, submission)
        copy.autograde(student)
        copies[student] = copy
    return source, course, copies


@pytest.mark.slow
def test_private_copy_points_at_itself(fake_course):
    """Does a private copy's config make its own folder the course, with its own gradebook,
    and never name the original?"""
    from traitlets.config.loader import PyFileConfigLoader

    _, course, copies = fake_course
    copy = copies["ada"]
    assert str(course.root) not in copy.config_file.read_text()
    config = PyFileConfigLoader(copy.config_file.name, path=str(copy.root)).load_config()
    assert config.CourseDirectory.root == str(copy.root)
    assert config.CourseDirectory.db_url == copy.db_url
    assert copy.gradebook.stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_concurrent_merges_keep_every_student(fake_course):
    """Do two workers merging at the same time both land in the course gradebook, with
    their scores and files?"""
    _, course, copies = fake_course
    errors = []

    def merge(student):
        try:
            merge_into(course, copies[student], student)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=merge, args=(s,)) for s in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for student, copy in copies.items():
        assert cell_scores(course, student) == cell_scores(copy, student)
        assert (course.autograded_dir(student) / "FullyConnectedNets.ipynb").is_file()


@pytest.mark.slow
def test_reopened_course_is_the_same_and_refuses_other_notebooks(fake_course, tmp_path):
    """Is a course with a gradebook reopened as it is (manual grades survive a regrade), and
    are other notebooks refused rather than mixed in?"""
    source, course, _ = fake_course
    stamp = course.gradebook.stat().st_mtime_ns
    assert open_course(course.root, source).root == course.root
    assert course.gradebook.stat().st_mtime_ns == stamp
    with pytest.raises(GradingError, match="use another output folder"):
        open_course(course.root, source, notebooks=[])


def test_unusable_notebooks_are_named_and_unreadable_ones_set_aside(tmp_path):
    """Are missing and unreadable notebooks reported, and only the unreadable ones removed
    from the course's copy (so that nbgrader grades the rest)?"""
    import nbformat

    course = Course(tmp_path / "course")
    course.source_dir.mkdir(parents=True)
    submitted = course.submitted_dir("ada")
    submitted.mkdir(parents=True)
    for name in ("Good", "Broken", "Missing"):
        nbformat.write(nbformat.v4.new_notebook(), str(course.source_dir / f"{name}.ipynb"))
    nbformat.write(nbformat.v4.new_notebook(), str(submitted / "Good.ipynb"))
    (submitted / "Broken.ipynb").write_text("not json")
    found = unusable_notebooks(course, "ada")
    assert sorted(found) == ["Broken", "Missing"]
    assert "not a readable notebook" in found["Broken"] and "missing" in found["Missing"]
    assert sorted(p.name for p in submitted.iterdir()) == ["Good.ipynb"]
