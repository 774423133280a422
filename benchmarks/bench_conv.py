"""Speed of the pure-numpy fast layers against PyTorch's CPU conv2d / max_pool2d.

Usage:
    python benchmarks/bench_conv.py               # full table, about a minute
    python benchmarks/bench_conv.py --quick       # smoke run: fewer repeats
    python benchmarks/bench_conv.py --threads 1   # thread count for numpy's BLAS and torch

Both libraries run in this one process with the same thread count. Each row times numpy's
forward and backward (each backward on the cache of the forward just before it, as in
training) and torch's forward+backward (autograd) on the same data, and reports medians;
the libraries are timed in alternating blocks with pauses in between (see time_blocks).
ratio = numpy throughput / torch throughput (above 1: numpy is faster); the target is at
least 0.5. Conv rows also give numpy's GFLOP/s (forward plus the two backward products)
and its fraction of the GEMM peak measured here. The exit code is 0 whatever the numbers.
"""
import argparse
import os
import statistics
import sys
import time

CONV_CASES = [  # (label, x shape, w shape, stride, pad)
    ("a", (100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    ("b", (50, 3, 32, 32), (32, 3, 7, 7), 1, 3),
    ("c", (64, 64, 16, 16), (64, 64, 3, 3), 1, 1),
]
POOL_CASES = [  # (label, x shape, pool height, pool width, stride)
    ("2x2/2", (100, 3, 32, 32), 2, 2, 2),
    ("2x2/2 on b", (50, 32, 32, 32), 2, 2, 2),
    ("2x2/2 on c", (64, 64, 16, 16), 2, 2, 2),
    ("3x3/2 on c", (64, 64, 16, 16), 3, 3, 2),
    ("3x3/2", (100, 3, 32, 32), 3, 3, 2),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, for a smoke run")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for numpy's BLAS and for torch (default: all cores)")
    return parser.parse_args()


def limit_threads(n):
    """Give numpy's BLAS n threads (call before numpy is imported); returns how it was done."""
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


def gemm_peak(np, dtype, n=2048, repeats=5):
    """GFLOP/s of an n x n matrix product, the BLAS's practical peak on this machine."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
    [[ms]] = time_blocks([[lambda: a @ a]], repeats, warmup=1, rounds=1)
    return 2 * n ** 3 / (ms * 1e-3) / 1e9


def blas_name(np):
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except Exception:  # the config layout differs between numpy versions
        return "unknown"


def numpy_steps(forward, backward, dout):
    """Forward and backward closures that chain like a training step: each backward call
    gets the cache of the forward call just before it, whose output lives until then."""
    state = {}

    def fwd():
        state["out"], state["cache"] = forward()

    def bwd():
        backward(dout, state.pop("cache"))
        del state["out"]
    return [fwd, bwd]


def torch_step(torch, fn, inputs, grad):
    """Forward and backward through fn with autograd, gradients cleared first."""
    def step():
        for t in inputs:
            t.grad = None
        fn(*inputs).backward(grad)
    return step


def bench_conv(np, torch, fl, case, dtype, repeats, warmup, rounds, peak):
    label, x_shape, w_shape, stride, pad = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    conv_param = {"stride": stride, "pad": pad}
    out, _ = fl.conv_forward_fast(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    conv = lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=stride, padding=pad)
    steps = numpy_steps(lambda: fl.conv_forward_fast(x, w, b, conv_param), fl.conv_backward_fast, dout)
    [fwd, bwd], [ref] = time_blocks([steps, [torch_step(torch, conv, (tx, tw, tb), torch.tensor(dout))]],
                                    repeats, warmup, rounds)
    N, F, H_out, W_out = out.shape
    flops = 3 * 2 * N * F * H_out * W_out * w[0].size  # forward, dx and dw products
    gflops = flops / ((fwd + bwd) * 1e-3) / 1e9
    name = f"conv {label} x{x_shape} w{w_shape} s{stride} p{pad}"
    return name, fwd, bwd, ref, gflops, gflops / peak


def bench_pool(np, torch, fl, case, dtype, repeats, warmup, rounds):
    label, x_shape, ph, pw, stride = case
    x = np.random.default_rng(0).standard_normal(x_shape).astype(dtype)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, _ = fl.max_pool_forward_fast(x, pool_param)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    pool = lambda x: torch.nn.functional.max_pool2d(x, (ph, pw), stride)
    steps = numpy_steps(lambda: fl.max_pool_forward_fast(x, pool_param), fl.max_pool_backward_fast, dout)
    [fwd, bwd], [ref] = time_blocks([steps, [torch_step(torch, pool, (tx,), torch.tensor(dout))]],
                                    repeats, warmup, rounds)
    method = fl.max_pool_method(x.shape, pool_param)
    return f"pool {label} x{x_shape} ({method})", fwd, bwd, ref, None, None


def main():
    args = parse_args()
    how = limit_threads(args.threads)
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from assignment import fast_layers as fl

    repeats, warmup, rounds = (3, 1, 1) if args.quick else (15, 2, 3)
    print(f"numpy {np.__version__} ({blas_name(np)}, {how}); torch {torch.__version__} "
          f"(set_num_threads({args.threads}), get_num_threads()={torch.get_num_threads()}, "
          f"mkldnn {torch.backends.mkldnn.is_available()}); {os.cpu_count()} cores")
    print(f"median of {repeats} repeats in {rounds} alternating blocks, each after {warmup} warm-up calls; ratio = numpy throughput / torch throughput; "
          f"1-minute load average {os.getloadavg()[0]:.1f} (other work on the machine skews every number)")
    header = f"{'case':<52} {'dtype':<8} {'np fwd':>8} {'np bwd':>8} {'torch f+b':>9} {'ratio':>6} {'GFLOP/s':>8} {'of peak':>7}"
    misses = []
    for dtype in (np.float64, np.float32):
        peak = gemm_peak(np, dtype)
        print(f"\n{np.dtype(dtype).name}: numpy GEMM peak {peak:.0f} GFLOP/s (2048 x 2048 matmul)")
        print(header)
        rows = [bench_conv(np, torch, fl, c, dtype, repeats, warmup, rounds, peak) for c in CONV_CASES]
        rows += [bench_pool(np, torch, fl, c, dtype, repeats, warmup, rounds) for c in POOL_CASES]
        for name, fwd, bwd, ref, gflops, frac in rows:
            ratio = ref / (fwd + bwd)
            extra = f"{gflops:>8.1f} {frac:>7.0%}" if gflops is not None else f"{'-':>8} {'-':>7}"
            print(f"{name:<52} {np.dtype(dtype).name:<8} {fwd:>8.2f} {bwd:>8.2f} {ref:>9.2f} {ratio:>6.2f} {extra}")
            if ratio < 0.5:
                misses.append(f"{name} {np.dtype(dtype).name}")
    print("\nbelow the 0.5 target: " + (", ".join(misses) if misses else "none"))
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
