"""Tests of grading/release/build.py: the student release built from a source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grading.errors import LeakError, ReleaseError, StripError
from grading.layout import REPO_ROOT, select_notebooks
from grading.release.build import assemble, build_release
from grading.release.stage import (
    notebook_index,
    stage_datasets_tool,
    stage_notebook_assets,
    stage_notebooks,
    stage_package,
    stage_source,
    stage_top_files,
    student_regions,
)

pytestmark = pytest.mark.grading

LAYERS = '''"""Layers of the fake assignment."""
import numpy as np


def affine_forward(x, w, b):
    """
    Inputs:
    - x: (N, D)
    - w: (D, M)
    - b: (M,)

    Returns:
    - out: (N, M)
    - cache: (x, w, b)
    """
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1).dot(w) + b  # (N, M)
    ### END SOLUTION
    return out, (x, w, b)


def double(x):
    """Provided: twice x."""
    return 2 * x


class TwoLayerNet:
    def loss(self, X):
        ### BEGIN SOLUTION
        scores = np.exp(X) / np.sum(np.exp(X), axis=1, keepdims=True)
        ### END SOLUTION
        return scores
'''

CASES = '''"""Fake check cases."""

CASES = [
    ("affine_forward", 0),
    ### BEGIN HIDDEN TESTS
    ("affine_forward", 9876543210),  # seed kept for the grader only
    ### END HIDDEN TESTS
]
'''

SETUP = """import os, sys
for root in (os.getcwd(), os.path.dirname(os.getcwd())):
    if os.path.isdir(os.path.join(root, "assignment")):
        sys.path.insert(0, root)
        break
import numpy as np
from assignment.layers import affine_forward"""

SOLUTION_CELL = """def scale(x):
    ### BEGIN SOLUTION
    return 3.0 * x  # the secret scaling factor of the fake assignment
    ### END SOLUTION"""

TEST_CELL = """out, _ = affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4))
assert out.shape == (2, 4), "out has the wrong shape"
### BEGIN HIDDEN TESTS
assert np.allclose(out, 3.0), "hidden: every entry of out should be 3"
### END HIDDEN TESTS"""

WARNING_CELL = """with np.errstate(over="warn"):
    big = np.exp(np.array([1000.0]))  # overflow: numpy warns on stderr
assert np.isinf(big[0])"""

ANSWER = (
    "**Your answer:** a larger learning rate takes longer steps along the negative "
    "gradient and may overshoot the minimum."
)


def nbgrader_meta(grade_id, *, solution=False, grade=False, points=0):
    meta = {
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "grade": grade,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def fake_notebook() -> nbformat.NotebookNode:
    """One notebook: setup, one solution cell, graded test cells, one manual answer cell."""
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# Fake notebook\nImplement `affine_forward`."),
        v4.new_code_cell(SETUP),
        v4.new_code_cell(SOLUTION_CELL, metadata=nbgrader_meta("scale", solution=True)),
        v4.new_code_cell(TEST_CELL, metadata=nbgrader_meta("test_affine", grade=True, points=2)),
        v4.new_code_cell(
            WARNING_CELL, metadata=nbgrader_meta("test_warning", grade=True, points=1)
        ),
        v4.new_markdown_cell(
            ANSWER, metadata=nbgrader_meta("answer", solution=True, grade=True, points=1)
        ),
    ]
    return v4.new_notebook(cells=cells, metadata={})


