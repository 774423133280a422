"""Load test of batch grading: many submissions, one in ten pathological, none lost.

    python benchmarks/load_test.py [--n 200] [--workers 2] [--full 20] [--keep DIR] [--seed 0]

Builds the release and its samples, then writes ``--n`` submissions in the layouts students
hand in: a folder; ``<id>_assignment2.zip`` as ``python -m assignment.submit`` writes it;
that zip renamed by an upload system (the id inside says whose it is); a zip of the whole
assignment folder. Nine in ten are honest: the reference, the buggy sample or the release
stub (seed-chosen), each expected to score exactly what its sample scored when graded alone
up front. One in ten is pathological, in turn: ``relu_backward`` loops forever,
``affine_forward`` calls ``os._exit(1)``, ``relu_forward`` segfaults, ``sgd_momentum``
prints 100 MB per call, ``softmax_loss`` fork-bombs (where the sandbox bounds processes;
elsewhere it leaves 16 detached children behind), a zip cut in half, a file that is no zip.

The batch runs as ``python -m grading autograde --checks-only --workers W`` does, then
``grades.csv``, ``summary.csv`` and every ``<student>/results.json`` are read back to check
that no submission is lost (every student has a row per check, a summary row and a
results.json), that every honest submission scores exactly what its sample did, check by
check, and that a bad zip is a failed submission (every check an error worth 0). It prints
throughput (wall time, seconds per submission, submissions per minute) and what each
pathological submission got.

``--full K`` then grades the first K honest submissions with the full pipeline
(:func:`grading.nbgrader.autograde.autograde` without ``execute``: the notebooks recorded as
handed in) and with checks-only, and prints the seconds per submission of each and their
ratio; the scores of both are checked as above.

Figures only: no timing is asserted. Exit code 1 when a submission is lost or an honest
score differs (or the samples alone do not score as designed), else 0.
"""

import argparse
import contextlib
import csv
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The sandboxed processes run with one BLAS thread already; the trusted side does too, so
# that two workers on two cores do not fight over them.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"
os.environ.setdefault("ASSIGNMENT_DATA", "embedded")

from assignment.submit import submit  # noqa: E402
from grading.hardened.batch import autograde_checks_only  # noqa: E402
from grading.hardened.grader import Grader  # noqa: E402
from grading.hardened.reports import (  # noqa: E402
    GRADES_CSV,
    SUMMARY_CSV,
    is_written,
    read_grades_csv,
)
from grading.hardened.sandbox import NAMESPACES, UID, level_of  # noqa: E402
from grading.release.build import build_release  # noqa: E402
from grading.samples import broken_checks, make_samples  # noqa: E402

# The honest samples and their share of the honest submissions.
HONEST = {"reference": 0.7, "buggy": 0.15, "stub": 0.15}
PATHOLOGIES = (
    "hang",
    "os_exit",
    "segfault",
    "huge_output",
    "fork_bomb",
    "truncated_zip",
    "not_a_zip",
)
BAD_ZIPS = ("truncated_zip", "not_a_zip")
LAYOUTS = ("folder", "submit_zip", "renamed_zip", "zipped_folder")
# What a student who zipped their whole folder calls it.
ZIPPED_FOLDER = "assignment2"

# Each pathology's code, appended to a file of the reference: it redefines one graded
# function (the last definition is the one a module keeps).
EDITS = {
    "hang": (
        "assignment/layers.py",
        """

def relu_backward(dout, cache):
    while True:
        pass
""",
    ),
    "os_exit": (
        "assignment/layers.py",
        """

def affine_forward(x, w, b):
    import os

    os._exit(1)
""",
    ),
    "segfault": (
        "assignment/layers.py",
        """

def relu_forward(x):
    import ctypes

    ctypes.string_at(0)
""",
    ),
    "huge_output": (
        "assignment/optim.py",
        """

_sgd_momentum = sgd_momentum


def sgd_momentum(w, dw, config=None):
    import sys

    line = "x" * 999 + "\\n"
    for _ in range(100_000):  # 100 MB on every call
        sys.stdout.write(line)
    return _sgd_momentum(w, dw, config)
""",
    ),
    "fork_bomb": (
        "assignment/layers.py",
        """

def softmax_loss(x, y):
    import os

    while True:
        try:
            os.fork()
        except OSError:
            pass
""",
    ),
}
# Where the sandbox cannot bound processes (root without a uid of its own), a fork bomb
# would take the machine down: children that outlive the call stand in for it.
SPAWNS = """

def softmax_loss(x, y):
    import os
    import time

    for _ in range(16):
        if os.fork() == 0:
            os.setsid()
            time.sleep(600)
            os._exit(0)
    raise ValueError("no loss")
"""


