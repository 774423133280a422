"""Tests of grading/cli.py: the `check` and `autograde --checks-only` verbs end to end."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile

import pytest

from assignment.checks import CATALOGUE
from grading.cli import main
from grading.hardened import batch
from grading.layout import NOTEBOOKS, REPO_ROOT
from grading.release.notebook_transforms import written_questions
from grading.release.stage import stage_package

pytestmark = pytest.mark.grading

ONLY = ["--only", "affine_forward", "--only", "sgd_momentum"]
TOTAL = CATALOGUE["affine_forward"].points + CATALOGUE["sgd_momentum"].points


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    """A folder with the reference (as a zip), the stub (a folder) and a broken zip."""
    base = tmp_path_factory.mktemp("cli")
    stub = base / "stub"
    stage_package(REPO_ROOT, stub)
    reference = base / "reference"
    shutil.copytree(stub, reference)
    for rel in ("assignment/layers.py", "assignment/optim.py"):
        shutil.copyfile(REPO_ROOT / rel, reference / rel)
    folder = base / "submissions"
    folder.mkdir()
    with zipfile.ZipFile(folder / "ada.zip", "w") as archive:
        for path in reference.rglob("*"):
            if path.is_file():
                archive.write(path, path.relative_to(reference).as_posix())
    shutil.copytree(stub, folder / "bo")
    (folder / "cy.zip").write_text("not a zip")
    return base, folder


def test_check_prints_the_table(submissions, capsys):
    """Does `check` grade one folder and print a table with the isolation?"""
    base, _ = submissions
    assert main(["check", str(base / "reference"), *ONLY]) == 0
    out = capsys.readouterr().out
    assert "affine_forward" in out and f"{TOTAL:g}/{TOTAL:g}" in out and "isolation:" in out


def test_check_json_is_results_json(submissions, capsys):
    """Does `check --json` print results.json (for a zip too)?"""
    _, folder = submissions
    assert main(["check", str(folder / "ada.zip"), "--json", *ONLY]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["score"] == TOTAL and [t["name"] for t in data["tests"]] == [
        "affine_forward",
        "sgd_momentum",
    ]


def test_check_of_everything_lists_the_written_answers_pending(submissions, capsys, monkeypatch):
    """Does `check --json` without --only say, as a batch's results.json does, which written
    answers wait for a grader and the total so far, with stdout the JSON alone although the
    set-up prints (the data notice, printed once per process when the data is first read)?"""
    _, folder = submissions
    written = written_questions(REPO_ROOT / NOTEBOOKS)
    real_check_one = batch.check_one

    def chatty_check_one(*args, **kwargs):
        print("get_CIFAR10_data: a notice on stdout")
        return real_check_one(*args, **kwargs)

    monkeypatch.setattr(batch, "check_one", chatty_check_one)
    assert main(["check", str(folder / "bo"), "--json"]) == 0
    captured = capsys.readouterr()
    assert "get_CIFAR10_data:" in captured.err
    output = json.loads(captured.out)["output"]
    assert f"Written answers: {len(written)} questions" in output and "Total so far: 0 of" in output


def test_autograde_checks_only_writes_every_students_results(submissions, tmp_path, capsys):
    """Does `autograde --checks-only --workers 2` write results.json per student and
    grades.csv, with the broken zip graded 0 with its reason and the others intact?"""
    _, folder = submissions
    out = tmp_path / "grades"
    assert (
        main(
            ["autograde", str(folder), "--out", str(out), "--checks-only", "--workers", "2", *ONLY]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "graded 2 submission(s), 1 not graded" in printed and "cy" in printed
    scores = {
        s: json.loads((out / s / "results.json").read_text())["score"] for s in ("ada", "bo", "cy")
    }
    assert scores == {"ada": TOTAL, "bo": 0, "cy": 0}
    with open(out / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # Both checks are FullyConnectedNets', so its written questions wait for a grader.
    written = written_questions(REPO_ROOT / NOTEBOOKS, ["FullyConnectedNets"])
    assert written
    assert [(r["student"], r["check"], r["status"]) for r in rows] == [
        row
        for student, status in (("ada", "passed"), ("bo", "failed"), ("cy", "error"))
        for row in [
            (student, "affine_forward", status),
            (student, "sgd_momentum", status),
            *((student, q.grade_id, "pending") for q in written),
        ]
    ]
    assert "not a readable zip" in rows[-1 - len(written)]["message"]


def test_only_without_checks_only_says_what_to_do(submissions, tmp_path, capsys):
    """Is --only refused on the full (nbgrader) path, pointing to --checks-only?"""
    _, folder = submissions
    assert main(["autograde", str(folder), "--out", str(tmp_path), *ONLY]) == 1
    assert "--checks-only" in capsys.readouterr().err


def test_unknown_check_is_one_line_error(submissions, capsys):
    base, _ = submissions
    assert main(["check", str(base / "reference"), "--only", "no_such_check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no_such_check" in err and len(err.splitlines()) == 1


def test_workers_must_be_positive(submissions, tmp_path):
    _, folder = submissions
    with pytest.raises(SystemExit):
        main(["autograde", str(folder), "--out", str(tmp_path), "--checks-only", "--workers", "0"])
