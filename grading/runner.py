"""The sandboxed side of the hardened grader: call the code under test, write plain arrays.

Copied next to the merged package and run there as ``python -I runner.py job.json``. It
imports nothing from ``grading`` (the sandbox holds no grading code), only numpy and the
merged ``assignment`` package, whose checks are the release copy (no hidden cases: the
inputs of every case arrive as files).

Everything this process does is untrusted by the grader, which only reads back arrays and
judges them itself; so this file holds no comparison, no tolerance and no expected value.
The job (JSON) lists, per check, the cases as ``[case_id, inputs .npz]``. For each case the
runner writes ``out/<case_id>.npz`` (the outputs, plus ``__mutated__``: which inputs, in
sorted order, the call changed in place) or ``out/<case_id>.json`` (``{"error": message}``).
Progress lines on the descriptor ``GRADING_PROGRESS_FD`` let the grader tell which check
or import was running when a limit stopped the process, and that it is not stuck:
``start I`` / ``done I`` (check I of the job), ``import M`` / ``imported M``, and ``tick``
(at most twice a second) after each case and after each call a numeric gradient makes.
"""
import importlib
import json
import os
import signal
import sys
import time

import numpy as np

MAX_MESSAGE = 2000


def main(job_path):
    # A too-large output file must fail as an error, not kill the process (SIGXFSZ).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    here = os.path.dirname(os.path.abspath(job_path))
    sys.path.insert(0, os.path.join(here, "code"))
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    progress = Progress(int(os.environ.get("GRADING_PROGRESS_FD", "-1")))
    from assignment.checks import CATALOGUE, StudentError, run_case
    from assignment.checks.api import MODULES
    watch_numeric_gradients(progress)

    api = LazyApi(MODULES, job.get("broken", {}), progress)
    out = os.path.join(here, "out")
    for index, task in enumerate(job["tasks"]):
        progress.say(f"start {index}")
        check = CATALOGUE[task["check"]]
        for case_id, inputs_file in task["cases"]:
            with np.load(os.path.join(here, inputs_file), allow_pickle=False) as data:
                inputs = {k: data[k] for k in data.files}
            try:
                got = run_case(check, api, inputs)
                write_outputs(os.path.join(out, f"{case_id}.npz"), got, inputs)
            except StudentError as e:
                write_error(out, case_id, str(e))
            except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, odd outputs
                write_error(out, case_id, f"{check.name}: raised {type(e).__name__}: {e}")
            progress.tick()
        progress.say(f"done {index}")
    progress.say("end")


def write_outputs(path, got, inputs):
    """npz of the outputs; the mutation record as a bool mask over the sorted input names.
    Written under a temporary name first, so that a failed write leaves no partial file."""
    mutated = {str(m) for m in np.atleast_1d(got.pop("__mutated__", np.array([], dtype=str)))}
    arrays = {k: np.asarray(v) for k, v in got.items()}
    arrays["__mutated__"] = np.array([name in mutated for name in sorted(inputs)], dtype=bool)
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


if __name__ == "__main__":
    main(sys.argv[1])
