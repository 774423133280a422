"""Find student submissions and copy them into the grader's scratch space, safely.

A submissions folder holds one entry per student: a folder or a ``.zip`` in the release
layout (``assignment/...``, notebooks at the top), named after the student. Nothing here
ever writes to a submission. Copying and unpacking follow no link (a link could point at
the source tree and pass the reference off as the student's), keep no member outside the
destination (``..``, absolute paths), and stop at limits on the number and size of files.
What is skipped is said in ``notes``.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from assignment.submit import ID_IN_ZIP, ZIP_SUFFIX
from grading.errors import GradingError

# Folders that only add noise (or bytecode) to a submission.
SKIPPED_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints", ".git", "__MACOSX"})
_STUDENT = re.compile(r"^[^\x00-\x1f/\\.][^\x00-\x1f/\\]{0,99}$")

# Names of what a batch writes beside the students' folders.
RESERVED_NAMES = frozenset(
    {"grades.csv", "grades.csv.partial", "summary.csv", "summary.csv.partial"}
)
# What file managers and tools leave in a folder of submissions: skipped without a note.
QUIET_NAMES = frozenset({".git", ".ipynb_checkpoints", ".DS_Store", "__MACOSX"})


class SubmissionError(GradingError):
    """A submission cannot be read or unpacked; the path says which."""


@dataclass(frozen=True)
class SubmissionLimits:
    """How much one submission may hold."""

    max_files: int = 2000  # files and folders
    max_file_mb: float = 100.0
    max_total_mb: float = 300.0
    max_depth: int = 16


@dataclass(frozen=True)
class Submission:
    """One student's entry: ``path`` is the folder or zip as found."""

    student: str
    path: Path


@dataclass
class Unpacked:
    """A private copy of a submission; ``root`` is the folder in the release layout."""

    root: Path
    notes: list[str] = field(default_factory=list)


