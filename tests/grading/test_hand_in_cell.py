"""The notebooks' hand-in cell: added once, last, and idle unless the student asks."""

import nbformat
import pytest

from grading.release import hand_in_cell

pytestmark = pytest.mark.grading


def test_ensure_adds_the_cell_last_once_and_keeps_its_id():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    assert hand_in_cell.ensure(nb, "nb-hand-in")
    assert nb.cells[-1].source == hand_in_cell.SOURCE and nb.cells[-1].id == "nb-hand-in"
    assert not hand_in_cell.ensure(nb, "other")
    nb.cells.append(nbformat.v4.new_markdown_cell("after"))
    nb.cells[1].source = hand_in_cell.FIRST_LINE + " an old text"
    assert hand_in_cell.ensure(nb, "other")
    assert [c.source for c in nb.cells] == ["x = 1", "after", hand_in_cell.SOURCE]
    assert nb.cells[-1].id == "nb-hand-in"
    nbformat.validate(nb)


def test_run_all_does_not_start_a_submission(monkeypatch):
    import assignment.submit

    calls = []
    monkeypatch.setattr(assignment.submit, "submit", lambda *a, **k: calls.append(a))
    exec(hand_in_cell.SOURCE, {})
    assert calls == []
    exec(hand_in_cell.SOURCE.replace("HAND_IN = False", "HAND_IN = True"), {})
    assert calls == [()]
