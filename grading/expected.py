"""Build the public-check data: the reference's outputs on every public case.

The data ships with the release so that students can self-check without the reference code.
Run `python -m grading expected` after changing a check or the reference.
"""
from pathlib import Path

import numpy as np

from assignment.checks import CATALOGUE, PUBLIC_EXPECTED, data_key, load_api, run_case


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
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path
