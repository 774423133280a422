"""Fast convolution and max pooling in pure numpy (no compile step).

Same contracts as the naive layers in layers.py, rewritten so that the heavy work happens
inside a few large numpy calls instead of Python loops:

- Convolution uses im2col: every receptive field is copied into one column of a matrix, so
  the layer becomes a matrix product, which numpy hands to its BLAS (a few examples at a
  time, to keep that matrix small). The copies are arranged so that each one moves long
  contiguous runs of numbers (see _ColumnGrid), and the work arrays are kept between calls.
- Max pooling loops only over the pool_height * pool_width offsets inside a window; each
  step handles one offset of every window at once. The forward pass records which offset
  holds each window's maximum, so the backward pass only has to route dout there.

float32 inputs stay float32 (the products then run in single precision, about twice as
fast); float64 stays float64. On ties in a pooling window the gradient goes to the first
maximum in row-major order, as np.argmax (and max_pool_backward_naive) would pick it.
"""

import math
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

# ---------------------------------------------------------------------------- convolution


def conv_forward_fast(x, w, b, conv_param):
    """Convolutional layer as matrix products (im2col).

    Inputs:
    - x: (N, C, H, W)
    - w: (F, C, HH, WW) filters
    - b: (F,) biases
    - conv_param: dict with stride and pad (zeros added symmetrically to H and W)

    Returns a tuple of:
    - out: (N, F, H', W') with H' = 1 + (H + 2 * pad - HH) // stride
                               W' = 1 + (W + 2 * pad - WW) // stride
      and the dtype of x (float64 when x is not a float array)
    - cache: for conv_backward_fast
    """
    stride, pad = _conv_geometry("conv_forward_fast", x, w, b, conv_param)
    dtype = _float_dtype(x)
    out = _convolve(
        x.astype(dtype, copy=False),
        w.astype(dtype, copy=False),
        b.astype(dtype, copy=False),
        stride,
        pad,
    )
    cache = (x, w, b, conv_param)
    return out, cache


def _convolve(x, w, b, stride, pad):
    """The forward pass proper, on x, w and b of one float dtype."""
    F = w.shape[0]
    grid = _column_grid(x.shape, w.shape, stride, pad, x.dtype)
    w_rows = w.reshape(F, -1)  # (F, C*HH*WW)
    out = np.empty((x.shape[0], F, grid.H_out, grid.W_out), dtype=x.dtype)
    for n in grid.chunks:
        prod = _matmul_into(w_rows, grid.im2col(x[n]), grid.prod)  # (F, n*H'*Ws)
        # Filter-major and Ws wide; out is example-major like every other layer's.
        np.add(
            grid.crop(prod), b[:, None, None, None], out=out[n].transpose(1, 0, 2, 3)
        )  # (F, n, H', W')
    return out


def conv_backward_fast(dout, cache):
    """Backward pass of conv_forward_fast.

    Inputs:
    - dout: (N, F, H', W') upstream gradient
    - cache: from conv_forward_fast

    Returns a tuple of:
    - dx: (N, C, H, W)
    - dw: (F, C, HH, WW)
    - db: (F,)
    each with the dtype of its input. Input positions that no window covers (when stride
    does not divide H + 2 * pad - HH) get a zero gradient.
    """
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    dtype = _float_dtype(x)
    F, C, HH, WW = w.shape
    grid = _column_grid(x.shape, w.shape, stride, pad, dtype)
    _check_dout("conv_backward_fast", dout, (x.shape[0], F, grid.H_out, grid.W_out))
    xf = x.astype(dtype, copy=False)
    w_rows = w.reshape(F, -1).astype(dtype, copy=False)  # (F, C*HH*WW)
    dout = dout.astype(dtype, copy=False)
    # With stride 1, dx is itself a convolution: of dout with the filters flipped in space,
    # input and output channels swapped, and padding HH - 1 - pad. Its im2col copies cost
    # less than the sums of col2im when the filters have no more output than input channels.
    as_convolution = stride == 1 and HH == WW and pad < HH and F <= C
    if as_convolution:
        w_flipped = w.astype(dtype, copy=False).transpose(1, 0, 2, 3)[
            :, :, ::-1, ::-1
        ]  # (C, F, HH, WW)
        dx = _convolve(dout, np.ascontiguousarray(w_flipped), np.zeros(C, dtype), 1, HH - 1 - pad)
    else:
        dx = np.empty(x.shape, dtype=dtype)
    # Accumulated transposed: cols @ dout_rows.T ran faster in float32 than dout_rows @ cols.T.
    dw_cols = np.zeros(w_rows.shape[::-1], dtype=dtype)  # (C*HH*WW, F)
    db = dout.sum(axis=(0, 2, 3))
    for n in grid.chunks:
        # The columns are rebuilt rather than cached: all of them hold about HH*WW/stride**2
        # times as many numbers as x, and rebuilding one chunk (which then sits in cache)
        # measured faster than keeping every chunk's columns from the forward pass.
        cols = grid.im2col(xf[n])  # (C*HH*WW, n*H'*Ws)
        dout_rows = grid.widen(dout[n])  # (F, n*H'*Ws)
        dw_cols += cols @ dout_rows.T
        if not as_convolution:
            grid.col2im(w_rows, dout_rows, dx[n])
    dw = np.ascontiguousarray(dw_cols.T).reshape(w.shape)  # (F, C, HH, WW)
    return (
        dx.astype(x.dtype, copy=False),
        dw.astype(w.dtype, copy=False),
        db.astype(b.dtype, copy=False),
    )


