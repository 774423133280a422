"""Seconds to autograde one submission with the full pipeline, and batch throughput with 1 and
2 workers (hardened grader + nbgrader + reconciliation + feedback), against the hardened
grader alone.

    python benchmarks/bench_autograde.py [--notebooks N ...] [--batch 2] [--quick] [--execute]

By default the notebooks are recorded as submitted (seconds per submission); ``--execute``
runs them again in the confined kernel, minutes per submission on a laptop. The batches
measured hold ``--batch`` copies of the reference (default 2) and the figures for 50
submissions are extrapolated from them (the output says so); the same batch is graded with
``--checks-only`` for the ratio. The hardened grader alone is also measured on a real batch
of 50. Prints figures only.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Every sandboxed process already runs with one BLAS thread; the trusted side does too, so
# that two workers on two cores do not fight over them.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"
os.environ.setdefault("ASSIGNMENT_DATA", "embedded")

from grading.hardened.batch import autograde_checks_only  # noqa: E402
from grading.nbgrader.autograde import (  # noqa: E402
    autograde,
    describe_isolation,
    describe_notebooks,
)
from grading.release.build import build_release  # noqa: E402
from grading.samples import make_samples  # noqa: E402

TARGET = 50


def copies(reference: Path, folder: Path, n: int) -> Path:
    """``n`` copies of the reference submission, one per student."""
    for i in range(n):
        shutil.copytree(reference, folder / f"student{i:02d}")
    return folder


def full_batch(submissions: Path, out: Path, workers: int, notebooks, execute: bool):
    start = time.monotonic()
    summary = autograde(
        submissions, out, workers=workers, notebooks=notebooks, progress=False, execute=execute
    )
    if summary.batch.failed:
        raise SystemExit(f"grading failed: {summary.batch.failed}")
    return summary, time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--notebooks",
        nargs="*",
        default=None,
        help="notebooks to grade (default: every notebook of the source)",
    )
    parser.add_argument("--batch", type=int, default=2, help="submissions per measured batch")
    parser.add_argument(
        "--quick", action="store_true", help="BatchNormalization only, batches of 2"
    )
    parser.add_argument(
        "--execute", action="store_true", help="run the notebooks again (autograde --execute)"
    )
    args = parser.parse_args()
    notebooks = ["BatchNormalization"] if args.quick else args.notebooks
    batch = 2 if args.quick else args.batch
    print(f"{os.cpu_count()} CPU(s); load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
        tmp = Path(tmp)
        release = build_release(out=tmp / "release", notebooks=notebooks)
        print(f"release: {', '.join(release.notebooks)} ({release.seconds:.0f} s)")
        reference = make_samples(tmp / "release", tmp / "samples", names=["reference"])["reference"]

        one = copies(reference, tmp / "one", 1)
        summary, _ = full_batch(one, tmp / "out-one", 1, notebooks, args.execute)
        per_one = summary.batch.seconds
        print(describe_notebooks(summary))
        print(f"hardened isolation: {describe_isolation(summary.isolation)}")
        print(f"set-up per batch (course, reference outputs, data): {summary.setup_seconds:.1f} s")
        print(f"one submission, full pipeline: {per_one:.1f} s")

        many = copies(reference, tmp / "many", batch)
        rates = {}
        for workers in (1, 2):
            summary, _ = full_batch(many, tmp / f"out-{workers}", workers, notebooks, args.execute)
            seconds = summary.batch.seconds
            rates[workers] = batch / seconds
            checks = autograde_checks_only(
                many, tmp / f"checks-same-{workers}", workers=workers, progress=False
            )
            print(
                f"{batch} submissions, {workers} worker(s): {seconds:.1f} s, "
                f"{rates[workers] * 3600:.1f} submissions/hour; {TARGET} submissions "
                f"extrapolated: {TARGET / rates[workers] / 60:.1f} min (+ set-up); "
                f"--checks-only on the same batch {checks.seconds:.1f} s, ratio "
                f"{seconds / checks.seconds:.1f}x"
            )
        print(
            f"speed-up of 2 workers: {rates[2] / rates[1]:.2f}x "
            f"(extrapolated from {batch}, not measured on {TARGET})"
        )

        fifty = copies(reference, tmp / "fifty", TARGET)
        for workers in (1, 2):
            checks = autograde_checks_only(
                fifty, tmp / f"checks-{workers}", workers=workers, progress=False
            )
            print(
                f"hardened grader alone (--checks-only), {TARGET} submissions measured, "
                f"{workers} worker(s): {checks.seconds:.1f} s, "
                f"{TARGET / checks.seconds * 3600:.0f} submissions/hour"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
