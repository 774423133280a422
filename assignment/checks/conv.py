"""Checks of ConvolutionalNetworks.ipynb: naive convolution and max pooling, spatial batch and
group normalization, the three-layer convolutional network.

Cases are small so that the numeric gradients (two forward passes per input entry) stay fast,
and odd on purpose: pad 0, stride 2, H != W and HH != WW, batches of 1, overlapping pooling
windows, 1 < G < C.
"""

import numpy as np

from .core import Case, Check, Output
from .fc import FC_LAYERS, _randn
from .numeric import model_outputs, numeric_or_none, with_numeric

NB = "ConvolutionalNetworks"
# A naive layer written with the provided fast layers or with torch earns nothing.
NAIVE_FORBIDS = ("assignment.fast_layers", "torch")


def _numeric(x, f, dout=None):
    """Numeric gradient of f at x, only for float64 (float32 cases check values and dtypes)."""
    return numeric_or_none(f, x, dout) if x.dtype == np.float64 else None


# ---------------------------------------------------------------- convolution


def conv_inputs(rng, x_shape=(2, 3, 4, 4), w_shape=(2, 3, 3, 3), stride=1, pad=1, dtype="float64"):
    N, _, H, W = x_shape
    F, _, HH, WW = w_shape
    out_shape = (N, F, 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride)
    return {
        "x": _randn(rng, *x_shape, dtype=dtype),
        "w": _randn(rng, *w_shape, dtype=dtype),
        "b": _randn(rng, F, dtype=dtype),
        "dout": _randn(rng, *out_shape, dtype=dtype),
        "stride": np.asarray(stride),
        "pad": np.asarray(pad),
    }


def _conv_param(i):
    return {"stride": int(i["stride"]), "pad": int(i["pad"])}


def conv_forward_run(api, i):
    out, _ = api.layers.conv_forward_naive(i["x"], i["w"], i["b"], _conv_param(i))
    return {"out": out}


def conv_backward_run(api, i):
    x, w, b, dout = i["x"], i["w"], i["b"], i["dout"]
    # The cache layout (x, w, b, conv_param) is part of the provided skeleton, so the backward
    # pass is judged on its own even when the forward pass is still missing.
    dx, dw, db = api.layers.conv_backward_naive(dout, (x, w, b, _conv_param(i)))

    def f(x, w, b):
        return api.layers.conv_forward_naive(x, w, b, _conv_param(i))[0]

    return with_numeric(
        {"dx": dx, "dw": dw, "db": db},
        dx_num=_numeric(x, lambda v: f(v, w, b), dout),
        dw_num=_numeric(w, lambda v: f(x, v, b), dout),
        db_num=_numeric(b, lambda v: f(x, w, v), dout),
    )


CONV_CASES = [
    Case(0, "x (2, 3, 4, 4), w (2, 3, 3, 3), stride 1, pad 1"),
    Case(
        1,
        "stride 2, pad 0, H != W, HH != WW: x (2, 2, 7, 5), w (3, 2, 3, 1)",
        {"x_shape": (2, 2, 7, 5), "w_shape": (3, 2, 3, 1), "stride": 2, "pad": 0},
    ),
    Case(
        2,
        "batch of 1, stride 2, pad 2: x (1, 2, 4, 6), w (2, 2, 2, 4)",
        {"x_shape": (1, 2, 4, 6), "w_shape": (2, 2, 2, 4), "stride": 2, "pad": 2},
    ),
    Case(
        3,
        "float32, x (2, 2, 4, 4), w (2, 2, 3, 3)",
        {"x_shape": (2, 2, 4, 4), "w_shape": (2, 2, 3, 3), "dtype": "float32"},
    ),
]
CONV_HIDDEN = [
    ### BEGIN HIDDEN TESTS
    Case(
        30,
        "x (3, 2, 4, 4), w (2, 2, 5, 5), stride 1, pad 2",
        {"x_shape": (3, 2, 4, 4), "w_shape": (2, 2, 5, 5), "pad": 2},
    ),
    Case(
        31,
        "1x1 filters, stride 2, pad 0: x (2, 4, 6, 4), w (3, 4, 1, 1)",
        {"x_shape": (2, 4, 6, 4), "w_shape": (3, 4, 1, 1), "stride": 2, "pad": 0},
    ),
    Case(
        32,
        "batch of 1, x (1, 3, 5, 9), w (2, 3, 3, 5), stride 2, pad 1",
        {"x_shape": (1, 3, 5, 9), "w_shape": (2, 3, 3, 5), "stride": 2},
    ),
    Case(
        33,
        "stride 3, pad 0, x (2, 1, 7, 10), w (1, 1, 4, 4)",
        {"x_shape": (2, 1, 7, 10), "w_shape": (1, 1, 4, 4), "stride": 3, "pad": 0},
    ),
    ### END HIDDEN TESTS
]

