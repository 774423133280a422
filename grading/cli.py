"""`python -m grading VERB ...`: parse arguments, call one function per verb, print one line
on error (the traceback only with -v)."""
import argparse
import sys
from pathlib import Path


def _expected(args):
    from .expected import write_public_expected
    path = write_public_expected()
    print(f"wrote {path}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m grading")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("expected", help="rebuild the public-check data from the reference").set_defaults(func=_expected)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:  # noqa: BLE001 - one line for the user; -v for the traceback
        if args.verbose:
            raise
        location = f"{e.path}: " if getattr(e, "path", None) else ""
        print(f"error: {location}{e}", file=sys.stderr)
        return 1
