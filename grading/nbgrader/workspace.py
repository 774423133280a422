"""The grading course's life: built from the source once, reopened by later runs, copied
privately for each submission, and that student's rows merged back.

The course (``OUT/.nbgrader``) is nbgrader's: :class:`grading.nbgrader.course.Course`
knows its layout, config and gradebook. Its source folder is staged by the release build,
so ``nbgrader autograde`` copies only release-safe files next to a submission. Workers
grade in private copies (a gradebook is one SQLite file) and merge one student at a time
under a lock.
"""

from __future__ import annotations

import fcntl
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Sequence

import nbformat

from grading.errors import CourseError, GradingError, ReleaseError
from grading.layout import REPO_ROOT, select_notebooks
from grading.nbgrader import feedback, kernel
from grading.nbgrader.course import CELL_TIMEOUT, COURSE_ID, Course, register
from grading.release.build import generate_notebooks
from grading.release.stage import stage_source

MERGE_LOCK = ".merge.lock"


def build_course(
    source_root: Path = REPO_ROOT,
    root: Path | None = None,
    *,
    students: Iterable[str] = (),
    notebooks: Iterable[str] | None = None,
    timeout: int = CELL_TIMEOUT,
    extra_config: Sequence[str] = (),
) -> Course:
    """A grading course at ``root`` (missing or empty): staged source, config, gradebook.

    The source folder holds the instructor notebooks (nbgrader restores hidden tests from
    the gradebook) and only release-safe files, since ``nbgrader autograde`` copies them
    next to the student's code. The ``.py`` files with solution regions are excluded from
    that overwrite (``student_files``). ``extra_config`` lines go into the course's
    ``nbgrader_config.py`` as they are.
    """
    if root is None:
        raise ReleaseError(None, None, "build_course: expected a course folder, got None")
    course = Course(Path(root))
    if course.root.exists() and any(course.root.iterdir()):
        raise ReleaseError(course.root, None, "build_course: the course folder is not empty")
    course.setup()
    staged = stage_source(source_root, course.source_dir, notebooks=notebooks)
    course.write_config(student_files=staged.student_files, timeout=timeout, extra=extra_config)
    generate_notebooks(course, staged)
    register(course, students)
    return course


def open_course(
    root: Path, source_root: Path = REPO_ROOT, notebooks: Iterable[str] | None = None
) -> Course:
    """The course at ``root``: reopened when a gradebook is there, else built from the source.

    A reopened course keeps its notebooks (``notebooks`` must then be absent or the same),
    gradebook, student files and cell timeout; its config is written again in the current
    form, so that a course written by an older version (absolute paths, Autograde not
    guarded) is brought up to date and feedback finds its preprocessor in ``REPO_ROOT``.
    """
    course = Course(root)
    extra = [*kernel.CONFIG_LINES, *feedback.config_lines()]
    if course.gradebook.exists():
        have = sorted(p.name for p in course.source_dir.glob("*.ipynb"))
        if notebooks is not None:
            asked = sorted(select_notebooks(Path(source_root), notebooks))
            if asked != have:
                raise GradingError(
                    root,
                    None,
                    f"autograde: this course grades {have}, not "
                    f"{asked}; use another output folder for other notebooks",
                )
        course.rewrite_config(extra=extra)
        return course
    return build_course(source_root, root, notebooks=notebooks, extra_config=extra)


def private_copy(course: Course, root: Path, *, extra: Iterable[str] = ()) -> Course:
    """A copy of ``course`` (config, source, gradebook) at ``root`` for one worker, with
    ``extra`` config lines. The config is copied as it is: it names its own folder as the
    course, so the copy grades into its own gradebook."""
    if not course.config_is_portable():
        raise CourseError(
            course.config_file,
            None,
            "private_copy: expected a config that names its own folder as the course, got "
            "one with fixed paths (reopen the course with open_course to rewrite it)",
        )
    root = Path(root).resolve()
    root.mkdir(parents=True)
    root.chmod(0o700)
    shutil.copytree(course.root / "source", root / "source", symlinks=True)
    shutil.copyfile(course.gradebook, root / "gradebook.db")
    config = course.config_file.read_text(encoding="utf-8")
    config += "".join(f"{line}\n" for line in extra)
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
            found[source.stem] = (
                f"is not a readable notebook ({type(error).__name__}: {str(error)[:200]})"
            )
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
        with (
            Gradebook(private.db_url, COURSE_ID) as source,
            Gradebook(course.db_url, COURSE_ID) as target,
        ):
            submitted = source.find_submission(private.assignment, student)
            target.update_or_create_student(student)
            target.update_or_create_submission(
                private.assignment, student, timestamp=submitted.timestamp
            )
            for notebook in submitted.notebooks:
                into = target.find_submission_notebook(notebook.name, private.assignment, student)
                into.flagged = notebook.flagged
                into.late_submission_penalty = notebook.late_submission_penalty
                for grade in notebook.grades:
                    copy = target.find_grade(grade.name, notebook.name, private.assignment, student)
                    for name in (
                        "auto_score",
                        "manual_score",
                        "extra_credit",
                        "needs_manual_grade",
                    ):
                        setattr(copy, name, getattr(grade, name))
                for comment in notebook.comments:
                    copy = target.find_comment(
                        comment.name, notebook.name, private.assignment, student
                    )
                    copy.auto_comment, copy.manual_comment = (
                        comment.auto_comment,
                        comment.manual_comment,
                    )
            target.db.commit()
        course.secure_gradebook()
        for folder in ("submitted", "autograded", "feedback"):
            source_dir = private.root / folder / student / private.assignment
            target_dir = course.root / folder / student / private.assignment
            if target_dir.exists():
                shutil.rmtree(target_dir)
            if source_dir.is_dir():
                shutil.copytree(source_dir, target_dir, symlinks=True)


@contextmanager
def _locked(path: Path):
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
