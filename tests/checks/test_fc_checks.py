"""Do the FullyConnectedNets checks pass the reference, fail the stub, and catch the bugs
students really make?"""

import numpy as np
import pytest

from assignment.checks import CATALOGUE, fc

from .conftest import assert_bug_caught, run_check, with_bug

pytestmark = pytest.mark.fc

NAMES = [c.name for c in fc.CHECKS]


# Each bug: (check name, module, old reference text, buggy text, words the message must contain)
BUGS = [
    (
        "affine_forward",
        "layers",
        "out = x.reshape(x.shape[0], -1) @ w + b",
        "out = x.reshape(x.shape[0], -1) @ w",
        "out differs",
    ),
    (
        "affine_forward",
        "layers",
        "out = x.reshape(x.shape[0], -1) @ w + b",
        "out = x.reshape(x.shape[0], -1, order='F') @ w + b",
        "out differs",
    ),
    (
        "affine_forward",
        "layers",
        "out = x.reshape(x.shape[0], -1) @ w + b",
        "out = x @ w + b",
        "raised",
    ),
    (
        "affine_backward",
        "layers",
        "dx = (dout @ w.T).reshape(x.shape)",
        "dx = dout @ w.T",
        "return dx reshaped to x's shape",
    ),
    ("affine_backward", "layers", "db = dout.sum(axis=0)", "db = dout.sum(axis=1)", "db has shape"),
    ("affine_backward", "layers", "db = dout.sum(axis=0)", "db = dout.mean(axis=0)", "db differs"),
    (
        "affine_backward",
        "layers",
        "dw = x.reshape(x.shape[0], -1).T @ dout",
        "dw = x.T @ dout",
        "dw needs the flattened x",
    ),
    ("relu_forward", "layers", "out = np.maximum(x, 0)", "x[x < 0] = 0\n    out = x", "in place"),
    ("relu_forward", "layers", "out = np.maximum(x, 0)", "out = np.abs(x)", "out differs"),
    ("relu_forward", "layers", "out = np.maximum(x, 0)", "out = np.minimum(x, 0)", "out differs"),
    ("relu_backward", "layers", "dx = dout * (x > 0)", "dx = dout\n    dx[x <= 0] = 0", "in place"),
    (
        "relu_backward",
        "layers",
        "dx = dout * (x > 0)",
        "dx = (x > 0).astype(x.dtype)",
        "dx differs",
    ),
    (
        "relu_backward",
        "layers",
        "dx = dout * (x > 0)",
        "dx = dout * np.maximum(x, 0)",
        "dx differs",
    ),
    ("softmax_loss", "layers", "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x", "nan"),
    (
        "softmax_loss",
        "layers",
        "loss = -log_probs[np.arange(N), y].mean()",
        "loss = -log_probs[np.arange(N), y].sum()",
        "loss differs",
    ),
    ("softmax_loss", "layers", "dx /= N", "pass", "dx differs"),
    (
        "softmax_loss",
        "layers",
        "shifted = x - x.max(axis=1, keepdims=True)",
        "shifted = x - x.max(axis=0, keepdims=True)",
        "differs",
    ),
    (
        "sgd_momentum",
        "optim",
        "    next_w = w + v\n    config",
        "    next_w = w - v\n    config",
        "next_w0 differs",
    ),
    ("sgd_momentum", "optim", 'config["velocity"] = v', "", "velocity differs"),
    (
        "sgd_momentum",
        "optim",
        "    next_w = w + v\n    config",
        '    next_w = w + config["velocity"]\n    config',
        "next_w0 differs",
    ),
    (
        "sgd_momentum",
        "optim",
        'v = config["momentum"] * config["velocity"] - config["learning_rate"] * dw',
        'v = config["momentum"] * config["velocity"] - dw',
        "differs",
    ),
    ("rmsprop", "optim", '(1 - config["decay_rate"]) * dw**2', "dw**2", "cache differs"),
    (
        "rmsprop",
        "optim",
        'dw / (np.sqrt(cache) + config["epsilon"])\n    config["cache"]',
        'dw / (cache + config["epsilon"])\n    config["cache"]',
        "next_w0 differs",
    ),
    (
        "rmsprop",
        "optim",
        'config["cache"] = cache\n    ### END SOLUTION',
        "### END SOLUTION",
        "cache differs",
    ),
    ("adam", "optim", 'm_hat = m / (1 - config["beta1"] ** t)', "m_hat = m", "next_w0 differs"),
    ("adam", "optim", 't = config["t"] + 1', 't = config["t"]', "differs"),
    (
        "adam",
        "optim",
        'm = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw',
        'm = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw**2',
        "differs",
    ),
    ("adam", "optim", "config.update(t=t, m=m, v=v)", "config.update(m=m, v=v)", "t differs"),
    (
        "FullyConnectedNet.__init__",
        "fc_net",
        'self.params[f"b{i}"] = np.zeros(dims[i])',
        'self.params[f"b{i}"] = weight_scale * np.random.randn(dims[i])',
        "differs",
    ),
    (
        "FullyConnectedNet.__init__",
        "fc_net",
        'self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i - 1], dims[i])',
        'self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i], dims[i - 1])',
        "has shape",
    ),
    (
        "FullyConnectedNet.__init__",
        "fc_net",
        'self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i - 1], dims[i])',
        'self.params[f"W{i}"] = np.random.randn(dims[i - 1], dims[i]) / np.sqrt(dims[i - 1])',
        "differs",
    ),
    (
        "FullyConnectedNet.loss",
        "fc_net",
        "loss += 0.5 * self.reg * sum(",
        "loss += self.reg * sum(",
        "loss differs",
    ),
    (
        "FullyConnectedNet.loss",
        "fc_net",
        'grads[f"W{i}"] += self.reg * self.params[f"W{i}"]',
        "pass",
        "grads.W1 differs",
    ),
    (
        "FullyConnectedNet.loss",
        "fc_net",
        'weights = [self.params[f"W{i}"] for i in range(1, L + 1)]',
        'weights = [self.params[f"{p}{i}"] for i in range(1, L + 1) for p in "Wb"]',
        "loss differs",
    ),
    (
        "FullyConnectedNet.loss",
        "fc_net",
        "for i in range(1, self.num_layers):\n            W, b",
        "for i in range(1, self.num_layers - 1):\n            W, b",
        "raised",
    ),
]


