"""The main job, end to end, on the embedded data: ``python -m grading demo --out build/demo``.

1. build the student release from the source (``OUT/release``);
2. make the four sample submissions of :mod:`grading.samples` (``OUT/submissions``);
3. grade them with the full pipeline of :mod:`grading.nbgrader.autograde` (``OUT/grades``: results,
   feedback, grades.csv and the nbgrader course), the notebooks executed in the confined
   kernel (``--execute``), so that the cheat's test cells can be caught passing there;
4. print the grade table (student x notebook, score/max) and one verdict per sample:
   the reference gets full marks, the stub zero, the buggy one loses exactly the checks its
   bugs break, the cheat gains nothing and is flagged; and whether the gradebook holds the
   hardened scores.

:func:`run_demo` returns the verdicts; the CLI exits non-zero when one does not hold.
"""

from __future__ import annotations

import csv
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from grading.errors import GradingError
from grading.hardened.reports import is_written
from grading.hardened.sandbox import Limits, describe_limits
from grading.layout import REPO_ROOT, curriculum_rank
from grading.nbgrader.autograde import (
    AutogradeSummary,
    autograde,
    describe_isolation,
    describe_notebooks,
)
from grading.nbgrader.course import Course
from grading.nbgrader.reconcile import FLAG, cell_scores, grade_id_of
from grading.release.build import build_release
from grading.samples import BUGS, SAMPLES, broken_checks, make_samples
from grading.util import environment

STAMP = ".grading-demo"


@dataclass
class Verdict:
    """Whether one expectation of the demo held, and the line that says so."""

    name: str
    ok: bool
    text: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'UNEXPECTED'}  {self.name}: {self.text}"


@dataclass
class DemoReport:
    table: str
    verdicts: list[Verdict]
    summary: AutogradeSummary
    seconds: float

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)


def run_demo(
    out: Path,
    *,
    source_root: Path = REPO_ROOT,
    notebooks: Iterable[str] | None = None,
    workers: int = 2,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> DemoReport:
    """Run the demo into ``out`` (missing, empty, or a previous demo's output, replaced)."""
    start = time.monotonic()
    out = _fresh(Path(out))
    notebooks = None if notebooks is None else list(notebooks)
    # The same data everywhere: the demo's verdicts are about the embedded set.
    with environment(ASSIGNMENT_DATA="embedded"):
        step = time.monotonic()
        release = build_release(source_root, out / "release", notebooks=notebooks)
        echo(
            f"release: {len(release.notebooks)} notebook(s), {len(release.files)} files in "
            f"{release.out} ({time.monotonic() - step:.0f} s)"
        )
        step = time.monotonic()
        samples = make_samples(out / "release", out / "submissions", source_root)
        echo(
            f"samples: {', '.join(samples)} in {out / 'submissions'} "
            f"({time.monotonic() - step:.0f} s)"
        )
        summary = autograde(
            out / "submissions",
            out / "grades",
            workers=workers,
            source_root=source_root,
            notebooks=notebooks,
            progress=progress,
            execute=True,
        )
    echo(
        f"graded {len(summary.batch.graded)} submission(s) in {summary.batch.seconds:.0f} s "
        f"(set-up {summary.setup_seconds:.0f} s, {workers} worker(s))"
    )
    echo(f"hardened grader isolation: {describe_isolation(summary.isolation)}")
    echo(describe_notebooks(summary))
    echo(
        "limits in force for each submission:\n  " + describe_limits(Limits()).replace("\n", "\n  ")
    )
    rows = read_grades(summary.batch.csv)
    table = grade_table(rows)
    verdicts = sample_verdicts(rows) + [gradebook_verdict(Course(summary.course), rows)]
    echo("")
    echo(table)
    echo("")
    for verdict in verdicts:
        echo(verdict.line())
    echo(
        f"\nresults, feedback and grades.csv in {out / 'grades'}; the nbgrader course "
        f"(formgrader) in {summary.course}"
    )
    return DemoReport(table, verdicts, summary, time.monotonic() - start)


def read_grades(path: Path) -> dict[str, list[dict]]:
    """grades.csv as ``{student: rows}`` (scores as floats)."""
    rows: dict[str, list[dict]] = defaultdict(list)
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            row["score"], row["max_score"] = float(row["score"]), float(row["max_score"])
            rows[row["student"]].append(row)
    return dict(rows)


def grade_table(rows: dict[str, list[dict]]) -> str:
    """Student x notebook, score/max, then the total and the number of flagged checks."""
    notebooks = sorted({r["notebook"] for rs in rows.values() for r in rs}, key=curriculum_rank)
    students = sorted(rows, key=lambda s: (SAMPLES.index(s) if s in SAMPLES else len(SAMPLES), s))
    header = ["student", *notebooks, "total", "flagged"]
    lines = []
    for student in students:
        cells = [student]
        for notebook in [*notebooks, None]:
            chosen = [r for r in rows[student] if notebook is None or r["notebook"] == notebook]
            cells.append(
                f"{_points(sum(r['score'] for r in chosen))}/"
                f"{_points(sum(r['max_score'] for r in chosen))}"
            )
        cells.append(str(len(flagged(rows[student]))))
        lines.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines)]
    render = lambda cells: "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join(
        [render(header), render(["-" * w for w in widths]), *(render(cells) for cells in lines)]
    )


