"""Checks of Dropout.ipynb: inverted dropout and the FC net with dropout.

Which units a correct dropout keeps depends on how it draws its random numbers, so its
training-mode output is not compared with the reference's. It is judged by what every
correct inverted dropout satisfies: about a fraction p of the units kept, kept units scaled
by exactly 1/p, the mean preserved, the same mask for the same seed, and a backward pass
that reuses the forward pass's mask. The network is checked with fixed masks put in place
of the dropout layer, so its loss and gradients can be compared exactly.
"""

from contextlib import contextmanager

import numpy as np

from .core import FLOAT32_TOL, NUMERIC_TOL, Case, Check, Output, promoted, scaled_error
from .fc import FC_LAYERS, _make_net, _param_names, _randn, fc_inputs
from .numeric import numeric_or_none, with_numeric

NB = "Dropout"
SIGMAS = 5  # a correct dropout fails a statistical test about once in 1.7 million runs


def _exact_tol(dtype):
    return FLOAT32_TOL if dtype == np.float32 else 1e-10


# ---------------------------------------------------------------- dropout_forward


def dropout_inputs(rng, shape=(40, 75), p=0.75, seed=123, dtype="float64"):
    """x far from 0 (so that out == 0 means dropped), a small x for the seed tests, an
    upstream gradient, the keep probability p and the seed."""
    return {
        "x": (10 + _randn(rng, *shape)).astype(dtype),
        "x_small": (10 + _randn(rng, 4, 30)).astype(dtype),
        "dout": _randn(rng, *shape, dtype=dtype),
        "p": np.asarray(p),
        "seed": np.asarray(seed),
    }


def _param(i, mode, seed=None):
    param = {"p": float(i["p"]), "mode": mode}
    if seed is not None:
        param["seed"] = int(seed)
    return param


def dropout_forward_run(api, i):
    forward = api.layers.dropout_forward
    seed = int(i["seed"])
    return {
        "out": forward(i["x"], _param(i, "train", seed))[0],
        "out_test": forward(i["x_small"], _param(i, "test"))[0],
        "out_seeded": forward(i["x_small"], _param(i, "train", seed))[0],
        "out_seeded_again": forward(i["x_small"], _param(i, "train", seed))[0],
        "out_other_seed": forward(i["x_small"], _param(i, "train", seed + 1))[0],
    }


def _shape_dtype(what, got, key, like, like_name):
    if got[key].shape != like.shape:
        return [f"{what}: {key} has shape {got[key].shape} but {like_name} has shape {like.shape}"]
    if got[key].dtype != like.dtype and not promoted(got[key].dtype, like.dtype):
        return [
            f"{what}: {key} has dtype {got[key].dtype} but {like_name} has dtype {like.dtype}; "
            f"keep the input's dtype (cast the mask with .astype({like_name}.dtype))"
        ]
    return []


