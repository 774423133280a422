"""Tests of grading/nbgrader/outputs.py: no cell's output can make a stored notebook or its feedback
huge."""

import nbformat
import pytest

from grading.nbgrader.outputs import cap_notebook_files, cap_outputs

pytestmark = pytest.mark.grading


def notebook(*outputs_per_cell):
    nb = nbformat.v4.new_notebook()
    for outputs in outputs_per_cell:
        cell = nbformat.v4.new_code_cell("print(1)")
        cell.outputs = list(outputs)
        nb.cells.append(cell)
    return nb


def stream(n):
    return nbformat.v4.new_output("stream", name="stdout", text="x" * n)


def test_a_huge_print_is_cut_with_a_note():
    nb = notebook([stream(30 * 2**20)])
    dropped = cap_outputs(nb, per_cell_kb=64)
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert len(text) < 70 * 1024 and dropped > 29 * 2**20
    assert "kB of output left out by the grader" in text


def test_small_outputs_and_images_within_bounds_are_kept():
    image = nbformat.v4.new_output("display_data", data={"image/png": "i" * 10000})
    nb = notebook([stream(100), image])
    assert cap_outputs(nb, per_cell_kb=64) == 0
    assert [o.output_type for o in nb.cells[0].outputs] == ["stream", "display_data"]


def test_the_notebook_bound_holds_over_many_cells(tmp_path):
    nb = notebook(*[[stream(50 * 1024)] for _ in range(300)])  # 15 MB in all
    path = tmp_path / "big.ipynb"
    nbformat.write(nb, path)
    notes = cap_notebook_files(tmp_path)
    assert notes and path.stat().st_size < 9 * 2**20
    capped = nbformat.read(path, as_version=4)
    assert len(capped.cells) == 300