# The batch goes through a few examples at a time. A chunk's column matrix, about
# _CHUNK_BYTES, stays in the processor's cache and its memory is reused by the next chunk;
# one matrix for the whole batch can take hundreds of megabytes of freshly allocated
# memory, which is slow to fill and to read back. At least _MIN_CHUNK examples go together
# so that the Python loop around the chunks costs little.
_CHUNK_BYTES = 2**21
_MIN_CHUNK = 4


def _chunks(N, bytes_per_example):
    """Slices of the N examples, each with about _CHUNK_BYTES of columns."""
    step = max(_MIN_CHUNK, _CHUNK_BYTES // bytes_per_example)
    return [slice(n, n + step) for n in range(0, N, step)]


def _column_grid(x_shape, w_shape, stride, pad, dtype):
    """The _ColumnGrid for these shapes, kept from an earlier call when there was one.

    Training calls each layer with the same shapes again and again; keeping the work arrays
    spares allocating them every time, and fresh memory is slow (the system hands it over a
    page at a time). Each thread keeps its own few, so concurrent calls never share one.
    """
    key = (tuple(x_shape), tuple(w_shape), stride, pad, np.dtype(dtype), _CHUNK_BYTES, _MIN_CHUNK)
    kept = _kept.__dict__.setdefault("grids", {})
    if key not in kept:
        if len(kept) >= _KEPT_GRIDS:
            del kept[next(iter(kept))]  # the oldest
        kept[key] = _ColumnGrid(*key[:5])
    return kept[key]


_kept = threading.local()
_KEPT_GRIDS = 8


class _ColumnGrid:
    """im2col and col2im for one convolution's shapes, with work arrays reused across chunks.

    A window offset (kh, kw) reads the padded input at rows kh + stride*i, columns kw +
    stride*j. Split the padded input into its stride x stride sub-grids xp[..., a::stride,
    b::stride], each flattened per channel and example: offset (kh, kw) then lies in
    sub-grid (kh % stride, kw % stride), shifted by kh // stride rows and kw // stride
    columns, which in the flattened sub-grid is one contiguous run of H' rows of Ws numbers.
    So im2col copies long contiguous runs, and col2im adds such runs back. Each output row
    is computed Ws wide (Ws >= W', the sub-grid's width); crop drops the extra columns,
    which read neighbouring inputs and mean nothing.
    """

    def __init__(self, x_shape, w_shape, stride, pad, dtype):
        N, C, H, W = x_shape
        F, _, HH, WW = w_shape
        self.x_shape, self.HH, self.WW, self.stride, self.pad = x_shape, HH, WW, stride, pad
        self.H_out, self.W_out = _conv_out_size(x_shape, HH, WW, stride, pad)
        Hs, self.Ws = -(-(H + 2 * pad) // stride), -(-(W + 2 * pad) // stride)
        # An output row reads at most (WW - 1) // stride columns past W' - 1 and the last
        # valid one stays inside its sub-grid row, but the cropped columns of the last row
        # can run past the sub-grid: the spare row at the bottom keeps them inside the example.
        self.rows = Hs + 1
        self.width = self.H_out * self.Ws  # numbers in one example's run, H' rows of Ws
        self.chunks = _chunks(N, C * HH * WW * self.width * np.dtype(dtype).itemsize)
        step = self.chunks[0].stop - self.chunks[0].start
        self.grids = np.zeros((stride, stride, C, min(step, N), self.rows, self.Ws), dtype=dtype)
        self.cols = np.empty((C, HH, WW, min(step, N), self.width), dtype=dtype)
        self.dgrids = None  # col2im's own sub-grids: im2col's must keep their zero padding
        self.wide = np.zeros((F, min(step, N), self.H_out, self.Ws), dtype=dtype)
        self.prod = np.empty((F, min(step, N) * self.width), dtype=dtype)
        # Where x's pixels go in the sub-grids, and which run each window offset reads.
        self.parts = list(self._parts())
        self.offsets = [
            (kh, kw, kh % stride, kw % stride, (kh // stride) * self.Ws + kw // stride)
            for kh in range(HH)
            for kw in range(WW)
        ]
        self.views = {}  # (method, n) -> the array views its loop uses, made once

    def _parts(self):
        """For each sub-grid (a, b): its index, x's rows and columns in it, and where they go."""
        H, W = self.x_shape[2:]
        s, p = self.stride, self.pad
        for a in range(s):
            for b in range(s):
                r0, c0 = -(-(p - a) // s) if p > a else 0, -(-(p - b) // s) if p > b else 0
                rows, cols = slice(a + s * r0 - p, H, s), slice(b + s * c0 - p, W, s)
                nr, nc = len(range(H)[rows]), len(range(W)[cols])
                yield a, b, rows, cols, slice(r0, r0 + nr), slice(c0, c0 + nc)

    def _runs(self, grids, n):
        """The run view (C, n, H'*Ws) of the flattened sub-grids that each window offset reads."""
        flat = grids.reshape(*grids.shape[:4], -1)  # (s, s, C, n, rows*Ws)
        return [flat[a, b, :, :n, shift : shift + self.width] for _, _, a, b, shift in self.offsets]

    def _im2col_views(self, n):
        """(columns, runs) view pairs, one per sub-grid (a, b), that im2col copies.

        The offsets (kh, kw) = (a + stride*qh, b + stride*qw) all read sub-grid (a, b), at
        shift qh*Ws + qw: one strided view with an axis for qh and one for qw covers all
        their runs, so a single copy fills those rows of the columns.
        """
        s, Ws = self.stride, self.Ws
        flat = self.grids.reshape(*self.grids.shape[:4], -1)  # (s, s, C, n, rows*Ws)
        pairs = []
        for a in range(min(s, self.HH)):
            for b in range(min(s, self.WW)):
                grid = flat[a, b]  # (C, n, rows*Ws)
                shape = (
                    grid.shape[0],
                    len(range(a, self.HH, s)),
                    len(range(b, self.WW, s)),
                    n,
                    self.width,
                )
                strides = (
                    grid.strides[0],
                    Ws * grid.strides[2],
                    grid.strides[2],
                    grid.strides[1],
                    grid.strides[2],
                )
                runs = as_strided(
                    grid, shape, strides, writeable=False
                )  # (C, HH/s, WW/s, n, H'*Ws)
                pairs.append((self.cols[:, a::s, b::s, :n], runs))
        return pairs

    def im2col(self, x):
        """x: (n, C, H, W) -> columns (C*HH*WW, n*H'*Ws), rows ordered like w.reshape(F, -1)."""
        n = x.shape[0]
        if ("im2col", n) not in self.views:
            self.views["im2col", n] = self._im2col_views(n)
        xt = x.transpose(1, 0, 2, 3)  # (C, n, H, W)
        for a, b, rows, cols, grid_rows, grid_cols in self.parts:
            self.grids[a, b, :, :n, grid_rows, grid_cols] = xt[:, :, rows, cols]
        for column_rows, run in self.views["im2col", n]:
            np.copyto(column_rows, run)  # (C, HH/stride, WW/stride, n, H'*Ws)
        return self.cols[:, :, :, :n].reshape(-1, n * self.width)  # (C*HH*WW, n*H'*Ws)

    def crop(self, prod):
        """(F, n*H'*Ws) -> view (F, n, H', W')"""
        return prod.reshape(prod.shape[0], -1, self.H_out, self.Ws)[..., : self.W_out]

    def widen(self, dout):
        """dout (n, F, H', W') -> (F, n*H'*Ws), zero in the columns crop drops."""
        n, F = dout.shape[:2]
        wide = self.wide[:, :n]  # (F, n, H', Ws), its cropped columns still zero
        wide[..., : self.W_out] = dout.transpose(1, 0, 2, 3)
        return wide.reshape(F, -1)

    def col2im(self, w_rows, dout_rows, dx):
        """Write dx (n, C, H, W) of a chunk: the column gradients w_rows.T @ dout_rows, each
        added back onto the input it was copied from.

        The product goes into the memory of the columns, used up by then. Its dropped
        columns are zero (widen zeroes them), so adding them where they overlap other
        positions changes nothing.
        """
        n = dx.shape[0]
        dcols = _matmul_into(w_rows.T, dout_rows, self.cols)  # (C*HH*WW, n*H'*Ws)
        if self.dgrids is None:
            self.dgrids = np.empty_like(self.grids)
        dgrids = self.dgrids
        if ("col2im", n) not in self.views:
            dcols = dcols.reshape(*self.cols.shape[:3], n, self.width)  # (C, HH, WW, n, H'*Ws)
            self.views["col2im", n] = [
                (run, dcols[:, kh, kw])
                for (kh, kw, *_), run in zip(self.offsets, self._runs(dgrids, n))
            ]
        dgrids[:, :, :, :n] = 0
        for run, column_rows in self.views["col2im", n]:
            run += column_rows  # (C, n, H'*Ws)
        dxt = dx.transpose(1, 0, 2, 3)  # (C, n, H, W)
        for a, b, rows, cols, grid_rows, grid_cols in self.parts:
            dxt[:, :, rows, cols] = dgrids[a, b, :, :n, grid_rows, grid_cols]


def _matmul_into(a, b, work):
    """a @ b, written into the start of the contiguous array work (which must be big enough)."""
    shape = (a.shape[0], b.shape[1])
    return np.matmul(a, b, out=work.reshape(-1)[: math.prod(shape)].reshape(shape))


def _conv_out_size(x_shape, HH, WW, stride, pad):
    """(H', W') of a convolution; trailing rows or columns a stride cannot reach are dropped."""
    return 1 + (x_shape[2] + 2 * pad - HH) // stride, 1 + (x_shape[3] + 2 * pad - WW) // stride


def _conv_geometry(name, x, w, b, conv_param):
    """Check the shapes of a convolution; return (stride, pad) or raise a ValueError."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    if not (_is_int(stride) and stride >= 1 and _is_int(pad) and pad >= 0):
        raise ValueError(
            f"{name}: expected an integer stride >= 1 and pad >= 0, "
            f"got stride={stride!r}, pad={pad!r}"
        )
    if np.ndim(x) != 4 or np.ndim(w) != 4:
        raise ValueError(
            f"{name}: expected x (N, C, H, W) and w (F, C, HH, WW), "
            f"got x {np.shape(x)} and w {np.shape(w)}"
        )
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"{name}: x has C={x.shape[1]} channels but w {w.shape} expects C={w.shape[1]}"
        )
    if np.shape(b) != (w.shape[0],):
        raise ValueError(f"{name}: expected b of shape (F,) = ({w.shape[0]},), got {np.shape(b)}")
    H_padded, W_padded = x.shape[2] + 2 * pad, x.shape[3] + 2 * pad
    if w.shape[2] > H_padded or w.shape[3] > W_padded:
        raise ValueError(
            f"{name}: filter HH x WW = {w.shape[2]} x {w.shape[3]} is larger than "
            f"the padded input {H_padded} x {W_padded} (x {x.shape}, pad={pad})"
        )
    return stride, pad


# ---------------------------------------------------------------------------- max pooling


def max_pool_forward_fast(x, pool_param):
    """Max pooling (no padding), picking the faster method for the shape.

    The reshape method runs when pool_height == pool_width == stride and the windows tile
    x exactly; the general method handles everything else (overlapping windows, gaps,
    uncovered trailing rows). Both give identical results; max_pool_method tells which one
    a shape gets.

    Inputs:
    - x: (N, C, H, W)
    - pool_param: dict with pool_height, pool_width and stride

    Returns a tuple of:
    - out: (N, C, H', W') with H' = 1 + (H - pool_height) // stride
                               W' = 1 + (W - pool_width) // stride
    - cache: for max_pool_backward_fast
    """
    method = max_pool_method(np.shape(x), pool_param)
    if method == "reshape":
        out, cache = max_pool_forward_reshape(x, pool_param)
    else:
        out, cache = max_pool_forward_general(x, pool_param)
    return out, (method, cache)


def max_pool_backward_fast(dout, cache):
    """Backward pass of max_pool_forward_fast.

    Inputs:
    - dout: (N, C, H', W') upstream gradient
    - cache: from max_pool_forward_fast

    Returns:
    - dx: (N, C, H, W). Each window's gradient goes to its first maximum in row-major
      order; an input that is the maximum of several overlapping windows gets their sum.
    """
    method, cache = cache
    if method == "reshape":
        return max_pool_backward_reshape(dout, cache)
    return max_pool_backward_general(dout, cache)


def max_pool_method(x_shape, pool_param):
    """Which method max_pool_forward_fast uses for this input shape: 'reshape' or 'general'.

    Inputs:
    - x_shape: (N, C, H, W)
    - pool_param: dict with pool_height, pool_width and stride
    """
    ph, pw, stride = _pool_geometry("max_pool_forward_fast", x_shape, pool_param)
    tiles = ph == pw == stride and x_shape[2] % ph == 0 and x_shape[3] % pw == 0
    return "reshape" if tiles else "general"


def max_pool_forward_reshape(x, pool_param):
    """Max pooling of windows that tile x (pool_height == pool_width == stride).

    x.reshape(N, C, H', ph, W', pw) is a view whose axes 3 and 5 run inside a window, so
    each window offset (kh, kw) is a plain strided view of x: no copy of x is made.

    Inputs:
    - x: (N, C, H, W) with H and W multiples of the stride
    - pool_param: dict with pool_height, pool_width and stride

    Returns a tuple of:
    - out: (N, C, H / stride, W / stride)
    - cache: for max_pool_backward_reshape
    """
    ph, pw, stride = _pool_geometry("max_pool_forward_reshape", np.shape(x), pool_param)
    if max_pool_method(x.shape, pool_param) != "reshape":
        raise ValueError(
            f"max_pool_forward_reshape: needs pool_height == pool_width == stride "
            f"dividing H and W, got {ph} x {pw} windows, stride {stride}, x {x.shape}; "
            f"use max_pool_forward_general"
        )
    windows = _tiled_windows(x, ph, pw)  # (ph, pw, N, C, H', W')
    out, first = _max_and_first_argmax(
        windows[k] for k in np.ndindex(ph, pw)
    )  # (N, C, H', W') each
    return out, (x.shape, x.dtype, first, pool_param)


def max_pool_backward_reshape(dout, cache):
    """Backward pass of max_pool_forward_reshape.

    Inputs:
    - dout: (N, C, H', W') upstream gradient
    - cache: from max_pool_forward_reshape

    Returns:
    - dx: (N, C, H, W), the gradient at the first maximum of each window, zero elsewhere.
      (A mask x == max, the usual shortcut, would hand every tied maximum the full gradient.)
    """
    x_shape, dtype, first, pool_param = cache
    _check_dout("max_pool_backward_reshape", dout, first.shape)
    ph, pw = pool_param["pool_height"], pool_param["pool_width"]
    dx = np.empty(x_shape, dtype=dtype)  # every input lies in exactly one window: all written
    dx_windows = _tiled_windows(dx, ph, pw)  # a view, so writing it writes dx
    is_first = np.empty(first.shape, dtype=bool)
    for i, k in enumerate(np.ndindex(ph, pw)):
        np.equal(first, i, out=is_first)
        np.multiply(is_first, dout, out=dx_windows[k])
    return dx


def _tiled_windows(x, ph, pw):
    """View x (N, C, H, W) as (ph, pw, N, C, H/ph, W/pw); [kh, kw] is offset (kh, kw) of all
    windows."""
    N, C, H, W = x.shape
    return x.reshape(N, C, H // ph, ph, W // pw, pw).transpose(
        3, 5, 0, 1, 2, 4
    )  # (ph, pw, N, C, H', W')


def max_pool_forward_general(x, pool_param):
    """Max pooling for any window size and stride (overlapping windows included).

    Offset (kh, kw) of every window is x[..., kh::stride, kw::stride], a view whose short
    rows make each numpy call slow. So x is first split into its stride x stride sub-grids
    x[..., a::stride, b::stride], each flattened: offset (kh, kw) then lies in sub-grid
    (kh % stride, kw % stride), shifted by kh // stride rows and kw // stride columns, which
    in the flat array is one long contiguous slice. Outputs are computed for every position
    of a sub-grid (a little more than H' x W') and the extra ones cropped at the end.

    Inputs:
    - x: (N, C, H, W)
    - pool_param: dict with pool_height, pool_width and stride

    Returns a tuple of:
    - out: (N, C, H', W') with H' = 1 + (H - pool_height) // stride
                               W' = 1 + (W - pool_width) // stride
    - cache: for max_pool_backward_general
    """
    ph, pw, stride = _pool_geometry("max_pool_forward_general", np.shape(x), pool_param)
    grids, shifts = _split_subgrids(x, ph, pw, stride)
    size = math.prod(_subgrid_shape(x.shape, stride))
    out_wide, first = _max_and_first_argmax(
        grids[a, b, s : s + size] for a, b, s in shifts
    )  # (N*C*Hs*Ws,)
    H_out, W_out = _pool_out_size(x.shape, ph, pw, stride)
    out = _as_subgrid(out_wide, x.shape, stride)[:, :, :H_out, :W_out].copy()  # (N, C, H', W')
    return out, (x.shape, grids.dtype, shifts, first, pool_param)


def max_pool_backward_general(dout, cache):
    """Backward pass of max_pool_forward_general.

    Inputs:
    - dout: (N, C, H', W') upstream gradient
    - cache: from max_pool_forward_general

    Returns:
    - dx: (N, C, H, W); gradients of overlapping windows add up
    """
    x_shape, dtype, shifts, first, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H_out, W_out = _pool_out_size(x_shape, ph, pw, stride)
    _check_dout("max_pool_backward_general", dout, (*x_shape[:2], H_out, W_out))
    # Positions cropped away in the forward pass get zero gradient, so they pass on nothing.
    size = first.size
    key = (x_shape, ph, pw, stride, np.dtype(dtype))
    dout_wide = _kept_zeros("dout_wide", key, size, dtype)  # (N*C*Hs*Ws,)
    _as_subgrid(dout_wide, x_shape, stride)[:, :, :H_out, :W_out] = dout
    dgrids = _kept_zeros("dgrids", key, (stride, stride, size + shifts[-1][2]), dtype)
    dgrids[...] = 0
    is_first = np.empty(size, dtype=bool)
    grad = _kept_zeros("grad", key, size, dtype)
    for i, (a, b, s) in enumerate(shifts):
        np.equal(first, i, out=is_first)
        dgrids[a, b, s : s + size] += np.multiply(is_first, dout_wide, out=grad)
    return _merge_subgrids(dgrids, x_shape, stride)


def _split_subgrids(x, ph, pw, stride):
    """Copy x into its stride x stride flattened sub-grids.

    Returns:
    - grids: (stride, stride, N*C*Hs*Ws + tail) with Hs = ceil(H / stride), Ws = ceil(W / stride);
      grids[a, b] holds x[..., a::stride, b::stride] zero-padded to Hs x Ws, then `tail`
      zeros so that the largest shift stays inside the array. A kept work array: it holds
      this x until the next call with the same shapes.
    - shifts: (a, b, flat shift) of each window offset (kh, kw), in row-major order
    """
    shape = _subgrid_shape(x.shape, stride)
    Ws = shape[3]
    shifts = [
        (kh % stride, kw % stride, (kh // stride) * Ws + kw // stride)
        for kh, kw in np.ndindex(ph, pw)
    ]
    grids = _kept_zeros(
        "grids",
        (x.shape, ph, pw, stride, x.dtype),
        (stride, stride, math.prod(shape) + shifts[-1][2]),
        x.dtype,
    )
    for a, b in np.ndindex(stride, stride):
        part = x[:, :, a::stride, b::stride]
        _as_subgrid(grids[a, b], x.shape, stride)[:, :, : part.shape[2], : part.shape[3]] = part
    return grids, shifts


def _kept_zeros(role, key, shape, dtype):
    """A work array, zeros when first made for this role and key, then kept between calls.

    Fresh memory is slow (the system hands it over a page at a time), and a pooling layer
    sees the same shapes call after call. Callers write the same positions every time, so
    whatever they leave alone stays zero. Each thread keeps its own few.
    """
    kept = _kept.__dict__.setdefault("arrays", {})
    if (role, key) not in kept:
        if len(kept) >= _KEPT_ARRAYS:
            del kept[next(iter(kept))]  # the oldest
        kept[role, key] = np.zeros(shape, dtype=dtype)
    return kept[role, key]


_KEPT_ARRAYS = 16


def _merge_subgrids(grids, x_shape, stride):
    """Inverse of _split_subgrids: gather the sub-grids back into one (N, C, H, W) array."""
    x = np.empty(x_shape, dtype=grids.dtype)  # the sub-grids partition x, so all of it is written
    for a, b in np.ndindex(stride, stride):
        part = x[:, :, a::stride, b::stride]
        part[...] = _as_subgrid(grids[a, b], x_shape, stride)[
            :, :, : part.shape[2], : part.shape[3]
        ]
    return x


def _subgrid_shape(x_shape, stride):
    """(N, C, Hs, Ws), the shape of the largest sub-grid x[..., a::stride, b::stride]."""
    N, C, H, W = x_shape
    return N, C, -(-H // stride), -(-W // stride)


def _as_subgrid(flat, x_shape, stride):
    """View the start of a flat array as one (N, C, Hs, Ws) sub-grid."""
    shape = _subgrid_shape(x_shape, stride)
    return flat[: math.prod(shape)].reshape(shape)  # (N, C, Hs, Ws)


def _max_and_first_argmax(values):
    """Elementwise maximum of equally shaped arrays, and which of them first holds it.

    Inputs:
    - values: an iterable of K equally shaped arrays, one per window offset in row-major order
    Returns:
    - out: their elementwise maximum, a new array
    - first: the index (0..K-1) of the first array that holds each maximum, as np.argmax
      would pick it; small unsigned integers, as backward passes need nothing else
    """
    values = list(values)
    out = np.array(values[0])
    first = np.zeros(out.shape, dtype=np.min_scalar_type(len(values) - 1))
    if len(values) == 1:
        return out, first
    is_new = np.empty(out.shape, dtype=bool)
    step = np.empty(out.shape, dtype=first.dtype)
    for i, v in enumerate(values[1:], 1):
        np.greater(v, out, out=is_new)  # strictly: a tie leaves the earlier offset in first
        np.maximum(out, v, out=out)
        # first = i where is_new, else unchanged; i exceeds every index so far, so a maximum
        # does it.
        np.maximum(first, np.multiply(is_new, first.dtype.type(i), out=step), out=first)
    return out, first


def _pool_out_size(x_shape, ph, pw, stride):
    """(H', W') of a pooling layer; trailing rows or columns a stride cannot reach are dropped."""
    return 1 + (x_shape[2] - ph) // stride, 1 + (x_shape[3] - pw) // stride


def _pool_geometry(name, x_shape, pool_param):
    """Check a pooling layer's shapes; return (pool_height, pool_width, stride) or raise a
    ValueError."""
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    if not all(_is_int(v) and v >= 1 for v in (ph, pw, stride)):
        raise ValueError(
            f"{name}: expected integer pool_height, pool_width and stride >= 1, "
            f"got {ph!r}, {pw!r}, {stride!r}"
        )
    if len(x_shape) != 4:
        raise ValueError(f"{name}: expected x (N, C, H, W), got shape {tuple(x_shape)}")
    if ph > x_shape[2] or pw > x_shape[3]:
        raise ValueError(
            f"{name}: {ph} x {pw} window is larger than the input "
            f"{x_shape[2]} x {x_shape[3]} (x {tuple(x_shape)})"
        )
    return ph, pw, stride


# ---------------------------------------------------------------------------- shared checks


def _float_dtype(x):
    """The dtype a layer computes in: x's own when it is a float type, else float64."""
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_dout(name, dout, expected_shape):
    if np.shape(dout) != tuple(expected_shape):
        raise ValueError(
            f"{name}: dout has shape {np.shape(dout)}, expected {tuple(expected_shape)} "
            f"(the shape of the forward output)"
        )
