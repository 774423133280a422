"""The check machinery: cases, outputs, comparisons and results.

A check is defined once and serves three consumers: the student's self-check, the notebook
autograde cells and the hardened grader. It is split so that the part that calls student
code (`run_case`) can execute in another process than the part that judges (`judge`):

    inputs = check.inputs_for(case)             # trusted: plain arrays from a seed
    got = run_case(check, api, inputs)          # anywhere: calls the student's functions
    expected = run_case(check, reference, inputs) or the shipped public values
    messages = judge(check, inputs, got, expected, notes)   # trusted: compares

The grading rules that keep grades fair to correct code in any style:
- values are graded, not dtype promotion: a float32 input whose correct result comes back
  float64 passes with a note (an Output with keep_dtype=True is the exception);
- comparisons are relative to the output's scale, with a floor (ZERO_SCALE) under which
  values are rounding noise of zero;
- a check lists in `uses` the checks of the layers its code calls: where one of those fails,
  the grade judges this check again with correct stand-ins for them, so a bug costs only
  the check of the function that holds it;
- `may_modify` names inputs a function is allowed to change in place (an update rule's w).

Inputs and outputs are flat dicts of numpy arrays, so they cross processes as npz files
with no pickle.
"""

import re
import sys
import types
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

FORWARD_TOL = 1e-8  # against the reference, float64: correct code agrees to ~1e-13
NUMERIC_TOL = 1e-6  # against centred differences with h=1e-5: truncation error ~1e-9
FLOAT32_TOL = 1e-5
# Case inputs are unit scale, so an output whose largest entry is below this is a true zero
# up to rounding (the gradient of a bias before batchnorm); errors are measured against at
# least this scale, or rounding noise would be graded as a wrong answer.
ZERO_SCALE = 1e-3


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
    - keep_dtype: the dtype itself is graded (where keeping it is the point of the function)
    - diagnose(inputs, got, expected) -> a more specific hint than `hint`, or None
    """

    name: str
    like: str | None = None
    numeric: str | None = None
    tol: float | None = None
    hint: str = ""
    scalar: bool = False
    keep_dtype: bool = False
    diagnose: Callable | None = None


@dataclass(kw_only=True)
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
    - uses: checks of the layers this check's code calls (see the module docstring)
    - depends_on: checks whose output this one is built on (a backward check's cache comes
      from the student's forward pass); a failure there is named in this check's messages
    - may_modify: inputs the function may change in place
    - error_hint: what to try when the student's code raises
    - forbids: modules the student's code may not call here (a naive layer written with
      the provided fast layers or with torch earns nothing)
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
    uses: tuple = ()
    depends_on: tuple = ()
    may_modify: tuple = ()
    error_hint: str = ""
    forbids: tuple = ()

    def inputs_for(self, case):
        return self.make_inputs(np.random.default_rng(case.seed), **case.kwargs)

    def outputs_for(self, inputs):
        return self.outputs(inputs) if callable(self.outputs) else self.outputs

    def all_cases(self, hidden):
        return self.cases + (self.hidden_cases if hidden else [])


@dataclass
class CaseOutcome:
    """What happened to one case: passed, or the messages that say why not; notes say what
    passed but is worth knowing (a float64 result for float32 input)."""

    case: str
    messages: list
    hidden: bool = False
    notes: list = field(default_factory=list)

    @property
    def passed(self):
        return not self.messages


@dataclass
class CheckResult:
    """The one result type: every report (table, results.json, grades.csv) reads it.

    `stand_ins` names the layer functions that were replaced by correct ones while this
    check was judged (their own checks failed; see `Check.uses`). `flags` are the grader's
    notes for an instructor's review (the notebook's own test cell judged otherwise): shown
    with the messages, they never change the score."""

    name: str
    notebook: str
    max_score: float
    outcomes: list
    status: str = ""  # 'passed', 'failed', 'waiting' (on a failing dependency), or 'error'
    stand_ins: tuple = ()
    flags: tuple = ()

    @property
    def passed(self):
        return bool(self.outcomes) and all(o.passed for o in self.outcomes)

    @property
    def score(self):
        return self.max_score if self.passed else 0.0

    @property
    def flagged(self):
        return bool(self.flags)

    @property
    def message(self):
        """Each failure message once, followed by the case(s) it happened in; then any flag
        for review."""
        return "\n".join([*_with_cases(self.outcomes, "messages"), *self.flags])

    @property
    def notes(self):
        lines = _with_cases(self.outcomes, "notes")
        if self.stand_ins:
            lines.insert(
                0,
                f"{self.name}: judged with correct {', '.join(self.stand_ins)} "
                f"standing in for yours, whose own checks fail and cost their points",
            )
        return "\n".join(lines)

    def __post_init__(self):
        if not self.status:
            self.status = "passed" if self.passed else "failed"


def _with_cases(outcomes, attribute):
    """Each kind of text once (texts that differ only in their numbers are one kind: the
    first is shown), followed by the cases it came from: "[cases 'a', 'b'; hidden case 'c']"
    (nothing for a whole-check outcome, "all cases")."""
    kinds = {}
    for o in outcomes:
        for text in getattr(o, attribute):
            first, public, hidden = kinds.setdefault(_NUMBER.sub("#", text), (text, [], []))
            group = hidden if o.hidden else public
            if o.case != "all cases" and repr(o.case) not in group:
                group.append(repr(o.case))
    lines = []
    for first, public, hidden in kinds.values():
        parts = [
            f"{kind}{'s' if len(cases) > 1 else ''} {', '.join(cases)}"
            for kind, cases in (("case", public), ("hidden case", hidden))
            if cases
        ]
        lines.append(f"{first} [{'; '.join(parts)}]" if parts else first)
    return lines


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?")


class StudentError(Exception):
    """The student's code raised while a case ran; the message says where."""


