"""Tests of grading/nbgrader/locked_cells.py: a notebook whose nbgrader metadata or locked cells
were edited is restored, not dropped, and flagged."""

import copy

import nbformat
import pytest

from grading.nbgrader.locked_cells import FLAG, restore, restore_folder

pytestmark = pytest.mark.grading


@pytest.fixture
def release_nb(built_release):
    return nbformat.read(built_release / "Dropout.ipynb", as_version=4)


def graded(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]


def test_an_untouched_notebook_is_left_alone(release_nb):
    same, changes = restore(release_nb, copy.deepcopy(release_nb))
    assert changes == [] and same.cells == release_nb.cells


def test_edited_metadata_and_locked_cells_are_restored_and_answers_kept(release_nb):
    student = copy.deepcopy(release_nb)
    test_cell = next(c for c in graded(student) if c.metadata.nbgrader.get("grade"))
    answer = next(c for c in graded(student) if c.metadata.nbgrader.get("solution"))
    test_cell.metadata.nbgrader["points"] = 100
    test_cell.metadata.nbgrader["locked"] = False
    test_cell.source = "print('PASS')"
    answer.source = "My own answer."
    fixed, changes = restore(release_nb, student)
    grade_id = test_cell.metadata.nbgrader["grade_id"]
    assert f"{grade_id}: metadata changed" in changes
    assert f"{grade_id}: locked cell edited" in changes
    ours = {c.metadata.nbgrader["grade_id"]: c for c in graded(release_nb)}
    for cell in graded(fixed):
        gid = cell.metadata.nbgrader["grade_id"]
        assert cell.metadata.nbgrader == ours[gid].metadata.nbgrader
    assert any(c.source == "My own answer." for c in fixed.cells)
    assert not any(c.source == "print('PASS')" for c in fixed.cells)


def test_a_deleted_test_cell_is_put_back(release_nb, tmp_path, built_release):
    student = copy.deepcopy(release_nb)
    removed = next(c for c in graded(student) if c.metadata.nbgrader.get("grade"))
    student.cells.remove(removed)
    folder = tmp_path / "submitted"
    folder.mkdir()
    nbformat.write(student, folder / "Dropout.ipynb")
    notes = restore_folder(built_release, folder)
    assert len(notes) == 1 and FLAG in notes[0] and "cell removed" in notes[0]
    fixed = nbformat.read(folder / "Dropout.ipynb", as_version=4)
    assert len(graded(fixed)) == len(graded(release_nb))
