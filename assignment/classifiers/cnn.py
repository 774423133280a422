"""A three-layer convolutional network."""

import numpy as np

from ..layer_utils import (
    affine_relu_backward,
    affine_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)
from ..layers import affine_backward, affine_forward, softmax_loss


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax.

    Works on minibatches of shape (N, C, H, W). The convolution keeps H and W (stride 1,
    pad (filter_size - 1) // 2), and the pool halves them.

    Parameters, in self.params:
    - W1: (num_filters, C, filter_size, filter_size), b1: (num_filters,)
    - W2: (num_filters * H/2 * W/2, hidden_dim), b2: (hidden_dim,)
    - W3: (hidden_dim, num_classes), b3: (num_classes,)
    """

    def __init__(
        self,
        input_dim=(3, 32, 32),
        num_filters=32,
        filter_size=7,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        dtype=np.float32,
    ):
        """
        Inputs:
        - input_dim: (C, H, W) of one input
        - num_filters: F, filters of the convolution
        - filter_size: width and height of each (odd) filter
        - hidden_dim: units of the hidden affine layer
        - num_classes: scores produced by the last affine layer
        - weight_scale: standard deviation of the random initial weights (biases start at 0)
        - reg: L2 strength; the loss adds 0.5 * reg * sum(W**2) over W1, W2 and W3
        - dtype: of every parameter and of the computation
        """
        self.params = {}
        self.reg = reg
        self.dtype = dtype
        ### BEGIN SOLUTION
        C, H, W = input_dim
        self.params["W1"] = weight_scale * np.random.randn(num_filters, C, filter_size, filter_size)
        self.params["b1"] = np.zeros(num_filters)
        self.params["W2"] = weight_scale * np.random.randn(
            num_filters * (H // 2) * (W // 2), hidden_dim
        )
        self.params["b2"] = np.zeros(hidden_dim)
        self.params["W3"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["b3"] = np.zeros(num_classes)
        ### END SOLUTION
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        """Scores of a minibatch, or its loss and the gradients (as FullyConnectedNet.loss).

        Inputs:
        - X: (N, C, H, W) images
        - y: (N,) labels in 0..num_classes-1, or None for a test-time forward pass

        Returns:
        - when y is None: scores (N, num_classes)
        - otherwise a tuple of loss (mean softmax loss plus 0.5 * reg * the sum of the squares
          of W1, W2 and W3) and grads (dict keyed like self.params, each shaped like its
          parameter)
        """
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        W3, b3 = self.params["W3"], self.params["b3"]
        conv_param = {"stride": 1, "pad": (W1.shape[2] - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

        scores = None
        ### BEGIN SOLUTION
        h1, cache1 = conv_relu_pool_forward(X.astype(self.dtype), W1, b1, conv_param, pool_param)
        h2, cache2 = affine_relu_forward(h1, W2, b2)
        scores, cache3 = affine_forward(h2, W3, b3)
        ### END SOLUTION

        if y is None:
            return scores

        grads = {}
        loss = None
        ### BEGIN SOLUTION
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2) + np.sum(W3 * W3))
        dh2, grads["W3"], grads["b3"] = affine_backward(dscores, cache3)
        dh1, grads["W2"], grads["b2"] = affine_relu_backward(dh2, cache2)
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dh1, cache1)
        for k in ("W1", "W2", "W3"):
            grads[k] += self.reg * self.params[k]
        ### END SOLUTION
        return loss, grads
