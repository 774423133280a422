"""Stage the release-safe files of the source: the first half of the release build.

``stage_source`` copies, into an empty folder (the ``source/<assignment>/`` folder of an
nbgrader course):

1. ``stage_package``: ``assignment/`` with every ``.py`` stripped (``strip.strip_file``:
   solution regions become stubs, hidden-test regions go), public data copied, caches and
   hidden data left behind, and ``assignment/checks/provided.json``: the released text of
   each graded module and the names students write in it, so that the self-check assembles
   a student's code as the grader does;
2. ``stage_notebooks``: ``notebooks/*.ipynb`` to the top level, markers checked;
3. ``stage_notebook_assets``: the rest of ``notebooks/`` (pictures) beside them;
4. ``stage_datasets_tool``: the download tool, no data;
5. ``stage_top_files``: the student requirements and README.

``stage_package`` alone is also the hardened grader's trusted copy
(:func:`grading.hardened.splice.build_trusted_copy`): students' code is graded inside
exactly the package they were given.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from assignment.checks.assemble import HELPER_MODULES, PROVIDED
from grading.errors import ReleaseError
from grading.layout import (
    DATASETS,
    NOTEBOOKS,
    PACKAGE,
    REPO_ROOT,
    curriculum_rank,
    select_notebooks,
)
from grading.release import notebook_transforms as nbt
from grading.release.leaks import fingerprint_lines
from grading.release.strip import SOLUTION, NotebookOf, Region, code_lines, find_regions, strip_file

# Top level of datasets/ only: the download tool, never the data. (The embedded-data
# generator is a module of the package.)
DATASET_TOOL = ("*.py", "*.sh", "README.md")
STUDENT_README = "grading/release/student_README.md"
STUDENT_REQUIREMENTS = "grading/release/student_requirements.txt"
REQUIREMENTS = "requirements.txt"
# Top-level names of the release that notebook assets may not take.
RESERVED_TOP = frozenset({PACKAGE, DATASETS, "README.md", REQUIREMENTS})
# Never staged: bytecode and caches carry the reference; hidden expected values are the
# hardened grader's, not the students'.
NEVER_STAGED = ("__pycache__", "*.pyc", "*.pyo", ".ipynb_checkpoints", "*hidden*")


@dataclass(frozen=True)
class Stripped:
    """A solution region replaced by a stub: source-relative path, line, function."""

    path: str
    line: int
    qualname: str


@dataclass
class Staged:
    """What staging wrote (paths relative to the staged folder) and what it learned."""

    files: list[str] = field(default_factory=list)
    notebooks: list[str] = field(default_factory=list)
    stripped: list[Stripped] = field(default_factory=list)
    hidden_regions: int = 0
    student_files: list[str] = field(default_factory=list)
    reference: list[str] = field(default_factory=list)
    public_code: list[str] = field(default_factory=list)
    # staged path -> (source path, strip regions to map lines back, or None when unchanged)
    origins: dict[str, tuple[str, list[Region] | None]] = field(default_factory=dict)

    def add(self, other: Staged) -> None:
        for name in ("files", "notebooks", "stripped", "student_files", "reference", "public_code"):
            getattr(self, name).extend(getattr(other, name))
        self.hidden_regions += other.hidden_regions
        self.origins.update(other.origins)

    @property
    def fingerprints(self) -> frozenset[str]:
        """The reference lines the leak scan looks for in the built release."""
        return fingerprint_lines(self.reference, self.public_code)


# -- staging steps -------------------------------------------------------------------------


def stage_package(source_root: Path, dest: Path, notebook_of: NotebookOf | None = None) -> Staged:
    """Copy ``assignment/`` to ``dest`` with every ``.py`` stripped; ``notebook_of(qualname,
    path)`` names the notebook each stub points to (see :func:`notebook_index`)."""
    staged = Staged()
    package = source_root / PACKAGE
    if not package.is_dir():
        raise ReleaseError(PACKAGE, None, "stage_package: the source has no package folder")
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(source_root).as_posix()
        if _never_staged(path.relative_to(package)) or path.is_dir():
            continue
        if path.is_symlink():
            raise ReleaseError(
                rel,
                None,
                "stage_package: links are not copied into a release; make it a plain file",
            )
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py":
            text = _read_text(path, rel)
            of_file = (
                (lambda qualname, rel=rel: notebook_of(qualname, rel)) if notebook_of else None
            )
            stripped, regions = strip_file(text, rel, notebook_of=of_file)
            target.write_text(stripped, encoding="utf-8", newline="")
            solutions = [r for r in regions if r.kind == SOLUTION]
            staged.stripped.extend(Stripped(rel, r.begin, r.qualname) for r in solutions)
            staged.hidden_regions += len(regions) - len(solutions)
            if solutions:
                staged.student_files.append(rel)
            staged.reference.extend(line for r in regions for line in r.body)
            staged.public_code.extend(code_lines(text, regions))
            staged.origins[rel] = (rel, regions)
        else:
            shutil.copyfile(path, target)
            staged.origins[rel] = (rel, None)
        staged.files.append(rel)
    _write_provided(dest, staged)
    return staged


def _write_provided(dest: Path, staged: Staged) -> None:
    """``provided.json``: {graded module: {"names": [...], "text": its release text}}."""
    names: dict[str, list[str]] = {rel: [] for rel in staged.student_files}
    names.update({rel: [] for rel in HELPER_MODULES if rel in staged.files})
    for region in staged.stripped:
        top = region.qualname.split(".")[0]
        if top not in names[region.path]:
            names[region.path].append(top)
    provided = {
        rel: {"names": tops, "text": (dest / rel).read_text(encoding="utf-8")}
        for rel, tops in names.items()
    }
    if not provided:
        return
    target = dest / PROVIDED
    target.write_text(json.dumps(provided, indent=1) + "\n", encoding="utf-8")
    staged.files.append(PROVIDED)
    staged.origins[PROVIDED] = (PROVIDED, None)


def stage_notebooks(notebooks: dict[str, Path], dest: Path, source_root: Path) -> Staged:
    """Copy the chosen notebooks to the top of ``dest`` after checking their markers."""
    staged = Staged()
    for name, path in notebooks.items():
        display = path.relative_to(source_root).as_posix()
        nb = nbt.load(path, display)
        nbt.check_markers(nb, display)
        reference, code = nbt.reference_and_code_lines(nb, display)
        staged.reference.extend(reference)
        staged.public_code.extend(code)
        shutil.copyfile(path, dest / name)
        staged.notebooks.append(name)
        staged.origins[name] = (display, None)
    return staged


def stage_notebook_assets(source_root: Path, dest: Path) -> Staged:
    """Copy what ``notebooks/`` holds besides its notebooks (``images/``...) to the top of ``dest``.

    Notebooks sit at the release's top level, so their relative paths to these files stay
    the same in the source and in the release.
    """
    staged = Staged()
    folder = source_root / NOTEBOOKS
    if not folder.is_dir():
        return staged
    for path in sorted(folder.rglob("*")):
        inner = path.relative_to(folder)
        notebook = len(inner.parts) == 1 and path.suffix == ".ipynb"
        if path.is_dir() or notebook or _never_staged(inner):
            continue
        source_rel = path.relative_to(source_root).as_posix()
        if path.is_symlink():
            raise ReleaseError(
                source_rel,
                None,
                "stage_notebook_assets: links are not copied into a release; make it a plain file",
            )
        if inner.parts[0] in RESERVED_TOP:
            raise ReleaseError(
                source_rel,
                None,
                "stage_notebook_assets: would overwrite the "
                f"release's own {inner.parts[0]}; rename it",
            )
        staged.add(_copy(path, dest / inner, inner.as_posix(), source_rel))
    return staged


def stage_datasets_tool(source_root: Path, dest: Path) -> Staged:
    """Copy the top-level tool files of ``datasets/`` (no data, no subfolders)."""
    staged = Staged()
    folder = source_root / DATASETS
    if not folder.is_dir():
        return staged
    for path in sorted(folder.iterdir()):
        if (
            path.is_file()
            and not path.is_symlink()
            and any(fnmatch.fnmatch(path.name, p) for p in DATASET_TOOL)
        ):
            rel = f"{DATASETS}/{path.name}"
            staged.add(_copy(path, dest / rel, rel, rel))
    return staged


def stage_top_files(source_root: Path, dest: Path) -> Staged:
    """The student requirements as ``requirements.txt`` and the student README as
    ``README.md`` (the source's own requirements are the instructor's)."""
    staged = Staged()
    for source, rel in ((STUDENT_REQUIREMENTS, REQUIREMENTS), (STUDENT_README, "README.md")):
        path = source_root / source
        if not path.is_file():
            raise ReleaseError(source, None, "stage_top_files: missing; a release needs it")
        staged.add(_copy(path, dest / rel, rel, source))
    return staged


def stage_source(
    source_root: Path = REPO_ROOT,
    dest: Path | None = None,
    *,
    notebooks: Iterable[str] | None = None,
    notebook_of: NotebookOf | None = None,
) -> Staged:
    """Stage the release-safe files and the source notebooks into ``dest`` (an empty folder)."""
    source_root = check_source_root(source_root)
    if dest is None:
        raise ReleaseError(None, None, "stage_source: expected a destination folder, got None")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ReleaseError(dest, None, "stage_source: the destination is not empty")
    chosen = select_notebooks(source_root, notebooks)
    if notebook_of is None:
        notebook_of = notebook_index(chosen)
    staged = Staged()
    staged.add(stage_package(source_root, dest, notebook_of))
    staged.add(stage_notebooks(chosen, dest, source_root))
    staged.add(stage_notebook_assets(source_root, dest))
    staged.add(stage_datasets_tool(source_root, dest))
    staged.add(stage_top_files(source_root, dest))
    return staged


# -- notebooks -------------------------------------------------------------------------------


def notebook_index(notebooks: dict[str, Path]) -> Callable[[str], str | None]:
    """``notebook_of(qualname, path=None)``: the notebook of the catalogue check of that name
    in the module at ``path`` (two modules may share a name: the numpy and the PyTorch
    ``ThreeLayerConvNet``); else the first notebook, in curriculum order, that uses the name.

    A method is looked up by its class (``FullyConnectedNet.loss`` -> ``FullyConnectedNet``).
    """
    loaded = [(name, nbt.load(notebooks[name])) for name in sorted(notebooks, key=curriculum_rank)]

    def notebook_of(qualname: str, path: str | None = None) -> str | None:
        top = qualname.split(".")[0]
        checked = f"{_checked_notebook(top, path)}.ipynb" if path else None
        if checked in notebooks:
            return checked
        return next((name for name, nb in loaded if nbt.mentions(nb, top)), None)

    return notebook_of


def _checked_notebook(top: str, path: str) -> str | None:
    """The notebook of a catalogue check of ``top`` (or of its methods) in the module at
    ``path`` (release-relative), if there is one."""
    from assignment.checks import CATALOGUE
    from assignment.checks.api import MODULES

    shorts = {
        short
        for short, dotted in MODULES.items()
        if f"{PACKAGE}/{dotted.replace('.', '/')}.py" == path
    }
    return next(
        (
            c.notebook
            for c in CATALOGUE.values()
            if c.module in shorts and c.name.split(".")[0] == top
        ),
        None,
    )


def student_regions(source_root: Path = REPO_ROOT) -> dict[str, tuple[str, ...]]:
    """``{assignment-relative .py path: qualnames of its solution regions}`` of the source.

    These are the functions a submission provides; everything else is the instructor's.
    """
    source_root = check_source_root(source_root)
    regions = {}
    for path in sorted((source_root / PACKAGE).rglob("*.py")):
        if _never_staged(path.relative_to(source_root / PACKAGE)):
            continue
        rel = path.relative_to(source_root).as_posix()
        names = tuple(
            dict.fromkeys(
                r.qualname for r in find_regions(_read_text(path, rel), rel) if r.kind == SOLUTION
            )
        )
        if names:
            regions[rel] = names
    return regions


# -- helpers -------------------------------------------------------------------------------------


def check_source_root(source_root: Path) -> Path:
    root = Path(source_root).resolve()
    if not (root / PACKAGE).is_dir():
        raise ReleaseError(root, None, f"not a source tree: expected a {PACKAGE}/ folder in it")
    return root


def _never_staged(rel: Path) -> bool:
    return any(fnmatch.fnmatch(part, p) for part in rel.parts for p in NEVER_STAGED)


def _read_text(path: Path, rel: str) -> str:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as error:
        raise ReleaseError(rel, None, f"not UTF-8 text: {error.reason}") from None


def _copy(path: Path, target: Path, rel: str, source_rel: str) -> Staged:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    staged = Staged(files=[rel])
    staged.origins[rel] = (source_rel, None)
    return staged
