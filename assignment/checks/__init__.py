"""The check catalogue: every graded function, defined once.

    from assignment.checks import CATALOGUE, evaluate
    result = evaluate(CATALOGUE["affine_backward"], load_api(), expected=PublicExpected.load())
"""
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import conv, dropout, fc, norm, pytorch
from .api import load_api
from .core import Case, CaseOutcome, Check, CheckResult, Output, StudentError, judge, run_case

CHECK_MODULES = [fc, norm, dropout, conv, pytorch]
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
        found = {k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)}
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
                raise LookupError(f"no public data for {check.name} case {case.key!r}; "
                                  f"rebuild it with `python -m grading expected`")
        else:
            want = None
        outcomes.append(CaseOutcome(case.key, judge(check, inputs, got, want), is_hidden))
    return CheckResult(check.name, check.notebook, check.points, outcomes)


def _cases(check, hidden):
    """(case, is_hidden) pairs. Where the hidden cases were removed (the student release),
    hidden=True re-runs the public cases with new seeds, judged without reference values."""
    public = [(case, False) for case in check.cases]
    if not hidden:
        return public
    extra = check.hidden_cases or [replace(c, seed=c.seed + 1000, label=f"{c.key}, new seed")
                                   for c in check.cases]
    return public + [(case, True) for case in extra]


__all__ = ["CATALOGUE", "Case", "CaseOutcome", "Check", "CheckResult", "Output", "PublicExpected",
           "StudentError", "data_key", "evaluate", "judge", "load_api", "run_case"]
