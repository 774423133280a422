"""Seconds to grade one submission with the hardened grader, and batch throughput.

    python benchmarks/bench_grading.py [--batch 50] [--workers 1 2] [--quick]

Prints, for the hardened grader (``autograde --checks-only``):
- the one-off set-up of a batch: the trusted release copy and sandbox detection, then
  every case's inputs and reference outputs (done once, before the workers fork);
- seconds to grade one submission: the reference (every check runs to the end), the
  release stub (every check fails at once), one with an infinite loop in one function
  (each check that calls it costs ``--stall`` seconds without progress, then a rerun of
  the checks after it);
- a batch of ``--batch`` submissions (copies of the reference) with each worker count:
  wall seconds and submissions per minute.

Figures only, no assertions; the exit code is 0 whatever they are. ``--quick`` grades a
batch of 4 for a smoke run.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grading.hardened.batch import checks_only, grade_batch  # noqa: E402
from grading.hardened.grader import Grader  # noqa: E402
from grading.hardened.sandbox import Limits  # noqa: E402
from grading.layout import REPO_ROOT
from grading.release.stage import stage_package  # noqa: E402

STUDENT_FILES = (
    "assignment/layers.py",
    "assignment/optim.py",
    "assignment/classifiers/fc_net.py",
    "assignment/classifiers/cnn.py",
)
LOOP = "\n\ndef relu_backward(dout, cache):\n    while True:\n        pass\n"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=50, help="submissions in the batch")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--stall",
        type=float,
        default=10.0,
        help="seconds the code under test may run without progress",
    )
    parser.add_argument("--quick", action="store_true", help="a batch of 4, for a smoke run")
    return parser.parse_args()


def make_submissions(base: Path) -> dict[str, Path]:
    stub = base / "stub"
    stage_package(REPO_ROOT, stub)
    reference = base / "reference"
    shutil.copytree(stub, reference)
    for rel in STUDENT_FILES:
        shutil.copyfile(REPO_ROOT / rel, reference / rel)
    looping = base / "infinite_loop"
    shutil.copytree(reference, looping)
    with open(looping / "assignment" / "layers.py", "a") as handle:
        handle.write(LOOP)
    return {"reference": reference, "stub": stub, "infinite_loop": looping}


def main():
    args = parse_args()
    size = 4 if args.quick else args.batch
    limits = Limits(stall_s=args.stall)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        base = Path(tmp)
        folders = make_submissions(base)
        start = time.perf_counter()
        grader = Grader(base / "work")
        setup = time.perf_counter() - start
        start = time.perf_counter()
        grader.warm()
        warm = time.perf_counter() - start
        cases = sum(len(grader.cases(i)) for i in range(len(grader.checks)))
        print(f"isolation: {grader.isolation}")
        print(
            f"set-up: trusted copy and sandbox detection {setup:.1f} s; inputs and reference "
            f"outputs of {len(grader.checks)} checks, {cases} cases {warm:.1f} s"
        )
        for name, folder in folders.items():
            report = grader.grade(folder, limits=limits)
            print(
                f"one submission, {name:<13} {report.seconds:6.1f} s   "
                f"score {report.score:g}/{report.max_score:g}"
            )
        batch = base / "batch"
        batch.mkdir()
        for number in range(size):
            shutil.copytree(folders["reference"], batch / f"student{number:03d}")
        for workers in args.workers:
            out = base / f"grades-{workers}"
            start = time.perf_counter()
            summary = grade_batch(
                batch,
                out,
                grade_one=checks_only(grader, limits),
                workers=workers,
                work=base / f"scratch-{workers}",
                checks=grader.checks,
                progress=False,
            )
            seconds = time.perf_counter() - start
            print(
                f"batch of {size}, {workers} worker(s): {seconds:6.1f} s   "
                f"{60 * len(summary.graded) / seconds:5.1f} submissions/min"
                + (f"   ({len(summary.failed)} not graded)" if summary.failed else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
