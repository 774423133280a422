"""Is the shipped public-check data what the reference produces, on this machine and on
another BLAS or numpy, within the tolerance the checks use?"""

import os
import subprocess
import sys

import numpy as np
import pytest

from assignment.checks import PublicExpected
from grading.layout import REPO_ROOT as ROOT
from grading.release.expected import public_expected_arrays, stale_entries

pytestmark = pytest.mark.grading

RECOMPUTE = (
    "import sys, numpy as np\n"
    "from grading.release.expected import public_expected_arrays\n"
    "np.savez(sys.argv[1], **public_expected_arrays())\n"
)


def test_shipped_public_data_is_up_to_date():
    stale = stale_entries(PublicExpected.load().arrays, public_expected_arrays())
    assert not stale, f"stale entries (run `python -m grading expected`): {stale[:5]}"


def test_a_changed_reference_is_stale():
    """Would a reference that changed by more than rounding be caught?"""
    shipped = PublicExpected.load().arrays
    changed = dict(shipped)
    key = next(k for k in shipped if k.startswith("affine_forward|") and k.endswith("|out"))
    changed[key] = shipped[key] * (1 + 1e-6)
    assert stale_entries(shipped, changed) == [key]


def test_rounding_noise_of_a_true_zero_is_not_stale():
    """The gradient of a bias before batchnorm is 0 up to rounding: noise of 1e-17 against
    3e-17 is no change."""
    shipped = PublicExpected.load().arrays
    key = next(
        k
        for k in shipped
        if k.startswith("FullyConnectedNet.loss_batchnorm|") and k.endswith("|grads.b1")
    )
    noisy = {**shipped, key: shipped[key] + 3e-17}
    assert stale_entries(shipped, noisy) == []


def _recompute(tmp_path, env=None, pythonpath=()):
    out = tmp_path / "fresh.npz"
    path = os.pathsep.join([*map(str, pythonpath), str(ROOT)])
    subprocess.run(
        [sys.executable, "-c", RECOMPUTE, str(out)],
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
        timeout=900,
    )
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.slow
def test_public_data_holds_under_another_blas_kernel(tmp_path):
    """OpenBLAS's Prescott kernels on one thread sum in another order than the default."""
    fresh = _recompute(tmp_path, {"OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_NUM_THREADS": "1"})
    stale = stale_entries(PublicExpected.load().arrays, fresh)
    assert not stale, stale[:5]


OTHER_NUMPY = "numpy==2.3.5" if np.__version__.startswith("2.4") else "numpy==2.4.6"


@pytest.mark.slow
def test_public_data_holds_under_another_numpy(tmp_path):
    """Installed beside the project's own (PYTHONPATH first), another numpy minor version
    recomputes the data; skipped where the package index cannot be reached."""
    target = tmp_path / "numpy"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            OTHER_NUMPY,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.skip(f"could not install {OTHER_NUMPY}: {done.stderr.strip()[-200:]}")
    version = subprocess.run(
        [sys.executable, "-c", "import numpy; print(numpy.__version__)"],
        env={**os.environ, "PYTHONPATH": str(target)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert version == OTHER_NUMPY.split("==")[1]
    fresh = _recompute(tmp_path, pythonpath=[target])
    stale = stale_entries(PublicExpected.load().arrays, fresh)
    assert not stale, stale[:5]


def test_public_data_holds_plain_arrays_only():
    """Loadable without pickle: no object arrays, so the file can carry no code."""
    with np.load(PublicExpected.load.__defaults__[0], allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
