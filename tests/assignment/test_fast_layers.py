"""Do the provided fast conv and pooling layers agree with an independent oracle (PyTorch's
autograd in float64, float64 centred differences, the naive layers when implemented), keep
dtypes, leave their inputs alone and reject shapes that do not fit?"""

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from assignment import fast_layers as fl
from assignment.checks.numeric import numeric_gradient

from .oracle import rel, torch_grads

pytestmark = pytest.mark.conv
TORCH_TOL = 1e-9  # float64 against float64: only summation order differs
NUMERIC_TOL = 1e-7  # centred differences, h=1e-5, on well-scaled inputs
FLOAT32_TOL = 1e-4  # float32 result against the float64 one

torch.set_num_threads(1)

# (x shape, w shape, stride, pad): non-square inputs and filters, pad 0, strides 2 and 3,
# single example / channel / filter, strides that leave trailing rows or columns uncovered.
CONV_CASES = {
    "classic": ((2, 3, 4, 4), (3, 3, 4, 4), 2, 1),
    "same-3x3": ((4, 3, 5, 5), (2, 3, 3, 3), 1, 1),
    "non-square": ((2, 3, 7, 10), (4, 3, 3, 5), 1, 2),
    "pad-0": ((3, 2, 6, 9), (5, 2, 2, 3), 1, 0),
    "stride-2-uneven": ((2, 3, 8, 7), (3, 3, 3, 2), 2, 0),
    "stride-3": ((2, 2, 11, 9), (3, 2, 3, 3), 3, 1),
    "stride-3-uneven": ((1, 2, 10, 12), (2, 2, 4, 3), 3, 2),
    "batch-1-C-1-F-1": ((1, 1, 6, 5), (1, 1, 3, 2), 1, 1),
    "filter-fills-input": ((2, 3, 5, 4), (2, 3, 5, 4), 1, 0),
    "pad-larger-than-filter": ((2, 2, 3, 4), (3, 2, 2, 2), 2, 3),
}

# (x shape, pool_height, pool_width, stride, method the fast layer should pick)
POOL_CASES = {
    "2x2/2 tiles": ((2, 3, 8, 6), 2, 2, 2, "reshape"),
    "3x3/3 tiles": ((2, 2, 9, 12), 3, 3, 3, "reshape"),
    "1x1/1 tiles": ((1, 2, 3, 4), 1, 1, 1, "reshape"),
    "2x2/2 odd H": ((2, 3, 9, 8), 2, 2, 2, "general"),
    "3x3/2 overlap": ((2, 3, 9, 11), 3, 3, 2, "general"),
    "3x3/1 overlap": ((2, 2, 7, 6), 3, 3, 1, "general"),
    "2x3/1 non-square": ((1, 3, 6, 8), 2, 3, 1, "general"),
    "2x2/3 gaps": ((2, 2, 10, 11), 2, 2, 3, "general"),
    "4x2/2 mixed": ((3, 1, 10, 7), 4, 2, 2, "general"),
}


def conv_inputs(case, seed, dtype=np.float64):
    x_shape, w_shape, stride, pad = CONV_CASES[case]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    return x, w, b, {"stride": stride, "pad": pad}


def pool_inputs(case, seed, dtype=np.float64):
    x_shape, ph, pw, stride, method = POOL_CASES[case]
    # A permutation has no ties, so every oracle agrees on where the gradient goes.
    x = np.random.default_rng(seed).permutation(np.prod(x_shape)).reshape(x_shape).astype(dtype)
    return x, {"pool_height": ph, "pool_width": pw, "stride": stride}, method


def naive_layer(name):
    """The naive layer from layers.py, or skip while it is a stub or missing."""
    layers = pytest.importorskip("assignment.layers")
    if not hasattr(layers, name):
        pytest.skip(f"layers.{name} does not exist yet")
    return getattr(layers, name)


def call_or_skip(f, *args):
    try:
        return f(*args)
    except NotImplementedError:
        pytest.skip(f"{f.__name__} is not implemented")


def first_max_pool_backward(x, dout, ph, pw, stride):
    """Loop reference of the documented tie rule: each window's gradient goes to its
    first maximum in row-major order (np.argmax)."""
    dx = np.zeros_like(x)
    N, C, H_out, W_out = dout.shape
    for n, c, i, j in np.ndindex(N, C, H_out, W_out):
        window = x[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw]
        kh, kw = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, i * stride + kh, j * stride + kw] += dout[n, c, i, j]
    return dx


