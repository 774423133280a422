"""Build the public-check data: the reference's outputs on every public case.

The data ships with the release so that students can self-check without the reference code.
Run `python -m grading expected` after changing a check or the reference.
"""

from pathlib import Path

import numpy as np

from assignment.checks import CATALOGUE, PUBLIC_EXPECTED, data_key, load_api, run_case
from assignment.checks.core import NUMERIC_TOL, scaled_error, tolerance
from grading.util import atomic_write


def public_expected_arrays(reference=None):
    """{key: array} for every public case of every check, from the reference code."""
    reference = reference or load_api()
    arrays = {}
    for check in CATALOGUE.values():
        for case in check.cases:
            got = run_case(check, reference, check.inputs_for(case))
            for output, value in got.items():
                if output != "__mutated__":
                    arrays[data_key(check, case, output)] = value
    return arrays


def write_public_expected(path: Path = PUBLIC_EXPECTED) -> Path:
    """Write the data atomically (a half-written file would break every self-check)."""
    arrays = public_expected_arrays()
    # np.savez adds ".npz" to a name without it; a file object keeps the name we chose.
    return atomic_write(path, lambda tmp: _savez(tmp, arrays))


def _savez(path: Path, arrays: dict) -> None:
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def stale_entries(shipped: dict, fresh: dict) -> list[str]:
    """Keys whose shipped value a correct solution computed here could not match: compared
    with the tolerance the checks use for that output (values below the checks' zero scale,
    such as the gradient of a bias before batchnorm, compare as zeros), so rounding from
    another CPU, BLAS or numpy is not staleness."""
    stale = sorted(set(shipped) ^ set(fresh))
    for check in CATALOGUE.values():
        for case in check.cases:
            inputs = check.inputs_for(case)
            outputs = {o.name: o for o in check.outputs_for(inputs)}
            numeric = {o.numeric for o in outputs.values() if o.numeric}
            prefix = data_key(check, case, "")
            for key in [k for k in fresh if k.startswith(prefix) and k in shipped]:
                a, b, name = shipped[key], fresh[key], key[len(prefix) :]
                if a.dtype != b.dtype or a.shape != b.shape:
                    stale.append(key)
                elif b.dtype.kind not in "fc":
                    if not np.array_equal(a, b):
                        stale.append(key)
                else:
                    tol = tolerance(outputs.get(name), b.dtype)
                    if name in numeric or _is_numeric_gradient(name):
                        tol = max(tol, NUMERIC_TOL)
                    if scaled_error(a, b) > tol:
                        stale.append(key)
    return stale


def _is_numeric_gradient(name: str) -> bool:
    """The names checks give centred differences (numeric.W1, dx_num), judged or not."""
    return name.startswith("numeric.") or name.endswith("_num")
