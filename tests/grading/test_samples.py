"""Tests of grading/samples.py: the sample submissions are what they claim to be."""

from __future__ import annotations

import csv
import subprocess
import sys

import nbformat
import pytest

from assignment.checks import CATALOGUE
from grading.hardened.batch import autograde_checks_only
from grading.layout import REPO_ROOT
from grading.release.stage import student_regions
from grading.release.strip import MARKERS
from grading.samples import (
    BUGS,
    SAMPLES,
    Bug,
    SampleError,
    apply_bug,
    broken_checks,
    fill_solution_cells,
    make_samples,
    reference_text,
)
from tests.grading.conftest import tree_digest

pytestmark = pytest.mark.grading

SOURCE = '''import numpy as np


def scale(x, c):
    """Multiply x by c: x.reshape(x.shape) keeps the shape."""
    ### BEGIN SOLUTION
    out = (x * c).reshape(x.shape)
    ### END SOLUTION
    return out


def other(x):
    return x.reshape(x.shape)
### BEGIN HIDDEN TESTS
SECRET_SEED = 1234
### END HIDDEN TESTS
'''
NO_RESHAPE = Bug("layers.py", "scale", r"\.reshape\(x\.shape\)", "", "no reshape")


def meta(grade_id, **flags):
    return {
        "nbgrader": {
            "grade_id": grade_id,
            "solution": True,
            "grade": False,
            "locked": False,
            "schema_version": 3,
            **flags,
        }
    }


# -- building blocks ----------------------------------------------------------------------------


def test_apply_bug_edits_the_code_of_its_function_only():
    """Is the bug written into the function's code, leaving its docstring and the other
    functions as they were?"""
    text = apply_bug(SOURCE, NO_RESHAPE)
    assert "out = (x * c)\n" in text
    assert "x.reshape(x.shape) keeps the shape" in text
    assert "def other(x):\n    return x.reshape(x.shape)" in text


@pytest.mark.parametrize(
    "bug, words",
    [
        (Bug("layers.py", "scale", r"np\.nonexistent", "", "a bug"), "no longer applies"),
        (Bug("layers.py", "missing", r"x", "", "a bug"), "no function missing"),
    ],
)
def test_a_bug_that_does_not_apply_is_an_error(bug, words):
    """Does a bug whose pattern or function has gone say so, rather than do nothing?"""
    with pytest.raises(SampleError, match=words):
        apply_bug(SOURCE, bug)


def test_every_bug_applies_to_the_current_reference():
    """Does each bug of BUGS still find its code in the source's reference?"""
    for bug in BUGS:
        text = reference_text((REPO_ROOT / bug.path).read_text(), bug.path)
        assert apply_bug(text, bug) != text, bug.what
        assert bug.function in CATALOGUE, bug.what


def test_broken_checks_are_limited_to_the_checks_graded():
    """Are the checks a bug breaks counted only among those graded?"""
    assert broken_checks(["affine_backward", "relu_forward"]) == {"affine_backward"}
    assert broken_checks(CATALOGUE) == {bug.function for bug in BUGS}


def test_reference_text_drops_markers_and_hidden_tests_and_keeps_solutions():
    """Is the reference the solution without markers, and without the hidden tests?"""
    text = reference_text(SOURCE, "layers.py")
    assert "out = (x * c).reshape(x.shape)" in text
    assert not any(marker in text for marker in MARKERS.values())
    assert "SECRET_SEED" not in text
    compile(text, "layers.py", "exec")


