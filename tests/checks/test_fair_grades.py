"""Are the checks fair to correct code in any style, do they charge a bug once, and does each
message name the failing case and say what to change (the exact text a student sees)?"""

import numpy as np
import pytest

import assignment.layer_utils
import assignment.layers
from assignment import check as self_check
from assignment.checks import CATALOGUE, evaluate_many

from .conftest import run_check, source_bug

pytestmark = pytest.mark.fc


def public(name, api, public_expected):
    return run_check(name, api, expected=public_expected, hidden=False)


# ---------------------------------------------------------------- dtype


def test_float64_result_for_float32_input_passes_with_a_note(reference_api, public_expected):
    """Classic habit: out = np.zeros((N, F, H', W')) is float64 whatever x is."""
    classic = source_bug(
        reference_api,
        "layers",
        "out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)",
        "out = np.zeros((N, F, H_out, W_out))",
        within="conv_forward_naive",
    )
    result = public("conv_forward_naive", classic, public_expected)
    assert result.passed
    assert result.notes == (
        "conv_forward_naive: returns float64 for float32 input: the values are right, but it "
        "doubles the memory; cast the result with .astype(x.dtype) "
        "[case 'float32, x (2, 2, 4, 4), w (2, 2, 3, 3)']"
    )


def test_classic_dropout_mask_passes(reference_api, public_expected):
    """mask = (np.random.rand(*x.shape) < p) / p; out = x * mask; dx = dout * mask."""
    forward = source_bug(
        reference_api,
        "layers",
        "out = x * mask.astype(x.dtype, copy=False)",
        "out = x * mask",
        within="dropout_forward",
    )
    assert run_check("dropout_forward", forward, expected=public_expected).passed
    backward = source_bug(
        reference_api,
        "layers",
        "dx = dout * mask.astype(dout.dtype, copy=False)",
        "dx = dout * mask",
        within="dropout_backward",
    )
    assert run_check("dropout_backward", backward, expected=public_expected).passed


def test_a_net_that_ignores_dtype_fails(reference_api, public_expected):
    """Where keeping the dtype is the point of the function, it is graded."""
    ignores = source_bug(
        reference_api,
        "fc_net",
        "self.params[k] = v.astype(dtype)",
        "self.params[k] = v",
        within="FullyConnectedNet",
    )
    result = public("FullyConnectedNet.__init__", ignores, public_expected)
    assert result.message.splitlines()[0] == (
        "FullyConnectedNet.__init__: params.W1 has dtype float64, expected float32: here the "
        "dtype is part of the task (cast with .astype(np.float32)) [case 'dtype float32']"
    )


# ---------------------------------------------------------------- update rules, softmax


def test_update_rule_may_change_w_in_place(reference_api, public_expected):
    """The classic's own sgd does w -= learning_rate * dw; every step is stored as a copy."""
    in_place = source_bug(
        reference_api,
        "optim",
        "    next_w = w + v\n    config",
        "    w += v\n    next_w = w\n    config",
        within="sgd_momentum",
    )
    assert run_check("sgd_momentum", in_place, expected=public_expected).passed
    state_in_place = source_bug(
        reference_api,
        "optim",
        'v = config["momentum"] * config["velocity"] - config["learning_rate"] * dw',
        'v = config["velocity"]\n    v *= config["momentum"]\n'
        '    v -= config["learning_rate"] * dw',
        within="sgd_momentum",
    )
    assert run_check("sgd_momentum", state_in_place, expected=public_expected).passed


def test_the_notes_softmax_passes_every_case(reference_api, public_expected):
    """Shift by the row max, p = e / e.sum(1), loss = -log(p[range(N), y]).mean()."""

    def notes_softmax(x, y):
        N = x.shape[0]
        e = np.exp(x - x.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(N), y]).mean()
        dx = p.copy()
        dx[np.arange(N), y] -= 1
        return loss, dx / N

    api = source_bug(
        reference_api, "layers", "N = x.shape[0]", "N = x.shape[0]", within="softmax_loss"
    )
    api.layers.softmax_loss = notes_softmax
    assert run_check("softmax_loss", api, reference=reference_api).passed


def test_a_missing_shift_overflows_on_the_offset_case(reference_api, public_expected):
    unshifted = source_bug(
        reference_api,
        "layers",
        "shifted = x - x.max(axis=1, keepdims=True)",
        "shifted = x",
        within="softmax_loss",
    )
    result = public("softmax_loss", unshifted, public_expected)
    assert "nan or inf" in result.message
    assert "[case 'scores 1000 + 10 * randn']" in result.message


# ---------------------------------------------------------------- messages


