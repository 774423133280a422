"""Tests of the batch operations at scale: regrading into an existing folder, summary.csv,
sharding and merging shards (grading/hardened/merge_outputs.py), and --timeout.

The graded runs use one check (relu_forward) on two or three tiny submissions; the merge
tests write their grade folders with a stand-in grader."""

from __future__ import annotations

import csv
import shutil

import pytest

from assignment.checks import CATALOGUE, CaseOutcome, CheckResult
from grading.cli import build_parser, main
from grading.errors import GradingError
from grading.hardened.batch import Graded, autograde_checks_only, grade_batch, parse_shard
from grading.hardened.merge_outputs import merge_outputs
from grading.hardened.reports import CSV_FIELDS, read_grades_csv, summary_table
from grading.layout import NOTEBOOKS, REPO_ROOT
from grading.release.notebook_transforms import written_questions
from grading.release.stage import stage_package

pytestmark = pytest.mark.grading

CHECK = "relu_forward"
POINTS = CATALOGUE[CHECK].points
# The written questions of CHECK's notebook: a row each, pending, for every student graded.
WRITTEN = written_questions(REPO_ROOT / NOTEBOOKS, [CATALOGUE[CHECK].notebook])


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """The stub (relu_forward not written) and the reference, as staged packages."""
    base = tmp_path_factory.mktemp("batch_ops")
    stub = base / "stub"
    stage_package(REPO_ROOT, stub)
    reference = base / "reference"
    shutil.copytree(stub, reference)
    shutil.copyfile(REPO_ROOT / "assignment/layers.py", reference / "assignment/layers.py")
    return {"stub": stub, "reference": reference}


def submissions(folder, **students):
    """A folder of submissions: ``student=sample`` each."""
    folder.mkdir()
    for student, sample in students.items():
        shutil.copytree(sample, folder / student)
    return folder


def scores(out):
    return {(r["student"], r["check"]): r["score"] for r in read_csv(out / "grades.csv")}


def pending(*students):
    """The scores of the written questions' rows of ``students``, all pending."""
    return {(student, q.grade_id): "0" for student in students for q in WRITTEN}


def test_a_regrade_keeps_the_other_students(samples, tmp_path):
    """Does grading one student into an existing folder replace that student's rows and
    keep everyone else's rows and folders?"""
    first = submissions(tmp_path / "first", ada=samples["stub"], bo=samples["stub"])
    out = tmp_path / "grades"
    autograde_checks_only(first, out, checks=[CHECK], progress=False)
    assert scores(out) == {("ada", CHECK): "0", ("bo", CHECK): "0"} | pending("ada", "bo")
    bo_log = (out / "bo" / "grading.log").read_text()

    again = submissions(tmp_path / "again", ada=samples["reference"])
    summary = autograde_checks_only(again, out, checks=[CHECK], progress=False)
    assert summary.graded == ["ada"]
    assert scores(out) == {("ada", CHECK): str(POINTS), ("bo", CHECK): "0"} | pending("ada", "bo")
    assert (out / "bo" / "grading.log").read_text() == bo_log
    summary_rows = read_csv(out / "summary.csv")
    assert [(r["student"], r["total"]) for r in summary_rows] == [("ada", str(POINTS)), ("bo", "0")]


def stand_in(results_of):
    """A ``grade_one`` giving ``results_of[student]`` (a list of CheckResult)."""

    def grade_one(student, root, scratch):
        return Graded(results_of[student], "test")

    return grade_one


def result(name, notebook, points, score, flags=()):
    messages = [] if score == points else [f"{name}: values differ"]
    r = CheckResult(name, notebook, points, [CaseOutcome("x (3, 4)", messages)], flags=flags)
    assert r.score == score
    return r


RESULTS = {
    "ada": [
        result("batchnorm_forward", "BatchNormalization", 2, 2, flags=["tampering"]),
        result("relu_forward", "FullyConnectedNets", 1, 1),
        result("affine_forward", "FullyConnectedNets", 2, 0),
    ],
    "bo": [
        result("relu_forward", "FullyConnectedNets", 1, 0),
        result("affine_forward", "FullyConnectedNets", 2, 2),
    ],
    "=cy": [result("relu_forward", "FullyConnectedNets", 1, 1)],
}


