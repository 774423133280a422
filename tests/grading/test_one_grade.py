"""Tests of one grade everywhere: the written questions in grades.csv and summary.csv
(grading/hardened/reports.py), in results.json, and `python -m grading export`
(grading/nbgrader/export.py) bringing the formgrader's scores in.

The batch grades one check (relu_forward) of the reference and the stub; its notebook's
written questions are the real ones. The gradebook is built with nbgrader's own API, laid
out as the full pipeline leaves it (the code's cells hold the hardened scores, written in
by reconcile; the written answers wait for a grader), without running nbgrader.
"""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from assignment.checks import CATALOGUE, CaseOutcome, CheckResult
from grading.cli import main
from grading.errors import GradingError
from grading.hardened.batch import autograde_checks_only
from grading.hardened.reports import (
    GRADED,
    PENDING_MESSAGE,
    refresh_written,
    summary_table,
    written_rows,
)
from grading.layout import NOTEBOOKS, REPO_ROOT
from grading.nbgrader.course import ASSIGNMENT, COURSE_ID, Course, register
from grading.nbgrader.export import GRADED_MESSAGE, UNANSWERED_MESSAGE, export_grades
from grading.nbgrader.reconcile import grade_id_of, reconcile
from grading.release.notebook_transforms import WrittenQuestion, written_questions
from tests.grading.test_batch_ops import samples, submissions  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.grading,
    # nbgrader's add_submission, as nbgrader itself calls it, warns about its own session.
    pytest.mark.filterwarnings("ignore:Object of type:sqlalchemy.exc.SAWarning"),
]

CHECK = "relu_forward"
NOTEBOOK = CATALOGUE[CHECK].notebook
POINTS = CATALOGUE[CHECK].points
WRITTEN = written_questions(REPO_ROOT / NOTEBOOKS, [NOTEBOOK])
WRITTEN_POINTS = sum(q.points for q in WRITTEN)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def by_student(rows):
    found = {}
    for row in rows:
        found.setdefault(row["student"], []).append(row)
    return found


