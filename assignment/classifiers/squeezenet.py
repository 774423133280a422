"""SqueezeNet 1.1 (Iandola et al., 2016) in plain PyTorch, loadable from torchvision's weights.

The module tree mirrors torchvision's `squeezenet1_1`, so its state dict has the same keys
(`features.0.weight`, `features.3.squeeze.weight`, ..., `classifier.1.bias`) and the
published file `squeezenet1_1-b8a52dc0.pth` loads with `torch.load` and no torchvision.
Fetch the file with `python datasets/get_datasets.py squeezenet`.

Like every model of Network_Visualization.ipynb, it splits in two:
`model.features(X)` gives the activations of the last convolutional block, (N, 512, 13, 13)
for a 224 x 224 input, and `model.head(A)` turns them into class scores (N, 1000), so that
`model(X) == model.head(model.features(X))`.
"""

import torch
from torch import nn

NUM_CLASSES = 1000


class Fire(nn.Module):
    """Squeeze with 1x1 filters, then expand with 1x1 and 3x3 filters side by side.

    The attribute names are torchvision's, which the weight file's keys depend on.
    """

    def __init__(self, in_channels, squeeze, expand1x1, expand3x3):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [
                self.expand1x1_activation(self.expand1x1(x)),
                self.expand3x3_activation(self.expand3x3(x)),
            ],
            dim=1,
        )


class SqueezeNet(nn.Module):
    """SqueezeNet 1.1: 1.2 million parameters, about 58% top-1 accuracy on ImageNet.

    Inputs of forward:
    - X: (N, 3, H, W) images normalized with the ImageNet mean and standard deviation
      (see net_visualization.preprocess); 224 x 224 is what it was trained on

    Returns:
    - scores: (N, num_classes) unnormalized class scores
    """

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        # The indices of the two Sequentials are part of the weight file's keys.
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(64, 16, 64, 64),
            Fire(128, 16, 64, 64),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(128, 32, 128, 128),
            Fire(256, 32, 128, 128),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(256, 48, 192, 192),
            Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5),
            nn.Conv2d(512, num_classes, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)),
        )
        self._init_weights()

    def _init_weights(self):
        """torchvision's initialization, so that an untrained model is the same kind of model."""
        final = self.classifier[1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                nn.init.constant_(m.bias, 0)

    def head(self, A):
        """Class scores (N, num_classes) from the last block's activations A (N, 512, H', W')."""
        return torch.flatten(self.classifier(A), 1)

    def forward(self, X):
        return self.head(self.features(X))


def load_squeezenet(path=None, device="cpu"):
    """The pretrained SqueezeNet 1.1 in evaluation mode, its parameters frozen.

    Inputs:
    - path: the weight file; None means datasets/squeezenet1_1-b8a52dc0.pth (a clear
      FileNotFoundError saying how to fetch it when it is missing)
    - device: where to put the model

    Returns:
    - model: SqueezeNet with requires_grad False on every parameter (gradients are taken
      with respect to images in this notebook, never the weights)
    """
    if path is None:
        from ..data_utils import squeezenet_weights_path

        path = squeezenet_weights_path()
    # weights_only: a weight file is data; never let it run code.
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = SqueezeNet()
    model.load_state_dict(state)
    return freeze(model).to(device)


def freeze(model):
    """Put `model` in evaluation mode with requires_grad False everywhere; returns it."""
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model