@pytest.mark.parametrize(
    "name,module,old,new,words", BUGS, ids=[f"{b[0]}:{b[3][:40]}" for b in BUGS]
)
def test_realistic_bug_is_caught(name, module, old, new, words, reference_api, public_expected):
    assert_bug_caught(name, module, old, new, words, reference_api, public_expected)


def test_failure_message_teaches_the_shape_fix(reference_api, public_expected):
    buggy = with_bug(
        reference_api,
        "layers",
        affine_backward=lambda dout, cache: (
            dout @ cache[1].T,
            cache[0].reshape(len(dout), -1).T @ dout,
            dout.sum(0),
        ),
    )
    result = run_check("affine_backward", buggy, expected=public_expected, hidden=False)
    assert (
        "affine_backward: dx has shape (2, 20) but x has shape (2, 4, 5); return dx with the "
        "shape of x" in result.message
    )


def test_forward_bug_is_blamed_on_the_forward_pass(reference_api, public_expected):
    """A backward pass consistent with a wrong forward pass gets a hint about the forward."""

    def scaled_forward(x, y):
        loss, dx = reference_api.layers.softmax_loss(x, y)
        return 2 * loss, 2 * dx

    buggy = with_bug(reference_api, "layers", softmax_loss=scaled_forward)
    result = run_check("softmax_loss", buggy, expected=public_expected, hidden=False)
    assert "look for the bug in the forward pass" in result.message


def test_always_equal_object_scores_zero(reference_api, public_expected):
    class Equal(np.ndarray):
        def __eq__(self, other):
            return True

    def forged(x, w, b):
        return np.zeros((x.shape[0], w.shape[1])).view(Equal), (x, w, b)

    result = run_check(
        "affine_forward",
        with_bug(reference_api, "layers", affine_forward=forged),
        expected=public_expected,
        hidden=False,
    )
    assert not result.passed


def test_points_are_positive_and_names_unique():
    assert all(c.points > 0 for c in CATALOGUE.values())
    assert len({c.name for c in CATALOGUE.values()}) == len(CATALOGUE)
