"""The full batch autograde: nbgrader autograde, the hardened grader, reconciliation, feedback.

    summary = autograde(Path("submissions"), Path("grades"), workers=2)

Once per batch, before the workers fork (:meth:`Pipeline.prepare`):

- the grading course (``release.build_course``: staged source, config, gradebook) in
  ``OUT/.nbgrader``, or the one a previous batch left there, so that the formgrader's
  manual grades survive a regrade; its config runs notebooks in the confined kernel of
  :mod:`grading.nbgrader.kernel` and renders feedback through :class:`grading.nbgrader.feedback.RedactHidden`;
- the embedded dataset, generated once and copied into every kernel's sandbox;
- the hardened :class:`~grading.hardened.Grader` with every reference output computed;
- the isolation level of the kernels (the strongest that works here, as for the grader).

Per submission, in a worker process (:meth:`Pipeline.grade_one`, a ``GradeOne`` hook of
:func:`grading.hardened.batch.grade_batch`, which unpacks a private copy of the submission first):

1. the hardened grader scores every check of the course's notebooks (authoritative);
2. a private copy of the course grades the submission with ``nbgrader autograde``;
3. :func:`grading.nbgrader.reconcile.reconcile` writes the hardened scores into that gradebook and
   flags every disagreement with the kernel;
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

import fcntl
import os
import re
import shutil
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import nbformat

from grading.nbgrader import feedback, kernel, locked_cells
from grading.hardened.batch import BatchSummary, Graded, grade_batch
from grading.nbgrader.course import COURSE_ID, Course, check_student_id
from grading.errors import GradingError
from grading.hardened.grader import Grader
from grading.nbgrader.reconcile import reconcile
from grading.layout import REPO_ROOT, select_notebooks
from grading.release.build import build_course
from grading.nbgrader.outputs import cap_notebook_files
from grading.hardened.sandbox import DESCRIPTIONS, Limits, detect_isolation, level_of

COURSE_FOLDER = ".nbgrader"
FEEDBACK_FOLDER = "feedback"
MERGE_LOCK = ".merge.lock"
# Seconds nbgrader may take over one submission's notebooks (each kernel lives at most as
# long). The batch's limit per submission leaves room for it after the hardened grader's
# budget, so a submission whose notebooks run too long keeps its hardened scores, with the
# reason, instead of losing the whole child.
NBGRADER_BUDGET_S = 2700
SLACK_S = 600  # feedback, merge, copies: what a submission's child does besides the two graders
DEFAULT_DATA = "embedded"
# Lines of nbgrader's log that say what went wrong: the exception a traceback ends with
# ("nbformat.reader.NotJSONError: ..."), else the first error it logged.
_RAISED = re.compile(r"^\s*[\w.]+(Error|Exception): ")
_LOGGED = re.compile(r"\| ERROR\] ")


@dataclass
class AutogradeSummary:
    """What a full batch did: the batch summary, where the course is, how code was confined."""

    batch: BatchSummary
    course: Path
    isolation: str
    kernel_isolation: str
    setup_seconds: float


@dataclass
class Pipeline:
    """What every submission of a batch shares (built once by :meth:`prepare`)."""

    out: Path
    course: Course
    grader: Grader
    kernel_path: Path
    kernel_isolation: str
    hidden: set[str]
    limits: Limits = field(default_factory=Limits)
    data_source: str = DEFAULT_DATA

    @classmethod
    def prepare(cls, out: Path, work: Path, *, source_root: Path = REPO_ROOT,
                notebooks: Iterable[str] | None = None, isolation: str | None = None,
                limits: Limits = Limits()) -> Pipeline:
        """Build (or reopen) the course in ``out``, and the shared parts in ``work``."""
        out, work = Path(out).resolve(), Path(work).resolve()
        work.mkdir(parents=True, exist_ok=True)
        work.chmod(0o700)
        course = open_course(out / COURSE_FOLDER, source_root, notebooks)
        names = {p.stem for p in course.source_dir.glob("*.ipynb")}
        grader = Grader(work / "hardened", isolation=isolation, source_root=source_root,
                        checks=_checks_of(names))
        grader.warm()
        data = work / "data"
        from assignment import embedded_cifar
        embedded_cifar.generate(data / DEFAULT_DATA)
        kernel_isolation = detect_isolation(isolation, protect=(
            course.gradebook, *(Path(source_root) / rel for rel in grader.trusted.student_names)))
        kernel_path = kernel.install_kernel_spec(
            work / "jupyter", isolation=kernel_isolation, data=data,
            hide=(Path(source_root).resolve(), work, out), wall_s=NBGRADER_BUDGET_S)
        hidden = feedback.hidden_lines(sorted(course.source_dir.glob("*.ipynb")))
        return cls(out, course, grader, kernel_path, kernel_isolation, hidden, limits,
                   os.environ.get("ASSIGNMENT_DATA") or DEFAULT_DATA)

    def grade_one(self, student: str, root: Path, scratch: Path) -> Graded:
        """Grade one unpacked submission (``root``, only read); ``scratch`` is private."""
        hardened = self.grader.grade(root, limits=self.limits)
        results, notes, logs, flags = hardened.results, [], [hardened.log], []
        altered: list[str] = []
        # Short: the kernels' Unix sockets live here (108 bytes per path at most).
        runtime = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp" if os.path.isdir("/tmp")
                                        else None))
        try:
            check_student_id(student)
            course = private_copy(self.course, Path(scratch) / "course",
                                  extra=[kernel.socket_config_line(runtime)])
            course.add_submission(student, root)
            unusable = unusable_notebooks(course, student)
            altered = locked_cells.restore_folder(self.course.release_dir,
                                                  course.submitted_dir(student))
            notes += altered
            notes += [f"{name}.ipynb {why}: its written answers score 0; the checks of its "
                      "functions are graded outside the notebook" for name, why in unusable.items()]
            with self._environment(runtime):
                logs.append(_attempt(notes, "nbgrader autograde", course.nbgrader, "autograde",
                                     course.assignment, "--force", "--student", student,
                                     timeout=NBGRADER_BUDGET_S))
                for folder in ("submitted", "autograded"):
                    notes += cap_notebook_files(course.root / folder / student)
                done = reconcile(course, student, results, not_run=unusable)
                results, notes, flags = done.results, notes + done.notes, done.disagreements
                if done.cells:
                    logs.append(_attempt(notes, "nbgrader generate_feedback", course.nbgrader,
                                         "generate_feedback", course.assignment,
                                         "--student", student, "--force"))
            notes += feedback.collect_feedback(course.feedback_dir(student),
                                               self.out / student / FEEDBACK_FOLDER,
                                               self.hidden)[1]
            if done.cells:
                merge_into(self.course, course, student)
        except Exception as error:  # noqa: BLE001 - the hardened scores must survive it
            notes.append(f"the notebooks were not graded by nbgrader: {error}")
        finally:
            shutil.rmtree(runtime, ignore_errors=True)
        output = [f"Notebooks ran in nbgrader, in a kernel with isolation: "
                  f"{self.kernel_isolation}."]
        if flags:
            output.append("Flagged for review (possible tampering): "
                          + ", ".join(d.check for d in flags) + ".")
        if altered:
            output.append(f"Flagged for review: {locked_cells.FLAG}.")
        output += notes
        logs.append("\n".join(notes))
        return Graded(results, hardened.isolation, output="\n".join(output),
                      log="\n\n".join(log for log in logs if log))

    @contextmanager
    def _environment(self, runtime: Path):
        """The environment nbgrader and its kernels run in, for the duration of a step."""
        wanted = {"JUPYTER_PATH": str(self.kernel_path), "JUPYTER_RUNTIME_DIR": str(runtime),
                  "ASSIGNMENT_DATA": self.data_source, "MPLBACKEND": "Agg",
                  "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        before = {name: os.environ.get(name) for name in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def autograde(submissions: Path, out: Path, *, workers: int = 1,
              source_root: Path = REPO_ROOT, notebooks: Iterable[str] | None = None,
              isolation: str | None = None, limits: Limits = Limits(),
              progress: bool = True) -> AutogradeSummary:
    """The full pipeline over a folder of submissions (``python -m grading autograde``).

    Writes ``out/<student>/results.json``, ``out/<student>/feedback/*.html``,
    ``out/<student>/grading.log``, ``out/grades.csv`` and the course (gradebook with the
    reconciled scores, autograded notebooks for the formgrader) in ``out/.nbgrader``.
    ``notebooks`` limits a new course to those notebooks (default: all of the source).
    """
    start = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grading-autograde-") as work:
        pipeline = Pipeline.prepare(out, Path(work), source_root=source_root,
                                    notebooks=notebooks, isolation=isolation, limits=limits)
        setup = time.monotonic() - start
        batch = grade_batch(submissions, out, grade_one=pipeline.grade_one, workers=workers,
                            work=Path(work) / "submissions", checks=pipeline.grader.checks,
                            timeout_s=limits.submission_s + NBGRADER_BUDGET_S + SLACK_S,
                            progress=progress)
    return AutogradeSummary(batch, pipeline.course.root, pipeline.grader.isolation,
                            pipeline.kernel_isolation, setup)


def describe_isolation(isolation: str) -> str:
    """``isolation`` with the sentence that says what it means."""
    return f"{isolation} ({DESCRIPTIONS[level_of(isolation)]})"


# -- the course --------------------------------------------------------------------------------

def open_course(root: Path, source_root: Path = REPO_ROOT,
                notebooks: Iterable[str] | None = None) -> Course:
    """The course at ``root``: reopened when a gradebook is there, else built from the source.

    A reopened course keeps its notebooks (``notebooks`` must then be absent or the same).
    """
    course = Course(root)
    extra = [*kernel.CONFIG_LINES, *feedback.config_lines()]
    if course.gradebook.exists():
        have = sorted(p.name for p in course.source_dir.glob("*.ipynb"))
        if notebooks is not None:
            asked = sorted(select_notebooks(Path(source_root), notebooks))
            if asked != have:
                raise GradingError(root, None, f"autograde: this course grades {have}, not "
                                   f"{asked}; use another output folder for other notebooks")
        return course
    return build_course(source_root, root, notebooks=notebooks, extra_config=extra)


def private_copy(course: Course, root: Path, *, extra: Iterable[str] = ()) -> Course:
    """A copy of ``course`` (config, source, gradebook) at ``root`` for one worker, with
    ``extra`` config lines."""
    root = Path(root).resolve()
    root.mkdir(parents=True)
    root.chmod(0o700)
    shutil.copytree(course.root / "source", root / "source", symlinks=True)
    shutil.copyfile(course.gradebook, root / "gradebook.db")
    config = course.config_file.read_text(encoding="utf-8")
    config = config.replace(str(course.root), str(root)) + "".join(f"{line}\n" for line in extra)
    (root / course.config_file.name).write_text(config, encoding="utf-8")
    copy = Course(root, course.assignment)
    copy.secure_gradebook()
    return copy


def unusable_notebooks(course: Course, student: str) -> dict[str, str]:
    """``{notebook: why}`` for the course's notebooks that ``student``'s submission lacks or
    holds in a form nbformat cannot read. The unreadable ones are deleted from the course's
    copy of the submission: nbgrader drops a whole submission over one bad notebook, and
    grades a missing one 0."""
    found = {}
    for source in sorted(course.source_dir.glob("*.ipynb")):
        path = course.submitted_dir(student) / source.name
        if not path.is_file() or path.is_symlink():
            found[source.stem] = "is missing from the submission"
            continue
        try:
            nbformat.read(str(path), as_version=4)
        except Exception as error:  # noqa: BLE001 - any reason to be unreadable is reported
            found[source.stem] = f"is not a readable notebook ({type(error).__name__}: " \
                                 f"{str(error)[:200]})"
            path.unlink()
    return found


def merge_into(course: Course, private: Course, student: str) -> None:
    """Copy ``student``'s submission from a worker's ``private`` course into ``course``:
    the gradebook rows (scores, comments, flags) and the submitted, autograded and feedback
    folders. Holds the course's merge lock, so concurrent workers take turns."""
    from nbgrader.api import Gradebook

    with _locked(course.root / MERGE_LOCK), warnings.catch_warnings():
        # nbgrader's update_or_create_submission trips SQLAlchemy's autoflush warnings.
        warnings.simplefilter("ignore")
        with Gradebook(private.db_url, COURSE_ID) as source, \
                Gradebook(course.db_url, COURSE_ID) as target:
            submitted = source.find_submission(private.assignment, student)
            target.update_or_create_student(student)
            target.update_or_create_submission(private.assignment, student,
                                               timestamp=submitted.timestamp)
            for notebook in submitted.notebooks:
                into = target.find_submission_notebook(notebook.name, private.assignment,
                                                       student)
                into.flagged = notebook.flagged
                into.late_submission_penalty = notebook.late_submission_penalty
                for grade in notebook.grades:
                    copy = target.find_grade(grade.name, notebook.name, private.assignment,
                                             student)
                    for name in ("auto_score", "manual_score", "extra_credit",
                                 "needs_manual_grade"):
                        setattr(copy, name, getattr(grade, name))
                for comment in notebook.comments:
                    copy = target.find_comment(comment.name, notebook.name,
                                               private.assignment, student)
                    copy.auto_comment, copy.manual_comment = (comment.auto_comment,
                                                              comment.manual_comment)
            target.db.commit()
        course.secure_gradebook()
        for folder in ("submitted", "autograded", "feedback"):
            source_dir = private.root / folder / student / private.assignment
            target_dir = course.root / folder / student / private.assignment
            if target_dir.exists():
                shutil.rmtree(target_dir)
            if source_dir.is_dir():
                shutil.copytree(source_dir, target_dir, symlinks=True)


# -- helpers -----------------------------------------------------------------------------------

def _checks_of(notebooks: set[str]) -> list[str]:
    from assignment.checks import CATALOGUE
    return [c.name for c in CATALOGUE.values() if c.notebook in notebooks]


def _attempt(notes: list[str], what: str, step, *args, **kwargs) -> str:
    """Run one nbgrader step; on failure add a note (with the error nbgrader reported, when
    its log names one) and return the error as the log."""
    try:
        return step(*args, **kwargs)
    except GradingError as error:
        text = str(error)
        raised = [line.strip() for line in text.splitlines() if _RAISED.search(line)]
        logged = [line.strip() for line in text.splitlines() if _LOGGED.search(line)]
        reason = (raised[-1:] or logged[:1] or text.splitlines()[:1])[0]
        notes.append(f"{what} failed ({reason[:300]}); the hardened scores stand")
        return text


@contextmanager
def _locked(path: Path):
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
