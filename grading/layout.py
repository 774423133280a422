"""Where things are in the source and in a release: the facts every stage shares.

The release build reads the source by these names, and the hardened grader and the
nbgrader glue find the package and the notebooks by them; nothing else is shared
between the stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from grading.errors import ReleaseError

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "assignment"
NOTEBOOKS = "notebooks"
DATASETS = "datasets"
# The classic order; a stub names the first notebook in it that uses the function, and
# reports list notebooks in it.
CURRICULUM = (
    "FullyConnectedNets",
    "BatchNormalization",
    "Dropout",
    "ConvolutionalNetworks",
    "PyTorch",
    "Network_Visualization",
)


def curriculum_rank(notebook: str) -> tuple[int, str]:
    """Sort key: notebooks (with or without ``.ipynb``) in curriculum order, others after."""
    stem = notebook.removesuffix(".ipynb")
    return (CURRICULUM.index(stem) if stem in CURRICULUM else len(CURRICULUM), stem)


def select_notebooks(source_root: Path, names: Iterable[str] | None = None) -> dict[str, Path]:
    """``{file name: path}`` of ``notebooks/*.ipynb``, all or the ``names`` asked for."""
    found = {p.name: p for p in sorted((Path(source_root) / NOTEBOOKS).glob("*.ipynb"))}
    if names is None:
        return found
    chosen = {}
    for name in names:
        file = name if name.endswith(".ipynb") else f"{name}.ipynb"
        if file not in found:
            raise ReleaseError(
                f"{NOTEBOOKS}/{file}",
                None,
                f"select_notebooks: no such notebook; there are {sorted(found) or 'none'}",
            )
        chosen[file] = found[file]
    return chosen


def module_file(short: str) -> str:
    """Release-relative path of a module known to the checks by its short name ('fc_net')."""
    from assignment.checks.api import MODULES

    return f"{PACKAGE}/{MODULES[short].replace('.', '/')}.py"
