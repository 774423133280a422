"""Fast convolution and max pooling in pure numpy (no compile step).

Same contracts as the naive layers in layers.py, rewritten so that the heavy work happens
inside a few large numpy calls instead of Python loops:

- Convolution uses im2col: every receptive field is copied into one column of a matrix, so
  the layer becomes a matrix product, which numpy hands to its BLAS (a few examples at a
  time, to keep that matrix small).
- Max pooling loops only over the pool_height * pool_width offsets inside a window; each
  step handles one offset of every window at once.

float32 inputs stay float32 (the products then run in single precision, about twice as
fast); float64 stays float64. On ties in a pooling window the gradient goes to the first
maximum in row-major order, as np.argmax (and max_pool_backward_naive) would pick it.
"""
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


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
    F, C, HH, WW = w.shape
    H_out, W_out = _conv_out_size(x.shape, HH, WW, stride, pad)
    xf = x.astype(dtype, copy=False)
    w_rows = w.reshape(F, -1).astype(dtype, copy=False)  # (F, C*HH*WW)
    b_col = b.astype(dtype, copy=False)[:, None]  # (F, 1)
    out = np.empty((x.shape[0], F, H_out, W_out), dtype=dtype)
    for n in _chunks(x.shape[0], w_rows.shape[1] * H_out * W_out * xf.itemsize):
        prod = w_rows @ _im2col(xf[n], HH, WW, stride, pad)  # (F, n*H'*W')
        prod += b_col
        # The product comes out filter-major; out is example-major like every other layer's.
        out[n] = prod.reshape(F, -1, H_out, W_out).transpose(1, 0, 2, 3)  # (n, F, H', W')
    cache = (x, w, b, conv_param)
    return out, cache


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
    F, C, HH, WW = w.shape
    H_out, W_out = _conv_out_size(x.shape, HH, WW, stride, pad)
    _check_dout("conv_backward_fast", dout, (x.shape[0], F, H_out, W_out))
    dtype = _float_dtype(x)
    xf = x.astype(dtype, copy=False)
    w_rows = w.reshape(F, -1).astype(dtype, copy=False)  # (F, C*HH*WW)
    dout = dout.astype(dtype, copy=False)
    dx = np.empty(x.shape, dtype=dtype)
    dw = np.zeros(w_rows.shape, dtype=dtype)
    db = np.zeros(F, dtype=dtype)
    for n in _chunks(x.shape[0], w_rows.shape[1] * H_out * W_out * xf.itemsize):
        # The columns are rebuilt rather than cached: all of them hold about HH*WW/stride**2
        # times as many numbers as x, and rebuilding one chunk (which then sits in cache)
        # measured faster than keeping every chunk's columns from the forward pass.
        cols = _im2col(xf[n], HH, WW, stride, pad)  # (C*HH*WW, n*H'*W')
        dout_rows = dout[n].transpose(1, 0, 2, 3).reshape(F, -1)  # (F, n*H'*W')
        db += dout_rows.sum(axis=1)
        dw += dout_rows @ cols.T
        _col2im(w_rows.T @ dout_rows, dx[n], HH, WW, stride, pad)
    return (dx.astype(x.dtype, copy=False), dw.reshape(w.shape).astype(w.dtype, copy=False),
            db.astype(b.dtype, copy=False))


# The batch goes through a few examples at a time. A chunk's column matrix, about
# _CHUNK_BYTES, stays in the processor's cache and its memory is reused by the next chunk;
# one matrix for the whole batch can take hundreds of megabytes of freshly allocated
# memory, which is slow to fill and to read back. At least _MIN_CHUNK examples go together
# so that the Python loop around the chunks costs little.
_CHUNK_BYTES = 2 ** 21
_MIN_CHUNK = 4


