"""The check machinery: cases, outputs, comparisons and results.

A check is defined once and serves three consumers: the student's self-check, the notebook
autograde cells and the hardened grader. It is split so that the part that calls student
code (`run`) can execute in another process than the part that judges (`judge`):

    inputs = check.make_inputs(case)            # trusted: plain arrays from a seed
    got = run_case(check, api, inputs)          # anywhere: calls the student's functions
    expected = run_case(check, reference, inputs) or the shipped public values
    messages = judge(check, case, inputs, got, expected)   # trusted: compares

Inputs and outputs are flat dicts of numpy arrays, so they cross processes as npz files
with no pickle.
"""
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

FORWARD_TOL = 1e-8   # against the reference, float64: correct code agrees to ~1e-13
NUMERIC_TOL = 1e-6   # against centred differences with h=1e-5: truncation error ~1e-9
FLOAT32_TOL = 1e-5


@dataclass(frozen=True)
class Case:
    """One parametrisation of a check: a seed and keyword arguments for make_inputs."""
    seed: int
    label: str = ""
    kwargs: dict = field(default_factory=dict)

    @property
    def key(self):
        return self.label or f"seed{self.seed}"


@dataclass(frozen=True)
class Output:
    """How one output of `run` is judged.

    - like: name of the input whose shape and dtype the output must have (dx like x)
    - numeric: name of an output holding the centred-difference gradient that this one
      should match (computed in `run` from the same forward function)
    - tol: error allowed against the reference; None takes the dtype's default
    - hint: what to try when the values differ
    - scalar: the output must be a single number
    """
    name: str
    like: str | None = None
    numeric: str | None = None
    tol: float | None = None
    hint: str = ""
    scalar: bool = False


@dataclass
class Check:
    """One graded function (or class method) and how to test it.

    - name: what students call it by, e.g. 'affine_backward'
    - notebook, module: where it is taught and where it is written (for messages)
    - points: its weight in the grade
    - make_inputs(rng, **case.kwargs) -> dict of arrays (trusted side)
    - run(api, inputs) -> dict of arrays; `api` has the modules as attributes
      (api.layers, api.optim, api.fc_net, ...)
    - outputs: how each output is compared: a list, or a function of the inputs giving one
    - cases, hidden_cases: parametrisations; hidden ones are removed from the release
    - properties(inputs, got) -> list of failure messages for checks that need no reference
      (statistics of a random mask, ...), judged in the trusted process
    """
    name: str
    notebook: str
    module: str
    points: float
    make_inputs: Callable
    run: Callable
    outputs: list
    cases: list
    hidden_cases: list = field(default_factory=list)
    properties: Callable | None = None
    depends_on: str = ""

    def inputs_for(self, case):
        return self.make_inputs(np.random.default_rng(case.seed), **case.kwargs)

    def outputs_for(self, inputs):
        return self.outputs(inputs) if callable(self.outputs) else self.outputs

    def all_cases(self, hidden):
        return self.cases + (self.hidden_cases if hidden else [])


@dataclass
class CaseOutcome:
    """What happened to one case: passed, or the messages that say why not."""
    case: str
    messages: list
    hidden: bool = False

    @property
    def passed(self):
        return not self.messages


@dataclass
class CheckResult:
    """The one result type: every report (table, results.json, grades.csv) reads it."""
    name: str
    notebook: str
    max_score: float
    outcomes: list
    status: str = ""  # 'passed', 'failed', or 'error' when nothing could be run

    @property
    def passed(self):
        return bool(self.outcomes) and all(o.passed for o in self.outcomes)

    @property
    def score(self):
        return self.max_score if self.passed else 0.0

    @property
    def message(self):
        msgs = [m for o in self.outcomes for m in o.messages]
        return "\n".join(dict.fromkeys(msgs))  # the same message for many cases once

    def __post_init__(self):
        if not self.status:
            self.status = "passed" if self.passed else "failed"


class StudentError(Exception):
    """The student's code raised while a case ran; the message says where."""


def run_case(check, api, inputs):
    """Call the code behind `api` on copies of inputs; returns outputs plus a record of
    which inputs it changed in place (under the key '__mutated__')."""
    pristine = {k: np.array(v, copy=True) for k, v in inputs.items()}
    working = {k: np.array(v, copy=True) for k, v in inputs.items()}
    try:
        # A warning printed to stderr would zero an nbgrader test cell; nan and inf in the
        # outputs are judged (and explained) instead.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = check.run(api, working)
    except NotImplementedError as e:
        raise StudentError(f"{check.name}: not implemented yet ({e})") from None
    except Exception as e:  # noqa: BLE001 - any failure of student code is reported, not raised
        raise StudentError(f"{check.name}: raised {type(e).__name__}: {e}") from None
    mutated = [k for k in pristine if not np.array_equal(pristine[k], working[k], equal_nan=True)]
    out = {}
    for k, v in got.items():
        out[k] = _as_array(check.name, k, v)
    out["__mutated__"] = np.array(mutated, dtype=str)
    return out


