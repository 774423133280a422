"""Does every check of the catalogue pass the reference, fail the stub naming its function,
and come with at least three realistic bugs it is proven to catch?"""

from dataclasses import replace

import pytest

from assignment.checks import CATALOGUE, evaluate

from . import (
    test_conv_checks,
    test_dropout_checks,
    test_fc_checks,
    test_netvis_checks,
    test_norm_checks,
    test_pytorch_checks,
)
from .conftest import run_check

MARKS = {
    "FullyConnectedNets": pytest.mark.fc,
    "BatchNormalization": pytest.mark.bn,
    "Dropout": pytest.mark.dropout,
    "ConvolutionalNetworks": pytest.mark.conv,
    "PyTorch": pytest.mark.pytorch,
    "Network_Visualization": pytest.mark.netvis,
}
CHECKS = [pytest.param(c.name, marks=MARKS[c.notebook], id=c.name) for c in CATALOGUE.values()]
BUGS = [
    bug
    for module in (
        test_fc_checks,
        test_norm_checks,
        test_dropout_checks,
        test_conv_checks,
        test_pytorch_checks,
        test_netvis_checks,
    )
    for bug in module.BUGS
]


@pytest.mark.parametrize("name", CHECKS)
def test_reference_passes_public_cases_against_shipped_data(name, reference_api, public_expected):
    result = run_check(name, reference_api, expected=public_expected, hidden=False)
    assert result.passed, result.message


@pytest.mark.parametrize("name", CHECKS)
def test_reference_passes_hidden_cases_against_itself(name, reference_api):
    result = run_check(name, reference_api, reference=reference_api)
    assert result.passed, result.message


@pytest.mark.parametrize("name", CHECKS)
def test_hidden_cases_without_reference_still_pass_the_reference(name, reference_api):
    """In a student's kernel hidden cases have no reference values; the reference must pass
    what is judged there (shapes, dtypes, numeric gradients, statistics)."""
    result = run_check(name, reference_api)
    assert result.passed, result.message


@pytest.mark.parametrize("name", CHECKS)
def test_reseeded_public_cases_of_the_release_pass_the_reference(name, reference_api):
    """The release has no hidden cases: grade(name, hidden=True) re-runs the public cases with
    new seeds, judged without reference values (no ties in a pool window, no numeric gradient
    across a kink)."""
    released = replace(CATALOGUE[name], hidden_cases=[])
    result = evaluate(released, reference_api, hidden=True)
    assert result.passed, result.message
    assert len(result.outcomes) == 2 * len(released.cases)
    assert all(o.hidden for o in result.outcomes[len(released.cases) :])


@pytest.mark.parametrize("name", CHECKS)
def test_stub_fails_with_a_message_naming_the_function(name, stub_api, public_expected):
    result = run_check(name, stub_api, expected=public_expected, hidden=False)
    assert not result.passed
    assert "not implemented yet" in result.message
    # A method's check may stop at the class's first stub (the constructor): the class is named.
    assert (name.split(".")[0] + "." if "." in name else name + ":") in result.message


def test_every_check_has_at_least_three_realistic_bugs():
    counts = {name: sum(b[0] == name for b in BUGS) for name in CATALOGUE}
    assert all(n >= 3 for n in counts.values()), {k: n for k, n in counts.items() if n < 3}
