"""The Gradescope autograder: this source tree in a zip that runs the hardened grader there.

    python -m grading gradescope --out build/gradescope     # writes autograder.zip

Gradescope unzips the bundle into ``/autograder/source``, runs ``setup.sh`` once when it
builds the image (Python packages pinned by ``constraints.txt``, the CPU torch wheel,
CIFAR-10 for Part V), then runs ``run_autograder`` in a fresh container per submission.
That calls ``python -m grading.hardened.gradescope run``: the same unpacking and
:class:`~grading.hardened.grader.Grader` as ``python -m grading check``, on
``/autograder/submission`` in any layout a student's upload has (the release layout at the
top, one folder holding it, or the zip that ``python -m assignment.submit`` writes), and
``/autograder/results/results.json`` in Gradescope's format with:

- every check's score visible at once, and what its hidden cases found in a companion
  test shown only once grades are published;
- the notebooks' written questions, which Gradescope cannot grade, listed for grading by
  hand with the code's score out of its points and the total so far (the top-level output
  of :func:`grading.hardened.reports.results_json`; the list again in ``extra_data``), with
  the isolation level in force;
- a submission that cannot be graded (an unreadable zip, no ``assignment/`` folder)
  scoring 0 with a message that says what to upload, never a bare traceback.

``AUTOGRADER_ROOT`` replaces ``/autograder`` (the course kit's tests lay out a folder like
it); only then does ``AUTOGRADER_CHECKS`` (names, comma-separated) restrict the checks.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

from assignment.check import as_points, feedback
from assignment.checks import CheckResult
from grading.errors import GradingError
from grading.hardened.grader import Grader
from grading.hardened.reports import results_json, written_text
from grading.hardened.sandbox import Limits
from grading.hardened.submissions import SubmissionError, release_root, unpack
from grading.layout import DATASETS, NOTEBOOKS, PACKAGE, REPO_ROOT
from grading.release.notebook_transforms import WrittenQuestion, written_questions
from grading.util import atomic_write, write_text_atomically

DEFAULT_ROOT = Path("/autograder")
ROOT_ENV = "AUTOGRADER_ROOT"
CHECKS_ENV = "AUTOGRADER_CHECKS"
ZIP_NAME = "autograder.zip"
# What the grader reads of the source: the package with its solutions and check data, the
# grading tools, the notebooks (the stubs name them; their written questions are listed),
# the download tool for setup.sh and the pinned requirements. Never tests, builds or data.
BUNDLED_DIRS = (PACKAGE, "grading", NOTEBOOKS)
BUNDLED_FILES = ("requirements.txt", "constraints.txt", f"{DATASETS}/get_datasets.py")
SKIPPED = ("__pycache__", "*.pyc", "*.pyo", ".ipynb_checkpoints", "*.partial")
UPLOAD_HINT = (
    "upload the folder that holds assignment/ and the notebooks, or the zip that "
    "`python -m assignment.submit` writes"
)

# The template of setup.sh; {torch} is the version constraints.txt pins.
SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image: Python 3.11
# or newer in a virtual environment at /autograder/venv (outside source/, which the grader
# hides from the code it tests), the CPU torch wheel, then the versions the course kit was
# tested with (constraints.txt) within the ranges it needs (requirements.txt).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    apt-get update
    apt-get install -y python3.11 python3.11-venv
    PYTHON=python3.11
fi
if ! "$PYTHON" -m venv /autograder/venv; then
    apt-get update
    apt-get install -y "$(basename "$PYTHON")-venv"
    "$PYTHON" -m venv /autograder/venv
fi
PIP="/autograder/venv/bin/python -m pip"
$PIP install --upgrade pip
$PIP install torch=={torch} --index-url https://download.pytorch.org/whl/cpu
$PIP install -c constraints.txt -r requirements.txt
# Part V is graded on CIFAR-10's test images, as students trained for; without this line
# the grader uses the embedded stand-in and its lower accuracy thresholds.
/autograder/venv/bin/python datasets/get_datasets.py cifar10
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this once per submission: the hardened grader on $ROOT/submission, the
# grades in $ROOT/results/results.json. AUTOGRADER_ROOT replaces /autograder (tests).
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="$ROOT/venv/bin/python"
[ -x "$PYTHON" ] || PYTHON=python3
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/results.json"
status=0
(cd "$ROOT/source" && "$PYTHON" -m grading.hardened.gradescope run --root "$ROOT") || status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    # The grader itself could not start: still a result, with a message, for the student.
    printf '{"score": 0, "output": "The autograder stopped before grading (exit status %s); '\\
'your instructor will look at this submission.", "stdout_visibility": "hidden"}\\n' \\
        "$status" > "$ROOT/results/results.json"
fi
exit "$status"
"""

