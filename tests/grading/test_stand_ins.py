"""Tests of grading/hardened/stand_ins.py and the runner's proxies: the reference answers calls
from the sandbox for the layers standing in, and nothing else."""

import numpy as np
import pytest

from assignment.checks import family, load_api
from grading.hardened.runner import StandInCache, decode, encode
from grading.hardened.stand_ins import MAX_DIM, StandIns

pytestmark = pytest.mark.grading


@pytest.fixture(scope="module")
def layers():
    return load_api().layers


def call(service, name, *args, **kwargs):
    reply = decode(
        service.serve(encode({"name": name, "args": list(args), "kwargs": kwargs})),
        handle=StandInCache,
    )
    return reply


def test_a_forward_pass_returns_its_output_and_a_handle_the_backward_pass_takes(layers):
    service = StandIns(layers, ["affine_forward", "affine_backward"])
    rng = np.random.default_rng(0)
    x, w, b, dout = (
        rng.normal(size=(2, 3, 2)),
        rng.normal(size=(6, 4)),
        rng.normal(size=4),
        rng.normal(size=(2, 4)),
    )
    out, cache = call(service, "affine_forward", x, w, b)["result"]
    assert isinstance(cache, StandInCache)
    np.testing.assert_allclose(out, layers.affine_forward(x, w, b)[0])
    dx, dw, db = call(service, "affine_backward", dout, cache)["result"]
    np.testing.assert_allclose(db, dout.sum(axis=0))
    assert dx.shape == x.shape


def test_dict_arguments_come_back_updated(layers):
    """batchnorm_forward stores its running averages in bn_param."""
    service = StandIns(layers, family("batchnorm_forward", layers))
    x = np.random.default_rng(1).normal(size=(5, 3))
    reply = call(service, "batchnorm_forward", x, np.ones(3), np.zeros(3), {"mode": "train"})
    ((where, content),) = reply["dicts"]
    assert where == 3 and content["running_mean"].shape == (3,)


@pytest.mark.parametrize(
    "name,args,words",
    [
        ("relu_forward", [np.ones(3)], "relu_forward is not standing in"),
        (
            "affine_forward",
            [np.ones((MAX_DIM + 1, 1)), np.ones((1, 1)), np.ones(1)],
            "larger than a stand-in accepts",
        ),
        ("affine_backward", [np.ones((1, 1)), StandInCache(7)], "a cache that no stand-in"),
        ("affine_forward", [np.ones((2, 3)), np.ones((4, 1)), np.ones(1)], "raised ValueError"),
    ],
)
def test_bad_calls_are_refused_with_a_message(layers, name, args, words):
    service = StandIns(layers, ["affine_forward", "affine_backward"])
    reply = call(service, name, *args)
    assert words in reply["error"]


def test_garbage_is_an_error_reply_not_a_crash(layers):
    service = StandIns(layers, ["affine_forward"])
    reply = decode(service.serve(b"\x00" * 3 + b"not a frame"), handle=StandInCache)
    assert "raised" in reply["error"]


def test_pickles_cannot_be_sent():
    with pytest.raises(TypeError):
        encode({"args": [object()]})
