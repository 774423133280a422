"""Fixtures shared by the whole suite."""

import os

import pytest

# Tests always run on the embedded dataset and never open a window, whatever the machine has.
os.environ.setdefault("ASSIGNMENT_DATA", "embedded")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="module")
def torch_one_thread():
    """torch at one thread for a test module (the suite shares 2 cores with numpy's BLAS)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