def write_fake_source(root: Path) -> Path:
    """A small source tree in the repository's layout, with things that must not ship."""
    files = {
        "assignment/__init__.py": '"""Fake student package."""\n',
        "assignment/layers.py": LAYERS,
        "assignment/helpers.py": '"""Provided helpers."""\n\n\ndef ones(n):\n    return [1] * n\n',
        "assignment/checks/__init__.py": "",
        "assignment/checks/cases.py": CASES,
        "assignment/__pycache__/layers.cpython-311.pyc": "bytecode of the reference",
        "datasets/get_datasets.py": '"""Fetch the data."""\nprint("fetching")\n',
        "datasets/get_datasets.sh": '#!/bin/sh\npython get_datasets.py "$@"\n',
        "datasets/README.md": "# Data\n",
        "datasets/cifar-10-batches-py/data_batch_1": "data that must not ship",
        "datasets/cifar-10-python.tar.gz.part": "partial download",
        "grading/release/student_README.md": (
            REPO_ROOT / "grading/release/student_README.md"
        ).read_text(),
        "grading/secret.py": "REFERENCE = 1\n",
        "tests/test_x.py": "def test_x():\n    pass\n",
        "requirements.txt": "numpy\n",
        "grading/release/student_requirements.txt": "numpy\n",
        "Makefile": "all:\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    np.savez(root / "assignment/checks/public_expected.npz", affine_out=np.full((2, 4), 3.0))
    np.savez(root / "assignment/checks/hidden_expected.npz", affine_out=np.zeros(3))
    (root / "notebooks/images").mkdir(parents=True)
    (root / "notebooks/images/cat.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    (root / "notebooks/.ipynb_checkpoints").mkdir()
    (root / "notebooks/.ipynb_checkpoints/FullyConnectedNets-checkpoint.ipynb").write_text("{}")
    nbformat.write(fake_notebook(), str(root / "notebooks/FullyConnectedNets.ipynb"))
    return root


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter whose only package path is ``cwd``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def fake_build(tmp_path_factory):
    """The release of the fake source, built once for the tests that only read it."""
    root = tmp_path_factory.mktemp("fake")
    source = write_fake_source(root / "source")
    report = build_release(source, root / "release")
    return source, report


# -- the steps, one by one -----------------------------------------------------------------


def test_stage_package_strips_and_leaves_caches_and_hidden_data(tmp_path):
    """Does staging the package strip every .py and leave bytecode and hidden data behind?"""
    source = write_fake_source(tmp_path / "src")
    staged = stage_package(source, tmp_path / "out", lambda qualname, path: None)
    assert sorted(staged.files) == [
        "assignment/__init__.py",
        "assignment/checks/__init__.py",
        "assignment/checks/cases.py",
        "assignment/checks/provided.json",
        "assignment/checks/public_expected.npz",
        "assignment/helpers.py",
        "assignment/layers.py",
    ]
    assert [(s.qualname, s.line) for s in staged.stripped] == [
        ("affine_forward", 16),
        ("TwoLayerNet.loss", 29),
    ]
    assert staged.hidden_regions == 1 and staged.student_files == ["assignment/layers.py"]
    assert "out = x.reshape(x.shape[0], -1).dot(w) + b # (N, M)" in staged.fingerprints
    assert not (tmp_path / "out/assignment/__pycache__").exists()
    helpers = "assignment/helpers.py"
    assert (tmp_path / "out" / helpers).read_bytes() == (source / helpers).read_bytes()


def test_stage_notebooks_refuses_marker_outside_solution_cell(tmp_path):
    """Is a solution marker in a cell nbgrader would not clear refused with cell and line?"""
    source = write_fake_source(tmp_path / "src")
    path = source / "notebooks/FullyConnectedNets.ipynb"
    nb = nbformat.read(str(path), 4)
    nb.cells[1].source += "\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    nbformat.write(nb, str(path))
    (tmp_path / "out").mkdir()
    with pytest.raises(StripError) as caught:
        stage_notebooks(select_notebooks(source), tmp_path / "out", source)
    assert (caught.value.path, caught.value.cell, caught.value.line) == (
        "notebooks/FullyConnectedNets.ipynb",
        1,
        8,
    )


def test_stage_notebooks_collects_reference_and_public_code(tmp_path):
    """Do hidden tests, solution text and manual answers count as reference, tests as public?"""
    source = write_fake_source(tmp_path / "src")
    (tmp_path / "out").mkdir()
    staged = stage_notebooks(select_notebooks(source), tmp_path / "out", source)
    assert staged.notebooks == ["FullyConnectedNets.ipynb"]
    prints = staged.fingerprints
    assert 'assert np.allclose(out, 3.0), "hidden: every entry of out should be 3"' in prints
    assert "return 3.0 * x # the secret scaling factor of the fake assignment" in prints
    assert ANSWER in prints
    assert 'assert out.shape == (2, 4), "out has the wrong shape"' in staged.public_code


def test_stage_notebook_assets_go_beside_the_notebooks(tmp_path):
    """Do the notebooks' pictures keep their path relative to the notebooks, checkpoints not?"""
    source = write_fake_source(tmp_path / "src")
    staged = stage_notebook_assets(source, tmp_path / "out")
    assert staged.files == ["images/cat.jpg"]
    assert staged.origins["images/cat.jpg"] == ("notebooks/images/cat.jpg", None)


def test_notebook_asset_may_not_replace_the_release_readme(tmp_path):
    """Is a notebooks/README.md refused rather than silently replacing the student README?"""
    source = write_fake_source(tmp_path / "src")
    (source / "notebooks/README.md").write_text("# Notes\n")
    with pytest.raises(ReleaseError, match="notebooks/README.md: stage_notebook_assets"):
        stage_notebook_assets(source, tmp_path / "out")


def test_stage_datasets_tool_copies_no_data(tmp_path):
    """Does only the download tool of datasets/ get staged, never data or partial downloads?"""
    source = write_fake_source(tmp_path / "src")
    staged = stage_datasets_tool(source, tmp_path / "out")
    assert staged.files == [
        "datasets/README.md",
        "datasets/get_datasets.py",
        "datasets/get_datasets.sh",
    ]


def test_stage_top_files_needs_the_student_readme(tmp_path):
    """Is a missing student README an error naming it?"""
    source = write_fake_source(tmp_path / "src")
    (source / "grading/release/student_README.md").unlink()
    with pytest.raises(ReleaseError, match="grading/release/student_README.md: stage_top_files"):
        stage_top_files(source, tmp_path / "out")


def test_stage_source_runs_every_step_into_an_empty_folder(tmp_path):
    """Does staging write the notebooks and every step's files, and refuse a used folder?"""
    source = write_fake_source(tmp_path / "src")
    staged = stage_source(source, tmp_path / "staged")
    assert staged.notebooks == ["FullyConnectedNets.ipynb"]
    assert {
        "assignment/layers.py",
        "images/cat.jpg",
        "datasets/get_datasets.py",
        "README.md",
        "requirements.txt",
    } <= set(staged.files)
    assert (tmp_path / "staged/FullyConnectedNets.ipynb").exists()
    with pytest.raises(ReleaseError, match="not empty"):
        stage_source(source, tmp_path / "staged")


def test_notebook_index_prefers_curriculum_order(tmp_path):
    """Is a function attributed to the earliest notebook of the course that uses it?"""
    for name, text in [
        ("Dropout", "dropout_forward and affine_forward"),
        ("FullyConnectedNets", "affine_forward and FullyConnectedNet"),
    ]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
        nbformat.write(nb, str(tmp_path / f"{name}.ipynb"))
    notebook_of = notebook_index({p.name: p for p in tmp_path.glob("*.ipynb")})
    assert notebook_of("affine_forward") == "FullyConnectedNets.ipynb"
    assert notebook_of("dropout_forward") == "Dropout.ipynb"
    assert notebook_of("FullyConnectedNet.loss") == "FullyConnectedNets.ipynb"
    assert notebook_of("conv_forward_naive") is None


def test_assemble_fails_when_nbgrader_skipped_a_notebook(tmp_path):
    """Does a notebook without a generated student version stop the build?"""
    (tmp_path / "staged").mkdir()
    (tmp_path / "staged/Dropout.ipynb").write_text("{}")
    with pytest.raises(ReleaseError, match="notebooks/Dropout.ipynb"):
        assemble(tmp_path / "staged", [], tmp_path / "release")


# -- the whole build on the fake source ------------------------------------------------------


def test_release_layout_is_flat_and_complete(fake_build):
    """Does the release hold the README, requirements, top-level notebooks, package and tool?"""
    _, report = fake_build
    assert report.files == (
        "FullyConnectedNets.ipynb",
        "README.md",
        "assignment/__init__.py",
        "assignment/checks/__init__.py",
        "assignment/checks/cases.py",
        "assignment/checks/provided.json",
        "assignment/checks/public_expected.npz",
        "assignment/helpers.py",
        "assignment/layers.py",
        "datasets/README.md",
        "datasets/get_datasets.py",
        "datasets/get_datasets.sh",
        "images/cat.jpg",
        "requirements.txt",
    )
    assert report.notebooks == ("FullyConnectedNets.ipynb",)
    assert (report.stripped_regions, report.hidden_regions) == (2, 1)
    assert (report.out / "README.md").read_text() == (
        REPO_ROOT / "grading/release/student_README.md"
    ).read_text()


def test_release_notebook_is_stubbed_cleared_and_locked(fake_build):
    """Are solutions stubbed, hidden tests gone, outputs cleared and test cells locked?"""
    _, report = fake_build
    nb = nbformat.read(str(report.out / "FullyConnectedNets.ipynb"), 4)
    sources = [cell.source for cell in nb.cells]
    assert "raise NotImplementedError()" in sources[2] and "3.0 * x" not in sources[2]
    assert "HIDDEN" not in sources[3] and "np.allclose" not in sources[3]
    assert "out has the wrong shape" in sources[3]
    assert ANSWER not in sources[5]
    assert all(not cell.get("outputs") for cell in nb.cells)
    assert nb.cells[3].metadata.nbgrader["locked"] and not nb.cells[2].metadata.nbgrader["locked"]


def test_release_package_imports_and_stub_raises_with_its_name(fake_build):
    """Does the release package import, and does a stub raise naming itself and its notebook?"""
    _, report = fake_build
    done = run_python(
        "from assignment.layers import affine_forward, double\n"
        "assert double(2) == 4\n"
        "try:\n    affine_forward(1, 2, 3)\n"
        "except NotImplementedError as e:\n    print(e)\n",
        report.out,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "affine_forward: not implemented yet; write it in "
        "assignment/layers.py (see FullyConnectedNets.ipynb)"
    )


def test_release_checks_lose_hidden_cases(fake_build):
    """Are the hidden cases gone from the check files while the public ones stay?"""
    _, report = fake_build
    text = (report.out / "assignment/checks/cases.py").read_text()
    assert '("affine_forward", 0),' in text and "9876543210" not in text


def test_build_leaves_no_gradebook_and_no_instructor_file(fake_build):
    """Does nothing of the throwaway course or the instructor tree reach the release?"""
    _, report = fake_build
    names = {Path(f).name for f in report.files} | {Path(f).parts[0] for f in report.files}
    assert not names & {
        "gradebook.db",
        "nbgrader_config.py",
        "grading",
        "tests",
        "Makefile",
        "hidden_expected.npz",
        "cifar-10-batches-py",
        "notebooks",
    }


def test_student_regions_name_what_a_submission_provides(fake_build):
    """Does student_regions list each edited file with the functions students write?"""
    source, _ = fake_build
    assert student_regions(source) == {
        "assignment/layers.py": ("affine_forward", "TwoLayerNet.loss")
    }


# -- where the output may go -----------------------------------------------------------------


def test_non_empty_output_is_refused_unless_replacing(tmp_path):
    """Is a non-empty output refused, and with replace only its contents replaced?"""
    source = write_fake_source(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    (tmp_path / "neighbour.txt").write_text("keep")
    with pytest.raises(ReleaseError, match="not empty"):
        build_release(source, out, notebooks=[])
    assert (out / "old.txt").exists()
    build_release(source, out, replace=True, notebooks=[])
    assert not (out / "old.txt").exists() and (out / "README.md").exists()
    assert (tmp_path / "neighbour.txt").read_text() == "keep"


@pytest.mark.parametrize("where", [".", "..", "assignment/release", "notebooks"])
def test_output_overlapping_the_source_is_refused(tmp_path, where):
    """Is an output that holds the source, or lies in what the build reads, refused?"""
    source = write_fake_source(tmp_path / "src")
    with pytest.raises(ReleaseError, match="build_release: the output"):
        build_release(source, source / where, replace=True, notebooks=[])
    assert (source / "assignment/layers.py").exists()


def test_unknown_notebook_is_refused(tmp_path):
    """Is asking for a notebook that is not there an error listing those that are?"""
    source = write_fake_source(tmp_path / "src")
    with pytest.raises(ReleaseError, match=r"Dropout.ipynb: .*FullyConnectedNets.ipynb"):
        build_release(source, tmp_path / "out", notebooks=["Dropout"])


# -- planted leaks ---------------------------------------------------------------------------


def build_fails(source, tmp_path, **kwargs) -> ReleaseError:
    out = tmp_path / "out"
    with pytest.raises(ReleaseError) as caught:
        build_release(source, out, **kwargs)
    assert not out.exists(), "a failed build must not leave a release behind"
    return caught.value


def test_planted_malformed_marker_fails_with_file_and_line(tmp_path):
    """Does a mistyped marker in a .py fail the build at its line?"""
    source = write_fake_source(tmp_path / "src")
    path = source / "assignment/helpers.py"
    path.write_text(path.read_text() + "\n\ndef f():\n    ## BEGIN SOLUTION\n    return 1\n")
    error = build_fails(source, tmp_path, notebooks=[])
    assert str(error).startswith("assignment/helpers.py:9: malformed marker")


def test_planted_marker_phrase_in_shipped_text_fails(tmp_path):
    """Does a marker phrase in a shipped non-Python file fail the build at its line?"""
    source = write_fake_source(tmp_path / "src")
    (source / "datasets/README.md").write_text("# Data\nkeep BEGIN HIDDEN TESTS out\n")
    error = build_fails(source, tmp_path, notebooks=[])
    assert isinstance(error, LeakError)
    assert str(error) == "datasets/README.md:2: holds the marker 'BEGIN HIDDEN TESTS'"


def test_planted_hidden_test_in_public_comment_fails_at_source_line(tmp_path):
    """Does a hidden-test line copied into a comment fail, located in the source file?"""
    source = write_fake_source(tmp_path / "src")
    path = source / "assignment/layers.py"
    text = path.read_text().replace(
        '    """Provided: twice x."""',
        '    """Provided: twice x."""\n'
        '    # ("affine_forward", 9876543210),  # seed kept for the grader only',
    )
    path.write_text(text)
    line = (
        text.splitlines().index(
            '    # ("affine_forward", 9876543210),  # seed kept for the grader only'
        )
        + 1
    )
    error = build_fails(source, tmp_path, notebooks=[])
    assert (error.path, error.line) == ("assignment/layers.py", line)
    assert "reference solution or hidden tests" in str(error)


@pytest.mark.parametrize(
    "rel",
    [
        "assignment/nbgrader_config.py",
        "assignment/tests/test_a.py",
        "assignment/gradebook.db",
        "assignment/checks/expected_all.npz",
    ],
)
def test_planted_instructor_file_fails(tmp_path, rel):
    """Does an instructor-only file or unlisted data inside the package fail the build?"""
    source = write_fake_source(tmp_path / "src")
    (source / rel).parent.mkdir(parents=True, exist_ok=True)
    (source / rel).write_bytes(b"c = get_config()\n")
    error = build_fails(source, tmp_path, notebooks=[])
    assert isinstance(error, LeakError)
    assert error.path in (rel, str(Path(rel).parent))


@pytest.mark.slow
def test_planted_reference_line_in_notebook_markdown_fails_with_cell_and_line(tmp_path):
    """Does a solution line pasted into a markdown cell fail the build at its cell and line?"""
    source = write_fake_source(tmp_path / "src")
    path = source / "notebooks/FullyConnectedNets.ipynb"
    nb = nbformat.read(str(path), 4)
    nb.cells[0].source += "\nHint:\n\n    out = x.reshape(x.shape[0], -1).dot(w) + b  # (N, M)"
    nbformat.write(nb, str(path))
    error = build_fails(source, tmp_path)
    assert str(error).startswith(
        "notebooks/FullyConnectedNets.ipynb, cell 0, line 5: holds a line of the reference"
    )


# -- the real repository ---------------------------------------------------------------------


def copy_of_repository(dest: Path) -> Path:
    """The parts of the repository a release build reads, copied to ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "embedded", "cifar-10-*", "*.part")
    for folder in ("assignment", "notebooks", "datasets"):
        if (REPO_ROOT / folder).is_dir():
            shutil.copytree(REPO_ROOT / folder, dest / folder, ignore=ignore)
    (dest / "grading/release").mkdir(parents=True)
    shutil.copyfile(
        REPO_ROOT / "grading/release/student_README.md", dest / "grading/release/student_README.md"
    )
    shutil.copyfile(REPO_ROOT / "requirements.txt", dest / "requirements.txt")
    shutil.copyfile(
        REPO_ROOT / "grading/release/student_requirements.txt",
        dest / "grading/release/student_requirements.txt",
    )
    return dest


@pytest.fixture(scope="module")
def real_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "release"
    return build_release(REPO_ROOT, out)


@pytest.mark.slow
def test_real_release_ships_every_notebook_and_no_leak(real_build):
    """Does the repository's release hold every notebook, stripped, and pass the scan?"""
    shipped = {Path(f).name for f in real_build.files if f.endswith(".ipynb")}
    assert shipped == {p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb")}
    by_file = {}
    for stub in real_build.stripped:
        by_file.setdefault(stub.path, []).append(stub.qualname)
    assert {
        path: tuple(dict.fromkeys(names)) for path, names in by_file.items()
    } == student_regions(REPO_ROOT)
    assert set(real_build.student_files) == set(by_file)
    assert "assignment/checks/public_expected.npz" in real_build.files
    assert "README.md" in real_build.files and "requirements.txt" in real_build.files


@pytest.mark.slow
def test_real_release_code_fits_100_columns_and_names_nothing_undefined(real_build):
    """Do the student's files keep the source's line length, and does no stub leave a name
    the code after it uses undefined (``return out, cache`` after a raise)?"""
    pytest.importorskip("ruff")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--line-length", "100",
         "--select", "E501,F821", "--output-format", "concise", "assignment", "datasets"],
        cwd=real_build.out, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_real_release_imports_and_stubs_raise_with_their_names(real_build):
    """Does the real release import, and do its stubs raise NotImplementedError naming
    themselves?"""
    stubs = sorted({(s.path, s.qualname) for s in real_build.stripped if "." not in s.qualname})
    code = "\n".join(
        [
            "import importlib, inspect, json",
            f"stubs = {stubs!r}",
            "named = []",
            "for path, name in stubs:",
            "    module = importlib.import_module(path[:-3].replace('/', '.'))",
            "    function = getattr(module, name)",
            "    args = [None] * sum(p.default is p.empty for p in",
            "                        inspect.signature(function).parameters.values())",
            "    try:",
            "        function(*args)",
            "    except NotImplementedError as e:",
            "        named.append([name, str(e)])",
            "    except Exception:",
            "        pass  # provided code before the stub could not take None",
            "print(json.dumps(named))",
        ]
    )
    done = run_python(code, real_build.out)
    assert done.returncode == 0, done.stderr
    named = json.loads(done.stdout)
    if stubs:
        assert named, "no stub raised NotImplementedError"
    for name, message in named:
        assert message.startswith(f"{name}: not implemented yet; write it in assignment/")


@pytest.mark.slow
def _autograder_cell(nb, name):
    grade_id = "test_" + name.replace(".", "_")
    return next(
        i for i, c in enumerate(nb.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, words",
    [
        ("points", "the cell of affine_forward gives 5 points, the catalogue 2"),
        ("grade_id", "the cell of affine_forward has grade_id 'test_affine'"),
        ("removed", "no autograder cell for the catalogue check affine_forward (2 points)"),
        ("unknown", 'grade("affine_forwards") is not a catalogue check of this notebook'),
    ],
)
def test_grade_cells_that_disagree_with_the_catalogue_fail_the_build(tmp_path, change, words):
    """Do points, ids and cells live in the catalogue: does a notebook cell that disagrees
    with it, or a check without its cell, fail the build naming the notebook and cell?"""
    source = copy_of_repository(tmp_path / "src")
    path = source / "notebooks/FullyConnectedNets.ipynb"
    nb = nbformat.read(str(path), 4)
    index = _autograder_cell(nb, "affine_forward")
    meta = nb.cells[index].metadata.nbgrader
    if change == "points":
        meta["points"] = 5
    elif change == "grade_id":
        meta["grade_id"] = "test_affine"
    elif change == "removed":
        del nb.cells[index]
    else:
        nb.cells[index].source = nb.cells[index].source.replace(
            '"affine_forward"', '"affine_forwards"'
        )
    nbformat.write(nb, str(path))
    error = build_fails(source, tmp_path)
    where = "notebooks/FullyConnectedNets.ipynb" + (
        "" if change == "removed" else f", cell {index}"
    )
    assert str(error).startswith(f"{where}: {words}"), str(error)


def test_marker_planted_in_copy_of_repository_fails(tmp_path):
    """Does a marker planted in a copy of the real source fail the build at its line?"""
    source = copy_of_repository(tmp_path / "src")
    path = source / "assignment/solver.py"
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(1, "# END SOLUTION\n")
    path.write_text("".join(lines))
    error = build_fails(source, tmp_path)
    assert str(error).startswith("assignment/solver.py:2: malformed marker")


@pytest.mark.slow
def test_bad_nbgrader_metadata_fails_naming_the_source_cell(tmp_path):
    """When nbgrader rejects a notebook, does the error name the source notebook and cell?"""
    source = write_fake_source(tmp_path / "src")
    path = source / "notebooks/FullyConnectedNets.ipynb"
    nb = nbformat.read(str(path), 4)
    nb.cells[4].metadata.nbgrader["grade_id"] = "test_affine"
    nbformat.write(nb, str(path))
    error = build_fails(source, tmp_path)
    assert str(error) == (
        "notebooks/FullyConnectedNets.ipynb, cell 4: nbgrader metadata: "
        "grade_id 'test_affine' is also the id of cell 3"
    )
