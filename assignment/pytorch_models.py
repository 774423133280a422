"""Models of PyTorch.ipynb at three levels of the API, and the loops that train them.

- Part II, barebones: the network is a function of its input and a list of tensors.
- Part III, nn.Module: the network is an object that owns (registers) its parameters.
- Part IV, nn.Sequential: the network is a stack of layers.
- Part V, your own model: `build_part5_model()` and its weights in `part5_weights.pt`.

Everything here works on any device and dtype: the tensors you are given decide.
"""

import math
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from tqdm.auto import tqdm
except ImportError:  # the loops run without a progress bar

    def tqdm(iterable, **kwargs):
        return iterable


PART5_WEIGHTS = Path(__file__).resolve().parents[1] / "part5_weights.pt"


# ---------------------------------------------------------------- Part II: barebones


def flatten(x):
    """Flatten each example of a batch into one row.

    Inputs:
    - x: tensor (N, d1, ..., dk)

    Returns:
    - tensor (N, d1 * ... * dk), the entries of each example in their original order
    """
    ### BEGIN SOLUTION
    return x.reshape(x.shape[0], -1)  # (N, D)
    ### END SOLUTION


def two_layer_fc(x, params):
    """A two-layer fully connected ReLU network (no biases): fc - relu - fc.

    Inputs:
    - x: tensor (N, d1, ..., dk) of N examples
    - params: [w1, w2], w1 (D, H) with D = d1 * ... * dk, w2 (H, C)

    Returns:
    - scores: tensor (N, C)
    """
    w1, w2 = params
    x = flatten(x)  # (N, D)
    x = F.relu(x.mm(w1))  # (N, H)
    return x.mm(w2)  # (N, C)


def three_layer_convnet(x, params):
    """conv (KH1 x KW1, pad 2) - relu - conv (KH2 x KW2, pad 1) - relu - fully connected.

    Both convolutions have stride 1 and biases. With the classic 5x5 and 3x3 filters they
    keep H and W; the scores are not passed through a softmax.

    Inputs:
    - x: tensor (N, C, H, W)
    - params: [conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b]
      - conv_w1 (channel_1, C, KH1, KW1), conv_b1 (channel_1,)
      - conv_w2 (channel_2, channel_1, KH2, KW2), conv_b2 (channel_2,)
      - fc_w (channel_2 * H2 * W2, num_classes), fc_b (num_classes,), where H2 x W2 is
        the size after both convolutions: H2 = H + 4 - KH1 + 1 + 2 - KH2 + 1 (W2 alike)

    Returns:
    - scores: tensor (N, num_classes)
    """
    conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b = params
    scores = None
    ### BEGIN SOLUTION
    x = F.relu(F.conv2d(x, conv_w1, conv_b1, padding=2))  # (N, channel_1, H', W')
    x = F.relu(F.conv2d(x, conv_w2, conv_b2, padding=1))  # (N, channel_2, H2, W2)
    scores = flatten(x).mm(fc_w) + fc_b  # (N, num_classes)
    ### END SOLUTION
    return scores


def random_weight(shape, dtype=torch.float32, device="cpu"):
    """A weight drawn with Kaiming (He) normal initialization, ready to be trained.

    Kaiming: normal with mean 0 and standard deviation sqrt(2 / fan_in), where fan_in is
    the number of inputs of each output unit: shape[0] for a fully connected weight
    (D, M) as used here (x.mm(w)), and in_channels * KH * KW, the product of shape[1:],
    for a conv weight (F, C, KH, KW).

    Inputs:
    - shape: tuple, (D, M) or (F, C, KH, KW)

    Returns:
    - tensor of that shape with requires_grad=True (autograd tracks it)
    """
    w = None
    ### BEGIN SOLUTION
    fan_in = shape[0] if len(shape) == 2 else math.prod(shape[1:])
    w = torch.randn(shape, dtype=dtype, device=device) * math.sqrt(2.0 / fan_in)
    w.requires_grad_()
    ### END SOLUTION
    return w


def zero_weight(shape, dtype=torch.float32, device="cpu"):
    """A tensor of zeros (a bias), with requires_grad=True."""
    return torch.zeros(shape, dtype=dtype, device=device, requires_grad=True)


def train_barebones(
    model_fn,
    params,
    loader_train,
    loader_val,
    learning_rate,
    epochs=1,
    device="cpu",
    print_every=100,
):
    """Plain SGD on a barebones model; returns the history (loss per step, val accuracy).

    The update runs under torch.no_grad() (it is not part of the graph) and zeroes each
    gradient by hand, as torch accumulates gradients across backward passes.
    """
    history = {"loss": [], "val_acc": []}
    for epoch in range(epochs):
        bar = tqdm(loader_train, desc=f"epoch {epoch + 1}/{epochs}", leave=False)
        for t, (x, y) in enumerate(bar):
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model_fn(x, params), y)
            loss.backward()
            with torch.no_grad():
                for w in params:
                    w -= learning_rate * w.grad
                    w.grad.zero_()
            history["loss"].append(loss.item())
            if t % print_every == 0 or t == len(loader_train) - 1:
                history["val_acc"].append(
                    (
                        t + epoch * len(loader_train),
                        accuracy_barebones(loader_val, model_fn, params, device),
                    )
                )
                bar.set_postfix(
                    loss=f"{loss.item():.3f}", val_acc=f"{history['val_acc'][-1][1]:.1%}"
                )
    print(f"loss {history['loss'][-1]:.4f}, validation accuracy {history['val_acc'][-1][1]:.2%}")
    return history


