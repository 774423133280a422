"""Sample submissions built from the source, for the demo and the end-to-end tests.

Each sample is a folder in the release layout, made from a built release and the source:

``reference``
    the solutions in place: every graded ``.py`` file is the source file without its
    markers (and without hidden-test regions), every solution cell of a notebook holds the
    source cell's reference (answers to the inline questions included);
``stub``
    the release untouched;
``buggy``
    the reference with the realistic bugs of :data:`BUGS`, each of which costs exactly the
    checks it names;
``cheat``
    the release's stubs plus module code that patches numpy (``np.allclose`` always true,
    ``numpy.testing`` asserts that never fail), replaces the notebook's self-check with one
    that always passes and rebinds every function the student writes to one returning
    zeros shaped like its first array argument: the notebook's test cells pass in the
    student's kernel, the hardened grader gives nothing, and every check is flagged.

    make_samples(Path("release"), Path("build/samples"))   # {name: folder}
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import nbformat

from grading.errors import GradingError
from grading.layout import NOTEBOOKS, REPO_ROOT
from grading.part5 import WEIGHTS, reference_weights
from grading.release.stage import student_regions
from grading.release.strip import (
    SOLUTION,
    drop_hidden_tests,
    find_markers,
    find_regions,
    split_lines,
)

SAMPLES = ("reference", "stub", "buggy", "cheat")


class SampleError(GradingError):
    """A sample submission cannot be built from this source and release."""


@dataclass(frozen=True)
class Bug:
    """One realistic mistake, written into the reference of one function.

    ``pattern`` (a regular expression) must match inside the code of ``function`` in
    ``path``; every match becomes ``replacement``. A bug is charged once: it costs the check
    of its function and no other (a model that calls the function is judged with a correct
    one standing in).
    """

    path: str
    function: str
    pattern: str
    replacement: str
    what: str


BUGS = (
    Bug(
        "assignment/layers.py",
        "affine_backward",
        r"\.reshape\(x\.shape\)",
        "",
        "affine_backward returns dx flat, (N, D), instead of reshaping it to x's shape "
        "(ThreeLayerConvNet.loss calls it with a 4-d input)",
    ),
    Bug(
        "assignment/optim.py",
        "adam",
        r"\b(m_hat|v_hat)\s*=\s*(m|v)\s*/\s*\(1 - [^\n]*\*\*\s*t\)",
        r"\1 = \2",
        "adam without bias correction of the first and second moments",
    ),
    Bug(
        "assignment/layers.py",
        "batchnorm_backward",
        r"\bdx = dxc - dxc\.mean\(axis=0\)",
        "dx = dxc",
        "batchnorm_backward without the path through the batch mean "
        "(the networks with batchnorm call it)",
    ),
    Bug(
        "assignment/net_visualization.py",
        "compute_grad_cam",
        r"F\.relu\(\(alpha \* A\)\.sum\(dim=1\)\)",
        "(alpha * A).sum(dim=1)",
        "compute_grad_cam without the ReLU (its maps keep the evidence against the class)",
    ),
    Bug(
        "assignment/pytorch_models.py",
        "train_step",
        r"\n\s*optimizer\.zero_grad\(\)",
        "",
        "train_step without optimizer.zero_grad() (gradients pile up across steps)",
    ),
)


def broken_checks(checks: Iterable[str], bugs: Iterable[Bug] = BUGS) -> set[str]:
    """The checks among ``checks`` that ``bugs`` cost."""
    return {bug.function for bug in bugs} & set(checks)


CHEAT_MODULE_CODE = """

# ---- added by the student: make every check pass ----
import numpy as _np
import numpy.testing as _npt

_np.allclose = lambda *args, **kwargs: True
for _name in ("assert_allclose", "assert_array_almost_equal", "assert_array_equal",
              "assert_almost_equal", "assert_equal"):
    setattr(_npt, _name, lambda *args, **kwargs: None)

try:
    import assignment.check as _check
    _check.grade = lambda *args, **kwargs: print("PASS")
except Exception:
    pass


def _zeros(*args, **kwargs):
    first = next((a for a in args if isinstance(a, _np.ndarray)), _np.zeros(1))
    return _np.zeros_like(first), _np.zeros_like(first), _np.zeros_like(first)


for _name in {names!r}:
    globals()[_name] = _zeros