def _chunks(N, bytes_per_example):
    """Slices of the N examples, each with about _CHUNK_BYTES of columns."""
    step = max(_MIN_CHUNK, _CHUNK_BYTES // bytes_per_example)
    return [slice(n, n + step) for n in range(0, N, step)]


def _im2col(x, HH, WW, stride, pad):
    """Copy every receptive field of the zero-padded x into one column of a matrix.

    Rows are ordered (c, kh, kw), like w.reshape(F, -1); columns (n, i, j), so that the
    matrix feeds a single BLAS call.

    Inputs:
    - x: (n, C, H, W)
    Returns:
    - cols: (C*HH*WW, n*H'*W'), C-contiguous
    """
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (n, C, H+2pad, W+2pad)
    windows = sliding_window_view(xp, (HH, WW), axis=(2, 3))  # (n, C, H+2pad-HH+1, W+2pad-WW+1, HH, WW)
    windows = windows[:, :, ::stride, ::stride]  # (n, C, H', W', HH, WW)
    # reshape cannot express this transpose as a view, so it makes the one im2col copy.
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(x.shape[1] * HH * WW, -1)  # (C*HH*WW, n*H'*W')


def _col2im(dcols, dx, HH, WW, stride, pad):
    """Sum column gradients back onto the input positions they were copied from.

    Loops over the HH*WW kernel offsets: each step adds one strided slice for every window
    at once, several times faster than np.add.at with fancy indices.

    Inputs:
    - dcols: (C*HH*WW, n*H'*W'), laid out as _im2col's result
    - dx: (n, C, H, W), overwritten with the result
    """
    n, C, H, W = dx.shape
    H_out, W_out = _conv_out_size(dx.shape, HH, WW, stride, pad)
    dcols = dcols.reshape(C, HH, WW, n, H_out, W_out)  # (C, HH, WW, n, H', W')
    # Channel-major like dcols, so both sides of each += walk memory in the same order.
    dxp = np.zeros((C, n, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)
    for kh in range(HH):
        rows = slice(kh, kh + stride * (H_out - 1) + 1, stride)
        for kw in range(WW):
            cols = slice(kw, kw + stride * (W_out - 1) + 1, stride)
            dxp[:, :, rows, cols] += dcols[:, kh, kw]  # (C, n, H', W')
    dx[...] = dxp[:, :, pad:pad + H, pad:pad + W].transpose(1, 0, 2, 3)  # (n, C, H, W)


def _conv_out_size(x_shape, HH, WW, stride, pad):
    """(H', W') of a convolution; trailing rows or columns a stride cannot reach are dropped."""
    return 1 + (x_shape[2] + 2 * pad - HH) // stride, 1 + (x_shape[3] + 2 * pad - WW) // stride


def _conv_geometry(name, x, w, b, conv_param):
    """Check the shapes of a convolution; return (stride, pad) or raise a ValueError."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    if not (_is_int(stride) and stride >= 1 and _is_int(pad) and pad >= 0):
        raise ValueError(f"{name}: expected an integer stride >= 1 and pad >= 0, "
                         f"got stride={stride!r}, pad={pad!r}")
    if np.ndim(x) != 4 or np.ndim(w) != 4:
        raise ValueError(f"{name}: expected x (N, C, H, W) and w (F, C, HH, WW), "
                         f"got x {np.shape(x)} and w {np.shape(w)}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{name}: x has C={x.shape[1]} channels but w {w.shape} expects "
                         f"C={w.shape[1]}")
    if np.shape(b) != (w.shape[0],):
        raise ValueError(f"{name}: expected b of shape (F,) = ({w.shape[0]},), got {np.shape(b)}")
    H_padded, W_padded = x.shape[2] + 2 * pad, x.shape[3] + 2 * pad
    if w.shape[2] > H_padded or w.shape[3] > W_padded:
        raise ValueError(f"{name}: filter HH x WW = {w.shape[2]} x {w.shape[3]} is larger than "
                         f"the padded input {H_padded} x {W_padded} (x {x.shape}, pad={pad})")
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
        raise ValueError(f"max_pool_forward_reshape: needs pool_height == pool_width == stride "
                         f"dividing H and W, got {ph} x {pw} windows, stride {stride}, x {x.shape}; "
                         f"use max_pool_forward_general")
    windows = _tiled_windows(x, ph, pw)  # (ph, pw, N, C, H', W')
    out = _max_over_offsets(windows[k] for k in np.ndindex(ph, pw))  # (N, C, H', W')
    return out, (x, out, pool_param)


def max_pool_backward_reshape(dout, cache):
    """Backward pass of max_pool_forward_reshape.

    Inputs:
    - dout: (N, C, H', W') upstream gradient
    - cache: from max_pool_forward_reshape

    Returns:
    - dx: (N, C, H, W), the gradient at the first maximum of each window, zero elsewhere.
      (A mask x == max, the usual shortcut, would hand every tied maximum the full gradient.)
    """
    x, out, pool_param = cache
    _check_dout("max_pool_backward_reshape", dout, out.shape)
    ph, pw = pool_param["pool_height"], pool_param["pool_width"]
    offsets = list(np.ndindex(ph, pw))
    windows = _tiled_windows(x, ph, pw)  # (ph, pw, N, C, H', W')
    dx = np.empty(x.shape, dtype=x.dtype)  # every input lies in exactly one window: all written
    dx_windows = _tiled_windows(dx, ph, pw)  # a view, so writing it writes dx
    left = dout.astype(out.dtype, copy=True)
    grads = _route_to_first_max((windows[k] for k in offsets), out, left)
    for k, grad in zip(offsets, grads):
        dx_windows[k] = grad
    return dx


def _tiled_windows(x, ph, pw):
    """View x (N, C, H, W) as (ph, pw, N, C, H/ph, W/pw); [kh, kw] is offset (kh, kw) of all windows."""
    N, C, H, W = x.shape
    return x.reshape(N, C, H // ph, ph, W // pw, pw).transpose(3, 5, 0, 1, 2, 4)  # (ph, pw, N, C, H', W')


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
    out_wide = _max_over_offsets(grids[a, b, s:s + size] for a, b, s in shifts)  # (N*C*Hs*Ws,)
    H_out, W_out = _pool_out_size(x.shape, ph, pw, stride)
    out = _as_subgrid(out_wide, x.shape, stride)[:, :, :H_out, :W_out].copy()  # (N, C, H', W')
    return out, (x.shape, grids, shifts, out_wide, pool_param)


def max_pool_backward_general(dout, cache):
    """Backward pass of max_pool_forward_general.

    Inputs:
    - dout: (N, C, H', W') upstream gradient
    - cache: from max_pool_forward_general

    Returns:
    - dx: (N, C, H, W); gradients of overlapping windows add up
    """
    x_shape, grids, shifts, out_wide, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H_out, W_out = _pool_out_size(x_shape, ph, pw, stride)
    _check_dout("max_pool_backward_general", dout, (*x_shape[:2], H_out, W_out))
    # Positions cropped away in the forward pass get zero gradient, so they pass on nothing.
    dout_wide = np.zeros_like(out_wide)  # (N*C*Hs*Ws,)
    _as_subgrid(dout_wide, x_shape, stride)[:, :, :H_out, :W_out] = dout
    size = out_wide.size
    dgrids = np.zeros_like(grids)
    grads = _route_to_first_max((grids[a, b, s:s + size] for a, b, s in shifts), out_wide, left=dout_wide)
    for (a, b, s), grad in zip(shifts, grads):
        dgrids[a, b, s:s + size] += grad
    return _merge_subgrids(dgrids, x_shape, stride)


def _split_subgrids(x, ph, pw, stride):
    """Copy x into its stride x stride flattened sub-grids.

    Returns:
    - grids: (stride, stride, N*C*Hs*Ws + tail) with Hs = ceil(H / stride), Ws = ceil(W / stride);
      grids[a, b] holds x[..., a::stride, b::stride] zero-padded to Hs x Ws, then `tail`
      zeros so that the largest shift stays inside the array
    - shifts: (a, b, flat shift) of each window offset (kh, kw), in row-major order
    """
    shape = _subgrid_shape(x.shape, stride)
    Ws = shape[3]
    shifts = [(kh % stride, kw % stride, (kh // stride) * Ws + kw // stride)
              for kh, kw in np.ndindex(ph, pw)]
    grids = np.zeros((stride, stride, math.prod(shape) + shifts[-1][2]), dtype=x.dtype)
    for a, b in np.ndindex(stride, stride):
        part = x[:, :, a::stride, b::stride]
        _as_subgrid(grids[a, b], x.shape, stride)[:, :, :part.shape[2], :part.shape[3]] = part
    return grids, shifts


def _merge_subgrids(grids, x_shape, stride):
    """Inverse of _split_subgrids: gather the sub-grids back into one (N, C, H, W) array."""
    x = np.empty(x_shape, dtype=grids.dtype)  # the sub-grids partition x, so all of it is written
    for a, b in np.ndindex(stride, stride):
        part = x[:, :, a::stride, b::stride]
        part[...] = _as_subgrid(grids[a, b], x_shape, stride)[:, :, :part.shape[2], :part.shape[3]]
    return x


def _subgrid_shape(x_shape, stride):
    """(N, C, Hs, Ws), the shape of the largest sub-grid x[..., a::stride, b::stride]."""
    N, C, H, W = x_shape
    return N, C, -(-H // stride), -(-W // stride)


def _as_subgrid(flat, x_shape, stride):
    """View the start of a flat array as one (N, C, Hs, Ws) sub-grid."""
    shape = _subgrid_shape(x_shape, stride)
    return flat[:math.prod(shape)].reshape(shape)  # (N, C, Hs, Ws)


def _max_over_offsets(values):
    """Elementwise maximum of an iterable of equally shaped arrays, as a new array."""
    values = iter(values)
    out = np.array(next(values))
    for v in values:
        np.maximum(out, v, out=out)
    return out


def _route_to_first_max(values, out, left):
    """Yield, offset by offset in row-major order, the gradient each window offset receives.

    values yields the inputs at one offset of every window, shaped like out; left starts as
    the upstream gradient (shaped like out) and is used up. An offset takes what is still
    left where it equals the window's maximum, leaving nothing for later offsets, so on ties
    only the first maximum gets the gradient. The yielded array is reused: use it before
    asking for the next one.
    """
    is_max = np.empty(out.shape, dtype=bool)
    grad = np.empty_like(left)
    for i, v in enumerate(values):
        if i:
            left -= grad  # what the previous offset took
        np.equal(v, out, out=is_max)
        np.multiply(is_max, left, out=grad)
        yield grad


def _pool_out_size(x_shape, ph, pw, stride):
    """(H', W') of a pooling layer; trailing rows or columns a stride cannot reach are dropped."""
    return 1 + (x_shape[2] - ph) // stride, 1 + (x_shape[3] - pw) // stride


def _pool_geometry(name, x_shape, pool_param):
    """Check a pooling layer's shapes; return (pool_height, pool_width, stride) or raise a ValueError."""
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    if not all(_is_int(v) and v >= 1 for v in (ph, pw, stride)):
        raise ValueError(f"{name}: expected integer pool_height, pool_width and stride >= 1, "
                         f"got {ph!r}, {pw!r}, {stride!r}")
    if len(x_shape) != 4:
        raise ValueError(f"{name}: expected x (N, C, H, W), got shape {tuple(x_shape)}")
    if ph > x_shape[2] or pw > x_shape[3]:
        raise ValueError(f"{name}: {ph} x {pw} window is larger than the input "
                         f"{x_shape[2]} x {x_shape[3]} (x {tuple(x_shape)})")
    return ph, pw, stride


# ---------------------------------------------------------------------------- shared checks

def _float_dtype(x):
    """The dtype a layer computes in: x's own when it is a float type, else float64."""
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_dout(name, dout, expected_shape):
    if np.shape(dout) != tuple(expected_shape):
        raise ValueError(f"{name}: dout has shape {np.shape(dout)}, expected {tuple(expected_shape)} "
                         f"(the shape of the forward output)")
