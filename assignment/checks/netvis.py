"""Checks of Network_Visualization.ipynb: saliency maps, fooling images, class visualization
and Grad-CAM.

Each check builds a small model from weight arrays that make_inputs draws (a conv layer with
batch normalization, so that a model left in training mode gives other maps, a second conv
layer whose output is the "last block", and a linear head), in float64, frozen and in
training mode as a freshly built model is. `run` hands it to the student's function and
returns plain arrays. The values are judged in the trusted process by an independent
computation with torch's autograd on the same model (`properties`), so a case is judged the
same way with or without reference values. Where a wrong answer matches a known mistake
(the sum over channels, the gradient of the loss, no ReLU...) the message says which.

torch is imported only inside the functions, so that importing the catalogue for the numpy
notebooks' self-checks does not wait for it.
"""

import functools

import numpy as np

from .core import Case, Check, scaled_error

NB = "Network_Visualization"
MODULE = "net_visualization"
TOL = 1e-6  # float64 models: correct code agrees to ~1e-15, a float32 detour to ~1e-7
MAX_STEPS = 100
# The fooling cases are drawn so that a correct ascent needs this many unit steps.
FOOLING_STEPS = (6, 60)


# ---------------------------------------------------------------- the models of the checks


@functools.cache
def _net_class():
    import torch
    from torch import nn

    class CheckNet(nn.Module):
        """features: conv 3x3 - batchnorm - relu - 2x2 max pool - conv 3x3 - relu;
        head: flatten - linear. The head's weights differ per position, so the gradient
        with respect to the last block varies over space."""

        def __init__(self, F1, F2, C, H, W):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, F1, 3, padding=1),
                nn.BatchNorm2d(F1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(F1, F2, 3, padding=1),
                nn.ReLU(),
            )
            self.linear = nn.Linear(F2 * (H // 2) * (W // 2), C)

        def head(self, A):
            return self.linear(torch.flatten(A, 1))

        def forward(self, X):
            return self.head(self.features(X))

    return CheckNet


def model_arrays(rng, channels=(4, 6), C=5, size=(8, 8), scale=1.0):
    """Weights of a CheckNet for images of `size`; batchnorm's running statistics differ from
    any batch's, so training and evaluation mode give different outputs."""
    F1, F2 = channels
    H, W = size
    D = F2 * (H // 2) * (W // 2)
    return {
        "w1": 0.5 * rng.standard_normal((F1, 3, 3, 3)),
        "b1": 0.1 * rng.standard_normal(F1),
        "gamma": 1 + 0.3 * rng.standard_normal(F1),
        "beta": 0.3 * rng.standard_normal(F1),
        "running_mean": 0.8 * rng.standard_normal(F1),
        "running_var": 0.3 + 2 * rng.random(F1),
        "w2": 0.4 * rng.standard_normal((F2, F1, 3, 3)),
        "b2": 0.1 * rng.standard_normal(F2),
        "w3": scale * rng.standard_normal((C, D)) / np.sqrt(D),
        "b3": scale * 0.1 * rng.standard_normal(C),
    }


def build_model(i, train=True):
    """The CheckNet of inputs `i`, float64, parameters frozen, in training mode unless asked."""
    import torch

    F1, F2, C = i["w1"].shape[0], i["w2"].shape[0], i["w3"].shape[0]
    H, W = i["X"].shape[2:]
    model = _net_class()(F1, F2, C, H, W).double()
    conv1, bn, _, _, conv2, _ = model.features
    values = {
        conv1.weight: "w1",
        conv1.bias: "b1",
        bn.weight: "gamma",
        bn.bias: "beta",
        bn.running_mean: "running_mean",
        bn.running_var: "running_var",
        conv2.weight: "w2",
        conv2.bias: "b2",
        model.linear.weight: "w3",
        model.linear.bias: "b3",
    }
    with torch.no_grad():
        for tensor, key in values.items():
            tensor.copy_(torch.from_numpy(np.asarray(i[key], dtype=np.float64)))
    for param in model.parameters():
        param.requires_grad_(False)
    return model.train(train)


def _numpy(value):
    """A tensor (or anything array-like) as a plain array, for the trip back to the grader."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _tensors(i):
    """X and y as tensors sharing memory with the arrays, so that an in-place change of X
    shows in the array (and is reported)."""
    import torch

    return torch.from_numpy(i["X"]), torch.from_numpy(i["y"])


# ---------------------------------------------------------------- judging maps


def _class_objective(kind):
    """The number whose gradient a map takes: the correct scores (right), or a known mistake."""
    import torch.nn.functional as F

    def correct_scores(scores, y):
        return scores.gather(1, y.view(-1, 1)).sum()

    return {
        "score": correct_scores,
        "loss": lambda scores, y: F.cross_entropy(scores, y),
        "probability": lambda scores, y: correct_scores(scores.softmax(dim=1), y),
    }[kind]


def _input_gradient(i, objective="score", train=False):
    """d objective / dX (N, 3, H, W) by autograd on the check's model."""
    import torch

    model = build_model(i, train=train)
    X = torch.tensor(i["X"], requires_grad=True)
    y = torch.from_numpy(i["y"])
    (grad,) = torch.autograd.grad(_class_objective(objective)(model(X), y), X)
    return grad.numpy()


def _block_gradient(i, objective="score", train=False):
    """A = model.features(X) and d objective / dA, both (N, K, H', W')."""
    import torch

    model = build_model(i, train=train)
    A = model.features(torch.from_numpy(i["X"])).detach().requires_grad_()
    y = torch.from_numpy(i["y"])
    (grad,) = torch.autograd.grad(_class_objective(objective)(model.head(A), y), A)
    return A.detach().numpy(), grad.numpy()


def _judge_map(name, key, got, want, mistakes, hint):
    """Shape, finiteness, then values; on a mismatch, the known mistake it matches, if any."""
    if key not in got:
        return [f"{name}: did not return {key}"]
    g = got[key]
    if g.shape != want.shape:
        return [f"{name}: {key} has shape {g.shape}, expected {want.shape}. {hint}"]
    if not np.all(np.isfinite(g)):
        return [f"{name}: {key} contains nan or inf"]
    err = scaled_error(g, want)
    if err <= TOL:
        return []
    diff = np.abs(g.astype(np.float64) - want)
    where = np.unravel_index(int(np.argmax(diff)), diff.shape)
    msg = (
        f"{name}: {key} differs from the expected map at {tuple(int(k) for k in where)}: got "
        f"{g[where]:.6g}, expected {want[where]:.6g} (error {err:.1e} > {TOL:.0e})"
    )
    for what, (candidate, fix) in mistakes.items():
        if candidate.shape == g.shape and scaled_error(g, candidate) <= TOL:
            return [f"{msg}. It matches {what}: {fix}"]
    return [f"{msg}. {hint}"]


TRAIN_MODE_FIX = "call model.eval() first, so that batch normalization uses its running statistics"


# ---------------------------------------------------------------- compute_saliency_maps


def saliency_inputs(rng, N=2, size=(8, 8), C=5, channels=(4, 6)):
    """A CheckNet, N images and their labels."""
    inputs = model_arrays(rng, channels, C, size)
    inputs["X"] = rng.standard_normal((N, 3, *size))
    inputs["y"] = rng.integers(C, size=N).astype(np.int64)
    return inputs


def saliency_run(api, i):
    X, y = _tensors(i)
    return {"saliency": _numpy(api.net_visualization.compute_saliency_maps(X, y, build_model(i)))}


def saliency_properties(i, got):
    grad = _input_gradient(i)
    want = np.abs(grad).max(axis=1)  # (N, H, W)
    per_channel = "take the absolute value, then the max over the channel axis (dim=1)"
    mistakes = {
        "the max without the absolute value": (grad.max(axis=1), "take .abs() before the max"),
        "the sum over channels": (np.abs(grad).sum(axis=1), per_channel),
        "the mean over channels": (np.abs(grad).mean(axis=1), per_channel),
        "the gradient of the loss": (
            np.abs(_input_gradient(i, "loss")).max(axis=1),
            "differentiate the correct class's raw score, not the loss",
        ),
        "the gradient of the softmax probability": (
            np.abs(_input_gradient(i, "probability")).max(axis=1),
            "differentiate the correct class's unnormalized score, before the softmax",
        ),
        "the model in training mode": (
            np.abs(_input_gradient(i, train=True)).max(axis=1),
            TRAIN_MODE_FIX,
        ),
    }
    return _judge_map(
        "compute_saliency_maps",
        "saliency",
        got,
        want,
        mistakes,
        "Hint: the saliency is |d s_y / dX| (s_y the unnormalized score of the "
        "correct class), max over channels, shape (N, H, W)",
    )


# The public cases of the two checks that return a map per image.
MAP_CASES = [
    Case(0, "N=2, 8x8 images, 5 classes"),
    Case(1, "batch of 1, 6x10 images", {"N": 1, "size": (6, 10)}),
    Case(2, "N=3, 7 classes, 3 and 5 channels", {"N": 3, "C": 7, "channels": (3, 5)}),
]

compute_saliency_maps = Check(
    name="compute_saliency_maps",
    notebook=NB,
    module=MODULE,
    points=3,
    make_inputs=saliency_inputs,
    run=saliency_run,
    outputs=[],
    cases=MAP_CASES,
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(60, "N=4, 10x6 images", {"N": 4, "size": (10, 6)}),
        Case(61, "batch of 1, 3 classes", {"N": 1, "C": 3}),
        ### END HIDDEN TESTS
    ],
    properties=saliency_properties,
)


# ---------------------------------------------------------------- make_fooling_image


def unit_steps_to_fool(i, target, limit=MAX_STEPS):
    """Normalized steps of length 1 on the target's score that fool the model in evaluation
    mode (an independent copy of the method), or None when `limit` steps do not."""
    import torch

    model = build_model(i, train=False)
    x = torch.tensor(i["X"])
    for step in range(limit + 1):
        x.requires_grad_()
        scores = model(x)
        if int(scores.argmax()) == target:
            return step
        (grad,) = torch.autograd.grad(scores[0, target], x)
        x = (x + grad / torch.linalg.vector_norm(grad)).detach()
    return None


def _target_score_gradient_norm(i, target):
    import torch

    x = torch.tensor(i["X"], requires_grad=True)
    (grad,) = torch.autograd.grad(build_model(i, train=False)(x)[0, target], x)
    return float(torch.linalg.vector_norm(grad))


def fooling_inputs(rng, size=(8, 8), C=5, channels=(4, 6)):
    """A CheckNet, one image, a target class that takes FOOLING_STEPS unit steps to reach,
    and the largest L2 distance a correct fooling image can have from the image.

    The head is scaled so that the target score's gradient is longer than that distance: an
    unnormalized step overshoots it. Scaling every score by one factor changes neither the
    predictions nor the path of normalized ascent."""
    while True:
        inputs = model_arrays(rng, channels, C, size)
        inputs["X"] = rng.standard_normal((1, 3, *size))
        for target in rng.permutation(C):
            steps = unit_steps_to_fool(inputs, int(target))
            if steps is not None and FOOLING_STEPS[0] <= steps <= FOOLING_STEPS[1]:
                max_distance = steps + 2.0  # room for rounding at the decision boundary
                factor = 3 * max_distance / _target_score_gradient_norm(inputs, int(target))
                inputs["w3"], inputs["b3"] = inputs["w3"] * factor, inputs["b3"] * factor
                inputs["target_y"] = np.asarray(int(target))
                inputs["steps"] = np.asarray(steps)
                inputs["max_distance"] = np.asarray(max_distance)
                return inputs


def fooling_run(api, i):
    import torch

    X = torch.from_numpy(i["X"])  # shares memory: an in-place change is reported
    out = api.net_visualization.make_fooling_image(X, int(i["target_y"]), build_model(i))
    return {"X_fooling": _numpy(out)}


def fooling_properties(i, got):
    import torch

    name = "make_fooling_image"
    if "X_fooling" not in got:
        return [f"{name}: did not return X_fooling"]
    fooled, X = got["X_fooling"], i["X"]
    if fooled.shape != X.shape:
        return [
            f"{name}: X_fooling has shape {fooled.shape} but X has shape {X.shape}; return "
            f"an image of the shape of X"
        ]
    if not np.all(np.isfinite(fooled)):
        return [f"{name}: X_fooling contains nan or inf"]
    target = int(i["target_y"])
    with torch.no_grad():
        scores = build_model(i, train=False)(torch.tensor(fooled, dtype=torch.float64))
    predicted = int(scores.argmax())
    messages = []
    if predicted != target:
        messages.append(
            f"{name}: the model (in evaluation mode) predicts class {predicted} for "
            f"X_fooling, not target_y={target}. Keep stepping until "
            f"model(X_fooling).argmax() == target_y (this case takes {int(i['steps'])} "
            f"steps), for at most {MAX_STEPS} steps, with the model in evaluation mode"
        )
    distance = float(np.linalg.norm((fooled.astype(np.float64) - X).ravel()))
    if distance > float(i["max_distance"]):
        messages.append(
            f"{name}: X_fooling is {distance:.4g} away from X (L2 norm), but "
            f"{int(i['steps'])} steps of length 1 fool this model, so it should be at "
            f"most {float(i['max_distance']):g} away. Divide each step by the "
            f"gradient's L2 norm (learning_rate * g / g.norm()) and stop as soon as "
            f"the model predicts target_y"
        )
    return messages


make_fooling_image = Check(
    name="make_fooling_image",
    notebook=NB,
    module=MODULE,
    points=3,
    make_inputs=fooling_inputs,
    run=fooling_run,
    outputs=[],
    cases=[
        Case(0, "8x8 image, 5 classes"),
        Case(1, "6x10 image, 4 classes", {"size": (6, 10), "C": 4}),
        Case(2, "8x8 image, 8 classes, 3 and 5 channels", {"C": 8, "channels": (3, 5)}),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(62, "10x6 image, 6 classes", {"size": (10, 6), "C": 6}),
        Case(63, "8x8 image, 3 classes", {"C": 3}),
        ### END HIDDEN TESTS
    ],
    properties=fooling_properties,
)


# ---------------------------------------------------------------- class_visualization_update_step


def update_inputs(rng, size=(6, 7), C=4, l2_reg=0.3, learning_rate=0.7):
    """A linear model's weights (C, 3*H*W), an image, a class, another class for a second
    step, l2_reg and learning_rate: the objective's gradient has the closed form
    W[y] - 2 * l2_reg * img.

    (On a linear model every gradient of one class's objective is parallel to the first, so
    only a second step on another class shows a gradient left over from the first.)"""
    D = 3 * size[0] * size[1]
    target = int(rng.integers(C))
    return {
        "W": rng.standard_normal((C, D)) / np.sqrt(D) * 4,
        "b": rng.standard_normal(C),
        "img": rng.standard_normal((1, 3, *size)),
        "target_y": np.asarray(target),
        "second_y": np.asarray((target + 1 + int(rng.integers(C - 1))) % C),
        "l2_reg": np.asarray(l2_reg),
        "learning_rate": np.asarray(learning_rate),
    }


def _linear_model(i):
    import torch
    from torch import nn

    C, D = i["W"].shape
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, C)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.from_numpy(i["W"]))
        model[1].bias.copy_(torch.from_numpy(i["b"]))
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def update_run(api, i):
    """Two steps on one image, the second on another class (it shows whether the first left
    img.grad at zero)."""
    import torch

    step = api.net_visualization.class_visualization_update_step
    model = _linear_model(i)
    l2_reg, learning_rate = float(i["l2_reg"]), float(i["learning_rate"])
    img = torch.tensor(i["img"]).requires_grad_()
    step(img, model, int(i["target_y"]), l2_reg, learning_rate)
    one = img.detach().clone()
    step(img, model, int(i["second_y"]), l2_reg, learning_rate)
    return {"img_one_step": _numpy(one), "img_two_steps": _numpy(img)}


