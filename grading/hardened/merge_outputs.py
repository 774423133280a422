"""Join the grade folders of several batches (the shards of one batch graded on several
machines) into one: ``python -m grading merge OUT1 OUT2 ... --out ALL``.

    summary = merge_outputs([Path("shard1"), Path("shard2")], Path("all"))

Every student of every input's grades.csv has their folder (``results.json``,
``grading.log``, feedback) copied to ``ALL/<student>/``, and ``ALL/grades.csv`` and
``ALL/summary.csv`` are rebuilt from all the rows. The inputs are only read.

A student graded in two inputs is an error naming both, raised before anything is written:
which grade counts is the instructor's decision (regrade that student into one shard, or
delete one folder, then merge again). ``ALL`` may hold an earlier merge: as for a regrade,
the students of the inputs replace theirs and everyone else's are kept, so after
regrading one shard, merging it alone into ``ALL`` updates those students.

nbgrader courses (``OUT/.nbgrader``, written by the full pipeline) are not merged: each
shard's gradebook and formgrader stay in that shard's folder, and the summary says so.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from grading.errors import GradingError
from grading.hardened.reports import (
    GRADES_CSV,
    merge_grade_rows,
    read_grades_csv,
    write_grade_tables,
)

# Where the full pipeline keeps its nbgrader course (grading.nbgrader.autograde.COURSE_FOLDER;
# named here because the hardened stage does not import the nbgrader one).
COURSE_FOLDER = ".nbgrader"


@dataclass
class MergeSummary:
    """What a merge did: the students joined (by input), where grades.csv is, notes."""

    students: dict[str, Path] = field(default_factory=dict)
    csv: Path | None = None
    notes: list[str] = field(default_factory=list)


def merge_outputs(inputs: Iterable[Path], out: Path) -> MergeSummary:
    """Join the grade folders ``inputs`` into ``out``; see the module docstring."""
    inputs = [Path(p) for p in inputs]
    out = Path(out)
    if not inputs:
        raise GradingError(None, None, "merge: expected at least one grade folder to merge")
    _refuse_overlaps(inputs, out)
    graded: dict[str, list[dict]] = {}
    summary = MergeSummary()
    for folder in inputs:
        if not (folder / GRADES_CSV).is_file():
            raise GradingError(
                folder, None, f"merge: expected a grade folder (with {GRADES_CSV}) to merge"
            )
        for row in read_grades_csv(folder / GRADES_CSV):
            student = row["student"]
            first = summary.students.setdefault(student, folder)
            if first != folder:
                raise GradingError(
                    folder / GRADES_CSV,
                    None,
                    f"merge: {student} was graded in both {first} and {folder}; keep one "
                    "(regrade the student into one of them, or remove its rows and folder "
                    "from the other) and merge again",
                )
            graded.setdefault(student, []).append(row)
        if (folder / COURSE_FOLDER / "gradebook.db").is_file():
            summary.notes.append(
                f"the nbgrader course of {folder} is left there ({folder / COURSE_FOLDER}): "
                "gradebooks are not merged; open formgrader in each shard's course"
            )
    kept = read_grades_csv(out / GRADES_CSV)
    out.mkdir(parents=True, exist_ok=True)
    for student, folder in summary.students.items():
        source = folder / student
        if not source.is_dir():
            summary.notes.append(f"{student}: no folder in {folder}; only the grades joined")
            continue
        target = out / student
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, symlinks=True)
    summary.csv = write_grade_tables(out, merge_grade_rows(kept, graded))
    return summary


def _refuse_overlaps(inputs: list[Path], out: Path) -> None:
    """An input inside ``out`` (or ``out`` inside an input) would be read while written; an
    input named twice would join its rows twice."""
    where = out.resolve()
    seen: dict[Path, Path] = {}
    for folder in inputs:
        here = folder.resolve()
        if here in seen:
            raise GradingError(folder, None, f"merge: named twice ({seen[here]} is the same)")
        seen[here] = folder
        if here == where or here.is_relative_to(where) or where.is_relative_to(here):
            raise GradingError(
                folder,
                None,
                f"merge: the inputs are only read; write the merge to a folder outside "
                f"them (--out {out} overlaps this one)",
            )
