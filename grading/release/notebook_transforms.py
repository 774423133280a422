"""Read the nbgrader structure of a notebook: which text only the instructor may see.

nbgrader's ``generate_assignment`` does the notebook transforms themselves (solution cells
become stubs, hidden tests go, outputs are cleared, cells are locked). What the release
build needs on top is to check a source notebook before nbgrader sees it, so that a stray
marker is reported with its cell and line, and to know which lines are reference-only,
so that the leak scan can look for them in what ships. The written questions (the answers
graded by hand) are read here too, for every report that totals a grade.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import nbformat

from grading.errors import ReleaseError, StripError
from grading.layout import curriculum_rank
from grading.release.strip import HIDDEN, SOLUTION, find_markers


def load(path: Path, display: str | None = None) -> nbformat.NotebookNode:
    """The notebook at ``path`` as nbformat 4; ``display`` names it in errors."""
    name = display or str(path)
    try:
        return nbformat.read(str(path), as_version=4)
    except (OSError, ValueError, json.JSONDecodeError) as error:
        raise ReleaseError(name, None, f"not a readable notebook: {error}") from None


def nbgrader_role(cell: nbformat.NotebookNode) -> tuple[bool, bool]:
    """(is a solution cell, is a graded cell) from the cell's nbgrader metadata."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution", False)), bool(meta.get("grade", False))


@dataclass(frozen=True)
class WrittenQuestion:
    """A written answer cell: an nbgrader markdown cell that is a solution and a graded cell,
    graded by hand, never by the autograder. ``notebook`` is the name without ``.ipynb``, as
    check results name it; ``grade_id`` is the cell's, as the gradebook names it."""

    notebook: str
    grade_id: str
    points: float


def written_questions(
    folder: Path, notebooks: Iterable[str] | None = None
) -> list[WrittenQuestion]:
    """The written questions of the notebooks in ``folder`` (all, or those named in
    ``notebooks``, without ``.ipynb``): notebooks in curriculum order, cells in their order."""
    paths = sorted(Path(folder).glob("*.ipynb"), key=lambda p: curriculum_rank(p.name))
    wanted = None if notebooks is None else set(notebooks)
    questions = []
    for path in paths:
        if wanted is not None and path.stem not in wanted:
            continue
        for index, cell in enumerate(load(path).cells):
            if cell.cell_type != "markdown" or nbgrader_role(cell) != (True, True):
                continue
            meta = cell.metadata["nbgrader"]
            if not meta.get("grade_id"):
                raise ReleaseError(path, None, "a written answer cell has no grade_id", cell=index)
            questions.append(
                WrittenQuestion(path.stem, meta["grade_id"], float(meta.get("points", 0)))
            )
    return questions


def check_markers(nb: nbformat.NotebookNode, display: str) -> None:
    """Refuse markers nbgrader would mishandle, naming the cell and line.

    Solution markers belong in solution cells, hidden-test markers in graded code cells
    (nbgrader restores only those at autograde time); both must be balanced and unnested.
    """
    for index, cell in enumerate(nb.cells):
        regions = find_markers(cell.source.split("\n"), display, cell=index)
        solution, grade = nbgrader_role(cell)
        for region in regions:
            if region.kind == SOLUTION and not solution:
                raise StripError(
                    display,
                    region.begin,
                    "solution markers in a cell that is not an nbgrader solution cell",
                    cell=index,
                )
            if region.kind == HIDDEN and not (grade and cell.cell_type == "code" and not solution):
                raise StripError(
                    display,
                    region.begin,
                    "hidden-test markers outside an nbgrader autograder-test cell",
                    cell=index,
                )


