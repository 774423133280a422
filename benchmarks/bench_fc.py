"""Seconds per epoch of the three-layer FC net and of a whole Solver run, with numpy's threads.

    python benchmarks/bench_fc.py [--threads N] [--quick]

Prints figures only; speed targets live here, never in unit tests.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from assignment.classifiers.fc_net import FullyConnectedNet  # noqa: E402
from assignment.data_utils import get_CIFAR10_data  # noqa: E402
from assignment.solver import Solver  # noqa: E402


def epoch_seconds(data, dtype, batch_size=100, repeats=3):
    """Median time of one pass of forward+backward+adam over the training set."""
    X = data["X_train"]
    times = []
    for _ in range(repeats):
        np.random.seed(0)
        model = FullyConnectedNet([100, 100], dtype=dtype, weight_scale=5e-2)
        solver = Solver(
            model, data, update_rule="adam", batch_size=batch_size, num_epochs=1, verbose=False
        )
        start = time.perf_counter()
        for t in range(max(X.shape[0] // batch_size, 1)):
            solver._step(t, 1)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), X.shape[0]


def solver_seconds(data, epochs):
    np.random.seed(0)
    model = FullyConnectedNet([100, 100], weight_scale=5e-2)
    solver = Solver(
        model,
        data,
        update_rule="adam",
        optim_config={"learning_rate": 1e-3},
        num_epochs=epochs,
        batch_size=100,
        verbose=False,
    )
    start = time.perf_counter()
    solver.train()
    return time.perf_counter() - start, solver.best_val_acc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=None, help="BLAS threads (default: as found)"
    )
    parser.add_argument("--quick", action="store_true", help="one repeat, one epoch")
    args = parser.parse_args()
    with threadpool_limits(limits=args.threads):
        blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
        print(f"numpy {np.__version__}; BLAS thread pools: {blas}")
        data = get_CIFAR10_data()
        print(
            f"data: {data['X_train'].shape[0]} training images of shape {data['X_train'].shape[1:]}"
        )
        for dtype in (np.float32, np.float64):
            seconds, n = epoch_seconds(data, dtype, repeats=1 if args.quick else 3)
            print(
                f"3-layer FC [100, 100], {np.dtype(dtype).name}: {seconds:.3f} s per epoch "
                f"({n / seconds:,.0f} images/s)"
            )
        epochs = 1 if args.quick else 5
        seconds, acc = solver_seconds(data, epochs)
        print(
            f"Solver.train, adam, {epochs} epochs, float32: {seconds:.2f} s "
            f"({seconds / epochs:.3f} s per epoch incl. accuracy checks), best val acc {acc:.3f}"
        )


if __name__ == "__main__":
    main()
