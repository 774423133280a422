"""Do the PyTorch checks pass the reference and correct code in other styles, fail the stub,
and catch the bugs students really make?"""

import importlib
import inspect
import math
import types
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from assignment.checks import pytorch

from .conftest import assert_bug_caught, run_check

pytestmark = pytest.mark.pytorch

torch.set_num_threads(1)
MODULE = importlib.import_module("assignment.pytorch_models")


def with_code(api, **replacements):
    """A copy of `api` whose pytorch_models module has some names replaced."""
    clone = types.ModuleType(MODULE.__name__)
    clone.__dict__.update({k: v for k, v in vars(MODULE).items() if not k.startswith("__")})
    clone.__dict__.update(replacements)
    return types.SimpleNamespace(**{**vars(api), "pytorch_models": clone})


# ---------------------------------------------------------------- correct code in other styles


def other_flatten(x):
    return torch.flatten(x, start_dim=1)


def other_random_weight(shape, dtype=torch.float32, device="cpu"):
    fan_in = shape[0] if len(shape) == 2 else int(torch.tensor(shape[1:]).prod())
    return torch.normal(
        0.0, (2 / fan_in) ** 0.5, size=tuple(shape), dtype=dtype, device=device
    ).requires_grad_(True)


def other_three_layer_convnet(x, params):
    w1, b1, w2, b2, fc_w, fc_b = params
    h = F.conv2d(F.pad(x, (2, 2, 2, 2)), w1) + b1[None, :, None, None]
    h = F.conv2d(F.pad(h.clamp(min=0), (1, 1, 1, 1)), w2) + b2.view(1, -1, 1, 1)
    return torch.addmm(fc_b, h.clamp(min=0).flatten(1), fc_w)


class OtherThreeLayerConvNet(nn.Module):
    """Layers in a ModuleList, a hand-made fc weight of shape (D, C), relu as a module."""

    def __init__(self, in_channel, channel_1, channel_2, num_classes):
        super().__init__()
        self.convs = nn.ModuleList(
            [
                nn.Conv2d(in_channel, channel_1, (5, 5), padding=(2, 2)),
                nn.Conv2d(channel_1, channel_2, (3, 3), padding="same"),
            ]
        )
        for conv in self.convs:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        D = channel_2 * 32 * 32
        self.fc_w = nn.Parameter(torch.randn(D, num_classes) * math.sqrt(2 / D))
        self.fc_b = nn.Parameter(torch.zeros(num_classes))
        self.act = nn.ReLU()

    def forward(self, x):
        for conv in self.convs:
            x = self.act(conv(x))
        return x.reshape(len(x), -1) @ self.fc_w + self.fc_b


def other_sequential(in_channel, channel_1, channel_2, num_classes):
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(in_channel, channel_1, kernel_size=5, stride=1, padding=2)),
                ("relu1", nn.ReLU(inplace=True)),
                ("conv2", nn.Conv2d(channel_1, channel_2, kernel_size=3, padding=1)),
                ("relu2", nn.ReLU(inplace=True)),
                ("flatten", nn.Flatten(start_dim=1)),
                ("fc", nn.Linear(channel_2 * 1024, num_classes)),
            ]
        )
    )


def other_train_step(model, optimizer, x, y, loss_fn=F.cross_entropy):
    model.train(True)
    for p in model.parameters():
        p.grad = None
    scores = model(x)
    loss = loss_fn(scores, y)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def other_check_accuracy(loader, model, device="cpu"):
    model.train(False)
    predictions, labels = [], []
    with torch.inference_mode():
        for x, y in loader:
            predictions.append(torch.max(model(x.to(device)), 1).indices)
            labels.append(y.to(device))
    return torch.cat(predictions).eq(torch.cat(labels)).double().mean().item()


OTHERS = {
    "flatten": {"flatten": other_flatten},
    "random_weight": {"random_weight": other_random_weight},
    "three_layer_convnet": {"three_layer_convnet": other_three_layer_convnet},
    "ThreeLayerConvNet": {"ThreeLayerConvNet": OtherThreeLayerConvNet},
    "sequential_three_layer_convnet": {"sequential_three_layer_convnet": other_sequential},
    "train_step": {"train_step": other_train_step},
    "check_accuracy": {"check_accuracy": other_check_accuracy},
}


PART5 = [c.name for c in pytorch.CHECKS if c.name.startswith("build_part5_model.")]


def test_every_check_has_a_correct_solution_in_another_style():
    """Part V's checks judge any model by its test accuracy (tests/grading/test_part5.py)."""
    assert set(OTHERS) == {c.name for c in pytorch.CHECKS} - set(PART5)


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_correct_code_in_another_style_passes(name, reference_api, public_expected):
    other = with_code(reference_api, **OTHERS[name])
    result = run_check(name, other, expected=public_expected, hidden=False)
    assert result.passed, result.message
    result = run_check(name, other, reference=reference_api)
    assert result.passed, result.message
    result = run_check(name, other)
    assert result.passed, result.message