def reference_and_code_lines(
    nb: nbformat.NotebookNode, display: str
) -> tuple[list[str], list[str]]:
    """(reference-only lines, public code lines) of a source notebook's cells.

    Reference-only: the inside of solution and hidden-test regions, and the whole of a
    solution cell without markers (nbgrader replaces such a cell by its stub). Public code:
    the other lines of code cells, comments left out (see ``strip.code_lines`` for why).
    """
    reference: list[str] = []
    code: list[str] = []
    for index, cell in enumerate(nb.cells):
        lines = cell.source.split("\n")
        regions = find_markers(lines, display, cell=index)
        solution, _ = nbgrader_role(cell)
        if solution and not any(r.kind == SOLUTION for r in regions):
            reference.extend(lines)
            continue
        inside = {n for r in regions for n in range(r.begin, r.end + 1)}
        for region in regions:
            reference.extend(region.body)
        if cell.cell_type == "code":
            code.extend(
                line
                for number, line in enumerate(lines, start=1)
                if number not in inside and not line.lstrip().startswith("#")
            )
    return reference, code


def mentions(nb: nbformat.NotebookNode, name: str) -> bool:
    """Whether any cell of ``nb`` uses ``name`` as a whole word."""
    word = re.compile(rf"\b{re.escape(name)}\b")
    return any(word.search(cell.source) for cell in nb.cells)


def nbgrader_metadata_problem(nb: nbformat.NotebookNode) -> tuple[int, str] | None:
    """(cell index, why) of the first cell whose nbgrader metadata nbgrader rejects, or None.

    Asked only after ``generate_assignment`` failed, to point at the cell of the source
    notebook (nbgrader's own log names a temporary copy); importing nbgrader takes seconds.
    """
    from nbgrader.nbgraderformat import (
        MetadataValidator,
        SchemaTooNewError,
        SchemaTooOldError,
        ValidationError,
    )

    validator = MetadataValidator()
    owners: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        try:
            validator.validate_cell(cell)
        except ValidationError as error:
            return index, f"nbgrader metadata: {error.message}"
        except (SchemaTooOldError, SchemaTooNewError) as error:
            return index, f"nbgrader metadata: {error}"
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta and (meta.get("grade") or meta.get("solution") or meta.get("locked")):
            grade_id = meta.get("grade_id")
            if grade_id in owners:
                return index, (
                    f"nbgrader metadata: grade_id {grade_id!r} is also the id of "
                    f"cell {owners[grade_id]}"
                )
            owners[grade_id] = index
    return None


# How an autograder cell calls its check: the one line ``grade("name")``.
GRADE_CALL = re.compile(r'^grade\("([^"]+)"\)$', re.MULTILINE)


def grade_cell_problems(
    nb: nbformat.NotebookNode, checks: dict[str, float]
) -> list[tuple[int | None, str]]:
    """Where the notebook's autograder cells disagree with the catalogue: ``(cell index or
    None, what to change)`` for each problem. ``checks`` maps the names of this notebook's
    catalogue checks to their points, which the catalogue alone decides."""
    problems: list[tuple[int | None, str]] = []
    found: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        names = GRADE_CALL.findall(cell.source)
        if len(names) != 1:
            problems.append(
                (
                    index,
                    f"the autograder cell {meta.get('grade_id')!r} calls "
                    f'grade("...") {len(names)} times; expected once',
                )
            )
            continue
        name = names[0]
        if name not in checks:
            problems.append(
                (
                    index,
                    f'grade("{name}") is not a catalogue check of this '
                    "notebook; add the check to assignment/checks or fix the name",
                )
            )
            continue
        if name in found:
            problems.append(
                (
                    index,
                    f"a second autograder cell for {name} (the first is "
                    f"cell {found[name]}); keep one",
                )
            )
            continue
        found[name] = index
        grade_id = "test_" + name.replace(".", "_")
        if meta.get("grade_id") != grade_id:
            problems.append(
                (
                    index,
                    f"the cell of {name} has grade_id {meta.get('grade_id')!r};"
                    f" the grader looks for {grade_id!r}",
                )
            )
        if meta.get("points") != checks[name]:
            problems.append(
                (
                    index,
                    f"the cell of {name} gives {meta.get('points')} points, the "
                    f"catalogue {checks[name]:g}; points are set in the catalogue, and "
                    "the cell must say the same",
                )
            )
    for name in sorted(set(checks) - set(found)):
        problems.append(
            (
                None,
                f"no autograder cell for the catalogue check {name} "
                f'({checks[name]:g} points); add one calling grade("{name}")',
            )
        )
    return problems
