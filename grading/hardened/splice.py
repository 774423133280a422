"""The code the hardened grader imports: the student's functions inside our release copy.

Only what a student is asked to write comes from a submission: the top-level functions and
classes that hold a ``### BEGIN SOLUTION`` region in the source (``affine_forward``,
``FullyConnectedNet`` as a whole), and the helpers a student adds to a graded module or to a
module where the course invites them (:data:`HELPER_MODULES`: the classic notebooks say that
helper layers may go in ``layer_utils.py``). Everything else is the trusted release copy
built from the source (stubs in place of solutions, hidden cases removed): the provided
functions, classes and constants of a graded module, and every other module (solver,
fast_layers, checks/, ...), whatever the submission holds.

A graded module is assembled by :func:`assignment.checks.assemble.merge_module`, which the
self-check uses too: the student's file with our provided code restored, helpers kept.

A graded file that is missing, not text or does not parse makes only its own module
"broken": the merged module raises ImportError with the reason, and the grader scores the
checks of that module 0 with it.
"""

from __future__ import annotations

import io
import shutil
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from assignment.checks.assemble import HELPER_MODULES, MergeError, bound_names, merge_module
from grading.layout import PACKAGE, REPO_ROOT, select_notebooks
from grading.release.stage import notebook_index, stage_package

__all__ = [
    "HELPER_MODULES",
    "MergeError",
    "Merged",
    "TrustedCopy",
    "bound_names",
    "build_trusted_copy",
    "merge_module",
    "merge_submission",
]

MAX_MODULE_BYTES = 1_000_000
# Data files a submission may carry (release-relative path: the most bytes accepted), copied
# beside the merged package for the checks that read them (Part V's trained weights).
SUBMISSION_DATA = {"part5_weights.pt": 50_000_000}


@dataclass(frozen=True)
class TrustedCopy:
    """The release copy of the package (``root/assignment``) and the names students write.

    ``student_names``: ``{release-relative .py path: top-level names taken from a
    submission}``, e.g. ``{"assignment/layers.py": ("affine_forward", ...)}``.
    """

    root: Path
    student_names: dict[str, tuple[str, ...]]


@dataclass
class Merged:
    """The merged package at ``root/assignment``; ``broken`` maps a graded file to why it
    could not be used; ``notes`` say what was dropped or missing."""

    root: Path
    broken: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def build_trusted_copy(dest: Path, source_root: Path = REPO_ROOT) -> TrustedCopy:
    """Stage the release copy of the package into ``dest`` (once per batch)."""
    dest = Path(dest)
    notebook_of = notebook_index(select_notebooks(Path(source_root)))
    staged = stage_package(Path(source_root), dest, notebook_of)
    names: dict[str, list[str]] = {}
    for region in staged.stripped:
        top = region.qualname.split(".")[0]
        names.setdefault(region.path, [])
        if top not in names[region.path]:
            names[region.path].append(top)
    for path in HELPER_MODULES:
        names.setdefault(path, [])
    return TrustedCopy(dest, {path: tuple(tops) for path, tops in names.items()})


def merge_submission(trusted: TrustedCopy, submission: Path, dest: Path) -> Merged:
    """Write the merged package for ``submission`` (a folder in the release layout) to
    ``dest/assignment``; the submission is only read."""
    dest = Path(dest)
    shutil.copytree(trusted.root / PACKAGE, dest / PACKAGE)
    merged = Merged(dest)
    for rel, names in trusted.student_names.items():
        trusted_text = (trusted.root / rel).read_text(encoding="utf-8")
        try:
            student_text = _read_student(Path(submission) / rel, rel)
            text, notes = merge_module(trusted_text, student_text, names, rel)
        except MergeError as error:
            if rel in HELPER_MODULES:  # nothing graded in it: the release's copy serves
                text, notes = trusted_text, [f"{error}; the release's copy is used"]
            else:
                merged.broken[rel] = str(error)
                text, notes = f"raise ImportError({str(error)!r})\n", []
        (dest / rel).write_text(text, encoding="utf-8")
        merged.notes += notes
    for rel, limit in SUBMISSION_DATA.items():
        note = copy_data_file(Path(submission) / rel, dest / rel, limit, rel)
        if note:
            merged.notes.append(note)
    return merged


def copy_data_file(source: Path, dest: Path, limit: int, rel: str) -> str | None:
    """Copy a data file of the submission if it is a regular file of at most ``limit``
    bytes; otherwise leave it out (its check reports it missing) and say why."""
    if not source.exists() and not source.is_symlink():
        return None
    if source.is_symlink() or not source.is_file():
        return f"{rel}: not a regular file; left out"
    with open(source, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        return f"{rel}: larger than {limit // 1_000_000} MB; left out"
    dest.write_bytes(data)
    return None


def _read_student(path: Path, rel: str) -> str:
    if path.is_symlink() or not path.is_file():
        raise MergeError(f"{rel} is missing from the submission")
    data = path.read_bytes()
    if len(data) > MAX_MODULE_BYTES:
        raise MergeError(f"{rel} is larger than {MAX_MODULE_BYTES // 1000} kB")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as error:
        raise MergeError(f"{rel} is not readable Python text ({error})") from None
