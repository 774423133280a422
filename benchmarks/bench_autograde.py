"""Seconds to autograde one submission with the full pipeline, and batch throughput with 1 and
2 workers (nbgrader in the confined kernel + hardened grader + reconciliation + feedback).

    python benchmarks/bench_autograde.py [--notebooks N ...] [--batch 2] [--quick]

A full run executes every notebook of a submission, minutes per submission on a laptop, so
the batches measured hold ``--batch`` copies of the reference (default 2) and the figures for
50 submissions are extrapolated from them (the output says so). The hardened grader alone
(``--checks-only``) is measured on a real batch of 50. Prints figures only.
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
from grading.nbgrader.autograde import autograde, describe_isolation  # noqa: E402
from grading.release.build import build_release  # noqa: E402
from grading.samples import make_samples  # noqa: E402

TARGET = 50


def copies(reference: Path, folder: Path, n: int) -> Path:
    """``n`` copies of the reference submission, one per student."""
    for i in range(n):
        shutil.copytree(reference, folder / f"student{i:02d}")
    return folder


def full_batch(submissions: Path, out: Path, workers: int, notebooks):
    start = time.monotonic()
    summary = autograde(submissions, out, workers=workers, notebooks=notebooks, progress=False)
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
        summary, _ = full_batch(one, tmp / "out-one", 1, notebooks)
        per_one = summary.batch.seconds
        print(f"kernel isolation: {describe_isolation(summary.kernel_isolation)}")
        print(f"hardened isolation: {describe_isolation(summary.isolation)}")
        print(f"set-up per batch (course, reference outputs, data): {summary.setup_seconds:.1f} s")
        print(f"one submission, full pipeline: {per_one:.1f} s")

        many = copies(reference, tmp / "many", batch)
        rates = {}
        for workers in (1, 2):
            summary, _ = full_batch(many, tmp / f"out-{workers}", workers, notebooks)
            seconds = summary.batch.seconds
            rates[workers] = batch / seconds
            print(
                f"{batch} submissions, {workers} worker(s): {seconds:.1f} s, "
                f"{rates[workers] * 3600:.1f} submissions/hour; {TARGET} submissions "
                f"extrapolated: {TARGET / rates[workers] / 60:.1f} min (+ set-up)"
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
