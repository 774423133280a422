"""Is the shipped public-check data exactly what the reference produces today?"""
import numpy as np
import pytest

from assignment.checks import PublicExpected
from assignment.checks.core import scaled_error
from grading.expected import public_expected_arrays

pytestmark = pytest.mark.grading


def test_shipped_public_data_is_up_to_date():
    shipped = PublicExpected.load().arrays
    fresh = public_expected_arrays()
    assert sorted(shipped) == sorted(fresh), "run `python -m grading expected` and commit the npz"
    # BLAS threads and CPUs change summation order: allow rounding, not a change of the reference.
    stale = [k for k in fresh if shipped[k].dtype != fresh[k].dtype or shipped[k].shape != fresh[k].shape
             or (fresh[k].dtype.kind in "fc" and scaled_error(shipped[k], fresh[k]) > 1e-10)
             or (fresh[k].dtype.kind not in "fc" and not np.array_equal(shipped[k], fresh[k]))]
    assert not stale, f"stale entries (run `python -m grading expected`): {stale[:5]}"


def test_public_data_holds_plain_arrays_only():
    """Loadable without pickle: no object arrays, so the file can carry no code."""
    with np.load(PublicExpected.load.__defaults__[0], allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
