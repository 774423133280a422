"""Tests of grading/hardened/gradescope.py: the autograder zip and what it writes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from assignment.checks import CaseOutcome, CheckResult
from grading.cli import main as cli_main
from grading.hardened.gradescope import (
    CHECKS_ENV,
    ROOT_ENV,
    RUN_AUTOGRADER,
    SCRIPTS,
    ZIP_NAME,
    gradescope_results,
    run,
    submission_entry,
    write_bundle,
)
from grading.hardened.submissions import SubmissionError
from grading.release.notebook_transforms import WrittenQuestion, written_questions

pytestmark = pytest.mark.grading

# Enough to tell the samples apart, and cheap (Part V's check alone costs about 7 s a run);
# the reference and the buggy sample are graded on every check once, in the layouts where
# the Part V weights must come through a folder and a zip.
FEW_CHECKS = ("affine_forward", "affine_backward", "adam", "batchnorm_backward")
LAYOUTS = ("top", "folder", "zip")
FULL = {("reference", "folder"), ("buggy", "zip")}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return write_bundle(tmp_path_factory.mktemp("gradescope"))


def test_bundle_holds_the_trusted_source_and_the_two_scripts(bundle):
    """Does the zip hold the package with its solutions and check data, the grader, the
    notebooks and the pins, the scripts executable, and nothing of tests, builds or caches?"""
    with zipfile.ZipFile(bundle.zip) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        layers = archive.read("assignment/layers.py").decode()
    names = set(infos)
    assert names == set(bundle.files)
    assert {
        "setup.sh",
        "run_autograder",
        "requirements.txt",
        "constraints.txt",
        "assignment/checks/public_expected.npz",
        "grading/hardened/grader.py",
        "grading/layout.py",
        "notebooks/FullyConnectedNets.ipynb",
    } <= names
    assert "### BEGIN SOLUTION" in layers  # the grader computes expected outputs from it
    assert not [n for n in names if re.match(r"(tests|build|benchmarks|\.git)/", n)]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    for name in SCRIPTS:
        assert (infos[name].external_attr >> 16) & 0o111, f"{name} is not executable"
    assert sorted(
        p.relative_to(bundle.folder).as_posix() for p in bundle.folder.rglob("*") if p.is_file()
    ) == sorted(names)


def test_scripts_are_valid_bash_and_setup_uses_files_of_the_bundle(bundle):
    """Do both scripts parse, does setup.sh install from files the bundle holds, with the CPU
    torch wheel of the version constraints.txt pins?"""
    for name in SCRIPTS:
        subprocess.run(["bash", "-n", str(bundle.folder / name)], check=True)
    setup = (bundle.folder / "setup.sh").read_text()
    used = re.findall(r"(?:-r|-c) ([\w./-]+\.txt)", setup) + re.findall(r"python (\S+\.py)", setup)
    assert {"requirements.txt", "constraints.txt", "datasets/get_datasets.py"} <= set(used)
    assert all((bundle.folder / rel).is_file() for rel in used), used
    pin = re.search(r"^torch==(\S+)$", (bundle.folder / "constraints.txt").read_text(), re.M)
    assert f"torch=={pin.group(1)} --index-url https://download.pytorch.org/whl/cpu" in setup


def test_cli_writes_the_zip(tmp_path, capsys):
    """Does `python -m grading gradescope --out DIR` write DIR/autograder.zip?"""
    assert cli_main(["gradescope", "--out", str(tmp_path)]) == 0
    assert (tmp_path / ZIP_NAME).is_file()
    assert str(tmp_path / ZIP_NAME) in capsys.readouterr().out


def _meta(grade_id, **flags):
    return {"nbgrader": {"grade_id": grade_id, "locked": False, "schema_version": 3, **flags}}


def test_written_questions_are_the_graded_markdown_solution_cells(tmp_path):
    """Are exactly the markdown cells that are solution and graded listed, with their points,
    notebooks in curriculum order?"""
    for name, cells in {
        "Dropout": [
            v4.new_markdown_cell("a", metadata=_meta("q1", solution=True, grade=True, points=3))
        ],
        "FullyConnectedNets": [
            v4.new_markdown_cell("b", metadata=_meta("q2", solution=True, grade=True, points=2)),
            v4.new_markdown_cell("c", metadata=_meta("text", solution=True, grade=False)),
            v4.new_code_cell("d", metadata=_meta("test", solution=False, grade=True, points=5)),
            v4.new_code_cell("e", metadata=_meta("code", solution=True, grade=True, points=1)),
        ],
    }.items():
        (tmp_path / "notebooks").mkdir(exist_ok=True)
        nbformat.write(v4.new_notebook(cells=cells), tmp_path / "notebooks" / f"{name}.ipynb")
    assert written_questions(tmp_path / "notebooks") == [
        WrittenQuestion("FullyConnectedNets", "q2", 2.0),
        WrittenQuestion("Dropout", "q1", 3.0),
    ]
    assert written_questions(tmp_path / "notebooks", ["Dropout"]) == [
        WrittenQuestion("Dropout", "q1", 3.0)
    ]


def test_hidden_case_details_wait_for_publication_and_scores_do_not():
    """Does a check whose feedback quotes a hidden case keep its score visible, with only its
    public cases' text, and put the hidden case's text in a test shown after publication?"""
    mixed = CheckResult(
        "adam",
        "FullyConnectedNets",
        3,
        [
            CaseOutcome("public one", ["adam: next_w differs"]),
            CaseOutcome("secret shape", ["adam: next_w differs", "adam: m wrong"], hidden=True),
        ],
    )
    clean = CheckResult("relu_forward", "FullyConnectedNets", 2, [CaseOutcome("x", [])])
    questions = [WrittenQuestion("Dropout", "inline_question_1", 2.0)]
    data = gradescope_results([mixed, clean], "rlimits", questions)
    assert data["score"] == 2
    by_name = {t["name"]: t for t in data["tests"]}
    assert set(by_name) == {"adam", "adam: hidden cases", "relu_forward"}
    visible = by_name["adam"]
    assert (visible["score"], visible["max_score"], visible["visibility"]) == (0, 3, "visible")
    assert "secret shape" not in visible["output"] and "'public one'" in visible["output"]
    assert "1 hidden case failed" in visible["output"]
    later = by_name["adam: hidden cases"]
    assert later["visibility"] == "after_published" and "score" not in later
    assert "secret shape" in later["output"] and "adam: m wrong" in later["output"]
    assert by_name["relu_forward"]["visibility"] == "visible"
    assert "isolation: rlimits" in data["output"]
    assert "Dropout.ipynb inline_question_1: 2 points" in data["output"]
    # Said once: the code's score, what waits for a grader, the total so far.
    assert data["output"].count("inline_question_1") == 1
    assert "Code: 2 of 5 points." in data["output"]
    assert "Total so far: 2 of 7 points" in data["output"]
    assert data["extra_data"]["written_questions"][0]["grade_id"] == "inline_question_1"
    assert data["stdout_visibility"] == "hidden"


def _unreadable_zip(submission):
    (submission / "s001_assignment2.zip").write_bytes(b"PK\x03\x04 not a zip")


def _zip_without_the_package(submission):
    with zipfile.ZipFile(submission / "s001_assignment2.zip", "w") as archive:
        archive.writestr("FullyConnectedNets.ipynb", "{}")


def _a_stray_file(submission):
    (submission / "notes.txt").write_text("x")


@pytest.mark.parametrize(
    "make, words",
    [
        (_unreadable_zip, "not a readable zip file"),
        (_zip_without_the_package, "no assignment/ folder in what was uploaded"),
        (_a_stray_file, "found no assignment/ folder and no zip"),
    ],
)
def test_an_ungradable_submission_scores_zero_with_a_message(tmp_path, make, words):
    """Does a broken upload still give results.json, 0 points and what to upload?"""
    (tmp_path / "submission").mkdir()
    make(tmp_path / "submission")
    data = run(tmp_path)
    assert json.loads((tmp_path / "results" / "results.json").read_text()) == data
    assert data["score"] == 0 and data["tests"] == []
    assert "could not be graded" in data["output"] and words in data["output"]
    assert re.search(
        r"Written answers: \d+ questions worth \d+ points, graded by hand", data["output"]
    )


def test_several_zips_are_refused_by_name(tmp_path):
    """Is a submission folder of several zips refused rather than one of them guessed?"""
    for name in ("a.zip", "b.zip"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(SubmissionError, match="several zips"):
        submission_entry(tmp_path)


def test_run_autograder_writes_a_result_when_python_cannot_grade(tmp_path):
    """Does run_autograder leave a 0-point results.json when the grader cannot even start?"""
    (tmp_path / "source").mkdir()  # no grading package in it
    script = tmp_path / "run_autograder"
    script.write_text(RUN_AUTOGRADER)
    proc = subprocess.run(
        ["bash", str(script)], env={**_env(), ROOT_ENV: str(tmp_path)}, capture_output=True
    )
    assert proc.returncode != 0
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert data["score"] == 0 and "stopped before grading" in data["output"]


# -- end to end: the bundle, laid out as Gradescope does, on the sample submissions ---------


def _env() -> dict:
    """The test's environment for run_autograder: this venv's python3 first on PATH, the
    same data as this process, one thread each; no PYTHONPATH (the bundle's own code runs)."""
    from assignment.data_utils import datasets_dir

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", CHECKS_ENV)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["ASSIGNMENT_DATASETS_DIR"] = str(datasets_dir())
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _lay_out(sample: Path, submission: Path, layout: str) -> None:
    """The three ways an upload lands in /autograder/submission."""
    if layout == "top":
        shutil.copytree(sample, submission)
    elif layout == "folder":
        shutil.copytree(sample, submission / "assignment2")
    else:  # what `python -m assignment.submit` writes, not extracted
        submission.mkdir()
        with zipfile.ZipFile(submission / "s001_assignment2.zip", "w") as archive:
            archive.writestr("student_id.txt", "s001\n")
            for path in sorted(sample.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(sample).as_posix())


@pytest.fixture(scope="module")
def autograder_root(bundle, tmp_path_factory):
    """A folder laid out like /autograder: source/ from the zip, run_autograder beside it."""
    root = tmp_path_factory.mktemp("autograder")
    with zipfile.ZipFile(bundle.zip) as archive:
        archive.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("sample", ["reference", "stub", "buggy", "cheat"])
def test_run_autograder_scores_equal_grading_check(sample, sample_dirs, autograder_root):
    """In each of the three layouts, does run_autograder's results.json give every check the
    score `python -m grading check` gives it, with hidden details only after publication?"""
    from grading.hardened.batch import check_one

    root = autograder_root
    expected = {}
    for layout in LAYOUTS:
        checks = None if (sample, layout) in FULL else list(FEW_CHECKS)
        key = tuple(checks or ())
        if key not in expected:
            report = check_one(sample_dirs[sample], checks=checks)
            expected[key] = {r.name: r.score for r in report.results}
        shutil.rmtree(root / "submission", ignore_errors=True)
        shutil.rmtree(root / "results", ignore_errors=True)
        _lay_out(sample_dirs[sample], root / "submission", layout)
        env = {**_env(), ROOT_ENV: str(root)}
        if checks:
            env[CHECKS_ENV] = ",".join(checks)
        start = time.monotonic()
        proc = subprocess.run(
            [str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=900
        )
        seconds = time.monotonic() - start
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        print(f"{sample} {layout} ({'all' if not checks else len(checks)} checks): {seconds:.1f} s")
        data = json.loads((root / "results" / "results.json").read_text())
        scored = {t["name"]: t["score"] for t in data["tests"] if "score" in t}
        assert scored == expected[key], (layout, data["output"])
        assert data["score"] == pytest.approx(sum(expected[key].values()))
        for test in data["tests"]:
            quotes_hidden = re.search(r"hidden cases? '", test["output"]) is not None
            assert test["visibility"] == ("after_published" if quotes_hidden else "visible")
        assert data["extra_data"]["written_questions"]
        # The bundle's own code ran (it hides its source from the sandbox's user).
        assert (root / "source").stat().st_mode & 0o077 == 0
