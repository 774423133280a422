"""`python -m grading VERB ...`: parse arguments, call one function per verb, print one line
on error (the traceback only with -v)."""

import argparse
import contextlib
import json
import sys
from pathlib import Path


def _expected(args):
    from grading.release.expected import write_public_expected

    path = write_public_expected()
    print(f"wrote {path}")
    return 0


def _release(args):
    from grading.release.build import build_release
    from grading.release.publish import write_git, write_zip

    report = build_release(
        out=args.out, replace=args.replace, repo_url=args.repo_url, branch=args.branch
    )
    print(
        f"wrote the release to {report.out}: {len(report.files)} files, "
        f"{report.stripped_regions} solution regions stubbed, in {report.seconds:.1f} s"
    )
    if args.zip:
        print(f"wrote {write_zip(report.out, report.out.with_suffix('.zip'))}")
    if args.git:
        commit = write_git(report.out, args.branch)
        print(
            f"committed the release on branch {args.branch} ({commit[:12]}) in "
            f"{report.out}; push it to {args.repo_url or 'the course repository'}"
        )
    return 0


def _check(args):
    from grading.hardened.batch import check_one
    from grading.hardened.reports import render_table, results_json, written_text
    from grading.layout import NOTEBOOKS, REPO_ROOT
    from grading.release.notebook_transforms import written_questions

    # With --json, stdout is the document alone: what the set-up prints (the data notice)
    # goes to stderr.
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        report = check_one(
            args.submission, limits=_limits(args), isolation=args.isolation, checks=args.only
        )
    # As in a batch: the written questions of the notebooks graded, pending a grader.
    notebooks = {r.notebook for r in report.results}
    written = [] if args.only else written_questions(REPO_ROOT / NOTEBOOKS, notebooks)
    if args.json:
        data = results_json(report.results, report.isolation, written=written)
        print(json.dumps(data, indent=2))
    else:
        print(render_table(report.results, report.isolation))
        if written:
            print("\n" + written_text(written))
    return 0


def _autograde(args):
    if args.checks_only:
        from grading.hardened.batch import autograde_checks_only

        summary = autograde_checks_only(
            args.submissions,
            args.out,
            workers=args.workers,
            limits=_limits(args),
            isolation=args.isolation,
            checks=args.only,
            shard=args.shard,
        )
    else:
        from grading.nbgrader.autograde import autograde, describe_notebooks

        from .errors import GradingError

        if args.only:
            raise GradingError(
                None,
                None,
                "autograde: --only needs --checks-only (the full "
                "pipeline grades every check of the course's notebooks)",
            )
        full = autograde(
            args.submissions,
            args.out,
            workers=args.workers,
            isolation=args.isolation,
            limits=_limits(args),
            shard=args.shard,
            execute=args.execute,
        )
        summary = full.batch
        print(f"nbgrader course (formgrader, gradebook): {full.course}")
        print(describe_notebooks(full))
    failed = f", {len(summary.failed)} not graded" if summary.failed else ""
    print(
        f"graded {len(summary.graded)} submission(s){failed} in {summary.seconds:.0f} s; "
        f"grades in {summary.csv}"
    )
    for note in summary.skipped:
        print(f"skipped {note}")
    for student, reason in summary.failed.items():
        print(f"not graded {student}: {reason}")
    return 0


def _merge(args):
    from grading.hardened.merge_outputs import merge_outputs

    summary = merge_outputs(args.outputs, args.out)
    print(
        f"merged {len(summary.students)} student(s) from {len(args.outputs)} folder(s); "
        f"grades in {summary.csv}"
    )
    for note in summary.notes:
        print(note)
    return 0


def _export(args):
    from grading.nbgrader.export import export_grades

    summary = export_grades(args.grades, args.course)
    print(
        f"{summary.graded} written answer(s) graded, {summary.pending} still pending; "
        f"grades in {summary.csv}"
    )
    for note in summary.notes:
        print(note)
    return 0


def _gradescope(args):
    from grading.hardened.gradescope import write_bundle

    bundle = write_bundle(args.out)
    print(
        f"wrote {bundle.zip} ({len(bundle.files)} files; unzipped in {bundle.folder}): "
        "upload it as the autograder of a Gradescope programming assignment"
    )
    return 0


def _demo(args):
    from .demo import run_demo

    report = run_demo(args.out, workers=args.workers)
    return 0 if report.ok else 1