@pytest.mark.parametrize("name", ["three_layer_convnet", "ThreeLayerConvNet"])
def test_a_broken_flatten_is_charged_only_to_flatten(name, reference_api):
    """A bug is charged once: the models are judged with a correct flatten standing in."""
    broken = with_code(reference_api, flatten=lambda x: x.reshape(-1))
    assert not run_check("flatten", broken, reference=reference_api).passed
    result = run_check(name, broken, reference=reference_api)
    assert result.passed, result.message
    assert MODULE.flatten(torch.zeros(2, 3, 4)).shape == (2, 12), "the stand-in was not removed"


def test_nkaiming_normal_of_torch_on_an_in_out_weight_is_caught(reference_api):
    """torch's kaiming_normal_ takes fan_in = shape[1], right for nn.Linear's (out, in) but
    not for the barebones (in, out) weights: a real pitfall the statistics must see."""

    def torch_init(shape, dtype=torch.float32, device="cpu"):
        return nn.init.kaiming_normal_(torch.empty(shape, dtype=dtype)).requires_grad_()

    result = run_check(
        "random_weight", with_code(reference_api, random_weight=torch_init), reference=reference_api
    )
    assert not result.passed and "fan_in = 400" in result.message, result.message


# ---------------------------------------------------------------- realistic bugs


def _class_source_between(cls, start, end):
    src = inspect.getsource(cls)
    return src[src.index(start) : src.index(end)]


LIST_OLD = _class_source_between(MODULE.ThreeLayerConvNet, "self.conv1 = ", "return scores")
LIST_NEW = (
    LIST_OLD.replace(
        "self.conv1 = nn.Conv2d(in_channel, channel_1, 5, padding=2)\n"
        "        self.conv2 = nn.Conv2d(channel_1, channel_2, 3, padding=1)",
        "self.convs = [nn.Conv2d(in_channel, channel_1, 5, padding=2),\n"
        "                      nn.Conv2d(channel_1, channel_2, 3, padding=1)]",
    )
    .replace(
        "for layer in (self.conv1, self.conv2, self.fc):", "for layer in (*self.convs, self.fc):"
    )
    .replace("x = F.relu(self.conv1(x))", "x = F.relu(self.convs[0](x))")
    .replace("x = F.relu(self.conv2(x))", "x = F.relu(self.convs[1](x))")
)
FLAT = "return x.reshape(x.shape[0], -1)  # (N, D)"
KAIMING = "fan_in = shape[0] if len(shape) == 2 else math.prod(shape[1:])"
FC_LINE = "scores = flatten(x).mm(fc_w) + fc_b"
SEQ_TAIL = (
    "nn.Flatten(),  # (N, channel_2 * 32 * 32)\n"
    "        nn.Linear(channel_2 * 32 * 32, num_classes),"
)
STEP = "loss = loss_fn(model(x), y)"
COUNT = "correct += (model(x).argmax(dim=1) == y).sum().item()\n            total += y.shape[0]"

