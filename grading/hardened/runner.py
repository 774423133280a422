"""The sandboxed side of the hardened grader: call the code under test, write plain arrays.

Copied next to the merged package and run there as ``python -I runner.py job.json``. It
imports nothing from ``grading`` (the sandbox holds no grading code), only numpy and the
merged ``assignment`` package, whose checks are the release copy (no hidden cases: the
inputs of every case arrive as files).

Everything this process does is untrusted by the grader, which only reads back arrays and
judges them itself; so this file holds no comparison, no tolerance and no expected value.
The job (JSON) lists, per check, the cases as ``[case_id, inputs .npz]``. For each case the
runner writes ``out/<case_id>.npz`` (the outputs, plus ``__after__.<input>``: each numeric
input as the call left it, which the grader compares with its own copy) or
``out/<case_id>.json`` (``{"error": message}``).
Progress lines on the descriptor ``GRADING_PROGRESS_FD`` let the grader tell which check
or import was running when a limit stopped the process, and that it is not stuck:
``start I`` / ``done I`` (check I of the job), ``import M`` / ``imported M``, and ``tick``
(at most twice a second) after each case and after each call a numeric gradient makes.

A job may name ``stand_ins``: layer functions whose own checks failed. They are replaced,
in every module of the package, by proxies that send their arguments to the grader, which
runs the reference there and sends back the results (a forward pass's cache stays with the
grader: the proxy returns an opaque handle). So a model is judged on its own code, and the
reference never enters this process. The wire format (frames, and values encoded as JSON
plus an npz of arrays, no pickle) is defined here and used by the grader's side too.
"""

import importlib
import io
import json
import os
import signal
import sys
import time

import numpy as np

MAX_MESSAGE = 2000
MAX_FRAME = 64 * 2**20
SERVICE_ENV = "GRADING_SERVICE_FDS"


def main(job_path):
    # A too-large output file must fail as an error, not kill the process (SIGXFSZ).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    here = os.path.dirname(os.path.abspath(job_path))
    sys.path.insert(0, os.path.join(here, "code"))
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    progress = Progress(int(os.environ.get("GRADING_PROGRESS_FD", "-1")))
    from assignment.checks import CATALOGUE, StudentError, run_case
    from assignment.checks.api import LAZY, MODULES

    watch_numeric_gradients(progress)

    api = LazyApi(MODULES, job.get("broken", {}), progress)
    if job.get("stand_ins"):
        # The torch modules bind no numpy layer: not imported for nothing.
        numpy_modules = [short for short in MODULES if short not in LAZY]
        install_stand_ins(api, numpy_modules, job["stand_ins"], StandInClient.from_env())
        skip_numeric_gradients()
    out = os.path.join(here, "out")
    for index, task in enumerate(job["tasks"]):
        progress.say(f"start {index}")
        check = CATALOGUE[task["check"]]
        for case_id, inputs_file in task["cases"]:
            with np.load(os.path.join(here, inputs_file), allow_pickle=False) as data:
                inputs = {k: data[k] for k in data.files}
            try:
                got = run_case(check, api, inputs, keep_inputs=True)
                write_outputs(os.path.join(out, f"{case_id}.npz"), got, inputs)
            except StudentError as e:
                write_error(out, case_id, str(e))
            except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, odd outputs
                write_error(out, case_id, f"{check.name}: raised {type(e).__name__}: {e}")
            progress.tick()
        progress.say(f"done {index}")
    progress.say("end")


