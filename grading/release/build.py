"""Build the student release from the instructor's source, as a visible list of small steps.

1. :func:`grading.release.stage.stage_source` stages the release-safe files into the
   ``source/<assignment>/`` folder of a throwaway nbgrader course;
2. nbgrader ``generate_assignment`` turns the notebooks into student notebooks (solution
   cells stubbed, hidden tests removed, outputs cleared, cells locked);
3. :func:`assemble` puts the release together in a temporary folder, and
   :func:`grading.release.publish.customize` fits it to the course's repository;
4. :func:`grading.release.leaks.scan` looks for anything only the instructor may hold,
   and only a clean release is copied to ``out``.

The same staging is the source of the grading course
(:func:`grading.nbgrader.workspace.build_course`) and the hardened grader's trusted copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from grading.errors import CourseError, ReleaseError
from grading.layout import DATASETS, NOTEBOOKS, PACKAGE, REPO_ROOT
from grading.nbgrader.course import Course
from grading.release import notebook_transforms as nbt
from grading.release import publish
from grading.release.leaks import PUBLIC_DATA, Leak, check_release
from grading.release.stage import Staged, Stripped, check_source_root, stage_source
from grading.release.strip import NotebookOf, source_line


@dataclass(frozen=True)
class ReleaseReport:
    """What :func:`build_release` wrote to ``out``."""

    out: Path
    files: tuple[str, ...]
    notebooks: tuple[str, ...]
    stripped: tuple[Stripped, ...]
    hidden_regions: int
    student_files: tuple[str, ...]
    seconds: float

    @property
    def stripped_regions(self) -> int:
        return len(self.stripped)


# -- the build -------------------------------------------------------------------------------


def build_release(
    source_root: Path = REPO_ROOT,
    out: Path = REPO_ROOT / "release",
    *,
    replace: bool = False,
    notebooks: Iterable[str] | None = None,
    notebook_of: NotebookOf | None = None,
    public_data: Iterable[str] = PUBLIC_DATA,
    repo_url: str | None = None,
    branch: str = "main",
) -> ReleaseReport:
    """Build the student release of ``source_root`` into ``out``.

    ``repo_url`` and ``branch``: the course's repository that the release is pushed to, which
    the notebooks' set-up cells clone on Colab and their badges open (``publish.customize``).

    ``out`` must be missing or empty unless ``replace`` is true, in which case its contents
    (and nothing outside it) are deleted, but only once the new release has passed the leak
    scan. ``notebooks`` limits the notebooks shipped (names with or without ``.ipynb``).
    Raises :class:`ReleaseError` (a :class:`LeakError` from the scan) with file and line, or
    :class:`CourseError` with nbgrader's log when nbgrader fails for another reason.
    """
    start = time.perf_counter()
    source_root = check_source_root(source_root)
    out = _check_out(Path(out), source_root, replace)
    with tempfile.TemporaryDirectory(prefix="release-build-") as tmp:
        course = Course(Path(tmp) / "course")
        course.setup()
        staged = stage_source(
            source_root, course.source_dir, notebooks=notebooks, notebook_of=notebook_of
        )
        check_grade_cells(source_root, course.source_dir, staged, every_notebook=notebooks is None)
        course.write_config(student_files=staged.student_files)
        generated = generate_notebooks(course, staged)
        built = Path(tmp) / "release"
        assemble(course.source_dir, generated, built)
        publish.customize(built, repo_url, branch)
        check_release(
            built,
            fingerprints=staged.fingerprints,
            public_data=public_data,
            locate=lambda leak: _to_source(leak, staged),
        )
        _empty(out)
        shutil.copytree(built, out, dirs_exist_ok=True)
    files = tuple(sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()))
    return ReleaseReport(
        out,
        files,
        tuple(staged.notebooks),
        tuple(staged.stripped),
        staged.hidden_regions,
        tuple(staged.student_files),
        time.perf_counter() - start,
    )


def check_grade_cells(
    source_root: Path, staged_dir: Path, staged: Staged, *, every_notebook: bool = True
) -> None:
    """Fail the build, naming the notebook and cell, where a staged notebook's autograder
    cells disagree with the source's check catalogue (a check without its cell, a cell
    without its check, other points or another grade_id). Points are set in the catalogue
    only; the cells must repeat them. With ``every_notebook``, a catalogue notebook missing
    from the source fails too."""
    catalogue = source_catalogue(source_root)
    if catalogue is None:
        return
    stems = {name.removesuffix(".ipynb"): name for name in staged.notebooks}
    for notebook in sorted({nb for nb, _ in catalogue.values()} - set(stems)):
        if every_notebook:
            names = sorted(n for n, (nb, _) in catalogue.items() if nb == notebook)
            raise ReleaseError(
                f"{NOTEBOOKS}/{notebook}.ipynb",
                None,
                f"missing: the catalogue has checks of this notebook ({', '.join(names)})",
            )
    for stem, name in stems.items():
        display = staged.origins[name][0]
        checks = {n: points for n, (nb, points) in catalogue.items() if nb == stem}
        problems = nbt.grade_cell_problems(nbt.load(staged_dir / name, display), checks)
        if problems:
            cell, message = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ReleaseError(display, None, message + more, cell=cell)


def source_catalogue(source_root: Path) -> dict[str, tuple[str, float]] | None:
    """``{check: (notebook, points)}`` of the catalogue in ``source_root``'s package, read in
    a fresh interpreter (the source being built, not the one running); None when the source
    has no catalogue."""
    script = (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import assignment.checks as checks\n"
        "catalogue = getattr(checks, 'CATALOGUE', None)\n"
        "print(json.dumps(None if catalogue is None else\n"
        "      {n: [c.notebook, c.points] for n, c in catalogue.items()}))\n"
    )
    if not (source_root / PACKAGE / "checks" / "__init__.py").is_file():
        return None
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, str(source_root)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReleaseError(
            f"{PACKAGE}/checks", None, f"the check catalogue does not import: {last}"
        )
    found = json.loads(done.stdout)
    return None if found is None else {n: (nb, points) for n, (nb, points) in found.items()}


def assemble(staged_dir: Path, generated: list[Path], dest: Path) -> None:
    """The release: the staged files without source notebooks, plus nbgrader's notebooks."""
    shutil.copytree(staged_dir, dest, ignore=_top_notebooks(staged_dir))
    for notebook in generated:
        shutil.copyfile(notebook, dest / notebook.name)
    missing = sorted({p.name for p in staged_dir.glob("*.ipynb")} - {p.name for p in generated})
    if missing:
        raise ReleaseError(
            f"{NOTEBOOKS}/{missing[0]}",
            None,
            "nbgrader generate_assignment wrote no student version of this notebook",
        )


