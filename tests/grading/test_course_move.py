"""Tests of a grade folder that is moved or copied as a whole (grading/nbgrader/course.py,
grading/nbgrader/workspace.py): the course config names no absolute path, the formgrader's
API works in the new place, a regrade there keeps everyone else, and the formgrader's
Autograde button refuses without deleting anything.

The slow tests share one batch of the full pipeline (two samples, one notebook) whose grade
folder is copied elsewhere and the original deleted, as an instructor moving it would.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest
from traitlets.config.loader import PyFileConfigLoader

from grading.errors import CourseError
from grading.layout import REPO_ROOT
from grading.nbgrader.autograde import COURSE_FOLDER
from grading.nbgrader.course import ASSIGNMENT, AUTOGRADE_REFUSED, Course
from grading.nbgrader.reconcile import cell_scores
from grading.nbgrader.workspace import open_course, private_copy
from tests.grading.conftest import NOTEBOOK, tree_digest

pytestmark = pytest.mark.grading

STUDENTS = {"ada": "reference", "bo": "stub"}  # id: sample handed in
# The config an earlier version wrote: the course and its gradebook as absolute paths.
OLD_CONFIG = """c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = 'assignment-suite'
c.CourseDirectory.db_url = 'sqlite:///{root}/gradebook.db'
c.Autograde.exclude_overwriting = {{'a2': ['assignment/layers.py']}}
c.Execute.timeout = 120
"""


def load_config(root: Path):
    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def formgrader_api(root: Path):
    """nbgrader's API on the course at ``root``, configured from its own config file, as the
    formgrader opened in that folder builds it."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = load_config(root)
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def copy_grades(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, symlinks=True)
    return dest


