"""Checks of BatchNormalization.ipynb: batch and layer normalization, and the FC net with them."""

import numpy as np

from .core import Case, Check, Output
from .fc import FC_LAYERS, _make_net, _param_names, _randn, fc_inputs
from .numeric import model_outputs, numeric_or_none, with_numeric

NB = "BatchNormalization"


def _features(rng, N, D, dtype, scale=3.0):
    """N rows of D features, each feature with its own mean and spread (so that a statistic
    taken over the wrong axis is visibly wrong)."""
    loc = rng.uniform(-5, 5, size=D)
    spread = scale * rng.uniform(0.5, 2.0, size=D)
    return (loc + spread * rng.standard_normal((N, D))).astype(dtype)


def _scale_shift(rng, D, dtype):
    """gamma away from 1 and beta away from 0, so that forgetting either shows."""
    gamma = (rng.uniform(0.5, 2.0, size=D) * rng.choice([-1, 1], size=D)).astype(dtype)
    return gamma, _randn(rng, D, dtype=dtype)


def _hp(i, *names):
    """The optional hyperparameters present in the inputs, as a param dict."""
    return {k: float(i[k]) for k in names if k in i}


# ---------------------------------------------------------------- batchnorm forward


def bn_forward_inputs(
    rng, N=4, D=5, steps=3, momentum=None, eps=None, running=False, scale=3.0, dtype="float64"
):
    """`steps` training batches x (steps, N, D), then a test batch x_test (N + 2, D) from the
    same distribution; optionally running statistics to start from."""
    batches = _features(rng, steps * N + N + 2, D, dtype, scale)
    inputs = {"x": batches[: steps * N].reshape(steps, N, D), "x_test": batches[steps * N :]}
    inputs["gamma"], inputs["beta"] = _scale_shift(rng, D, dtype)
    if running:
        inputs["running_mean"] = _randn(rng, D, dtype=dtype)
        inputs["running_var"] = rng.uniform(0.5, 4.0, size=D).astype(dtype)
    for k, v in (("momentum", momentum), ("eps", eps)):
        if v is not None:
            inputs[k] = np.asarray(v)
    return inputs


def bn_forward_run(api, i):
    """Train steps (the running statistics carried in one bn_param), then a test pass, then
    an unknown mode, which must be a ValueError."""
    forward = api.layers.batchnorm_forward
    bn_param = {"mode": "train", **_hp(i, "momentum", "eps")}
    for k in ("running_mean", "running_var"):
        if k in i:
            bn_param[k] = i[k].copy()
    out = {}
    for s, x in enumerate(i["x"]):
        out[f"out{s}"] = forward(x, i["gamma"], i["beta"], bn_param)[0]
    for k in ("running_mean", "running_var"):
        if k not in bn_param:
            raise KeyError(
                f"bn_param has no {k!r} after a train-mode pass; store the running "
                f"averages back into bn_param"
            )
        out[k] = bn_param[k]
    bn_param["mode"] = "test"
    out["out_test"] = forward(i["x_test"], i["gamma"], i["beta"], bn_param)[0]
    try:
        forward(i["x"][0], i["gamma"], i["beta"], {"mode": "eval"})
        out["bad_mode_raises"] = np.asarray(0)
    except ValueError:
        out["bad_mode_raises"] = np.asarray(1)
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - another error type is the failure being judged
        out["bad_mode_raises"] = np.asarray(0)
    return out


def _bn_forward_outputs(i):
    train = (
        "train mode normalises each feature (column) with the batch mean and the biased "
        "variance x.var(axis=0), eps inside the square root: (x - mean) / sqrt(var + eps)"
    )
    return [Output(f"out{s}", hint=train) for s in range(len(i["x"]))] + [
        Output(
            "running_mean",
            like="gamma",
            hint="running_mean = momentum * running_mean + "
            "(1 - momentum) * batch mean, updated after every train-mode pass",
        ),
        Output(
            "running_var",
            like="gamma",
            hint="running_var = momentum * running_var + "
            "(1 - momentum) * batch variance (the biased one, as in the normalisation)",
        ),
        Output(
            "out_test",
            like="x_test",
            hint="test mode normalises with bn_param's "
            "running_mean and running_var, not with the statistics of the test batch",
        ),
        Output(
            "bad_mode_raises",
            hint="raise ValueError when bn_param['mode'] is neither 'train' nor 'test'",
        ),
    ]


