"""Is Part V graded from the submitted weights alone: the reference's full marks, random
weights nothing, and a checkpoint that holds code refused, not loaded?"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from assignment.checks import pytorch
from grading.cli import main as cli_main
from grading.hardened.batch import check_one
from grading.hardened.sandbox import Limits
from grading.hardened.splice import SUBMISSION_DATA, copy_data_file
from grading.layout import REPO_ROOT
from grading.part5 import WEIGHTS, reference_weights

pytestmark = [pytest.mark.grading, pytest.mark.pytorch, pytest.mark.slow]

PART5 = [c.name for c in pytorch.CHECKS if c.name.startswith("build_part5_model.")]
MODULE = "assignment/pytorch_models.py"


def _submission(root, weights=None):
    """A submission holding the reference pytorch_models.py and, optionally, weights."""
    (root / "assignment").mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / MODULE, root / MODULE)
    if weights is not None:
        weights(root / WEIGHTS)
    return root


def _random_weights(path):
    from assignment.pytorch_models import build_part5_model

    torch.manual_seed(0)
    torch.save(build_part5_model().state_dict(), path)


def _pickled_module(path):
    """A whole pickled module (torch.save(model)); unpickling it would run code."""
    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)), path)


OTHER_BUILDER = '''def build_part5_model():
    """A plain stack of conv - batch norm - relu layers, no residual connection."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
'''


def _other_model(root):
    """Another student's model in another style (a Sequential, trained with Adam for two
    epochs), its own pytorch_models.py and its weights."""
    from assignment.pytorch_models import train_step
    from assignment.torch_data import get_cifar10_tensors, make_loader, seed_everything

    source = (REPO_ROOT / MODULE).read_text()
    start = source.index("def build_part5_model(")
    end = source.index("\ndef ", start + 1) + 1
    _submission(root)
    (root / MODULE).write_text(source[:start] + OTHER_BUILDER + "\n\n" + source[end:])
    namespace = {"nn": torch.nn}
    exec(OTHER_BUILDER, namespace)
    seed_everything(0)
    splits = get_cifar10_tensors()
    model = namespace["build_part5_model"]()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(2):
        for x, y in make_loader(splits["train"], 64, train=True):
            train_step(model, optimizer, x, y)
    torch.save(model.state_dict(), root / WEIGHTS)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """`python -m grading autograde --checks-only` of four submissions, Part V only."""
    subs = tmp_path_factory.mktemp("part5") / "submissions"
    _submission(subs / "reference", lambda p: shutil.copyfile(reference_weights(), p))
    _submission(subs / "random", _random_weights)
    _submission(subs / "pickled", _pickled_module)
    _submission(subs / "missing")
    _other_model(subs / "other")
    out = subs.parent / "grades"
    argv = ["autograde", str(subs), "--out", str(out), "--checks-only"]
    for name in PART5:
        argv += ["--only", name]
    assert cli_main(argv) == 0
    return {
        s: json.loads((out / s / "results.json").read_text())
        for s in ("reference", "random", "pickled", "missing", "other")
    }


def _tests(results):
    return {t["name"]: t for t in results["tests"]}


def test_reference_weights_earn_full_marks(graded):
    tests = _tests(graded["reference"])
    assert set(PART5) <= set(tests)
    for name in PART5:
        assert tests[name]["score"] == tests[name]["max_score"] > 0, tests[name]


def test_another_correct_model_in_another_style_earns_full_marks(graded):
    tests = _tests(graded["other"])
    for name in PART5:
        assert tests[name]["score"] == tests[name]["max_score"] > 0, tests[name]


def test_random_weights_earn_nothing(graded):
    tests = _tests(graded["random"])
    for name in PART5:
        assert tests[name]["score"] == 0
        assert "test accuracy" in tests[name]["output"], tests[name]


def test_a_pickled_module_is_refused_with_a_message(graded):
    tests = _tests(graded["pickled"])
    for name in PART5:
        assert tests[name]["score"] == 0
        assert "weights_only=True" in tests[name]["output"], tests[name]
        assert "save_part5_weights" in tests[name]["output"], tests[name]


def test_missing_weights_say_what_to_submit(graded):
    tests = _tests(graded["missing"])
    for name in PART5:
        assert tests[name]["score"] == 0
        assert f"no {WEIGHTS}" in tests[name]["output"], tests[name]


def test_the_tiers_are_stated_for_cifar10_and_calibrated_on_the_embedded_set():
    """Full marks at 70% on CIFAR-10; on the embedded set the reference (about 50%) passes
    every tier with a margin and random weights (about 10%) none."""
    assert pytorch.TIERS["cifar10"][-1] == 0.70
    assert pytorch.TIERS["embedded"][-1] <= 0.45 and pytorch.TIERS["embedded"][0] >= 0.2


def test_data_files_are_copied_only_when_regular_and_small(tmp_path):
    limit = SUBMISSION_DATA[WEIGHTS]
    big = tmp_path / "big"
    with open(big, "wb") as handle:
        handle.truncate(limit + 1)
    assert "larger than" in copy_data_file(big, tmp_path / "out1", limit, WEIGHTS)
    assert not (tmp_path / "out1").exists()
    link = tmp_path / "link"
    link.symlink_to(big)
    assert "not a regular file" in copy_data_file(link, tmp_path / "out2", limit, WEIGHTS)
    assert copy_data_file(tmp_path / "absent", tmp_path / "out3", limit, WEIGHTS) is None
    small = tmp_path / "small"
    small.write_bytes(b"x" * 10)
    assert copy_data_file(small, tmp_path / "out4", limit, WEIGHTS) is None
    assert (tmp_path / "out4").read_bytes() == b"x" * 10


def test_a_slow_model_is_not_taken_for_a_stalled_one(tmp_path):
    """A model that takes longer over the test images than the grader waits between progress
    lines (here 9 s against 6) still gets its marks: the check reports progress per batch."""
    root = _submission(tmp_path / "slow", lambda p: shutil.copyfile(reference_weights(), p))
    slow = (
        "    model = ResNetLite()\n"
        "    model.register_forward_pre_hook(lambda module, x: __import__('time').sleep(0.9))\n"
        "    return model\n"
    )
    text = (root / MODULE).read_text()
    assert text.count("    return ResNetLite()\n") == 1
    (root / MODULE).write_text(text.replace("    return ResNetLite()\n", slow))
    report = check_one(root, limits=Limits(stall_s=6), checks=[PART5[0]])
    assert report.results[0].passed, report.results[0].message + report.log