def run_case(check, api, inputs, keep_inputs=False):
    """Call the code behind `api` on copies of inputs; returns outputs plus a record of
    which inputs it changed in place (under the key '__mutated__'; inputs the check allows
    to change, `may_modify`, are left out). With keep_inputs, the numeric inputs as the call
    left them are returned too ('__after__.<name>'), so that a trusted process can tell
    what changed without trusting this one."""
    pristine = {k: np.array(v, copy=True) for k, v in inputs.items()}
    working = {k: np.array(v, copy=True) for k, v in inputs.items()}
    try:
        # A warning printed to stderr would zero an nbgrader test cell; nan and inf in the
        # outputs are judged (and explained) instead.
        with np.errstate(all="ignore"), warnings.catch_warnings(), forbidding(check, api):
            warnings.simplefilter("ignore")
            got = check.run(api, working)
    except NotImplementedError as e:
        raise StudentError(_not_implemented(check.name, str(e))) from None
    except Exception as e:  # noqa: BLE001 - any failure of student code is reported, not raised
        hint = (
            f". Hint: {check.error_hint}"
            if check.error_hint and not isinstance(e, ImportError)
            else ""
        )
        raise StudentError(f"{check.name}: raised {type(e).__name__}: {e}{hint}") from None
    mutated = [
        k
        for k in pristine
        if k not in check.may_modify
        and not np.array_equal(pristine[k], working[k], equal_nan=pristine[k].dtype.kind in "fc")
    ]
    out = {}
    for k, v in got.items():
        out[k] = _as_array(check.name, k, v)
    out["__mutated__"] = np.array(mutated, dtype=str)
    if keep_inputs:
        out.update({f"{AFTER}{k}": v for k, v in working.items() if v.dtype.kind in "biuf"})
    return out


AFTER = "__after__."


def mutated_inputs(check, inputs, got):
    """The inputs a call changed in place, from the '__after__.' arrays of `got` (removed
    from it), compared with the trusted `inputs`. ValueError when one is missing."""
    after = {k[len(AFTER) :]: got.pop(k) for k in [k for k in got if k.startswith(AFTER)]}
    changed = []
    for name, before in inputs.items():
        if before.dtype.kind not in "biuf" or name in check.may_modify:
            continue
        if name not in after:
            raise ValueError(f"the input {name} as the call left it is missing")
        a = after[name]
        if (
            a.shape != before.shape
            or a.dtype != before.dtype
            or not np.array_equal(a, before, equal_nan=before.dtype.kind in "fc")
        ):
            changed.append(name)
    return np.array(changed, dtype=str)


# The modules students write with numpy only: their checks never let them call torch.
NUMPY_MODULES = ("layers", "optim")


