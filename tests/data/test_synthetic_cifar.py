"""benchmarks/synthetic_cifar.py writes a folder the loaders read as CIFAR-10 (tiny here;
CIFAR-10's size in use)."""

import importlib.util

import numpy as np
import pytest

from assignment import data_utils
from grading.layout import REPO_ROOT

pytestmark = pytest.mark.data


def _module():
    spec = importlib.util.spec_from_file_location(
        "synthetic_cifar", REPO_ROOT / "benchmarks" / "synthetic_cifar.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_written_folder_is_read_as_cifar10(tmp_path, monkeypatch):
    synthetic = _module()
    assert synthetic.CIFAR10_IMAGES_PER_BATCH * 5 == 50_000
    folder = synthetic.write(tmp_path, images_per_batch=20)
    assert data_utils.has_cifar10(folder)
    assert not (folder / "EMBEDDED_STAMP.json").exists()
    Xtr, ytr, Xte, yte = data_utils.load_CIFAR10(folder)
    assert Xtr.shape == (100, 32, 32, 3) and Xte.shape == (20, 32, 32, 3)
    assert set(np.unique(ytr)) == set(range(10))
    monkeypatch.setenv("ASSIGNMENT_DATASETS_DIR", str(tmp_path))
    assert data_utils.cifar10_dir() == folder
