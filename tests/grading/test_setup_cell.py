"""The notebooks' set-up cell on a simulated Colab and on a laptop.

Each case runs the rendered cell in a fresh IPython shell (a subprocess) whose working folder
holds no ``assignment/``, with a fake ``google.colab`` whose ``drive.mount`` mounts a folder
of the test's, and with the ``imp`` module gone as on Python 3.12+, its autoreload extension
failing the way IPython 7.34's (Colab's) does without it.

SETUP_CELL_PYTHON=/path/to/python runs the cases with another interpreter, e.g. Colab's
Python 3.12 with IPython 7.34 and numpy, scipy, matplotlib, pillow and tqdm installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from grading.layout import REPO_ROOT
from grading.release import hand_in_cell, setup_cell

pytestmark = pytest.mark.grading

RUNNER = textwrap.dedent('''\
    import json, os, sys, types

    drive_root, cell_file, after_file, colab = sys.argv[1:5]

    class Python312:
        """No `imp`; IPython 7's autoreload imports it."""
        def find_spec(self, name, path=None, target=None):
            if name == "imp" or (name == "IPython.extensions.autoreload"
                                 and "imp" not in sys.modules):
                raise ModuleNotFoundError("No module named 'imp'", name="imp")
            return None

    sys.modules.pop("imp", None)
    sys.modules.pop("IPython.extensions.autoreload", None)
    sys.meta_path.insert(0, Python312())
    if colab == "1":
        google, package, drive = (types.ModuleType(n) for n in
                                  ("google", "google.colab", "google.colab.drive"))
        drive.mount = lambda path: os.makedirs(os.path.join(path, "MyDrive"), exist_ok=True)
        google.colab, package.drive = package, drive
        sys.modules.update({"google": google, "google.colab": package,
                            "google.colab.drive": drive})

    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    source = open(cell_file).read().replace('COLAB_DRIVE = "/content/drive"',
                                            f"COLAB_DRIVE = {drive_root!r}")
    ok = shell.run_cell(source).success
    after = open(after_file).read()
    ok_after = ok and all(shell.run_cell(part).success
                          for part in after.split("# --- next cell\\n") if part)
    print("RESULT=" + json.dumps({"ok": ok, "ok_after": ok_after, "cwd": os.getcwd(),
                                  "autoreload": "autoreload" in shell.magics_manager.magics["line"],
                                  "probe": shell.user_ns.get("probe")}))
