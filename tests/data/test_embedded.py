"""Tests for assignment/embedded_cifar.py: the real CIFAR-10 format, determinism, atomic
writes, and that the images are learnable the way the notebooks need."""

import os
import pickle
import time

import numpy as np
import pytest
import torch
import torch.nn as nn

from assignment import embedded_cifar
from assignment.embedded_cifar import FOLDER_NAME, LABEL_NAMES, generate

pytestmark = pytest.mark.data

BATCHES = [
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
]


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("tiny"), images_per_batch=20)


def test_files_and_keys_match_the_real_batches(tiny):
    """Does every file carry exactly the real keys, types, dtypes and shapes?"""
    assert tiny.name == FOLDER_NAME
    assert {p.name for p in tiny.iterdir()} == {*BATCHES, "batches.meta", embedded_cifar.STAMP_FILE}
    for i, name in enumerate(BATCHES):
        batch = load(tiny / name)
        assert set(batch) == {"batch_label", "labels", "data", "filenames"}
        assert batch["batch_label"] == (
            "testing batch 1 of 1" if name == "test_batch" else f"training batch {i + 1} of 5"
        )
        assert type(batch["labels"]) is list and len(batch["labels"]) == 20
        assert all(type(label) is int for label in batch["labels"])
        assert sorted(batch["labels"]) == sorted(list(range(10)) * 2)  # balanced classes
        assert batch["data"].dtype == np.uint8 and batch["data"].shape == (20, 3072)
        assert batch["data"].flags["C_CONTIGUOUS"]
        assert type(batch["filenames"]) is list and len(batch["filenames"]) == 20
        assert all(type(f) is str and f.endswith(".png") for f in batch["filenames"])
    meta = load(tiny / "batches.meta")
    assert meta == {"label_names": LABEL_NAMES, "num_cases_per_batch": 20, "num_vis": 3072}
    assert LABEL_NAMES == [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]


def test_rows_hold_red_then_green_then_blue_planes(tiny):
    """Is each row 1024 R, 1024 G, 1024 B values, like CIFAR-10's?"""
    batch = load(tiny / "data_batch_1")
    rng = np.random.RandomState(embedded_cifar.SEED)
    labels = np.tile(np.arange(10), 2)
    rng.shuffle(labels)
    images = embedded_cifar.render(labels, rng)  # (N, 32, 32, 3)
    assert np.array_equal(batch["labels"], labels)
    assert np.array_equal(batch["data"][:, :1024].reshape(-1, 32, 32), images[..., 0])
    assert np.array_equal(batch["data"][:, 2048:].reshape(-1, 32, 32), images[..., 2])


def test_same_seed_gives_the_same_bytes(tmp_path):
    """Is the generator deterministic, and does the seed matter?"""
    a = generate(tmp_path / "a", images_per_batch=10)
    b = generate(tmp_path / "b", images_per_batch=10)
    c = generate(tmp_path / "c", images_per_batch=10, seed=7)
    for name in [*BATCHES, "batches.meta"]:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "test_batch").read_bytes() != (c / "test_batch").read_bytes()


def test_pixel_statistics_resemble_cifar10(tiny):
    """Are pixel values spread like CIFAR-10's, so the classic hyperparameters still fit?"""
    data = np.concatenate([load(tiny / name)["data"] for name in BATCHES])
    # CIFAR-10: mean about 121, std about 64.
    assert 100 < data.mean() < 145 and 45 < data.std() < 80


def test_existing_folder_with_the_same_stamp_is_reused(tmp_path):
    """Is a folder that is up to date left alone rather than written again?"""
    folder = generate(tmp_path, images_per_batch=10)
    before = os.stat(folder / "data_batch_1")
    assert generate(tmp_path, images_per_batch=10) == folder
    assert os.stat(folder / "data_batch_1").st_ino == before.st_ino


def test_folder_with_an_old_stamp_is_regenerated(tmp_path, monkeypatch):
    """Does a new generator version (or size) replace the folder written by the old one?"""
    folder = generate(tmp_path, images_per_batch=10)
    monkeypatch.setattr(embedded_cifar, "VERSION", embedded_cifar.VERSION + 1)
    generate(tmp_path, images_per_batch=20)
    assert embedded_cifar.read_stamp(folder)["version"] == embedded_cifar.VERSION
    assert len(load(folder / "test_batch")["labels"]) == 20
    assert [p.name for p in tmp_path.iterdir()] == [FOLDER_NAME]  # no temporary left over


