"""Bounds on the notebook outputs that grading stores and renders.

A student's cell can print megabytes; the course folder and the feedback HTML keep at most
``per_cell_kb`` of outputs per cell and ``per_notebook_kb`` per notebook. Text is cut, other
outputs (images) are dropped whole, and a line says how much was left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

PER_CELL_KB = 512
PER_NOTEBOOK_KB = 8192


def cap_outputs(nb, per_cell_kb: int = PER_CELL_KB, per_notebook_kb: int = PER_NOTEBOOK_KB) -> int:
    """Cut the outputs of ``nb`` in place; returns the bytes left out."""
    left_notebook = per_notebook_kb * 1024
    dropped_total = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code" or not cell.get("outputs"):
            continue
        room = min(per_cell_kb * 1024, left_notebook)
        kept, dropped = [], 0
        for output in cell.outputs:
            size = len(json.dumps(output))
            if size <= room:
                kept.append(output)
                room -= size
            elif output.get("output_type") == "stream" and room > 200:
                text = output.get("text", "")
                output["text"] = text[: room - 200]
                dropped += len(text) - len(output["text"])
                kept.append(output)
                room = 0
            else:
                dropped += size
        if dropped:
            kept.append(
                nbformat.v4.new_output(
                    "stream",
                    name="stderr",
                    text=f"\n[{dropped // 1024 + 1} kB of output left out by the grader]\n",
                )
            )
        left_notebook -= sum(len(json.dumps(o)) for o in kept)
        left_notebook = max(left_notebook, 0)
        cell.outputs = kept
        dropped_total += dropped
    return dropped_total


def cap_notebook_files(folder: Path) -> list[str]:
    """Cap every notebook under ``folder`` in place; a note per notebook that was cut."""
    notes = []
    for path in sorted(Path(folder).rglob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        except Exception:  # noqa: BLE001 - an unreadable notebook is reported elsewhere
            continue
        dropped = cap_outputs(nb)
        if dropped:
            nbformat.write(nb, path)
            notes.append(
                f"{path.name}: {dropped // 1024 + 1} kB of outputs left out (at most "
                f"{PER_CELL_KB} kB a cell and {PER_NOTEBOOK_KB} kB a notebook are kept)"
            )
    return notes