# ---------------------------------------------------------------------------- convolution


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_torch_forward_and_all_grads(case, seed):
    x, w, b, conv_param = conv_inputs(case, seed)
    out, cache = fl.conv_forward_fast(x, w, b, conv_param)
    dout = np.random.default_rng(seed + 100).standard_normal(out.shape)
    conv = lambda x, w, b: tF.conv2d(
        x, w, b, stride=conv_param["stride"], padding=conv_param["pad"]
    )
    t_out, t_grads = torch_grads(conv, [x, w, b], dout)
    assert out.shape == t_out.shape, f"{case}: out shape {out.shape}, torch {t_out.shape}"
    assert rel(out, t_out) < TORCH_TOL, f"{case}: out rel. error {rel(out, t_out):.1e}"
    for name, g, t in zip(("dx", "dw", "db"), fl.conv_backward_fast(dout, cache), t_grads):
        assert g.shape == t.shape and rel(g, t) < TORCH_TOL, (
            f"{case}: {name} rel. error {rel(g, t):.1e}"
        )


def test_conv_matches_torch_on_the_notebook_timing_shape():
    """The notebook's fast-versus-naive comparison: x (100, 3, 31, 31), w (25, 3, 3, 3),
    stride 2, pad 1."""
    rng = np.random.default_rng(3)
    x, w, b = (
        rng.standard_normal((100, 3, 31, 31)),
        rng.standard_normal((25, 3, 3, 3)),
        rng.standard_normal(25),
    )
    out, cache = fl.conv_forward_fast(x, w, b, {"stride": 2, "pad": 1})
    dout = rng.standard_normal(out.shape)
    t_out, t_grads = torch_grads(
        lambda x, w, b: tF.conv2d(x, w, b, stride=2, padding=1), [x, w, b], dout
    )
    assert out.shape == (100, 25, 16, 16) and rel(out, t_out) < TORCH_TOL
    for g, t in zip(fl.conv_backward_fast(dout, cache), t_grads):
        assert rel(g, t) < TORCH_TOL