def accuracy_barebones(loader, model_fn, params, device="cpu"):
    """Fraction of the loader's examples that a barebones model classifies correctly."""
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            correct += (model_fn(x, params).argmax(dim=1) == y).sum().item()
            total += y.shape[0]
    return correct / total


# ---------------------------------------------------------------- Part III: nn.Module


class TwoLayerFC(nn.Module):
    """fc - relu - fc, with Kaiming normal initial weights."""

    def __init__(self, input_size, hidden_size, num_classes):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        nn.init.kaiming_normal_(self.fc1.weight)
        self.fc2 = nn.Linear(hidden_size, num_classes)
        nn.init.kaiming_normal_(self.fc2.weight)

    def forward(self, x):
        """x (N, d1, ..., dk) -> scores (N, num_classes)."""
        return self.fc2(F.relu(self.fc1(flatten(x))))


class ThreeLayerConvNet(nn.Module):
    """conv 5x5 (pad 2) - relu - conv 3x3 (pad 1) - relu - fully connected, as a module.

    Every layer is an attribute (or in an nn.ModuleList), so that model.parameters() finds
    its weights: the optimizer trains what the module registers and nothing else. Conv and
    fc weights start with nn.init.kaiming_normal_, biases at zero.
    """

    def __init__(self, in_channel, channel_1, channel_2, num_classes):
        """
        Inputs:
        - in_channel: C of the (N, C, 32, 32) images
        - channel_1, channel_2: filters of the two convolutions
        - num_classes: scores produced by the fully connected layer, whose input is
          channel_2 * 32 * 32 (both convolutions keep 32 x 32)
        """
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(in_channel, channel_1, 5, padding=2)
        self.conv2 = nn.Conv2d(channel_1, channel_2, 3, padding=1)
        self.fc = nn.Linear(channel_2 * 32 * 32, num_classes)
        for layer in (self.conv1, self.conv2, self.fc):
            nn.init.kaiming_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
        ### END SOLUTION

    def forward(self, x):
        """x (N, in_channel, 32, 32) -> scores (N, num_classes)."""
        scores = None
        ### BEGIN SOLUTION
        x = F.relu(self.conv1(x))  # (N, channel_1, 32, 32)
        x = F.relu(self.conv2(x))  # (N, channel_2, 32, 32)
        scores = self.fc(flatten(x))  # (N, num_classes)
        ### END SOLUTION
        return scores


def train_step(model, optimizer, x, y, loss_fn=F.cross_entropy):
    """One step of training: forward, loss, backward, update.

    Put the model in training mode (dropout drops, batch norm uses the batch's statistics),
    clear the gradients of the previous step (torch adds new gradients to old ones), compute
    the loss of the raw scores (F.cross_entropy applies the softmax itself), backpropagate
    and let the optimizer update the weights.

    Inputs:
    - model: an nn.Module mapping x to scores (N, C)
    - optimizer: a torch.optim optimizer over the model's parameters
    - x: tensor (N, ...) of inputs, on the model's device
    - y: int64 tensor (N,) of labels
    - loss_fn: loss_fn(scores, y) -> scalar tensor; cross-entropy by default

    Returns:
    - loss: the loss of this step, a Python float
    """
    ### BEGIN SOLUTION
    model.train()
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
    ### END SOLUTION


def check_accuracy(loader, model, device="cpu"):
    """The fraction of the loader's examples that the model classifies correctly.

    Evaluation mode (dropout off, batch norm with its running statistics) and no gradient
    tracking; the prediction is the class of the highest score. Counts every example, so a
    smaller last batch weighs what it holds.

    Inputs:
    - loader: iterable of (x, y) batches, x (B, ...) and y (B,)
    - model: an nn.Module mapping x to scores (B, C)
    - device: where to move each batch

    Returns:
    - accuracy: float in [0, 1]
    """
    ### BEGIN SOLUTION
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            correct += (model(x).argmax(dim=1) == y).sum().item()
            total += y.shape[0]
    return correct / total
    ### END SOLUTION


