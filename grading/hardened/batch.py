"""Grade a folder of submissions: one worker process per submission, a few at a time.

    summary = grade_batch(Path("submissions"), Path("grades"), grade_one=checks_only(grader))

writes ``grades/<student>/results.json`` (Gradescope format) for every submission,
``grades/grades.csv`` (one row per student per check, and one per written question of the
notebooks graded, pending until ``python -m grading export``) and ``grades/summary.csv``
(one row per student: a score and a maximum per notebook, the total, the points pending,
the flagged checks). Grading
into a folder that already holds grades replaces the rows of the students graded now and
keeps everyone else's (their folders are not touched), so one student can be regraded
alone. ``shard=(i, n)`` grades one slice of the submissions, for n machines that each grade
one into a folder of their own (:mod:`grading.hardened.merge_outputs` joins them): the
students sorted by id, every n-th starting at the i-th (1-based), so ``(1, 2)`` grades the
1st, 3rd, 5th... and ``(2, 2)`` the 2nd, 4th... ``grade_one(student, root,
student_out) -> Graded`` grades one unpacked submission; :func:`checks_only` is the
hardened grader alone, and a fuller grader (nbgrader autograde, then reconciliation) plugs
in the same way. Each submission is unpacked and graded in a forked child process: a
submission that breaks its grader, a crash or a hang (``timeout_s``) costs that student
an error row with the reason, never the batch or another student's grade. Only this
process writes the reports, after the child is gone.
"""

from __future__ import annotations

import multiprocessing
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable, Iterable

from assignment.checks import CATALOGUE, CaseOutcome, CheckResult
from grading.errors import GradingError
from grading.hardened.grader import Grader, HardenedReport
from grading.hardened.reports import (
    GRADES_CSV,
    grade_rows,
    merge_grade_rows,
    read_grades_csv,
    write_grade_tables,
    write_results_json,
)
from grading.hardened.sandbox import Limits
from grading.hardened.submissions import Submission, find_submissions, unpack
from grading.layout import NOTEBOOKS, REPO_ROOT
from grading.release.notebook_transforms import written_questions


@dataclass
class Graded:
    """What grading one submission gives the batch.

    ``output`` is added to the top-level output of results.json (flags, say); ``log`` is
    kept in ``<student>/grading.log`` for the instructor only (it may quote what the
    student's code printed).
    """

    results: list[CheckResult]
    isolation: str
    output: str = ""
    log: str = ""


GradeOne = Callable[[str, Path, Path], Graded]
# Seconds a submission's child may take beyond the grader's own budget (Limits.submission_s):
# unpacking, and the grader's setup; past it the child is killed.
CHILD_SLACK_S = 300


@dataclass
class BatchSummary:
    """What a batch did: students graded, those whose grading failed, where the csv is."""

    graded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    csv: Path | None = None
    seconds: float = 0.0


def checks_only(grader: Grader, limits: Limits = Limits()) -> GradeOne:
    """The hardened grader alone, as a ``grade_one`` for :func:`grade_batch`."""

    def grade_one(student: str, root: Path, student_out: Path) -> Graded:
        report = grader.grade(root, limits=limits)
        return Graded(report.results, report.isolation, log=report.log)

    return grade_one


def check_one(
    path: Path,
    *,
    limits: Limits = Limits(),
    isolation: str | None = None,
    checks: list[str] | None = None,
) -> HardenedReport:
    """Hardened grade of one submission (a folder or a zip), in a scratch folder of its own;
    ``checks`` names the checks to run (default: all)."""
    with tempfile.TemporaryDirectory(prefix="grading-check-") as scratch:
        unpacked = unpack(Path(path), Path(scratch) / "submission")
        grader = Grader(Path(scratch) / "work", isolation=isolation, checks=checks)
        report = grader.grade(unpacked.root, limits=limits)
    if unpacked.notes:
        report.log = "\n".join(unpacked.notes) + "\n" + report.log
    return report


def autograde_checks_only(
    submissions: Path,
    out: Path,
    *,
    workers: int = 1,
    limits: Limits = Limits(),
    isolation: str | None = None,
    checks: list[str] | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
) -> BatchSummary:
    """The hardened grader alone over a folder of submissions (``autograde --checks-only``);
    ``checks`` names the checks to run (default: all); ``shard`` as for :func:`grade_batch`.

    The trusted copy and every reference output are built once, before the workers fork.
    """
    with tempfile.TemporaryDirectory(prefix="grading-batch-") as work:
        grader = Grader(Path(work) / "hardened", isolation=isolation, checks=checks)
        grader.warm()
        return grade_batch(
            submissions,
            out,
            grade_one=checks_only(grader, limits),
            workers=workers,
            work=Path(work) / "submissions",
            checks=grader.checks,
            timeout_s=limits.submission_s + CHILD_SLACK_S,
            shard=shard,
            progress=progress,
        )


