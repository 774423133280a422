"""Tests of grading/nbgrader/course.py: the nbgrader course, its config and the traps it closes.

The slow tests run nbgrader 0.9.6 for real on the fake source of test_release: a course is
built, a release is turned into submissions, and ``nbgrader autograde`` grades them.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import nbformat
import pytest
from traitlets.config.loader import PyFileConfigLoader

from grading.errors import CourseError, ReleaseError
from grading.nbgrader.course import (
    ASSIGNMENT,
    CELL_TIMEOUT,
    COURSE_ID,
    WARNING_PATTERN,
    Course,
    check_student_id,
    register,
)
from grading.nbgrader.workspace import build_course
from tests.grading.test_release import write_fake_source

pytestmark = pytest.mark.grading

NOTEBOOK = "FullyConnectedNets"
STUB = (
    "    # Your code for affine_forward goes here, in place of the raise below.\n"
    "    raise NotImplementedError(\n"
    '        "affine_forward: not implemented yet; write it in assignment/layers.py "\n'
    '        "(see FullyConnectedNets.ipynb)"\n'
    "    )\n"
)
# A shape-correct answer with wrong values: passes the public test, fails the hidden one.
WRONG = "    out = np.zeros((x.shape[0], w.shape[1]))\n"
RIGHT = "    out = x.reshape(x.shape[0], -1).dot(w) + b\n"


def load_config(course: Course):
    return PyFileConfigLoader(course.config_file.name, path=str(course.root)).load_config()


def scores(course: Course, student: str) -> dict[str, tuple]:
    """{graded cell: (auto score, max score, needs manual grade)} from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
        return {g.name: (g.auto_score, g.max_score, g.needs_manual_grade) for g in notebook.grades}


def autograded_cell(course: Course, student: str, grade_id: str):
    nb = nbformat.read(str(course.autograded_dir(student) / f"{NOTEBOOK}.ipynb"), 4)
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def submission(
    release: Path, dest: Path, body: str, *, answer: str | None = None, tamper_helpers: bool = False
) -> Path:
    """The release with affine_forward written as ``body``, the written answer filled in
    and helpers.py edited if asked."""
    shutil.copytree(release, dest)
    if answer is not None:
        path = dest / f"{NOTEBOOK}.ipynb"
        nb = nbformat.read(str(path), 4)
        next(
            c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer"
        ).source = answer
        nbformat.write(nb, str(path))
    layers = dest / "assignment/layers.py"
    text = layers.read_text()
    assert STUB in text
    layers.write_text(text.replace(STUB, body))
    if tamper_helpers:
        (dest / "assignment/helpers.py").write_text("def ones(n):\n    return 'patched'\n")
    return dest


# -- config and gradebook, no nbgrader run ---------------------------------------------------


def test_config_names_student_files_timeout_and_warning_filter(tmp_path):
    """Does the config keep student files, set the cell timeout and filter warnings?"""
    course = Course(tmp_path / "course")
    course.setup(
        student_files=["assignment/optim.py", "assignment/layers.py"],
        timeout=120,
        extra=["c.LimitOutput.max_lines = 50"],
    )
    config = load_config(course)
    assert config.CourseDirectory.root == str(course.root)
    assert config.CourseDirectory.db_url == f"sqlite:///{course.root}/gradebook.db"
    assert config.Autograde.exclude_overwriting == {
        ASSIGNMENT: ["assignment/layers.py", "assignment/optim.py"]
    }
    assert config.Execute.timeout == 120
    assert config.IgnorePattern.enabled is True
    assert config.IgnorePattern.pattern == WARNING_PATTERN
    assert config.LimitOutput.max_lines == 50


def test_default_cell_timeout_is_generous():
    """Is the default per-cell timeout well above nbgrader's 30 s?"""
    assert CELL_TIMEOUT >= 300


