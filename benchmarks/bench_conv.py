"""Speed of the pure-numpy fast layers against PyTorch's CPU conv2d / max_pool2d.

Usage:
    python benchmarks/bench_conv.py               # both tables, about 6 minutes on 2 idle cores
    python benchmarks/bench_conv.py --quick       # smoke run: fewer repeats and rounds
    python benchmarks/bench_conv.py --threads 1   # thread count for numpy's BLAS and torch
    python benchmarks/bench_conv.py --only fresh  # one of the two tables

Two ways of measuring, each printed as a table:

- in one process: both libraries are loaded in this process and timed in alternating
  blocks with pauses in between (see time_blocks), one row after the other. A long process
  like this has warmed its memory allocator on the earlier rows, which flatters later ones.
- in fresh processes: every (row, library) pair runs in a new Python process that imports
  only its own library, makes one warm-up call and then times a few; the numpy and torch
  processes alternate for a few rounds, so that a burst of other work hits both. This is
  what a notebook that calls a layer a few times sees, and the figure the README quotes.
  Its ratio compares the libraries' median rounds; 'best' compares their fastest rounds,
  which on a shared machine estimates the idle speeds better than either median.

Each timed call is one forward and one backward pass (numpy's backward on the cache of the
forward just before it, as in training; torch's through autograd), with a random upstream
gradient. ratio = numpy throughput / torch throughput (above 1: numpy is faster); the target
is at least 0.5. Thread counts are set explicitly on both sides: threadpoolctl for numpy's
BLAS, torch.set_num_threads for torch. The 1-minute load average is printed with each table
(and after each fresh-process row): other work on the machine skews every number, two-thread
BLAS calls most of all. The exit code is 0 whatever the numbers.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

CONV_CASES = {  # label: (x shape, w shape, stride, pad)
    "conv a": ((100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    "conv b": ((50, 3, 32, 32), (32, 3, 7, 7), 1, 3),
    "conv c": ((64, 64, 16, 16), (64, 64, 3, 3), 1, 1),
}
POOL_CASES = {  # label: (x shape, pool height, pool width, stride)
    "pool 2x2/2": ((50, 3, 32, 32), 2, 2, 2),
    "pool 2x2/2 on b": ((50, 32, 32, 32), 2, 2, 2),
    "pool 2x2/2 on c": ((64, 64, 16, 16), 2, 2, 2),
    "pool 3x3/2 on c": ((64, 64, 16, 16), 3, 3, 2),
    "pool 3x3/2": ((100, 3, 32, 32), 3, 3, 2),
}
DTYPES = ("float64", "float32")
LIBRARIES = ("numpy", "torch")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="few repeats and rounds, for a smoke run"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count(),
        help="threads for numpy's BLAS and for torch (default: all cores)",
    )
    parser.add_argument("--only", choices=("in-process", "fresh"), help="print only this table")
    # Used by the fresh-process table to start its children: time one row of one library.
    parser.add_argument(
        "--child", nargs=3, metavar=("LIBRARY", "CASE", "DTYPE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--repeats", type=int, default=7, help=argparse.SUPPRESS)
    return parser.parse_args()


def limit_threads(n):
    """Give numpy's BLAS n threads; returns how it was done."""
    try:
        import threadpoolctl
    except ImportError:
        # Without threadpoolctl the BLAS reads these once, when numpy is first imported.
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(n)
        return f"OPENBLAS/OMP/MKL_NUM_THREADS={n}"
    import numpy  # noqa: F401  threadpoolctl only limits libraries already loaded

    threadpoolctl.threadpool_limits(n, user_api="blas")
    return f"threadpoolctl.threadpool_limits({n})"