def test_crash_while_writing_leaves_no_half_dataset(tmp_path, monkeypatch):
    """If generation fails midway, is there neither a partial folder nor a temporary one?"""

    def fail(obj, path):
        if path.name == "data_batch_3":
            raise OSError("disk full")
        real_dump(obj, path)

    real_dump = embedded_cifar._dump
    monkeypatch.setattr(embedded_cifar, "_dump", fail)
    with pytest.raises(OSError, match="disk full"):
        generate(tmp_path, images_per_batch=10)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [0, 15, -10])
def test_size_that_is_not_a_positive_multiple_of_ten_is_refused(tmp_path, size):
    """Are batch sizes that cannot hold balanced classes refused with a clear message?"""
    with pytest.raises(
        ValueError, match="generate: images_per_batch must be a positive multiple of 10"
    ):
        generate(tmp_path, images_per_batch=size)


# Learnability: the figures in the report come from this setup (seeded, one torch thread:
# on a busy 2-core machine more threads made these runs 10x slower, not faster).


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    """The default-size set split like get_CIFAR10_data: 4000 / 1000, mean image removed."""
    start = time.perf_counter()
    folder = generate(tmp_path_factory.mktemp("full"))
    seconds = time.perf_counter() - start
    # About 2 s here; the bound only catches a pathological slowdown on a busy machine.
    assert seconds < 30, f"generating the default set took {seconds:.1f} s"
    X, y = [], []
    for name in BATCHES[:5]:
        batch = load(folder / name)
        X.append(batch["data"].reshape(-1, 3, 32, 32))  # (N, C, H, W)
        y.append(np.array(batch["labels"]))
    X = np.concatenate(X).astype(np.float32)
    y = torch.tensor(np.concatenate(y))
    X = torch.tensor(X - X[:4000].mean(axis=0))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {"train": (X[:4000], y[:4000]), "val": (X[4000:], y[4000:])}
    torch.set_num_threads(threads)


def train(model, X, y, epochs, batch_size=100, lr=1e-3):
    """Adam on cross-entropy, seeded; returns the model."""
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(X))
        for i in range(0, len(X), batch_size):
            idx = order[i : i + batch_size]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def accuracy(model, X, y):
    with torch.no_grad():
        return (model(X).argmax(dim=1) == y).float().mean().item()


def mlp(hidden):
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3072, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def small_convnet():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 8 * 8, 10),
    )


@pytest.fixture(scope="module")
def mlp_val(splits):
    """Validation accuracy of a 2-layer MLP (hidden 100, 308k parameters), adam, 5 epochs."""
    return accuracy(train(mlp(100), *splits["train"], epochs=5), *splits["val"])


@pytest.mark.slow
def test_mlp_learns_well_above_chance_but_far_from_perfect(mlp_val):
    """Does a 2-layer MLP land mid-range on validation, leaving room for tuning?"""
    # Measured 0.58 (chance is 0.10). Wide margins keep this stable across platforms.
    assert 0.40 < mlp_val < 0.75, f"MLP validation accuracy {mlp_val:.3f}"


@pytest.mark.slow
def test_small_convnet_beats_a_larger_mlp(splits, mlp_val):
    """Does spatial structure pay: a 12k-parameter conv net beats the 308k-parameter MLP?"""
    conv = accuracy(train(small_convnet(), *splits["train"], epochs=5), *splits["val"])
    # Measured 0.69 against 0.58 after the same 5 epochs.
    assert conv > mlp_val + 0.05, f"conv net {conv:.3f} vs MLP {mlp_val:.3f}"


@pytest.mark.slow
def test_fifty_images_are_easy_to_overfit(splits):
    """Can the MLP memorise 50 training images in 60 steps?"""
    X, y = splits["train"][0][:50], splits["train"][1][:50]
    model = train(mlp(100), X, y, epochs=30, batch_size=25)
    assert accuracy(model, X, y) == 1.0