def train(
    model,
    optimizer,
    loader_train,
    loader_val,
    epochs=1,
    scheduler=None,
    device="cpu",
    loss_fn=F.cross_entropy,
    print_every=100,
    step_scheduler_per="batch",
    on_epoch_end=None,
):
    """Train with train_step, checking validation accuracy as it goes; returns the history.

    Inputs:
    - model, optimizer: what to train and how
    - loader_train, loader_val: iterables of (x, y) batches
    - epochs: passes over loader_train
    - scheduler: a torch.optim.lr_scheduler, stepped after every batch (or epoch, with
      step_scheduler_per="epoch")
    - loss_fn: passed to train_step (e.g. cross-entropy with label smoothing)
    - print_every: batches between validation checks (and at the end of every epoch)
    - on_epoch_end: called as on_epoch_end(epoch, model) after each epoch

    Returns a dict:
    - "loss": the loss of every step; "lr": the learning rate of every step
    - "val_acc": (step, accuracy) pairs; "epoch_seconds": training time of each epoch
    """
    model.to(device)
    history = {"loss": [], "lr": [], "val_acc": [], "epoch_seconds": []}
    steps = len(loader_train)
    for epoch in range(epochs):
        start = time.perf_counter()
        bar = tqdm(loader_train, desc=f"epoch {epoch + 1}/{epochs}", leave=False)
        for t, (x, y) in enumerate(bar):
            history["lr"].append(optimizer.param_groups[0]["lr"])
            history["loss"].append(
                train_step(model, optimizer, x.to(device), y.to(device), loss_fn)
            )
            if scheduler is not None and step_scheduler_per == "batch":
                scheduler.step()
            if (t + 1) % print_every == 0 or t == steps - 1:
                acc = check_accuracy(loader_val, model, device)
                history["val_acc"].append((epoch * steps + t + 1, acc))
                bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", val_acc=f"{acc:.1%}")
        history["epoch_seconds"].append(time.perf_counter() - start)
        if scheduler is not None and step_scheduler_per == "epoch":
            scheduler.step()
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
        print(
            f"epoch {epoch + 1}: loss {history['loss'][-1]:.4f}, validation accuracy "
            f"{history['val_acc'][-1][1]:.2%} ({history['epoch_seconds'][-1]:.1f} s)"
        )
    return history


# ---------------------------------------------------------------- Part IV: nn.Sequential


def sequential_two_layer_fc(input_size, hidden_size, num_classes):
    """TwoLayerFC as an nn.Sequential (default initialization)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(input_size, hidden_size),
        nn.ReLU(),
        nn.Linear(hidden_size, num_classes),
    )


def sequential_three_layer_convnet(in_channel, channel_1, channel_2, num_classes):
    """ThreeLayerConvNet as an nn.Sequential: the same layers in the same order (default
    initialization is fine).

    Inputs: as ThreeLayerConvNet (images (N, in_channel, 32, 32))

    Returns:
    - an nn.Sequential mapping x (N, in_channel, 32, 32) to scores (N, num_classes)
    """
    ### BEGIN SOLUTION
    return nn.Sequential(
        nn.Conv2d(in_channel, channel_1, 5, padding=2),
        nn.ReLU(),
        nn.Conv2d(channel_1, channel_2, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),  # (N, channel_2 * 32 * 32)
        nn.Linear(channel_2 * 32 * 32, num_classes),
    )
    ### END SOLUTION


# ---------------------------------------------------------------- Part V: your own model


def build_part5_model():
    """Your Part V network, freshly built (its weights are loaded from part5_weights.pt).

    The grader calls this with no arguments, loads your saved state_dict into what it
    returns and classifies normalized test images (N, 3, 32, 32), as get_cifar10_tensors
    gives them, by the highest of the (N, 10) scores. Build it from torch alone.

    Returns:
    - an nn.Module mapping x (N, 3, 32, 32) to scores (N, 10)
    """

    ### BEGIN SOLUTION
    class ResidualBlock(nn.Module):
        """Two 3x3 conv - batch norm layers whose output is added to the input (He et al. 2016)."""

        def __init__(self, channels):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            return F.relu(x + self.bn2(self.conv2(out)))

    def _down(c_in, c_out):
        """Strided 3x3 conv - batch norm - relu: halves H and W."""
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )

    class ResNetLite(nn.Module):
        """A small residual network: widths 16-32-64 at 32x32, 16x16 and 8x8, global average
        pooling, one fully connected layer. About 0.12 M parameters."""

        def __init__(self, width=16, num_classes=10):
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
            )
            self.stages = nn.Sequential(
                ResidualBlock(width),
                _down(width, 2 * width),
                ResidualBlock(2 * width),
                _down(2 * width, 4 * width),
                ResidualBlock(4 * width),
            )
            self.fc = nn.Linear(4 * width, num_classes)

        def forward(self, x):
            x = self.stages(self.stem(x))  # (N, 4 * width, 8, 8)
            return self.fc(x.mean(dim=(2, 3)))  # (N, num_classes)

    return ResNetLite()
    ### END SOLUTION


def save_part5_weights(model, path=PART5_WEIGHTS):
    """Save the trained Part V model's weights (its state_dict only, no code) for grading."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, path)
    print(f"saved {len(state)} tensors ({Path(path).stat().st_size / 1e6:.1f} MB) to {path}")


def load_part5_model(path=PART5_WEIGHTS):
    """build_part5_model() with the weights saved at `path`, in evaluation mode."""
    model = build_part5_model()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