def closed_form_step(i, x, sign=-1.0, normalize=True, squared=True, extra=None, target="target_y"):
    """x after one step on class i[target] with the gradient W[y] + sign * d(l2_reg *
    ||x||^2)/dx (or of l2_reg * ||x|| when not squared), plus `extra` (a gradient left from
    an earlier step). Returns (new x, the gradient used)."""
    w = i["W"][int(i[target])].reshape(x.shape)
    l2_reg, learning_rate = float(i["l2_reg"]), float(i["learning_rate"])
    penalty = 2 * x if squared else x / np.linalg.norm(x)
    g = w + sign * l2_reg * penalty + (0 if extra is None else extra)
    step = g / np.linalg.norm(g) if normalize else g
    return x + learning_rate * step, g


def update_properties(i, got):
    name = "class_visualization_update_step"
    img = i["img"]
    for key in ("img_one_step", "img_two_steps"):
        if got[key].shape != img.shape:
            return [
                f"{name}: img changed shape to {got[key].shape} (it was {img.shape}); update "
                f"it in place with img += ..."
            ]
    one, g0 = closed_form_step(i, img)
    two, _ = closed_form_step(i, one, target="second_y")
    hint = (
        "the step is learning_rate * g / g.norm(), where g is the gradient of "
        "model(img)[0, target_y] - l2_reg * (img * img).sum() with respect to img"
    )
    mistakes = {
        "no change at all": (
            img,
            "update img itself in place (img += ... under "
            "torch.no_grad(), or img.data += ...); a new tensor is lost",
        ),
        "a step on s_y + l2_reg * ||img||^2": (
            closed_form_step(i, img, sign=1.0)[0],
            "the L2 penalty is subtracted from the score",
        ),
        "a step that is not normalized": (
            closed_form_step(i, img, normalize=False)[0],
            "divide the gradient by its L2 norm (g / g.norm())",
        ),
        "a penalty l2_reg * ||img|| (not squared)": (
            closed_form_step(i, img, squared=False)[0],
            "the penalty is l2_reg times the SQUARED L2 norm, (img * img).sum()",
        ),
    }
    messages = _judge_map(name, "img_one_step", got, one, mistakes, f"Hint: {hint}")
    if messages:
        return messages
    kept_grad = closed_form_step(i, one, extra=g0, target="second_y")[0]
    return _judge_map(
        name,
        "img_two_steps",
        got,
        two,
        {
            "a second step that adds the first step's gradient": (
                kept_grad,
                "zero img.grad after the step (img.grad.zero_()): PyTorch "
                "adds new gradients to the ones already there",
            )
        },
        "Hint: the second of two steps differs; make each step start afresh",
    )