def sample_verdicts(rows: dict[str, list[dict]]) -> list[Verdict]:
    """One verdict per sample found in ``rows``."""
    verdicts = []
    for name in SAMPLES:
        if name not in rows:
            verdicts.append(Verdict(name, False, "not graded"))
            continue
        # The samples differ in their code; their written answers all wait for a grader.
        mine = [r for r in rows[name] if not is_written(r)]
        score, out_of = sum(r["score"] for r in mine), sum(r["max_score"] for r in mine)
        lost = {r["check"] for r in mine if r["score"] < r["max_score"]}
        flags = flagged(mine)
        total = f"{_points(score)}/{_points(out_of)}"
        if name == "reference":
            verdicts.append(
                Verdict(
                    name,
                    not lost and not flags,
                    f"{total}, full marks expected; {len(flags)} flagged",
                )
            )
        elif name == "stub":
            verdicts.append(
                Verdict(
                    name, score == 0 and not flags, f"{total}, zero expected; {len(flags)} flagged"
                )
            )
        elif name == "buggy":
            expected = broken_checks(r["check"] for r in mine)
            verdicts.append(
                Verdict(
                    name,
                    lost == expected and not flags,
                    f"{total}, lost {len(lost)} check(s): {', '.join(sorted(lost)) or 'none'}; its "
                    f"{len(BUGS)} bugs break exactly {len(expected)} of the graded checks"
                    + (
                        ""
                        if lost == expected
                        else f" (missing: {sorted(expected - lost)}, "
                        f"extra: {sorted(lost - expected)})"
                    ),
                )
            )
        else:
            verdicts.append(
                Verdict(
                    name,
                    score == 0 and len(flags) == len(mine),
                    f"{total}, gains nothing; {len(flags)} of {len(mine)} checks flagged as "
                    f"{FLAG} (its notebook's test cells passed in its own kernel)",
                )
            )
    return verdicts


def gradebook_verdict(course: Course, rows: dict[str, list[dict]]) -> Verdict:
    """Whether every test cell in the gradebook scores what the hardened grader gave."""
    wrong, cells = [], 0
    for student, mine in rows.items():
        scores = cell_scores(course, student)
        for row in mine:
            cell = scores.get((row["notebook"], grade_id_of(row["check"])))
            if cell is None:
                continue
            cells += 1
            if abs(cell[0] - row["score"]) > 1e-9:
                wrong.append(f"{student}/{row['check']}: {cell[0]:g} vs {row['score']:g}")
    return Verdict(
        "gradebook",
        not wrong and cells > 0,
        f"{cells} test cell(s) hold the hardened scores"
        if not wrong
        else f"{len(wrong)} test cell(s) differ: {'; '.join(wrong[:5])}",
    )


def flagged(rows: list[dict]) -> list[str]:
    return [r["check"] for r in rows if r["flagged"]]


def _points(value: float) -> str:
    return f"{value:g}"


def _fresh(out: Path) -> Path:
    """``out``, emptied if it holds a previous demo; refused if it holds anything else."""
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / STAMP).is_file():
            raise GradingError(
                out,
                None,
                "demo: the output folder is not empty and not a "
                "previous demo's output; choose another --out",
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / STAMP).write_text("written by python -m grading demo; replaced by the next run\n")
    return out
