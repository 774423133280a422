"""A second complete solution, written the way students write the classic course's assignment,
earns full marks in the self-check and in the hardened grader, the same in both.

The solution lives in tests/fixtures/classic_solution/ in the release layout (only the files
students edit). It differs from the reference where real student code differs: float64
temporaries (`np.zeros(shape)`, a float64 dropout mask, so float32 in gives float64 out),
update rules that change `w` in place as the classic's own `sgd` does, the lecture notes'
softmax (shift, then divide), the classic cache tuples, helper layers added to
layer_utils.py and used by FullyConnectedNet, explicit loops in the naive layers. Every value
it computes is right: the last tests compare it with the reference in float64.

It holds the numpy modules; the checks of the other modules (PyTorch, visualization) have
their own second solutions, so only the checks of the modules it holds are run here.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assignment.checks import CATALOGUE
from assignment.checks.api import MODULES
from grading.layout import REPO_ROOT

pytestmark = [pytest.mark.grading, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "classic_solution"
STUDENT = "classic"
HELD = {
    short
    for short, dotted in MODULES.items()
    if (FIXTURE / "assignment" / (dotted.replace(".", "/") + ".py")).is_file()
}
FULL_MARKS = {
    name: (float(c.points), float(c.points)) for name, c in CATALOGUE.items() if c.module in HELD
}


def _env():
    """The environment of a student's terminal: nothing on PYTHONPATH, one BLAS thread."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


@pytest.fixture(scope="module")
def submissions(built_release, tmp_path_factory) -> Path:
    """A folder of one submission: the release with the classic solution's files over it."""
    folder = tmp_path_factory.mktemp("classic") / "submissions"
    shutil.copytree(built_release, folder / STUDENT)
    shutil.copytree(FIXTURE, folder / STUDENT, dirs_exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def self_check(submissions) -> tuple[dict[str, tuple[float, float]], str]:
    """`python -m assignment.check` run in the submission, as a student runs it there:
    ({check: (score, max)}, printed table)."""
    done = subprocess.run(
        [sys.executable, "-m", "assignment.check", *FULL_MARKS],
        cwd=submissions / STUDENT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    scores = {}
    for name in FULL_MARKS:
        row = re.search(rf"^{re.escape(name)}\s+\S+\s+([\d.]+)/([\d.]+)\s*$", done.stdout, re.M)
        assert row, f"no row for {name} in the self-check's table:\n{done.stdout}\n{done.stderr}"
        scores[name] = (float(row[1]), float(row[2]))
    return scores, done.stdout + done.stderr


@pytest.fixture(scope="module")
def autograde(submissions, tmp_path_factory) -> tuple[dict[str, tuple[float, float]], str]:
    """`python -m grading autograde SUBMISSIONS --out OUT --checks-only`:
    ({check: (score, max)}, the failing checks' outputs)."""
    out = tmp_path_factory.mktemp("classic") / "grades"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "grading",
            "autograde",
            str(submissions),
            "--out",
            str(out),
            "--checks-only",
            *[arg for name in FULL_MARKS for arg in ("--only", name)],
        ],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((out / STUDENT / "results.json").read_text())
    scores = {t["name"]: (float(t["score"]), float(t["max_score"])) for t in results["tests"]}
    failing = "\n".join(
        f"{t['name']}:\n{t['output']}"
        for t in results["tests"]
        if float(t["score"]) < float(t["max_score"])
    )
    return scores, failing


def test_self_check_gives_full_marks(self_check):
    """Does every check of the self-check pass on the classic solution?"""
    scores, printed = self_check
    assert {"layers", "optim", "fc_net", "cnn"} <= HELD
    assert scores == FULL_MARKS, printed


def test_autograde_gives_full_marks(autograde):
    """Does the hardened grader (public and hidden cases, student helpers in layer_utils.py)
    give the classic solution every point?"""
    scores, failing = autograde
    assert scores == FULL_MARKS, failing


def test_self_check_and_grade_agree(self_check, autograde):
    """Does what passes locally pass in the grade, check by check, and the other way round?"""
    assert self_check[0] == autograde[0]


# -- the classic solution is correct ------------------------------------------------------------


@pytest.fixture(scope="module")
def classic(tmp_path_factory):
    """The classic solution's modules, imported as a package of another name beside the
    reference: {short name: module}."""
    root = tmp_path_factory.mktemp("classic_pkg")
    package = root / "classic_assignment"
    (package / "classifiers").mkdir(parents=True)
    for rel in ("__init__.py", "classifiers/__init__.py", "fast_layers.py"):
        shutil.copyfile(REPO_ROOT / "assignment" / rel, package / rel)
    shutil.copytree(FIXTURE / "assignment", package, dirs_exist_ok=True)
    sys.path.insert(0, str(root))
    try:
        yield {
            short: importlib.import_module(f"classic_assignment.{dotted}")
            for short, dotted in [
                ("layers", "layers"),
                ("optim", "optim"),
                ("fc_net", "classifiers.fc_net"),
                ("cnn", "classifiers.cnn"),
            ]
        }
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.split(".")[0] == "classic_assignment"]:
            del sys.modules[name]


