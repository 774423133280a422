"""Checks of PyTorch.ipynb: barebones functions, modules, the training step, accuracy.

Each model runs in float64 with parameters fixed by the case (copied into a module's own
parameters, matched by shape), so its scores are compared with the reference's to ~1e-12.
A bug is charged once: wherever the student's `flatten` could be called, a correct one
stands in for it, so only flatten's own check judges flatten. Random initialisation is
judged by its statistics over many draws, never by exact values.

torch is imported inside the functions, so that importing the catalogue (and checking the
numpy notebooks) never pays for it.
"""

import math
import os
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

from .core import Case, Check, Output

NB = "PyTorch"
MODULE = "pytorch_models"
SIGMAS = 5  # statistics of a correct initialisation fail about once in 1.7 million runs


def _randn(rng, *shape):
    return rng.standard_normal(shape)


def _t(a):
    import torch

    return torch.from_numpy(np.array(a, copy=True))


def _np(t):
    return t.detach().cpu().numpy()


def correct_flatten(x):
    return x.reshape(x.shape[0], -1)


@contextmanager
def correct_flatten_in(module):
    """A correct flatten in place of the module's own (in the namespace its functions look
    names up in) while a model of it runs."""
    space = getattr(getattr(module, "flatten", None), "__globals__", None)
    saved = space.get("flatten") if space is not None else None
    if saved is not None:
        space["flatten"] = correct_flatten
    try:
        yield
    finally:
        if saved is not None:
            space["flatten"] = saved


# ---------------------------------------------------------------- flatten


def flatten_inputs(rng, shape=(2, 3, 4, 5)):
    return {"x": _randn(rng, *shape)}


def flatten_run(api, i):
    return {"out": _np(api.pytorch_models.flatten(_t(i["x"])))}