@pytest.mark.parametrize("case", ["stride-2-uneven", "stride-3", "same-3x3"])
def test_conv_split_into_chunks_of_examples_matches_torch(case, monkeypatch):
    """Batches go through in chunks of examples; force chunks of 2, 2 and 1 examples."""
    x_shape, w_shape, stride, pad = CONV_CASES[case]
    rng = np.random.default_rng(26)
    x, w, b = (
        rng.standard_normal((5, *x_shape[1:])),
        rng.standard_normal(w_shape),
        rng.standard_normal(w_shape[0]),
    )
    conv_param = {"stride": stride, "pad": pad}
    monkeypatch.setattr(fl, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(fl, "_MIN_CHUNK", 2)
    out, cache = fl.conv_forward_fast(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    conv = lambda x, w, b: tF.conv2d(x, w, b, stride=stride, padding=pad)
    t_out, t_grads = torch_grads(conv, [x, w, b], dout)
    assert rel(out, t_out) < TORCH_TOL
    for name, g, t in zip(("dx", "dw", "db"), fl.conv_backward_fast(dout, cache), t_grads):
        assert rel(g, t) < TORCH_TOL, f"{case}: {name} rel. error {rel(g, t):.1e}"
    assert len(fl._chunks(5, bytes_per_example=8)) == 3


def test_conv_grads_match_centred_differences():
    x, w, b, conv_param = conv_inputs("stride-2-uneven", seed=4)
    out, cache = fl.conv_forward_fast(x, w, b, conv_param)
    dout = np.random.default_rng(5).standard_normal(out.shape)
    dx, dw, db = fl.conv_backward_fast(dout, cache)
    numeric = {
        "dx": numeric_gradient(
            lambda v: fl.conv_forward_fast(v, w, b, conv_param)[0], x.copy(), dout
        ),
        "dw": numeric_gradient(
            lambda v: fl.conv_forward_fast(x, v, b, conv_param)[0], w.copy(), dout
        ),
        "db": numeric_gradient(
            lambda v: fl.conv_forward_fast(x, w, v, conv_param)[0], b.copy(), dout
        ),
    }
    for name, g in (("dx", dx), ("dw", dw), ("db", db)):
        assert rel(g, numeric[name]) < NUMERIC_TOL, f"{name} rel. error {rel(g, numeric[name]):.1e}"


def test_uncovered_rows_and_columns_get_zero_gradient():
    """x (1, 1, 6, 8), 3x3 filter, stride 2, no pad: row 5 and column 7 lie in no window."""
    rng = np.random.default_rng(6)
    x, w, b = (
        rng.standard_normal((1, 1, 6, 8)),
        rng.standard_normal((1, 1, 3, 3)),
        rng.standard_normal(1),
    )
    out, cache = fl.conv_forward_fast(x, w, b, {"stride": 2, "pad": 0})
    assert out.shape == (1, 1, 2, 3)
    dx, _, _ = fl.conv_backward_fast(np.ones_like(out), cache)
    assert np.all(dx[..., 5, :] == 0) and np.all(dx[..., :, 7] == 0)
    assert np.all(dx[..., :5, :7] != 0)


@pytest.mark.parametrize("case", ["classic", "non-square", "stride-3-uneven"])
def test_conv_matches_the_naive_layer(case):
    forward, backward = naive_layer("conv_forward_naive"), naive_layer("conv_backward_naive")
    x, w, b, conv_param = conv_inputs(case, seed=7)
    naive_out, naive_cache = call_or_skip(forward, x, w, b, conv_param)
    out, cache = fl.conv_forward_fast(x, w, b, conv_param)
    dout = np.random.default_rng(8).standard_normal(out.shape)
    assert rel(out, naive_out) < TORCH_TOL
    naive_grads = call_or_skip(backward, dout, naive_cache)
    for name, g, n in zip(("dx", "dw", "db"), fl.conv_backward_fast(dout, cache), naive_grads):
        assert rel(g, n) < TORCH_TOL, (
            f"{case}: {name} rel. error {rel(g, n):.1e} against the naive layer"
        )


def test_conv_float32_stays_float32_and_close_to_float64():
    x, w, b, conv_param = conv_inputs("non-square", seed=9)
    dout = np.random.default_rng(10).standard_normal((2, 4, 9, 10))
    out64, cache64 = fl.conv_forward_fast(x, w, b, conv_param)
    f32 = [a.astype(np.float32) for a in (x, w, b)]
    out32, cache32 = fl.conv_forward_fast(*f32, conv_param)
    grads32 = fl.conv_backward_fast(dout.astype(np.float32), cache32)
    assert out32.dtype == np.float32 and [g.dtype for g in grads32] == [np.float32] * 3
    assert out32.flags.c_contiguous and all(g.flags.c_contiguous for g in grads32)
    assert rel(out32, out64) < FLOAT32_TOL
    for g32, g64 in zip(grads32, fl.conv_backward_fast(dout, cache64)):
        assert rel(g32, g64) < FLOAT32_TOL


def test_conv_leaves_its_inputs_unchanged():
    x, w, b, conv_param = conv_inputs("stride-3", seed=11)
    saved = [a.copy() for a in (x, w, b)] + [dict(conv_param)]
    out, cache = fl.conv_forward_fast(x, w, b, conv_param)
    dout = np.random.default_rng(12).standard_normal(out.shape)
    dout_saved = dout.copy()
    fl.conv_backward_fast(dout, cache)
    for a, s in zip((x, w, b), saved):
        assert np.array_equal(a, s)
    assert conv_param == saved[3] and np.array_equal(dout, dout_saved)


@pytest.mark.parametrize(
    "x_shape,w_shape,b_shape,conv_param,message",
    [
        ((2, 3, 8, 8), (4, 2, 3, 3), (4,), {"stride": 1, "pad": 1}, r"C=3 channels.*C=2"),
        (
            (2, 3, 4, 4),
            (4, 3, 7, 3),
            (4,),
            {"stride": 1, "pad": 1},
            r"7 x 3 is larger than the padded input 6 x 6",
        ),
        ((2, 3, 8, 8), (4, 3, 3, 3), (3,), {"stride": 1, "pad": 1}, r"b of shape \(F,\) = \(4,\)"),
        ((2, 3, 8, 8), (4, 3, 3, 3), (4,), {"stride": 0, "pad": 1}, r"stride >= 1"),
        ((2, 3, 8, 8), (4, 3, 3, 3), (4,), {"stride": 1, "pad": -1}, r"pad >= 0"),
        ((3, 8, 8), (4, 3, 3, 3), (4,), {"stride": 1, "pad": 1}, r"x \(N, C, H, W\)"),
    ],
)
def test_conv_rejects_shapes_that_do_not_fit(x_shape, w_shape, b_shape, conv_param, message):
    x, w, b = np.zeros(x_shape), np.zeros(w_shape), np.zeros(b_shape)
    with pytest.raises(ValueError, match="conv_forward_fast: .*" + message):
        fl.conv_forward_fast(x, w, b, conv_param)


def test_conv_backward_rejects_a_dout_of_the_wrong_shape():
    x, w, b, conv_param = conv_inputs("classic", seed=13)
    out, cache = fl.conv_forward_fast(x, w, b, conv_param)
    with pytest.raises(
        ValueError,
        match=r"conv_backward_fast: dout has shape \(2, 3, 2, 3\), expected \(2, 3, 2, 2\)",
    ):
        fl.conv_backward_fast(np.zeros((2, 3, 2, 3)), cache)


# ---------------------------------------------------------------------------- max pooling


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_matches_torch_and_takes_the_expected_method(case, seed):
    x, pool_param, method = pool_inputs(case, seed)
    assert fl.max_pool_method(x.shape, pool_param) == method
    out, cache = fl.max_pool_forward_fast(x, pool_param)
    dout = np.random.default_rng(seed + 100).standard_normal(out.shape)
    pool = lambda x: tF.max_pool2d(
        x, (pool_param["pool_height"], pool_param["pool_width"]), pool_param["stride"]
    )
    t_out, (t_dx,) = torch_grads(pool, [x], dout)
    dx = fl.max_pool_backward_fast(dout, cache)
    assert out.shape == t_out.shape and np.array_equal(out, t_out)
    assert dx.shape == x.shape and rel(dx, t_dx) < TORCH_TOL, (
        f"{case}: dx rel. error {rel(dx, t_dx):.1e}"
    )


@pytest.mark.parametrize("case", [c for c, v in POOL_CASES.items() if v[-1] == "reshape"])
def test_reshape_and_general_methods_agree_even_on_ties(case):
    x_shape, ph, pw, stride, _ = POOL_CASES[case]
    rng = np.random.default_rng(14)
    x = rng.integers(0, 3, size=x_shape).astype(np.float64)  # many ties
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out_r, cache_r = fl.max_pool_forward_reshape(x, pool_param)
    out_g, cache_g = fl.max_pool_forward_general(x, pool_param)
    dout = rng.standard_normal(out_r.shape)
    dx_r, dx_g = (
        fl.max_pool_backward_reshape(dout, cache_r),
        fl.max_pool_backward_general(dout, cache_g),
    )
    assert np.array_equal(out_r, out_g) and np.array_equal(dx_r, dx_g)


@pytest.mark.parametrize("case", POOL_CASES)
def test_ties_send_the_gradient_to_the_first_max_in_row_major_order(case):
    x_shape, ph, pw, stride, _ = POOL_CASES[case]
    rng = np.random.default_rng(15)
    x = rng.integers(0, 3, size=x_shape).astype(np.float64)
    out, cache = fl.max_pool_forward_fast(
        x, {"pool_height": ph, "pool_width": pw, "stride": stride}
    )
    dout = rng.standard_normal(out.shape)
    expected = first_max_pool_backward(x, dout, ph, pw, stride)
    assert rel(fl.max_pool_backward_fast(dout, cache), expected) < TORCH_TOL


def test_a_window_of_equal_values_gives_its_whole_gradient_to_its_top_left():
    x = np.ones((1, 1, 4, 4))
    tiles = {"pool_height": 2, "pool_width": 2, "stride": 2}
    overlapping = {"pool_height": 3, "pool_width": 3, "stride": 1}  # windows start at (0|1, 0|1)
    expected = {
        "reshape": [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]],
        "general": [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    }
    for pool_param in (tiles, overlapping):
        out, cache = fl.max_pool_forward_fast(x, pool_param)
        dx = fl.max_pool_backward_fast(np.ones_like(out), cache)
        method = fl.max_pool_method(x.shape, pool_param)
        assert np.array_equal(dx[0, 0], expected[method]), f"{method}: dx {dx[0, 0].tolist()}"


def test_overlapping_windows_accumulate_their_gradients():
    """The centre of a 3x3 input is the max of all four 2x2 stride-1 windows."""
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 1}
    out, cache = fl.max_pool_forward_fast(x, pool_param)
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = fl.max_pool_backward_fast(dout, cache)
    expected = np.zeros_like(x)
    expected[0, 0, 1, 1] = 10.0
    assert np.array_equal(out, np.ones((1, 1, 2, 2))) and np.array_equal(dx, expected)


@pytest.mark.parametrize("case", ["2x2/2 tiles", "3x3/2 overlap", "2x2/3 gaps"])
def test_pool_matches_the_naive_layer(case):
    forward, backward = (
        naive_layer("max_pool_forward_naive"),
        naive_layer("max_pool_backward_naive"),
    )
    x_shape, ph, pw, stride, _ = POOL_CASES[case]
    rng = np.random.default_rng(16)
    x = rng.integers(0, 3, size=x_shape).astype(np.float64)  # ties too: both follow np.argmax
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    naive_out, naive_cache = call_or_skip(forward, x, pool_param)
    out, cache = fl.max_pool_forward_fast(x, pool_param)
    dout = rng.standard_normal(out.shape)
    assert np.array_equal(out, naive_out)
    assert (
        rel(fl.max_pool_backward_fast(dout, cache), call_or_skip(backward, dout, naive_cache))
        < TORCH_TOL
    )


def test_pool_grads_match_centred_differences():
    x, pool_param, _ = pool_inputs("3x3/2 overlap", seed=17)
    x = x / x.size  # distinct values at least 1/size apart, far more than the step h
    out, cache = fl.max_pool_forward_fast(x, pool_param)
    dout = np.random.default_rng(18).standard_normal(out.shape)
    numeric = numeric_gradient(lambda v: fl.max_pool_forward_fast(v, pool_param)[0], x.copy(), dout)
    assert rel(fl.max_pool_backward_fast(dout, cache), numeric) < NUMERIC_TOL


@pytest.mark.parametrize("case", ["2x2/2 tiles", "3x3/2 overlap"])
def test_pool_float32_stays_float32(case):
    x, pool_param, _ = pool_inputs(case, seed=19, dtype=np.float32)
    out, cache = fl.max_pool_forward_fast(x, pool_param)
    dx = fl.max_pool_backward_fast(np.ones_like(out), cache)
    assert out.dtype == np.float32 and dx.dtype == np.float32


@pytest.mark.parametrize("case", ["2x2/2 tiles", "3x3/2 overlap"])
def test_pool_leaves_its_inputs_unchanged(case):
    x, pool_param, _ = pool_inputs(case, seed=20)
    x_saved, param_saved = x.copy(), dict(pool_param)
    out, cache = fl.max_pool_forward_fast(x, pool_param)
    dout = np.random.default_rng(21).standard_normal(out.shape)
    dout_saved = dout.copy()
    fl.max_pool_backward_fast(dout, cache)
    assert (
        np.array_equal(x, x_saved)
        and pool_param == param_saved
        and np.array_equal(dout, dout_saved)
    )


@pytest.mark.parametrize("case", ["2x2/2 tiles", "3x3/2 overlap"])
def test_pool_of_a_non_contiguous_input_matches_its_contiguous_copy(case):
    x, pool_param, _ = pool_inputs(case, seed=22)
    out, cache = fl.max_pool_forward_fast(x, pool_param)
    out_f, cache_f = fl.max_pool_forward_fast(np.asfortranarray(x), pool_param)
    dout = np.random.default_rng(23).standard_normal(out.shape)
    assert np.array_equal(out, out_f)
    assert np.array_equal(
        fl.max_pool_backward_fast(dout, cache), fl.max_pool_backward_fast(dout, cache_f)
    )


def test_conv_of_a_non_contiguous_input_matches_its_contiguous_copy():
    x, w, b, conv_param = conv_inputs("non-square", seed=24)
    out, cache = fl.conv_forward_fast(x, w, b, conv_param)
    out_f, cache_f = fl.conv_forward_fast(np.asfortranarray(x), np.asfortranarray(w), b, conv_param)
    dout = np.random.default_rng(25).standard_normal(out.shape)
    assert rel(out_f, out) < TORCH_TOL
    for g_f, g in zip(
        fl.conv_backward_fast(np.asfortranarray(dout), cache_f), fl.conv_backward_fast(dout, cache)
    ):
        assert rel(g_f, g) < TORCH_TOL


@pytest.mark.parametrize(
    "x_shape,pool_param,message",
    [
        (
            (2, 3, 4, 4),
            {"pool_height": 5, "pool_width": 2, "stride": 1},
            r"5 x 2 window is larger than the input 4 x 4",
        ),
        ((2, 3, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 0}, r"stride >= 1"),
        ((3, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}, r"x \(N, C, H, W\)"),
    ],
)
def test_pool_rejects_shapes_that_do_not_fit(x_shape, pool_param, message):
    with pytest.raises(ValueError, match="max_pool_forward_fast: .*" + message):
        fl.max_pool_forward_fast(np.zeros(x_shape), pool_param)


def test_reshape_method_refuses_windows_that_do_not_tile():
    with pytest.raises(
        ValueError, match="max_pool_forward_reshape: needs pool_height == pool_width == stride"
    ):
        fl.max_pool_forward_reshape(
            np.zeros((1, 1, 5, 4)), {"pool_height": 2, "pool_width": 2, "stride": 2}
        )


def test_pool_backward_rejects_a_dout_of_the_wrong_shape():
    for x_shape, pool_param in (
        ((1, 2, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}),
        ((1, 2, 5, 5), {"pool_height": 3, "pool_width": 3, "stride": 2}),
    ):
        _, cache = fl.max_pool_forward_fast(np.zeros(x_shape), pool_param)
        with pytest.raises(
            ValueError, match=r"max_pool_backward_\w+: dout has shape \(1, 2, 3, 3\)"
        ):
            fl.max_pool_backward_fast(np.zeros((1, 2, 3, 3)), cache)


# -- geometry sweeps and kept work arrays ---------------------------------------------------


def random_conv_geometry(rng):
    """x shape, w shape, stride, pad of a random small convolution that fits."""
    N, C, F = (int(v) for v in rng.integers(1, 5, 3))
    HH, WW = (int(v) for v in rng.integers(1, 6, 2))
    stride, pad = int(rng.integers(1, 4)), int(rng.integers(0, 4))
    H = int(rng.integers(max(1, HH - 2 * pad), 12))
    W = int(rng.integers(max(1, WW - 2 * pad), 12))
    return (N, C, H, W), (F, C, HH, WW), stride, pad


@pytest.mark.parametrize("seed", range(40))
def test_conv_matches_torch_on_random_geometries(seed, monkeypatch):
    """Strides 1-3, pads 0-3, filters up to 5 x 5 and inputs down to one pixel wider than the
    filter, whole batches and chunks of 1-3 examples: the sub-grid im2col has many edges."""
    rng = np.random.default_rng(1000 + seed)
    x_shape, w_shape, stride, pad = random_conv_geometry(rng)
    if seed % 2:
        monkeypatch.setattr(fl, "_CHUNK_BYTES", 1)
        monkeypatch.setattr(fl, "_MIN_CHUNK", 1 + seed % 3)
    x, w, b = (
        rng.standard_normal(x_shape),
        rng.standard_normal(w_shape),
        rng.standard_normal(w_shape[0]),
    )
    out, cache = fl.conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape)
    conv = lambda x, w, b: tF.conv2d(x, w, b, stride=stride, padding=pad)
    t_out, t_grads = torch_grads(conv, [x, w, b], dout)
    case = f"x {x_shape}, w {w_shape}, stride {stride}, pad {pad}"
    assert out.shape == t_out.shape and rel(out, t_out) < TORCH_TOL, f"{case}: out"
    for name, g, t in zip(("dx", "dw", "db"), fl.conv_backward_fast(dout, cache), t_grads):
        assert g.shape == t.shape and rel(g, t) < TORCH_TOL, (
            f"{case}: {name} rel. error {rel(g, t):.1e}"
        )


