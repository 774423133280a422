"""Seconds per epoch and images per second of the Part V reference model, with torch's threads.

    python benchmarks/bench_pytorch.py [--threads N] [--epochs E] [--images N]

Trains the reference `build_part5_model()` of PyTorch.ipynb with its recipe (augmentation,
label smoothing, one-cycle SGD, batches of 128) on the training images of the data found
(the embedded stand-in unless CIFAR-10 is in datasets/), then projects one CIFAR-10 epoch
(49,000 images) at the same speed. Prints figures only.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from assignment.pytorch_models import build_part5_model, check_accuracy, train_step  # noqa: E402
from assignment.torch_data import get_cifar10_tensors, make_loader, pick_device, seed_everything  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--images", type=int, default=None, help="training images used (default: all)"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device()
    seed_everything(0)
    splits = get_cifar10_tensors()
    train_set = splits["train"]
    if args.images:
        train_set = torch.utils.data.TensorDataset(*(t[: args.images] for t in train_set.tensors))
    loader = make_loader(train_set, batch_size=128, train=True, augment=True)
    model = build_part5_model().to(device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.2, total_steps=args.epochs * len(loader)
    )
    smoothed = lambda scores, y: F.cross_entropy(scores, y, label_smoothing=0.1)  # noqa: E731
    seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        for x, y in loader:
            train_step(model, optimizer, x.to(device), y.to(device), smoothed)
            scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    per_epoch = min(seconds)
    images = len(train_set)
    accuracy = check_accuracy(make_loader(splits["val"], 500), model, device)
    print(
        f"Part V reference, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
        f"device {device}, torch threads {torch.get_num_threads()}"
    )
    print(
        f"{images} training images: {per_epoch:.1f} s per epoch (best of {args.epochs}), "
        f"{images / per_epoch:.0f} images/s; validation accuracy after {args.epochs} epochs "
        f"{accuracy:.1%}"
    )
    print(
        f"projected CIFAR-10 epoch (49,000 images): {49000 / (images / per_epoch):.0f} s; "
        f"the notebook's 8 epochs {8 * 49000 / (images / per_epoch) / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