@contextmanager
def forbidding(check, api):
    """While the check runs, the modules in check.forbids, and torch for a numpy module
    (and what the student's module bound from them), raise when used."""
    forbids = (*check.forbids, *(("torch",) if check.module in NUMPY_MODULES else ()))
    if not forbids:
        yield
        return
    module = getattr(api, check.module)
    space = vars(module) if isinstance(module, types.ModuleType) else {}
    saved = []
    for key, value in list(space.items()):
        origin = (
            value.__name__
            if isinstance(value, types.ModuleType)
            else getattr(value, "__module__", None) or ""
        )
        if any(origin == f or origin.startswith(f + ".") for f in forbids):
            saved.append((space, key, value))
            space[key] = _Forbidden(check.name, origin)
    for name in forbids:
        # Also where not imported yet: `import torch` in the check then fails at once,
        # rather than starting an import that the check's end would cut in half.
        saved.append((sys.modules, name, sys.modules.get(name, _ABSENT)))
        sys.modules[name] = _Forbidden(check.name, name)
        parent, _, child = name.rpartition(".")
        package = vars(sys.modules[parent]) if parent in sys.modules else {}
        if child in package:  # `from . import fast_layers` reads the package's attribute
            saved.append((package, child, package[child]))
            package[child] = _Forbidden(check.name, name)
    try:
        yield
    finally:
        for where, key, value in reversed(saved):
            if value is _ABSENT:
                where.pop(key, None)
            else:
                where[key] = value


_ABSENT = object()


class _Forbidden(types.ModuleType):
    """Stands for a forbidden module or function: any use raises, saying why."""

    def __init__(self, check, origin):
        super().__init__(origin)
        self._message = (
            f"{check} calls {origin}: write this layer with loops and numpy "
            f"(the fast layers and torch are not allowed here)"
        )

    def __getattr__(self, attr):
        raise RuntimeError(self._message)

    def __call__(self, *args, **kwargs):
        raise RuntimeError(self._message)


def _not_implemented(name, text):
    """A stub's own message names its function and file; a method check that stopped at
    another stub of its class (the constructor) says so."""
    if text.startswith(f"{name}:"):
        return text
    if "not implemented yet" in text:
        return f"{name}: stopped at {text}"
    return f"{name}: not implemented yet" + (f" ({text})" if text else "")


def _as_array(check_name, name, value):
    try:
        arr = np.asarray(value)
    except Exception as e:  # noqa: BLE001
        raise StudentError(
            f"{check_name}: {name} is not an array ({type(value).__name__}: {e})"
        ) from None
    if arr.dtype == object:
        raise StudentError(
            f"{check_name}: {name} should be a numeric array, got {type(value).__name__}"
        )
    return arr


def scaled_error(got, expected):
    """max |got - expected| / max |expected|: a relative error that near-zero entries
    cannot blow up, and that a wrong factor, sign or axis pushes to order 1. Below
    ZERO_SCALE the expected values count as zeros."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), ZERO_SCALE)
    return float(np.max(np.abs(got - expected), initial=0.0)) / scale


def _where(got, expected):
    diff = np.abs(np.asarray(got, dtype=np.float64) - np.asarray(expected, dtype=np.float64))
    if diff.ndim == 0:
        return "", float(got), float(expected)
    idx = np.unravel_index(int(np.nanargmax(diff)), diff.shape)
    return f" at {tuple(int(i) for i in idx)}", float(got[idx]), float(expected[idx])


def tolerance(out, dtype):
    """The error an output (None: one judged by properties only) may have against the
    reference."""
    if out is not None and out.tol is not None:
        return out.tol
    return FLOAT32_TOL if dtype == np.float32 else FORWARD_TOL


def promoted(got, expected):
    """A float result in a wider float type than the reference's: the values can be right."""
    return got.kind == expected.kind == "f" and got.itemsize > expected.itemsize


def judge(check, inputs, got, expected, notes=None, hidden=False):
    """Compare one case's outputs with the expected ones; returns failure messages.

    `notes`, when given, is a list that receives what passed but is worth saying. For a
    `hidden` case the messages show no expected value."""
    name = check.name
    notes = [] if notes is None else notes
    messages = []
    mutated = [str(m) for m in np.atleast_1d(got.get("__mutated__", np.array([], dtype=str)))]
    if mutated:
        messages.append(
            f"{name}: changed its input(s) {', '.join(mutated)} in place; "
            f"compute new arrays instead (for example out = x * mask, not x *= mask)"
        )
    for out in check.outputs_for(inputs):
        messages += _judge_output(check, out, inputs, got, expected, notes, hidden)
    if check.properties is not None and not messages:
        messages += check.properties(inputs, got)
    return messages