def test_interleaved_calls_with_the_same_shapes_do_not_share_results():
    """Two layers of one shape share kept work arrays: forward A, forward B, backward A,
    backward B (as in a network) must give each its own gradients."""
    x_shape, w_shape, stride, pad = CONV_CASES["same-3x3"]
    rng = np.random.default_rng(27)
    params = [[rng.standard_normal(s) for s in (x_shape, w_shape, w_shape[:1])] for _ in range(2)]
    conv_param = {"stride": stride, "pad": pad}
    outs, caches = zip(*(fl.conv_forward_fast(*p, conv_param) for p in params))
    douts = [rng.standard_normal(o.shape) for o in outs]
    grads = [fl.conv_backward_fast(d, c) for d, c in zip(douts, caches)]
    conv = lambda x, w, b: tF.conv2d(x, w, b, stride=stride, padding=pad)
    for p, out, dout, g in zip(params, outs, douts, grads):
        t_out, t_grads = torch_grads(conv, p, dout)
        assert rel(out, t_out) < TORCH_TOL
        assert all(rel(a, t) < TORCH_TOL for a, t in zip(g, t_grads))


def test_more_shapes_than_kept_work_arrays_still_agree():
    """Cycling through more shapes than are kept evicts old work arrays; results stay right."""
    rng = np.random.default_rng(28)
    cases = [CONV_CASES[c] for c in CONV_CASES][: fl._KEPT_GRIDS + 2]
    for _ in range(2):
        for x_shape, w_shape, stride, pad in cases:
            x, w, b = (
                rng.standard_normal(x_shape),
                rng.standard_normal(w_shape),
                rng.standard_normal(w_shape[0]),
            )
            out, _ = fl.conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
            t_out = tF.conv2d(
                torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=stride, padding=pad
            )
            assert rel(out, t_out.numpy()) < TORCH_TOL