def _normalised_properties(axis, what):
    """Reference-free: after normalisation, (out - beta) / gamma has mean 0 and standard
    deviation sqrt(var / (var + eps)) (just under 1) along `axis`."""

    def properties(i, got):
        key, x = ("out0", i["x"][0]) if "out0" in got else ("out", i["x"])
        var = x.astype(np.float64).var(axis=axis)
        want = np.sqrt(var / (var + float(i.get("eps", 1e-5))))
        x_hat = (got[key].astype(np.float64) - i["beta"]) / i["gamma"]
        mean, std = np.abs(x_hat.mean(axis=axis)).max(), x_hat.std(axis=axis)
        messages = []
        if mean > 1e-3:
            messages.append(
                f"{what}: (out - beta) / gamma should have mean 0 along axis {axis}, "
                f"got up to {mean:.3g}"
            )
        if x.shape[axis] > 1 and np.abs(std - want).max() > 1e-3:
            messages.append(
                f"{what}: (out - beta) / gamma should have standard deviation "
                f"sqrt(var / (var + eps)) along axis {axis}, got {std.min():.4g} to "
                f"{std.max():.4g} for {want.min():.4g} to {want.max():.4g}. Hint: use "
                f"the biased variance (divide by N, not N - 1), eps inside the square root"
            )
        return messages

    return properties


BN_FORWARD_CASES = [
    Case(0, "N=4, D=5, 3 train steps, then test"),
    Case(
        1,
        "N=6, D=3, momentum 0.7, eps 1e-3, running stats given",
        {"N": 6, "D": 3, "momentum": 0.7, "eps": 1e-3, "running": True},
    ),
    Case(2, "N=5, D=2, small variance", {"N": 5, "D": 2, "scale": 0.01, "steps": 2}),
    Case(3, "float32", {"N": 8, "D": 3, "dtype": "float32"}),
]

batchnorm_forward = Check(
    name="batchnorm_forward",
    notebook=NB,
    module="layers",
    points=3,
    make_inputs=bn_forward_inputs,
    run=bn_forward_run,
    outputs=_bn_forward_outputs,
    cases=BN_FORWARD_CASES,
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(30, "batch of 2, D=7, 5 steps", {"N": 2, "D": 7, "steps": 5}),
        Case(
            31,
            "N=40, D=6, momentum 0.95, running stats given",
            {"N": 40, "D": 6, "momentum": 0.95, "running": True},
        ),
        Case(
            32, "N=9, D=4, small variance, eps 1e-4", {"N": 9, "D": 4, "scale": 0.02, "eps": 1e-4}
        ),
        ### END HIDDEN TESTS
    ],
    properties=_normalised_properties(0, "batchnorm_forward"),
)


# ---------------------------------------------------------------- backward passes


def norm_backward_inputs(rng, N=4, D=5, scale=5.0, eps=None, dtype="float64"):
    """x, gamma, beta and a random upstream gradient dout (N, D)."""
    inputs = {"x": _features(rng, N, D, dtype, scale)}
    inputs["gamma"], inputs["beta"] = _scale_shift(rng, D, dtype)
    inputs["dout"] = _randn(rng, N, D, dtype=dtype)
    if eps is not None:
        inputs["eps"] = np.asarray(eps)
    return inputs


