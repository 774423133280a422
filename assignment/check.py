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

from .checks import CATALOGUE, PublicExpected, evaluate, load_api


def select(names=(), notebook=None):
    """The checks named (a check's name, or a notebook's name for all of its checks)."""
    wanted = list(CATALOGUE.values())
    if notebook:
        wanted = [c for c in wanted if c.notebook == notebook]
    if names:
        unknown = [n for n in names if n not in CATALOGUE and all(c.notebook != n for c in CATALOGUE.values())]
        if unknown:
            raise ValueError(f"check: unknown name(s) {', '.join(unknown)}; "
                             f"known checks: {', '.join(CATALOGUE)}")
        wanted = [c for c in wanted if c.name in names or c.notebook in names]
    return wanted


def run_checks(names=(), notebook=None, hidden=False):
    """Evaluate the selected checks on the current code; returns a list of CheckResult."""
    api = load_api(reload=True)
    expected = PublicExpected.load()
    return [evaluate(c, api, expected=expected, hidden=hidden) for c in select(names, notebook)]


def render_table(results):
    """A plain-text table of results, followed by the messages of what failed."""
    width = max([len(r.name) for r in results] + [5])
    lines = [f"{'check':<{width}}  result  points", f"{'-' * width}  ------  ------"]
    for r in results:
        lines.append(f"{r.name:<{width}}  {'PASS' if r.passed else 'FAIL':<6}  {r.score:g}/{r.max_score:g}")
    total, out_of = sum(r.score for r in results), sum(r.max_score for r in results)
    lines.append(f"{'total':<{width}}  {'':6}  {total:g}/{out_of:g}")
    failures = [r for r in results if not r.passed]
    for r in failures:
        lines += ["", f"{r.name}:"] + ["  " + m for m in r.message.splitlines()]
    return "\n".join(lines)


def check(*names, notebook=None):
    """Run the public checks named (all when none) and print a table; returns the results."""
    results = run_checks(names, notebook)
    print(render_table(results))
    return results


def grade(name, hidden=False):
    """For autograde cells: run one check, print its table, fail the cell if it fails.

    With hidden=True the hidden cases run too; in a student's kernel there are no reference
    values for them, so they are held to what needs none (shapes, dtypes, numeric gradients).
    """
    results = run_checks([name], hidden=hidden)
    print(render_table(results))
    failed = [r for r in results if not r.passed]
    if failed:
        raise AssertionError("\n".join(r.message for r in failed))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m assignment.check", description=__doc__.split("\n\n")[0])
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