def dropout_forward_properties(i, got):
    """What every correct inverted dropout does, judged without the reference."""
    name, x, p, out = "dropout_forward", i["x"], float(i["p"]), got["out"]
    messages = _shape_dtype(name, got, "out", x, "x")
    for key in ("out_seeded", "out_seeded_again", "out_other_seed"):
        messages += _shape_dtype(name, got, key, i["x_small"], "x")
    if messages:
        return messages
    kept = out != 0
    n, fraction = kept.size, kept.mean()
    spread = SIGMAS * np.sqrt(p * (1 - p) / n)
    if abs(fraction - p) > spread:
        messages.append(
            f"{name}: kept {fraction:.1%} of the units with p={p:g}, expected "
            f"{p:.1%} +- {spread:.1%}. Hint: p is the probability of KEEPING a unit: "
            f"keep where np.random.rand(...) < p"
        )
    ratio = out[kept].astype(np.float64) / x[kept]
    if kept.any() and np.abs(ratio * p - 1).max() > _exact_tol(x.dtype):
        messages.append(
            f"{name}: kept units should be x / p = x * {1 / p:.4g} (inverted dropout "
            f"scales at training time), got out / x from {ratio.min():.4g} to "
            f"{ratio.max():.4g}. Hint: divide the mask by p"
        )
    drift = abs(out.astype(np.float64).mean() - x.mean())
    allowed = SIGMAS * np.sqrt(np.mean(x.astype(np.float64) ** 2) * (1 - p) / p / n)
    if not messages and drift > allowed:
        messages.append(
            f"{name}: the mean of out should stay close to the mean of x "
            f"({x.mean():.4g}), got {out.mean():.4g}"
        )
    if not np.allclose(got["out_test"], i["x_small"], rtol=_exact_tol(x.dtype), atol=0):
        messages.append(
            f"{name}: in test mode out should be x itself (inverted dropout does all "
            f"of its scaling at training time)"
        )
    if not np.array_equal(got["out_seeded"], got["out_seeded_again"]):
        messages.append(
            f"{name}: two calls with the same dropout_param['seed'] gave different "
            f"masks. Hint: draw the mask with np.random (which the given code seeds), "
            f"not with a generator of your own"
        )
    elif p < 1 and np.array_equal(got["out_seeded"], got["out_other_seed"]):
        messages.append(
            f"{name}: different seeds gave the same mask; draw a new random mask on "
            f"every call with np.random"
        )
    return messages


DROPOUT_CASES = [
    Case(0, "p=0.75, x (40, 75)"),
    Case(1, "p=0.3, x (4, 25, 30), float32", {"shape": (4, 25, 30), "p": 0.3, "dtype": "float32"}),
    Case(2, "p=0.4, x (50, 60), seed 5", {"shape": (50, 60), "p": 0.4, "seed": 5}),
]

dropout_forward = Check(
    name="dropout_forward",
    notebook=NB,
    module="layers",
    points=2,
    make_inputs=dropout_inputs,
    run=dropout_forward_run,
    outputs=[
        Output(
            "out_test",
            like="x_small",
            hint="in test mode inverted dropout is the identity: "
            "the scaling by 1/p happened at training time",
        )
    ],
    cases=DROPOUT_CASES,
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(50, "p=0.9, x (500, 200)", {"shape": (500, 200), "p": 0.9, "seed": 7}),
        Case(
            51,
            "p=0.15, x (3, 70, 300), float32",
            {"shape": (3, 70, 300), "p": 0.15, "dtype": "float32"},
        ),
        Case(52, "p=1, x (20, 30)", {"shape": (20, 30), "p": 1.0}),
        ### END HIDDEN TESTS
    ],
    properties=dropout_forward_properties,
)


# ---------------------------------------------------------------- dropout_backward


def dropout_backward_run(api, i):
    """Backward on the cache of the very forward pass whose output is returned, and numeric
    gradients of the seeded forward pass (the seed makes it deterministic)."""
    forward, backward = api.layers.dropout_forward, api.layers.dropout_backward
    x, dout, seed = i["x"], i["dout"], int(i["seed"])
    out, cache = forward(x, _param(i, "train", seed))
    got = {
        "out": out,
        "dx": backward(dout, cache),
        "dx_test": backward(dout, forward(x, _param(i, "test"))[1]),
    }
    if x.dtype != np.float64:
        return got
    return with_numeric(
        got, dx_num=numeric_or_none(lambda v: forward(v, _param(i, "train", seed))[0], x, dout)
    )