class_visualization_update_step = Check(
    name="class_visualization_update_step",
    notebook=NB,
    module=MODULE,
    points=2,
    make_inputs=update_inputs,
    run=update_run,
    outputs=[],
    cases=[
        Case(0, "6x7 image, l2_reg 0.3, learning rate 0.7"),
        Case(
            1,
            "4x4 image, 3 classes, l2_reg 0.05, learning rate 2",
            {"size": (4, 4), "C": 3, "l2_reg": 0.05, "learning_rate": 2.0},
        ),
        Case(
            2,
            "5x9 image, l2_reg 1.5, learning rate 0.1",
            {"size": (5, 9), "l2_reg": 1.5, "learning_rate": 0.1},
        ),
    ],
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(
            64,
            "8x8 image, 6 classes, l2_reg 0.7, learning rate 3",
            {"size": (8, 8), "C": 6, "l2_reg": 0.7, "learning_rate": 3.0},
        ),
        Case(
            65,
            "3x5 image, l2_reg 0.2, learning rate 0.4",
            {"size": (3, 5), "l2_reg": 0.2, "learning_rate": 0.4},
        ),
        ### END HIDDEN TESTS
    ],
    properties=update_properties,
)


# ---------------------------------------------------------------- compute_grad_cam


def grad_cam_run(api, i):
    X, y = _tensors(i)
    return {"cam": _numpy(api.net_visualization.compute_grad_cam(X, y, build_model(i)))}