conv_forward_naive = Check(
    name="conv_forward_naive",
    notebook=NB,
    module="layers",
    points=3,
    make_inputs=conv_inputs,
    run=conv_forward_run,
    outputs=[
        Output(
            "out",
            hint="out is (N, F, 1 + (H + 2*pad - HH) // stride, 1 + (W + 2*pad - WW) // stride): "
            "pad only the H and W axes of x, step each window by stride, and take HH "
            "rows and WW columns",
        )
    ],
    cases=CONV_CASES,
    hidden_cases=CONV_HIDDEN,
    forbids=NAIVE_FORBIDS,
)

conv_backward_naive = Check(
    name="conv_backward_naive",
    notebook=NB,
    module="layers",
    points=4,
    make_inputs=conv_inputs,
    run=conv_backward_run,
    outputs=[
        Output(
            "dx",
            like="x",
            numeric="dx_num",
            hint="accumulate into the gradient of the padded x, then crop it with "
            "[pad:pad + H, pad:pad + W] (a [pad:-pad] crop is empty when pad is 0)",
        ),
        Output(
            "dw",
            like="w",
            numeric="dw_num",
            hint=(
                "dw[f] is the sum over n, i, j of dout[n, f, i, j] times the padded input "
                "window at (i, j)"
            ),
        ),
        Output("db", like="b", numeric="db_num", hint="db sums dout over axes 0, 2 and 3"),
    ],
    cases=CONV_CASES,
    hidden_cases=CONV_HIDDEN,
    forbids=NAIVE_FORBIDS,
)

# ---------------------------------------------------------------- max pooling


