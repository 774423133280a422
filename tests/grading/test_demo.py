"""Tests of grading/demo.py: the round trip source -> release -> submissions -> autograde
gives the expected grades (on the shared batch of conftest.py), and the table and verdicts
say so."""

from __future__ import annotations

import pytest

from grading.cli import main
from grading.demo import STAMP, _fresh, grade_table, gradebook_verdict, read_grades, sample_verdicts
from grading.errors import GradingError
from grading.nbgrader.autograde import COURSE_FOLDER
from grading.nbgrader.course import Course
from grading.nbgrader.reconcile import FLAG

pytestmark = pytest.mark.grading


def row(student, check, score, max_score, notebook="FullyConnectedNets", message=""):
    return {
        "student": student,
        "notebook": notebook,
        "check": check,
        "score": float(score),
        "max_score": float(max_score),
        "status": "passed" if score == max_score else "failed",
        "flagged": "yes" if FLAG in message else "",
        "message": message,
    }


def good_rows() -> dict[str, list[dict]]:
    """What the demo should produce on affine_backward, adam and relu_forward."""
    checks = [("affine_backward", 3), ("adam", 3), ("relu_forward", 1)]
    flag = f"{FLAG}: the notebook's test cell passed in the student's kernel"
    return {
        "reference": [row("reference", c, p, p) for c, p in checks],
        "stub": [row("stub", c, 0, p) for c, p in checks],
        "buggy": [row("buggy", c, 0 if c != "relu_forward" else p, p) for c, p in checks],
        "cheat": [row("cheat", c, 0, p, message=flag) for c, p in checks],
    }


def test_verdicts_hold_for_the_expected_grades():
    """Do the four verdicts hold when every sample scores what it should?"""
    verdicts = sample_verdicts(good_rows())
    assert [v.name for v in verdicts] == ["reference", "stub", "buggy", "cheat"]
    assert all(v.ok for v in verdicts), [v.line() for v in verdicts]


@pytest.mark.parametrize(
    "student, index, score",
    [
        ("reference", 1, 0),  # the reference loses a check
        ("stub", 0, 3),  # the stub scores
        ("buggy", 2, 0),  # the buggy one loses a check no bug breaks
        ("buggy", 1, 3),  # ... or keeps one a bug breaks
        ("cheat", 0, 3),  # the cheat gains something
    ],
)
def test_verdicts_catch_a_wrong_grade(student, index, score):
    """Does each verdict fail when its sample is graded wrongly?"""
    rows = good_rows()
    rows[student][index]["score"] = float(score)
    verdict = {v.name: v for v in sample_verdicts(rows)}[student]
    assert not verdict.ok and verdict.line().startswith("UNEXPECTED")


def test_unflagged_cheat_fails_its_verdict():
    """Is a cheat that nobody flagged an unexpected result?"""
    rows = good_rows()
    rows["cheat"][0].update(message="", flagged="")
    assert not {v.name: v for v in sample_verdicts(rows)}["cheat"].ok


def test_grade_table_has_a_row_per_student_and_a_column_per_notebook():
    """Is the table student x notebook with score/max, totals and flags, samples first?"""
    rows = good_rows()
    rows["reference"].append(row("reference", "conv_forward_naive", 3, 3, "ConvolutionalNetworks"))
    lines = grade_table(rows).splitlines()
    assert lines[0].split() == [
        "student",
        "FullyConnectedNets",
        "ConvolutionalNetworks",
        "total",
        "flagged",
    ]
    assert lines[2].split() == ["reference", "7/7", "3/3", "10/10", "0"]
    assert lines[5].split() == ["cheat", "0/7", "0/0", "0/7", "3"]


def test_demo_output_folder_is_replaced_only_when_it_is_a_demos(tmp_path):
    """Is a previous demo's output replaced, and any other non-empty folder refused?"""
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(GradingError, match="not a previous demo"):
        _fresh(other)
    assert (other / "notes.txt").read_text() == "keep me"
    demo = _fresh(tmp_path / "demo")
    (demo / "old.txt").write_text("")
    assert not (_fresh(demo) / "old.txt").exists() and (demo / STAMP).is_file()


def test_cli_demo_exit_status_follows_the_verdicts(monkeypatch, tmp_path):
    """Does `python -m grading demo` exit 0 only when every verdict holds?"""
    import grading.demo

    class Report:
        def __init__(self, ok):
            self.ok = ok

    for ok, status in ((True, 0), (False, 1)):
        monkeypatch.setattr(grading.demo, "run_demo", lambda out, workers, ok=ok: Report(ok))
        assert main(["demo", "--out", str(tmp_path)]) == status


@pytest.mark.slow
def test_round_trip_grades_as_expected(full_batch):
    """Source -> release -> submissions -> full autograde: reference full marks, stub zero,
    buggy loses exactly the checks of its bugs, cheat nothing and flagged; the gradebook
    holds the hardened scores."""
    rows = read_grades(full_batch.out / "grades.csv")
    verdicts = sample_verdicts(rows)
    verdicts.append(gradebook_verdict(Course(full_batch.out / COURSE_FOLDER), rows))
    assert all(v.ok for v in verdicts), "\n".join(v.line() for v in verdicts)
    table = grade_table({s: rows[s] for s in ("reference", "stub", "buggy", "cheat")})
    assert full_batch.notebook in table.splitlines()[0]
