"""CIFAR-10 (or the embedded stand-in) as torch datasets and loaders, with no torchvision.

    device = pick_device()                       # CUDA when present, else the CPU; said once
    seed_everything(0)                           # the same run twice gives the same numbers
    splits = get_cifar10_tensors()               # normalized float32 tensors, train/val/test
    loader_train = make_loader(splits["train"], batch_size=64, train=True, augment=True)

The split is the classic one: 49,000 training and 1,000 validation images from the training
batches and the 10,000 test images (on the embedded stand-in the loader reduces them, and
says so). Every split is normalized per channel with the mean and standard deviation of the
training split only: statistics of the validation or test images would leak into training.
Augmentation (a random crop of the image padded by 4 pixels, and a horizontal flip with
probability 1/2) is done on whole batches of tensors, so it costs little even on a CPU.
"""

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .data_utils import get_CIFAR10_data

_announced_device = None


def pick_device(prefer_gpu=True):
    """CUDA when it is available (and wanted), else the CPU; printed the first time."""
    global _announced_device
    device = torch.device("cuda" if prefer_gpu and torch.cuda.is_available() else "cpu")
    if _announced_device != device:
        _announced_device = device
        print(
            f"using device: {device}"
            + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
        )
    return device


def seed_everything(seed):
    """Seed Python's, numpy's and torch's generators (CUDA included), so a run repeats."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_cifar10_tensors(num_training=49000, num_validation=1000, num_test=10000, source=None):
    """The three splits as TensorDatasets of normalized float32 images and int64 labels.

    Inputs:
    - num_training, num_validation, num_test: images per split (reduced on the embedded set)
    - source: as for get_CIFAR10_data ('auto', 'cifar10', 'embedded' or None)

    Returns a dict with:
    - "train", "val", "test": TensorDataset of x float32 (N, 3, 32, 32), y int64 (N,)
    - "mean", "std": float32 tensors (3,), the training split's per-channel statistics of
      the images scaled to [0, 1]
    """
    data = get_CIFAR10_data(
        num_training, num_validation, num_test, subtract_mean=False, source=source
    )
    train = torch.from_numpy(data["X_train"] / 255.0).float()  # (N, 3, 32, 32)
    mean = train.mean(dim=(0, 2, 3))  # (3,)
    std = train.std(dim=(0, 2, 3))  # (3,)
    out = {"mean": mean, "std": std}
    for split in ("train", "val", "test"):
        x = torch.from_numpy(data[f"X_{split}"] / 255.0).float()
        x = (x - mean[:, None, None]) / std[:, None, None]
        out[split] = TensorDataset(x, torch.from_numpy(data[f"y_{split}"]).long())
    return out


def augment_batch(x, pad=4, generator=None):
    """Random crops of the images padded with zeros by `pad` pixels, then random flips.

    Inputs:
    - x: float tensor (N, C, H, W)
    - pad: pixels of zero padding on each side before cropping back to (H, W)
    - generator: a torch.Generator for repeatable draws (None: torch's global one)

    Returns a new tensor (N, C, H, W); x is not changed.
    """
    N, C, H, W = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))  # (N, C, H+2pad, W+2pad)
    dy = torch.randint(0, 2 * pad + 1, (N,), generator=generator, device="cpu").to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (N,), generator=generator, device="cpu").to(x.device)
    rows = (dy[:, None] + torch.arange(H, device=x.device))[:, None, :, None]  # (N, 1, H, 1)
    cols = (dx[:, None] + torch.arange(W, device=x.device))[:, None, None, :]  # (N, 1, 1, W)
    batch = torch.arange(N, device=x.device)[:, None, None, None]
    channel = torch.arange(C, device=x.device)[None, :, None, None]
    out = padded[batch, channel, rows, cols]  # (N, C, H, W)
    flip = torch.rand(N, generator=generator, device="cpu").to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


class AugmentedLoader:
    """A DataLoader whose batches of images go through augment_batch."""

    def __init__(self, loader, generator=None):
        self.loader, self.generator = loader, generator
        self.dataset = loader.dataset

    def __iter__(self):
        for x, y in self.loader:
            yield augment_batch(x, generator=self.generator), y

    def __len__(self):
        return len(self.loader)


def make_loader(dataset, batch_size=64, train=False, augment=False, seed=0):
    """A loader over a dataset: shuffled (repeatably, from `seed`) when train, else in order.

    Inputs:
    - dataset: a torch Dataset of (image, label) pairs, e.g. get_cifar10_tensors()["train"]
    - batch_size: images per batch
    - train: shuffle every epoch (and allow augmentation)
    - augment: random crop and flip of every training batch
    - seed: seeds the shuffling and the augmentation

    Returns an iterable of (x (B, 3, 32, 32), y (B,)) batches with `len` and `.dataset`.
    """
    if augment and not train:
        raise ValueError(
            "make_loader: augment=True needs train=True; evaluate on the images as they are"
        )
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=train, generator=generator)
    return AugmentedLoader(loader, torch.Generator().manual_seed(seed + 1)) if augment else loader


class ClassSubset(Dataset):
    """The examples of a TensorDataset whose labels are in `classes`, relabelled 0..k-1 in
    the order of `classes`, optionally only the first `limit` of them."""

    def __init__(self, dataset, classes, limit=None):
        x, y = dataset.tensors
        keep = torch.isin(y, torch.tensor(classes))
        index = torch.nonzero(keep).flatten()[:limit]
        relabel = torch.full((int(y.max()) + 1,), -1, dtype=torch.long)
        relabel[torch.tensor(classes)] = torch.arange(len(classes))
        self.tensors = (x[index], relabel[y[index]])

    def __len__(self):
        return len(self.tensors[1])

    def __getitem__(self, i):
        return self.tensors[0][i], self.tensors[1][i]
