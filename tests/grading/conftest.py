"""Session fixtures of the end-to-end grading tests: one release, one set of samples, one
full autograde, shared by test_autograde, test_reconcile, test_feedback, test_samples and
test_demo (a full nbgrader run costs minutes, so it happens once per session)."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from grading.layout import REPO_ROOT

# The nbgrader path executes one notebook (the whole pipeline is the same for every
# notebook); the hardened checks of every notebook run in test_samples.
NOTEBOOK = next(
    (
        n
        for n in ("FullyConnectedNets", "BatchNormalization")
        if (REPO_ROOT / "notebooks" / f"{n}.ipynb").is_file()
    ),
    None,
)


@dataclass
class FullBatch:
    """A full autograde of the samples plus broken submissions, and what it left."""

    submissions: Path
    out: Path
    summary: object
    before: dict[str, str]
    notebook: str


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root``, links included as their target."""
    digest = {}
    for path in sorted(Path(root).rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            digest[rel] = "link:" + str(path.readlink())
        elif path.is_file():
            digest[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


@pytest.fixture(scope="session")
def built_release(tmp_path_factory) -> Path:
    """The student release of this repository (every notebook)."""
    from grading.release.build import build_release

    out = tmp_path_factory.mktemp("e2e") / "release"
    build_release(REPO_ROOT, out)
    return out


@pytest.fixture(scope="session")
def sample_dirs(built_release, tmp_path_factory) -> dict[str, Path]:
    """The four samples of grading.samples, made from the release."""
    from grading.samples import make_samples

    return make_samples(built_release, tmp_path_factory.mktemp("e2e") / "samples")


def _alter_metadata(path: Path) -> None:
    """A test cell worth 100 points and unlocked, its test replaced: nbgrader alone would
    drop the whole notebook."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    cell.metadata.nbgrader.update(points=100, locked=False)
    cell.source = "print('all good')"
    nbformat.write(nb, path)


@pytest.fixture(scope="session")
def full_batch(sample_dirs, tmp_path_factory) -> FullBatch:
    """The full pipeline over the samples, the reference a second time, a broken zip and a
    reference whose notebook is not JSON, with two workers, on one notebook, the notebooks
    executed in the confined kernel (``--execute``)."""
    from grading.nbgrader.autograde import autograde

    if NOTEBOOK is None:
        pytest.skip("no notebook to grade in this source tree")
    base = tmp_path_factory.mktemp("e2e")
    submissions = base / "submissions"
    for name, folder in sample_dirs.items():
        shutil.copytree(folder, submissions / name)
    shutil.copytree(sample_dirs["reference"], submissions / "reference-again")
    shutil.copytree(sample_dirs["reference"], submissions / "malformed")
    (submissions / "malformed" / f"{NOTEBOOK}.ipynb").write_text('{"cells": [', encoding="utf-8")
    (submissions / "broken.zip").write_bytes(b"PK\x03\x04 this is not a zip archive")
    shutil.copytree(sample_dirs["reference"], submissions / "altered")
    _alter_metadata(submissions / "altered" / f"{NOTEBOOK}.ipynb")
    before = tree_digest(submissions)
    summary = autograde(
        submissions, base / "out", workers=2, notebooks=[NOTEBOOK], progress=False, execute=True
    )
    return FullBatch(submissions, base / "out", summary, before, NOTEBOOK)
