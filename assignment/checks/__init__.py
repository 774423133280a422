"""The check catalogue: every graded function, defined once.

    from assignment.checks import CATALOGUE, evaluate
    result = evaluate(CATALOGUE["affine_backward"], load_api(), expected=PublicExpected.load())

The same definition serves the self-check (`python -m assignment.check`), the notebooks'
autograder cells (`grade(...)`) and the hardened grader (`python -m grading`).

Adding a check, in order (each step has a test that fails when it is skipped):

1. The reference: the function's body between the solution markers in the module students
   fill in; the release replaces it with a stub naming the notebook.
2. The check: `Check(name=..., notebook=..., module=..., points=..., make_inputs=...,
   run=..., outputs=[Output(...)], cases=[...], hidden_cases=[...])` (keyword arguments
   only) in the notebook's module here (fc, norm, dropout, conv, pytorch, netvis), hidden
   cases between the hidden-test markers; `uses` for the layers
   its code calls, `depends_on` for the forward pass a backward check's cache comes from,
   `may_modify` and `forbids` where they apply. Append it to that module's CHECKS.
   Cases: several seeds and shapes, non-square inputs, a batch of 1, random upstream
   gradients (never all ones).
3. The notebook: an autograder cell calling `grade("<name>")` with grade_id
   `test_<name, dots as underscores>` and the check's points
   (tests/notebooks/test_structure.py and the release build hold them together).
4. The tests, in tests/checks/test_<module>_checks.py: the reference passes, the stub fails
   naming the notebook, at least three realistic bugs fail with a message that says what to
   change, and the classic-style second solution (tests/fixtures/classic_solution) passes.
5. The data: `python -m grading expected` rewrites public_expected.npz
   (tests/grading/test_expected.py says when it is stale).

A new notebook also needs its module in CHECK_MODULES below, its name in
`grading.layout.CURRICULUM` and a marker in pytest.ini.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np

from . import conv, dropout, fc, netvis, norm, pytorch
from .api import load_api
from .core import Case, CaseOutcome, Check, CheckResult, Output, StudentError, judge, run_case

CHECK_MODULES = [fc, norm, dropout, conv, pytorch, netvis]
CATALOGUE = {check.name: check for module in CHECK_MODULES for check in module.CHECKS}

PUBLIC_EXPECTED = Path(__file__).with_name("public_expected.npz")


def data_key(check, case, output):
    return f"{check.name}|{case.key}|{output}"


class PublicExpected:
    """The reference outputs of the public cases, shipped as data (no reference code)."""

    def __init__(self, arrays):
        self.arrays = arrays

    @classmethod
    def load(cls, path=PUBLIC_EXPECTED):
        with np.load(path, allow_pickle=False) as data:
            return cls({k: data[k] for k in data.files})

    def for_case(self, check, case):
        prefix = data_key(check, case, "")
        found = {k[len(prefix) :]: v for k, v in self.arrays.items() if k.startswith(prefix)}
        return found or None


def evaluate(check, api, expected=None, hidden=False, reference=None):
    """Run every case of a check against `api` and judge it.

    The expected outputs of a case come from `reference` (an api of the reference code: the
    hardened grader's trusted side), else from `expected` (the shipped public values), else
    from nothing: then only what needs no reference is judged (shapes, dtypes, mutation,
    gradients against the numeric gradients of the code's own forward pass).
    """
    outcomes = []
    for case, is_hidden in _cases(check, hidden):
        inputs = check.inputs_for(case)
        try:
            got = run_case(check, api, inputs)
        except StudentError as e:
            outcomes.append(CaseOutcome(case.key, [str(e)], is_hidden))
            continue
        if reference is not None:
            want = run_case(check, reference, inputs)
        elif expected is not None and not is_hidden:
            want = expected.for_case(check, case)
            if want is None:
                raise LookupError(
                    f"no public data for {check.name} case {case.key!r}; "
                    f"rebuild it with `python -m grading expected`"
                )
        else:
            want = None
        notes = []
        messages = judge(check, inputs, got, want, notes, is_hidden)
        outcomes.append(CaseOutcome(case.key, messages, is_hidden, notes))
    return CheckResult(check.name, check.notebook, check.points, outcomes)


def evaluate_many(checks, api, expected=None, hidden=False):
    """evaluate() each check; one that fails while a layer it `uses` fails its own check is
    'waiting': in a student's kernel there is no correct layer to stand in for the broken
    one, so its verdict waits (the grade judges it with a correct layer standing in)."""
    done = {}

    def result(check):
        if check.name not in done:
            done[check.name] = evaluate(check, api, expected=expected, hidden=hidden)
        return done[check.name]

    results = []
    for check in checks:
        r = result(check)
        failing = [n for n in check.uses if not r.passed and not result(CATALOGUE[n]).passed]
        r = waiting(check, failing) if failing else r
        built_on = [n for n in check.depends_on if not r.passed and not result(CATALOGUE[n]).passed]
        results.append(name_dependencies(r, built_on))
    return results


def name_dependencies(result, failing):
    """A failed result with a line naming the failing checks whose output it was built on."""
    if not failing:
        return result
    names = ", ".join(failing)
    line = (
        f"{result.name}: its cache comes from your {names}, which fails its own check; "
        f"fix that first"
    )
    return replace(result, outcomes=[*result.outcomes, CaseOutcome("all cases", [line])])


def waiting(check, failing):
    """The result of a check that cannot be judged while the checks `failing` fail."""
    names = ", ".join(failing)
    one = len(failing) == 1
    message = (
        f"{check.name}: waits for {names}, which {'fails its' if one else 'fail their'} "
        f"own check{'' if one else 's'}; fix {'it' if one else 'them'} first. The grade "
        f"judges {check.name} with correct {names} standing in, so a bug there costs "
        f"only {'its' if one else 'their'} own points"
    )
    return CheckResult(
        check.name,
        check.notebook,
        check.points,
        [CaseOutcome("all cases", [message])],
        status="waiting",
    )


def family(check_name, layers):
    """The layer functions that stand in together for a failing check: a forward/backward
    pair shares its cache, so both are replaced (affine_backward -> affine_forward,
    affine_backward)."""
    stem = check_name
    for suffix in ("_backward_alt", "_backward", "_forward"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    else:
        return (check_name,)
    return tuple(
        stem + s for s in ("_forward", "_backward", "_backward_alt") if hasattr(layers, stem + s)
    )


def _cases(check, hidden):
    """(case, is_hidden) pairs. Where the hidden cases were removed (the student release),
    hidden=True re-runs the public cases with new seeds, judged without reference values."""
    public = [(case, False) for case in check.cases]
    if not hidden:
        return public
    extra = check.hidden_cases or [
        replace(c, seed=c.seed + 1000, label=f"{c.key}, new seed") for c in check.cases
    ]
    return public + [(case, True) for case in extra]


__all__ = [
    "CATALOGUE",
    "Case",
    "CaseOutcome",
    "Check",
    "CheckResult",
    "Output",
    "PublicExpected",
    "StudentError",
    "data_key",
    "evaluate",
    "evaluate_many",
    "family",
    "judge",
    "load_api",
    "name_dependencies",
    "run_case",
    "waiting",
]