def grade_batch(
    submissions: Path,
    out: Path,
    *,
    grade_one: GradeOne,
    workers: int = 1,
    work: Path | None = None,
    checks: Iterable = None,
    timeout_s: float = 3600.0,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
) -> BatchSummary:
    """Grade every submission in ``submissions`` (or the slice ``shard`` = (i, n) of them)
    into ``out``; see the module docstring.

    ``checks`` (default: the catalogue) gives the rows written for a submission whose
    grading failed as a whole, and the notebooks whose written questions every student's
    rows list as pending. ``work`` is a private scratch folder (default: a new
    temporary one, removed at the end). An existing ``out/grades.csv`` that cannot be read
    back is refused (GradingError) before anything is graded.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"grade_batch: workers must be a positive whole number, got {workers!r}")
    check_shard(shard)
    start = time.monotonic()
    found, skipped = find_submissions(Path(submissions))
    if shard is not None:
        found = found[shard[0] - 1 :: shard[1]]
    out = Path(out)
    kept = read_grades_csv(out / GRADES_CSV)
    out.mkdir(parents=True, exist_ok=True)
    checks = list(CATALOGUE.values()) if checks is None else list(checks)
    written = written_questions(REPO_ROOT / NOTEBOOKS, {c.notebook for c in checks})
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="grading-batch-")) if own_work else Path(work)
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o700)
    summary = BatchSummary(skipped=skipped)
    rows: dict[str, list[dict]] = {}
    try:
        for student, outcome in _run_all(found, grade_one, workers, work, timeout_s, progress):
            folder = out / student
            folder.mkdir(exist_ok=True)
            if isinstance(outcome, Graded):
                results, isolation, extra = outcome.results, outcome.isolation, outcome.output
                (folder / "grading.log").write_text(outcome.log, encoding="utf-8")
                summary.graded.append(student)
            else:
                results, isolation, extra = _failed(checks, outcome), "none", ""
                (folder / "grading.log").write_text(outcome, encoding="utf-8")
                summary.failed[student] = outcome.splitlines()[0]
            write_results_json(
                folder / "results.json", results, isolation, output=extra, written=written
            )
            rows[student] = grade_rows(student, results, written)
        summary.csv = write_grade_tables(out, merge_grade_rows(kept, rows))
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    summary.seconds = time.monotonic() - start
    return summary


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (the command line's ``--shard``) as ``(I, N)``."""
    try:
        first, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        first = count = 0
    return check_shard((first, count), given=text)


def check_shard(shard: tuple[int, int] | None, given=None) -> tuple[int, int] | None:
    """``shard`` if it is None or (i, n) with 1 <= i <= n; else a GradingError."""
    if shard is None:
        return None
    if (
        not isinstance(shard, tuple)
        or len(shard) != 2
        or not all(type(x) is int for x in shard)
        or not 1 <= shard[0] <= shard[1]
    ):
        raise GradingError(
            None,
            None,
            "shard: expected I/N, whole numbers with 1 <= I <= N (2/4 grades the second "
            f"of four slices), got {shard if given is None else given!r}",
        )
    return shard


def _run_all(
    found: list[Submission],
    grade_one: GradeOne,
    workers: int,
    work: Path,
    timeout_s: float,
    progress: bool,
):
    """Yield (student, Graded or the reason it failed) as each child finishes."""
    bar = _bar(len(found), progress)
    context = multiprocessing.get_context("fork")
    queue = list(found)
    running: dict = {}  # connection -> (submission, process, started)
    try:
        while queue or running:
            while queue and len(running) < workers:
                submission = queue.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(
                    target=_child,
                    args=(send, grade_one, submission, work / submission.student),
                    daemon=True,
                )
                process.start()
                send.close()
                running[receive] = (submission, process, time.monotonic())
            ready = wait(list(running), timeout=1.0)
            now = time.monotonic()
            for connection in list(running):
                submission, process, started = running[connection]
                if connection in ready:
                    try:
                        outcome = connection.recv()
                    except (EOFError, OSError):
                        process.join()
                        outcome = (
                            f"the grader died on this submission (exit code {process.exitcode})"
                        )
                elif now - started > timeout_s:
                    process.kill()
                    outcome = f"grading took longer than {timeout_s:g} s and was stopped"
                else:
                    continue
                process.join()
                connection.close()
                del running[connection]
                bar.update(1)
                yield submission.student, outcome
    finally:
        for connection, (_, process, _) in running.items():
            process.kill()
            process.join()
            connection.close()
        bar.close()


def _child(send, grade_one: GradeOne, submission: Submission, scratch: Path) -> None:
    # torch's thread pool does not survive fork: a worker whose parent ran torch (the
    # reference outputs of the torch checks) waits forever in its first parallel region,
    # while one thread runs inline.
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:
        unpacked = unpack(submission, scratch / "submission")
        graded = grade_one(submission.student, unpacked.root, scratch)
        if unpacked.notes:
            graded.log = "\n".join(unpacked.notes) + "\n" + graded.log
        send.send(graded)
    except Exception as error:  # noqa: BLE001 - reported as this student's failure
        send.send(f"{error}\n{traceback.format_exc()}")
    finally:
        send.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _failed(checks: list, reason: str) -> list[CheckResult]:
    message = f"not graded: {reason.splitlines()[0]}"
    return [
        CheckResult(
            c.name, c.notebook, c.points, [CaseOutcome("all cases", [message])], status="error"
        )
        for c in checks
    ]


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, progress: bool):
    if not progress:
        return _NoBar()
    import tqdm

    tqdm.tqdm.monitor_interval = 0  # no monitor thread in a process that forks
    return tqdm.tqdm(total=total, unit="submission", desc="grading")
