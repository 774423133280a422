"""Does every notebook run top to bottom, with the reference solution, on the embedded data?"""
import os
import sys
import time

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from .conftest import EXECUTION_TIMES, NOTEBOOK_DIR, notebook_params

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

# Seconds one cell may take; a whole notebook is meant to run in a few minutes on 2 cores.
CELL_TIMEOUT = 600
KERNEL_ENV = {"ASSIGNMENT_DATA": "embedded", "MPLBACKEND": "Agg"}


@pytest.fixture(scope="session")
def jupyter_path(tmp_path_factory):
    """A Jupyter data folder whose `python3` kernel is this interpreter.

    Put first on JUPYTER_PATH, it wins over any python3 kernelspec of the machine or the
    user, so the kernel imports exactly what pytest does, even in a fresh venv that never
    installed a kernelspec.
    """
    root = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(root / "kernels" / "python3")
    return root


def execute(nb, env):
    """Run every cell of `nb` in a fresh kernel started in notebooks/; seconds per cell.

    Raises AssertionError naming the failing cell (its index and first line) and the error.
    """
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    seconds = []
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            start = time.perf_counter()
            try:
                client.execute_cell(cell, index)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
                first_line = cell.source.split("\n", 1)[0]
                raise AssertionError(f"cell {index} ({first_line!r}) failed:\n{error}") from None
            seconds.append(time.perf_counter() - start)
    return seconds


@pytest.mark.parametrize("path", notebook_params())
def test_notebook_runs_top_to_bottom(path, jupyter_path, monkeypatch):
    """Does the notebook execute without an error in any cell?

    The notebook is read into memory and executed there: nothing is written back to the repo.
    """
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(
        [str(jupyter_path), *filter(None, [os.environ.get("JUPYTER_PATH")])]))
    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, **KERNEL_ENV}
    start = time.perf_counter()
    seconds = execute(nb, env)
    total = time.perf_counter() - start
    slowest = sorted(enumerate(seconds), key=lambda item: -item[1])[:3]
    EXECUTION_TIMES[path.stem] = (total, slowest)
    print(f"{path.name}: executed in {total:.1f} s with {sys.executable}")
