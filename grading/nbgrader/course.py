"""An nbgrader course directory for grading: its layout, its config, its gradebook.

Layout under ``root`` (nbgrader's own names)::

    nbgrader_config.py          written by :meth:`Course.write_config`
    gradebook.db                mode 0600: it holds the hidden tests in plain text
    source/<assignment>/        instructor notebooks + release-safe files (release.stage_source)
    release/<assignment>/       nbgrader generate_assignment output
    submitted/<student>/<assignment>/
    autograded/<student>/<assignment>/
    feedback/<student>/<assignment>/

The traps of nbgrader 0.9.6 this config closes, each measured by tests/grading/test_course.py:

- ``nbgrader autograde`` copies every non-notebook file of ``source/<assignment>/`` over
  the submission. ``Autograde.exclude_overwriting`` names the ``.py`` files students edit so
  that their code, not the instructor's, is graded. (The source folder holds no solutions
  anyway: its ``.py`` files are the stripped release copies, see ``release.stage_source``.)
- A graded cell that writes anything to stderr scores 0 (``nbgrader.utils.determine_grade``),
  and numpy warnings such as "overflow encountered in exp" go to stderr. nbgrader's own
  ``IgnorePattern`` preprocessor runs after execution and before the scores are saved; it
  is enabled with a pattern that matches Python's warning format
  (``file:line: SomethingWarning: message``), so a warning no longer costs the cell while
  any other stderr text (and every error) still does.
- The per-cell timeout is ``Execute.timeout`` (30 s by default): set to :data:`CELL_TIMEOUT`.
- Hidden tests sit in plain text in ``gradebook.db``. The file is created 0600 before
  nbgrader opens it (SQLite gives its journal the same mode) and the course root is 0700.
  This keeps out other users only: a kernel running as the same user can still read it,
  which is why the authoritative score comes from the hardened grader.

The config names no absolute path of the course: its root is the folder the config file is
in (traitlets gives a Python config file its own ``__file__``), so the course, or the grade
folder holding it, can be moved or copied as a whole and the formgrader opened there.

Autograde runs only through :meth:`Course.nbgrader`, which sets :data:`PIPELINE_ENV`.
Anywhere else (formgrader's Autograde button, a bare ``nbgrader autograde``) it would run
the notebooks without the pipeline's confined kernel and hardened scores, and nbgrader
deletes a student's autograded notebooks before it starts grading, and again when grading
fails. The config therefore gives ``Autograde`` an exporter that refuses to be built: nbgrader
builds it in ``start()`` before touching any notebook, and the refusal (:data:`AUTOGRADE_REFUSED`)
reaches the formgrader's error window through nbgrader's log. Manual grading, feedback and
export do not use that exporter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Sequence

from grading.errors import CourseError
from grading.util import environment

ASSIGNMENT = "a2"
COURSE_ID = "assignment-suite"
CELL_TIMEOUT = 300
# warnings.formatwarning writes "path:lineno: Category: message"; nbgrader drops a whole
# stderr output when this pattern is found in it (re.search).
WARNING_PATTERN = r"(?m)^.+:\d+: \w*Warning: "
NBGRADER_TIMEOUT = 3600
# A student id is a folder name and, for `nbgrader --student`, a glob: keep it plain.
STUDENT_ID = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9_.@-]*")
# Set by Course.nbgrader for the nbgrader it runs; the config refuses Autograde without it.
PIPELINE_ENV = "GRADING_NBGRADER_PIPELINE"
# What the formgrader's Autograde button says ({out}: the grade folder holding the course).
AUTOGRADE_REFUSED = (
    "Autograde is disabled here and nothing was changed: nbgrader alone has neither the "
    "confined kernel nor the hardened grader's scores, so regrade with "
    "`python -m grading autograde SUBMISSIONS --out {out}`, where SUBMISSIONS holds the "
    "submissions to grade again (the other students are kept)."
)
# The config's first settings: the course is the folder of the config file.
ROOT_LINES = (
    "import os as _os",
    "# The course is the folder of this file, wherever the folder is moved.",
    "_root = _os.path.dirname(_os.path.abspath(__file__))",
    "c.CourseDirectory.root = _root",
    "c.CourseDirectory.db_url = 'sqlite:///' + _os.path.join(_root, 'gradebook.db')",
)
# Autograde outside Course.nbgrader stops in Autograde.start(), which builds the exporter
# before nbgrader removes anything (see the module docstring).
REFUSAL_LINES = (
    "# Autograde runs only through grading.nbgrader.course.Course.nbgrader: the formgrader's",
    "# button and a bare `nbgrader autograde` stop before nbgrader deletes any notebook.",
    f"if _os.environ.get({PIPELINE_ENV!r}) != '1':",
    "    from nbconvert.exporters import Exporter as _Exporter",
    "    from nbgrader.converters.base import NbGraderException as _NbGraderException",
    "",
    f"    _refused = {AUTOGRADE_REFUSED!r}.format(out=_os.path.dirname(_root))",
    "",
    "    class _AutogradeDisabled(_Exporter):",
    "        def __init__(self, *args, parent=None, **kwargs):",
    "            if parent is not None:",
    "                parent.log.error(_refused)",
    "            raise _NbGraderException(_refused)",
    "",
    "    c.Autograde.exporter_class = _AutogradeDisabled",
)


class Course:
    """Paths and nbgrader commands of one course directory (nothing is created until asked)."""

    def __init__(self, root: Path, assignment: str = ASSIGNMENT) -> None:
        self.root = Path(root).resolve()
        self.assignment = assignment

    @property
    def config_file(self) -> Path:
        return self.root / "nbgrader_config.py"

    @property
    def gradebook(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.gradebook}"

    @property
    def source_dir(self) -> Path:
        return self.root / "source" / self.assignment

    @property
    def release_dir(self) -> Path:
        return self.root / "release" / self.assignment

    def submitted_dir(self, student: str) -> Path:
        return self.root / "submitted" / check_student_id(student) / self.assignment

    def autograded_dir(self, student: str) -> Path:
        return self.root / "autograded" / check_student_id(student) / self.assignment

    def feedback_dir(self, student: str) -> Path:
        return self.root / "feedback" / check_student_id(student) / self.assignment

    def setup(
        self,
        *,
        student_files: Sequence[str] = (),
        timeout: int = CELL_TIMEOUT,
        extra: Sequence[str] = (),
    ) -> None:
        """Create the root (0700), the source folder, the gradebook (0600) and the config."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        self.source_dir.mkdir(parents=True, exist_ok=True)
        if not self.gradebook.exists():
            os.close(os.open(self.gradebook, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        self.write_config(student_files=student_files, timeout=timeout, extra=extra)

    def write_config(
        self,
        *,
        student_files: Sequence[str] = (),
        timeout: int = CELL_TIMEOUT,
        extra: Sequence[str] = (),
    ) -> Path:
        """Write ``nbgrader_config.py``.

        ``student_files``: assignment-relative ``.py`` paths that students edit;
        ``timeout``: seconds per cell; ``extra``: config lines appended as they are
        (``c.GenerateFeedback.preprocessors = [...]``).
        """
        if isinstance(extra, str):
            raise CourseError(
                self.config_file,
                None,
                f"write_config: extra must be a list of config lines, got the string {extra!r}",
            )
        bad = [f for f in student_files if Path(f).is_absolute() or ".." in Path(f).parts]
        if bad:
            raise CourseError(
                self.config_file,
                None,
                "write_config: student_files must be paths "
                f"relative to the assignment folder, got {bad}",
            )
        if not isinstance(timeout, int) or timeout <= 0:
            raise CourseError(
                self.config_file,
                None,
                f"write_config: timeout must be a positive number of seconds, got {timeout!r}",
            )
        self.config_file.write_text(config_text(self, sorted(student_files), timeout, extra))
        return self.config_file

    def rewrite_config(self, *, extra: Sequence[str] = ()) -> Path:
        """Write ``nbgrader_config.py`` again in the current form with ``extra`` lines, keeping
        the student files and cell timeout that the present one sets (a config written by an
        older version, with absolute paths, included); the path written."""
        from traitlets.config.loader import PyFileConfigLoader  # needed only here

        try:
            config = PyFileConfigLoader(self.config_file.name, path=str(self.root)).load_config()
        except Exception as error:  # noqa: BLE001 - any reason to be unreadable is reported
            raise CourseError(
                self.config_file,
                None,
                "rewrite_config: expected a readable nbgrader config, got "
                f"{type(error).__name__}: {error}",
            ) from None
        return self.write_config(
            student_files=config.Autograde.get("exclude_overwriting", {}).get(self.assignment, []),
            timeout=config.Execute.get("timeout", CELL_TIMEOUT),
            extra=extra,
        )

    def config_is_portable(self) -> bool:
        """Whether the config names its own folder as the course (see :data:`ROOT_LINES`)."""
        if not self.config_file.is_file():
            return False
        lines = self.config_file.read_text(encoding="utf-8").splitlines()
        return all(line in lines for line in ROOT_LINES)

    def nbgrader(self, *args: str, timeout: int = NBGRADER_TIMEOUT) -> str:
        """Run ``python -m nbgrader ARGS`` in the course root; its log, or a CourseError.

        The environment drops PYTHONPATH, so that a kernel nbgrader starts cannot pick up
        the instructor's tree by accident, points JUPYTER_CONFIG_DIR into the course,
        so that a ``~/.jupyter/nbgrader_config.py`` cannot change how this course grades,
        and sets :data:`PIPELINE_ENV`, without which the config refuses ``autograde``.
        """
        env = dict(
            os.environ,
            JUPYTER_CONFIG_DIR=str(self.root / ".jupyter"),
            PATH=_path_with_scripts(os.environ.get("PATH", "")),
        )
        env[PIPELINE_ENV] = "1"
        env.pop("PYTHONPATH", None)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "nbgrader", *args],
                cwd=self.root,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise CourseError(
                self.root, None, f"nbgrader {' '.join(args)}: no result after {timeout} s"
            ) from None
        finally:
            self.secure_gradebook()
        log = done.stdout + done.stderr
        if done.returncode != 0:
            tail = "\n".join(log.strip().splitlines()[-15:])
            raise CourseError(
                self.root,
                None,
                f"nbgrader {' '.join(args)} failed (exit {done.returncode}):\n{tail}",
            )
        return log

    def generate_assignment(self) -> list[Path]:
        """Run nbgrader generate_assignment; the release notebooks it wrote."""
        self.nbgrader("generate_assignment", self.assignment, "--force")
        return sorted(self.release_dir.glob("*.ipynb"))

    def add_submission(self, student: str, folder: Path) -> Path:
        """Copy a submission in the release layout to ``submitted/<student>/<assignment>/``."""
        folder = Path(folder)
        if not folder.is_dir():
            raise CourseError(
                folder, None, "add_submission: expected a folder in the release layout"
            )
        dest = self.submitted_dir(student)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(
            folder,
            dest,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"),
        )
        return dest

    def autograde(self, student: str | None = None, *, timeout: int = NBGRADER_TIMEOUT) -> str:
        """Run nbgrader autograde for one student or every submission (again if graded); its log."""
        args = ["autograde", self.assignment, "--force"]
        if student is not None:
            args += ["--student", check_student_id(student)]
        return self.nbgrader(*args, timeout=timeout)

    def secure_gradebook(self) -> None:
        """Reset the gradebook (and a leftover journal) to 0600."""
        for path in (self.gradebook, self.gradebook.with_name(self.gradebook.name + "-journal")):
            if path.exists():
                path.chmod(0o600)


def check_student_id(student: str) -> str:
    """``student`` if it is a safe folder name and no nbgrader glob; else a CourseError."""
    if not isinstance(student, str) or not STUDENT_ID.fullmatch(student):
        raise CourseError(
            None,
            None,
            "student id: expected letters, digits and . _ @ - "
            f"(not starting with . or -), got {student!r}",
        )
    return student


def config_text(
    course: Course, student_files: Sequence[str], timeout: int, extra: Sequence[str] = ()
) -> str:
    """The ``nbgrader_config.py`` of ``course`` (see the module docstring for each setting)."""
    return "\n".join(
        [
            "# Written by grading.nbgrader.course: rebuild it with Course.write_config rather "
            "than editing.",
            "c = get_config()  # noqa: F821 (nbgrader provides it)",
            *ROOT_LINES,
            f"c.CourseDirectory.course_id = {COURSE_ID!r}",
            "# nbgrader copies every source file over the submission except these.",
            f"c.Autograde.exclude_overwriting = {{{course.assignment!r}: {list(student_files)!r}}}",
            f"c.Execute.timeout = {timeout}",
            "# A numpy warning on stderr must not zero a graded cell.",
            "c.IgnorePattern.enabled = True",
            f"c.IgnorePattern.pattern = {WARNING_PATTERN!r}",
            *REFUSAL_LINES,
            *extra,
            "",
        ]
    )


def register(course: Course, students: Iterable[str] = ()) -> None:
    """Create the assignment and ``students`` in the gradebook (nbgrader's Gradebook API).

    ``generate_assignment`` adds the notebooks and graded cells; this adds whom to grade,
    so that the formgrader lists students before they submit.
    """
    from nbgrader.api import Gradebook  # slow import, needed only here

    if not course.gradebook.exists():
        raise CourseError(
            course.gradebook, None, "register: the course is not set up (call Course.setup first)"
        )
    ids = [check_student_id(student) for student in students]
    with (
        environment(PATH=_path_with_scripts(os.environ.get("PATH", ""))),
        Gradebook(course.db_url, COURSE_ID) as gradebook,
    ):
        gradebook.update_or_create_assignment(course.assignment)
        for student in ids:
            gradebook.update_or_create_student(student)
    course.secure_gradebook()


def _path_with_scripts(path: str) -> str:
    """``path`` with this interpreter's scripts folder first.

    nbgrader creates a new gradebook by running the ``alembic`` command found on PATH,
    which is missing when the interpreter of a virtual environment runs unactivated.
    """
    scripts = str(Path(sys.executable).parent)
    return os.pathsep.join([scripts] + [p for p in path.split(os.pathsep) if p and p != scripts])
