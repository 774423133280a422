"""The notebooks' set-up cell, written once here and rendered into every notebook.

The cell finds the ``assignment`` package: beside the notebook (the release), one folder up
(the course source), or, on Colab, on the student's Google Drive (``My Drive/assignment2``
or a copy nested one level deeper), cloned there from the course's repository when one is
set. It installs only what the runtime lacks, never needs a restart, and ends every failure
with one sentence that says what to do (and stops "Run all" there) instead of a traceback:
IPython shows what an exception's ``_render_traceback_`` returns in place of the traceback.

The source notebooks hold :func:`render` without a repository; the release build renders it
again with the instructor's ``--repo-url`` (:func:`apply`), and a test keeps the source
notebooks equal to the template.
"""

from __future__ import annotations

import string

# The first line of the cell: how the release build and the drift test find it.
FIRST_LINE = "# Set-up: find the assignment package"
DRIVE_FOLDER = "assignment2"
DEFAULT_BRANCH = "main"

TEMPLATE = string.Template('''\
# Set-up: find the assignment package (beside this notebook in the student release, one folder
# up in the course source). On Colab your copy lives on Google Drive, so your edits persist.
# Run this cell first whenever you open the notebook; it never needs a runtime restart.
import glob
import importlib
import importlib.util
import os
import subprocess
import sys

# Set by your course; empty when you upload the folder to Drive yourself.
ASSIGNMENT_REPO = "$repo"
ASSIGNMENT_BRANCH = "$branch"
DRIVE_FOLDER = "$folder"  # the assignment's folder in My Drive on Colab
COLAB_DRIVE = "/content/drive"
NEEDED = {"numpy": "numpy", "scipy": "scipy", "matplotlib": "matplotlib", "PIL": "pillow",
          "tqdm": "tqdm"}


class SetupStopped(Exception):
    """Stops "Run all" here rather than in a later cell; Jupyter shows only its sentence."""

    def _render_traceback_(self):
        return [str(self)]


def _holding_assignment(*folders):
    return next((os.path.abspath(f) for f in folders
                 if os.path.isdir(os.path.join(f, "assignment"))), None)


def _colab_root():
    """The folder on Drive (mounted here), cloned from ASSIGNMENT_REPO when it is missing."""
    from google.colab import drive
    drive.mount(COLAB_DRIVE)
    my_drive = os.path.join(COLAB_DRIVE, "MyDrive")
    home = os.path.join(my_drive, DRIVE_FOLDER)
    # An upload often lands one level too deep (the zip's own folder inside assignment2/).
    nested = (sorted(glob.glob(os.path.join(home, "*")))
              + sorted(glob.glob(os.path.join(my_drive, "*", DRIVE_FOLDER))))
    root = _holding_assignment(home, *nested)
    if root:
        return root
    if not ASSIGNMENT_REPO:
        raise SetupStopped(f"Upload the assignment folder, unzipped, to Google Drive as "
                           f"My Drive/{DRIVE_FOLDER} (the folder that holds assignment/), "
                           "then run this cell again.")
    if os.path.isdir(home) and os.listdir(home):
        raise SetupStopped(f"My Drive/{DRIVE_FOLDER} exists but holds no assignment/ folder: "
                           "rename it, then run this cell again to download a fresh copy.")
    print(f"Downloading the assignment into My Drive/{DRIVE_FOLDER} ...")
    done = subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch",
                           ASSIGNMENT_BRANCH, ASSIGNMENT_REPO, home],
                          capture_output=True, text=True)
    if done.returncode != 0 or not _holding_assignment(home):
        said = next((line[len("fatal: "):] for line in done.stderr.splitlines()
                     if line.startswith("fatal: ")), "no assignment/ folder in it")
        raise SetupStopped(f"Could not download the assignment from {ASSIGNMENT_REPO} (git "
                           f"said: {said}); check the link from your course and the internet "
                           "connection, then run this cell again.")
    print(f"The assignment is now in My Drive/{DRIVE_FOLDER}: open the notebooks from there "
          "(right-click, Open with, Google Colaboratory) so that your work is saved.")
    return home


ON_COLAB = "google.colab" in sys.modules
ROOT = _holding_assignment(".", "..") or (_colab_root() if ON_COLAB else None)
if ROOT is None:
    raise SetupStopped("Start Jupyter in the assignment folder (the one that holds "
                       "assignment/) and open this notebook from there.")
MISSING = [package for module, package in NEEDED.items()
           if importlib.util.find_spec(module) is None]
if MISSING and ON_COLAB:
    if subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *MISSING],
                      capture_output=True).returncode != 0:
        raise SetupStopped(f"Could not install {' '.join(MISSING)}: run !pip install "
                           f"{' '.join(MISSING)} in a new cell, then run this cell again.")
    importlib.invalidate_caches()
elif MISSING:
    raise SetupStopped(f"This Python lacks {', '.join(MISSING)}: run pip install -r "
                       "requirements.txt in the assignment folder, then restart the kernel.")
if ON_COLAB:
    os.chdir(ROOT)  # the data and the submission are found from the assignment folder
    print(f"Using the assignment in {ROOT}")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from assignment.notebook import setup_notebook
setup_notebook()''')


def render(repo_url: str | None = None, branch: str = DEFAULT_BRANCH) -> str:
    """The set-up cell's source, cloning ``repo_url`` at ``branch`` on Colab when given."""
    for name, value in (("repo_url", repo_url or ""), ("branch", branch)):
        if any(c in value for c in "\n\r\"'\\") or value != value.strip():
            raise ValueError(
                f"setup_cell.render: {name} must be one line without quotes, "
                f"backslashes or surrounding spaces, got {value!r}"
            )
    if not branch:
        raise ValueError("setup_cell.render: expected a branch name, got ''")
    return TEMPLATE.substitute(repo=repo_url or "", branch=branch, folder=DRIVE_FOLDER)


def is_setup_cell(cell) -> bool:
    """A notebook cell holding the set-up code (by its first line)."""
    return cell.get("cell_type") == "code" and _source(cell).startswith(FIRST_LINE)


def apply(nb, source: str) -> int:
    """Replace the source of every set-up cell of ``nb`` (ids and metadata kept); how many."""
    count = 0
    for cell in nb.cells:
        if is_setup_cell(cell):
            cell.source = source
            count += 1
    return count


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source
