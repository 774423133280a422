"""Self-check: run the public checks on your code and see what passes.

From a terminal, in the folder that holds `assignment/`:

    python -m assignment.check                    # everything
    python -m assignment.check affine_backward adam
    python -m assignment.check --notebook FullyConnectedNets

From a notebook:

    from assignment.check import check
    check("affine_backward")

The checks compare your outputs with the reference outputs of fixed cases (shipped as data),
your gradients with numeric ones, and look for shapes, dtypes and inputs changed in place.
"""

import argparse
import sys

from .checks import CATALOGUE, PublicExpected, evaluate_many, load_api

LABELS = {"passed": "PASS", "error": "ERROR", "waiting": "WAIT"}


def notebooks():
    return list(dict.fromkeys(c.notebook for c in CATALOGUE.values()))


def select(names=(), notebook=None):
    """The checks named (a check's name, or a notebook's name for all of its checks)."""
    wanted = list(CATALOGUE.values())
    if notebook:
        stem = notebook[: -len(".ipynb")] if notebook.endswith(".ipynb") else notebook
        if stem not in notebooks():
            raise ValueError(
                f"check: unknown notebook {notebook!r}; the notebooks are {', '.join(notebooks())}"
            )
        wanted = [c for c in wanted if c.notebook == stem]
    if names:
        unknown = [n for n in names if n not in CATALOGUE and n not in notebooks()]
        if unknown:
            raise ValueError(
                f"check: unknown name(s) {', '.join(unknown)}; known checks: {', '.join(CATALOGUE)}"
            )
        wanted = [c for c in wanted if c.name in names or c.notebook in names]
    return wanted


def run_checks(names=(), notebook=None, hidden=False):
    """Evaluate the selected checks on the current code; returns a list of CheckResult."""
    api = load_api(reload=True)
    expected = PublicExpected.load()
    return evaluate_many(select(names, notebook), api, expected=expected, hidden=hidden)


def render_table(results, isolation=None):
    """A plain-text table (check, result, points), the total, then what failed and why, and
    the notes of what passed."""
    results = list(results)
    width = max([len(r.name) for r in results] + [5])
    lines = [f"{'check':<{width}}  result  points", f"{'-' * width}  ------  ------"]
    for r in results:
        label = LABELS.get(r.status, "FAIL")
        lines.append(
            f"{r.name:<{width}}  {label:<6}  {as_points(r.score):g}/{as_points(r.max_score):g}"
        )
    total, out_of = sum(r.score for r in results), sum(r.max_score for r in results)
    lines.append(f"{'total':<{width}}  {'':6}  {as_points(total):g}/{as_points(out_of):g}")
    if isolation:
        lines.append(f"isolation: {isolation}")
    for r in results:
        text = feedback(r)
        if text:
            lines += ["", f"{r.name}:"] + ["  " + m for m in text.splitlines()]
    return "\n".join(lines)


def feedback(result):
    """What a student reads about one result: each failure once, with the cases it happened
    in (and any flag for review), then the notes."""
    return "\n".join(t for t in (result.message, result.notes) if t)


def as_points(value):
    value = float(value)
    return int(value) if value.is_integer() else round(value, 6)


def check(*names, notebook=None):
    """Run the public checks named (all when none) and print a table of the results."""
    print(render_table(run_checks(names, notebook)))


def grade(name, hidden=False):
    """For autograde cells: run one check, print its table, fail the cell if it fails.

    With hidden=True the hidden cases run too; in a student's kernel there are no reference
    values for them, so they are held to what needs none (shapes, dtypes, numeric gradients).
    """
    results = run_checks([name], hidden=hidden)
    print(render_table(results))
    if not all(r.passed for r in results):
        raise AssertionError(f"{name} did not pass: see the table above")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m assignment.check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("names", nargs="*", help="checks or notebooks to run (default: all)")
    parser.add_argument("--notebook", help="only the checks of this notebook")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for c in CATALOGUE.values():
            print(f"{c.name:<32} {c.notebook:<24} {c.points:g} points")
        return 0
    try:
        results = run_checks(args.names, args.notebook)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    print(render_table(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
