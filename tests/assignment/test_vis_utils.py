"""Does visualize_grid tile every image where it belongs, rescaled on its own?"""

import numpy as np
import pytest

from assignment.vis_utils import visualize_grid

pytestmark = pytest.mark.conv


def test_grid_is_square_with_padding_and_each_tile_spans_0_to_ubound():
    rng = np.random.default_rng(0)
    Xs = rng.standard_normal((5, 3, 2, 3)) * np.arange(1, 6)[:, None, None, None]
    grid = visualize_grid(Xs, ubound=1.0, padding=2)
    assert grid.shape == (3 * 3 + 2 * 2, 3 * 2 + 2 * 2, 3)
    for n in range(5):
        top, left = (n // 3) * 5, (n % 3) * 4
        tile = grid[top : top + 3, left : left + 2]
        assert tile.min() == 0.0 and tile.max() == pytest.approx(1.0)
        expected = (Xs[n] - Xs[n].min()) / (Xs[n].max() - Xs[n].min())
        assert np.allclose(tile, expected)
    assert not grid[:, 2:4].any() and not grid[3:5].any()  # the padding
    assert not grid[5:8, 8:10].any()  # the cells after the last image


def test_constant_image_becomes_zero_not_nan():
    grid = visualize_grid(np.full((1, 2, 2, 1), 7.0))
    assert np.array_equal(grid, np.zeros((2, 2, 1)))


def test_rejects_a_batch_that_is_not_4d():
    with pytest.raises(
        ValueError, match=r"visualize_grid: Xs must be \(N, H, W, C\), got shape \(3, 4\)"
    ):
        visualize_grid(np.zeros((3, 4)))
