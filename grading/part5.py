"""The reference weights of PyTorch.ipynb's Part V, for the sample submissions and the tests.

Part V is graded from a file the student trains and submits (``part5_weights.pt`` beside the
``assignment/`` folder), so the reference submission needs one too. It is trained here with
the notebook's reference recipe, once, into the source's root (where running the notebook
also writes it; the file is ignored by git). Delete it after changing the reference model.

    path = reference_weights()      # trains it first when it is missing
"""

from __future__ import annotations

from pathlib import Path

from grading.hardened.splice import SUBMISSION_DATA
from grading.layout import REPO_ROOT
from grading.util import atomic_write

WEIGHTS = next(iter(SUBMISSION_DATA))


def reference_weights(source_root: Path = REPO_ROOT) -> Path:
    """The reference Part V weights in ``source_root``, trained now if they are missing."""
    path = Path(source_root) / WEIGHTS
    if not path.is_file():
        train_reference(path)
    return path


def train_reference(path: Path, seed: int = 231) -> None:
    """The notebook's Part V cell: the reference model, 8 epochs on CIFAR-10 or 2 on the
    embedded stand-in, with augmentation, label smoothing and a one-cycle schedule."""
    import torch
    import torch.nn.functional as F

    from assignment.pytorch_models import build_part5_model, save_part5_weights, train_step
    from assignment.torch_data import get_cifar10_tensors, make_loader, seed_everything

    seed_everything(seed)
    splits = get_cifar10_tensors()
    epochs = 8 if len(splits["train"]) == 49000 else 2
    loader = make_loader(splits["train"], batch_size=128, train=True, augment=True)
    model = build_part5_model()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.2, total_steps=epochs * len(loader)
    )
    for _ in range(epochs):
        for x, y in loader:
            train_step(
                model,
                optimizer,
                x,
                y,
                lambda scores, labels: F.cross_entropy(scores, labels, label_smoothing=0.1),
            )
            scheduler.step()
    atomic_write(Path(path), lambda tmp: save_part5_weights(model, tmp))