def test_stub_message_names_function_file_notebook_and_cases(stub_api, public_expected):
    result = public("affine_forward", stub_api, public_expected)
    # The test's stub package is stub_pkg; the release names assignment/layers.py and the
    # notebook (tests/grading/test_release.py).
    assert result.message == (
        "affine_forward: not implemented yet; write it in stub_pkg/layers.py "
        "[cases 'x (2, 4, 5), M=3', 'x (3, 7), M=4', 'float32']"
    )


def test_a_missing_bias_gets_the_bias_hint(reference_api, public_expected):
    no_bias = source_bug(
        reference_api,
        "layers",
        "out = x.reshape(x.shape[0], -1) @ w + b",
        "out = x.reshape(x.shape[0], -1) @ w",
        within="affine_forward",
    )
    assert public("affine_forward", no_bias, public_expected).message == (
        "affine_forward: out differs from the reference at (0, 1): got -1.97123, expected "
        "-0.981516 (error 1.5e-01 > 1e-08). Hint: add the bias: out = x_flat @ w + b "
        "[cases 'x (2, 4, 5), M=3', 'x (3, 7), M=4', 'float32']"
    )


def test_an_unflattened_product_gets_the_flatten_hint(reference_api, public_expected):
    unflattened = source_bug(
        reference_api,
        "layers",
        "out = x.reshape(x.shape[0], -1) @ w + b",
        "out = x @ w + b",
        within="affine_forward",
    )
    message = public("affine_forward", unflattened, public_expected).message
    assert message.startswith("affine_forward: raised ValueError: matmul: ")
    assert message.endswith(
        "Hint: flatten each example with x.reshape(N, -1) before "
        "multiplying by w [cases 'x (2, 4, 5), M=3', 'float32']"
    )


def test_a_gradient_n_times_too_large_is_named(reference_api, public_expected):
    scaled = source_bug(
        reference_api,
        "layers",
        "dx = (dout @ w.T).reshape(x.shape)",
        "dx = (dout @ w.T).reshape(x.shape) * x.shape[0]",
        within="affine_backward",
    )
    first = public("affine_backward", scaled, public_expected).message.splitlines()[0]
    assert first == (
        "affine_backward: dx differs from the reference at (1, 2, 1): got 9.08653, expected "
        "4.54327 (error 1.0e+00 > 1e-08). dx is N = 2 times the expected value (a missing "
        "division by the batch size N) [cases 'x (2, 4, 5), M=3', 'float32']"
    )


def test_check_in_a_notebook_prints_the_table_and_returns_nothing(capsys):
    assert self_check.check("relu_forward") is None
    out = capsys.readouterr().out
    assert out.splitlines()[2].split() == ["relu_forward", "PASS", "1/1"]


def test_a_failing_grade_cell_does_not_repeat_the_table(reference_api, monkeypatch, capsys):
    buggy = source_bug(
        reference_api, "layers", "out = np.maximum(x, 0)", "out = np.abs(x)", within="relu_forward"
    )
    monkeypatch.setattr(self_check, "load_api", lambda reload=False: buggy)
    with pytest.raises(AssertionError) as raised:
        self_check.grade("relu_forward")
    assert str(raised.value) == "relu_forward did not pass: see the table above"
    assert "relu_forward: out differs from the reference" in capsys.readouterr().out


@pytest.mark.parametrize("notebook", ["FullyConnectedNets.ipynb", "FullyConnectedNets"])
def test_notebook_by_file_name_or_stem(notebook, capsys):
    names = {c.name for c in self_check.select(notebook=notebook)}
    assert names == {c.name for c in CATALOGUE.values() if c.notebook == "FullyConnectedNets"}


def test_an_unknown_notebook_is_an_error(capsys):
    assert self_check.main(["--notebook", "FullyConnected.ipynb"]) == 2
    assert capsys.readouterr().err.startswith(
        "check: unknown notebook 'FullyConnected.ipynb'; the notebooks are FullyConnectedNets, "
    )


# ---------------------------------------------------------------- a bug charged once


def test_a_model_waits_on_a_failing_layer_in_the_self_check(reference_api, monkeypatch):
    """In a student's kernel no correct layer can stand in: the model's verdict waits, naming
    the layer; the grade (tests/grading/test_hardened.py) judges it with one standing in."""
    original = assignment.layers.affine_backward

    def mean_db(dout, cache):
        dx, dw, db = original(dout, cache)
        return dx, dw, db / dout.shape[0]

    for module in (assignment.layers, assignment.layer_utils):
        monkeypatch.setattr(module, "affine_backward", mean_db)
    monkeypatch.setattr(self_check, "load_api", lambda reload=False: reference_api)
    results = self_check.run_checks(["affine_backward", "FullyConnectedNet.loss"])
    assert [r.status for r in results] == ["failed", "waiting"]
    assert results[1].message == (
        "FullyConnectedNet.loss: waits for affine_backward, which fails its own check; fix it "
        "first. The grade judges FullyConnectedNet.loss with correct affine_backward standing "
        "in, so a bug there costs only its own points"
    )