def _agree(what, got, want):
    got = got if isinstance(got, (tuple, list)) else (got,)
    want = want if isinstance(want, (tuple, list)) else (want,)
    assert len(got) == len(want), what
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"{what}[{k}]: shape {g.shape}, reference {w.shape}"
        np.testing.assert_allclose(g, w, rtol=1e-8, atol=1e-8, err_msg=f"{what}[{k}]")


def _layer_cases(rng):
    """(name, forward, backward or None, forward args, the backward's upstream shape or None)."""

    def r(*shape):
        return rng.standard_normal(shape)

    conv = [
        ((2, 3, 5, 6), (2, 3, 3, 3), 1, 1),
        ((2, 2, 7, 5), (3, 2, 3, 1), 2, 0),
        ((1, 2, 4, 6), (2, 2, 2, 4), 2, 2),
    ]
    pool = [((2, 3, 6, 6), 2, 2, 2), ((2, 2, 7, 5), 3, 2, 1), ((1, 1, 5, 5), 3, 3, 2)]
    cases = [
        ("affine", (r(3, 2, 4), r(8, 5), r(5))),
        ("relu", (r(3, 7),)),
        ("batchnorm", (3 * r(6, 5) + 2, r(5), r(5), {"mode": "train", "momentum": 0.8})),
        ("layernorm", (3 * r(4, 6) + 1, r(6), r(6), {})),
        ("spatial_batchnorm", (2 * r(2, 4, 3, 5) + 1, r(4), r(4), {"mode": "train"})),
    ]
    cases += [
        ("conv", (r(*xs), r(*ws), r(ws[0]), {"stride": s, "pad": p})) for xs, ws, s, p in conv
    ]
    cases += [
        ("max_pool", (r(*xs), {"pool_height": ph, "pool_width": pw, "stride": s}))
        for xs, ph, pw, s in pool
    ]
    cases += [
        ("spatial_groupnorm", (r(2, C, 3, 2), r(1, C, 1, 1), r(1, C, 1, 1), G, {}))
        for G, C in [(2, 6), (3, 6), (1, 4), (4, 4)]
    ]
    return cases


def test_every_layer_matches_the_reference(classic):
    """Does each layer of the classic solution give the reference's outputs and gradients
    (float64, several shapes, both batchnorm backward passes, train and test modes)?"""
    from assignment import layers as reference

    ours = classic["layers"]
    rng = np.random.default_rng(0)
    names = {"conv": "conv_{}_naive", "max_pool": "max_pool_{}_naive"}
    for layer, args in _layer_cases(rng):
        fmt = names.get(layer, layer + "_{}")
        mine, theirs = copy.deepcopy(args), copy.deepcopy(args)
        out, cache = getattr(ours, fmt.format("forward"))(*mine)
        ref_out, ref_cache = getattr(reference, fmt.format("forward"))(*theirs)
        _agree(f"{layer} forward", out, ref_out)
        dout = rng.standard_normal(ref_out.shape)
        backwards = ["backward", "backward_alt"] if layer == "batchnorm" else ["backward"]
        for backward in backwards:
            _agree(
                f"{layer} {backward}",
                getattr(ours, fmt.format(backward))(dout, cache),
                getattr(reference, fmt.format(backward))(dout, ref_cache),
            )
        params = [p for p in mine if isinstance(p, dict) and "mode" in p]
        if params:  # the running statistics, then a test-time pass with them
            ref_params = [p for p in theirs if isinstance(p, dict) and "mode" in p]
            _agree(
                f"{layer} running statistics",
                (params[0]["running_mean"], params[0]["running_var"]),
                (ref_params[0]["running_mean"], ref_params[0]["running_var"]),
            )
            params[0]["mode"] = ref_params[0]["mode"] = "test"
            _agree(
                f"{layer} test mode",
                getattr(ours, fmt.format("forward"))(*mine)[0],
                getattr(reference, fmt.format("forward"))(*theirs)[0],
            )
    scores, labels = 5 * rng.standard_normal((4, 6)), rng.integers(6, size=4)
    _agree(
        "softmax_loss", ours.softmax_loss(scores, labels), reference.softmax_loss(scores, labels)
    )
    x, dout = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
    for mode in ("train", "test"):
        out, cache = ours.dropout_forward(x, {"p": 0.6, "mode": mode, "seed": 7})
        ref_out, ref_cache = reference.dropout_forward(x, {"p": 0.6, "mode": mode, "seed": 7})
        _agree(f"dropout {mode}", out, ref_out)
        _agree(
            f"dropout_backward {mode}",
            ours.dropout_backward(dout, cache),
            reference.dropout_backward(dout, ref_cache),
        )


