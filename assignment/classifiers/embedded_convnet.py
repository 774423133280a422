"""A small convolutional net trained on the embedded dataset: the offline stand-in for SqueezeNet.

Network_Visualization.ipynb studies a pretrained ImageNet model (SqueezeNet) when its weights
and the ImageNet sample have been downloaded. Without them it uses this net, whose weights
(about 100 KB) ship in the repository beside this file, and the embedded test images. Both
models split the same way: `model.features(X)` is the last convolutional block's output and
`model.head(A)` the class scores, and both take images normalized with the ImageNet mean and
standard deviation (net_visualization.preprocess), so the notebook's code serves either.

The weights are made by a deterministic build step:

    python -m assignment.classifiers.embedded_convnet      # rewrites embedded_convnet.pt

It trains for a few seconds on one thread, with fixed seeds, on the embedded training images.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .squeezenet import freeze

WEIGHTS = Path(__file__).with_name("embedded_convnet.pt")
SEED = 231


class EmbeddedConvNet(nn.Module):
    """conv-relu-pool x 2, conv-relu (the last block), global average pool, dropout, affine.

    Inputs of forward:
    - X: (N, 3, 32, 32) images normalized with the ImageNet mean and standard deviation

    Returns:
    - scores: (N, num_classes) unnormalized class scores
    """

    def __init__(self, num_classes=10, width=16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, w, 16, 16)
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 2w, 8, 8)
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.ReLU(),  # (N, 4w, 8, 8)
        )
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(4 * width, num_classes),
        )

    def head(self, A):
        """Class scores (N, num_classes) from the last block's activations A (N, 4w, 8, 8)."""
        return self.classifier(A)

    def forward(self, X):
        return self.head(self.features(X))


def load_embedded_convnet(path=WEIGHTS, device="cpu"):
    """The trained net in evaluation mode with frozen parameters."""
    model = EmbeddedConvNet()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return freeze(model).to(device)


def train_embedded_convnet(epochs=8, batch_size=64, learning_rate=3e-3, seed=SEED, verbose=False):
    """Train an EmbeddedConvNet on the embedded training images (deterministic on one thread).

    Returns:
    - model: the trained net, in evaluation mode
    - accuracy: its accuracy on the embedded test images
    """
    from ..data_utils import get_CIFAR10_data
    from ..net_visualization import preprocess

    data = get_CIFAR10_data(
        num_training=5000, num_validation=0, num_test=1000, subtract_mean=False, source="embedded"
    )
    X = preprocess(data["X_train"].transpose(0, 2, 3, 1))
    y = torch.from_numpy(data["y_train"]).long()
    torch.manual_seed(seed)
    order = np.random.RandomState(seed)
    model = EmbeddedConvNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    steps_per_epoch = len(X) // batch_size
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    for epoch in range(epochs):
        model.train()
        batches = order.permutation(len(X))[: steps_per_epoch * batch_size].reshape(-1, batch_size)
        for rows in batches:
            rows = torch.from_numpy(rows)
            xb = X[rows]
            if order.rand() < 0.5:  # mirrored images are the same classes
                xb = xb.flip(3)
            loss = nn.functional.cross_entropy(model(xb), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if verbose:
            print(f"epoch {epoch + 1}: loss {loss.item():.3f}")
    model.eval()
    with torch.no_grad():
        predicted = model(preprocess(data["X_test"].transpose(0, 2, 3, 1))).argmax(1).numpy()
    return model, float((predicted == data["y_test"]).mean())


def build_weights(path=WEIGHTS):
    """Train the net and write its state dict to `path`; returns the test accuracy."""
    torch.set_num_threads(1)
    model, accuracy = train_embedded_convnet(verbose=True)
    torch.save(model.state_dict(), path)
    return accuracy


if __name__ == "__main__":
    print(f"test accuracy {build_weights():.3f}; weights written to {WEIGHTS}")
