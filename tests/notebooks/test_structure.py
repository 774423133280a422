"""Are the notebooks stored clean, and is their nbgrader structure what grading relies on?"""

import re
from collections import Counter

import nbformat
import pytest

from assignment.checks import CATALOGUE
from grading.release.notebook_transforms import GRADE_CALL, grade_cell_problems

from .conftest import NOTEBOOKS, notebook_params

GRADE_CELL = (
    "from assignment.check import grade\n"
    'grade("{name}")\n'
    "### BEGIN HIDDEN TESTS\n"
    'grade("{name}", hidden=True)\n'
    "### END HIDDEN TESTS"
)
HOT_LINKED_IMAGE = re.compile(
    r'!\[[^\]]*\]\(\s*<?https?://|<img\b[^>]*\bsrc\s*=\s*["\']?https?://', re.IGNORECASE
)
INLINE_QUESTION_HEADING = re.compile(r"^#+\s*Inline Question\s+(\d+)", re.MULTILINE)


def read(path):
    return nbformat.read(path, as_version=4)


def nbgrader(cell):
    return cell.metadata.get("nbgrader")


def autograde_cells(nb):
    """The autograder test cells: graded, not a solution, code."""
    return [
        cell
        for cell in nb.cells
        if (meta := nbgrader(cell))
        and meta.get("grade")
        and not meta.get("solution")
        and cell.cell_type == "code"
    ]


@pytest.mark.parametrize("path", notebook_params())
def test_notebook_is_valid_nbformat(path):
    """Does the notebook validate against the nbformat 4 schema?"""
    nbformat.validate(read(path))


@pytest.mark.parametrize("path", notebook_params())
def test_notebook_is_stored_without_outputs(path):
    """Are outputs and execution counts cleared, so that no result is committed?"""
    dirty = [
        index
        for index, cell in enumerate(read(path).cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs or execution counts; clear them"


@pytest.mark.parametrize("path", notebook_params())
def test_nbgrader_metadata_is_valid(path):
    """Schema 3, unique grade ids, points on graded cells, solution cells open, tests locked?"""
    problems = []
    ids = Counter()
    for index, cell in enumerate(read(path).cells):
        meta = nbgrader(cell)
        if meta is None:
            continue
        where = f"cell {index}"
        if meta.get("schema_version") != 3:
            problems.append(f"{where}: schema_version {meta.get('schema_version')!r}, expected 3")
        if not meta.get("grade_id"):
            problems.append(f"{where}: no grade_id")
        ids[meta.get("grade_id")] += 1
        points = meta.get("points")
        if meta.get("grade") and not (isinstance(points, (int, float)) and points > 0):
            problems.append(f"{where}: graded cell with points {points!r}")
        if meta.get("solution") and meta.get("locked"):
            problems.append(f"{where}: a solution cell must not be locked")
        if meta.get("grade") and not meta.get("solution") and not meta.get("locked"):
            problems.append(f"{where}: a test cell must be locked")
    problems += [
        f"grade_id {grade_id!r} used {count} times" for grade_id, count in ids.items() if count > 1
    ]
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_setup_cell_is_the_same_in_every_notebook():
    """Does every notebook open with a markdown title, then the one shared set-up cell?"""
    setups = {}
    for path in NOTEBOOKS:
        cells = read(path).cells
        assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# "), (
            f"{path.name}: cell 0 must be the markdown title"
        )
        assert cells[1].cell_type == "code" and "setup_notebook()" in cells[1].source, (
            f"{path.name}: cell 1 must be the set-up cell"
        )
        setups.setdefault(cells[1].source, []).append(path.name)
    assert len(setups) <= 1, "the set-up cells differ: " + "; ".join(
        ", ".join(names) for names in setups.values()
    )


@pytest.mark.parametrize("path", notebook_params())
def test_autograde_cells_call_exactly_the_catalogue_checks(path):
    """One test cell per catalogue check of this notebook, with its points, its grade_id and
    the standard source (the release build's own rule, and the template)?"""
    expected = {
        name: check.points for name, check in CATALOGUE.items() if check.notebook == path.stem
    }
    nb = read(path)
    assert grade_cell_problems(nb, expected) == [], path.name
    for cell in autograde_cells(nb):
        (name,) = GRADE_CALL.findall(cell.source)
        assert cell.source == GRADE_CELL.format(name=name), (
            f"{path.name}: test cell for {name} differs from the standard one:\n{cell.source}"
        )


@pytest.mark.parametrize("path", notebook_params())
def test_every_inline_question_has_an_answer_cell(path):
    """Is each question a locked prompt followed by its manually graded answer cell?"""
    cells = read(path).cells
    for index, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        heading = INLINE_QUESTION_HEADING.search(cell.source)
        if heading is None:
            continue
        n = heading.group(1)
        meta = nbgrader(cell) or {}
        assert meta.get("grade_id") == f"inline_question_{n}_prompt" and meta.get("locked"), (
            f"{path.name}: cell {index} (Inline Question {n}) must be a locked prompt cell "
            f"with grade_id inline_question_{n}_prompt"
        )
        answer = cells[index + 1] if index + 1 < len(cells) else None
        answer_meta = nbgrader(answer) if answer is not None else None
        assert answer is not None and answer.cell_type == "markdown" and answer_meta, (
            f"{path.name}: Inline Question {n} has no answer cell after it"
        )
        assert answer_meta.get("grade_id") == f"inline_question_{n}", (
            f"{path.name}: the answer cell of Inline Question {n} has grade_id "
            f"{answer_meta.get('grade_id')!r}"
        )
        assert answer_meta.get("grade") and answer_meta.get("solution"), (
            f"{path.name}: the answer cell of Inline Question {n} must be graded and a solution"
        )
        answer_text = answer.source
        assert answer_text.startswith("**Your answer:**") and "### BEGIN SOLUTION" in answer_text, (
            f"{path.name}: the answer cell of Inline Question {n} needs '**Your answer:**' and "
            "a reference answer between solution markers"
        )


@pytest.mark.parametrize("path", notebook_params())
def test_no_hot_linked_images(path):
    """Do images come from the repo or the notebook, never from a web address?"""
    linked = [
        index
        for index, cell in enumerate(read(path).cells)
        if cell.cell_type == "markdown" and HOT_LINKED_IMAGE.search(cell.source)
    ]
    assert not linked, f"{path.name}: cells {linked} show images from a web address"
