"""Is the shipped public-check data exactly what the reference produces today?"""
import numpy as np
import pytest

from assignment.checks import PublicExpected
from grading.expected import public_expected_arrays

pytestmark = pytest.mark.grading


def test_shipped_public_data_is_up_to_date():
    shipped = PublicExpected.load().arrays
    fresh = public_expected_arrays()
    assert sorted(shipped) == sorted(fresh), "run `python -m grading expected` and commit the npz"
    stale = [k for k in fresh if shipped[k].dtype != fresh[k].dtype or not np.array_equal(shipped[k], fresh[k])]
    assert not stale, f"stale entries (run `python -m grading expected`): {stale[:5]}"


def test_public_data_holds_plain_arrays_only():
    """Loadable without pickle: no object arrays, so the file can carry no code."""
    with np.load(PublicExpected.load.__defaults__[0], allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