def write_outputs(path, got, inputs):
    """npz of the outputs and of the inputs as the call left them (the grader decides what
    changed). Written under a temporary name first, so that a failed write leaves no partial
    file."""
    got.pop("__mutated__", None)
    arrays = {k: np.asarray(v) for k, v in got.items()}
    partial = path + ".partial"
    try:
        with open(partial, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def write_error(out, case_id, message):
    with open(os.path.join(out, f"{case_id}.json"), "w", encoding="utf-8") as handle:
        json.dump({"error": message[:MAX_MESSAGE]}, handle)


def watch_numeric_gradients(progress):
    """A numeric gradient calls the code under test once per input entry and may take a
    while: a tick per call tells the grader that it is slow, not stuck."""
    from assignment.checks import numeric

    inner = getattr(numeric, "numeric_gradient", None)
    if inner is None:
        return

    def numeric_gradient(f, x, *args, **kwargs):
        def ticking(value):
            result = f(value)
            progress.tick()
            return result

        return inner(ticking, x, *args, **kwargs)

    numeric.numeric_gradient = numeric_gradient


class Progress:
    """Lines to the grader; silent when no descriptor was given."""

    def __init__(self, fd):
        self.fd = fd
        self.last_tick = 0.0

    def say(self, line):
        if self.fd >= 0:
            os.write(self.fd, (line + "\n").encode())

    def tick(self):
        now = time.monotonic()
        if now - self.last_tick >= 0.5:
            self.last_tick = now
            self.say("tick")


class LazyApi:
    """api.layers, api.optim, ... imported on first use, so that a module whose import
    hangs or kills the process costs only the checks that use it. Modules the grader
    already knows to be broken raise ImportError with its reason."""

    def __init__(self, modules, broken, progress):
        self._modules, self._broken, self._progress = modules, broken, progress
        self._loaded = {}

    def __getattr__(self, short):
        if short.startswith("_") or short not in self._modules:
            raise AttributeError(short)
        if short in self._broken:
            raise ImportError(self._broken[short])
        if short not in self._loaded:
            name = f"assignment.{self._modules[short]}"
            self._progress.say(f"import {short}")
            try:
                self._loaded[short] = importlib.import_module(name)
            except BaseException as e:  # noqa: BLE001 - sys.exit() in module code included
                self._broken[short] = f"{name} could not be imported: {type(e).__name__}: {e}"
                raise ImportError(self._broken[short]) from None
            finally:
                self._progress.say(f"imported {short}")
        return self._loaded[short]


# -- stand-ins -------------------------------------------------------------------------------


def install_stand_ins(api, modules, names, client):
    """Replace the layer functions ``names`` wherever a module of the package bound them."""
    originals = {}
    for name in names:
        originals[name] = getattr(api.layers, name, None)
    loaded = []
    for short in modules:
        try:
            loaded.append(getattr(api, short))
        except ImportError:
            continue  # reported by the checks that use it
    for name in names:
        proxy = client.proxy(name)
        for module in loaded:
            bound = vars(module).get(name)
            if module is api.layers or (bound is not None and bound is originals[name]):
                setattr(module, name, proxy)


def skip_numeric_gradients():
    """With layers standing in, each call crosses to the grader: the numeric gradients
    (thousands of calls, used only for hints; the verdict compares with the reference's) are
    left out."""
    from assignment.checks import numeric

    def numeric_gradient(*args, **kwargs):
        raise RuntimeError("no numeric gradients while layers stand in")

    numeric.numeric_gradient = numeric_gradient


class StandInCache:
    """The cache of a stand-in's forward pass; the values stay with the grader."""

    __slots__ = ("handle",)

    def __init__(self, handle):
        self.handle = handle

    def __repr__(self):
        return f"<cache of a stand-in layer #{self.handle}>"


class StandInClient:
    """Calls layer functions that run in the grader (see the module docstring)."""

    def __init__(self, write_fd, read_fd):
        self.write_fd, self.read_fd = write_fd, read_fd

    @classmethod
    def from_env(cls):
        write_fd, read_fd = (int(fd) for fd in os.environ[SERVICE_ENV].split(","))
        return cls(write_fd, read_fd)

    def proxy(self, name):
        def stand_in(*args, **kwargs):
            return self.call(name, args, kwargs)

        stand_in.__name__ = stand_in.__qualname__ = name
        stand_in.__doc__ = f"{name}, run by the grader in place of yours (whose check fails)."
        return stand_in

    def call(self, name, args, kwargs):
        write_frame(self.write_fd, encode({"name": name, "args": list(args), "kwargs": kwargs}))
        reply = read_frame(self.read_fd, MAX_FRAME)
        if reply is None:
            raise RuntimeError(f"{name}: the grader's stand-in is gone")
        reply = decode(reply, handle=StandInCache)
        if "error" in reply:
            raise ValueError(reply["error"])
        # The reference updates dict arguments in place (bn_param's running averages).
        for where, content in reply["dicts"]:
            target = args[where] if isinstance(where, int) else kwargs[where]
            target.update(content)
        return reply["result"]


def encode(value, handle_of=None):
    """Bytes of a value made of arrays, numbers, strings, None, tuples, lists, dicts with
    string keys and caches (``handle_of(cache)`` gives a cache's handle)."""
    arrays = []

    def pack(v):
        if isinstance(v, np.ndarray) or isinstance(v, np.generic):
            arrays.append(np.asarray(v))
            return {"a" if isinstance(v, np.ndarray) else "s": len(arrays) - 1}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, tuple):
            return {"t": [pack(x) for x in v]}
        if isinstance(v, list):
            return {"l": [pack(x) for x in v]}
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise TypeError("dict keys must be strings")
            return {"d": [[k, pack(x)] for k, x in v.items()]}
        if isinstance(v, StandInCache):
            return {"h": v.handle}
        if handle_of is not None:
            return {"h": handle_of(v)}
        raise TypeError(f"cannot pass a {type(v).__name__} to a stand-in layer")

    tree = json.dumps(pack(value)).encode()
    buffer = io.BytesIO()
    np.savez(buffer, *arrays)
    return len(tree).to_bytes(8, "big") + tree + buffer.getvalue()


def decode(data, handle):
    """The value of ``encode``'s bytes; ``handle(h)`` turns a handle into a cache."""
    size = int.from_bytes(data[:8], "big")
    tree = json.loads(data[8 : 8 + size])
    with np.load(io.BytesIO(data[8 + size :]), allow_pickle=False) as npz:
        arrays = [npz[f"arr_{i}"] for i in range(len(npz.files))]

    def unpack(v):
        if not isinstance(v, dict):
            return v
        ((kind, body),) = v.items()
        if kind == "a":
            return arrays[body]
        if kind == "s":
            return arrays[body][()]
        if kind == "t":
            return tuple(unpack(x) for x in body)
        if kind == "l":
            return [unpack(x) for x in body]
        if kind == "d":
            return {str(k): unpack(x) for k, x in body}
        if kind == "h":
            return handle(int(body))
        raise ValueError(f"unknown value kind {kind!r}")

    return unpack(tree)


def read_frame(fd, limit):
    """One frame (an 8-byte big-endian length, then the bytes) from ``fd``; None at end of
    file; ValueError for a frame over ``limit`` or cut short."""
    head = _read_exactly(fd, 8)
    if head is None:
        return None
    size = int.from_bytes(head, "big")
    if size > limit:
        raise ValueError(f"a frame of {size} bytes (at most {limit})")
    body = _read_exactly(fd, size) if size else b""
    if body is None:
        raise ValueError("the channel closed inside a frame")
    return body


def write_frame(fd, data):
    view = memoryview(len(data).to_bytes(8, "big") + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd, size):
    """``size`` bytes, or None at end of file before the first; ValueError when cut short."""
    chunks, got = [], 0
    while got < size:
        chunk = os.read(fd, min(size - got, 1 << 20))
        if not chunk:
            if got:
                raise ValueError("the channel closed inside a frame")
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


if __name__ == "__main__":
    main(sys.argv[1])
