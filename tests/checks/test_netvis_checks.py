"""Do the Network_Visualization checks pass the reference and correct code in another style,
fail the stub, and catch the bugs students really make?"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from assignment.checks import netvis

from .conftest import assert_bug_caught, run_check

pytestmark = [pytest.mark.netvis, pytest.mark.usefixtures("torch_one_thread")]


# ---------------------------------------------------------------- correct code in another style


def classic_saliency(X, y, model):
    """The classic's style: the caller's X gets requires_grad, a backward of ones."""
    model.eval()
    X.requires_grad_()
    scores = model(X)
    scores.gather(1, y.view(-1, 1)).squeeze(1).backward(torch.ones(X.shape[0], dtype=X.dtype))
    saliency, _ = torch.max(X.grad.data.abs(), dim=1)
    return saliency


def one_hot_saliency(X, y, model):
    """Upstream gradient one-hot on the correct classes; float32 result (values are graded)."""
    model.eval()
    X = X.clone().requires_grad_(True)
    scores = model(X)
    (grad,) = torch.autograd.grad(scores, X, grad_outputs=F.one_hot(y, scores.shape[1]).to(scores))
    return torch.max(torch.abs(grad), 1).values.float()


def classic_fooling(X, target_y, model):
    model.eval()
    X_fooling = X.clone()
    X_fooling = X_fooling.requires_grad_()
    learning_rate = 1
    for _ in range(100):
        scores = model(X_fooling)
        _, index = scores.max(1)
        if index == target_y:
            break
        scores[0, target_y].backward()
        im_grad = X_fooling.grad.data
        X_fooling.data += learning_rate * (im_grad / im_grad.norm())
        X_fooling.grad.data.zero_()
    return X_fooling.detach()


def functional_fooling(X, target_y, model):
    """No in-place update: a new leaf tensor each step, the check after the step."""
    model.eval()
    x = X.detach()
    step = 0
    while model(x).argmax(1).item() != target_y and step < 100:
        x = x.requires_grad_()
        (grad,) = torch.autograd.grad(model(x)[0, target_y], x)
        x = (x + grad / torch.linalg.vector_norm(grad)).detach()
        step += 1
    return x


def data_update_step(img, model, target_y, l2_reg, learning_rate):
    score = model(img)[:, target_y].sum() - l2_reg * img.norm() ** 2
    score.backward()
    img.data += learning_rate * img.grad.data / torch.norm(img.grad.data)
    img.grad.data.zero_()


def grad_update_step(img, model, target_y, l2_reg, learning_rate):
    """autograd.grad leaves img.grad untouched; the update under no_grad."""
    objective = model(img)[0, target_y] - l2_reg * torch.sum(img**2)
    (grad,) = torch.autograd.grad(objective, img)
    with torch.no_grad():
        img.add_(grad, alpha=learning_rate / grad.norm().item())


def hooked_grad_cam(X, y, model):
    """A forward hook keeps the last block's output; einsum for the weighted sum."""
    model.eval()
    kept = {}

    def keep(module, inputs, output):
        output.retain_grad()
        kept["A"] = output

    handle = model.features.register_forward_hook(keep)
    try:
        scores = model(X.clone().requires_grad_())
    finally:
        handle.remove()
    scores[torch.arange(len(y)), y].sum().backward()
    A = kept["A"]
    alpha = A.grad.mean(dim=(2, 3))
    return torch.relu(torch.einsum("nk,nkhw->nhw", alpha, A)).detach()


OTHERS = {
    "compute_saliency_maps": [classic_saliency, one_hot_saliency],
    "make_fooling_image": [classic_fooling, functional_fooling],
    "class_visualization_update_step": [data_update_step, grad_update_step],
    "compute_grad_cam": [hooked_grad_cam],
}


@pytest.mark.parametrize(
    "name,solution",
    [(n, s) for n, sols in OTHERS.items() for s in sols],
    ids=[f"{n}:{s.__name__}" for n, sols in OTHERS.items() for s in sols],
)
def test_correct_code_in_another_style_passes(name, solution, reference_api, public_expected):
    api = SimpleNamespace(net_visualization=SimpleNamespace(**{name: solution}))
    result = run_check(name, api, expected=public_expected, hidden=False)
    assert result.passed, result.message
    result = run_check(name, api, reference=reference_api)
    assert result.passed, result.message
    assert run_check(name, api).passed


# ---------------------------------------------------------------- the cases separate bugs


def test_fooling_cases_need_more_unit_steps_than_a_fixed_short_loop():
    """Every case needs at least 6 unit steps, and its gradient is far longer than the allowed
    distance, so a short fixed loop and an unnormalized step both fail."""
    for case in netvis.make_fooling_image.all_cases(hidden=True):
        i = netvis.make_fooling_image.inputs_for(case)
        target = int(i["target_y"])
        assert netvis.unit_steps_to_fool(i, target) == int(i["steps"]) >= 6, case.key
        assert netvis._target_score_gradient_norm(i, target) > 2 * float(i["max_distance"]), (
            case.key
        )


