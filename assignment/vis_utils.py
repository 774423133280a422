"""Pictures of weights and activations: many small images tiled into one."""

import math

import numpy as np


def visualize_grid(Xs, ubound=255.0, padding=1):
    """Tile a batch of images into one square-ish grid, each image rescaled on its own.

    Each image is stretched linearly so that its smallest value becomes 0 and its largest
    ubound (a constant image becomes 0), which shows the pattern of every filter whatever
    its scale. Tiles are separated by `padding` pixels of 0.

    Inputs:
    - Xs: (N, H, W, C) images, for example conv filters w.transpose(0, 2, 3, 1)
    - ubound: the largest value of the output
    - padding: pixels between neighbouring tiles

    Returns:
    - grid: (G*H + (G-1)*padding, G*W + (G-1)*padding, C) with G = ceil(sqrt(N)), in row-major
      order of the tiles; cells past the N-th stay 0
    """
    Xs = np.asarray(Xs, dtype=np.float64)
    if Xs.ndim != 4:
        raise ValueError(f"visualize_grid: Xs must be (N, H, W, C), got shape {Xs.shape}")
    N, H, W, C = Xs.shape
    G = math.ceil(math.sqrt(N))
    grid = np.zeros((G * H + (G - 1) * padding, G * W + (G - 1) * padding, C))
    low = Xs.min(axis=(1, 2, 3), keepdims=True)  # (N, 1, 1, 1)
    span = Xs.max(axis=(1, 2, 3), keepdims=True) - low
    scaled = ubound * (Xs - low) / np.where(span > 0, span, 1.0)  # (N, H, W, C)
    for n in range(N):
        top, left = (n // G) * (H + padding), (n % G) * (W + padding)
        grid[top : top + H, left : left + W] = scaled[n]
    return grid
