"""A submitted notebook whose nbgrader metadata or locked cells were edited is still graded.

nbgrader refuses such a notebook whole ("Inconsistent checksums", "failed to validate"):
no feedback, and its written answers never reach the formgrader. Instead, the locked cells
(tests, provided code) and every cell's nbgrader metadata are put back as released, the
student's answers are kept, and the notebook is flagged "notebook metadata altered".
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

FLAG = "notebook metadata altered"


def restore(release, submitted) -> tuple[object, list[str]]:
    """``submitted`` with the release's nbgrader cells restored; the changes found (none:
    the notebook was left alone)."""
    graded = {_grade_id(c): c for c in release.cells if _grade_id(c)}
    by_id = {c.get("id"): c for c in release.cells if _grade_id(c) and c.get("id")}
    changes, cells, seen = [], [], set()
    for cell in submitted.cells:
        ours = graded.get(_grade_id(cell)) or by_id.get(cell.get("id"))
        if ours is None or _grade_id(ours) in seen:
            cells.append(cell)
            continue
        seen.add(_grade_id(ours))
        meta = ours.metadata["nbgrader"]
        if cell.metadata.get("nbgrader") != meta or cell.cell_type != ours.cell_type:
            changes.append(f"{_grade_id(ours)}: metadata changed")
        locked = meta.get("locked") and not meta.get("solution")
        if locked and cell.source != ours.source:
            changes.append(f"{_grade_id(ours)}: locked cell edited")
        restored = copy.deepcopy(ours) if locked or cell.cell_type != ours.cell_type else cell
        restored.metadata["nbgrader"] = copy.deepcopy(meta)
        cells.append(restored)
    for position, cell in enumerate(release.cells):
        if _grade_id(cell) and _grade_id(cell) not in seen:
            changes.append(f"{_grade_id(cell)}: cell removed")
            cells.insert(min(position, len(cells)), copy.deepcopy(cell))
    if not changes:
        return submitted, []
    fixed = copy.deepcopy(submitted)
    fixed.cells = cells
    return fixed, changes


def restore_folder(release_dir: Path, submitted_dir: Path) -> list[str]:
    """Restore every submitted notebook of the release in place; a note per notebook
    changed, naming the flag."""
    notes = []
    for release_path in sorted(Path(release_dir).glob("*.ipynb")):
        path = Path(submitted_dir) / release_path.name
        if not path.is_file() or path.is_symlink():
            continue
        try:
            submitted = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 - unreadable notebooks are reported elsewhere
            continue
        fixed, changes = restore(nbformat.read(release_path, as_version=4), submitted)
        if changes:
            nbformat.write(fixed, path)
            shown = "; ".join(changes[:5]) + ("; ..." if len(changes) > 5 else "")
            notes.append(
                f"{path.name}: {FLAG} ({shown}); the locked cells were restored from "
                "the release and the answers kept"
            )
    return notes


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