SCRIPTS = ("setup.sh", "run_autograder")


@dataclass(frozen=True)
class Bundle:
    """What :func:`write_bundle` wrote: the zip, the same files unzipped, their names."""

    zip: Path
    folder: Path
    files: list[str]


# -- the bundle ------------------------------------------------------------------------------


def write_bundle(out: Path, source_root: Path = REPO_ROOT) -> Bundle:
    """Write ``out/autograder.zip`` and the folder it unzips to, ``out/autograder/``
    (both replaced), from the source tree at ``source_root``."""
    source_root, out = Path(source_root).resolve(), Path(out)
    files = bundled_files(source_root)
    folder = out / "autograder"
    out.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        shutil.rmtree(folder)
    for rel in files:
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((source_root / rel).read_bytes())
    scripts = {
        "setup.sh": SETUP_SH.format(torch=torch_pin(source_root)),
        "run_autograder": RUN_AUTOGRADER,
    }
    for name, text in scripts.items():
        (folder / name).write_text(text, encoding="utf-8")
        (folder / name).chmod(0o755)
    names = sorted([*files, *SCRIPTS])

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for rel in names:
                # A fixed date: the same source gives the same zip.
                info = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o100755 if rel in SCRIPTS else 0o100644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, (folder / rel).read_bytes())

    return Bundle(atomic_write(out / ZIP_NAME, write), folder, names)


def bundled_files(source_root: Path) -> list[str]:
    """The source-relative paths that go into the bundle (see :data:`BUNDLED_DIRS`)."""
    files = []
    for top in BUNDLED_DIRS:
        folder = source_root / top
        if not folder.is_dir():
            raise GradingError(top, None, "gradescope: the source has no such folder")
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(source_root)
            if any(fnmatch.fnmatch(part, p) for part in rel.parts for p in SKIPPED):
                continue
            if top == NOTEBOOKS and rel.suffix != ".ipynb":
                continue  # the pictures beside the notebooks are for students only
            if path.is_symlink():
                raise GradingError(rel, None, "gradescope: links are not bundled; make it a file")
            if path.is_file():
                files.append(rel.as_posix())
    for rel in BUNDLED_FILES:
        if not (source_root / rel).is_file():
            raise GradingError(rel, None, "gradescope: missing; the autograder needs it")
        files.append(rel)
    return files


def torch_pin(source_root: Path) -> str:
    """The torch version that ``constraints.txt`` pins (setup.sh takes its CPU wheel)."""
    path = Path(source_root) / "constraints.txt"
    found = re.search(r"^torch==(\S+)\s*$", path.read_text(encoding="utf-8"), re.MULTILINE)
    if found is None:
        raise GradingError(path.name, None, "gradescope: expected a line torch==VERSION in it")
    return found.group(1)


# -- in the container ------------------------------------------------------------------------