def pool_inputs(rng, x_shape=(2, 3, 4, 4), ph=2, pw=2, stride=2, dtype="float64"):
    """x holds distinct values at least 1/size apart, so every window has one clear maximum
    (a tie would make the gradient ambiguous and the numeric gradient meaningless)."""
    N, C, H, W = x_shape
    size = N * C * H * W
    x = (rng.permutation(size) + 0.5 * rng.random(size)) * (4.0 / size) - 2.0  # in [-2, 2)
    out_shape = (N, C, 1 + (H - ph) // stride, 1 + (W - pw) // stride)
    return {
        "x": x.reshape(x_shape).astype(dtype),
        "dout": _randn(rng, *out_shape, dtype=dtype),
        "pool_height": np.asarray(ph),
        "pool_width": np.asarray(pw),
        "stride": np.asarray(stride),
    }


def _pool_param(i):
    return {
        "pool_height": int(i["pool_height"]),
        "pool_width": int(i["pool_width"]),
        "stride": int(i["stride"]),
    }


def pool_forward_run(api, i):
    out, _ = api.layers.max_pool_forward_naive(i["x"], _pool_param(i))
    return {"out": out}


def pool_backward_run(api, i):
    x, dout = i["x"], i["dout"]
    dx = api.layers.max_pool_backward_naive(dout, (x, _pool_param(i)))  # the provided cache layout
    return with_numeric(
        {"dx": dx},
        dx_num=_numeric(x, lambda v: api.layers.max_pool_forward_naive(v, _pool_param(i))[0], dout),
    )


POOL_CASES = [
    Case(0, "2x2 windows, stride 2: x (2, 3, 4, 4)"),
    Case(
        1,
        "overlapping 3x3 windows, stride 1: x (2, 2, 5, 6)",
        {"x_shape": (2, 2, 5, 6), "ph": 3, "pw": 3, "stride": 1},
    ),
    Case(
        2,
        "overlapping 3x3 windows, stride 2, batch of 1: x (1, 2, 7, 9)",
        {"x_shape": (1, 2, 7, 9), "ph": 3, "pw": 3, "stride": 2},
    ),
    Case(
        3,
        "2x3 windows, stride 1: x (2, 2, 5, 7)",
        {"x_shape": (2, 2, 5, 7), "ph": 2, "pw": 3, "stride": 1},
    ),
    Case(
        4,
        "float32, 2x2 windows, stride 2: x (2, 2, 6, 4)",
        {"x_shape": (2, 2, 6, 4), "dtype": "float32"},
    ),
]
POOL_HIDDEN = [
    ### BEGIN HIDDEN TESTS
    Case(
        34,
        "4x4 windows, stride 4: x (2, 2, 8, 12)",
        {"x_shape": (2, 2, 8, 12), "ph": 4, "pw": 4, "stride": 4},
    ),
    Case(
        35,
        "3x2 windows, stride 2: x (3, 1, 7, 6)",
        {"x_shape": (3, 1, 7, 6), "ph": 3, "pw": 2, "stride": 2},
    ),
    Case(
        36,
        "2x2 windows, stride 1, batch of 1: x (1, 3, 4, 5)",
        {"x_shape": (1, 3, 4, 5), "ph": 2, "pw": 2, "stride": 1},
    ),
    ### END HIDDEN TESTS
]

max_pool_forward_naive = Check(
    name="max_pool_forward_naive",
    notebook=NB,
    module="layers",
    points=2,
    make_inputs=pool_inputs,
    run=pool_forward_run,
    outputs=[
        Output(
            "out",
            hint="window (i, j) covers rows i*stride to i*stride + pool_height - 1 and columns "
            "j*stride to j*stride + pool_width - 1; out is (N, C, 1 + (H - pool_height) // "
            "stride, 1 + (W - pool_width) // stride)",
        )
    ],
    cases=POOL_CASES,
    hidden_cases=POOL_HIDDEN,
    forbids=NAIVE_FORBIDS,
)

max_pool_backward_naive = Check(
    name="max_pool_backward_naive",
    notebook=NB,
    module="layers",
    points=3,
    make_inputs=pool_inputs,
    run=pool_backward_run,
    outputs=[
        Output(
            "dx",
            like="x",
            numeric="dx_num",
            hint="each window sends its dout only to the position of its maximum; overlapping "
            "windows can share a maximum, so add the gradients (+=) rather than assign them",
        )
    ],
    cases=POOL_CASES,
    hidden_cases=POOL_HIDDEN,
    forbids=NAIVE_FORBIDS,
)

# ---------------------------------------------------------------- spatial batchnorm


def sbn_inputs(rng, shape=(2, 3, 4, 5), train=True, momentum=0.9, eps=1e-5, dtype="float64"):
    N, C, H, W = shape
    return {
        "x": 4 * _randn(rng, *shape, dtype=dtype) + 10,
        "gamma": 1 + 0.5 * _randn(rng, C, dtype=dtype),
        "beta": _randn(rng, C, dtype=dtype),
        "dout": _randn(rng, *shape, dtype=dtype),
        "running_mean": 10 + _randn(rng, C, dtype=dtype),
        "running_var": 16 + 4 * np.abs(_randn(rng, C, dtype=dtype)),
        "train": np.asarray(train),
        "momentum": np.asarray(momentum),
        "eps": np.asarray(eps),
    }


def _bn_param(i):
    return {
        "mode": "train" if bool(i["train"]) else "test",
        "momentum": float(i["momentum"]),
        "eps": float(i["eps"]),
        "running_mean": i["running_mean"].copy(),
        "running_var": i["running_var"].copy(),
    }


def sbn_forward_run(api, i):
    bn_param = _bn_param(i)
    out, _ = api.layers.spatial_batchnorm_forward(i["x"], i["gamma"], i["beta"], bn_param)
    return {
        "out": out,
        "running_mean": bn_param.get("running_mean"),
        "running_var": bn_param.get("running_var"),
    }


def _sbn_forward_outputs(i):
    outs = [
        Output(
            "out",
            like="x",
            hint="statistics are per channel over N, H and W: move C last with "
            "x.transpose(0, 2, 3, 1) before reshaping to (N*H*W, C), and undo "
            "both (reshape, then transpose back) afterwards",
        )
    ]
    if bool(i["train"]):
        hint = "pass bn_param itself to batchnorm_forward, which stores the running averages in it"
        outs += [
            Output("running_mean", like="running_mean", hint=hint),
            Output("running_var", like="running_var", hint=hint),
        ]
    return outs


def sbn_backward_run(api, i):
    x, gamma, beta, dout = i["x"], i["gamma"], i["beta"], i["dout"]
    forward, eps = api.layers.spatial_batchnorm_forward, float(i["eps"])
    _, cache = forward(x, gamma, beta, {"mode": "train", "eps": eps})
    dx, dgamma, dbeta = api.layers.spatial_batchnorm_backward(dout, cache)

    def f(x, gamma, beta):
        return forward(x, gamma, beta, {"mode": "train", "eps": eps})[0]

    return with_numeric(
        {"dx": dx, "dgamma": dgamma, "dbeta": dbeta},
        dx_num=_numeric(x, lambda v: f(v, gamma, beta), dout),
        dgamma_num=_numeric(gamma, lambda v: f(x, v, beta), dout),
        dbeta_num=_numeric(beta, lambda v: f(x, gamma, v), dout),
    )


spatial_batchnorm_forward = Check(
    name="spatial_batchnorm_forward",
    notebook=NB,
    module="layers",
    points=2,
    make_inputs=sbn_inputs,
    run=sbn_forward_run,
    outputs=_sbn_forward_outputs,
    cases=[
        Case(0, "train, (2, 3, 4, 5)"),
        Case(
            1,
            "train, momentum 0.5, batch of 1, (1, 4, 3, 2)",
            {"shape": (1, 4, 3, 2), "momentum": 0.5},
        ),
        Case(2, "test mode, (3, 2, 2, 5)", {"shape": (3, 2, 2, 5), "train": False}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(37, "train, eps 1e-2, (4, 3, 2, 3)", {"shape": (4, 3, 2, 3), "eps": 1e-2}),
        Case(38, "test mode, batch of 1, (1, 5, 3, 4)", {"shape": (1, 5, 3, 4), "train": False}),
        Case(39, "train, float32, (2, 3, 3, 2)", {"shape": (2, 3, 3, 2), "dtype": "float32"}),
        ### END HIDDEN TESTS
    ],
    uses=("batchnorm_forward",),
)

spatial_batchnorm_backward = Check(
    name="spatial_batchnorm_backward",
    notebook=NB,
    module="layers",
    points=2,
    make_inputs=sbn_inputs,
    run=sbn_backward_run,
    outputs=[
        Output(
            "dx",
            like="x",
            numeric="dx_num",
            hint=(
                "reshape dout the same way as x in the forward pass (C last), reuse "
                "batchnorm_backward or batchnorm_backward_alt, and bring dx back to (N, C, H, W)"
            ),
        ),
        Output(
            "dgamma",
            like="gamma",
            numeric="dgamma_num",
            hint="dgamma and dbeta are (C,): sums over N, H and W",
        ),
        Output(
            "dbeta",
            like="beta",
            numeric="dbeta_num",
            hint="dgamma and dbeta are (C,): sums over N, H and W",
        ),
    ],
    cases=[
        Case(0, "(2, 3, 4, 5)"),
        Case(1, "batch of 1, (1, 4, 3, 2)", {"shape": (1, 4, 3, 2)}),
        Case(2, "(3, 2, 2, 5)", {"shape": (3, 2, 2, 5)}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(40, "(2, 5, 3, 3)", {"shape": (2, 5, 3, 3)}),
        Case(41, "one channel, (4, 1, 2, 3)", {"shape": (4, 1, 2, 3)}),
        ### END HIDDEN TESTS
    ],
    depends_on=("spatial_batchnorm_forward",),
    uses=("batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt"),
)

# ---------------------------------------------------------------- spatial groupnorm


def sgn_inputs(rng, shape=(2, 6, 4, 5), G=2, eps=1e-5, dtype="float64"):
    C = shape[1]
    # Each channel gets its own offset and scale, so that groups drawn wrongly have clearly
    # different statistics from the right ones.
    offset = 3 * _randn(rng, 1, C, 1, 1, dtype=dtype)
    scale = 1 + np.abs(_randn(rng, 1, C, 1, 1, dtype=dtype))
    return {
        "x": (scale * _randn(rng, *shape, dtype=dtype) + offset).astype(dtype),
        "gamma": 1 + 0.5 * _randn(rng, 1, C, 1, 1, dtype=dtype),
        "beta": _randn(rng, 1, C, 1, 1, dtype=dtype),
        "dout": _randn(rng, *shape, dtype=dtype),
        "G": np.asarray(G),
        "eps": np.asarray(eps),
    }


def sgn_forward_run(api, i):
    out, _ = api.layers.spatial_groupnorm_forward(
        i["x"], i["gamma"], i["beta"], int(i["G"]), {"eps": float(i["eps"])}
    )
    return {"out": out}


def sgn_backward_run(api, i):
    x, gamma, beta, dout = i["x"], i["gamma"], i["beta"], i["dout"]
    G, gn_param = int(i["G"]), {"eps": float(i["eps"])}
    forward = api.layers.spatial_groupnorm_forward
    _, cache = forward(x, gamma, beta, G, dict(gn_param))
    dx, dgamma, dbeta = api.layers.spatial_groupnorm_backward(dout, cache)

    def f(x, gamma, beta):
        return forward(x, gamma, beta, G, dict(gn_param))[0]

    return with_numeric(
        {"dx": dx, "dgamma": dgamma, "dbeta": dbeta},
        dx_num=_numeric(x, lambda v: f(v, gamma, beta), dout),
        dgamma_num=_numeric(gamma, lambda v: f(x, v, beta), dout),
        dbeta_num=_numeric(beta, lambda v: f(x, gamma, v), dout),
    )


GROUP_HINT = (
    "groups are contiguous: group g holds channels g*C//G to (g+1)*C//G - 1; reshape x to "
    "(N, G, C//G * H * W) and take mean and variance over the last axis"
)

spatial_groupnorm_forward = Check(
    name="spatial_groupnorm_forward",
    notebook=NB,
    module="layers",
    points=3,
    make_inputs=sgn_inputs,
    run=sgn_forward_run,
    outputs=[Output("out", like="x", hint=GROUP_HINT)],
    cases=[
        Case(0, "G=2, (2, 6, 4, 5)"),
        Case(1, "G=3, batch of 1, (1, 6, 3, 5)", {"shape": (1, 6, 3, 5), "G": 3}),
        Case(2, "G=2, eps 1e-2, (3, 4, 2, 3)", {"shape": (3, 4, 2, 3), "eps": 1e-2}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(42, "G=1, (2, 3, 3, 4)", {"shape": (2, 3, 3, 4), "G": 1}),
        Case(43, "G=C=4, (2, 4, 3, 2)", {"shape": (2, 4, 3, 2), "G": 4}),
        Case(44, "G=4, (2, 8, 2, 3)", {"shape": (2, 8, 2, 3), "G": 4}),
        Case(45, "G=2, float32, (2, 4, 3, 3)", {"shape": (2, 4, 3, 3), "dtype": "float32"}),
        ### END HIDDEN TESTS
    ],
)

spatial_groupnorm_backward = Check(
    name="spatial_groupnorm_backward",
    notebook=NB,
    module="layers",
    points=3,
    make_inputs=sgn_inputs,
    run=sgn_backward_run,
    outputs=[
        Output(
            "dx", like="x", numeric="dx_num", hint=GROUP_HINT + ", exactly as in the forward pass"
        ),
        Output(
            "dgamma",
            like="gamma",
            numeric="dgamma_num",
            hint="dgamma and dbeta are (1, C, 1, 1): sum over axes 0, 2 and 3 with keepdims=True",
        ),
        Output(
            "dbeta",
            like="beta",
            numeric="dbeta_num",
            hint="dgamma and dbeta are (1, C, 1, 1): sum over axes 0, 2 and 3 with keepdims=True",
        ),
    ],
    cases=[
        Case(0, "G=2, (2, 6, 4, 5)"),
        Case(1, "G=3, batch of 1, (1, 6, 3, 5)", {"shape": (1, 6, 3, 5), "G": 3}),
        Case(2, "G=2, (3, 4, 2, 3)", {"shape": (3, 4, 2, 3)}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(46, "G=1, (2, 3, 3, 4)", {"shape": (2, 3, 3, 4), "G": 1}),
        Case(47, "G=4, (2, 8, 2, 3)", {"shape": (2, 8, 2, 3), "G": 4}),
        ### END HIDDEN TESTS
    ],
    depends_on=("spatial_groupnorm_forward",),
)

# ---------------------------------------------------------------- the network


def cnn_inputs(
    rng,
    N=2,
    input_dim=(2, 4, 4),
    num_filters=2,
    filter_size=3,
    hidden_dim=4,
    num_classes=3,
    reg=0.0,
    seed=231,
):
    """Data, labels, the model's settings as 0-d arrays and a set of parameters (scaled up from
    the initial ones, so that the ReLUs and the loss do something worth checking)."""
    C, H, W = input_dim
    F, fs = num_filters, filter_size
    shapes = {
        "W1": (F, C, fs, fs),
        "b1": (F,),
        "W2": (F * (H // 2) * (W // 2), hidden_dim),
        "b2": (hidden_dim,),
        "W3": (hidden_dim, num_classes),
        "b3": (num_classes,),
    }
    inputs = {
        "X": _randn(rng, N, *input_dim),
        "y": rng.integers(num_classes, size=N),
        "num_filters": np.asarray(F),
        "filter_size": np.asarray(fs),
        "hidden_dim": np.asarray(hidden_dim),
        "num_classes": np.asarray(num_classes),
        "reg": np.asarray(reg),
        "seed": np.asarray(seed),
    }
    for k, shape in shapes.items():
        inputs[k] = (0.3 if k[0] == "W" else 0.1) * _randn(rng, *shape)
    return inputs


CNN_PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")
CNN_WEIGHT_SCALE = 0.05


def _make_convnet(api, i):
    return api.cnn.ThreeLayerConvNet(
        input_dim=i["X"].shape[1:],
        num_filters=int(i["num_filters"]),
        filter_size=int(i["filter_size"]),
        hidden_dim=int(i["hidden_dim"]),
        num_classes=int(i["num_classes"]),
        weight_scale=CNN_WEIGHT_SCALE,
        reg=float(i["reg"]),
        dtype=np.float64,
    )


def cnn_init_run(api, i):
    np.random.seed(int(i["seed"]))
    return {f"params.{k}": v for k, v in _make_convnet(api, i).params.items()}


def cnn_loss_run(api, i):
    try:
        net = _make_convnet(api, i)
    except NotImplementedError:
        # loss reads only self.params, self.reg and self.dtype, all set before the student's part
        # of __init__: judge it on its own while __init__ is still missing.
        net = object.__new__(api.cnn.ThreeLayerConvNet)
        net.reg, net.dtype = float(i["reg"]), np.float64
    params = {k: i[k].copy() for k in CNN_PARAMS}
    return model_outputs(net, params, i["X"], i["y"])


def _cnn_init_outputs(i):
    hint = (
        "per layer, in order: W = weight_scale * np.random.randn(...), then "
        "b = np.zeros(...); W1 is (F, C, filter_size, filter_size), "
        "W2 (F * H//2 * W//2, hidden_dim), W3 (hidden_dim, num_classes)"
    )
    return [
        Output(f"params.{k}", like=k, hint=hint if k[0] == "W" else "biases start at zero")
        for k in CNN_PARAMS
    ]


def _cnn_loss_outputs(i):
    outs = [
        Output(
            "scores",
            hint="with y=None return the scores of conv - relu - 2x2 max pool - affine - "
            "relu - affine",
        ),
        Output(
            "loss",
            scalar=True,
            hint="add 0.5 * reg * sum(W**2) for each of W1, W2 and W3 (not the biases)",
        ),
    ]
    for k in CNN_PARAMS:
        outs.append(
            Output(
                f"grads.{k}",
                like=k,
                numeric=f"numeric.{k}",
                hint=f"add reg * {k} to the gradient of {k}" if k[0] == "W" else "",
            )
        )
    return outs


cnn_init = Check(
    name="ThreeLayerConvNet.__init__",
    notebook=NB,
    module="cnn",
    points=2,
    make_inputs=cnn_inputs,
    run=cnn_init_run,
    outputs=_cnn_init_outputs,
    cases=[
        Case(0, "input (2, 4, 4), 2 filters of 3x3"),
        Case(
            1,
            "input (3, 8, 6), 4 filters of 5x5, hidden 7, 10 classes",
            {
                "input_dim": (3, 8, 6),
                "num_filters": 4,
                "filter_size": 5,
                "hidden_dim": 7,
                "num_classes": 10,
            },
        ),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(
            48,
            "odd input (1, 7, 5), 2 filters of 1x1, seed 5",
            {"input_dim": (1, 7, 5), "num_filters": 2, "filter_size": 1, "seed": 5},
        ),
        ### END HIDDEN TESTS
    ],
)

cnn_loss = Check(
    name="ThreeLayerConvNet.loss",
    notebook=NB,
    module="cnn",
    points=4,
    make_inputs=cnn_inputs,
    run=cnn_loss_run,
    outputs=_cnn_loss_outputs,
    cases=[
        Case(0, "input (2, 4, 4), reg 0"),
        Case(1, "input (2, 4, 4), reg 0.7", {"reg": 0.7}),
        Case(
            2,
            "input (1, 5, 6), 5x5 filters, reg 0.1",
            {"input_dim": (1, 5, 6), "filter_size": 5, "reg": 0.1},
        ),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(
            49, "batch of 1, input (3, 4, 6), reg 0.3", {"N": 1, "input_dim": (3, 4, 6), "reg": 0.3}
        ),
        Case(
            50,
            "1x1 filters, input (2, 5, 5), reg 0.05",
            {"input_dim": (2, 5, 5), "filter_size": 1, "reg": 0.05},
        ),
        ### END HIDDEN TESTS
    ],
    uses=FC_LAYERS,
)

CHECKS = [
    conv_forward_naive,
    conv_backward_naive,
    max_pool_forward_naive,
    max_pool_backward_naive,
    spatial_batchnorm_forward,
    spatial_batchnorm_backward,
    spatial_groupnorm_forward,
    spatial_groupnorm_backward,
    cnn_init,
    cnn_loss,
]