def _backward_run(forward_name, backward_name, param):
    """Forward in train mode, then the named backward pass on its cache; numeric gradients of
    the same forward pass in float64."""

    def run(api, i):
        forward = getattr(api.layers, forward_name)
        x, gamma, beta, dout = i["x"], i["gamma"], i["beta"], i["dout"]

        def f(x, gamma, beta):
            return forward(x, gamma, beta, {**param, **_hp(i, "eps")})[0]

        _, cache = forward(x, gamma, beta, {**param, **_hp(i, "eps")})
        dx, dgamma, dbeta = getattr(api.layers, backward_name)(dout, cache)
        grads = {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}
        if x.dtype != np.float64:
            return grads
        return with_numeric(
            grads,
            dx_num=numeric_or_none(lambda v: f(v, gamma, beta), x, dout),
            dgamma_num=numeric_or_none(lambda v: f(x, v, beta), gamma, dout),
            dbeta_num=numeric_or_none(lambda v: f(x, gamma, v), beta, dout),
        )

    return run


def _backward_outputs(dx_hint, axis_name):
    return [
        Output("dx", like="x", numeric="dx_num", hint=dx_hint),
        Output(
            "dgamma",
            like="gamma",
            numeric="dgamma_num",
            hint=f"dgamma = sum of dout * x_hat over the {axis_name}, shape (D,) like gamma",
        ),
        Output(
            "dbeta",
            like="beta",
            numeric="dbeta_num",
            hint=f"dbeta = dout summed over the {axis_name}, shape (D,) like beta",
        ),
    ]


BN_BACKWARD_CASES = [
    Case(0, "N=4, D=5"),
    Case(1, "N=7, D=3, eps 1e-3", {"N": 7, "D": 3, "eps": 1e-3}),
    Case(2, "float32", {"N": 6, "D": 4, "dtype": "float32"}),
]
BN_BACKWARD_HIDDEN = [
    ### BEGIN HIDDEN TESTS
    Case(33, "batch of 3, D=6", {"N": 3, "D": 6}),
    Case(34, "N=25, D=8, small spread", {"N": 25, "D": 8, "scale": 0.05}),
    ### END HIDDEN TESTS
]
BN_DX_HINT = (
    "dx flows through x_hat = (x - mean) / sqrt(var + eps), where the mean and the "
    "variance depend on every x of the feature; and dx_hat = dout * gamma"
)

batchnorm_backward = Check(
    name="batchnorm_backward",
    notebook=NB,
    module="layers",
    points=3,
    make_inputs=norm_backward_inputs,
    run=_backward_run("batchnorm_forward", "batchnorm_backward", {"mode": "train"}),
    outputs=_backward_outputs(BN_DX_HINT, "batch (axis 0)"),
    cases=BN_BACKWARD_CASES,
    hidden_cases=BN_BACKWARD_HIDDEN,
    depends_on=("batchnorm_forward",),
)

batchnorm_backward_alt = Check(
    name="batchnorm_backward_alt",
    notebook=NB,
    module="layers",
    points=2,
    make_inputs=norm_backward_inputs,
    run=_backward_run("batchnorm_forward", "batchnorm_backward_alt", {"mode": "train"}),
    outputs=_backward_outputs(
        BN_DX_HINT + "; the simplified form needs only dx_hat, x_hat and "
        "sqrt(var + eps), with means over the batch (axis 0)",
        "batch (axis 0)",
    ),
    cases=BN_BACKWARD_CASES,
    hidden_cases=BN_BACKWARD_HIDDEN,
    depends_on=("batchnorm_forward",),
)


# ---------------------------------------------------------------- layernorm


def ln_forward_inputs(rng, N=4, D=5, scale=3.0, eps=None, dtype="float64"):
    """x (N, D) whose rows each have their own mean and spread, gamma and beta (D,)."""
    loc = rng.uniform(-5, 5, size=(N, 1))
    spread = scale * rng.uniform(0.5, 2.0, size=(N, 1))
    inputs = {"x": (loc + spread * rng.standard_normal((N, D))).astype(dtype)}
    inputs["gamma"], inputs["beta"] = _scale_shift(rng, D, dtype)
    if eps is not None:
        inputs["eps"] = np.asarray(eps)
    return inputs