def stand_in_batch(tmp_path, name, students, shard=None):
    folder = tmp_path / f"{name}-subs"
    if not folder.exists():
        folder.mkdir()
        for student in students:
            (folder / student).mkdir()
    out = tmp_path / name
    grade_batch(
        folder,
        out,
        grade_one=stand_in(RESULTS),
        checks=[],
        shard=shard,
        progress=False,
        timeout_s=60,
    )
    return out


def test_summary_has_one_row_per_student(tmp_path):
    """Does summary.csv hold per notebook (curriculum order) score and max, the total, the
    max and the flagged count, a missing notebook empty, a formula-like name quoted?"""
    out = stand_in_batch(tmp_path, "out", RESULTS)
    rows = read_csv(out / "summary.csv")
    assert list(rows[0]) == [
        "student",
        "FullyConnectedNets score",
        "FullyConnectedNets max",
        "BatchNormalization score",
        "BatchNormalization max",
        "total",
        "max",
        "pending",
        "flagged",
    ]
    assert [list(r.values()) for r in rows] == [
        ["'=cy", "1", "1", "", "", "1", "1", "0", "0"],
        ["ada", "1", "3", "2", "2", "3", "5", "0", "1"],
        ["bo", "2", "3", "", "", "2", "3", "0", "0"],
    ]
    # read back, a quoted name is the student's own, so a regrade finds it
    assert {r["student"] for r in read_grades_csv(out / "grades.csv")} == {"=cy", "ada", "bo"}


def test_shards_merged_equal_one_run(tmp_path):
    """Do --shard 1/2 and 2/2, merged, give the rows (and folders) of one unsharded run?"""
    students = sorted(RESULTS)
    whole = stand_in_batch(tmp_path, "whole", students)
    shards = [stand_in_batch(tmp_path, f"s{i}", students, shard=(i, 2)) for i in (1, 2)]
    assert [{r["student"] for r in read_grades_csv(s / "grades.csv")} for s in shards] == [
        set(students[0::2]),
        set(students[1::2]),
    ]
    before = {p: p.read_bytes() for s in shards for p in s.rglob("*") if p.is_file()}
    summary = merge_outputs(shards, tmp_path / "all")
    assert sorted(summary.students) == students
    for table in ("grades.csv", "summary.csv"):
        assert read_csv(tmp_path / "all" / table) == read_csv(whole / table)
    for student in students:
        assert (tmp_path / "all" / student / "results.json").read_text() == (
            whole / student / "results.json"
        ).read_text()
    assert before == {p: p.read_bytes() for s in shards for p in s.rglob("*") if p.is_file()}


def test_merge_refuses_a_student_in_two_inputs(tmp_path):
    one = stand_in_batch(tmp_path, "one", ["ada", "bo"])
    two = stand_in_batch(tmp_path, "two", ["bo"])
    with pytest.raises(GradingError, match=r"bo was graded in both .*one and .*two"):
        merge_outputs([one, two], tmp_path / "all")
    assert not (tmp_path / "all").exists()


def test_merge_updates_an_earlier_merge_and_notes_courses(tmp_path, capsys):
    """Does merging a regraded shard into an earlier merge replace its students only, and
    does the CLI say that nbgrader courses stay per shard?"""
    one = stand_in_batch(tmp_path, "one", ["ada"])
    two = stand_in_batch(tmp_path, "two", ["bo"])
    merge_outputs([one, two], tmp_path / "all")
    (two / ".nbgrader").mkdir()
    (two / ".nbgrader" / "gradebook.db").write_bytes(b"")
    shutil.rmtree(two / "bo")
    assert main(["merge", str(two), "--out", str(tmp_path / "all")]) == 0
    printed = capsys.readouterr().out
    assert "merged 1 student(s)" in printed and "gradebooks are not merged" in printed
    assert {r["student"] for r in read_csv(tmp_path / "all" / "grades.csv")} == {"ada", "bo"}


