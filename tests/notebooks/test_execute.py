"""Does every notebook run top to bottom, with the reference solution, on the embedded data?"""
import os
import re
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
# One BLAS thread: with two, OpenBLAS spins against any other busy process on a 2-core machine
# and a notebook slows down tenfold; with one, run times are steady (1-2 min per notebook).
KERNEL_ENV = {"ASSIGNMENT_DATA": "embedded", "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1",
              "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


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


@pytest.fixture
def kernel_env(jupyter_path, monkeypatch):
    """The environment a notebook kernel starts with, this interpreter's kernel first."""
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(
        [str(jupyter_path), *filter(None, [os.environ.get("JUPYTER_PATH")])]))
    return {**os.environ, **KERNEL_ENV}


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
                message = ANSI_COLOUR.sub("", str(error))
                raise AssertionError(f"cell {index} ({first_line!r}) failed:\n{message}") from None
            seconds.append(time.perf_counter() - start)
    return seconds


@pytest.mark.parametrize("path", notebook_params())
def test_notebook_runs_top_to_bottom(path, kernel_env):
    """Does the notebook execute without an error in any cell?

    The notebook is read into memory and executed there: nothing is written back to the repo.
    """
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    seconds = execute(nb, kernel_env)
    total = time.perf_counter() - start
    slowest = sorted(enumerate(seconds), key=lambda item: -item[1])[:3]
    EXECUTION_TIMES[path.stem] = (total, slowest)
    print(f"{path.name}: executed in {total:.1f} s with {sys.executable}")


def test_failing_cell_is_reported_with_its_index_and_error(kernel_env):
    """Does a broken notebook fail naming the cell that broke, and with the kernel's error?"""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A notebook with a planted error"),
        nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"),
        nbformat.v4.new_code_cell("raise ValueError('planted error')"),
    ])
    planted = r"(?s)cell 2 \(.raise ValueError.*ValueError: planted error"
    with pytest.raises(AssertionError, match=planted):
        execute(nb, kernel_env)
    # The kernel ran this very interpreter, so it saw the packages pytest sees.
    assert nb.cells[1].outputs[0]["text"].strip() == sys.executable