def ln_forward_run(api, i):
    return {"out": api.layers.layernorm_forward(i["x"], i["gamma"], i["beta"], _hp(i, "eps"))[0]}


def ln_backward_inputs(rng, **kwargs):
    inputs = ln_forward_inputs(rng, **kwargs)
    inputs["dout"] = _randn(rng, *inputs["x"].shape, dtype=inputs["x"].dtype)
    return inputs


LN_CASES = [
    Case(0, "N=4, D=5"),
    Case(1, "N=7, D=3, eps 1e-3", {"N": 7, "D": 3, "eps": 1e-3}),
    Case(2, "N=3, D=6, small spread", {"N": 3, "D": 6, "scale": 0.01}),
    Case(3, "float32", {"N": 6, "D": 4, "dtype": "float32"}),
]

layernorm_forward = Check(
    name="layernorm_forward",
    notebook=NB,
    module="layers",
    points=2,
    make_inputs=ln_forward_inputs,
    run=ln_forward_run,
    outputs=[
        Output(
            "out",
            like="x",
            hint="normalise each example (row) over its features: mean and "
            "biased variance along axis 1 with keepdims=True, eps inside the square root",
        )
    ],
    cases=LN_CASES,
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(35, "batch of 1, D=6", {"N": 1, "D": 6}),
        Case(36, "N=10, D=2", {"N": 10, "D": 2}),
        Case(
            37, "N=5, D=30, small spread, eps 1e-4", {"N": 5, "D": 30, "scale": 0.02, "eps": 1e-4}
        ),
        ### END HIDDEN TESTS
    ],
    properties=_normalised_properties(1, "layernorm_forward"),
)

layernorm_backward = Check(
    name="layernorm_backward",
    notebook=NB,
    module="layers",
    points=2,
    make_inputs=ln_backward_inputs,
    run=_backward_run("layernorm_forward", "layernorm_backward", {}),
    outputs=_backward_outputs(
        "the statistics are per example: the means in dx run over axis 1 (the features) "
        "with keepdims=True, while dgamma and dbeta still sum over the batch",
        "batch (axis 0)",
    ),
    cases=LN_CASES[:2] + LN_CASES[3:],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(38, "batch of 1, D=6", {"N": 1, "D": 6}),
        Case(39, "N=9, D=3", {"N": 9, "D": 3}),
        ### END HIDDEN TESTS
    ],
    depends_on=("layernorm_forward",),
)


# ---------------------------------------------------------------- the network with normalization


def norm_fc_inputs(rng, **kwargs):
    """The FC check's inputs plus gamma and beta for each hidden layer."""
    inputs = fc_inputs(rng, **kwargs)
    for layer, H in enumerate(inputs["hidden_dims"], start=1):
        inputs[f"gamma{layer}"] = 1 + 0.3 * _randn(rng, int(H))
        inputs[f"beta{layer}"] = 0.2 * _randn(rng, int(H))
    return inputs


def norm_fc_run(api, i, normalization):
    """A training pass (loss, gradients, running statistics), then test-time scores, then
    numeric gradients of the training loss."""
    net = _make_net(api, i, normalization=normalization)
    params = {k: i[k].copy() for k in _norm_param_names(i)}
    return model_outputs(net, params, i["X"], i["y"])


def _norm_param_names(i):
    hidden = range(1, len(i["hidden_dims"]) + 1)
    return _param_names(i) + [f"{p}{layer}" for layer in hidden for p in ("gamma", "beta")]


def _norm_fc_outputs(i, norm):
    outs = [
        Output(
            "loss",
            scalar=True,
            hint=f"{norm} goes between each hidden affine layer and its "
            f"ReLU, never after the last affine layer; the L2 term covers the W's only, "
            f"not gamma or beta",
        ),
        Output(
            "scores",
            hint="scores come from a test-mode pass (y=None)"
            + (
                ", which uses the running statistics that the training pass stored in "
                "self.bn_params[i]: pass the same dict each time"
                if norm == "batchnorm"
                else ""
            ),
        ),
    ]
    for k in _norm_param_names(i):
        if norm == "batchnorm" and k in _hidden_biases(i):
            continue  # zero gradient: judged by _bias_before_batchnorm_is_inert
        hint = {
            "W": "add reg * W to the gradient of each W",
            "g": "gamma is not regularised",
            "b": "",
        }[k[0]]
        outs.append(Output(f"grads.{k}", like=k, numeric=f"numeric.{k}", hint=hint))
    return outs


