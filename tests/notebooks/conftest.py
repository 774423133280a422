"""Shared by the notebook tests: the notebooks of the course and their execution times."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# The pytest marker of each notebook's part, so `pytest -m fc` runs that notebook too.
PART_MARKERS = {"FullyConnectedNets": "fc", "BatchNormalization": "bn", "Dropout": "dropout",
                "ConvolutionalNetworks": "conv", "PyTorch": "pytorch",
                "Network_Visualization": "netvis"}

# Seconds per executed notebook, filled by test_execute and printed at the end of the run.
EXECUTION_TIMES = {}


def notebook_params():
    """One pytest.param per notebook, with the marker of its part where it has one."""
    return [pytest.param(path, id=path.stem,
                         marks=[getattr(pytest.mark, PART_MARKERS[path.stem])]
                         if path.stem in PART_MARKERS else [])
            for path in NOTEBOOKS]


def pytest_terminal_summary(terminalreporter):
    if EXECUTION_TIMES:
        terminalreporter.section("notebook execution times")
        for name, (total, slowest) in sorted(EXECUTION_TIMES.items()):
            cells = ", ".join(f"cell {index} {seconds:.1f} s" for index, seconds in slowest)
            terminalreporter.write_line(f"{name}: {total:.1f} s (slowest: {cells})")