def test_threads_calling_the_same_shapes_at_once_get_their_own_results():
    import threading

    x_shape, w_shape, stride, pad = (8, 4, 12, 12), (6, 4, 3, 3), 1, 1
    rng = np.random.default_rng(29)
    inputs = [[rng.standard_normal(s) for s in (x_shape, w_shape, w_shape[:1])] for _ in range(4)]
    results = [None] * len(inputs)

    def run(i):
        for _ in range(20):
            results[i] = fl.conv_forward_fast(*inputs[i], {"stride": stride, "pad": pad})[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p, out in zip(inputs, results):
        t_out = tF.conv2d(*(torch.tensor(a) for a in p), stride=stride, padding=pad)
        assert rel(out, t_out.numpy()) < TORCH_TOL


@pytest.mark.parametrize("seed", range(30))
def test_pool_follows_the_first_max_rule_on_random_geometries(seed):
    """Random window sizes, strides and input sizes (tiling or not) on inputs full of ties."""
    rng = np.random.default_rng(2000 + seed)
    N, C = (int(v) for v in rng.integers(1, 4, 2))
    ph, pw = (int(v) for v in rng.integers(1, 5, 2))
    stride = ph if seed % 3 == 0 else int(rng.integers(1, 4))
    pw = ph if seed % 3 == 0 else pw
    H, W = int(rng.integers(ph, 13)), int(rng.integers(pw, 13))
    if seed % 3 == 0:
        H, W = H - H % ph, W - W % pw
    dtype = (np.float64, np.float32)[seed % 2]
    x = rng.integers(0, 3, size=(N, C, H, W)).astype(dtype)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = fl.max_pool_forward_fast(x, pool_param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = fl.max_pool_backward_fast(dout, cache)
    t_out = tF.max_pool2d(torch.tensor(x), (ph, pw), stride).numpy()
    case = f"x {x.shape}, {ph} x {pw} windows, stride {stride}, {np.dtype(dtype).name}"
    assert out.dtype == dx.dtype == dtype, case
    assert np.array_equal(out, t_out), case
    expected = first_max_pool_backward(
        x.astype(np.float64), dout.astype(np.float64), ph, pw, stride
    )
    assert rel(dx, expected) < FLOAT32_TOL, case