def find_submissions(folder: Path) -> tuple[list[Submission], list[str]]:
    """The submissions in ``folder`` (sorted by student), and a note per entry skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionError(
            folder,
            None,
            "find_submissions: expected a folder of submissions (one folder or .zip per student)",
        )
    found: dict[str, Submission] = {}
    skipped = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name in QUIET_NAMES:
            continue
        if entry.is_symlink():
            skipped.append(f"{entry.name}: a link, not read (it could point anywhere)")
            continue
        if entry.is_dir(follow_symlinks=False):
            student = entry.name
        elif entry.is_file(follow_symlinks=False) and entry.name.lower().endswith(".zip"):
            student, note = _zip_student(Path(entry.path))
            if note:
                skipped.append(note)
        else:
            skipped.append(f"{entry.name}: neither a folder nor a .zip")
            continue
        if not _STUDENT.match(student) or student in RESERVED_NAMES:
            skipped.append(
                f"{entry.name}: not usable as a student name (hidden, reserved for "
                "the grader's own files, or not a plain file name); rename it"
            )
            continue
        if student in found:
            skipped.append(
                f"{entry.name}: a second submission for {student}; graded "
                f"{found[student].path.name}"
            )
            continue
        found[student] = Submission(student, Path(entry.path))
    return list(found.values()), skipped


def _zip_student(path: Path) -> tuple[str, str | None]:
    """Whose zip this is, and a note when its name and contents disagree.

    ``<id>_assignment2.zip`` (what ``python -m assignment.submit`` writes) is ``<id>``'s.
    Another name (``submission.zip``, renamed by a course's upload system) is the id that
    the zip's ``student_id.txt`` holds, else the name itself. The name wins a disagreement:
    an id written inside a zip must not file it under another student."""
    stem = path.name[: -len(".zip")]
    named = path.name[: -len(ZIP_SUFFIX)] if path.name.lower().endswith(ZIP_SUFFIX) else None
    inside = _id_inside(path)
    if named is not None:
        if inside is not None and inside != named:
            return named, (
                f"{path.name}: its {ID_IN_ZIP} says {inside!r}; graded as {named!r}, its name"
            )
        return named, None
    return (inside if inside is not None else stem), None


def _id_inside(path: Path) -> str | None:
    """The id in the zip's top-level ``student_id.txt`` (one short line), if it has one."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(ID_IN_ZIP)
            if info.file_size > 200 or info.flag_bits & 0x1:
                return None
            text = archive.read(info).decode("utf-8").strip()
    except (KeyError, zipfile.BadZipFile, OSError, UnicodeDecodeError, EOFError):
        return None
    return text if _STUDENT.match(text) and "\n" not in text else None


def unpack(
    submission: Submission | Path, dest: Path, limits: SubmissionLimits = SubmissionLimits()
) -> Unpacked:
    """Copy (a folder) or extract (a zip) the submission into ``dest`` (created; must not
    exist) and find the folder that holds ``assignment/``."""
    source = Path(submission.path if isinstance(submission, Submission) else submission)
    dest = Path(dest)
    dest.mkdir(parents=True)
    budget = _Budget(limits)
    if source.is_symlink():
        raise SubmissionError(source, None, "unpack: the submission is a link; not read")
    if source.is_dir():
        _copy_tree(source, dest, budget, depth=0)
    elif source.is_file() and source.suffix.lower() == ".zip":
        _extract(source, dest, budget)
    else:
        raise SubmissionError(source, None, "unpack: expected a folder or a .zip file")
    return Unpacked(release_root(dest), budget.notes)


def release_root(folder: Path) -> Path:
    """``folder``, or its only subfolder when the student zipped the folder itself."""
    if (folder / "assignment").is_dir():
        return folder
    subfolders = [p for p in folder.iterdir() if p.is_dir() and p.name not in SKIPPED_DIRS]
    if len(subfolders) == 1 and (subfolders[0] / "assignment").is_dir():
        return subfolders[0]
    return folder


class _Budget:
    def __init__(self, limits: SubmissionLimits) -> None:
        self.limits = limits
        self.files = 0
        self.bytes = 0
        self.notes: list[str] = []

    def take(self, rel: str, size: int, source: Path) -> None:
        max_file = int(self.limits.max_file_mb * 1e6)
        if size > max_file:
            raise SubmissionError(
                source, None, f"{rel} is larger than {self.limits.max_file_mb:g} MB"
            )
        self.files += 1
        self.bytes += size
        if self.files > self.limits.max_files:
            raise SubmissionError(
                source, None, f"more than {self.limits.max_files} files and folders"
            )
        if self.bytes > self.limits.max_total_mb * 1e6:
            raise SubmissionError(source, None, f"more than {self.limits.max_total_mb:g} MB in all")


def _copy_tree(folder: Path, dest: Path, budget: _Budget, depth: int) -> None:
    if depth > budget.limits.max_depth:
        raise SubmissionError(folder, None, f"folders nested deeper than {budget.limits.max_depth}")
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_symlink():
            budget.notes.append(f"{entry.path}: a link, not copied")
        elif entry.is_dir(follow_symlinks=False):
            if entry.name not in SKIPPED_DIRS:
                budget.take(entry.name, 0, Path(entry.path))  # empty folders count too
                (dest / entry.name).mkdir()
                _copy_tree(Path(entry.path), dest / entry.name, budget, depth + 1)
        elif entry.is_file(follow_symlinks=False):
            _copy_file(Path(entry.path), dest / entry.name, budget)
        else:
            budget.notes.append(f"{entry.path}: not a regular file, not copied")


def _copy_file(path: Path, target: Path, budget: _Budget) -> None:
    """Copy one regular file, opened without following a link that replaced it meanwhile."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with open(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            budget.notes.append(f"{path}: not a regular file, not copied")
            return
        budget.take(path.name, info.st_size, path)
        with open(target, "xb") as out:
            _limited_copy(handle, out, int(budget.limits.max_file_mb * 1e6), path, path.name)


def _extract(archive_path: Path, dest: Path, budget: _Budget) -> None:
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise SubmissionError(archive_path, None, f"not a readable zip file: {error}") from None
    with archive:
        for member in archive.infolist():
            rel = _member_path(member.filename)
            if rel is None:
                budget.notes.append(
                    f"{archive_path.name}: {member.filename[:100]!r}: a path "
                    "outside the submission, not extracted"
                )
                continue
            if rel.parts[0] in SKIPPED_DIRS or any(p in SKIPPED_DIRS for p in rel.parts):
                continue
            mode = member.external_attr >> 16
            if stat.S_ISLNK(mode):
                budget.notes.append(f"{archive_path.name}: {rel}: a link, not extracted")
                continue
            if member.is_dir():
                continue
            if member.flag_bits & 0x1:
                raise SubmissionError(archive_path, None, f"{rel} is encrypted")
            if len(rel.parts) > budget.limits.max_depth:
                raise SubmissionError(
                    archive_path,
                    None,
                    f"{rel}: folders nested deeper than {budget.limits.max_depth}",
                )
            budget.take(str(rel), member.file_size, archive_path)
            target = dest.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(member) as handle, open(target, "xb") as out:
                    _limited_copy(handle, out, member.file_size, archive_path, str(rel))
            except FileExistsError:
                budget.notes.append(f"{archive_path.name}: {rel}: listed twice, first kept")
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                raise SubmissionError(archive_path, None, f"{rel}: {error}") from None


def _member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it would land outside the destination."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or any("\x00" in p for p in parts):
        return None
    return PurePosixPath(*parts)


def _limited_copy(source, target, limit: int, where: Path, rel: str) -> None:
    copied = 0
    while True:
        chunk = source.read(1 << 20)
        if not chunk:
            return
        copied += len(chunk)
        if copied > limit:
            raise SubmissionError(where, None, f"{rel} holds more data than it declares")
        target.write(chunk)