def run(
    root: Path = DEFAULT_ROOT,
    *,
    checks: list[str] | None = None,
    limits: Limits = Limits(),
    source_root: Path = REPO_ROOT,
) -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json``; returns its data.

    Whatever goes wrong, results.json is written: a submission that cannot be graded scores
    0 with the reason; the grading log goes to stdout (hidden from students).
    """
    root, start = Path(root), time.monotonic()
    if Path(source_root).resolve() == (root / "source").resolve():
        # Where the sandbox runs as a user of its own, it must not read the reference
        # solutions in the bundle (a source tree elsewhere is left as it is).
        Path(source_root).chmod(0o700)
    questions = written_questions(Path(source_root) / NOTEBOOKS)
    try:
        with tempfile.TemporaryDirectory(prefix="gradescope-") as scratch:
            unpacked = unpack(submission_entry(root / "submission"), Path(scratch) / "submission")
            if not (unpacked.root / PACKAGE).is_dir():
                raise SubmissionError(
                    "submission", None, f"no {PACKAGE}/ folder in what was uploaded; {UPLOAD_HINT}"
                )
            grader = Grader(Path(scratch) / "work", checks=checks, source_root=source_root)
            report = grader.grade(unpacked.root, limits=limits)
        print("\n".join([*unpacked.notes, report.log]))
        data = gradescope_results(report.results, report.isolation, questions)
    except GradingError as error:
        print(f"not graded: {error}")
        data = failed_results(f"This submission could not be graded: {error}", questions)
    except Exception:  # noqa: BLE001 - the student gets a result; the log keeps the traceback
        print(traceback.format_exc())
        data = failed_results(
            "The autograder failed on this submission; your instructor will look at it.",
            questions,
        )
    data["execution_time"] = round(time.monotonic() - start)
    target = root / "results" / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(target, json.dumps(data, indent=2) + "\n")
    return data


def submission_entry(folder: Path) -> Path:
    """What in Gradescope's submission folder is the submission: the folder itself when it
    (or its only subfolder) holds ``assignment/``, else the one zip in it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionError(folder, None, "no submission folder")
    if (release_root(folder) / PACKAGE).is_dir():
        return folder
    zips = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".zip")
    if len(zips) == 1:
        return zips[0]
    found = ", ".join(sorted(p.name for p in folder.iterdir())[:10]) or "nothing"
    raise SubmissionError(
        "submission",
        None,
        f"found no {PACKAGE}/ folder and {'several zips' if zips else 'no zip'} "
        f"(it holds {found}); {UPLOAD_HINT}",
    )


def gradescope_results(
    results: list[CheckResult], isolation: str, questions: list[WrittenQuestion]
) -> dict:
    """results.json: the checks' results (:func:`results_json`), each hidden case's details
    moved to a companion test shown after publication, and the written questions."""
    data = results_json(results, isolation, written=questions)
    tests = []
    for result, test in zip(results, data["tests"]):
        hidden = [o for o in result.outcomes if o.hidden and (o.messages or o.notes)]
        if not hidden:
            tests.append(test)
            continue
        public = dataclasses.replace(result, outcomes=[o for o in result.outcomes if not o.hidden])
        failed = sum(1 for o in hidden if o.messages)
        what = (
            f"{failed} hidden case{'s' * (failed != 1)} failed"
            if failed
            else "notes on hidden cases"
        )
        tests.append(
            {
                **test,
                "output": "\n".join(
                    t
                    for t in (
                        feedback(public),
                        f"{what}: see '{result.name}: hidden cases' once grades are published.",
                    )
                    if t
                ),
            }
        )
        tests.append(
            {
                "name": f"{result.name}: hidden cases",
                "status": test["status"],
                "output": test["output"],
                "visibility": "after_published",
            }
        )
    data["tests"] = tests
    return _finish(data, isolation, questions)


def failed_results(message: str, questions: list[WrittenQuestion]) -> dict:
    """results.json of a submission that could not be graded: 0 points and why."""
    output = "\n".join(t for t in (message, written_text(questions)) if t)
    data = {"score": 0, "output": output, "tests": []}
    return _finish(data, "none", questions)


def _finish(data: dict, isolation: str, questions: list[WrittenQuestion]) -> dict:
    # The grading log on stdout may quote what the student's code printed in hidden cases.
    data["stdout_visibility"] = "hidden"
    data["extra_data"] = {
        "isolation": isolation,
        "written_questions": [
            {**dataclasses.asdict(q), "points": as_points(q.points)} for q in questions
        ],
    }
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.hardened.gradescope")
    verbs = parser.add_subparsers(dest="verb", required=True)
    grade = verbs.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json")
    grade.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV, DEFAULT_ROOT)))
    args = parser.parse_args(argv)
    checks = None
    # Tests grade a few checks; on Gradescope (no AUTOGRADER_ROOT) every check always runs.
    if os.environ.get(ROOT_ENV) and os.environ.get(CHECKS_ENV):
        checks = [c.strip() for c in os.environ[CHECKS_ENV].split(",") if c.strip()]
    data = run(args.root, checks=checks)
    print(f"score {data['score']}; results in {args.root / 'results' / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