@pytest.mark.parametrize(
    "files, timeout, words",
    [
        (["/abs/layers.py"], 300, "relative to the assignment folder"),
        (["../layers.py"], 300, "relative to the assignment folder"),
        ([], 0, "positive number of seconds"),
        ([], 2.5, "positive number of seconds"),
    ],
)
def test_bad_config_values_are_refused(tmp_path, files, timeout, words):
    """Are paths outside the assignment and non-positive timeouts refused?"""
    with pytest.raises(CourseError, match=words):
        Course(tmp_path).write_config(student_files=files, timeout=timeout)


def test_gradebook_is_private_from_the_start(tmp_path):
    """Is the gradebook created 0600 and the course root 0700, before nbgrader opens them?"""
    course = Course(tmp_path / "course")
    course.setup()
    assert course.gradebook.stat().st_mode & 0o777 == 0o600
    assert course.root.stat().st_mode & 0o777 == 0o700


def test_register_adds_assignment_and_students_and_keeps_gradebook_private(tmp_path):
    """Does register create the assignment and the students through nbgrader's Gradebook?"""
    from nbgrader.api import Gradebook

    course = Course(tmp_path / "course")
    course.setup()
    register(course, ["alice", "bob"])
    register(course, ["alice"])  # again: no duplicate, no error
    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        assert [a.name for a in gradebook.assignments] == [ASSIGNMENT]
        assert sorted(s.id for s in gradebook.students) == ["alice", "bob"]
    assert course.gradebook.stat().st_mode & 0o777 == 0o600


def test_register_needs_a_set_up_course(tmp_path):
    """Is registering in a course that was never set up an error naming the gradebook?"""
    with pytest.raises(CourseError, match="gradebook.db: register"):
        register(Course(tmp_path), ["alice"])


@pytest.mark.parametrize("student", ["../x", "a/b", "*", "[ab]", ".hidden", "-rf", ""])
def test_unsafe_student_id_is_refused(tmp_path, student):
    """Is an id that is a path, a glob or an option refused?"""
    with pytest.raises(CourseError, match="student id"):
        Course(tmp_path).submitted_dir(student)


def test_plain_student_ids_pass():
    """Are ordinary ids (mail-like, numbered) accepted?"""
    for student in ["alice", "s12345", "jane.doe@uni.edu", "team_3-b"]:
        assert check_student_id(student) == student


def test_warning_pattern_matches_python_warnings_only():
    """Does the filter match what Python prints for a warning and nothing else on stderr?"""
    warning = warnings.formatwarning(
        "overflow encountered in exp",
        RuntimeWarning,
        "/tmp/ipykernel_77/123.py",
        2,
        "big = np.exp(x)",
    )
    assert re.search(WARNING_PATTERN, warning)
    assert re.search(
        WARNING_PATTERN,
        "note\n" + warnings.formatwarning("x", DeprecationWarning, "/a/layers.py", 10, None),
    )
    for text in [
        'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: no\n',
        "affine_forward: wrong values\n",
        " 40%|####      | 4/10 [00:01<00:02]\n",
        "RuntimeWarning: printed by hand without a location\n",
    ]:
        assert not re.search(WARNING_PATTERN, text), text


def test_add_submission_refuses_a_missing_folder(tmp_path):
    """Is a submission that is not a folder an error naming it?"""
    with pytest.raises(CourseError, match="add_submission"):
        Course(tmp_path).add_submission("alice", tmp_path / "nothing")