flatten = Check(
    name="flatten",
    notebook=NB,
    module=MODULE,
    points=1,
    make_inputs=flatten_inputs,
    run=flatten_run,
    outputs=[
        Output(
            "out",
            hint="keep the batch dimension and flatten the rest in order: "
            "x.reshape(x.shape[0], -1)",
        )
    ],
    cases=[
        Case(0, "x (2, 3, 4, 5)"),
        Case(1, "x (4, 7)", {"shape": (4, 7)}),
        Case(2, "x (3, 2, 3, 4, 2)", {"shape": (3, 2, 3, 4, 2)}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(60, "batch of 1, x (1, 3, 32, 32)", {"shape": (1, 3, 32, 32)}),
        Case(61, "x (5, 1, 6, 2)", {"shape": (5, 1, 6, 2)}),
        ### END HIDDEN TESTS
    ],
)


# ---------------------------------------------------------------- random_weight


def random_weight_inputs(rng, fc=(400, 300), conv=(64, 16, 3, 3), draws=10):
    return {
        "fc": np.array(fc),
        "conv": np.array(conv),
        "draws": np.asarray(draws),
        "seed": np.asarray(rng.integers(2**31)),
    }


def _moments(ws):
    """Mean, standard deviation and kurtosis of all entries of the draws, in float64."""
    v = np.concatenate([w.reshape(-1) for w in ws]).astype(np.float64)
    mean, std = v.mean(), v.std()
    return np.array([mean, std, np.mean(((v - mean) / std) ** 4), v.size])


def random_weight_run(api, i):
    """Moments of many draws of each shape, each draw's shape, and requires_grad."""
    import torch

    torch.manual_seed(int(i["seed"]))
    out = {}
    for kind in ("fc", "conv"):
        shape = tuple(int(s) for s in i[kind])
        ws = [api.pytorch_models.random_weight(shape) for _ in range(int(i["draws"]))]
        out[f"{kind}_shape"] = np.array(ws[0].shape)
        out[f"{kind}_requires_grad"] = np.asarray(bool(ws[0].requires_grad))
        out[f"{kind}_moments"] = _moments([_np(w) for w in ws])
    return out


def random_weight_properties(i, got):
    name, messages = "random_weight", []
    for kind, fan_in, why in (
        ("fc", int(i["fc"][0]), "shape[0] for a fully connected (D, M) weight"),
        (
            "conv",
            int(np.prod(i["conv"][1:])),
            "in_channels * KH * KW, the product of shape[1:], for a conv weight",
        ),
    ):
        shape = tuple(int(s) for s in i[kind])
        if tuple(got[f"{kind}_shape"]) != shape:
            messages.append(f"{name}: asked for shape {shape}, got {tuple(got[f'{kind}_shape'])}")
            continue
        if not bool(got[f"{kind}_requires_grad"]):
            messages.append(
                f"{name}{shape}: requires_grad is False; the weight must be trained, "
                f"so call w.requires_grad_() (after scaling) before returning it"
            )
        mean, std, kurtosis, n = got[f"{kind}_moments"]
        want = math.sqrt(2.0 / fan_in)
        if abs(std / want - 1) > SIGMAS / math.sqrt(2 * n):
            messages.append(
                f"{name}{shape}: standard deviation {std:.4g} over {int(n)} entries, "
                f"expected sqrt(2 / fan_in) = {want:.4g} with fan_in = {fan_in} "
                f"({why})"
            )
        if abs(mean) > SIGMAS * want / math.sqrt(n):
            messages.append(f"{name}{shape}: mean {mean:.3g}, expected 0")
        if abs(kurtosis - 3) > SIGMAS * math.sqrt(24 / n):
            messages.append(
                f"{name}{shape}: the entries are not normally distributed (kurtosis "
                f"{kurtosis:.3g}, a normal distribution has 3); draw with torch.randn"
            )
    return messages


random_weight = Check(
    name="random_weight",
    notebook=NB,
    module=MODULE,
    points=1,
    make_inputs=random_weight_inputs,
    run=random_weight_run,
    outputs=[Output("fc_shape"), Output("conv_shape")],
    cases=[
        Case(0, "fc (400, 300), conv (64, 16, 3, 3)"),
        Case(1, "fc (100, 1000), conv (8, 32, 5, 5)", {"fc": (100, 1000), "conv": (8, 32, 5, 5)}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(
            62,
            "fc (2000, 30), conv (30, 3, 7, 3)",
            {"fc": (2000, 30), "conv": (30, 3, 7, 3), "draws": 20},
        ),
        ### END HIDDEN TESTS
    ],
    properties=random_weight_properties,
)


# ---------------------------------------------------------------- three_layer_convnet


def convnet_params(rng, C, c1, c2, classes, k1=(5, 5), k2=(3, 3), H=32, W=32, fc_in_first=True):
    """Fixed parameters of the three-layer convnet, scaled so that every unit matters."""
    H2, W2 = H + 4 - k1[0] + 1 + 2 - k2[0] + 1, W + 4 - k1[1] + 1 + 2 - k2[1] + 1
    fc = (c2 * H2 * W2, classes) if fc_in_first else (classes, c2 * H2 * W2)
    return {
        "conv_w1": _randn(rng, c1, C, *k1) / math.sqrt(C * k1[0] * k1[1]),
        "conv_b1": 0.3 * _randn(rng, c1),
        "conv_w2": _randn(rng, c2, c1, *k2) / math.sqrt(c1 * k2[0] * k2[1]),
        "conv_b2": 0.3 * _randn(rng, c2),
        "fc_w": _randn(rng, *fc) / math.sqrt(c2 * H2 * W2),
        "fc_b": _randn(rng, classes),
    }


PARAM_ORDER = ("conv_w1", "conv_b1", "conv_w2", "conv_b2", "fc_w", "fc_b")


def barebones_inputs(rng, N=2, C=3, H=8, W=8, c1=6, c2=9, classes=10, k1=(5, 5), k2=(3, 3)):
    return {"x": _randn(rng, N, C, H, W), **convnet_params(rng, C, c1, c2, classes, k1, k2, H, W)}


def barebones_run(api, i):
    module = api.pytorch_models
    with correct_flatten_in(module):
        scores = module.three_layer_convnet(_t(i["x"]), [_t(i[k]) for k in PARAM_ORDER])
    return {"scores": _np(scores)}


three_layer_convnet = Check(
    name="three_layer_convnet",
    notebook=NB,
    module=MODULE,
    points=2,
    make_inputs=barebones_inputs,
    run=barebones_run,
    outputs=[
        Output(
            "scores",
            hint="conv (pad 2) - relu - conv (pad 1) - relu - flatten - "
            "x.mm(fc_w) + fc_b, with the conv biases, and no softmax",
        )
    ],
    cases=[
        Case(0, "x (2, 3, 8, 8), 6 and 9 channels"),
        Case(
            1,
            "x (3, 2, 7, 9), 4 and 5 channels, 7 classes",
            {"N": 3, "C": 2, "H": 7, "W": 9, "c1": 4, "c2": 5, "classes": 7},
        ),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(63, "batch of 1, x (1, 3, 32, 32)", {"N": 1, "H": 32, "W": 32}),
        Case(
            64,
            "3x3 then 5x3 filters, x (2, 1, 6, 5)",
            {"C": 1, "H": 6, "W": 5, "k1": (3, 3), "k2": (5, 3), "classes": 3},
        ),
        ### END HIDDEN TESTS
    ],
)


# ---------------------------------------------------------------- ThreeLayerConvNet, Sequential


def module_inputs(rng, N=2, C=3, c1=8, c2=5, classes=7):
    """Images of the classic 32x32 size (the fc layer's input size depends on it)."""
    inputs = {
        "x": _randn(rng, N, C, 32, 32),
        **convnet_params(rng, C, c1, c2, classes, fc_in_first=False),
    }
    inputs["sizes"] = np.array([C, c1, c2, classes])
    return inputs


def load_by_shape(name, model, i):
    """Copy the case's parameters into the model's own, matched by shape (a hand-made fc
    weight of shape (D, C) gets the transpose); ValueError when the model registers other
    parameters than the six of the net."""
    import torch

    named = list(model.named_parameters())
    wanted = {k: i[k].shape for k in PARAM_ORDER}
    if len(named) != len(PARAM_ORDER):
        found = ", ".join(f"{n} {tuple(p.shape)}" for n, p in named) or "none"
        raise ValueError(
            f"{name} registers {len(named)} parameter tensors ({found}); expected "
            f"6: {', '.join(f'{k} {s}' for k, s in wanted.items())}. Hint: make each "
            f"layer an attribute (self.conv1 = nn.Conv2d(...)): layers kept in a plain "
            f"Python list are invisible to model.parameters() and never trained"
        )
    left = list(PARAM_ORDER)
    with torch.no_grad():
        for pname, p in named:
            key = next((k for k in left if tuple(p.shape) in (i[k].shape, i[k].T.shape)), None)
            if key is None:
                raise ValueError(
                    f"{name}: parameter {pname} has shape {tuple(p.shape)}; expected "
                    f"shapes {', '.join(f'{k} {s}' for k, s in wanted.items())}"
                )
            left.remove(key)
            value = i[key] if tuple(p.shape) == i[key].shape else i[key].T
            p.data = torch.from_numpy(np.ascontiguousarray(value))
    return model


def _init_ratios(model):
    """For each weight (dim >= 2): its standard deviation over the Kaiming one, with the
    number of entries. A 2-D weight may be nn.Linear's (out, in) or a hand-made (in, out),
    so both fan-ins are tried."""
    out = []
    for p in model.parameters():
        if p.dim() >= 2:
            std = float(p.detach().double().std())
            fans = (p.shape[1], p.shape[0]) if p.dim() == 2 else (math.prod(p.shape[1:]),) * 2
            out.append([std / math.sqrt(2.0 / fan) for fan in fans] + [p.numel()])
    return np.array(out)


def _module_run(api, i, build, name):
    import torch

    torch.manual_seed(0)
    C, c1, c2, classes = (int(s) for s in i["sizes"])
    model = build(api.pytorch_models)(C, c1, c2, classes)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{name} should give an nn.Module, got {type(model).__name__}")
    ratios = _init_ratios(model)
    load_by_shape(name, model, i)
    model.double()
    with correct_flatten_in(api.pytorch_models):
        scores = model(_t(i["x"]))
    return {
        "scores": _np(scores),
        "init_ratios": ratios,
        "is_sequential": np.asarray(isinstance(model, torch.nn.Sequential)),
    }


def module_class_run(api, i):
    return _module_run(api, i, lambda m: m.ThreeLayerConvNet, "ThreeLayerConvNet")


def module_class_properties(i, got):
    """Kaiming normal initial weights, judged by their standard deviation."""
    bad = [
        min(a, b, key=lambda r: abs(r - 1))
        for a, b, n in got["init_ratios"]
        if min(abs(a - 1), abs(b - 1)) > SIGMAS / math.sqrt(2 * n)
    ]
    if bad:
        return [
            f"ThreeLayerConvNet: the initial weights have {', '.join(f'{r:.2f}' for r in bad)} "
            "times the Kaiming standard deviation sqrt(2 / fan_in); initialise them "
            "with nn.init.kaiming_normal_ applied to each layer's weight"
        ]
    return []


SCORES_HINT = (
    "conv 5x5 (padding 2) - relu - conv 3x3 (padding 1) - relu - flatten - "
    "fully connected, with biases and no softmax"
)

MODULE_CASES = [
    Case(0, "x (2, 3, 32, 32), 8 and 5 channels, 7 classes"),
    Case(
        1,
        "x (3, 2, 32, 32), 6 and 4 channels, 10 classes",
        {"N": 3, "C": 2, "c1": 6, "c2": 4, "classes": 10},
    ),
]

ThreeLayerConvNet = Check(
    name="ThreeLayerConvNet",
    notebook=NB,
    module=MODULE,
    points=2,
    make_inputs=module_inputs,
    run=module_class_run,
    outputs=[Output("scores", hint=SCORES_HINT)],
    cases=MODULE_CASES,
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(65, "batch of 1, 12 and 3 channels", {"N": 1, "c1": 12, "c2": 3, "classes": 4}),
        ### END HIDDEN TESTS
    ],
    properties=module_class_properties,
)


def sequential_run(api, i):
    return _module_run(
        api, i, lambda m: m.sequential_three_layer_convnet, "sequential_three_layer_convnet"
    )


def sequential_properties(i, got):
    if not bool(got["is_sequential"]):
        return ["sequential_three_layer_convnet: return an nn.Sequential of the layers"]
    return []


sequential_three_layer_convnet = Check(
    name="sequential_three_layer_convnet",
    notebook=NB,
    module=MODULE,
    points=2,
    make_inputs=module_inputs,
    run=sequential_run,
    outputs=[Output("scores", hint=SCORES_HINT + "; nn.Flatten() goes right before the nn.Linear")],
    cases=MODULE_CASES,
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(66, "batch of 1, 3 and 9 channels", {"N": 1, "c1": 3, "c2": 9, "classes": 5}),
        ### END HIDDEN TESTS
    ],
    properties=sequential_properties,
)