''')


def _package_copy(dest: Path) -> Path:
    """A folder in the release layout holding a copy of this repository's package."""
    shutil.copytree(
        REPO_ROOT / "assignment",
        dest / "assignment",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return dest


def _git(*args, cwd):
    subprocess.run(
        ["git", "-c", "user.name=course", "-c", "user.email=course@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _remote(tmp_path: Path) -> str:
    repo = _package_copy(tmp_path / "remote")
    _git("init", "--quiet", "--initial-branch", "main", cwd=repo)
    _git("add", ".", cwd=repo)
    _git("commit", "--quiet", "-m", "release", cwd=repo)
    return repo.as_uri()


def _run(tmp_path: Path, cell: str, *, colab: bool = True, after: str = ""):
    work = tmp_path / "content"
    work.mkdir(exist_ok=True)
    drive = tmp_path / "drive"
    (tmp_path / "cell.py").write_text(cell)
    (tmp_path / "after.py").write_text(after)
    (tmp_path / "runner.py").write_text(RUNNER)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": "",
    }
    python = os.environ.get("SETUP_CELL_PYTHON", sys.executable)
    done = subprocess.run(
        [
            python,
            str(tmp_path / "runner.py"),
            str(drive),
            str(tmp_path / "cell.py"),
            str(tmp_path / "after.py"),
            "1" if colab else "0",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((text for text in done.stdout.splitlines() if text.startswith("RESULT=")), None)
    assert line, f"the runner failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(line[len("RESULT=") :]), done.stdout + done.stderr


CHECK = (
    "from assignment.check import run_checks\n"
    "probe = [r.status for r in run_checks(['affine_forward'])]\n"
)


def test_clones_from_the_course_repository_imports_and_checks(tmp_path):
    result, output = _run(tmp_path, setup_cell.render(_remote(tmp_path)), after=CHECK)
    home = tmp_path / "drive" / "MyDrive" / "assignment2"
    assert (home / "assignment" / "layers.py").is_file()
    assert result["ok_after"], output
    assert result["probe"] == ["passed"]
    assert result["cwd"] == str(home)
    assert result["autoreload"], "autoreload was not loaded without `imp`"


def test_finds_the_folder_already_on_drive_without_cloning(tmp_path):
    _package_copy(tmp_path / "drive" / "MyDrive" / "assignment2")
    result, output = _run(tmp_path, setup_cell.render("file:///nowhere/at/all.git"), after=CHECK)
    assert result["ok_after"], output
    assert "Downloading" not in output


def test_finds_a_copy_nested_one_level_too_deep(tmp_path):
    nested = _package_copy(tmp_path / "drive" / "MyDrive" / "assignment2" / "assignment2")
    result, output = _run(tmp_path, setup_cell.render(_remote(tmp_path)), after=CHECK)
    assert result["ok_after"], output
    assert result["cwd"] == str(nested)
    assert not (tmp_path / "drive" / "MyDrive" / "assignment2" / "assignment").exists()


def _one_sentence(output: str, start: str) -> str:
    lines = [text for text in output.splitlines() if start in text]
    assert len(lines) == 1, output
    assert "Traceback" not in output and "CalledProcessError" not in output, output
    assert "An exception has occurred" not in output and "Error" not in output, output
    assert "fatal:" not in output.replace(lines[0], ""), output
    return lines[0]


def test_without_repository_or_folder_says_how_to_upload(tmp_path):
    result, output = _run(tmp_path, setup_cell.render(None))
    assert not result["ok"]
    line = _one_sentence(output, "Upload the assignment folder")
    assert "My Drive/assignment2" in line and "run this cell again" in line


def test_a_repository_that_cannot_be_reached_gives_one_sentence(tmp_path):
    result, output = _run(tmp_path, setup_cell.render((tmp_path / "missing.git").as_uri()))
    assert not result["ok"]
    line = _one_sentence(output, "Could not download the assignment")
    assert "check the link" in line


def test_a_folder_without_the_package_is_not_cloned_over(tmp_path):
    (tmp_path / "drive" / "MyDrive" / "assignment2").mkdir(parents=True)
    (tmp_path / "drive" / "MyDrive" / "assignment2" / "notes.txt").write_text("mine")
    result, output = _run(tmp_path, setup_cell.render(_remote(tmp_path)))
    assert not result["ok"]
    _one_sentence(output, "holds no assignment/ folder")


def test_on_a_laptop_outside_the_folder_says_where_to_start(tmp_path):
    result, output = _run(tmp_path, setup_cell.render(None), colab=False)
    assert not result["ok"]
    _one_sentence(output, "Start Jupyter in the assignment folder")


def test_on_a_laptop_in_the_folder_autoreload_works_without_imp(tmp_path):
    _package_copy(tmp_path / "content")
    probe = tmp_path / "content" / "reload_probe.py"
    probe.write_text("VALUE = 1\n")
    edit = (
        "import os, reload_probe\n"
        "# --- next cell\n"
        f"open({str(probe)!r}, 'w').write('VALUE = 2\\n')\n"
        f"os.utime({str(probe)!r}, (1e10, 1e10))\n"
        "# --- next cell\n"
        "probe = reload_probe.VALUE\n"
    )
    result, output = _run(tmp_path, setup_cell.render(None), colab=False, after=edit)
    assert result["ok_after"], output
    assert result["autoreload"]
    assert result["probe"] == 2, "an edited module was not reloaded before the next cell"


def test_render_puts_the_repository_and_branch_in_and_refuses_quotes():
    source = setup_cell.render("https://github.com/course/a2.git", "spring")
    assert 'ASSIGNMENT_REPO = "https://github.com/course/a2.git"' in source
    assert 'ASSIGNMENT_BRANCH = "spring"' in source
    compile(source, "cell", "exec")
    with pytest.raises(ValueError, match="repo_url"):
        setup_cell.render('https://x"; import os')


def _source_notebooks():
    return [
        (path, nbformat.read(path, as_version=4))
        for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    ]


def test_no_source_notebook_drifts_from_the_template():
    template = setup_cell.render(None)
    for path, nb in _source_notebooks():
        cells = [c for c in nb.cells if setup_cell.is_setup_cell(c)]
        assert len(cells) == 1, f"{path.name}: expected one set-up cell, found {len(cells)}"
        assert cells[0].source == template, (
            f"{path.name}: its set-up cell differs from grading/release/setup_cell.py; "
            "regenerate it "
            "with setup_cell.apply(nb, setup_cell.render())"
        )


def test_every_source_notebook_ends_with_the_hand_in_cell():
    for path, nb in _source_notebooks():
        assert hand_in_cell.is_hand_in_cell(nb.cells[-1]), (
            f"{path.name}: the last cell is not the hand-in cell; add it with "
            "grading.release.hand_in_cell.ensure"
        )
        assert nb.cells[-1].source == hand_in_cell.SOURCE, (
            f"{path.name}: its hand-in cell differs from grading/release/hand_in_cell.py"
        )
        assert sum(hand_in_cell.is_hand_in_cell(c) for c in nb.cells) == 1, path.name