def _judge_output(check, out, inputs, got, expected, notes, hidden=False):
    name, key = check.name, out.name
    if key not in got:
        return [f"{name}: did not return {key}"]
    g = got[key]
    hint = f". Hint: {out.hint}" if out.hint else ""
    if out.like is not None:
        ref = inputs[out.like]
        if g.shape != ref.shape:
            return [
                f"{name}: {key} has shape {g.shape} but {out.like} has shape {ref.shape}; "
                f"return {key} with the shape of {out.like}{hint}"
            ]
    if out.scalar and g.shape != ():
        return [f"{name}: {key} should be a single number, got an array of shape {g.shape}"]
    if expected is None or key not in expected:
        return _judge_numeric(check, out, got, g) if out.numeric else []
    e = expected[key]
    if g.shape != e.shape:
        return [f"{name}: {key} has shape {g.shape}, expected {e.shape}{hint}"]
    if not _dtype_ok(check, out, g.dtype, e.dtype, out.like, notes):
        return [_dtype_message(name, key, g.dtype, e.dtype)]
    if not np.all(np.isfinite(g)) and np.all(np.isfinite(e)):
        return [f"{name}: {key} contains nan or inf{hint}"]
    tol = tolerance(out, e.dtype)
    err = scaled_error(g, e)
    if err <= tol:
        if out.numeric and out.numeric in expected:
            num_err = scaled_error(g, expected[out.numeric])
            if num_err > max(NUMERIC_TOL, tol):
                return [f"{name}: {key} differs from the numeric gradient (error {num_err:.1e})"]
        return []
    where, gv, ev = _where(g, e)
    values = "" if hidden else f"{where}: got {gv:.6g}, expected {ev:.6g}"
    msg = f"{name}: {key} differs from the reference{values} (error {err:.1e} > {tol:.0e})"
    factor = _constant_factor(g, e, inputs)
    if factor:
        msg += f". {key} is {factor}"
    if out.numeric and out.numeric in got:
        own = scaled_error(g, got[out.numeric])
        if own <= NUMERIC_TOL:
            msg += (
                f". {key} does match the numeric gradient of your own forward pass, so look for"
                f" the bug in the forward pass"
            )
        elif not factor:
            msg += (
                f". {key} does not match the numeric gradient of your own forward pass either"
                f" (error {own:.1e})"
            )
    specific = out.diagnose(inputs, g, e) if out.diagnose is not None else None
    if specific or (out.hint and not factor):  # a found factor says more than the hint
        msg += f". Hint: {specific or out.hint}"
    return [msg]


def _dtype_ok(check, out, got, want, source, notes):
    """A wider float type passes with a note, unless the output must keep its dtype."""
    if got == want:
        return True
    if promoted(got, want) and not out.keep_dtype:
        notes.append(
            f"{check.name}: returns {got} for {want} input: the values are right, but "
            f"it doubles the memory; cast the result with .astype({source or 'x'}.dtype)"
        )
        return True
    return False


def _dtype_message(name, key, got, want):
    if promoted(got, want):
        return (
            f"{name}: {key} has dtype {got}, expected {want}: here the dtype is part of the "
            f"task (cast with .astype(np.{want}))"
        )
    return f"{name}: {key} has dtype {got}, expected {want}; keep the dtype of the inputs"


def _constant_factor(got, expected, inputs):
    """'2 times the expected value' when got is a constant multiple of expected (a missing
    1/N, a term counted twice), naming N where the factor is the batch size."""
    g = np.asarray(got, dtype=np.float64).ravel()
    e = np.asarray(expected, dtype=np.float64).ravel()
    norm = float(e @ e)
    if g.size < 2 or norm < ZERO_SCALE**2:
        return None
    c = float(g @ e) / norm
    if abs(c - 1) < 1e-3 or abs(c) < 1e-3 or scaled_error(g, c * e) > 1e-6:
        return None
    sizes = {int(v.shape[0]) for k, v in inputs.items() if k in ("x", "X") and v.ndim > 0}
    for n in sorted(sizes):
        if n > 1 and abs(c - n) < 1e-6 * n:
            return f"N = {n} times the expected value (a missing division by the batch size N)"
        if n > 1 and abs(c * n - 1) < 1e-6:
            return f"1/N = 1/{n} of the expected value (a division by N too many)"
    return f"{c:.4g} times the expected value (off by a constant factor)"


def _judge_numeric(check, out, got, g):
    """Without reference values, an analytic gradient can still be held to the numeric one."""
    if out.numeric not in got:
        return []
    err = scaled_error(g, got[out.numeric])
    if err <= NUMERIC_TOL:
        return []
    where, gv, ev = _where(g, got[out.numeric])
    return [
        f"{check.name}: {out.name} differs from the numeric gradient of your forward pass{where}: "
        f"got {gv:.6g}, numeric {ev:.6g} (error {err:.1e} > {NUMERIC_TOL:.0e})"
        + (f". Hint: {out.hint}" if out.hint else "")
    ]