# ---------------------------------------------------------------- train_step, check_accuracy


def tiny_net(i, dropout=0.0):
    """conv 3x3 - batch norm - relu - [dropout] - flatten - linear, from the case's arrays."""
    import torch
    from torch import nn

    C, F_, H, W = (int(s) for s in i["net_sizes"][:4])
    classes = int(i["net_sizes"][4])
    net = nn.Sequential(
        nn.Conv2d(C, F_, 3, padding=1),
        nn.BatchNorm2d(F_),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Flatten(),
        nn.Linear(F_ * H * W, classes),
    ).double()
    with torch.no_grad():
        for key, p in zip(("w1", "b1", "gamma", "beta", "w2", "b2"), net.parameters()):
            p.copy_(_t(i[key]))
    return net


def tiny_net_inputs(rng, N=6, C=3, H=5, W=4, F_=4, classes=5, steps=3):
    return {
        "x": _randn(rng, steps, N, C, H, W),
        "y": rng.integers(classes, size=(steps, N)),
        "w1": _randn(rng, F_, C, 3, 3) / 3,
        "b1": 0.2 * _randn(rng, F_),
        "gamma": 1 + 0.2 * _randn(rng, F_),
        "beta": 0.2 * _randn(rng, F_),
        "w2": _randn(rng, classes, F_ * H * W) / math.sqrt(F_ * H * W),
        "b2": 0.2 * _randn(rng, classes),
        "net_sizes": np.array([C, F_, H, W, classes]),
    }


