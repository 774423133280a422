"""A synthetic dataset of CIFAR-10's size and file format, to time the notebooks' full settings.

The notebooks choose their CIFAR-10 settings from the data's size (49,000 training images),
so timing them needs 50,000 + 10,000 images, not the real pictures: this writes the
embedded generator's images (``assignment/embedded_cifar.py``) at full size into
``DIR/cifar-10-batches-py`` (about 180 MB), without the embedded set's stamp, so the loaders
take it for CIFAR-10. Accuracies on it mean nothing; minutes do.

    python benchmarks/synthetic_cifar.py build/synthetic                  # write it (~1 min)
    python benchmarks/synthetic_cifar.py build/synthetic --time Dropout   # and time notebooks

``--time`` executes each named notebook of ``notebooks/`` top to bottom with
ASSIGNMENT_DATASETS_DIR=DIR and prints its minutes and its slowest cells (``--slowest N``,
default 3), which say where the minutes go. Run it on a quiet machine, one notebook at a
time: a full setting takes minutes.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assignment import embedded_cifar  # noqa: E402 (needs the repository root on sys.path)

CIFAR10_IMAGES_PER_BATCH = 10_000  # 5 training batches + 1 test batch, as CIFAR-10 has


def write(dest, images_per_batch=CIFAR10_IMAGES_PER_BATCH, seed=embedded_cifar.SEED):
    """Write ``dest/cifar-10-batches-py`` in CIFAR-10's format; return its path."""
    folder = embedded_cifar.generate(Path(dest), images_per_batch=images_per_batch, seed=seed)
    # Without the stamp the folder is what a download leaves: the loaders call it CIFAR-10.
    (folder / embedded_cifar.STAMP_FILE).unlink(missing_ok=True)
    return folder


def cell_seconds(nb):
    """(seconds, cell index, first line) of each executed code cell, slowest first.

    nbclient stamps every cell it runs with the kernel's execute_input and execute_reply
    times (``metadata.execution``); their difference is the cell's own time.
    """
    from datetime import datetime

    timed = []
    for index, cell in enumerate(nb.cells):
        stamps = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            began, ended = (
                datetime.fromisoformat(stamps[key])
                for key in ("iopub.execute_input", "shell.execute_reply")
            )
            first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
            timed.append(((ended - began).total_seconds(), index, first_line))
    return sorted(timed, reverse=True)


def time_notebook(name, dest, timeout=3600):
    """Execute ``notebooks/<name>.ipynb`` top to bottom on the data in ``dest``.

    Returns (minutes, the executed notebook).
    """
    import nbformat
    from nbclient import NotebookClient

    path = ROOT / "notebooks" / f"{name.removesuffix('.ipynb')}.ipynb"
    nb = nbformat.read(path, as_version=4)
    os.environ.update(
        ASSIGNMENT_DATASETS_DIR=str(Path(dest).resolve()),
        ASSIGNMENT_DATA="cifar10",
        MPLBACKEND="Agg",
    )
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=timeout, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return (time.perf_counter() - start) / 60, nb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="folder to write cifar-10-batches-py into")
    parser.add_argument(
        "--time",
        action="append",
        default=[],
        metavar="NOTEBOOK",
        help="execute this notebook on the data and print its minutes",
    )
    parser.add_argument(
        "--slowest",
        type=int,
        default=3,
        metavar="N",
        help="with --time, also print the N slowest cells of each notebook",
    )
    parser.add_argument(
        "--images-per-batch", type=int, default=CIFAR10_IMAGES_PER_BATCH, help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    folder = write(args.dest, args.images_per_batch)
    print(f"wrote {folder} in {time.perf_counter() - start:.0f} s")
    for name in args.time:
        minutes, nb = time_notebook(name, args.dest)
        print(f"{name}: {minutes:.1f} min", flush=True)
        for seconds, index, first_line in cell_seconds(nb)[: args.slowest]:
            print(f"  cell {index:3d}: {seconds:6.0f} s  {first_line[:70]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