# -- helpers -----------------------------------------------------------------------------------


def generate_notebooks(course: Course, staged: Staged) -> list[Path]:
    """nbgrader's student notebooks; when nbgrader fails, the source cell to blame if known."""
    if not staged.notebooks:
        return []
    try:
        return course.generate_assignment()
    except CourseError as error:
        for name in staged.notebooks:
            display = staged.origins[name][0]
            problem = nbt.nbgrader_metadata_problem(nbt.load(course.source_dir / name, display))
            if problem:
                raise ReleaseError(display, None, problem[1], cell=problem[0]) from error
        raise


def _check_out(out: Path, source_root: Path, replace: bool) -> Path:
    """Refuse an output that is a file, holds the source, or lies in what the build reads."""
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise ReleaseError(out, None, "build_release: the output exists and is not a folder")
    if out == source_root or out in source_root.parents:
        raise ReleaseError(out, None, "build_release: the output would contain the source tree")
    for inside in (PACKAGE, NOTEBOOKS, DATASETS, "grading", ".git"):
        if out.is_relative_to(source_root / inside):
            raise ReleaseError(
                out, None, f"build_release: the output lies inside {inside}/ of the source"
            )
    if out.exists() and any(out.iterdir()) and not replace:
        raise ReleaseError(
            out,
            None,
            "build_release: the output folder is not empty "
            "(pass replace=True to replace its contents)",
        )
    return out


def _empty(folder: Path) -> None:
    """Delete what ``folder`` holds without following links out of it."""
    folder.mkdir(parents=True, exist_ok=True)
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _top_notebooks(top: Path):
    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n.endswith(".ipynb")] if Path(folder) == top else []

    return ignore


def _to_source(leak: Leak, staged: Staged) -> Leak:
    """The leak located in the source file it came from, where that is known."""
    source, regions = staged.origins.get(leak.path, (leak.path, None))
    line = leak.line
    if line is not None and regions:
        line = source_line(regions, line)
    return replace(leak, path=source, line=line)