def grad_cam_maps(A, dA):
    """(map, map without the ReLU) from the block's activations and their gradient."""
    raw = (dA.mean(axis=(2, 3), keepdims=True) * A).sum(axis=1)  # (N, H', W')
    return np.maximum(raw, 0), raw


def grad_cam_properties(i, got):
    A, dA = _block_gradient(i)
    want, raw = grad_cam_maps(A, dA)
    peak = want.max(axis=(1, 2), keepdims=True)
    mistakes = {
        "the map without the ReLU": (
            raw,
            "apply a ReLU to the weighted sum: Grad-CAM keeps only what speaks for the class",
        ),
        "weights not averaged over space": (
            np.maximum((dA * A).sum(axis=1), 0),
            "each channel's weight is one number, the gradient averaged over the H' x W' "
            "positions (dA.mean(dim=(2, 3), keepdim=True))",
        ),
        "the gradient of the loss": (
            grad_cam_maps(*_block_gradient(i, "loss"))[0],
            "differentiate the correct class's raw score, not the loss",
        ),
        "the gradient of the softmax probability": (
            grad_cam_maps(*_block_gradient(i, "probability"))[0],
            "differentiate the correct class's unnormalized score, before the softmax",
        ),
        "the model in training mode": (
            grad_cam_maps(*_block_gradient(i, train=True))[0],
            TRAIN_MODE_FIX,
        ),
        "the map rescaled to a maximum of 1": (
            want / np.where(peak > 0, peak, 1),
            "return the map as it is; the notebook rescales it for display",
        ),
    }
    return _judge_map(
        "compute_grad_cam",
        "cam",
        got,
        want,
        mistakes,
        "Hint: with A = model.features(X), the map is ReLU(sum over k of "
        "alpha_k * A[:, k]), alpha_k the mean over space of d s_y / dA[:, k]; "
        "its shape is (N, H', W'), the spatial size of A",
    )


compute_grad_cam = Check(
    name="compute_grad_cam",
    notebook=NB,
    module=MODULE,
    points=3,
    make_inputs=saliency_inputs,
    run=grad_cam_run,
    outputs=[],
    cases=MAP_CASES,
    hidden_cases=[
        ### BEGIN HIDDEN TESTS
        Case(66, "N=4, 10x6 images", {"N": 4, "size": (10, 6)}),
        Case(67, "batch of 1, 8 channels in the last block", {"N": 1, "channels": (4, 8)}),
        ### END HIDDEN TESTS
    ],
    properties=grad_cam_properties,
)

CHECKS = [
    compute_saliency_maps,
    make_fooling_image,
    class_visualization_update_step,
    compute_grad_cam,
]