def test_a_model_that_passes_does_not_wait(reference_api, public_expected):
    results = evaluate_many(
        [CATALOGUE["FullyConnectedNet.loss"]], reference_api, expected=public_expected
    )
    assert results[0].status == "passed"


def test_a_backward_check_names_the_forward_pass_its_cache_came_from(
    reference_api, public_expected
):
    """batchnorm_backward gets its cache from the student's batchnorm_forward."""
    unbiased = source_bug(
        reference_api,
        "layers",
        "x.var(axis=0)",
        "x.var(axis=0, ddof=1)",
        within="batchnorm_forward",
    )
    forward, backward = evaluate_many(
        [CATALOGUE["batchnorm_forward"], CATALOGUE["batchnorm_backward"]],
        unbiased,
        expected=public_expected,
    )
    assert not forward.passed and not backward.passed
    assert backward.message.splitlines()[-1] == (
        "batchnorm_backward: its cache comes from your batchnorm_forward, which fails its own "
        "check; fix that first"
    )


# ---------------------------------------------------------------- no free points


@pytest.mark.parametrize(
    "call",
    [
        "from .fast_layers import conv_forward_fast\n    return conv_forward_fast(x, w, b, "
        "conv_param)",
        "from . import fast_layers\n    return fast_layers.conv_forward_fast(x, w, b, conv_param)",
        "import torch\n    out = torch.nn.functional.conv2d(torch.from_numpy(x), "
        "torch.from_numpy(w))\n"
        "    return out.numpy(), None",
    ],
)
def test_a_naive_layer_that_calls_a_fast_one_earns_nothing(reference_api, public_expected, call):
    source = "def conv_forward_naive(x, w, b, conv_param):\n    " + call + "\n"
    namespace = {"__name__": "assignment.layers", "__package__": "assignment"}
    exec(compile(source, "layers.py", "exec"), namespace)
    api = source_bug(
        reference_api,
        "layers",
        "N, C, H, W = x.shape",
        "N, C, H, W = x.shape",
        within="conv_forward_naive",
    )
    api.layers.conv_forward_naive = namespace["conv_forward_naive"]
    result = public("conv_forward_naive", api, public_expected)
    assert not result.passed
    assert "write this layer with loops and numpy" in result.message


def test_a_fast_layer_bound_at_import_is_forbidden_too(reference_api, public_expected):
    from assignment.fast_layers import conv_forward_fast

    api = source_bug(
        reference_api,
        "layers",
        "N, C, H, W = x.shape",
        "N, C, H, W = x.shape",
        within="conv_forward_naive",
    )
    api.layers.conv_forward_fast = conv_forward_fast
    api.layers.conv_forward_naive = lambda x, w, b, p: api.layers.conv_forward_fast(x, w, b, p)
    result = public("conv_forward_naive", api, public_expected)
    assert result.message.startswith(
        "conv_forward_naive: raised RuntimeError: conv_forward_naive "
        "calls assignment.fast_layers: write this layer with loops"
    )


def test_hidden_cases_show_no_expected_values(reference_api):
    wrong = source_bug(
        reference_api, "layers", "out = np.maximum(x, 0)", "out = np.abs(x)", within="relu_forward"
    )
    result = run_check("relu_forward", wrong, reference=reference_api)
    hidden = [line for line in result.message.splitlines() if "hidden case" in line]
    assert hidden and all("expected" not in line for line in hidden), hidden


def test_a_numpy_layer_may_not_call_torch(reference_api, public_expected):
    """Module code `import torch`, then a layer written with it."""
    api = source_bug(
        reference_api, "layers", "N = x.shape[0]", "N = x.shape[0]", within="softmax_loss"
    )
    exec(
        compile(
            "import torch\n\n"
            "def affine_forward(x, w, b):\n"
            "    out = torch.from_numpy(x.reshape(x.shape[0], -1)) @ torch.from_numpy(w)\n"
            "    return (out + torch.from_numpy(b)).numpy(), (x, w, b)\n",
            "layers.py",
            "exec",
        ),
        vars(api.layers),
    )
    result = public("affine_forward", api, public_expected)
    assert not result.passed
    assert "affine_forward calls torch: write this layer with loops and numpy" in result.message