@dataclass(frozen=True)
class Entry:
    """One generated submission: whose, what it holds (an honest sample or a pathology),
    how it is laid out, and where it lies."""

    student: str
    kind: str
    layout: str
    path: Path


@dataclass
class Record:
    """What the batch wrote for one student: each check's score and status (grades.csv),
    the total (summary.csv), and results.json."""

    scores: dict = field(default_factory=dict)
    statuses: dict = field(default_factory=dict)
    total: float | None = None
    results: dict | None = None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="submissions in the batch")
    parser.add_argument("--workers", type=int, default=2, help="grading processes at a time")
    parser.add_argument(
        "--full",
        type=int,
        default=20,
        help="honest submissions then graded with the full pipeline too (0: none)",
    )
    parser.add_argument("--keep", type=Path, help="write everything here and keep it")
    parser.add_argument("--seed", type=int, default=0, help="picks kinds, places and layouts")
    args = parser.parse_args(argv)
    if args.n < 1 or args.workers < 1 or args.full < 0:
        parser.error(f"expected --n >= 1, --workers >= 1, --full >= 0, got {vars(args)}")
    return args


def bounds_processes(isolation: str) -> bool:
    """Whether a fork bomb meets RLIMIT_NPROC in this sandbox (it does not hold for root
    without a uid of its own)."""
    return level_of(isolation) in (NAMESPACES, UID) or os.geteuid() != 0


