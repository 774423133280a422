"""The last cell of every notebook: hand in with ``assignment.submit``, when the student says so.

It does nothing unless the student sets ``HAND_IN = True``, so "Run all", the notebook tests
and the grader's own run of a notebook never start a submission (which asks for an id).
A test keeps every source notebook's copy equal to :data:`SOURCE`.
"""

from __future__ import annotations

FIRST_LINE = "# Hand in:"
SOURCE = """\
# Hand in: when every notebook is finished, run from top to bottom and saved, set HAND_IN to
# True and run this cell. It checks the notebooks and writes <your id>_assignment2.zip in the
# assignment folder (README.md, Submit, says more; a terminal: python -m assignment.submit).
HAND_IN = False
if HAND_IN:
    from assignment.submit import submit
    submit()"""


def is_hand_in_cell(cell) -> bool:
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    return cell.get("cell_type") == "code" and source.startswith(FIRST_LINE)


def ensure(nb, cell_id: str) -> bool:
    """Give ``nb`` the hand-in cell as its last cell (``cell_id`` when new); whether it changed."""
    import nbformat

    found = [c for c in nb.cells if is_hand_in_cell(c)]
    if found and found[-1] is nb.cells[-1] and len(found) == 1 and found[0].source == SOURCE:
        return False
    keep = found[0] if found else nbformat.v4.new_code_cell(SOURCE)
    if not found:
        keep["id"] = cell_id
    keep.source = SOURCE
    nb.cells = [c for c in nb.cells if not is_hand_in_cell(c)] + [keep]
    return True
