"""`python -m assignment.submit` on a finished and an unfinished copy of the release, and the
zip it writes graded like the folder it came from."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from grading.hardened.submissions import find_submissions
from grading.layout import REPO_ROOT

pytestmark = [pytest.mark.grading, pytest.mark.slow]

ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "PYTHONPATH": "",
}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    from grading.release.build import build_release

    return build_release(REPO_ROOT, tmp_path_factory.mktemp("submit") / "release").out


def _run_all(folder):
    """What Restart and run all leaves: every code cell counted in order, no errors."""
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        count = 0
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.source.strip():
                count += 1
                cell.execution_count = count
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ok\n")]
        nbformat.write(nb, path)


@pytest.fixture(scope="module")
def finished(release, tmp_path_factory):
    from grading.samples import reference

    folder = reference(release, tmp_path_factory.mktemp("finished") / "work")
    _run_all(folder)
    return folder


def _submit(folder, *args):
    return subprocess.run(
        [sys.executable, "-m", "assignment.submit", *args],
        cwd=folder,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_finished_copy_gives_a_complete_zip_with_html(finished):
    done = _submit(finished, "--id", "s001")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hand in this zip" in done.stdout
    names = set(zipfile.ZipFile(finished / "s001_assignment2.zip").namelist())
    assert {
        "Dropout.ipynb",
        "assignment/layers.py",
        "part5_weights.pt",
        "html/Dropout.html",
        "student_id.txt",
    } <= names
    assert not any("__pycache__" in n or n.startswith("datasets/") for n in names)
    assert (finished / ".student_id").read_text().strip() == "s001"
    # The id is asked once: the next run reads it back.
    again = _submit(finished, "--no-html")
    assert again.returncode == 0 and "s001_assignment2.zip" in again.stdout


def test_unfinished_copy_is_zipped_with_a_warning_for_each_problem(release, tmp_path):
    import shutil

    folder = tmp_path / "work"
    shutil.copytree(release, folder)
    _run_all(folder)
    path = folder / "Dropout.ipynb"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    code[3].outputs = [
        nbformat.v4.new_output(
            "error", ename="NameError", evalue="name 'x' is not defined", traceback=[]
        )
    ]
    code[5].execution_count = 1
    next(c for c in code if c.metadata.get("nbgrader", {}).get("grade")).execution_count = None
    nbformat.write(nb, path)
    (folder / "Network_Visualization.ipynb").unlink()
    done = _submit(folder, "--id", "s002", "--no-html")
    assert done.returncode == 1
    out = done.stdout
    for expected in (
        "Dropout.ipynb: the answer to inline question 1 is still empty",
        "NameError: name 'x' is not defined",
        "ran before the cells above it",
        "Network_Visualization.ipynb is missing",
        "Dropout.ipynb: the self-check did not run",
    ):
        assert expected in out, out
    assert (folder / "s002_assignment2.zip").is_file()


def test_a_bad_id_is_refused_in_one_line(finished):
    done = _submit(finished, "--id", "../x", "--no-html")
    assert done.returncode == 2 and done.stderr.startswith("error: submit: a student id")


def test_grader_reads_the_zip_as_the_folder(finished, tmp_path):
    done = _submit(finished, "--id", "s001", "--no-html")
    assert done.returncode == 0, done.stdout
    zips, folders = tmp_path / "zips", tmp_path / "folders"
    zips.mkdir()
    (folders / "s001").mkdir(parents=True)
    (finished / "s001_assignment2.zip").rename(zips / "s001_assignment2.zip")
    with zipfile.ZipFile(zips / "s001_assignment2.zip") as archive:
        archive.extractall(folders / "s001")
    assert [s.student for s in find_submissions(zips)[0]] == ["s001"]
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    shutil.copyfile(zips / "s001_assignment2.zip", renamed / "submission.zip")
    assert [s.student for s in find_submissions(renamed)[0]] == ["s001"]
    scores = []
    for folder in (zips, folders):
        out = tmp_path / f"grades-{folder.name}"
        graded = subprocess.run(
            [
                sys.executable,
                "-m",
                "grading",
                "autograde",
                str(folder),
                "--out",
                str(out),
                "--checks-only",
            ],
            cwd=REPO_ROOT,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert graded.returncode == 0, graded.stdout + graded.stderr
        with open(out / "grades.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert {r["student"] for r in rows} == {"s001"}, rows
        # The written answers' rows wait for a grader (score 0, pending): the code's are judged.
        scores.append(
            sorted(
                (r["notebook"], r["check"], r["score"]) for r in rows if r["status"] != "pending"
            )
        )
    assert scores[0] == scores[1]
    assert len(scores[0]) > 20 and all(float(score) > 0 for _, _, score in scores[0])