def time_blocks(groups, repeats, warmup, rounds, pause=0.2):
    """Median milliseconds of every function in groups (a list of lists of functions).

    Each group is timed in its own block: a pause (idle BLAS and OpenMP threads keep
    spinning for a while after a call and would steal the cores from the other group), a
    warm-up, then repeats / rounds calls of its functions in turn. The blocks alternate for
    `rounds` rounds, so that a burst of other work on the machine hits both groups alike.
    """
    times = [[[] for _ in group] for group in groups]
    per_round = -(-repeats // rounds)
    for _ in range(rounds):
        for group, group_times in zip(groups, times):
            time.sleep(pause)
            for r in range(warmup + per_round):
                for f, t in zip(group, group_times):
                    start = time.perf_counter()
                    f()
                    if r >= warmup:
                        t.append(time.perf_counter() - start)
    return [[1e3 * statistics.median(t) for t in group_times] for group_times in times]


def blas_name(np):
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except Exception:  # the config layout differs between numpy versions
        return "unknown"


def case_arrays(np, label, dtype):
    """The inputs and a random upstream gradient of one row, the same in every process."""
    rng = np.random.default_rng(0)
    if label in CONV_CASES:
        x_shape, w_shape, stride, pad = CONV_CASES[label]
        arrays = [rng.standard_normal(s).astype(dtype) for s in (x_shape, w_shape, w_shape[:1])]
        N, _, H, W = x_shape
        _, _, HH, WW = w_shape
        out_shape = (
            N,
            w_shape[0],
            1 + (H + 2 * pad - HH) // stride,
            1 + (W + 2 * pad - WW) // stride,
        )
    else:
        x_shape, ph, pw, stride = POOL_CASES[label]
        arrays = [rng.standard_normal(x_shape).astype(dtype)]
        out_shape = (*x_shape[:2], 1 + (x_shape[2] - ph) // stride, 1 + (x_shape[3] - pw) // stride)
    return arrays, rng.standard_normal(out_shape).astype(dtype)


def numpy_steps(np, fl, label, dtype):
    """Forward and backward closures that chain like a training step: each backward call
    gets the cache of the forward call just before it, whose output lives until then."""
    arrays, dout = case_arrays(np, label, dtype)
    if label in CONV_CASES:
        stride, pad = CONV_CASES[label][2:]
        forward = lambda: fl.conv_forward_fast(*arrays, {"stride": stride, "pad": pad})
        backward = fl.conv_backward_fast
    else:
        ph, pw, stride = POOL_CASES[label][1:]
        forward = lambda: fl.max_pool_forward_fast(
            *arrays, {"pool_height": ph, "pool_width": pw, "stride": stride}
        )
        backward = fl.max_pool_backward_fast
    state = {}

    def fwd():
        state["out"], state["cache"] = forward()

    def bwd():
        backward(dout, state.pop("cache"))
        del state["out"]

    return [fwd, bwd]


def torch_step(np, torch, label, dtype):
    """Forward and backward through torch with autograd, gradients cleared first."""
    arrays, dout = case_arrays(np, label, dtype)
    inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    grad = torch.tensor(dout)
    F = torch.nn.functional
    if label in CONV_CASES:
        stride, pad = CONV_CASES[label][2:]
        fn = lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pad)
    else:
        ph, pw, stride = POOL_CASES[label][1:]
        fn = lambda x: F.max_pool2d(x, (ph, pw), stride)

    def step():
        for t in inputs:
            t.grad = None
        fn(*inputs).backward(grad)

    return step


def row_name(label):
    if label in CONV_CASES:
        x_shape, w_shape, stride, pad = CONV_CASES[label]
        return f"{label}: x {x_shape}, w {w_shape}, stride {stride}, pad {pad}"
    return f"{label}: x {POOL_CASES[label][0]}"


def in_process_table(args, repeats, warmup, rounds):
    how = limit_threads(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from assignment import fast_layers as fl

    print(
        f"\nIN ONE PROCESS: numpy {np.__version__} ({blas_name(np)}, {how}); torch "
        f"{torch.__version__} "
        f"(set_num_threads({args.threads}), mkldnn {torch.backends.mkldnn.is_available()})"
    )
    print(
        f"median of {repeats} calls in {rounds} alternating blocks after {warmup} warm-up calls; "
        f"1-minute load average {os.getloadavg()[0]:.1f} at the start"
    )
    print(f"{'case':<58} {'dtype':<8} {'np fwd':>8} {'np bwd':>8} {'torch f+b':>9} {'ratio':>6}")
    for dtype in DTYPES:
        for label in (*CONV_CASES, *POOL_CASES):
            [fwd, bwd], [ref] = time_blocks(
                [numpy_steps(np, fl, label, dtype), [torch_step(np, torch, label, dtype)]],
                repeats,
                warmup,
                rounds,
            )
            print(
                f"{row_name(label):<58} {dtype:<8} {fwd:>8.2f} {bwd:>8.2f} {ref:>9.2f} "
                f"{ref / (fwd + bwd):>6.2f}",
                flush=True,
            )
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.1f}")


def child(args):
    """Time one row of one library in this (fresh) process; print the median milliseconds."""
    library, label, dtype = args.child
    limit_threads(args.threads)
    import numpy as np

    if library == "numpy":
        from assignment import fast_layers as fl

        fwd, bwd = numpy_steps(np, fl, label, dtype)
        step = lambda: (fwd(), bwd())
    else:
        import torch

        torch.set_num_threads(args.threads)
        step = torch_step(np, torch, label, dtype)
    [[ms]] = time_blocks([[step]], args.repeats, warmup=1, rounds=1, pause=0)
    print(ms)


def fresh_table(args, repeats, rounds):
    print(
        f"\nIN FRESH PROCESSES: one process per (row, library), each {args.threads} threads, "
        f"1 warm-up call then the median of {repeats}; numpy and torch processes alternate for "
        f"{rounds} rounds. Per library: the median over the rounds (ms), and the ratio of those; "
        f"'best' is the ratio of each library's fastest round, the least disturbed by other work"
    )
    print(f"1-minute load average {os.getloadavg()[0]:.1f} at the start")
    header = "np ms torch ms ratio best"
    print(f"{'case':<58} {'float64':>25} {'float32':>25} {'load':>5}")
    print(f"{'':<58} {header:>25} {header:>25}")
    misses, at_par = [], []
    for label in (*CONV_CASES, *POOL_CASES):
        cells = []
        for dtype in DTYPES:
            ms = {library: [] for library in LIBRARIES}
            for _ in range(rounds):
                for library in LIBRARIES:
                    cmd = [
                        sys.executable,
                        os.path.abspath(__file__),
                        "--child",
                        library,
                        label,
                        dtype,
                        "--threads",
                        str(args.threads),
                        "--repeats",
                        str(repeats),
                    ]
                    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    ms[library].append(float(done.stdout))
            npy, ref = statistics.median(ms["numpy"]), statistics.median(ms["torch"])
            ratio, best = ref / npy, min(ms["torch"]) / min(ms["numpy"])
            cells.append(f"{npy:>6.2f} {ref:>8.2f} {ratio:>5.2f} {best:>4.2f}")
            (misses if ratio < 0.5 else at_par if ratio >= 1 else []).append(f"{label} {dtype}")
        print(
            f"{row_name(label):<58} {cells[0]:>25} {cells[1]:>25} {os.getloadavg()[0]:>5.1f}",
            flush=True,
        )
    print(f"ratio below the 0.5 target: {', '.join(misses) or 'none'}")
    print(f"ratio at or above 1.0: {', '.join(at_par) or 'none'}")
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.1f}")


def main():
    args = parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    if args.child:
        child(args)
        return 0
    print(
        f"{os.cpu_count()} cores; ratio = numpy throughput / torch throughput, forward + backward"
    )
    if args.only != "in-process":
        fresh_table(args, repeats=3 if args.quick else 7, rounds=1 if args.quick else 5)
    if args.only != "fresh":
        in_process_table(args, *((3, 1, 1) if args.quick else (15, 2, 3)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
