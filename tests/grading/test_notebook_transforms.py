"""Tests of grading/release/notebook_transforms.py: what of a source notebook is reference-only."""

from __future__ import annotations

import nbformat
import pytest

from grading.errors import StripError
from grading.release.notebook_transforms import (
    check_markers,
    mentions,
    nbgrader_metadata_problem,
    reference_and_code_lines,
)
from tests.grading.test_release import ANSWER, fake_notebook, nbgrader_meta

pytestmark = pytest.mark.grading


def test_reference_lines_are_solutions_hidden_tests_and_answers():
    """Are solution bodies, hidden tests and unmarked solution cells reference-only?"""
    reference, code = reference_and_code_lines(fake_notebook(), "X.ipynb")
    assert "    return 3.0 * x  # the secret scaling factor of the fake assignment" in reference
    assert 'assert np.allclose(out, 3.0), "hidden: every entry of out should be 3"' in reference
    assert ANSWER in reference
    assert "def scale(x):" in code and "assert np.isinf(big[0])" in code
    assert not any("###" in line for line in reference + code)
    assert "# Fake notebook" not in code  # markdown is never public code


def test_comment_lines_of_code_cells_are_not_public_code():
    """Is a comment in a public code cell left out of the tolerated lines?"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# dx = dout * mask\ny = 1")])
    assert reference_and_code_lines(nb, "X.ipynb") == ([], ["y = 1"])


@pytest.mark.parametrize(
    "index, source, meta, words",
    [
        (0, "### BEGIN SOLUTION\nx = 1\n### END SOLUTION", {}, "not an nbgrader solution cell"),
        (
            1,
            "x = 1\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS",
            nbgrader_meta("s", solution=True),
            "outside an nbgrader autograder-test cell",
        ),
        (
            0,
            "### BEGIN HIDDEN TESTS\nassert x",
            nbgrader_meta("t", grade=True, points=1),
            "never closed",
        ),
    ],
)
def test_misplaced_or_open_markers_fail_with_cell_and_line(index, source, meta, words):
    """Are markers nbgrader would mishandle refused with their cell and line?"""
    cells = [nbformat.v4.new_markdown_cell("intro")] * index + [
        nbformat.v4.new_code_cell(source, metadata=meta)
    ]
    with pytest.raises(StripError, match=words) as caught:
        check_markers(nbformat.v4.new_notebook(cells=cells), "X.ipynb")
    assert (caught.value.cell, caught.value.line) == (index, 1 if index == 0 else 2)


def test_well_marked_notebook_passes():
    """Does the fake notebook, marked as nbgrader wants, pass the marker check?"""
    check_markers(fake_notebook(), "X.ipynb")


def test_mentions_matches_whole_words_only():
    """Does `affine_forward` not count as a mention of `affine`?"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("use affine_forward")])
    assert mentions(nb, "affine_forward") and not mentions(nb, "affine")


def test_nbgrader_metadata_problem_names_the_cell():
    """Are a duplicate grade id and a graded cell without points pinned to their cells?"""
    nb = fake_notebook()
    assert nbgrader_metadata_problem(nb) is None
    nb.cells[4].metadata.nbgrader["grade_id"] = "test_affine"
    assert nbgrader_metadata_problem(nb) == (
        4,
        "nbgrader metadata: grade_id 'test_affine' is also the id of cell 3",
    )
    nb = fake_notebook()
    del nb.cells[3].metadata.nbgrader["points"]
    index, why = nbgrader_metadata_problem(nb)
    assert index == 3 and "points" in why
