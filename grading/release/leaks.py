"""Scan a built release for anything only the instructor may hold.

The scan is the last step of the release build and the reason it may fail. It looks at
every file under the release root, binary ones included:

- by name: instructor-only paths (``grading/``, ``tests/``, ``.git``, a gradebook, the
  course's ``nbgrader_config.py``, ``Makefile``, ``benchmarks/``, ``.ci/``...), compiled
  bytecode (it holds the reference even when the ``.py`` was stripped), links, hidden
  expected values (``*hidden*.npz``) and any ``.npz`` not allow-listed as public data;
- by content: the marker phrases (``BEGIN SOLUTION``...) anywhere, in any file;
- text files and notebook cells line by line: no line may contain a *fingerprint* of the
  reference, a normalised line from inside a solution or hidden-test region of the source
  (see :func:`fingerprint_lines`);
- notebooks: no cell may hold outputs.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from grading.errors import LeakError

MARKER_PHRASES = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# Folders that hold instructor material (or build output that may) wherever they appear.
INSTRUCTOR_DIRS = frozenset(
    {
        "grading",
        "tests",
        ".git",
        "benchmarks",
        ".ci",
        "build",
        "release",
        "__pycache__",
        ".ipynb_checkpoints",
        "autograded",
        "submitted",
        "feedback",
    }
)
INSTRUCTOR_FILES = frozenset({"gradebook.db", "nbgrader_config.py", "Makefile"})
# A gradebook may go by another name; bytecode carries the reference even from a stub file.
INSTRUCTOR_SUFFIXES = (".db", ".db-journal", ".sqlite", ".sqlite3", ".pyc", ".pyo")
HIDDEN_DATA = ("*hidden*.npz", "*hidden*.npy")
# Release-relative paths of the only data files students may get.
PUBLIC_DATA = ("assignment/checks/public_expected.npz",)
# Shorter lines ("return out, cache", "N = x.shape[0]") are too common to mean a leak.
MIN_FINGERPRINT_CHARS = 25


@dataclass(frozen=True)
class Leak:
    """One finding: ``path`` under the scanned root (the build maps it back to the source),
    ``line`` and ``cell`` where known, and why."""

    path: str
    line: int | None
    msg: str
    cell: int | None = None


def normalise(line: str) -> str:
    """``line`` with its whitespace runs collapsed to one space and the ends trimmed."""
    return " ".join(line.split())


def fingerprint_lines(
    reference_lines: Iterable[str],
    public_code: Iterable[str] = (),
    *,
    min_chars: int = MIN_FINGERPRINT_CHARS,
) -> frozenset[str]:
    """Normalised reference lines of at least ``min_chars``, as the scan looks for them.

    Each line counts with and without a leading comment mark or a trailing comment, so that
    a commented-out copy and a copy without the shape comment are found too. A line that
    provided code also holds (``correct = x[np.arange(N), y]`` in a provided loss and in a
    solution) is no secret and is left out; the same line in a comment, a docstring,
    markdown or any other shipped text still fails the build.
    """
    public = [normalise(line) for line in public_code]
    prints = set()
    for line in reference_lines:
        text = normalise(line)
        for variant in (text, text.lstrip("# "), text.split(" #")[0]):
            if len(variant) >= min_chars and not any(variant in p for p in public):
                prints.add(variant)
    return frozenset(prints)


def scan(
    root: Path,
    *,
    fingerprints: frozenset[str] = frozenset(),
    public_data: Iterable[str] = PUBLIC_DATA,
) -> list[Leak]:
    """Every leak under ``root``, in path order (empty when the release is clean)."""
    root = Path(root)
    allowed = frozenset(public_data)
    leaks: list[Leak] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(part in INSTRUCTOR_DIRS for part in PurePosixPath(rel).parent.parts):
            continue  # reported once, at the folder itself
        if path.is_symlink():
            leaks.append(Leak(rel, None, "a link: a release holds plain files only"))
        elif path.is_dir():
            if path.name in INSTRUCTOR_DIRS:
                leaks.append(Leak(rel, None, "instructor-only folder"))
        else:
            leaks.extend(_scan_file(path, rel, fingerprints, allowed))
    return leaks


def check_release(
    root: Path,
    *,
    fingerprints: frozenset[str] = frozenset(),
    public_data: Iterable[str] = PUBLIC_DATA,
    locate: Callable[[Leak], Leak] | None = None,
) -> None:
    """Raise :class:`LeakError` listing every leak under ``root``; return when it is clean.

    ``locate`` maps a leak in the scanned tree to the place it came from (the build names
    the source file and line a stripped file was made from)."""
    leaks = scan(root, fingerprints=fingerprints, public_data=public_data)
    if leaks:
        raise LeakError([locate(leak) for leak in leaks] if locate else leaks)


def _scan_file(
    path: Path, rel: str, fingerprints: frozenset[str], allowed: frozenset[str]
) -> list[Leak]:
    name = path.name
    if name in INSTRUCTOR_FILES or name.endswith(INSTRUCTOR_SUFFIXES):
        return [Leak(rel, None, "instructor-only file")]
    if any(fnmatch.fnmatch(name, pattern) for pattern in HIDDEN_DATA):
        return [Leak(rel, None, "hidden expected values")]
    if name.endswith((".npz", ".npy")) and rel not in allowed:
        return [Leak(rel, None, f"data file not in the public allow-list {sorted(allowed)}")]
    data = path.read_bytes()
    if name.endswith(".ipynb"):
        return _scan_notebook(data, rel, fingerprints)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return [
            Leak(rel, None, f"holds the marker {phrase!r}")
            for phrase in MARKER_PHRASES
            if phrase.encode() in data
        ][:1]
    return _scan_lines(text.split("\n"), rel, fingerprints, None)


def _scan_lines(
    lines: list[str], rel: str, fingerprints: frozenset[str], cell: int | None
) -> list[Leak]:
    leaks = []
    for number, line in enumerate(lines, start=1):
        phrase = next((p for p in MARKER_PHRASES if p in line), None)
        if phrase:
            leaks.append(Leak(rel, number, f"holds the marker {phrase!r}", cell))
        elif fingerprints and (match := _fingerprint_in(normalise(line), fingerprints)):
            leaks.append(
                Leak(
                    rel,
                    number,
                    f"holds a line of the reference solution or hidden tests: {match[:60]!r}",
                    cell,
                )
            )
    return leaks


def _fingerprint_in(text: str, fingerprints: frozenset[str]) -> str | None:
    return next((f for f in fingerprints if f in text), None)


def _scan_notebook(data: bytes, rel: str, fingerprints: frozenset[str]) -> list[Leak]:
    try:
        nb = json.loads(data)
        cells = nb["cells"]
    except (ValueError, KeyError, TypeError):
        return [Leak(rel, None, "not a readable notebook")]
    leaks = []
    for index, cell in enumerate(cells):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        leaks.extend(_scan_lines(source.split("\n"), rel, fingerprints, index))
        if cell.get("outputs"):
            leaks.append(
                Leak(rel, None, "cell holds outputs (a release ships them cleared)", index)
            )
    if not leaks and any(p.encode() in data for p in MARKER_PHRASES):
        leaks.append(Leak(rel, None, "holds a marker outside the cell sources"))
    return leaks
