"""Checks of FullyConnectedNets.ipynb: affine, ReLU, softmax, update rules, the FC net."""

import numpy as np

from .core import Case, Check, Output
from .numeric import model_outputs, numeric_or_none, with_numeric

NB = "FullyConnectedNets"


def _randn(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- affine


def affine_inputs(rng, x_shape=(2, 4, 5), M=3, dtype="float64"):
    D = int(np.prod(x_shape[1:]))
    return {
        "x": _randn(rng, *x_shape, dtype=dtype),
        "w": _randn(rng, D, M, dtype=dtype),
        "b": _randn(rng, M, dtype=dtype),
        "dout": _randn(rng, x_shape[0], M, dtype=dtype),
    }


def affine_forward_run(api, i):
    out, _ = api.layers.affine_forward(i["x"], i["w"], i["b"])
    return {"out": out}


def affine_backward_run(api, i):
    x, w, b, dout = i["x"], i["w"], i["b"], i["dout"]
    dx, dw, db = api.layers.affine_backward(dout, (x, w, b))
    f = api.layers.affine_forward
    if x.dtype != np.float64:
        return {"dx": dx, "dw": dw, "db": db}
    return with_numeric(
        {"dx": dx, "dw": dw, "db": db},
        dx_num=numeric_or_none(lambda v: f(v, w, b)[0], x, dout),
        dw_num=numeric_or_none(lambda v: f(x, v, b)[0], w, dout),
        db_num=numeric_or_none(lambda v: f(x, w, v)[0], b, dout),
    )


AFFINE_CASES = [
    Case(0, "x (2, 4, 5), M=3"),
    Case(1, "x (3, 7), M=4", {"x_shape": (3, 7), "M": 4}),
    Case(2, "float32", {"x_shape": (2, 3, 2), "M": 2, "dtype": "float32"}),
]
AFFINE_HIDDEN = [
    ### BEGIN HIDDEN TESTS
    Case(10, "batch of 1", {"x_shape": (1, 2, 3, 2), "M": 1}),
    Case(11, "x (5, 3, 2), M=7", {"x_shape": (5, 3, 2), "M": 7}),
    ### END HIDDEN TESTS
]

FLATTEN_HINT = "flatten each example with x.reshape(N, -1) before multiplying by w"


def _missing_bias(i, got, expected):
    if np.allclose(expected - got, i["b"], rtol=1e-4, atol=1e-6):
        return "add the bias: out = x_flat @ w + b"
    return None


affine_forward = Check(
    name="affine_forward",
    notebook=NB,
    module="layers",
    points=2,
    make_inputs=affine_inputs,
    run=affine_forward_run,
    outputs=[Output("out", hint=FLATTEN_HINT, diagnose=_missing_bias)],
    cases=AFFINE_CASES,
    hidden_cases=AFFINE_HIDDEN,
    error_hint=FLATTEN_HINT,
)

affine_backward = Check(
    name="affine_backward",
    notebook=NB,
    module="layers",
    points=3,
    make_inputs=affine_inputs,
    run=affine_backward_run,
    outputs=[
        Output("dx", like="x", numeric="dx_num", hint="return dx reshaped to x's shape"),
        Output(
            "dw",
            like="w",
            numeric="dw_num",
            hint="dw needs the flattened x: x.reshape(N, -1).T @ dout",
        ),
        Output("db", like="b", numeric="db_num", hint="db sums dout over the examples (axis 0)"),
    ],
    cases=AFFINE_CASES,
    hidden_cases=AFFINE_HIDDEN,
    error_hint="x in the cache has its original shape: flatten it with x.reshape(N, -1) for dw",
)

# ---------------------------------------------------------------- relu


def relu_inputs(rng, shape=(3, 4), dtype="float64"):
    x = _randn(rng, *shape, dtype=dtype)
    x[np.abs(x) < 1e-3] = 0.5  # keep clear of the kink, where the numeric gradient is undefined
    return {"x": x, "dout": _randn(rng, *shape, dtype=dtype)}


def relu_forward_run(api, i):
    return {"out": api.layers.relu_forward(i["x"])[0]}


def relu_backward_run(api, i):
    x, dout = i["x"], i["dout"]
    dx = api.layers.relu_backward(dout, x)
    return with_numeric(
        {"dx": dx},
        dx_num=numeric_or_none(lambda v: api.layers.relu_forward(v)[0], x, dout)
        if x.dtype == np.float64
        else None,
    )


RELU_CASES = [
    Case(0, "x (3, 4)"),
    Case(1, "x (2, 3, 5)", {"shape": (2, 3, 5)}),
    Case(2, "float32", {"shape": (4, 3), "dtype": "float32"}),
]
RELU_HIDDEN = [
    ### BEGIN HIDDEN TESTS
    Case(12, "x (1, 6)", {"shape": (1, 6)}),
    Case(13, "x (2, 2, 2, 3)", {"shape": (2, 2, 2, 3)}),
    ### END HIDDEN TESTS
]

relu_forward = Check(
    name="relu_forward",
    notebook=NB,
    module="layers",
    points=1,
    make_inputs=relu_inputs,
    run=relu_forward_run,
    outputs=[Output("out", like="x")],
    cases=RELU_CASES,
    hidden_cases=RELU_HIDDEN,
)
relu_backward = Check(
    name="relu_backward",
    notebook=NB,
    module="layers",
    points=1,
    make_inputs=relu_inputs,
    run=relu_backward_run,
    outputs=[
        Output(
            "dx",
            like="x",
            numeric="dx_num",
            hint="the gradient passes only where the input x was positive",
        )
    ],
    cases=RELU_CASES,
    hidden_cases=RELU_HIDDEN,
)

# ---------------------------------------------------------------- softmax


def softmax_inputs(rng, N=5, C=4, offset=0.0, spread=1.0):
    """Scores around `offset`: a large common offset overflows np.exp unless each row's
    maximum is subtracted first, while with a moderate spread every stable formula
    (log-softmax, or the notes' shift-then-divide) stays exact."""
    return {"x": offset + spread * _randn(rng, N, C), "y": rng.integers(C, size=N)}


def softmax_run(api, i):
    x, y = i["x"], i["y"]
    loss, dx = api.layers.softmax_loss(x, y)
    return with_numeric(
        {"loss": loss, "dx": dx},
        dx_num=numeric_or_none(lambda v: api.layers.softmax_loss(v, y)[0], x),
    )


softmax_loss = Check(
    name="softmax_loss",
    notebook=NB,
    module="layers",
    points=3,
    make_inputs=softmax_inputs,
    run=softmax_run,
    outputs=[
        Output(
            "loss",
            scalar=True,
            hint="the loss is the MEAN over the N examples of -log softmax(x)[y]; "
            "for large scores subtract each row's maximum before np.exp "
            "(the result does not change, but np.exp no longer overflows)",
        ),
        Output("dx", like="x", numeric="dx_num", hint="dx = (softmax(x) - one_hot(y)) / N"),
    ],
    cases=[
        Case(0, "N=5, C=4"),
        Case(1, "N=3, C=10", {"N": 3, "C": 10}),
        Case(2, "scores 1000 + 10 * randn", {"N": 4, "C": 3, "offset": 1000.0, "spread": 10.0}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(14, "batch of 1", {"N": 1, "C": 6}),
        Case(
            15,
            "scores -800 + 10 * randn, N=6, C=2",
            {"N": 6, "C": 2, "offset": -800.0, "spread": 10.0},
        ),
        ### END HIDDEN TESTS
    ],
)

# ---------------------------------------------------------------- update rules

CLASSIC_STATE = {"velocity": (0.6, 0.9), "cache": (0.7, 0.5), "m": (0.6, 0.9), "v": (0.7, 0.5)}


def rule_inputs(rng, state, shape=(4, 5), steps=3, classic=False, fresh=False, config=None):
    """Weights, one gradient per step, the rule's state arrays (absent when fresh) and the
    hyperparameters of `config` as 0-d arrays."""
    hyper = {k: np.asarray(v) for k, v in (config or {}).items()}
    if classic:  # the classic notebook's linspace fixture: one step
        N, D = shape
        inputs = {
            "w": np.linspace(-0.4, 0.6, num=N * D).reshape(N, D),
            "dw": np.linspace(-0.6, 0.4, num=N * D).reshape(1, N, D),
        }
        for k in state:
            inputs[k] = np.linspace(*CLASSIC_STATE[k], num=N * D).reshape(N, D)
        return {**inputs, **hyper}
    inputs = {"w": _randn(rng, *shape), "dw": _randn(rng, steps, *shape)}
    if not fresh:
        for k in state:
            inputs[k] = (
                np.abs(_randn(rng, *shape)) if k in ("cache", "v") else 0.1 * _randn(rng, *shape)
            )
    return {**inputs, **hyper}


def _run_rule(rule_name, hyper, state):
    """Several steps of a rule, each fed the config the previous one returned."""

    def run(api, inputs):
        rule = getattr(api.optim, rule_name)
        config = {k: float(inputs[k]) for k in hyper if k in inputs}
        config.update({k: inputs[k] for k in state if k in inputs})
        if "t" in inputs:
            config["t"] = int(inputs["t"])
        w, out = inputs["w"], {}
        for step, dw in enumerate(inputs["dw"]):
            w, config = rule(w, dw, config)
            out[f"next_w{step}"] = np.array(w, copy=True)  # a rule may update w in place
        out.update({k: config[k] for k in state if k in config})
        if "t" in config:
            out["t"] = np.asarray(config["t"])
        return out

    return run


def _rule_check(name, points, hyper, state, cases, hidden, hints):
    def make(rng, **kw):
        return rule_inputs(rng, state, **kw)

    def outputs(inputs):
        steps = inputs["dw"].shape[0]
        return (
            [Output(f"next_w{s}", hint=hints.get("next_w", "")) for s in range(steps)]
            + [Output(k, hint=hints.get(k, "")) for k in state]
            + ([Output("t", hint=hints["t"])] if "t" in hints else [])
        )

    return Check(
        name=name,
        notebook=NB,
        module="optim",
        points=points,
        make_inputs=make,
        run=_run_rule(name, hyper, state),
        outputs=outputs,
        cases=cases,
        hidden_cases=hidden,
        may_modify=("w", *state),
    )


sgd_momentum = _rule_check(
    "sgd_momentum",
    2,
    ("learning_rate", "momentum"),
    ("velocity",),
    [
        Case(0, "classic fixture", {"classic": True, "config": {"learning_rate": 1e-3}}),
        Case(1, "3 steps, momentum 0.9", {"config": {"learning_rate": 1e-2}}),
        Case(
            2,
            "fresh config, momentum 0.5",
            {"fresh": True, "shape": (3, 2), "config": {"learning_rate": 5e-2, "momentum": 0.5}},
        ),
    ],
    [
        ### BEGIN HIDDEN TESTS
        Case(
            16,
            "5 steps, shape (6,)",
            {"shape": (6,), "steps": 5, "config": {"learning_rate": 0.1, "momentum": 0.99}},
        ),
        ### END HIDDEN TESTS
    ],
    {
        "next_w": "v = momentum * v - learning_rate * dw; next_w = w + v",
        "velocity": "store the new velocity in config['velocity']",
    },
)

rmsprop = _rule_check(
    "rmsprop",
    2,
    ("learning_rate", "decay_rate", "epsilon"),
    ("cache",),
    [
        Case(0, "classic fixture", {"classic": True, "config": {"learning_rate": 1e-2}}),
        Case(1, "3 steps", {"config": {"learning_rate": 1e-3, "decay_rate": 0.9}}),
        Case(2, "fresh config", {"fresh": True, "shape": (2, 3)}),
    ],
    [
        ### BEGIN HIDDEN TESTS
        Case(
            17,
            "4 steps, shape (5,)",
            {"shape": (5,), "steps": 4, "config": {"learning_rate": 0.05}},
        ),
        ### END HIDDEN TESTS
    ],
    {
        "next_w": (
            "divide by sqrt(cache) + epsilon, with the cache already updated by this step's dw"
        ),
        "cache": "cache = decay_rate * cache + (1 - decay_rate) * dw**2",
    },
)

adam = _rule_check(
    "adam",
    3,
    ("learning_rate", "beta1", "beta2", "epsilon"),
    ("m", "v"),
    [
        Case(
            0, "classic fixture, t=5", {"classic": True, "config": {"learning_rate": 1e-2, "t": 5}}
        ),
        Case(
            1, "fresh config, 3 steps from t=0", {"fresh": True, "config": {"learning_rate": 1e-2}}
        ),
        Case(
            2,
            "t=1, beta1 0.5",
            {"shape": (2, 2), "steps": 2, "config": {"learning_rate": 0.1, "beta1": 0.5, "t": 1}},
        ),
    ],
    [
        ### BEGIN HIDDEN TESTS
        Case(18, "fresh, 6 steps, shape (3, 1)", {"fresh": True, "shape": (3, 1), "steps": 6}),
        ### END HIDDEN TESTS
    ],
    {
        "next_w": (
            "use the bias-corrected m_hat = m / (1 - beta1**t) and "
            "v_hat = v / (1 - beta2**t), with t incremented before it is used"
        ),
        "m": "m = beta1 * m + (1 - beta1) * dw",
        "v": "v = beta2 * v + (1 - beta2) * dw**2",
        "t": "increment config['t'] once per step",
    },
)

# ---------------------------------------------------------------- the network


def fc_inputs(rng, N=3, D=5, hidden=(7, 6), C=4, reg=0.0, seed=231, **model_kwargs):
    inputs = {
        "X": _randn(rng, N, D),
        "y": rng.integers(C, size=N),
        "hidden_dims": np.asarray(hidden, dtype=np.int64).reshape(-1),
        "num_classes": np.asarray(C),
        "reg": np.asarray(reg),
        "seed": np.asarray(seed),
    }
    dims = [D, *hidden, C]
    for layer in range(1, len(dims)):
        inputs[f"W{layer}"] = 0.3 * _randn(rng, dims[layer - 1], dims[layer])
        inputs[f"b{layer}"] = 0.1 * _randn(rng, dims[layer])
    for k, v in model_kwargs.items():
        inputs[k] = np.asarray(v)
    return inputs


def _make_net(api, i, **extra):
    dtype = np.dtype(str(i["dtype"])) if "dtype" in i else np.float64
    return api.fc_net.FullyConnectedNet(
        [int(h) for h in i["hidden_dims"]],
        input_dim=i["X"].shape[1],
        num_classes=int(i["num_classes"]),
        reg=float(i["reg"]),
        weight_scale=0.05,
        dtype=dtype,
        **extra,
    )


def fc_init_run(api, i):
    np.random.seed(int(i["seed"]))
    net = _make_net(api, i)
    return {f"params.{k}": v for k, v in net.params.items()}


def _param_names(i):
    L = len(i["hidden_dims"]) + 1
    return [f"{p}{layer}" for layer in range(1, L + 1) for p in ("W", "b")]


def fc_loss_run(api, i, **extra):
    net = _make_net(api, i, **extra)
    params = {k: i[k].copy() for k in i if k[0] in "Wb" or k.startswith(("gamma", "beta"))}
    return model_outputs(net, params, i["X"], i["y"])


def _fc_loss_outputs(i):
    outs = [
        Output("scores", hint="with y=None return the scores of a forward pass"),
        Output(
            "loss",
            scalar=True,
            hint="add 0.5 * reg * sum(W**2) over every weight matrix W (not the biases)",
        ),
    ]
    for k in _param_names(i):
        outs.append(
            Output(
                f"grads.{k}",
                like=k,
                numeric=f"numeric.{k}",
                hint="add reg * W to the gradient of each W" if k[0] == "W" else "",
            )
        )
    return outs


fc_net_init = Check(
    name="FullyConnectedNet.__init__",
    notebook=NB,
    module="fc_net",
    points=2,
    make_inputs=fc_inputs,
    run=fc_init_run,
    outputs=lambda i: [
        Output(
            f"params.{k}",
            like=k,
            keep_dtype=True,
            hint=(
                "per layer, in order: W = weight_scale * np.random.randn(in, out), then b = "
                "np.zeros(out)"
                if k[0] == "W"
                else "biases start at zero"
            ),
        )
        for k in _param_names(i)
    ],
    cases=[
        Case(0, "H=[7, 6]"),
        Case(1, "H=[20, 30], D=15, C=10, seed 231", {"D": 15, "hidden": (20, 30), "C": 10}),
        Case(2, "dtype float32", {"hidden": (4, 3), "dtype": "float32"}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(19, "no hidden layer", {"hidden": (), "seed": 5}),
        Case(20, "H=[3, 4, 5]", {"hidden": (3, 4, 5), "seed": 7}),
        Case(23, "no hidden layer, dtype float32", {"hidden": (), "seed": 9, "dtype": "float32"}),
        ### END HIDDEN TESTS
    ],
)

# The layers a network's loss calls: where one fails its own check, the grade judges the
# network with a correct one standing in (core.py), so that bug is charged once.
FC_LAYERS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss")

fc_net_loss = Check(
    name="FullyConnectedNet.loss",
    notebook=NB,
    module="fc_net",
    points=5,
    make_inputs=fc_inputs,
    run=fc_loss_run,
    outputs=_fc_loss_outputs,
    cases=[
        Case(0, "H=[7, 6], reg 0"),
        Case(1, "H=[7, 6], reg 0.7", {"reg": 0.7}),
        Case(2, "H=[5, 5, 5], reg 0.1", {"hidden": (5, 5, 5), "reg": 0.1}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(21, "no hidden layer, reg 0.3", {"hidden": (), "reg": 0.3}),
        Case(22, "batch of 1, H=[4]", {"N": 1, "hidden": (4,), "reg": 0.2}),
        ### END HIDDEN TESTS
    ],
    uses=FC_LAYERS,
)

CHECKS = [
    affine_forward,
    affine_backward,
    relu_forward,
    relu_backward,
    softmax_loss,
    sgd_momentum,
    rmsprop,
    adam,
    fc_net_init,
    fc_net_loss,
]
