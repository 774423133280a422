"""Tests of grading/release/leaks.py: the scan that makes a leaking release build fail."""

from __future__ import annotations

import os

import nbformat
import numpy as np
import pytest

from grading.errors import LeakError
from grading.release.leaks import PUBLIC_DATA, check_release, fingerprint_lines, normalise, scan

pytestmark = pytest.mark.grading

SECRET = "out = x.reshape(x.shape[0], -1).dot(w) + b"


def clean_release(root):
    """A minimal release that passes the scan."""
    (root / "assignment/checks").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "README.md").write_text("# Assignment\nRun the notebooks.\n")
    (root / "assignment/__init__.py").write_text("")
    (root / "assignment/layers.py").write_text(
        'def affine_forward(x, w, b):\n    raise NotImplementedError("affine_forward")\n'
    )
    (root / "datasets/get_datasets.py").write_text("print('fetch')\n")
    np.savez(root / PUBLIC_DATA[0], out=np.zeros(3))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, str(root / "FullyConnectedNets.ipynb"))
    return root


def found(root, **kwargs):
    return {(leak.path, leak.line, leak.cell) for leak in scan(root, **kwargs)}


def test_clean_release_passes(tmp_path):
    """Does a release with nothing instructor-only in it pass?"""
    check_release(clean_release(tmp_path), fingerprints=fingerprint_lines([SECRET]))


@pytest.mark.parametrize(
    "phrase", ["BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"]
)
def test_marker_in_text_file_is_found_with_its_line(tmp_path, phrase):
    """Is any marker phrase, in any text file, reported with its line?"""
    root = clean_release(tmp_path)
    (root / "datasets/README.md").write_text(f"# Data\n\n    ### {phrase}\n")
    assert found(root) == {("datasets/README.md", 3, None)}


def test_marker_in_binary_file_is_found(tmp_path):
    """Is a marker inside a binary file found too?"""
    root = clean_release(tmp_path)
    (root / "assignment/blob.bin").write_bytes(b"\x00\x01### BEGIN SOLUTION\x00")
    assert found(root) == {("assignment/blob.bin", None, None)}


@pytest.mark.parametrize(
    "rel",
    [
        "grading/release.py",
        "tests/test_x.py",
        ".git/config",
        "benchmarks/bench.py",
        ".ci/run",
        "assignment/__pycache__/x.pyc",
        "build/x.txt",
    ],
)
def test_instructor_folder_is_found_once(tmp_path, rel):
    """Is an instructor-only folder reported once, at the folder, wherever it sits?"""
    root = clean_release(tmp_path)
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text("x = 1\n")
    folder = rel.rsplit("/", 1)[0]
    assert found(root) == {(folder, None, None)}


@pytest.mark.parametrize(
    "rel",
    [
        "gradebook.db",
        "assignment/nbgrader_config.py",
        "Makefile",
        "assignment/grades.sqlite",
        "assignment/layers.cpython-311.pyc",
        "course.db",
    ],
)
def test_instructor_file_is_found(tmp_path, rel):
    """Are gradebooks, course configs, Makefiles and bytecode found by name?"""
    root = clean_release(tmp_path)
    (root / rel).write_bytes(b"SQLite format 3\x00")
    assert found(root) == {(rel, None, None)}


def test_hidden_and_unlisted_data_are_found(tmp_path):
    """Are hidden expected values and any data file not on the allow-list found?"""
    root = clean_release(tmp_path)
    np.savez(root / "assignment/checks/hidden_expected.npz", out=np.ones(2))
    np.savez(root / "assignment/checks/extra.npz", out=np.ones(2))
    np.save(root / "assignment/values.npy", np.ones(2))
    assert found(root) == {
        ("assignment/checks/hidden_expected.npz", None, None),
        ("assignment/checks/extra.npz", None, None),
        ("assignment/values.npy", None, None),
    }
    assert found(
        root, public_data=PUBLIC_DATA + ("assignment/checks/extra.npz", "assignment/values.npy")
    ) == {("assignment/checks/hidden_expected.npz", None, None)}