def _hidden_biases(i):
    return [f"b{layer}" for layer in range(1, len(i["hidden_dims"]) + 1)]


def _bias_before_batchnorm_is_inert(i, got):
    """The batch mean removes any bias added before batchnorm, so the gradient of a hidden
    layer's b is zero up to rounding; compared with the reference or the numeric gradient it
    would only compare rounding noise."""
    messages = []
    for k in _hidden_biases(i):
        g = got.get(f"grads.{k}")
        if g is None:
            messages.append(f"FullyConnectedNet.loss_batchnorm: did not return grads.{k}")
        elif g.shape != i[k].shape:
            messages.append(
                f"FullyConnectedNet.loss_batchnorm: grads.{k} has shape {g.shape} but "
                f"{k} has shape {i[k].shape}"
            )
        elif np.abs(g).max(initial=0) > 1e-9:
            messages.append(
                f"FullyConnectedNet.loss_batchnorm: grads.{k} should be 0 up to rounding "
                f"(the batch mean removes a bias added before batchnorm), got values up to "
                f"{np.abs(g).max():.3g}. Hint: backpropagate through batchnorm before the "
                f"affine layer"
            )
    return messages


def _norm_fc_check(normalization, points, cases, hidden):
    return Check(
        name=f"FullyConnectedNet.loss_{normalization}",
        notebook=NB,
        module="fc_net",
        points=points,
        make_inputs=norm_fc_inputs,
        run=lambda api, i: norm_fc_run(api, i, normalization),
        outputs=lambda i: _norm_fc_outputs(i, normalization),
        cases=cases,
        hidden_cases=hidden,
        properties=_bias_before_batchnorm_is_inert if normalization == "batchnorm" else None,
        uses=FC_LAYERS + tuple(f"{normalization}_{part}" for part in NORM_PARTS[normalization]),
    )


NORM_PARTS = {
    "batchnorm": ("forward", "backward", "backward_alt"),
    "layernorm": ("forward", "backward"),
}


fc_net_loss_batchnorm = _norm_fc_check(
    "batchnorm",
    3,
    [
        Case(0, "H=[7, 6], reg 0"),
        Case(1, "H=[5, 5, 5], N=6, reg 0.3", {"hidden": (5, 5, 5), "N": 6, "reg": 0.3}),
    ],
    [
        ### BEGIN HIDDEN TESTS
        Case(40, "H=[4], N=2, reg 0.1", {"hidden": (4,), "N": 2, "reg": 0.1}),
        Case(41, "H=[8, 3], N=5, D=3, reg 1.5", {"hidden": (8, 3), "N": 5, "D": 3, "reg": 1.5}),
        ### END HIDDEN TESTS
    ],
)

fc_net_loss_layernorm = _norm_fc_check(
    "layernorm",
    2,
    [
        Case(0, "H=[7, 6], reg 0"),
        Case(1, "H=[5, 4, 6], N=2, reg 0.3", {"hidden": (5, 4, 6), "N": 2, "reg": 0.3}),
    ],
    [
        ### BEGIN HIDDEN TESTS
        Case(42, "batch of 1, H=[6], reg 0.2", {"hidden": (6,), "N": 1, "reg": 0.2}),
        Case(43, "H=[3, 9], N=4, D=7, reg 1.1", {"hidden": (3, 9), "N": 4, "D": 7, "reg": 1.1}),
        ### END HIDDEN TESTS
    ],
)

CHECKS = [
    batchnorm_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    layernorm_forward,
    layernorm_backward,
    fc_net_loss_batchnorm,
    fc_net_loss_layernorm,
]