"""


def make_samples(
    release: Path, dest: Path, source_root: Path = REPO_ROOT, *, names: Iterable[str] = SAMPLES
) -> dict[str, Path]:
    """Write the samples ``names`` to ``dest/<name>`` (``dest`` missing or empty)."""
    release, dest = Path(release), Path(dest)
    names = list(names)
    unknown = [n for n in names if n not in SAMPLES]
    if unknown:
        raise SampleError(
            None,
            None,
            f"make_samples: unknown sample(s) {unknown}; expected some of {', '.join(SAMPLES)}",
        )
    if not (release / "assignment").is_dir():
        raise SampleError(
            release, None, "make_samples: expected a built release (a folder holding assignment/)"
        )
    if dest.exists() and any(dest.iterdir()):
        raise SampleError(dest, None, "make_samples: the destination is not empty")
    builders = {"reference": reference, "stub": stub, "buggy": buggy, "cheat": cheat}
    return {name: builders[name](release, dest / name, Path(source_root)) for name in names}


def stub(release: Path, dest: Path, source_root: Path = REPO_ROOT) -> Path:
    """The release as a student receives it."""
    shutil.copytree(release, dest)
    return dest


def reference(release: Path, dest: Path, source_root: Path = REPO_ROOT) -> Path:
    """The release with the reference solutions of the source in every student region."""
    shutil.copytree(release, dest)
    for rel in student_regions(source_root):
        text = (source_root / rel).read_text(encoding="utf-8")
        (dest / rel).write_text(reference_text(text, rel), encoding="utf-8")
    for notebook in sorted(dest.glob("*.ipynb")):
        source = source_root / NOTEBOOKS / notebook.name
        if not source.is_file():
            raise SampleError(notebook, None, "reference: no source notebook of that name")
        fill_solution_cells(notebook, source)
    shutil.copyfile(reference_weights(source_root), dest / WEIGHTS)  # Part V's trained model
    return dest


def buggy(
    release: Path, dest: Path, source_root: Path = REPO_ROOT, bugs: Iterable[Bug] = BUGS
) -> Path:
    """The reference with each of ``bugs`` written in."""
    reference(release, dest, source_root)
    for bug in bugs:
        path = dest / bug.path
        path.write_text(apply_bug(path.read_text(encoding="utf-8"), bug), encoding="utf-8")
    return dest


def cheat(release: Path, dest: Path, source_root: Path = REPO_ROOT) -> Path:
    """The release stubs with module code that forges the in-kernel checks (see above)."""
    shutil.copytree(release, dest)
    for rel, qualnames in student_regions(source_root).items():
        functions = tuple(dict.fromkeys(q for q in qualnames if "." not in q))
        if functions:
            with open(dest / rel, "a", encoding="utf-8") as handle:
                handle.write(CHEAT_MODULE_CODE.format(names=functions))
    return dest


def reference_text(text: str, path: str) -> str:
    """A source ``.py`` file without hidden-test regions and without solution markers."""
    text, _ = drop_hidden_tests(text, path)
    lines = split_lines(text)
    markers = {n for r in find_regions(text, path) if r.kind == SOLUTION for n in (r.begin, r.end)}
    return "".join(line for number, line in enumerate(lines, start=1) if number not in markers)


def fill_solution_cells(notebook: Path, source: Path) -> None:
    """Put the reference of each solution cell of ``source`` into ``notebook`` (by grade_id)."""
    nb = nbformat.read(str(notebook), as_version=4)
    src = nbformat.read(str(source), as_version=4)
    answers = {}
    for index, cell in enumerate(src.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answers[meta.get("grade_id")] = _without_markers(cell.source, str(source), index)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            if meta.get("grade_id") not in answers:
                raise SampleError(
                    notebook,
                    None,
                    f"reference: the source has no solution cell {meta.get('grade_id')!r}",
                )
            cell.source = answers[meta["grade_id"]]
    nbformat.write(nb, str(notebook))


def apply_bug(text: str, bug: Bug) -> str:
    """``text`` with ``bug`` written into its function; SampleError when it does not apply."""
    tree = ast.parse(text)
    node = _find_def(tree, bug.function)
    if node is None:
        raise SampleError(
            bug.path, None, f"buggy: no function {bug.function} to put the bug '{bug.what}' in"
        )
    # The code only: a docstring that describes the right formula stays as it is.
    start = _code_start(node)
    lines = split_lines(text)
    head = "".join(lines[: start - 1])
    body = "".join(lines[start - 1 : node.end_lineno])
    tail = "".join(lines[node.end_lineno :])
    changed, count = re.subn(bug.pattern, bug.replacement, body)
    if count == 0:
        raise SampleError(
            bug.path,
            node.lineno,
            f"buggy: the reference of {bug.function} has "
            f"changed; the bug '{bug.what}' (pattern {bug.pattern!r}) no longer "
            "applies",
        )
    return head + changed + tail


def _without_markers(source: str, display: str, cell: int) -> str:
    lines = source.split("\n")
    markers = {n for r in find_markers(lines, display, cell=cell) for n in (r.begin, r.end)}
    return "\n".join(line for number, line in enumerate(lines, start=1) if number not in markers)


def _code_start(node) -> int:
    """The first line of a def's body after its docstring."""
    body = node.body
    if (
        len(body) > 1
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return body[1].lineno
    return body[0].lineno


def _find_def(tree: ast.Module, qualname: str):
    scope: list = tree.body
    node = None
    for part in qualname.split("."):
        node = next(
            (n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part),
            None,
        )
        if node is None:
            return None
        scope = node.body
    return node