def plan(n: int, seed: int) -> list[tuple[str, str, str]]:
    """(student, kind, layout) of ``n`` submissions: ``n // 10`` pathological at seed-chosen
    places, taking :data:`PATHOLOGIES` in turn; the others honest, of seed-chosen kinds;
    seed-chosen layouts (a bad zip is its own layout)."""
    rng = random.Random(seed)
    bad = set(rng.sample(range(n), n // 10))
    width = max(3, len(str(n - 1)))
    rows, turn = [], 0
    for i in range(n):
        if i in bad:
            kind, turn = PATHOLOGIES[turn % len(PATHOLOGIES)], turn + 1
        else:
            kind = rng.choices(list(HONEST), weights=list(HONEST.values()))[0]
        layout = kind if kind in BAD_ZIPS else rng.choice(LAYOUTS)
        rows.append((f"student{i:0{width}d}", kind, layout))
    return rows


def make_variants(reference: Path, dest: Path, isolation: str) -> dict[str, Path]:
    """A copy of ``reference`` per pathology of :data:`EDITS`, its code appended."""
    variants = {}
    for kind, (rel, code) in EDITS.items():
        if kind == "fork_bomb" and not bounds_processes(isolation):
            code = SPAWNS
        folder = Path(shutil.copytree(reference, dest / kind))
        with open(folder / rel, "a", encoding="utf-8") as handle:
            handle.write(code)
        variants[kind] = folder
    return variants


def handed_in(source: Path, student: str, scratch: Path) -> Path:
    """``<student>_assignment2.zip`` of ``source``, written by ``assignment.submit`` (in a
    copy, since it writes into the folder it zips; what it prints is dropped)."""
    copy = Path(shutil.copytree(source, scratch / student))
    with contextlib.redirect_stdout(io.StringIO()):
        report = submit(copy, student=student, html=False)
    target = Path(shutil.move(report.zip, scratch / report.zip.name))
    shutil.rmtree(copy)
    return target


def write_entry(source: Path, folder: Path, student: str, layout: str) -> Path:
    """Lay ``source`` out in ``folder`` as ``student`` hands it in; return the path."""
    if layout == "folder":
        return Path(shutil.copytree(source, folder / student))
    if layout == "not_a_zip":
        target = folder / f"{student}.zip"
        target.write_bytes(b"not a zip: the upload stopped here\n")
        return target
    with tempfile.TemporaryDirectory(prefix="load-test-", dir=folder.parent) as scratch:
        scratch = Path(scratch)
        if layout == "zipped_folder":
            shutil.copytree(source, scratch / ZIPPED_FOLDER)
            archive = shutil.make_archive(str(scratch / student), "zip", scratch, ZIPPED_FOLDER)
            return Path(shutil.move(archive, folder / f"{student}.zip"))
        archive = handed_in(source, student, scratch)
        if layout == "renamed_zip":
            return Path(
                shutil.move(archive, folder / f"upload-{zlib.crc32(archive.name.encode()):08x}.zip")
            )
        if layout == "truncated_zip":
            data = archive.read_bytes()
            archive.write_bytes(data[: len(data) // 2])
        return Path(shutil.move(archive, folder / archive.name))


def write_submissions(sources: dict[str, Path], folder: Path, rows) -> list[Entry]:
    """Every planned (student, kind, layout) written into ``folder`` from ``sources``
    ({kind: folder}; a bad zip is made from the reference)."""
    folder.mkdir(parents=True)
    return [
        Entry(
            student,
            kind,
            layout,
            write_entry(sources.get(kind, sources["reference"]), folder, student, layout),
        )
        for student, kind, layout in rows
    ]


def expected_scores(samples: dict[str, Path], work: Path) -> tuple[dict, str, list[str]]:
    """Each honest sample graded alone: ({kind: {check: score}}, the isolation, and a
    problem per sample that does not score as designed: the reference passes every
    check, the buggy sample fails exactly the checks of its bugs, the stub fails all)."""
    start = time.monotonic()
    grader = Grader(work)
    grader.warm()
    print(f"grader set-up (trusted copy, reference outputs): {time.monotonic() - start:.1f} s")
    expected, problems = {}, []
    for kind, folder in samples.items():
        report = grader.grade(folder)
        expected[kind] = {r.name: r.score for r in report.results}
        failing = {r.name for r in report.results if not r.passed}
        designed = {
            "reference": set(),
            "buggy": broken_checks(expected[kind]),
            "stub": set(expected[kind]),
        }[kind]
        print(f"{kind} alone: {report.score:g}/{report.max_score:g} in {report.seconds:.1f} s")
        if failing != designed:
            problems.append(
                f"{kind} alone fails {sorted(failing)}, expected {sorted(designed)}: the "
                "expected scores are not trustworthy"
            )
    return expected, grader.isolation, problems


def read_records(out: Path, students) -> dict[str, Record]:
    """What the batch in ``out`` wrote for each student of its tables, and results.json of
    each of ``students``."""
    records: dict[str, Record] = {}
    for row in read_grades_csv(out / GRADES_CSV):
        record = records.setdefault(row["student"], Record())
        if not is_written(row):
            record.scores[row["check"]] = float(row["score"])
            record.statuses[row["check"]] = row["status"]
    if (out / SUMMARY_CSV).is_file():
        with open(out / SUMMARY_CSV, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                records.setdefault(row["student"], Record()).total = float(row["total"])
    for student in students:
        path = out / student / "results.json"
        if path.is_file():
            records.setdefault(student, Record()).results = json.loads(path.read_text())
    return records


def lost_parts(record: Record | None, checks: set[str]) -> list[str]:
    """What of a student's grades is missing (empty when nothing is)."""
    if record is None:
        return ["every row"]
    missing = []
    if set(record.scores) != checks:
        missing.append(f"rows of {len(checks - set(record.scores))} check(s) in {GRADES_CSV}")
    if record.total is None:
        missing.append(f"a row in {SUMMARY_CSV}")
    if record.results is None:
        missing.append("results.json")
    return missing


def score_problems(record: Record, want: dict) -> list[str]:
    """How an honest student's grades differ from its sample's ``want`` ({check: score})."""
    total = sum(want.values())
    differ = {c: (record.scores[c], s) for c, s in want.items() if record.scores[c] != s}
    problems = [f"{check}: {got:g}, expected {s:g}" for check, (got, s) in differ.items()]
    if record.total != total:
        problems.append(f"{SUMMARY_CSV} total {record.total:g}, expected {total:g}")
    if record.results["score"] != total:
        problems.append(f"results.json score {record.results['score']:g}, expected {total:g}")
    return problems


def verify(out: Path, entries: list[Entry], expected: dict, summary) -> list[str]:
    """A line per problem in the batch's grades in ``out``: a submission lost (or a grade
    nobody handed in), an honest score that differs, a bad zip not failed with zeros, a
    submission skipped. Empty when there is none."""
    checks = set(next(iter(expected.values())))
    records = read_records(out, [e.student for e in entries])
    problems = [f"skipped: {note}" for note in summary.skipped]
    problems += [
        f"{student}: grades for a submission nobody handed in"
        for student in sorted(set(records) - {e.student for e in entries})
    ]
    for entry in entries:
        who = f"{entry.student} ({entry.kind}, {entry.layout})"
        record = records.get(entry.student)
        missing = lost_parts(record, checks)
        if missing:
            problems.append(f"{who}: lost: missing {', '.join(missing)}")
        elif entry.kind in expected:
            problems += [f"{who}: {p}" for p in score_problems(record, expected[entry.kind])]
            if entry.student in summary.failed:
                problems.append(f"{who}: not graded: {summary.failed[entry.student]}")
        elif entry.kind in BAD_ZIPS and (
            entry.student not in summary.failed
            or any(record.scores.values())
            or set(record.statuses.values()) != {"error"}
        ):
            problems.append(f"{who}: expected a failed submission, every check an error worth 0")
    return problems


def outcome(entry: Entry, record: Record | None, summary) -> str:
    """One line: what a pathological submission got."""
    head = f"  {entry.student} {entry.kind:<13} {entry.layout:<13}"
    if record is None or record.results is None:
        return f"{head} lost"
    if entry.student in summary.failed:
        return f"{head} not graded: {summary.failed[entry.student][:100]}"
    tests = record.results["tests"]
    failed = [t for t in tests if t["status"] != "passed"]
    top = sum(t["max_score"] for t in tests)
    line = f"{head} {record.results['score']:g}/{top:g}"
    if failed:
        first = (failed[0]["output"].strip().splitlines() or [""])[0]
        line += f", failed {', '.join(t['name'] for t in failed)}; {first[:110]}"
    return line


def checks_only_batch(submissions: Path, out: Path, workers: int):
    """``autograde --checks-only`` over ``submissions``: (summary, wall seconds)."""
    start = time.monotonic()
    summary = autograde_checks_only(submissions, out, workers=workers, progress=False)
    return summary, time.monotonic() - start


def report_throughput(what: str, count: int, summary, wall: float) -> None:
    graded = summary.seconds
    print(
        f"{what}: {count} submissions in {wall:.0f} s wall ({wall - graded:.0f} s set-up, "
        f"{graded:.0f} s grading); {graded / count:.2f} s per submission, "
        f"{60 * count / graded:.1f} submissions/min ({60 * count / wall:.1f} with the set-up)"
    )


def full_comparison(entries, expected, base: Path, k: int, workers: int) -> list[str]:
    """The first ``k`` honest submissions graded with the full pipeline and with checks-only:
    seconds per submission of each, their ratio; the problems :func:`verify` finds in each."""
    from grading.nbgrader.autograde import autograde

    chosen = [e for e in entries if e.kind in expected][:k]
    folder = base / "full-submissions"
    folder.mkdir()
    for entry in chosen:
        copy = shutil.copytree if entry.path.is_dir() else shutil.copyfile
        copy(entry.path, folder / entry.path.name)
    checks, checks_wall = checks_only_batch(folder, base / "full-checks-only", workers)
    start = time.monotonic()
    full = autograde(folder, base / "full", workers=workers, progress=False, execute=False)
    full_wall = time.monotonic() - start
    report_throughput(f"checks-only on the same {len(chosen)}", len(chosen), checks, checks_wall)
    report_throughput(
        "full pipeline, notebooks recorded (no --execute)", len(chosen), full.batch, full_wall
    )
    print(f"full / checks-only, seconds per submission: {full.batch.seconds / checks.seconds:.1f}x")
    return verify(base / "full-checks-only", chosen, expected, checks) + verify(
        base / "full", chosen, expected, full.batch
    )


@contextlib.contextmanager
def workspace(keep: Path | None):
    """``keep`` (created, must be empty), else a temporary folder removed afterwards."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
            yield Path(tmp)
        return
    keep.mkdir(parents=True, exist_ok=True)
    if any(keep.iterdir()):
        raise SystemExit(f"load_test: --keep expects an empty or new folder, got {keep}")
    yield keep.resolve()


def prepare(base: Path, args) -> tuple[list[Entry], dict, list[str]]:
    """The release, its samples, their expected scores and the submissions."""
    release = build_release(out=base / "release")
    print(f"release: {len(release.notebooks)} notebooks ({release.seconds:.0f} s)")
    samples = make_samples(base / "release", base / "samples", names=list(HONEST))
    expected, isolation, problems = expected_scores(samples, base / "expected-work")
    print(f"isolation: {isolation}")
    sources = {**samples, **make_variants(samples["reference"], base / "variants", isolation)}
    start = time.monotonic()
    entries = write_submissions(sources, base / "submissions", plan(args.n, args.seed))
    print(f"{len(entries)} submissions written in {time.monotonic() - start:.0f} s")
    return entries, expected, problems


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"{os.cpu_count()} CPU(s); load average before: {os.getloadavg()[0]:.2f}")
    with workspace(args.keep) as base:
        entries, expected, problems = prepare(base, args)
        summary, wall = checks_only_batch(base / "submissions", base / "grades", args.workers)
        report_throughput(f"checks-only, {args.workers} worker(s)", len(entries), summary, wall)
        problems += verify(base / "grades", entries, expected, summary)
        records = read_records(base / "grades", [e.student for e in entries])
        print("pathological submissions:")
        for entry in entries:
            if entry.kind not in expected:
                print(outcome(entry, records.get(entry.student), summary))
        honest = sum(e.kind in expected for e in entries)
        print(f"{honest} honest submissions, {len(entries) - honest} pathological")
        if args.full:
            problems += full_comparison(entries, expected, base, args.full, args.workers)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for problem in problems:
        print(f"PROBLEM {problem}")
    print(f"{len(problems)} problem(s)" if problems else "none lost, every honest score exact")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