def train_step_inputs(rng, smoothing=0.0, **kwargs):
    return {**tiny_net_inputs(rng, **kwargs), "smoothing": np.asarray(smoothing)}


def train_step_run(api, i):
    """Steps of SGD with momentum, from evaluation mode, on a net with batch norm."""
    import functools

    import torch
    import torch.nn.functional as F

    net = tiny_net(i)
    net.eval()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.9)
    kwargs = {}
    if float(i["smoothing"]):
        kwargs["loss_fn"] = functools.partial(
            F.cross_entropy, label_smoothing=float(i["smoothing"])
        )
    losses = [
        float(api.pytorch_models.train_step(net, optimizer, _t(x), _t(y), **kwargs))
        for x, y in zip(i["x"], i["y"])
    ]
    return {
        "losses": np.array(losses),
        "weights": np.concatenate([_np(p).reshape(-1) for p in net.parameters()]),
    }


train_step = Check(
    name="train_step",
    notebook=NB,
    module=MODULE,
    points=2,
    make_inputs=train_step_inputs,
    run=train_step_run,
    outputs=lambda i: [
        Output(
            "losses",
            hint="model.train(); loss = loss_fn(model(x), y) on the raw scores; "
            "optimizer.zero_grad(); loss.backward(); optimizer.step(); return loss.item()",
        ),
        Output(
            "weights",
            hint="after the steps the weights differ: clear the gradients "
            "(optimizer.zero_grad()) before each backward pass",
        ),
    ],
    cases=[
        Case(0, "3 steps, batch of 6"),
        Case(
            1,
            "2 steps, batch of 9, label smoothing 0.1 in loss_fn",
            {"N": 9, "steps": 2, "smoothing": 0.1},
        ),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(67, "4 steps, batch of 3, 3 classes", {"N": 3, "steps": 4, "classes": 3}),
        ### END HIDDEN TESTS
    ],
)