def dropout_backward_properties(i, got):
    """dx must be dout times the forward pass's own mask: dx == dout * out / x."""
    name, x, dout = "dropout_backward", i["x"], i["dout"]
    messages = _shape_dtype(name, got, "dx", dout, "dout") + _shape_dtype(
        "dropout_forward", got, "out", x, "x"
    )
    if messages:
        return messages
    if not np.array_equal(got["dx_test"], dout):
        messages.append(
            f"{name}: in test mode dx should be dout itself (the forward pass is the identity)"
        )
    dx = got["dx"].astype(np.float64)
    want = dout * (got["out"].astype(np.float64) / x)
    err = scaled_error(dx, want)
    if err > _exact_tol(x.dtype):
        dropped_but_passed = np.sum((got["out"] == 0) & (dx != 0))
        messages.append(
            f"{name}: dx should be dout * mask with the mask of the forward pass whose "
            f"cache you got (dx == dout * out / x), error {err:.1e}; {dropped_but_passed} "
            f"units dropped in the forward pass got a gradient. Hint: keep the mask "
            f"(scaled by 1/p) in the cache and reuse it; never draw a new one"
        )
    elif "dx_num" in got and scaled_error(dx, got["dx_num"]) > NUMERIC_TOL:
        messages.append(
            f"{name}: dx differs from the numeric gradient of your seeded forward "
            f"pass (error {scaled_error(dx, got['dx_num']):.1e})"
        )
    return messages