def test_notebook_with_outputs_is_found_with_its_cell(tmp_path):
    """Is a notebook cell that still holds outputs reported with its cell?"""
    root = clean_release(tmp_path)
    cell = nbformat.v4.new_code_cell(
        "print(1)", outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), cell])
    nbformat.write(nb, str(root / "Dropout.ipynb"))
    assert found(root) == {("Dropout.ipynb", None, 1)}


def test_solution_text_left_in_a_notebook_cell_is_found(tmp_path):
    """Is a solution cell still holding a reference line found, with its cell and line?"""
    root = clean_release(tmp_path)
    meta = {
        "nbgrader": {
            "solution": True,
            "grade": False,
            "grade_id": "a",
            "locked": False,
            "schema_version": 3,
            "task": False,
        }
    }
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                f"def f(x, w, b):\n    {SECRET}\n    return out", metadata=meta
            )
        ]
    )
    nbformat.write(nb, str(root / "FullyConnectedNets.ipynb"))
    assert found(root, fingerprints=fingerprint_lines([SECRET])) == {
        ("FullyConnectedNets.ipynb", 2, 0)
    }


def test_reference_line_in_any_text_is_found(tmp_path):
    """Is a reference line found in shipped text, commented out, respaced or inside prose?"""
    root = clean_release(tmp_path)
    prints = fingerprint_lines(["    out = x.reshape(x.shape[0], -1).dot(w) + b  # (N, M)"])
    for line in [
        "    out  =  x.reshape(x.shape[0], -1).dot(w) + b",
        "    # out = x.reshape(x.shape[0], -1).dot(w) + b  # (N, M)",
        "    hint: use `out = x.reshape(x.shape[0], -1).dot(w) + b` here",
    ]:
        (root / "assignment/layers.py").write_text(f"def f():\n{line}\n    return 1\n")
        assert found(root, fingerprints=prints) == {("assignment/layers.py", 2, None)}, line


def test_fingerprints_skip_short_lines_and_lines_public_code_shows():
    """Are short lines and lines that provided code also holds left out of the fingerprints?"""
    prints = fingerprint_lines(
        [
            "N = x.shape[0]",
            "  correct = x[np.arange(N), y]  ",
            SECRET,
            "",
            "    # same line",
            "margins = np.maximum(0, x - correct + 1.0)",
        ],
        ["correct = x[np.arange(N), y]", "margins = np.maximum(0, x - correct + 1.0)  # (N, C)"],
    )
    assert prints == frozenset({SECRET})
    assert normalise("  a \t b  ") == "a b"


def test_link_is_found(tmp_path):
    """Is a link reported (it could point back into the source)?"""
    root = clean_release(tmp_path)
    os.symlink("/etc/hostname", root / "assignment/link.py")
    assert found(root) == {("assignment/link.py", None, None)}


def test_unreadable_notebook_is_found(tmp_path):
    """Is a notebook that is not JSON reported rather than skipped?"""
    root = clean_release(tmp_path)
    (root / "Broken.ipynb").write_text("{not json")
    assert found(root) == {("Broken.ipynb", None, None)}


def test_check_release_raises_with_first_location_and_count(tmp_path):
    """Does the error name the first offending file and line, and count the others?"""
    root = clean_release(tmp_path)
    (root / "Makefile").write_text("all:\n")
    (root / "README.md").write_text("x\n### END SOLUTION\n")
    with pytest.raises(LeakError) as caught:
        check_release(root)
    error = caught.value
    assert (error.path, error.line) == ("Makefile", None)
    assert str(error) == "Makefile: instructor-only file (and 1 more leak)"
    assert [(leak.path, leak.line) for leak in error.leaks] == [
        ("Makefile", None),
        ("README.md", 2),
    ]