def test_merge_refuses_to_write_into_an_input_or_an_input_twice(tmp_path):
    one = stand_in_batch(tmp_path, "one", ["ada"])
    with pytest.raises(GradingError, match="only read"):
        merge_outputs([one], one / "all")
    with pytest.raises(GradingError, match="named twice"):
        merge_outputs([one, one], tmp_path / "all")


@pytest.mark.parametrize(
    "text",
    [
        "student,score\nada,1\n",  # another header
        ",".join(CSV_FIELDS) + "\nada,FullyConnectedNets,relu_forward,1\n",  # cut short
        ",".join(CSV_FIELDS) + "\nada,FullyConnectedNets,relu_forward,one,1,passed,,\n",
        ",".join(CSV_FIELDS) + "\n../up,FullyConnectedNets,relu_forward,1,1,passed,,\n",
    ],
)
def test_a_malformed_grades_csv_is_refused_not_overwritten(tmp_path, text):
    out = tmp_path / "out"
    out.mkdir()
    (out / "grades.csv").write_text(text)
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    with pytest.raises(GradingError, match="grades.csv"):
        grade_batch(tmp_path / "subs", out, grade_one=stand_in(RESULTS), checks=[], progress=False)
    assert (out / "grades.csv").read_text() == text and not (out / "ada").exists()


def test_summary_of_no_rows_is_a_header():
    assert summary_table([]) == (["student", "total", "max", "pending", "flagged"], [])


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/2/3", "-1/2"])
def test_a_bad_shard_is_refused(text):
    with pytest.raises(GradingError, match="I/N"):
        parse_shard(text)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["autograde", "subs", "--out", "o", "--shard", text])


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_timeout_must_be_positive(value, capsys):
    for verb in (["check", "sub"], ["autograde", "subs", "--out", "o"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*verb, "--timeout", value])
    assert "positive number of seconds" in capsys.readouterr().err


def test_timeout_sets_the_submission_budget(samples, capsys):
    """Does `check --timeout` reach the grader (a budget far too short for any check)?"""
    assert build_parser().parse_args(["check", "s", "--timeout", "90"]).timeout == 90.0
    assert main(["check", str(samples["reference"]), "--only", CHECK, "--timeout", "1e-6"]) == 0
    assert "time budget of the submission ran out" in capsys.readouterr().out


def test_help_lists_the_options(capsys):
    for verb, options in (
        ("autograde", ("--shard", "--timeout")),
        ("check", ("--timeout",)),
        ("merge", ("--out",)),
    ):
        with pytest.raises(SystemExit):
            main([verb, "--help"])
        text = capsys.readouterr().out
        assert all(option in text for option in options), verb


def test_cli_grades_one_shard(samples, tmp_path, capsys):
    """Does `autograde --checks-only --shard 2/2` grade the second student by id only?"""
    folder = submissions(tmp_path / "subs", ada=samples["stub"], bo=samples["reference"])
    out = tmp_path / "grades"
    argv = ["autograde", str(folder), "--out", str(out), "--checks-only", "--only", CHECK]
    assert main([*argv, "--shard", "2/2", "--timeout", "300"]) == 0
    assert "graded 1 submission(s)" in capsys.readouterr().out
    assert scores(out) == {("bo", CHECK): str(POINTS)} | pending("bo")
    assert not (out / "ada").exists()


def test_a_submission_named_like_a_table_is_skipped(tmp_path):
    """Is a submission named summary.csv skipped (its folder would take the table's place)?"""
    (tmp_path / "subs" / "summary.csv").mkdir(parents=True)
    (tmp_path / "subs" / "ada").mkdir()
    summary = grade_batch(
        tmp_path / "subs", tmp_path / "out", grade_one=stand_in(RESULTS), progress=False
    )
    assert summary.graded == ["ada"] and "summary.csv" in summary.skipped[0]
    assert (tmp_path / "out" / "summary.csv").is_file()