dropout_backward = Check(
    name="dropout_backward",
    notebook=NB,
    module="layers",
    points=2,
    make_inputs=dropout_inputs,
    run=dropout_backward_run,
    outputs=[
        Output(
            "dx_test",
            like="dout",
            hint="in test mode the forward pass is the identity, so dx = dout",
        )
    ],
    cases=[
        Case(0, "p=0.2, x (10, 10), seed 123", {"shape": (10, 10), "p": 0.2}),
        Case(1, "p=0.75, x (6, 3, 4)", {"shape": (6, 3, 4), "seed": 3}),
        Case(2, "p=0.6, x (20, 30), float32", {"shape": (20, 30), "p": 0.6, "dtype": "float32"}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(53, "p=0.9, x (7, 11)", {"shape": (7, 11), "p": 0.9, "seed": 9}),
        Case(54, "p=0.35, x (2, 3, 5, 4)", {"shape": (2, 3, 5, 4), "p": 0.35}),
        ### END HIDDEN TESTS
    ],
    properties=dropout_backward_properties,
    depends_on=("dropout_forward",),
)


# ---------------------------------------------------------------- the network with dropout


class FixedMasks:
    """Stand-ins for dropout_forward/backward that apply given masks, one per hidden layer in
    the order of the calls, so the net's loss does not depend on how masks are drawn."""

    def __init__(self, masks, p):
        self.masks, self.p, self.calls = masks, p, 0

    def forward(self, x, dropout_param):
        where = "FullyConnectedNet.loss_dropout: dropout_forward"
        if dropout_param.get("p") != self.p:
            raise ValueError(
                f"{where} was called with p={dropout_param.get('p')} but "
                f"dropout_keep_ratio is {self.p}; pass self.dropout_param"
            )
        if self.calls >= len(self.masks):
            raise ValueError(
                f"{where} was called more than once per hidden layer; dropout goes "
                f"after each hidden ReLU only, not after the last affine layer"
            )
        mask = self.masks[self.calls]
        self.calls += 1
        if x.shape != mask.shape:
            raise ValueError(
                f"{where} call {self.calls} got an input of shape {x.shape}; it belongs "
                f"after the ReLU of hidden layer {self.calls}, whose output has shape "
                f"{mask.shape}"
            )
        if dropout_param["mode"] == "test":
            return x, (dropout_param, None)
        return x * mask.astype(x.dtype), (dropout_param, mask)

    @staticmethod
    def backward(dout, cache):
        _, mask = cache
        return dout if mask is None else dout * mask.astype(dout.dtype)


@contextmanager
def fixed_dropout(api, masks, p):
    """Put FixedMasks in place of dropout_forward/backward wherever the net can look them up
    (the namespace of its loss method, layer_utils, layers), and put the originals back."""
    fixed = FixedMasks(masks, p)
    loss_globals = getattr(api.fc_net.FullyConnectedNet.loss, "__globals__", {})
    spaces = {id(s): s for s in (loss_globals, vars(api.layer_utils), vars(api.layers))}.values()
    saved = []
    for space in spaces:
        for name, stand_in in (
            ("dropout_forward", fixed.forward),
            ("dropout_backward", fixed.backward),
        ):
            if name in space:
                saved.append((space, name, space[name]))
                space[name] = stand_in
    try:
        yield fixed
    finally:
        for space, name, original in reversed(saved):
            space[name] = original


def fc_dropout_inputs(rng, keep=0.75, **kwargs):
    """The FC check's inputs plus the keep ratio and one mask per hidden layer."""
    inputs = fc_inputs(rng, **kwargs)
    N = inputs["X"].shape[0]
    for layer, H in enumerate(inputs["hidden_dims"], start=1):
        inputs[f"mask{layer}"] = (rng.random((N, int(H))) < keep) / keep
    inputs["keep"] = np.asarray(keep)
    return inputs


def fc_dropout_run(api, i):
    """Training loss and gradients, test-time scores and numeric gradients, all with the
    same fixed masks."""
    p = float(i["keep"])
    net = _make_net(api, i, dropout_keep_ratio=p, seed=int(i["seed"]))
    params = {k: i[k].copy() for k in _param_names(i)}
    X, y = i["X"], i["y"]
    masks = [i[f"mask{layer}"] for layer in range(1, len(i["hidden_dims"]) + 1)]
    with fixed_dropout(api, masks, p) as fixed:

        def loss(**changed):
            net.params = {**params, **changed}
            fixed.calls = 0
            return net.loss(X, y)

        value, grads = loss()
        net.params, fixed.calls = dict(params), 0
        out = {"scores": net.loss(X), "loss": value, **{f"grads.{k}": g for k, g in grads.items()}}
        for k in params:
            num = numeric_or_none(lambda v, k=k: loss(**{k: v})[0], params[k])
            if num is not None:
                out[f"numeric.{k}"] = num
    return out


def _fc_dropout_outputs(i):
    outs = [
        Output(
            "loss",
            scalar=True,
            hint="apply dropout_forward(h, self.dropout_param) right "
            "after each hidden ReLU when self.use_dropout, and keep its cache for the backward "
            "pass",
        ),
        Output(
            "scores",
            hint="with y=None the net runs in test mode, where dropout is the "
            "identity: pass self.dropout_param, whose mode the given code sets",
        ),
    ]
    for k in _param_names(i):
        outs.append(
            Output(
                f"grads.{k}",
                like=k,
                numeric=f"numeric.{k}",
                hint="backpropagate through dropout_backward(dout, cache) before each "
                "hidden layer's affine_relu_backward",
            )
        )
    return outs


fc_net_loss_dropout = Check(
    name="FullyConnectedNet.loss_dropout",
    notebook=NB,
    module="fc_net",
    points=2,
    make_inputs=fc_dropout_inputs,
    run=fc_dropout_run,
    outputs=_fc_dropout_outputs,
    cases=[
        Case(0, "keep 0.75, H=[7, 6], reg 0"),
        Case(
            1,
            "keep 0.3, H=[5, 5, 5], N=6, reg 0.2",
            {"keep": 0.3, "hidden": (5, 5, 5), "N": 6, "reg": 0.2},
        ),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(55, "keep 0.9, batch of 1, H=[4]", {"keep": 0.9, "hidden": (4,), "N": 1}),
        Case(
            56,
            "keep 0.6, H=[6, 3], D=3, reg 0.7",
            {"keep": 0.6, "hidden": (6, 3), "D": 3, "reg": 0.7},
        ),
        ### END HIDDEN TESTS
    ],
    uses=FC_LAYERS,
)

CHECKS = [dropout_forward, dropout_backward, fc_net_loss_dropout]