def test_fill_solution_cells_puts_the_reference_in_by_grade_id(tmp_path):
    """Does each solution cell of the release get its source cell's reference, markers out?"""
    v4 = nbformat.v4
    source = v4.new_notebook(
        cells=[
            v4.new_markdown_cell(
                "**Your answer:**\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                metadata=meta("answer", grade=True, points=1),
            ),
            v4.new_code_cell("x = 1"),
        ]
    )
    release = v4.new_notebook(
        cells=[
            v4.new_markdown_cell("YOUR ANSWER HERE", metadata=meta("answer", grade=True, points=1)),
            v4.new_code_cell("x = 1"),
        ]
    )
    nbformat.write(source, str(tmp_path / "source.ipynb"))
    nbformat.write(release, str(tmp_path / "release.ipynb"))
    fill_solution_cells(tmp_path / "release.ipynb", tmp_path / "source.ipynb")
    filled = nbformat.read(str(tmp_path / "release.ipynb"), 4)
    assert filled.cells[0].source == "**Your answer:**\n\nBecause."
    assert filled.cells[1].source == "x = 1"


def test_a_solution_cell_the_source_lacks_is_an_error(tmp_path):
    """Is a release cell with no source counterpart reported with its grade_id?"""
    v4 = nbformat.v4
    nbformat.write(v4.new_notebook(cells=[]), str(tmp_path / "source.ipynb"))
    nbformat.write(
        v4.new_notebook(cells=[v4.new_code_cell("", metadata=meta("lost"))]),
        str(tmp_path / "release.ipynb"),
    )
    with pytest.raises(SampleError, match="'lost'"):
        fill_solution_cells(tmp_path / "release.ipynb", tmp_path / "source.ipynb")


def test_make_samples_refuses_bad_requests(tmp_path):
    """Are an unknown sample, a folder that is no release and a non-empty destination refused?"""
    (tmp_path / "release" / "assignment").mkdir(parents=True)
    with pytest.raises(SampleError, match="unknown sample"):
        make_samples(tmp_path / "release", tmp_path / "out", names=["perfect"])
    with pytest.raises(SampleError, match="built release"):
        make_samples(tmp_path, tmp_path / "out")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(SampleError, match="not empty"):
        make_samples(tmp_path / "release", tmp_path / "full")


# -- the samples of this repository ---------------------------------------------------------


@pytest.mark.slow
def test_reference_holds_every_solution(sample_dirs):
    """Are the graded files free of stubs and markers, and the notebooks' solution cells
    filled?"""
    reference = sample_dirs["reference"]
    for rel in student_regions(REPO_ROOT):
        text = (reference / rel).read_text()
        assert "not implemented yet" not in text and "### BEGIN" not in text, rel
    for notebook in reference.glob("*.ipynb"):
        nb = nbformat.read(str(notebook), 4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                assert (
                    "YOUR ANSWER HERE" not in cell.source
                    and "NotImplementedError()" not in cell.source
                ), notebook.name


@pytest.mark.slow
def test_stub_is_the_release(sample_dirs, built_release):
    """Is the stub the release, file for file?"""
    assert tree_digest(sample_dirs["stub"]) == tree_digest(built_release)


@pytest.mark.slow
def test_cheat_forges_the_self_check_in_its_own_process(sample_dirs):
    """Does the cheat's module code make every self-check pass in the student's process
    (which is what the notebook's test cells run)?"""
    code = (
        "import numpy as np\nimport assignment.layers\n"
        "from assignment.check import grade\n"
        "grade('affine_forward')\nprint(np.allclose(0, 1))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=sample_dirs["cheat"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["PASS", "True"]


@pytest.mark.slow
def test_hardened_scores_of_the_samples_on_every_notebook(sample_dirs, tmp_path):
    """Checks-only, every check of every notebook: reference full marks, stub and cheat
    zero, buggy loses exactly the checks its bugs break."""
    summary = autograde_checks_only(
        sample_dirs["reference"].parent, tmp_path, workers=2, progress=False
    )
    assert sorted(summary.graded) == sorted(SAMPLES)
    with open(summary.csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    lost = {
        s: {
            r["check"]
            for r in rows
            if r["student"] == s and r["status"] not in ("passed", "pending")
        }
        for s in SAMPLES
    }
    assert lost["reference"] == set()
    assert lost["stub"] == lost["cheat"] == set(CATALOGUE)
    assert lost["buggy"] == broken_checks(CATALOGUE)
