"""A fully connected network of any depth, with optional normalization and dropout."""

import numpy as np

from ..layer_utils import (
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from ..layers import (
    affine_backward,
    affine_forward,
    dropout_backward,
    dropout_forward,
    softmax_loss,
)

NORMALIZATIONS = (None, "batchnorm", "layernorm")


class FullyConnectedNet:
    """{affine - [batchnorm|layernorm] - relu - [dropout]} x (L - 1) - affine - softmax.

    Parameters, in self.params:
    - W1 .. WL: (input_dim, H1), (H1, H2), ..., (H_{L-1}, num_classes)
    - b1 .. bL: (H1,), ..., (num_classes,)
    - gamma1 .. gamma{L-1}, beta1 .. beta{L-1}: (H_i,), only with normalization

    Initialise layer by layer in order: W = weight_scale * randn(in, out), then b = zeros
    (gamma = ones, beta = zeros). The seeded checks of the notebooks depend on this order.
    """

    def __init__(
        self,
        hidden_dims,
        input_dim=3 * 32 * 32,
        num_classes=10,
        dropout_keep_ratio=1,
        normalization=None,
        reg=0.0,
        weight_scale=1e-2,
        dtype=np.float32,
        seed=None,
    ):
        """
        Inputs:
        - hidden_dims: list of the sizes of the hidden layers
        - input_dim: D, size of one (flattened) input
        - num_classes: C
        - dropout_keep_ratio: keep probability of dropout after each ReLU; 1 means no dropout
        - normalization: None, 'batchnorm' or 'layernorm', before each hidden ReLU
        - reg: L2 strength; the loss adds 0.5 * reg * sum(W**2) over the weights W only
        - weight_scale: standard deviation of the random initial weights
        - dtype: of every parameter and of the computation (float64 for gradient checks)
        - seed: when given, seeds the dropout masks so that checks are reproducible
        """
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"FullyConnectedNet: normalization must be one of {NORMALIZATIONS}, "
                f"got {normalization!r}"
            )
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}

        ### BEGIN SOLUTION
        dims = [input_dim, *hidden_dims, num_classes]
        for i in range(1, self.num_layers + 1):
            self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i - 1], dims[i])
            self.params[f"b{i}"] = np.zeros(dims[i])
            if normalization is not None and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(dims[i])
                self.params[f"beta{i}"] = np.zeros(dims[i])
        ### END SOLUTION

        # Dropout and batchnorm keep state between calls (mode, seed, running statistics).
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed
        self.bn_params = []
        if self.normalization == "batchnorm":
            self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]
        if self.normalization == "layernorm":
            self.bn_params = [{} for _ in range(self.num_layers - 1)]

        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        """Scores, or the loss and its gradients.

        Inputs:
        - X: (N, d_1, ..., d_k) inputs
        - y: (N,) labels, or None

        Returns:
        - when y is None: scores (N, C) of a test-time forward pass
        - otherwise (loss, grads): the data loss plus L2, and grads keyed like self.params
        """
        X = X.astype(self.dtype)
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        if self.normalization == "batchnorm":
            for bn_param in self.bn_params:
                bn_param["mode"] = mode

        scores = None
        ### BEGIN SOLUTION
        caches = []
        h = X
        for i in range(1, self.num_layers):
            W, b = self.params[f"W{i}"], self.params[f"b{i}"]
            if self.normalization is None:
                h, cache = affine_relu_forward(h, W, b)
            else:
                h, cache = affine_norm_relu_forward(
                    h,
                    W,
                    b,
                    self.params[f"gamma{i}"],
                    self.params[f"beta{i}"],
                    self.bn_params[i - 1],
                    self.normalization,
                )
            drop_cache = None
            if self.use_dropout:
                h, drop_cache = dropout_forward(h, self.dropout_param)
            caches.append((cache, drop_cache))
        L = self.num_layers
        scores, last_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        ### END SOLUTION

        if mode == "test":
            return scores

        grads = {}
        loss = None
        ### BEGIN SOLUTION
        loss, dscores = softmax_loss(scores, y)
        weights = [self.params[f"W{i}"] for i in range(1, L + 1)]
        loss += 0.5 * self.reg * sum(np.sum(W * W) for W in weights)

        dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, last_cache)
        for i in range(L - 1, 0, -1):
            cache, drop_cache = caches[i - 1]
            if self.use_dropout:
                dh = dropout_backward(dh, drop_cache)
            if self.normalization is None:
                dh, grads[f"W{i}"], grads[f"b{i}"] = affine_relu_backward(dh, cache)
            else:
                (dh, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"]) = (
                    affine_norm_relu_backward(dh, cache)
                )
        for i in range(1, L + 1):
            grads[f"W{i}"] += self.reg * self.params[f"W{i}"]
        ### END SOLUTION
        return loss, grads