def _grader_options(parser):
    from grading.hardened.sandbox import LEVELS, Limits

    parser.add_argument(
        "--isolation",
        choices=LEVELS,
        help="sandbox level to use (default: the strongest that works here)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="CHECK",
        help="run this check only (repeat for more); default: every check",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="time the hardened grader may take over one submission, all checks together "
        f"(default: {Limits().submission_s:g})",
    )


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m grading")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser(
        "expected", help="rebuild the public-check data from the reference"
    ).set_defaults(func=_expected)

    release = verbs.add_parser("release", help="build the student release")
    release.add_argument("--out", type=Path, required=True, help="folder to write the release to")
    release.add_argument("--replace", action="store_true", help="replace what --out holds")
    release.add_argument(
        "--repo-url",
        help="the course repository the release is pushed to: "
        "Colab clones it and the notebooks' badges open it",
    )
    release.add_argument("--branch", default="main", help="its branch (default: main)")
    shape = release.add_mutually_exclusive_group()
    shape.add_argument(
        "--zip",
        action="store_true",
        help="also write DIR.zip (one folder, assignment2/, as students upload it to Drive)",
    )
    shape.add_argument(
        "--git",
        action="store_true",
        help="make DIR a git repository with the release committed, ready to push",
    )
    release.set_defaults(func=_release)

    check = verbs.add_parser("check", help="hardened grade of one submission (folder or zip)")
    check.add_argument("submission", type=Path)
    check.add_argument("--json", action="store_true", help="print results.json instead of a table")
    _grader_options(check)
    check.set_defaults(func=_check)

    autograde = verbs.add_parser("autograde", help="grade a folder of submissions")
    autograde.add_argument("submissions", type=Path, help="one folder or .zip per student")
    autograde.add_argument("--out", type=Path, required=True, help="folder for the grades")
    autograde.add_argument(
        "--checks-only",
        action="store_true",
        help="the hardened grader alone (no notebook execution)",
    )
    autograde.add_argument(
        "--execute",
        action="store_true",
        help="run every notebook again in a confined kernel (minutes per submission; figures "
        "kept as images, tampering flagged) instead of recording them as submitted",
    )
    autograde.add_argument("--workers", type=_positive, default=1, help="parallel workers")
    autograde.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="grade slice I of N (the students sorted by id, every N-th from the I-th), "
        "so N machines each grade one into a folder of their own; join them with merge",
    )
    _grader_options(autograde)
    autograde.set_defaults(func=_autograde)

    merge = verbs.add_parser(
        "merge", help="join the grade folders of several batches (shards) into one"
    )
    merge.add_argument("outputs", type=Path, nargs="+", help="grade folders (only read)")
    merge.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for the joined grades (an earlier merge there is updated)",
    )
    merge.set_defaults(func=_merge)

    export = verbs.add_parser(
        "export",
        help="bring the formgrader's scores of the written answers into grades.csv and summary.csv",
    )
    export.add_argument(
        "--grades", type=Path, required=True, help="the grade folder (the --out of autograde)"
    )
    export.add_argument(
        "--course",
        type=Path,
        help="the nbgrader course the answers were graded in (default: GRADES/.nbgrader)",
    )
    export.set_defaults(func=_export)

    gradescope = verbs.add_parser("gradescope", help="write the Gradescope autograder zip")
    gradescope.add_argument("--out", type=Path, required=True, help="folder for autograder.zip")
    gradescope.set_defaults(func=_gradescope)

    demo = verbs.add_parser("demo", help="release, sample submissions, full autograde, grade table")
    demo.add_argument("--out", type=Path, default=Path("build/demo"), help="folder for everything")
    demo.add_argument("--workers", type=_positive, default=2, help="parallel workers")
    demo.set_defaults(func=_demo)
    return parser


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _shard(text):
    from grading.errors import GradingError
    from grading.hardened.batch import parse_shard

    try:
        return parse_shard(text)
    except GradingError as error:
        raise argparse.ArgumentTypeError(error.msg) from None


def _limits(args):
    from grading.hardened.sandbox import Limits

    return Limits() if args.timeout is None else Limits(submission_s=args.timeout)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:  # noqa: BLE001 - one line for the user; -v for the traceback
        if args.verbose:
            raise
        print(f"error: {e}", file=sys.stderr)  # a GradingError's text starts with its location
        return 1
