"""The grader's side of stand-in layers: a bug is charged once.

A model check (``FullyConnectedNet.loss``) calls the student's layers. Where one of them
failed its own check, the grader judges the model again with that layer replaced by the
reference, so the model's check judges what the model's own code does. The reference stays
in this process: the sandboxed runner calls it through a channel (:mod:`grading.hardened.runner`
proxies, served here by :class:`StandIns`), sending arguments and receiving results as plain
arrays; a forward pass's cache stays here and the sandbox holds an opaque handle. Only the
functions whose checks already failed stand in, so calling them cannot earn the points of
their own checks.

Requests are untrusted: arrays are bounded in size and number before the reference runs.
"""

from __future__ import annotations

import numpy as np

from grading.hardened.runner import decode, encode

MAX_ELEMENTS = 2**20  # per array: the model checks use arrays of a few hundred entries
MAX_DIM = 4096  # so that a matrix product of two admitted arrays stays within ~128 MB
MAX_ARRAYS = 64
MAX_CACHES = 100_000


class StandIns:
    """Serves calls of ``names`` (functions of the reference ``layers`` module)."""

    def __init__(self, layers, names) -> None:
        self.layers = layers
        self.names = frozenset(names)
        self.caches: list[object] = []

    def serve(self, request: bytes) -> bytes:
        name = "a stand-in layer"
        try:
            call = decode(request, handle=self._cache)
            name = str(call["name"])
            if name not in self.names:
                raise ValueError(f"{name} is not standing in")
            args, kwargs = list(call["args"]), dict(call["kwargs"])
            _admit([*args, *kwargs.values()])
            result = getattr(self.layers, name)(*args, **kwargs)
            if name.endswith("_forward"):
                out, cache = result
                result = (out, _Kept(cache))
            dicts = [[i, a] for i, a in enumerate(args) if isinstance(a, dict)]
            dicts += [[k, v] for k, v in kwargs.items() if isinstance(v, dict)]
            return encode({"result": result, "dicts": dicts}, handle_of=self._keep)
        except Exception as error:  # noqa: BLE001 - any bad call is the caller's error
            return encode(
                {
                    "error": f"{name} (the correct version standing in for yours, as "
                    f"your code called it) raised {type(error).__name__}: "
                    f"{str(error)[:300]}"
                }
            )

    def _keep(self, kept) -> int:
        if not isinstance(kept, _Kept):
            raise TypeError(f"cannot return a {type(kept).__name__}")
        if len(self.caches) >= MAX_CACHES:
            raise ValueError(f"more than {MAX_CACHES} forward passes")
        self.caches.append(kept.cache)
        return len(self.caches) - 1

    def _cache(self, handle: int):
        if not 0 <= handle < len(self.caches):
            raise ValueError("a cache that no stand-in forward pass returned")
        return self.caches[handle]


class _Kept:
    """A cache to keep here, sent as a handle."""

    def __init__(self, cache) -> None:
        self.cache = cache


def _admit(values) -> None:
    arrays = []
    stack = list(values)
    while stack:
        v = stack.pop()
        if isinstance(v, np.ndarray):
            arrays.append(v)
        elif isinstance(v, (tuple, list)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
    if len(arrays) > MAX_ARRAYS:
        raise ValueError(f"{len(arrays)} arrays in one call (at most {MAX_ARRAYS})")
    for a in arrays:
        if a.size > MAX_ELEMENTS or any(d > MAX_DIM for d in a.shape):
            raise ValueError(f"an array of shape {a.shape} is larger than a stand-in accepts")
        if a.dtype.kind not in "biuf":
            raise ValueError(f"an array of dtype {a.dtype}")