def _as_array(check_name, name, value):
    try:
        arr = np.asarray(value)
    except Exception as e:  # noqa: BLE001
        raise StudentError(f"{check_name}: {name} is not an array ({type(value).__name__}: {e})") from None
    if arr.dtype == object:
        raise StudentError(f"{check_name}: {name} should be a numeric array, got {type(value).__name__}")
    return arr


def scaled_error(got, expected):
    """max |got - expected| / max |expected|: a relative error that near-zero entries
    cannot blow up, and that a wrong factor, sign or axis pushes to order 1."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-12)
    return float(np.max(np.abs(got - expected), initial=0.0)) / scale


def _where(got, expected):
    diff = np.abs(np.asarray(got, dtype=np.float64) - np.asarray(expected, dtype=np.float64))
    if diff.ndim == 0:
        return "", float(got), float(expected)
    idx = np.unravel_index(int(np.nanargmax(diff)), diff.shape)
    return f" at {tuple(int(i) for i in idx)}", float(got[idx]), float(expected[idx])


def _tolerance(out, dtype):
    if out.tol is not None:
        return out.tol
    return FLOAT32_TOL if dtype == np.float32 else FORWARD_TOL


def judge(check, inputs, got, expected):
    """Compare one case's outputs with the expected ones; returns failure messages."""
    name = check.name
    messages = []
    mutated = [str(m) for m in np.atleast_1d(got.get("__mutated__", np.array([], dtype=str)))]
    if mutated:
        messages.append(f"{name}: changed its input(s) {', '.join(mutated)} in place; "
                        f"compute new arrays instead (for example out = x * mask, not x *= mask)")
    for out in check.outputs_for(inputs):
        messages += _judge_output(check, out, inputs, got, expected)
    if check.properties is not None and not messages:
        messages += check.properties(inputs, got)
    return messages


def _judge_output(check, out, inputs, got, expected):
    name, key = check.name, out.name
    if key not in got:
        return [f"{name}: did not return {key}"]
    g = got[key]
    if out.like is not None:
        ref = inputs[out.like]
        if g.shape != ref.shape:
            return [f"{name}: {key} has shape {g.shape} but {out.like} has shape {ref.shape}; "
                    f"return {key} with the shape of {out.like}" + (f". {out.hint}" if out.hint else "")]
    if out.scalar and g.shape != ():
        return [f"{name}: {key} should be a single number, got an array of shape {g.shape}"]
    if expected is None or key not in expected:
        return _judge_numeric(check, out, got, g) if out.numeric else []
    e = expected[key]
    if g.shape != e.shape:
        return [f"{name}: {key} has shape {g.shape}, expected {e.shape}" + (f". {out.hint}" if out.hint else "")]
    if g.dtype != e.dtype:
        return [f"{name}: {key} has dtype {g.dtype}, expected {e.dtype}; keep the dtype of the inputs"]
    if not np.all(np.isfinite(g)) and np.all(np.isfinite(e)):
        return [f"{name}: {key} contains nan or inf" + (f". {out.hint}" if out.hint else "")]
    tol = _tolerance(out, e.dtype)
    err = scaled_error(g, e)
    if err <= tol:
        if out.numeric and out.numeric in expected:
            num_err = scaled_error(g, expected[out.numeric])
            if num_err > max(NUMERIC_TOL, tol):
                return [f"{name}: {key} differs from the numeric gradient (error {num_err:.1e})"]
        return []
    where, gv, ev = _where(g, e)
    msg = f"{name}: {key} differs from the reference{where}: got {gv:.6g}, expected {ev:.6g} (error {err:.1e} > {tol:.0e})"
    if out.numeric and out.numeric in got:
        own = scaled_error(g, got[out.numeric])
        if own <= NUMERIC_TOL:
            msg += (f". {key} does match the numeric gradient of your own forward pass, so look for"
                    f" the bug in the forward pass")
        else:
            msg += f". {key} does not match the numeric gradient of your own forward pass either (error {own:.1e})"
    if out.hint:
        msg += f". Hint: {out.hint}"
    return [msg]


def _judge_numeric(check, out, got, g):
    """Without reference values, an analytic gradient can still be held to the numeric one."""
    if out.numeric not in got:
        return []
    err = scaled_error(g, got[out.numeric])
    if err <= NUMERIC_TOL:
        return []
    where, gv, ev = _where(g, got[out.numeric])
    return [f"{check.name}: {out.name} differs from the numeric gradient of your forward pass{where}: "
            f"got {gv:.6g}, numeric {ev:.6g} (error {err:.1e} > {NUMERIC_TOL:.0e})"
            + (f". Hint: {out.hint}" if out.hint else "")]
