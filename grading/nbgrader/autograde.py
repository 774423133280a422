"""The full batch autograde: nbgrader autograde, the hardened grader, reconciliation, feedback.

    summary = autograde(Path("submissions"), Path("grades"), workers=2)
    summary = autograde(Path("submissions"), Path("grades"), workers=2, execute=True)

Two ways to put the notebooks into nbgrader, the scores the same in both (the hardened
grader's):

- recorded (the default): nbgrader records each notebook as the student handed it in, with
  its own outputs and plots, for the formgrader and the feedback; nothing the student wrote
  runs outside the hardened grader, and the training cells are not run again. Seconds per
  submission.
- executed (``execute=True``, ``--execute``): nbgrader runs every notebook again, top to
  bottom, in the confined kernel, with figures kept as images; a test cell that passes there
  while its check fails outside (or the reverse) is flagged as possible tampering. Minutes
  per submission.

Once per batch, before the workers fork (:meth:`Pipeline.prepare`):

- the grading course (``release.build_course``: staged source, config, gradebook) in
  ``OUT/.nbgrader``, or the one a previous batch left there, so that the formgrader's
  manual grades survive a regrade; its config runs notebooks in the confined kernel of
  :mod:`grading.nbgrader.kernel` and renders feedback through
  :class:`grading.nbgrader.feedback.RedactHidden`;
- the embedded dataset, generated once and copied into every kernel's sandbox;
- the hardened :class:`~grading.hardened.Grader` with every reference output computed;
- when notebooks are executed, the isolation level of their kernels (the strongest that
  works here, as for the grader).

Per submission, in a worker process (:meth:`Pipeline.grade_one`, a ``GradeOne`` hook of
:func:`grading.hardened.batch.grade_batch`, which unpacks a private copy of the submission first):

1. the hardened grader scores every check of the course's notebooks (authoritative);
2. a private copy of the course records (or executes) the submission with ``nbgrader autograde``;
3. :func:`grading.nbgrader.reconcile.reconcile` writes the hardened scores into that gradebook and,
   when the notebooks were executed, flags every disagreement with the kernel;
4. ``nbgrader generate_feedback``; the HTML goes to ``OUT/<student>/feedback/`` once
   :func:`grading.nbgrader.feedback.collect_feedback` finds no hidden test text in it;
5. the student's grades and files are merged into the batch course, under a lock.

Why a private course per submission rather than workers sharing one: each worker's kernels
need a socket folder of their own, set in the course config (jupyter_client numbers Unix
sockets by the files it finds, so two kernels starting at once in one folder can pick the
same names); a submission is prepared before nbgrader sees it (unreadable notebooks set
aside) without touching the shared course; and the shared gradebook is written only by the
short merge, under a lock. A copy costs 0.04 s (1 MB); the merge milliseconds. (Concurrent
nbgrader runs on one shared gradebook held up when measured here, 28 ``nbgrader autograde``
runs of a small course 2 and 4 at a time without "database is locked", so the lock is a
safeguard rather than a measured necessity.)

A failure of the nbgrader steps (a malformed notebook, a kernel that dies) costs the
notebook's in-kernel record and feedback, never the hardened scores: those are written
whatever happens, with the reason in ``grading.log`` and in the results' output.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from grading.errors import GradingError
from grading.hardened.batch import BatchSummary, Graded, check_shard, grade_batch
from grading.hardened.grader import Grader
from grading.hardened.reports import GRADES_CSV, read_grades_csv
from grading.hardened.sandbox import DESCRIPTIONS, Limits, detect_isolation, level_of
from grading.layout import REPO_ROOT
from grading.nbgrader import feedback, kernel, locked_cells
from grading.nbgrader.course import Course, check_student_id
from grading.nbgrader.outputs import cap_notebook_files
from grading.nbgrader.reconcile import reconcile
from grading.nbgrader.workspace import merge_into, open_course, private_copy, unusable_notebooks
from grading.util import environment

COURSE_FOLDER = ".nbgrader"
FEEDBACK_FOLDER = "feedback"
# Seconds nbgrader may take over one submission's notebooks (each kernel lives at most as
# long). The batch's limit per submission leaves room for it after the hardened grader's
# budget, so a submission whose notebooks run too long keeps its hardened scores, with the
# reason, instead of losing the whole child.
NBGRADER_BUDGET_S = 2700
RECORD_BUDGET_S = 600  # recording runs no student code: the notebooks' size is all it costs
# nbgrader's autograde without ClearOutput and Execute: the submission's own outputs are kept
# and scored as they are (the hardened scores replace those scores in reconcile).
RECORD_CONFIG_LINES = (
    "# Notebooks are recorded as submitted, with their own outputs, not run again.",
    "from nbconvert.preprocessors import ClearMetadataPreprocessor",
    "from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, "
    "DeduplicateIds, IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec, "
    "SaveAutoGrades)",
    "c.Autograde.sanitize_preprocessors = [DeduplicateIds, OverwriteKernelspec, "
    "OverwriteCells, CheckCellMetadata]",
    "c.Autograde.autograde_preprocessors = [IgnorePattern, ClearMetadataPreprocessor, "
    "LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]",
)
NOT_RUN = "not run"  # the kernel isolation of a batch that records the notebooks
SLACK_S = 600  # feedback, merge, copies: what a submission's child does besides the two graders
DEFAULT_DATA = "embedded"
# Lines of nbgrader's log that say what went wrong: the exception a traceback ends with
# ("nbformat.reader.NotJSONError: ..."), else the first error it logged.
_RAISED = re.compile(r"^\s*[\w.]+(Error|Exception): ")
_LOGGED = re.compile(r"\| ERROR\] ")


@dataclass
class AutogradeSummary:
    """What a full batch did: the batch summary, where the course is, how code was confined
    (``kernel_isolation`` is :data:`NOT_RUN` when the notebooks were recorded)."""

    batch: BatchSummary
    course: Path
    isolation: str
    kernel_isolation: str
    setup_seconds: float

    @property
    def executed(self) -> bool:
        return self.kernel_isolation != NOT_RUN


@dataclass
class NotebookPass:
    """What nbgrader's pass over one submission gave: the results (reconciled, flagged), the
    notes for the student, nbgrader's logs, and the notebooks whose locked cells were
    restored."""

    results: list
    notes: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)

    def attempt(self, what: str, step, *args, **kwargs) -> None:
        """Run one nbgrader step; on failure note it (with the error nbgrader reported, when
        its log names one) and keep the error as the log."""
        try:
            self.logs.append(step(*args, **kwargs))
        except GradingError as error:
            text = str(error)
            raised = [line.strip() for line in text.splitlines() if _RAISED.search(line)]
            logged = [line.strip() for line in text.splitlines() if _LOGGED.search(line)]
            reason = (raised[-1:] or logged[:1] or text.splitlines()[:1])[0]
            self.notes.append(f"{what} failed ({reason[:300]}); the hardened scores stand")
            self.logs.append(text)


@dataclass
class Pipeline:
    """What every submission of a batch shares (built once by :meth:`prepare`)."""

    out: Path
    course: Course
    grader: Grader
    kernel_path: Path | None  # None: the notebooks are recorded, not executed
    kernel_isolation: str
    hidden: set[str]
    limits: Limits = field(default_factory=Limits)
    data_source: str = DEFAULT_DATA

    @property
    def executed(self) -> bool:
        return self.kernel_path is not None

    @classmethod
    def prepare(
        cls,
        out: Path,
        work: Path,
        *,
        source_root: Path = REPO_ROOT,
        notebooks: Iterable[str] | None = None,
        isolation: str | None = None,
        limits: Limits = Limits(),
        execute: bool = False,
    ) -> Pipeline:
        """Build (or reopen) the course in ``out``, and the shared parts in ``work``; the
        dataset and the confined kernel only when the notebooks are to be ``execute``d."""
        out, work = Path(out).resolve(), Path(work).resolve()
        work.mkdir(parents=True, exist_ok=True)
        work.chmod(0o700)
        course = open_course(out / COURSE_FOLDER, source_root, notebooks)
        names = {p.stem for p in course.source_dir.glob("*.ipynb")}
        grader = Grader(
            work / "hardened",
            isolation=isolation,
            source_root=source_root,
            checks=_checks_of(names),
        )
        grader.warm()
        kernel_path, kernel_isolation = None, NOT_RUN
        if execute:
            data = work / "data"
            from assignment import embedded_cifar

            embedded_cifar.generate(data / DEFAULT_DATA)
            kernel_isolation = detect_isolation(
                isolation,
                protect=(
                    course.gradebook,
                    *(Path(source_root) / rel for rel in grader.trusted.student_names),
                ),
            )
            kernel_path = kernel.install_kernel_spec(
                work / "jupyter",
                isolation=kernel_isolation,
                data=data,
                hide=(Path(source_root).resolve(), work, out),
                wall_s=NBGRADER_BUDGET_S,
            )
        hidden = feedback.hidden_lines(sorted(course.source_dir.glob("*.ipynb")))
        return cls(
            out,
            course,
            grader,
            kernel_path,
            kernel_isolation,
            hidden,
            limits,
            os.environ.get("ASSIGNMENT_DATA") or DEFAULT_DATA,
        )

    def grade_one(self, student: str, root: Path, scratch: Path) -> Graded:
        """Grade one unpacked submission (``root``, only read); ``scratch`` is private.

        The hardened results go through nbgrader's pass, which writes them into the
        gradebook and returns them with any flag; the hardened scores stand whatever
        happens to that pass."""
        hardened = self.grader.grade(root, limits=self.limits)
        notebooks = self._nbgrader_pass(student, root, Path(scratch), hardened.results)
        results = notebooks.results
        if self.executed:
            output = [
                f"Notebooks ran in nbgrader, in a kernel with isolation: {self.kernel_isolation}."
            ]
        else:
            output = [
                "Notebooks recorded in nbgrader as submitted, with their own outputs, for "
                "review; the scores come from the checks, not from those outputs."
            ]
        flagged = [r.name for r in results if r.flagged]
        if flagged:
            output.append("Flagged for review (possible tampering): " + ", ".join(flagged) + ".")
        if notebooks.altered:
            output.append(f"Flagged for review: {locked_cells.FLAG}.")
        output += notebooks.notes
        logs = [hardened.log, *notebooks.logs, "\n".join(notebooks.notes)]
        return Graded(
            results,
            hardened.isolation,
            output="\n".join(output),
            log="\n\n".join(log for log in logs if log),
        )

    def _nbgrader_pass(
        self, student: str, root: Path, scratch: Path, results: list
    ) -> NotebookPass:
        """nbgrader autograde of the notebooks in a private course, the hardened ``results``
        reconciled into its gradebook, feedback rendered, the student merged back."""
        done = NotebookPass(results)
        # Short: the kernels' Unix sockets live here (108 bytes per path at most).
        runtime = Path(
            tempfile.mkdtemp(prefix="rt-", dir="/tmp" if os.path.isdir("/tmp") else None)
        )
        try:
            check_student_id(student)
            extra = [kernel.socket_config_line(runtime)] if self.executed else RECORD_CONFIG_LINES
            course = private_copy(self.course, scratch / "course", extra=extra)
            course.add_submission(student, root)
            unusable = unusable_notebooks(course, student)
            done.altered = locked_cells.restore_folder(
                self.course.release_dir, course.submitted_dir(student)
            )
            done.notes += done.altered
            done.notes += [
                f"{name}.ipynb {why}: its written answers score 0; the checks of "
                "its functions are graded outside the notebook"
                for name, why in unusable.items()
            ]
            budget = NBGRADER_BUDGET_S if self.executed else RECORD_BUDGET_S
            with self._environment(runtime):
                done.attempt("nbgrader autograde", course.autograde, student, timeout=budget)
                for folder in ("submitted", "autograded"):
                    done.notes += cap_notebook_files(course.root / folder / student)
                # Recorded outputs are the student's own, possibly older than the code: no
                # kernel verdict to hold the checks against.
                not_run = set(unusable) if self.executed else self._notebooks()
                reconciled = reconcile(course, student, results, not_run=not_run)
                done.results, done.notes = reconciled.results, done.notes + reconciled.notes
                if reconciled.cells:
                    done.attempt(
                        "nbgrader generate_feedback",
                        course.nbgrader,
                        "generate_feedback",
                        course.assignment,
                        "--student",
                        student,
                        "--force",
                    )
            done.notes += feedback.collect_feedback(
                course.feedback_dir(student), self.out / student / FEEDBACK_FOLDER, self.hidden
            )[1]
            if reconciled.cells:
                merge_into(self.course, course, student)
        except Exception as error:  # noqa: BLE001 - the hardened scores must survive it
            done.notes.append(f"the notebooks were not graded by nbgrader: {error}")
        finally:
            shutil.rmtree(runtime, ignore_errors=True)
        return done

    def _notebooks(self) -> set[str]:
        return {p.stem for p in self.course.source_dir.glob("*.ipynb")}

    def _environment(self, runtime: Path):
        """The environment nbgrader and its kernels run in, for the duration of a step."""
        kernels = {"JUPYTER_PATH": str(self.kernel_path)} if self.executed else {}
        return environment(
            **kernels,
            JUPYTER_RUNTIME_DIR=str(runtime),
            ASSIGNMENT_DATA=self.data_source,
            MPLBACKEND="Agg",
            OPENBLAS_NUM_THREADS="1",
            OMP_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
        )


def autograde(
    submissions: Path,
    out: Path,
    *,
    workers: int = 1,
    source_root: Path = REPO_ROOT,
    notebooks: Iterable[str] | None = None,
    isolation: str | None = None,
    limits: Limits = Limits(),
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    execute: bool = False,
) -> AutogradeSummary:
    """The full pipeline over a folder of submissions (``python -m grading autograde``), or
    the slice ``shard`` of them (see :func:`grading.hardened.batch.grade_batch`).
    ``execute`` runs the notebooks again in nbgrader (``--execute``) rather than recording
    them as submitted (see the module docstring).

    Writes ``out/<student>/results.json``, ``out/<student>/feedback/*.html``,
    ``out/<student>/grading.log``, ``out/grades.csv``, ``out/summary.csv`` and the course
    (gradebook with the reconciled scores, autograded notebooks for the formgrader) in
    ``out/.nbgrader``.
    ``notebooks`` limits a new course to those notebooks (default: all of the source).
    """
    start = time.monotonic()
    out = Path(out)
    check_shard(shard)
    read_grades_csv(out / GRADES_CSV)  # refuse one that a regrade would lose, before the setup
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grading-autograde-") as work:
        pipeline = Pipeline.prepare(
            out,
            Path(work),
            source_root=source_root,
            notebooks=notebooks,
            isolation=isolation,
            limits=limits,
            execute=execute,
        )
        setup = time.monotonic() - start
        batch = grade_batch(
            submissions,
            out,
            grade_one=pipeline.grade_one,
            workers=workers,
            work=Path(work) / "submissions",
            checks=pipeline.grader.checks,
            timeout_s=limits.submission_s
            + (NBGRADER_BUDGET_S if execute else RECORD_BUDGET_S)
            + SLACK_S,
            shard=shard,
            progress=progress,
        )
    return AutogradeSummary(
        batch, pipeline.course.root, pipeline.grader.isolation, pipeline.kernel_isolation, setup
    )


def describe_isolation(isolation: str) -> str:
    """``isolation`` with the sentence that says what it means."""
    return f"{isolation} ({DESCRIPTIONS[level_of(isolation)]})"


def describe_notebooks(summary: AutogradeSummary) -> str:
    """How the batch put the notebooks into nbgrader, in one line."""
    if summary.executed:
        return (
            f"notebooks executed, kernel isolation: {describe_isolation(summary.kernel_isolation)}"
        )
    return (
        "notebooks recorded as submitted, with their own outputs and plots "
        "(not run again; --execute runs them in a confined kernel)"
    )


# -- helpers -----------------------------------------------------------------------------------


def _checks_of(notebooks: set[str]) -> list[str]:
    from assignment.checks import CATALOGUE

    return [c.name for c in CATALOGUE.values() if c.notebook in notebooks]