@pytest.fixture(scope="module")
def batch(samples, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    """A checks-only batch of one check: ada the reference, bo the stub."""
    base = tmp_path_factory.mktemp("one_grade")
    folder = submissions(base / "subs", ada=samples["reference"], bo=samples["stub"])
    out = base / "grades"
    autograde_checks_only(folder, out, checks=[CHECK], progress=False)
    return out


def test_the_notebook_has_written_questions():
    """Does the graded notebook have written questions (else these tests prove nothing)?"""
    assert WRITTEN and all(q.notebook == NOTEBOOK and q.points > 0 for q in WRITTEN)


def test_every_student_has_a_pending_row_per_written_question(batch):
    """After the check's row, one row per written question: pending, 0 of its points?"""
    for student, status in (("ada", "passed"), ("bo", "failed")):
        rows = by_student(read_csv(batch / "grades.csv"))[student]
        assert [(r["check"], r["status"]) for r in rows] == [
            (CHECK, status),
            *((q.grade_id, "pending") for q in WRITTEN),
        ]
        for row, question in zip(rows[1:], WRITTEN):
            assert row["notebook"] == NOTEBOOK and row["score"] == "0"
            assert float(row["max_score"]) == question.points
            assert row["message"] == PENDING_MESSAGE and row["flagged"] == ""


def test_summary_counts_the_written_points_in_the_max_and_as_pending(batch):
    """Are the notebook's max and the total max code plus written, with the written points
    in the pending column?"""
    rows = {r["student"]: r for r in read_csv(batch / "summary.csv")}
    whole = POINTS + WRITTEN_POINTS
    assert float(rows["ada"][f"{NOTEBOOK} max"]) == whole == float(rows["ada"]["max"])
    assert float(rows["ada"]["total"]) == POINTS and float(rows["bo"]["total"]) == 0
    assert float(rows["ada"]["pending"]) == WRITTEN_POINTS == float(rows["bo"]["pending"])


def test_results_json_scores_the_code_and_says_what_is_pending(batch):
    """Does results.json score the code only, with one test per check (none for the written
    questions), and say the code's score, what waits for a grader and the total so far?"""
    data = json.loads((batch / "ada" / "results.json").read_text())
    assert data["score"] == POINTS and [t["name"] for t in data["tests"]] == [CHECK]
    output = data["output"]
    assert f"Code: {POINTS:g} of {POINTS:g} points." in output
    assert (
        f"Written answers: {len(WRITTEN)} questions worth {WRITTEN_POINTS:g} points, "
        "graded by hand (pending):"
    ) in output
    assert all(f"{NOTEBOOK}.ipynb {q.grade_id}: {q.points:g} points" in output for q in WRITTEN)
    assert (
        f"Total so far: {POINTS:g} of {POINTS + WRITTEN_POINTS:g} points "
        f"({WRITTEN_POINTS:g} points still to grade by hand)."
    ) in output
    bo = json.loads((batch / "bo" / "results.json").read_text())["output"]
    assert f"Total so far: 0 of {POINTS + WRITTEN_POINTS:g} points" in bo


def test_a_graded_written_row_is_not_pending():
    """Does summary.csv count a graded written row in the total and not as pending?"""
    questions = [WrittenQuestion(NOTEBOOK, "q1", 2.0), WrittenQuestion(NOTEBOOK, "q2", 3.0)]
    rows = written_rows("ada", questions)
    rows[0] = {**rows[0], "status": "graded", "score": 1.5}
    _, table = summary_table(rows)
    assert table == [
        {
            "student": "ada",
            f"{NOTEBOOK} score": 1.5,
            f"{NOTEBOOK} max": 5,
            "total": 1.5,
            "max": 5,
            "pending": 3,
            "flagged": 0,
        }
    ]


# -- export ----------------------------------------------------------------------------------


def course_of(out, students=("ada", "bo")):
    """A gradebook in ``out/.nbgrader`` as the full pipeline leaves one: the notebook's test
    cell of CHECK and its written answers, a submission per student, and the hardened scores
    of grades.csv reconciled into the code's cells."""
    from nbgrader.api import Gradebook

    course = Course(out / ".nbgrader")
    course.setup()
    register(course, students)
    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        gradebook.add_notebook(NOTEBOOK, ASSIGNMENT)
        gradebook.add_grade_cell(
            grade_id_of(CHECK), NOTEBOOK, ASSIGNMENT, max_score=POINTS, cell_type="code"
        )
        for q in WRITTEN:
            gradebook.add_grade_cell(
                q.grade_id, NOTEBOOK, ASSIGNMENT, max_score=q.points, cell_type="markdown"
            )
        for student in students:
            gradebook.add_submission(ASSIGNMENT, student)
    for row in read_csv(out / "grades.csv"):
        if row["check"] == CHECK and row["student"] in students:
            passed = row["status"] == "passed"
            outcome = CaseOutcome("x", [] if passed else [f"{CHECK}: values differ"])
            reconcile(course, row["student"], [CheckResult(CHECK, NOTEBOOK, POINTS, [outcome])])
    return course


def set_grade(course, student, grade_id, **values):
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        grade = gradebook.find_grade(grade_id, NOTEBOOK, ASSIGNMENT, student)
        for name, value in values.items():
            setattr(grade, name, value)
        gradebook.db.commit()


def gradebook_score(course, student):
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        return float(gradebook.find_submission(ASSIGNMENT, student).score)


@pytest.fixture
def graded(batch, tmp_path):
    """A copy of the batch's folder with a gradebook: ada's first written answer scored
    by hand, bo's last left as released (nbgrader scored it 0 and asks for no grader)."""
    out = tmp_path / "grades"
    shutil.copytree(batch, out)
    course = course_of(out)
    set_grade(course, "ada", WRITTEN[0].grade_id, manual_score=1.5, needs_manual_grade=False)
    set_grade(course, "bo", WRITTEN[-1].grade_id, auto_score=0.0, needs_manual_grade=False)
    return out, course


def test_export_brings_in_the_formgraders_scores(graded, capsys):
    """Does export make the answer scored by hand graded, with its score, keep the others
    pending and the code's rows as they were, so that grades.csv, summary.csv and the
    gradebook agree on each student's total?"""
    out, course = graded
    before = read_csv(out / "grades.csv")
    assert main(["export", "--grades", str(out)]) == 0
    assert f"2 written answer(s) graded, {2 * len(WRITTEN) - 2} still pending" in (
        capsys.readouterr().out
    )
    rows = read_csv(out / "grades.csv")
    changed = [(b["student"], b["check"]) for b, a in zip(before, rows) if b != a]
    assert len(rows) == len(before) and changed == [
        ("ada", WRITTEN[0].grade_id),
        ("bo", WRITTEN[-1].grade_id),
    ]
    mine = {(r["student"], r["check"]): r for r in rows}
    ada = mine["ada", WRITTEN[0].grade_id]
    assert (ada["status"], ada["score"], ada["message"]) == ("graded", "1.5", GRADED_MESSAGE)
    bo = mine["bo", WRITTEN[-1].grade_id]
    assert (bo["status"], bo["score"], bo["message"]) == ("graded", "0", UNANSWERED_MESSAGE)
    summary = {r["student"]: r for r in read_csv(out / "summary.csv")}
    for student in ("ada", "bo"):
        total = sum(float(r["score"]) for r in rows if r["student"] == student)
        assert float(summary[student]["total"]) == total == gradebook_score(course, student)
    assert float(summary["ada"]["total"]) == POINTS + 1.5
    assert float(summary["ada"]["pending"]) == WRITTEN_POINTS - WRITTEN[0].points
    assert float(summary["ada"]["max"]) == POINTS + WRITTEN_POINTS
    # results.json says the same: the graded answer with its score, the same total.
    ada_json = json.loads((out / "ada" / "results.json").read_text())
    assert ada_json["score"] == POINTS, "results.json's score stays the code's"
    output = ada_json["output"]
    assert (
        f"{NOTEBOOK}.ipynb {WRITTEN[0].grade_id}: 1.5 of {WRITTEN[0].points:g} points, graded"
        in output
    )
    assert (
        f"{NOTEBOOK}.ipynb {WRITTEN[1].grade_id}: {WRITTEN[1].points:g} points, pending" in output
    )
    assert (
        f"Total so far: {float(summary['ada']['total']):g} of {POINTS + WRITTEN_POINTS:g} points "
        f"({float(summary['ada']['pending']):g} points still to grade by hand)."
    ) in output
    assert output.count("Written answers:") == 1 and output.count("Total so far:") == 1


def test_export_again_gives_the_same_tables_and_follows_a_changed_score(graded):
    """Is export repeatable, and does a score changed in the formgrader replace the one
    exported before?"""
    out, course = graded
    export_grades(out)
    first = {name: (out / name).read_bytes() for name in ("grades.csv", "summary.csv")}
    export_grades(out)
    assert first == {name: (out / name).read_bytes() for name in ("grades.csv", "summary.csv")}
    set_grade(course, "ada", WRITTEN[0].grade_id, manual_score=2.0)
    export_grades(out)
    row = {(r["student"], r["check"]): r for r in read_csv(out / "grades.csv")}
    assert row["ada", WRITTEN[0].grade_id]["score"] == "2"


def test_export_leaves_a_student_the_gradebook_lacks(batch, tmp_path):
    """Are the rows of a student with no submission in the gradebook left as they were,
    with a note naming the student?"""
    out = tmp_path / "grades"
    shutil.copytree(batch, out)
    before = by_student(read_csv(out / "grades.csv"))["bo"]
    course = course_of(out, students=("ada",))
    summary = export_grades(out, course.root)
    assert by_student(read_csv(out / "grades.csv"))["bo"] == before
    assert summary.graded == 0 and summary.pending == 2 * len(WRITTEN)
    assert len(summary.notes) == 1 and "bo" in summary.notes[0]


def test_export_without_a_gradebook_says_where_it_looked(batch, tmp_path, capsys):
    """Is a grade folder without a course refused in one line naming the gradebook, and the
    tables left alone?"""
    out = tmp_path / "grades"
    shutil.copytree(batch, out)
    before = (out / "grades.csv").read_bytes()
    assert main(["export", "--grades", str(out)]) == 1
    err = capsys.readouterr().err
    assert "gradebook.db" in err and "--course" in err and len(err.splitlines()) == 1
    assert (out / "grades.csv").read_bytes() == before
    assert not (out / ".nbgrader" / "gradebook.db").exists()
    with pytest.raises(GradingError, match="no grades to export"):
        export_grades(tmp_path / "empty")


@pytest.mark.slow
def test_export_after_the_full_pipeline_agrees_with_its_gradebook(full_batch, tmp_path):
    """After the full autograde (nbgrader's own gradebook) and an answer scored by hand, do
    grades.csv, summary.csv and the gradebook agree on every sample's total?"""
    from nbgrader.api import Gradebook

    out = tmp_path / "grades"
    shutil.copytree(full_batch.out, out, symlinks=True)
    course = Course(out / ".nbgrader")
    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        notebook = gradebook.find_submission_notebook(full_batch.notebook, ASSIGNMENT, "reference")
        answer = next(g for g in notebook.grades if g.cell_type == "markdown")
        answer.manual_score = answer.max_score / 2
        answer.needs_manual_grade = False
        name, half = answer.name, answer.max_score / 2
        gradebook.db.commit()
    summary = export_grades(out)
    assert summary.graded >= 1 and any("broken" in note for note in summary.notes)
    rows = read_csv(out / "grades.csv")
    row = next(r for r in rows if r["student"] == "reference" and r["check"] == name)
    assert (row["status"], float(row["score"])) == ("graded", half)
    totals = {r["student"]: float(r["total"]) for r in read_csv(out / "summary.csv")}
    for student in ("reference", "reference-again", "stub", "buggy", "cheat"):
        mine = sum(float(r["score"]) for r in rows if r["student"] == student)
        assert totals[student] == pytest.approx(mine), student
        assert mine == pytest.approx(gradebook_score(course, student)), student


def test_refresh_adds_the_written_block_to_a_results_json_without_one(tmp_path):
    """A results.json written before it listed the written answers gets them after the code's
    line, with the total, and keeps its other lines and its score."""
    path = tmp_path / "results.json"
    old = {
        "score": 7,
        "output": "Graded outside; isolation: rlimits.\nCode: 7 of 10 points.\nA note.",
        "tests": [{"name": "a", "score": 7, "max_score": 10}],
    }
    path.write_text(json.dumps(old))
    q1, q2 = WrittenQuestion("Dropout", "q1", 2), WrittenQuestion("Dropout", "q2", 3)
    rows = written_rows("ada", [q1, q2])
    rows[0].update(score=1.5, status=GRADED)
    refresh_written(path, rows)
    data = json.loads(path.read_text())
    lines = data["output"].split("\n")
    assert data["score"] == 7 and data["tests"] == old["tests"]
    assert lines[:2] == old["output"].split("\n")[:2] and lines[-1] == "A note."
    assert lines[2].startswith("Written answers: 2 questions worth 5 points")
    assert lines[3] == "  Dropout.ipynb q1: 1.5 of 2 points, graded"
    assert lines[5] == "Total so far: 8.5 of 15 points (3 points still to grade by hand)."
    # Refreshed again once the last answer is graded: one block, the final total.
    rows[1].update(score=3, status=GRADED)
    refresh_written(path, rows)
    output = json.loads(path.read_text())["output"]
    assert output.count("Written answers:") == 1 and "Total: 11.5 of 15 points." in output
