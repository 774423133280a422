"""The independent oracle the reference layers are tested against: PyTorch autograd."""

import numpy as np
import torch


def rel(a, b):
    """max |a - b| / max |b|: the relative error of a against the oracle's b."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12)


def torch_grads(fn, arrays, dout):
    """fn applied to the arrays as tensors, and the gradients of sum(fn(...) * dout)."""
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]
