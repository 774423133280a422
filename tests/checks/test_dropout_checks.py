"""Do the Dropout checks pass the reference and any other correct dropout, fail the stub, and
catch the bugs students really make?"""

import numpy as np
import pytest

from assignment.checks import dropout

from .conftest import assert_bug_caught, run_check, with_bug

pytestmark = pytest.mark.dropout

NAMES = [c.name for c in dropout.CHECKS]


def test_no_case_uses_p_one_half():
    """At p = 0.5 keeping and dropping look alike, and 1/p equals 1/(1 - p)."""
    for check in dropout.CHECKS:
        for case in check.all_cases(hidden=True):
            inputs = check.inputs_for(case)
            assert float(inputs["p"] if "p" in inputs else inputs["keep"]) != 0.5, (
                check.name,
                case.key,
            )


def _binomial_dropout(x, dropout_param):
    """A correct inverted dropout that draws its mask differently from the reference."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if dropout_param.get("seed") is not None:
        np.random.seed(dropout_param["seed"])
    if mode == "test":
        return x, (dropout_param, None)
    mask = np.random.binomial(1, p, size=x.shape).astype(x.dtype) / np.asarray(p, dtype=x.dtype)
    return x * mask, (dropout_param, mask)


def _mask_backward(dout, cache):
    dropout_param, mask = cache
    return dout if mask is None else dout * mask


@pytest.mark.parametrize("name", NAMES)
def test_a_correct_dropout_with_another_random_generator_passes(
    name, reference_api, public_expected
):
    """Which units are kept is the implementation's choice: no exact seeded output is demanded."""
    other = with_bug(
        reference_api, "layers", dropout_forward=_binomial_dropout, dropout_backward=_mask_backward
    )
    assert run_check(name, other, expected=public_expected, hidden=False).passed
    result = run_check(name, other, reference=reference_api)
    assert result.passed, result.message


MASK = "mask = (np.random.rand(*x.shape) < p) / p"
BUGS = [
    # dropout_forward
    (
        "dropout_forward",
        "layers",
        MASK,
        "mask = (np.random.rand(*x.shape) >= p) / (1 - p)",
        "p is the probability of KEEPING",
    ),
    (
        "dropout_forward",
        "layers",
        MASK,
        "mask = (np.random.rand(*x.shape) < p)",
        "kept units should be x / p",
    ),
    (
        "dropout_forward",
        "layers",
        "out = x * mask.astype(x.dtype, copy=False)",
        "out = mask.astype(x.dtype, copy=False)",
        "kept units should be x / p",
    ),
    (
        "dropout_forward",
        "layers",
        "out, mask = x, None",
        "out, mask = x * p, None",
        "out_test differs",
    ),
    (
        "dropout_forward",
        "layers",
        "np.random.rand(*x.shape)",
        "np.random.default_rng().random(x.shape)",
        "same dropout_param['seed'] gave different masks",
    ),
    (
        "dropout_forward",
        "layers",
        "np.random.rand(*x.shape)",
        "np.random.default_rng(0).random(x.shape)",
        "different seeds gave the same mask",
    ),
    # dropout_backward
    (
        "dropout_backward",
        "layers",
        "dx = dout * mask.astype(dout.dtype, copy=False)",
        'dx = dout * (np.random.rand(*dout.shape) < dropout_param["p"]) / dropout_param["p"]',
        "mask of the forward pass",
    ),
    (
        "dropout_backward",
        "layers",
        "dx = dout * mask.astype(dout.dtype, copy=False)",
        "dx = dout * (mask > 0)",
        "dx == dout * out / x",
    ),
    (
        "dropout_backward",
        "layers",
        "dx = dout * mask.astype(dout.dtype, copy=False)",
        "dx = mask.astype(dout.dtype, copy=False)",
        "dx",
    ),
    (
        "dropout_backward",
        "layers",
        "dx = dout * mask.astype(dout.dtype, copy=False)",
        "dx = dout",
        "units dropped in the forward pass got a gradient",
    ),
    # the network
    (
        "FullyConnectedNet.loss_dropout",
        "fc_net",
        "dh = dropout_backward(dh, drop_cache)",
        "pass",
        "grads.W1 differs",
    ),
    (
        "FullyConnectedNet.loss_dropout",
        "fc_net",
        'scores, last_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])',
        'scores, last_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])\n'
        "        scores, _ = dropout_forward(scores, self.dropout_param)",
        "not after the last affine layer",
    ),
    (
        "FullyConnectedNet.loss_dropout",
        "fc_net",
        "h, drop_cache = dropout_forward(h, self.dropout_param)",
        'h, drop_cache = dropout_forward(h, {"p": self.dropout_param["p"], "mode": "train"})',
        "scores differs",
    ),
    (
        "FullyConnectedNet.loss_dropout",
        "fc_net",
        "        h = X\n",
        "        h = dropout_forward(X, self.dropout_param)[0]\n",
        "belongs after the ReLU of hidden layer 1",
    ),
]


@pytest.mark.parametrize(
    "name,module,old,new,words", BUGS, ids=[f"{b[0]}:{b[3][:40]}" for b in BUGS]
)
def test_realistic_bug_is_caught(name, module, old, new, words, reference_api, public_expected):
    assert_bug_caught(
        name, module, old, new, words, reference_api, public_expected, in_kernel=module == "layers"
    )


def test_fixed_masks_are_removed_even_when_the_net_raises(reference_api):
    """The stand-ins must never outlive the check, or later code would drop fixed units."""
    originals = (
        reference_api.layers.dropout_forward,
        reference_api.fc_net.dropout_forward,
        reference_api.fc_net.dropout_backward,
    )
    with pytest.raises(ZeroDivisionError):
        with dropout.fixed_dropout(reference_api, [np.ones((1, 1))], 0.5):
            assert reference_api.fc_net.dropout_forward is not originals[1]
            1 / 0
    assert (
        reference_api.layers.dropout_forward,
        reference_api.fc_net.dropout_forward,
        reference_api.fc_net.dropout_backward,
    ) == originals


def test_kept_fraction_test_tolerates_binomial_noise_but_not_a_swapped_p():
    """Five binomial standard deviations: a fair mask at the edge passes, p vs 1 - p fails."""
    rng = np.random.default_rng(0)
    inputs = dropout.dropout_inputs(rng, shape=(40, 75), p=0.75)
    x, n = inputs["x"], inputs["x"].size
    got = {
        "out_test": inputs["x_small"],
        "out_seeded": inputs["x_small"] / 0.75,
        "out_seeded_again": inputs["x_small"] / 0.75,
        "out_other_seed": inputs["x_small"],
    }
    for kept_count, ok in (
        (int(n * (0.75 - 4 * np.sqrt(0.75 * 0.25 / n))), True),
        (int(n * 0.25), False),
    ):
        mask = np.zeros(n, dtype=bool)
        mask[:kept_count] = True
        got["out"] = np.where(mask.reshape(x.shape), x / 0.75, 0.0)
        messages = dropout.dropout_forward_properties(inputs, got)
        assert (not any("kept" in m and "% of the units" in m for m in messages)) == ok, messages