@pytest.mark.parametrize(
    "rule, config",
    [
        ("sgd_momentum", {"learning_rate": 0.05, "momentum": 0.7}),
        ("rmsprop", {"learning_rate": 1e-2, "decay_rate": 0.9}),
        (
            "adam",
            {"learning_rate": 1e-2, "t": 2, "m": np.full((3, 4), 0.1), "v": np.full((3, 4), 0.3)},
        ),
    ],
)
def test_every_update_rule_matches_the_reference(classic, rule, config):
    """Do four steps of each classic rule (which updates w in place) give the reference's
    weights and state?"""
    from assignment import optim as reference

    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 4))
    mine, theirs = (w.copy(), copy.deepcopy(config)), (w.copy(), copy.deepcopy(config))
    for step in range(4):
        dw = rng.standard_normal((3, 4))
        mine = getattr(classic["optim"], rule)(mine[0], dw, mine[1])
        theirs = getattr(reference, rule)(theirs[0], dw, theirs[1])
        _agree(
            f"{rule} step {step}",
            [mine[0]] + [mine[1][k] for k in sorted(theirs[1])],
            [theirs[0]] + [theirs[1][k] for k in sorted(theirs[1])],
        )


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
@pytest.mark.parametrize("keep", [1, 0.6])
def test_fully_connected_net_matches_the_reference(classic, normalization, keep):
    """Same seeded initial parameters, loss, gradients and scores as the reference's net?"""
    from assignment.classifiers import fc_net as reference

    rng = np.random.default_rng(2)
    kwargs = dict(
        input_dim=5,
        num_classes=4,
        reg=0.3,
        weight_scale=0.3,
        dtype=np.float64,
        normalization=normalization,
        dropout_keep_ratio=keep,
        seed=11,
    )
    nets = []
    for module in (classic["fc_net"], reference):
        np.random.seed(231)
        nets.append(module.FullyConnectedNet([7, 6], **kwargs))
    mine, ref = nets
    assert sorted(mine.params) == sorted(ref.params)
    _agree(
        "initial parameters",
        [mine.params[k] for k in sorted(ref.params)],
        [ref.params[k] for k in sorted(ref.params)],
    )
    for k in ref.params:
        if k.startswith(("gamma", "beta")):  # away from the initial ones and zeros
            mine.params[k] = ref.params[k] = ref.params[k] + 0.2 * rng.standard_normal(
                ref.params[k].shape
            )
    X, y = rng.standard_normal((4, 5)), rng.integers(4, size=4)
    loss, grads = mine.loss(X, y)
    ref_loss, ref_grads = ref.loss(X, y)
    assert sorted(grads) == sorted(ref_grads)
    _agree(
        "loss and gradients",
        [loss] + [grads[k] for k in sorted(ref_grads)],
        [ref_loss] + [ref_grads[k] for k in sorted(ref_grads)],
    )
    _agree("scores", mine.loss(X), ref.loss(X))


@pytest.mark.parametrize("input_dim, filter_size", [((2, 4, 4), 3), ((1, 7, 5), 1), ((3, 6, 6), 5)])
def test_three_layer_convnet_matches_the_reference(classic, input_dim, filter_size):
    """Same seeded initial parameters, loss, gradients and scores as the reference's convnet?"""
    from assignment.classifiers import cnn as reference

    rng = np.random.default_rng(3)
    kwargs = dict(
        input_dim=input_dim,
        num_filters=3,
        filter_size=filter_size,
        hidden_dim=5,
        num_classes=4,
        weight_scale=0.3,
        reg=0.2,
        dtype=np.float64,
    )
    nets = []
    for module in (classic["cnn"], reference):
        np.random.seed(5)
        nets.append(module.ThreeLayerConvNet(**kwargs))
    mine, ref = nets
    _agree(
        "initial parameters",
        [mine.params[k] for k in sorted(ref.params)],
        [ref.params[k] for k in sorted(ref.params)],
    )
    X, y = rng.standard_normal((2, *input_dim)), rng.integers(4, size=2)
    loss, grads = mine.loss(X, y)
    ref_loss, ref_grads = ref.loss(X, y)
    assert sorted(grads) == sorted(ref_grads)
    _agree(
        "loss and gradients",
        [loss] + [grads[k] for k in sorted(ref_grads)],
        [ref_loss] + [ref_grads[k] for k in sorted(ref_grads)],
    )
    _agree("scores", mine.loss(X), ref.loss(X))