def grade_rows(out: Path) -> dict[str, list[tuple]]:
    """{student: [(check, score, status)]} from ``out/grades.csv``."""
    rows = {}
    with open(out / "grades.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["student"], []).append((row["check"], row["score"], row["status"]))
    return rows


# -- the config, no nbgrader run -------------------------------------------------------------


def test_config_names_its_own_folder_wherever_it_is(tmp_path):
    """Does a course's config name no absolute path, and name the new folder once copied?"""
    course = Course(tmp_path / "grades/.nbgrader")
    course.setup(student_files=["assignment/layers.py"])
    assert str(tmp_path) not in course.config_file.read_text()
    moved = copy_grades(tmp_path / "grades", tmp_path / "elsewhere/grades") / ".nbgrader"
    shutil.rmtree(tmp_path / "grades")
    config = load_config(moved)
    assert config.CourseDirectory.root == str(moved)
    assert config.CourseDirectory.db_url == f"sqlite:///{moved}/gradebook.db"
    assert Course(moved).config_is_portable()


def test_private_copy_grades_into_its_own_gradebook(tmp_path):
    """Does a worker's private copy name itself as the course, with the extra lines added?"""
    course = Course(tmp_path / "course")
    course.setup()
    copy = private_copy(course, tmp_path / "copy", extra=["c.Execute.timeout = 7"])
    config = load_config(copy.root)
    assert config.CourseDirectory.root == str(copy.root)
    assert config.CourseDirectory.db_url == copy.db_url
    assert config.Execute.timeout == 7
    assert copy.gradebook.stat().st_mode & 0o777 == 0o600


def test_private_copy_refuses_a_config_with_fixed_paths(tmp_path):
    """Is a course whose config names a fixed root refused, rather than copied into a
    worker that would then grade into the original's gradebook?"""
    course = Course(tmp_path / "course")
    course.setup()
    course.config_file.write_text(OLD_CONFIG.format(root=str(course.root)))
    with pytest.raises(CourseError, match="private_copy: .*open_course"):
        private_copy(course, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


# -- a graded grade folder, moved ------------------------------------------------------------


@pytest.fixture(scope="module")
def moved(sample_dirs, tmp_path_factory) -> dict:
    """Two samples graded by the full pipeline into ``grades/``, then the folder copied to
    ``elsewhere/grades/`` and the original deleted."""
    from grading.nbgrader.autograde import autograde

    if NOTEBOOK is None:
        pytest.skip("no notebook to grade in this source tree")
    base = tmp_path_factory.mktemp("move")
    submissions = base / "submissions"
    for student, sample in STUDENTS.items():
        shutil.copytree(sample_dirs[sample], submissions / student)
    autograde(submissions, base / "grades", notebooks=[NOTEBOOK], progress=False)
    out = copy_grades(base / "grades", base / "elsewhere/grades")
    shutil.rmtree(base / "grades")
    return {"base": base, "original": base / "grades", "out": out, "samples": sample_dirs}


@pytest.mark.slow
def test_moved_course_names_no_old_place(moved):
    """Does nothing in the moved course's config or gradebook name the deleted original?"""
    course = Course(moved["out"] / COURSE_FOLDER)
    old = str(moved["original"]).encode()
    assert old not in course.config_file.read_bytes()
    assert old not in course.gradebook.read_bytes()
    assert load_config(course.root).CourseDirectory.root == str(course.root)


@pytest.mark.slow
def test_formgrader_lists_and_reads_the_moved_course(moved, tmp_path):
    """Does nbgrader's API, as the formgrader builds it in the moved folder, list both
    students as autograded, read their autograded notebooks and take a manual grade?"""
    out = copy_grades(moved["out"], tmp_path / "grades")
    course = Course(out / COURSE_FOLDER)
    api = formgrader_api(course.root)
    assert api.coursedir.root == str(course.root)
    submissions = api.get_submissions(ASSIGNMENT)
    assert sorted((s["student"], s["autograded"]) for s in submissions) == [
        ("ada", True),
        ("bo", True),
    ]
    for student in STUDENTS:
        folder = api.coursedir.format_path(api.coursedir.autograded_directory, student, ASSIGNMENT)
        assert Path(folder) == course.autograded_dir(student)
        nbformat.read(str(Path(folder) / f"{NOTEBOOK}.ipynb"), as_version=4)
    with api.gradebook as gradebook:
        grade = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, "bo").grades[0]
        grade.manual_score, name = grade.max_score, grade.name
        gradebook.db.commit()
    with api.gradebook as gradebook:
        grade = gradebook.find_grade(name, NOTEBOOK, ASSIGNMENT, "bo")
        assert grade.manual_score == grade.max_score


@pytest.mark.slow
def test_autograde_button_refuses_and_deletes_nothing(moved, tmp_path):
    """Does the formgrader's Autograde button fail with the sentence saying what to run, and
    leave every file of the course (autograded notebooks, gradebook) as it was?"""
    out = copy_grades(moved["out"], tmp_path / "grades")
    course = Course(out / COURSE_FOLDER)
    before = tree_digest(course.root)
    result = formgrader_api(course.root).autograde(ASSIGNMENT, "ada")
    sentence = AUTOGRADE_REFUSED.format(out=out)
    assert result["success"] is False
    assert sentence in result["log"] and sentence in result["error"]
    assert tree_digest(course.root) == before
    assert (course.autograded_dir("ada") / f"{NOTEBOOK}.ipynb").is_file()


@pytest.mark.slow
def test_feedback_button_still_works(moved, tmp_path):
    """Does the formgrader's feedback (generate_feedback, through nbgrader's API) still run
    in the moved course, hidden tests redacted by the course's preprocessor?"""
    out = copy_grades(moved["out"], tmp_path / "grades")
    course = Course(out / COURSE_FOLDER)
    result = formgrader_api(course.root).generate_feedback(ASSIGNMENT, "ada")
    assert result["success"], result.get("error")
    assert (course.feedback_dir("ada") / f"{NOTEBOOK}.html").is_file()


@pytest.mark.slow
def test_regrade_after_the_move_keeps_the_other_students(moved, tmp_path):
    """Does the full pipeline regrade one student into the moved folder, keep the other's
    rows and gradebook scores, and leave the deleted original alone?"""
    from grading.nbgrader.autograde import autograde

    out = copy_grades(moved["out"], tmp_path / "grades")
    course = Course(out / COURSE_FOLDER)
    rows = grade_rows(out)
    scores = {student: cell_scores(course, student) for student in STUDENTS}
    again = tmp_path / "again"
    shutil.copytree(moved["samples"]["reference"], again / "bo")  # bo hands in a full answer
    summary = autograde(again, out, notebooks=[NOTEBOOK], progress=False)
    assert summary.course == course.root
    after = grade_rows(out)
    assert after["ada"] == rows["ada"]
    assert "passed" in {status for _, _, status in after["bo"]}
    assert "passed" not in {status for _, _, status in rows["bo"]}
    assert cell_scores(course, "ada") == scores["ada"]
    assert cell_scores(course, "bo") != scores["bo"]
    assert not moved["original"].exists()


@pytest.mark.slow
def test_course_with_an_old_config_reopens_portable(moved, tmp_path):
    """Is a course whose config an earlier version wrote (absolute paths of a folder that no
    longer exists) rewritten on reopening: its own folder, the same student files and
    timeout, and the Autograde button refused?"""
    out = copy_grades(moved["out"], tmp_path / "grades")
    course = Course(out / COURSE_FOLDER)
    course.config_file.write_text(OLD_CONFIG.format(root=str(moved["original"] / COURSE_FOLDER)))
    assert not course.config_is_portable()
    reopened = open_course(course.root, REPO_ROOT, [NOTEBOOK])
    assert reopened.config_is_portable()
    config = load_config(course.root)
    assert config.CourseDirectory.root == str(course.root)
    assert config.Autograde.exclude_overwriting == {ASSIGNMENT: ["assignment/layers.py"]}
    assert config.Execute.timeout == 120
    before = tree_digest(course.root)
    assert formgrader_api(course.root).autograde(ASSIGNMENT, "bo")["success"] is False
    assert tree_digest(course.root) == before