# -- nbgrader for real -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course on the fake source, two submissions autograded: (course, release folder).

    ``wrong`` gets shapes right and values wrong, edits a provided file and leaves the
    written answer blank; ``right`` is correct and answers. Neither fills the solution cell.
    """
    from grading.release.build import build_release

    root = tmp_path_factory.mktemp("course")
    source = write_fake_source(root / "source")
    release = build_release(source, root / "release").out
    course = build_course(source, root / "course", students=["wrong", "right"])
    course.add_submission("wrong", submission(release, root / "wrong", WRONG, tamper_helpers=True))
    course.add_submission(
        "right",
        submission(release, root / "right", RIGHT, answer="Longer steps; it may overshoot."),
    )
    course.autograde()
    return course, release


@pytest.mark.slow
def test_student_py_file_is_not_overwritten(graded):
    """Is the student's own layers.py graded, not the course's copy?"""
    course, _ = graded
    for student in ("wrong", "right"):
        graded_file = course.autograded_dir(student) / "assignment/layers.py"
        assert (
            graded_file.read_bytes()
            == (course.submitted_dir(student) / "assignment/layers.py").read_bytes()
        )


@pytest.mark.slow
def test_provided_file_is_replaced_by_the_course_copy(graded):
    """Is an edited provided module replaced by ours before the notebook runs?"""
    course, _ = graded
    assert (course.autograded_dir("wrong") / "assignment/helpers.py").read_bytes() == (
        course.source_dir / "assignment/helpers.py"
    ).read_bytes()


@pytest.mark.slow
def test_course_copies_hold_no_solution_or_hidden_case(graded):
    """Are the files nbgrader copies next to a submission the release-safe ones?"""
    course, _ = graded
    copied = course.autograded_dir("right") / "assignment"
    assert "9876543210" not in (copied / "checks/cases.py").read_text()
    assert not (copied / "checks/hidden_expected.npz").exists()


@pytest.mark.slow
def test_numpy_warning_on_stderr_keeps_full_points(graded):
    """Does a test cell whose only stderr is a numpy RuntimeWarning score full points?"""
    course, _ = graded
    for student in ("wrong", "right"):
        assert scores(course, student)["test_warning"] == (1.0, 1.0, False)


@pytest.mark.slow
def test_hidden_tests_are_restored_and_run(graded):
    """Are the hidden tests put back at autograde time, so a shape-only answer loses points?"""
    course, _ = graded
    for student in ("wrong", "right"):
        assert "### BEGIN HIDDEN TESTS" in autograded_cell(course, student, "test_affine").source
    errors = [
        o
        for o in autograded_cell(course, "wrong", "test_affine").outputs
        if o.output_type == "error"
    ]
    assert [e.evalue for e in errors] == ["hidden: every entry of out should be 3"]
    assert scores(course, "wrong")["test_affine"][:2] == (0.0, 2.0)
    assert scores(course, "right")["test_affine"][:2] == (2.0, 2.0)


@pytest.mark.slow
def test_written_answer_waits_for_the_formgrader(graded):
    """Is a written answer left for manual grading, and a blank one scored 0 at once?"""
    course, _ = graded
    assert scores(course, "right")["answer"] == (None, 1.0, True)
    assert scores(course, "wrong")["answer"] == (0.0, 1.0, False)


@pytest.mark.slow
def test_gradebook_stays_private_after_autograde(graded):
    """Is the gradebook still 0600 once nbgrader has written grades into it?"""
    course, _ = graded
    assert course.gradebook.stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_nbgrader_defaults_overwrite_student_code_and_zero_warnings(graded, tmp_path):
    """Without our config, does nbgrader 0.9.6 fall into both traps (the measurement)?"""
    course, _ = graded
    baseline = Course(tmp_path / "baseline")
    shutil.copytree(course.root, baseline.root, ignore=shutil.ignore_patterns("autograded"))
    baseline.write_config(student_files=[])
    with open(baseline.config_file, "a") as config:
        config.write("c.IgnorePattern.enabled = False\n")
    baseline.autograde("right")
    graded_layers = (baseline.autograded_dir("right") / "assignment/layers.py").read_text()
    assert STUB in graded_layers  # the student's code was replaced by the course's copy
    assert scores(baseline, "right")["test_affine"][0] == 0.0
    stderr = [
        o
        for o in autograded_cell(baseline, "right", "test_warning").outputs
        if o.output_type == "stream" and o.name == "stderr"
    ]
    assert stderr and "RuntimeWarning: overflow encountered in exp" in stderr[0].text
    assert scores(baseline, "right")["test_warning"][0] == 0.0


def test_build_course_refuses_a_used_folder(tmp_path):
    """Is a course folder that already holds something refused?"""
    (tmp_path / "course").mkdir()
    (tmp_path / "course/gradebook.db").write_text("")
    with pytest.raises(ReleaseError, match="not empty"):
        build_course(write_fake_source(tmp_path / "src"), tmp_path / "course")