def accuracy_inputs(rng, N=50, batch=16, wrong=0.3, **kwargs):
    """A net with dropout and batch norm, and labels its evaluation-mode predictions get
    right except for a random fraction `wrong`."""
    import torch

    inputs = tiny_net_inputs(rng, N=N, steps=1, **kwargs)
    net = tiny_net(inputs, dropout=0.5).eval()
    with torch.no_grad():
        predicted = _np(net(_t(inputs["x"][0]))).argmax(axis=1)
    classes = int(inputs["net_sizes"][4])
    flip = rng.random(N) < wrong
    y = np.where(flip, (predicted + rng.integers(1, classes, size=N)) % classes, predicted)
    inputs.update(x=inputs["x"][0], y=y, batch=np.asarray(batch))
    return inputs


def accuracy_run(api, i):
    """Accuracy of the net, given in training mode, over batches whose last one is smaller."""
    import torch

    torch.manual_seed(0)
    net = tiny_net(i, dropout=0.5).train()
    B = int(i["batch"])
    x, y = _t(i["x"]), _t(i["y"])
    loader = [(x[k : k + B], y[k : k + B]) for k in range(0, len(y), B)]
    return {"accuracy": np.asarray(float(api.pytorch_models.check_accuracy(loader, net)))}


check_accuracy = Check(
    name="check_accuracy",
    notebook=NB,
    module=MODULE,
    points=1,
    make_inputs=accuracy_inputs,
    run=accuracy_run,
    outputs=[
        Output(
            "accuracy",
            scalar=True,
            tol=1e-12,
            hint="call model.eval() first (dropout off, batch norm with running "
            "statistics), predict scores.argmax(dim=1), and divide the number "
            "correct by the number of examples, not of batches",
        )
    ],
    cases=[
        Case(0, "50 examples in batches of 16"),
        Case(1, "23 examples in batches of 10, 3 classes", {"N": 23, "batch": 10, "classes": 3}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(68, "one batch of 1", {"N": 1, "batch": 4, "wrong": 0.0}),
        Case(69, "40 examples in batches of 7", {"N": 40, "batch": 7}),
        ### END HIDDEN TESTS
    ],
)


# ---------------------------------------------------------------- Part V: the trained model

WEIGHTS_FILE = "part5_weights.pt"  # beside the assignment/ folder
MAX_WEIGHTS_BYTES = 50_000_000
# The first test images: all 1,000 of the embedded set, and as many of CIFAR-10's, so that the
# logits have the shape of the shipped public data on either (a shape is always compared).
GRADED_IMAGES = 1000
# Test accuracy each third of the points needs: on CIFAR-10, and on the embedded stand-in,
# where the reference (2 epochs on 4,000 images) reaches about 50% and random weights 10%.
TIERS = {"cifar10": (0.50, 0.60, 0.70), "embedded": (0.25, 0.35, 0.45)}


@lru_cache(maxsize=1)
def _graded_test_set():
    """The first GRADED_IMAGES normalized test images and their labels, and the source."""
    from ..torch_data import get_cifar10_tensors

    splits = get_cifar10_tensors(num_test=10000)
    x, y = splits["test"].tensors
    source = "cifar10" if len(splits["train"]) == 49000 else "embedded"
    return _np(x[:GRADED_IMAGES]), _np(y[:GRADED_IMAGES]), source


def part5_inputs(rng, tier=0):
    x, y, source = _graded_test_set()
    return {
        "x": x,
        "y": y,
        "threshold": np.asarray(TIERS[source][tier]),
        "cifar10_threshold": np.asarray(TIERS["cifar10"][tier]),
    }


def load_part5_weights(module, model):
    """Load the saved state_dict into the model; ValueError says what is wrong with the
    file. Returns False when there is no file."""
    import torch

    path = Path(module.__file__).resolve().parents[1] / WEIGHTS_FILE
    if not path.is_file():
        return False
    if path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise ValueError(
            f"{WEIGHTS_FILE} is larger than {MAX_WEIGHTS_BYTES // 1_000_000} MB; "
            f"use a smaller model"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same advice
        raise ValueError(
            f"{WEIGHTS_FILE} cannot be loaded with weights_only=True (it holds "
            f"code, such as a whole pickled model, or is not a torch file: "
            f"{type(e).__name__}); save the weights alone with "
            f"save_part5_weights(model)"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(
            f"{WEIGHTS_FILE} should hold a state_dict (names to tensors), got "
            f"{type(state).__name__}; save it with save_part5_weights(model)"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(
            f"{WEIGHTS_FILE} does not match build_part5_model(): "
            f"{str(e).strip()[:600]}. Build the same model you trained, and save "
            f"again after changing it"
        ) from None
    return True


_last_tick = [0.0]


def _still_working():
    """A 'tick' line (at most twice a second) to the hardened grader's runner, as its progress
    protocol says, so that a large model classifying thousands of images is not taken for a
    stalled one."""
    fd = int(os.environ.get("GRADING_PROGRESS_FD", "-1"))
    if fd >= 0 and time.monotonic() - _last_tick[0] >= 0.5:
        _last_tick[0] = time.monotonic()
        os.write(fd, b"tick\n")


def part5_run(api, i):
    """The logits of the saved model on the test images (the grader computes the accuracy),
    and whether the weights file was missing (then the logits are zeros). The images go
    through the model even then, so that the reference's time, which sets the grader's time
    limit, is that of a real classification."""
    import torch

    module = api.pytorch_models
    model = module.build_part5_model()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"build_part5_model should return an nn.Module, got {type(model).__name__}")
    found = load_part5_weights(module, model)
    model.float().eval()
    x, chunks = _t(i["x"]).float(), []
    with torch.no_grad():
        for k in range(0, len(x), 100):
            chunks.append(model(x[k : k + 100]))
            _still_working()
    logits = _np(torch.cat(chunks))
    if not found:
        return {"logits": np.zeros_like(logits), "missing": np.asarray(1.0)}
    return {"logits": logits, "missing": np.asarray(0.0)}


def part5_properties(i, got):
    name = "build_part5_model"
    if float(got["missing"]):
        return [
            f"{name}: no {WEIGHTS_FILE} beside the assignment folder (or not a regular file "
            f"under {MAX_WEIGHTS_BYTES // 1_000_000} MB); train your model, save it with "
            f"save_part5_weights(model) and submit that file"
        ]
    logits, y = got["logits"], i["y"]
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y))
    threshold = float(i["threshold"])
    if accuracy < threshold:
        return [
            f"{name}: test accuracy {accuracy:.1%} on {len(y)} images, below the "
            f"{threshold:.0%} these points need (on CIFAR-10: {float(i['cifar10_threshold']):.0%})"
        ]
    return []


# The logits are the student's own model's: only their shape is held to the reference's,
# and the accuracy is judged by part5_properties (the public data does not depend on which
# weights the reference happened to have).
PART5_OUTPUTS = [
    Output(
        "logits",
        tol=math.inf,
        hint="build_part5_model() must map images (N, 3, 32, 32) to scores (N, 10)",
    ),
    Output("missing", scalar=True, tol=math.inf),
]


def _part5_check(tier):
    return Check(
        name=f"build_part5_model.tier{tier + 1}",
        notebook=NB,
        module=MODULE,
        points=2,
        make_inputs=part5_inputs,
        run=part5_run,
        outputs=PART5_OUTPUTS,
        properties=part5_properties,
        cases=[Case(0, f"test accuracy, tier {tier + 1}", {"tier": tier})],
    )


CHECKS = [
    flatten,
    random_weight,
    three_layer_convnet,
    ThreeLayerConvNet,
    sequential_three_layer_convnet,
    train_step,
    check_accuracy,
    _part5_check(0),
    _part5_check(1),
    _part5_check(2),
]