def test_grad_cam_cases_have_negative_evidence_for_the_relu_to_remove():
    for case in netvis.compute_grad_cam.all_cases(hidden=True):
        A, dA = netvis._block_gradient(netvis.compute_grad_cam.inputs_for(case))
        cam, raw = netvis.grad_cam_maps(A, dA)
        assert (raw < 0).mean() > 0.1 and cam.max() > 0, case.key


def test_training_mode_changes_every_saliency_case():
    for case in netvis.compute_saliency_maps.all_cases(hidden=True):
        i = netvis.compute_saliency_maps.inputs_for(case)
        assert not np.allclose(netvis._input_gradient(i), netvis._input_gradient(i, train=True)), (
            case.key
        )


# ---------------------------------------------------------------- realistic bugs

M = "net_visualization"
BUGS = [
    # compute_saliency_maps
    (
        "compute_saliency_maps",
        M,
        "saliency = X.grad.abs().amax(dim=1)",
        "saliency = X.grad.amax(dim=1)",
        "the max without the absolute value",
    ),
    (
        "compute_saliency_maps",
        M,
        "saliency = X.grad.abs().amax(dim=1)",
        "saliency = X.grad.abs().sum(dim=1)",
        "the sum over channels",
    ),
    (
        "compute_saliency_maps",
        M,
        "correct = scores.gather(1, y.view(-1, 1)).sum()",
        "correct = F.cross_entropy(scores, y)",
        "the gradient of the loss",
    ),
    (
        "compute_saliency_maps",
        M,
        "correct = scores.gather(1, y.view(-1, 1)).sum()",
        "correct = scores.softmax(dim=1).gather(1, y.view(-1, 1)).sum()",
        "the gradient of the softmax probability",
    ),
    (
        "compute_saliency_maps",
        M,
        "    model.eval()\n    X = X.detach()",
        "    X = X.detach()",
        "the model in training mode",
    ),
    (
        "compute_saliency_maps",
        M,
        "saliency = X.grad.abs().amax(dim=1)",
        "saliency = X.grad.abs()",
        "has shape",
    ),
    # make_fooling_image
    (
        "make_fooling_image",
        M,
        "X_fooling += learning_rate * g / g.norm()",
        "X_fooling += learning_rate * g",
        "Divide each step by the gradient's L2 norm",
    ),
    (
        "make_fooling_image",
        M,
        "X_fooling = X.detach().clone().requires_grad_()",
        "X_fooling = X.requires_grad_()",
        "changed its input(s) X in place",
    ),
    ("make_fooling_image", M, "for _ in range(100):", "for _ in range(5):", "not target_y="),
    (
        "make_fooling_image",
        M,
        "        if scores.argmax(dim=1).item() == target_y:\n            break\n",
        "",
        "away from X",
    ),
    # class_visualization_update_step
    (
        "class_visualization_update_step",
        M,
        "- l2_reg * (img * img).sum()",
        "+ l2_reg * (img * img).sum()",
        "a step on s_y + l2_reg",
    ),
    (
        "class_visualization_update_step",
        M,
        "img += learning_rate * img.grad / img.grad.norm()",
        "img += learning_rate * img.grad",
        "a step that is not normalized",
    ),
    (
        "class_visualization_update_step",
        M,
        "        img.grad.zero_()\n",
        "",
        "zero img.grad after the step",
    ),
    ("class_visualization_update_step", M, "(img * img).sum()", "img.norm()", "(not squared)"),
    # compute_grad_cam
    (
        "compute_grad_cam",
        M,
        "cam = F.relu((alpha * A).sum(dim=1))",
        "cam = (alpha * A).sum(dim=1)",
        "the map without the ReLU",
    ),
    (
        "compute_grad_cam",
        M,
        "alpha = dA.mean(dim=(2, 3), keepdim=True)",
        "alpha = dA",
        "weights not averaged over space",
    ),
    ("compute_grad_cam", M, "    model.eval()\n    A = ", "    A = ", "the model in training mode"),
    (
        "compute_grad_cam",
        M,
        "(dA,) = torch.autograd.grad(scores.gather(1, y.view(-1, 1)).sum(), A)",
        "(dA,) = torch.autograd.grad(F.cross_entropy(scores, y), A)",
        "the gradient of the loss",
    ),
    (
        "compute_grad_cam",
        M,
        "cam = cam.detach()",
        "cam = (cam / cam.amax(dim=(1, 2), keepdim=True)).detach()",
        "rescaled to a maximum of 1",
    ),
]


@pytest.mark.parametrize(
    "name,module,old,new,words", BUGS, ids=[f"{b[0]}:{b[3][:40]}" for b in BUGS]
)
def test_realistic_bug_is_caught(name, module, old, new, words, reference_api, public_expected):
    assert_bug_caught(name, module, old, new, words, reference_api, public_expected, in_kernel=True)