BUGS = [
    # flatten
    ("flatten", "pytorch_models", FLAT, "return x.reshape(-1)", "out has shape"),
    ("flatten", "pytorch_models", FLAT, "return x.view(-1, 3072)", "raised RuntimeError"),
    (
        "flatten",
        "pytorch_models",
        FLAT,
        "return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)",
        "out differs",
    ),
    (
        "flatten",
        "pytorch_models",
        FLAT,
        "return x.reshape(x.shape[0], x.shape[1] * x.shape[2] * x.shape[3])",
        "flatten: raised",
    ),
    # random_weight
    ("random_weight", "pytorch_models", KAIMING, "fan_in = shape[0]", "with fan_in = 144"),
    (
        "random_weight",
        "pytorch_models",
        KAIMING,
        "fan_in = shape[1] if len(shape) == 2 else math.prod(shape[1:])",
        "with fan_in = 400",
    ),
    (
        "random_weight",
        "pytorch_models",
        "math.sqrt(2.0 / fan_in)",
        "math.sqrt(1.0 / fan_in)",
        "expected sqrt(2 / fan_in)",
    ),
    ("random_weight", "pytorch_models", "    w.requires_grad_()\n", "", "requires_grad is False"),
    (
        "random_weight",
        "pytorch_models",
        "torch.randn(shape, dtype=dtype, device=device)",
        "(2 * torch.rand(shape, dtype=dtype, device=device) - 1) * math.sqrt(3)",
        "not normally distributed",
    ),
    # three_layer_convnet
    (
        "three_layer_convnet",
        "pytorch_models",
        "x = F.relu(F.conv2d(x, conv_w2, conv_b2, padding=1))",
        "x = F.conv2d(x, conv_w2, conv_b2, padding=1)",
        "scores differs",
    ),
    (
        "three_layer_convnet",
        "pytorch_models",
        "conv_b1, padding=2)",
        "conv_b1, padding=1)",
        "raised RuntimeError",
    ),
    (
        "three_layer_convnet",
        "pytorch_models",
        FC_LINE,
        "scores = F.softmax(flatten(x).mm(fc_w) + fc_b, dim=1)",
        "no softmax",
    ),
    (
        "three_layer_convnet",
        "pytorch_models",
        FC_LINE,
        "scores = flatten(x).mm(fc_w)",
        "scores differs",
    ),
    # ThreeLayerConvNet
    ("ThreeLayerConvNet", "pytorch_models", LIST_OLD, LIST_NEW, "plain Python list"),
    (
        "ThreeLayerConvNet",
        "pytorch_models",
        "x = F.relu(self.conv2(x))",
        "x = self.conv2(x)",
        "scores differs",
    ),
    (
        "ThreeLayerConvNet",
        "pytorch_models",
        "nn.Conv2d(in_channel, channel_1, 5, padding=2)",
        "nn.Conv2d(in_channel, channel_1, 5, padding=1)",
        "raised RuntimeError",
    ),
    (
        "ThreeLayerConvNet",
        "pytorch_models",
        "            nn.init.kaiming_normal_(layer.weight)\n",
        "",
        "Kaiming standard deviation",
    ),
    (
        "ThreeLayerConvNet",
        "pytorch_models",
        "scores = self.fc(flatten(x))",
        "scores = F.softmax(self.fc(flatten(x)), dim=1)",
        "no softmax",
    ),
    # sequential_three_layer_convnet
    (
        "sequential_three_layer_convnet",
        "pytorch_models",
        SEQ_TAIL,
        "nn.Linear(channel_2 * 32 * 32, num_classes), nn.Flatten(),",
        "raised RuntimeError",
    ),
    (
        "sequential_three_layer_convnet",
        "pytorch_models",
        "nn.Conv2d(in_channel, channel_1, 5, padding=2),\n        nn.ReLU(),",
        "nn.Flatten(),\n"
        "        nn.Conv2d(in_channel, channel_1, 5, padding=2),\n        nn.ReLU(),",
        "raised RuntimeError",
    ),
    (
        "sequential_three_layer_convnet",
        "pytorch_models",
        "nn.Conv2d(channel_1, channel_2, 3, padding=1),\n        nn.ReLU(),",
        "nn.Conv2d(channel_1, channel_2, 3, padding=1),",
        "scores differs",
    ),
    (
        "sequential_three_layer_convnet",
        "pytorch_models",
        "3, padding=1)",
        "3, padding=0)",
        "raised RuntimeError",
    ),
    (
        "sequential_three_layer_convnet",
        "pytorch_models",
        "nn.Linear(channel_2 * 32 * 32, num_classes),\n    )",
        "nn.Linear(channel_2 * 32 * 32, num_classes), nn.Softmax(dim=1),\n    )",
        "no softmax",
    ),
    # train_step
    ("train_step", "pytorch_models", "    optimizer.zero_grad()\n", "", "clear the gradients"),
    (
        "train_step",
        "pytorch_models",
        STEP,
        "loss = loss_fn(F.softmax(model(x), dim=1), y)",
        "on the raw scores",
    ),
    ("train_step", "pytorch_models", "    model.train()\n", "", "losses differs"),
    ("train_step", "pytorch_models", STEP, "loss = F.cross_entropy(model(x), y)", "losses differs"),
    (
        "train_step",
        "pytorch_models",
        "optimizer.zero_grad()\n    loss.backward()",
        "loss.backward()\n    optimizer.zero_grad()",
        "differs",
    ),
    # check_accuracy
    ("check_accuracy", "pytorch_models", "    model.eval()\n", "", "call model.eval() first"),
    (
        "check_accuracy",
        "pytorch_models",
        COUNT,
        "correct += (model(x).argmax(dim=1) == y).float().mean().item()\n            total += 1",
        "accuracy differs",
    ),
    ("check_accuracy", "pytorch_models", "argmax(dim=1)", "argmax(dim=0)", "check_accuracy:"),
]


# Part V: a builder that is not the model whose weights were saved, or a forward pass that
# differs from the trained one; each costs every tier.
PART5_BUGS = [
    ("return ResNetLite()", "return ResNetLite(width=8)", "does not match build_part5_model()"),
    (
        "return ResNetLite()",
        "return nn.Sequential(ResNetLite())",
        "does not match build_part5_model()",
    ),
    ("x = self.stages(self.stem(x))", "x = self.stages(x)", "raised RuntimeError"),
    (
        "return F.relu(x + self.bn2(self.conv2(out)))",
        "return F.relu(self.bn2(self.conv2(out)))",
        "test accuracy",
    ),
]
BUGS += [
    (name, "pytorch_models", old, new, words) for name in PART5 for old, new, words in PART5_BUGS
]


@pytest.mark.parametrize(
    "name,module,old,new,words", BUGS, ids=[f"{b[0]}:{b[3][:40]}" for b in BUGS]
)
def test_realistic_bug_is_caught(name, module, old, new, words, reference_api, public_expected):
    assert_bug_caught(
        name,
        module,
        old,
        new,
        words,
        reference_api,
        public_expected,
        in_kernel=name == "random_weight",
    )
