"""The hardened grader: every check of the catalogue, run outside the student's kernel.

Trusted side (this process): builds each case's inputs, computes the expected outputs with
the reference package (the source, solutions in place), and judges. Untrusted side (a
sandboxed process, :mod:`grading.hardened.runner`): imports the merged code
(:mod:`grading.hardened.splice`) and writes plain arrays. The expected values never enter
the sandbox; its outputs are read back only once every process of it is dead, loaded without
pickle, checked for size and dtype (numbers and booleans only) and judged here, so a forged
or tampered output is just a wrong answer. Public and hidden cases run.

A bug is charged once: a check that failed while a layer it `uses` failed its own check is
run again with correct layers standing in for the failing ones
(:mod:`grading.hardened.stand_ins`), and that second verdict counts.

Fail closed: a graded file that does not parse scores its module's checks 0; a check that
crashes the process, exceeds a limit or produces no readable output scores 0 with the
reason, and the checks after it run again in a fresh sandbox, so one infinite loop or
``os._exit`` costs only the checks it is in.

    grader = Grader(work=Path("build/grading"))        # once per batch
    report = grader.grade(Path("submissions/alice"))   # HardenedReport
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assignment.checks import (
    CATALOGUE,
    CaseOutcome,
    CheckResult,
    family,
    judge,
    load_api,
    name_dependencies,
    run_case,
)
from assignment.checks.core import mutated_inputs
from grading.errors import GradingError
from grading.hardened.sandbox import DESCRIPTIONS, Limits, Sandbox, detect_isolation, level_of
from grading.hardened.splice import Merged, build_trusted_copy, merge_submission
from grading.hardened.stand_ins import StandIns
from grading.layout import REPO_ROOT, module_file

RUNNER = Path(__file__).with_name("runner.py")
MAX_MEMBERS = 512
MAX_ERROR_BYTES = 65536
LOG_STREAM_CHARS = 4000
# What of an exception message from the student's code a report shows (public cases only).
MAX_STUDENT_MESSAGE = 300


@dataclass
class HardenedReport:
    """The results of one submission, the isolation that was in force, and what happened."""

    results: list[CheckResult]
    isolation: str
    log: str
    seconds: float

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.max_score for r in self.results)


class Grader:
    """What grading a batch shares: the trusted release copy, the inputs and the reference
    outputs of every case (each computed once), and the isolation level.

    ``work`` is a private scratch folder of the grader (created 0700). ``checks`` limits
    the catalogue (names); by default every check runs.
    """

    def __init__(
        self,
        work: Path,
        *,
        hidden: bool = True,
        isolation: str | None = None,
        source_root: Path = REPO_ROOT,
        checks: list[str] | None = None,
    ) -> None:
        self.work = Path(work).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.work.chmod(0o700)
        self.hidden = hidden
        self.source_root = Path(source_root).resolve()
        unknown = sorted(set(checks or ()) - set(CATALOGUE))
        if unknown:
            raise GradingError(None, None, f"Grader: unknown check(s) {', '.join(unknown)}")
        self.checks = [c for c in CATALOGUE.values() if checks is None or c.name in checks]
        trusted_dir = Path(tempfile.mkdtemp(prefix="trusted-", dir=self.work))
        self.trusted = build_trusted_copy(trusted_dir, self.source_root)
        protect = tuple(self.source_root / rel for rel in self.trusted.student_names)
        self.isolation = detect_isolation(isolation, protect=protect)
        self._reference = None
        self._inputs: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        self._input_files: dict[tuple[int, int], bytes] = {}
        self._expected: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        self._seconds: dict[int, float] = {}  # check -> the reference's time on all its cases

    # -- trusted values ------------------------------------------------------------------

    def cases(self, index: int):
        return self.checks[index].all_cases(self.hidden)

    def inputs(self, index: int, case: int) -> dict[str, np.ndarray]:
        key = (index, case)
        if key not in self._inputs:
            self._inputs[key] = self.checks[index].inputs_for(self.cases(index)[case])
        return self._inputs[key]

    def input_file(self, index: int, case: int) -> bytes:
        key = (index, case)
        if key not in self._input_files:
            buffer = io.BytesIO()
            np.savez(buffer, **self.inputs(index, case))
            self._input_files[key] = buffer.getvalue()
        return self._input_files[key]

    def expected(self, index: int, case: int) -> dict[str, np.ndarray]:
        key = (index, case)
        if key not in self._expected:
            reference = self._reference_api()
            check = self.checks[index]
            inputs = self.inputs(index, case)
            start = time.perf_counter()
            try:
                self._expected[key] = run_case(check, reference, inputs)
            except Exception as error:  # noqa: BLE001 - the reference itself is broken
                raise GradingError(
                    None,
                    None,
                    f"the reference fails {check.name} case "
                    f"{self.cases(index)[case].key!r}: {error}",
                ) from None
            self._seconds[index] = self._seconds.get(index, 0.0) + time.perf_counter() - start
        return self._expected[key]

    def time_limit(self, index: int, limits: Limits) -> float:
        """Seconds check ``index`` may run: ``stall_s`` plus ``slowdown`` times the
        reference's time on its cases."""
        for case in range(len(self.cases(index))):
            self.expected(index, case)
        return limits.stall_s + limits.slowdown * self._seconds[index]

    def warm(self) -> None:
        """Compute every input and expected output now (before forking workers)."""
        for index in range(len(self.checks)):
            for case in range(len(self.cases(index))):
                self.input_file(index, case)
                self.expected(index, case)

    # -- grading -------------------------------------------------------------------------

    def grade(self, submission: Path, *, limits: Limits = Limits()) -> HardenedReport:
        """Grade one submission (a folder in the release layout, only read)."""
        start = time.monotonic()
        log = [f"isolation: {self.isolation} ({DESCRIPTIONS[level_of(self.isolation)]})"]
        results: dict[int, CheckResult] = {}
        with Sandbox(self.isolation, hide=(self.source_root, self.work)) as box:
            merged = merge_submission(self.trusted, Path(submission), box.box / "code")
            log += merged.notes
            for index, check in enumerate(self.checks):
                reason = _broken_reason(merged, check.module)
                if reason:
                    results[index] = _error(check, reason)
            pending = [i for i in range(len(self.checks)) if i not in results]
            self._stage(box, pending)
            self._run_rounds(box, pending, results, limits, start, log)
            self._stand_in_round(box, merged, results, limits, start, log)
        failed = {self.checks[i].name for i, r in results.items() if not r.passed}
        for index, check in enumerate(self.checks):
            results[index] = name_dependencies(
                results[index], [n for n in check.depends_on if n in failed]
            )
        ordered = [results[i] for i in range(len(self.checks))]
        return HardenedReport(ordered, self.isolation, "\n".join(log), time.monotonic() - start)

    def _stage(self, box: Sandbox, pending: list[int]) -> None:
        shutil.copyfile(RUNNER, box.box / "runner.py")
        inputs = box.box / "inputs"
        inputs.mkdir()
        for index in pending:
            for case in range(len(self.cases(index))):
                (inputs / f"{index}-{case}.npz").write_bytes(self.input_file(index, case))
        for path in box.box.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)

    def _stand_in_round(
        self,
        box: Sandbox,
        merged: Merged,
        results: dict[int, CheckResult],
        limits: Limits,
        start: float,
        log: list[str],
    ) -> None:
        """Judge again, with correct layers standing in for those whose checks failed, every
        failed check that uses them; its new verdict replaces the first."""
        failed = {self.checks[i].name for i, r in results.items() if not r.passed}
        redo = [
            i
            for i, check in enumerate(self.checks)
            if check.name in failed
            and failed & set(check.uses)
            and not _broken_reason(merged, check.module)
        ]
        if not redo:
            return
        layers = self._reference_api().layers
        used = {
            i: tuple(
                dict.fromkeys(
                    f for u in self.checks[i].uses if u in failed for f in family(u, layers)
                )
            )
            for i in redo
        }
        names = sorted({f for fs in used.values() for f in fs})
        log.append(f"stand-ins for {', '.join(names)}: judging {len(redo)} check(s) again")
        again: dict[int, CheckResult] = {}
        self._run_rounds(box, redo, again, limits, start, log, stand_ins=StandIns(layers, names))
        for index in redo:
            r = again[index]
            results[index] = CheckResult(
                r.name, r.notebook, r.max_score, r.outcomes, r.status, stand_ins=used[index]
            )

    def _reference_api(self):
        if self._reference is None:
            self._reference = load_api("assignment")
        return self._reference

    def _run_rounds(
        self,
        box: Sandbox,
        pending: list[int],
        results: dict[int, CheckResult],
        limits: Limits,
        start: float,
        log: list[str],
        stand_ins: StandIns | None = None,
    ) -> None:
        """Run the pending checks; after a crash or a limit, again for those left."""
        broken_imports: dict[str, str] = {}
        deadline = start + limits.submission_s
        while pending:
            job = {
                "tasks": [
                    {
                        "check": self.checks[i].name,
                        "cases": [
                            [f"{i}-{c}", f"inputs/{i}-{c}.npz"] for c in range(len(self.cases(i)))
                        ],
                    }
                    for i in pending
                ],
                "broken": broken_imports,
                "stand_ins": sorted(stand_ins.names) if stand_ins else [],
            }
            (box.box / "job.json").write_text(json.dumps(job))
            (box.box / "job.json").chmod(0o644)
            run = box.run(
                [box.python, "-I", "-B", box.path("runner.py"), box.path("job.json")],
                limits=limits,
                deadline=deadline,
                deadline_of=self._deadlines(pending, limits),
                service=stand_ins.serve if stand_ins else None,
            )
            state = _progress(run.progress, len(pending))
            log.append(
                f"run of {len(pending)} check(s): {run.describe()} in {run.seconds:.1f} s; "
                f"{len(state.done)} finished"
            )
            for name, text in (("stdout", run.stdout), ("stderr", run.stderr)):
                if text.strip():
                    log.append(f"{name}:\n{text[:LOG_STREAM_CHARS]}")
            before = len(results)
            budget = [int(limits.outputs_mb) * 2**20]  # bytes this run's outputs may take
            for task in sorted(state.done):
                results[pending[task]] = self._collect(box, pending[task], budget)
            remaining = [i for i in pending if i not in results]
            if run.returncode == 0 and run.killed is None and state.ended:
                for index in remaining:  # only a runner that was tampered with skips a check
                    results[index] = _error(self.checks[index], "no result was reported")
                return
            why = run.describe()
            learnt = False
            if run.killed == "budget":
                for index in remaining:
                    results[index] = _error(
                        self.checks[index],
                        "the time budget of the submission ran out before this check finished",
                    )
                return
            if state.importing and state.importing not in broken_imports:
                broken_imports[state.importing] = (
                    f"assignment.{state.importing} could not be imported: the process {why} "
                    "while importing it"
                )
                learnt = True
            elif state.current is not None and pending[state.current] in remaining:
                results[pending[state.current]] = _error(
                    self.checks[pending[state.current]], _crash_message(why, run.stderr)
                )
            if remaining and len(results) == before and not learnt:
                # Nothing resolved and nothing learnt: blame the first check left.
                results[remaining[0]] = _error(
                    self.checks[remaining[0]], _crash_message(why, run.stderr)
                )
            pending = [i for i in pending if i not in results]

    def _deadlines(self, pending: list[int], limits: Limits):
        """``deadline_of`` for a run: check I must end within its time limit of 'start I'.

        The lines come from untrusted code, so no line may move a deadline later: each
        check starts once, in order; its deadline is fixed then; after 'done I' the next
        check must start within ``stall_s``. Any other line changes nothing."""
        limits_of = [self.time_limit(index, limits) for index in pending]
        state = {"next": 0, "current": None, "deadline": None}

        def deadline_of(line: str) -> float | None:
            now = time.monotonic()
            if line == f"start {state['next']}" and state["next"] < len(limits_of):
                state["current"], state["next"] = state["next"], state["next"] + 1
                state["deadline"] = now + limits_of[state["current"]]
            elif state["current"] is not None and line == f"done {state['current']}":
                state["current"] = None
                state["deadline"] = now + limits.stall_s
            return state["deadline"]

        return deadline_of

    def _collect(self, box: Sandbox, index: int, budget: list[int]) -> CheckResult:
        """Read back and judge the outputs of every case of one check."""
        check = self.checks[index]
        outcomes = []
        out_fd = os.open(box.out, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for case_index, case in enumerate(self.cases(index)):
                hidden = case in check.hidden_cases
                name = f"{index}-{case_index}"
                notes: list[str] = []
                messages = self._judge_case(out_fd, name, index, case_index, hidden, budget, notes)
                outcomes.append(CaseOutcome(case.key, messages, hidden, notes))
        finally:
            os.close(out_fd)
        return CheckResult(check.name, check.notebook, check.points, outcomes)

    def _judge_case(
        self,
        out_fd: int,
        name: str,
        index: int,
        case: int,
        hidden: bool,
        budget: list[int],
        notes: list[str],
    ) -> list[str]:
        check = self.checks[index]
        error = _read_file(out_fd, f"{name}.json", MAX_ERROR_BYTES)
        if isinstance(error, bytes):
            return [_student_error(check.name, error, hidden)]
        data = _read_file(out_fd, f"{name}.npz", budget[0])
        if not isinstance(data, bytes):
            return [f"{check.name}: no output for this case ({data})"]
        budget[0] -= len(data)
        inputs = self.inputs(index, case)
        try:
            got = load_outputs(data, budget[0])
            got["__mutated__"] = mutated_inputs(check, inputs, got)
        except ValueError as why:
            return [f"{check.name}: unreadable output ({why})"]
        try:
            return judge(check, inputs, got, self.expected(index, case), notes, hidden)
        except GradingError:
            raise
        except Exception as why:  # noqa: BLE001 - an output that breaks the comparison fails
            return [
                f"{check.name}: the outputs could not be compared ({type(why).__name__}: {why})"
            ]


# -- reading what the sandbox left --------------------------------------------------------------


def _read_file(dir_fd: int, name: str, limit: int) -> bytes | str:
    """The bytes of a regular file in the folder (no link followed, no FIFO waited on,
    at most ``limit`` bytes), or why not."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return "nothing written"
    except OSError as error:
        return f"unreadable: {error.strerror}"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size > limit:
            return f"larger than the {limit} bytes allowed"
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            return f"larger than the {limit} bytes allowed"
        return b"".join(chunks)
    finally:
        os.close(fd)


def load_outputs(data: bytes, limit: int) -> dict[str, np.ndarray]:
    """Arrays of an npz written by the runner: no pickle, numbers or booleans only, and no
    member (declared or real) larger than ``limit`` bytes in total. ValueError says why."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ValueError(f"not an npz file: {error}") from None
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise ValueError(f"{len(members)} arrays, at most {MAX_MEMBERS} allowed")
    if sum(m.file_size for m in members) > limit:
        raise ValueError(f"the arrays exceed {limit} bytes")
    arrays = {}
    for member in members:
        if not member.filename.endswith(".npy"):
            raise ValueError(f"unexpected member {member.filename[:80]!r}")
        try:
            with archive.open(member) as handle:
                version = np.lib.format.read_magic(handle)
                if version not in _HEADERS:
                    raise ValueError(f"npy format {version} is not accepted")
                shape, _, dtype = _HEADERS[version](handle)
                _check_array(shape, dtype, member.file_size)
            with archive.open(member) as handle:
                arrays[member.filename[:-4]] = np.lib.format.read_array(handle, allow_pickle=False)
        except ValueError:
            raise
        except Exception as error:  # noqa: BLE001 - any malformed member is a wrong output
            raise ValueError(f"{member.filename[:80]!r}: {type(error).__name__}: {error}") from None
    return arrays


_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _check_array(shape: tuple, dtype: np.dtype, stored: int) -> None:
    if (
        dtype.hasobject
        or dtype.fields is not None
        or dtype.subdtype is not None
        or dtype.kind not in "biuf"
    ):
        raise ValueError(f"dtype {dtype} is not a number or boolean type")
    if len(shape) > 32:
        raise ValueError(f"{len(shape)} dimensions")
    if int(np.prod(shape, dtype=object)) * dtype.itemsize > stored:
        raise ValueError(f"shape {shape} does not fit in the stored data")


# -- outcomes ----------------------------------------------------------------------------------


@dataclass
class _State:
    started: list[int]
    done: set[int]
    current: int | None
    importing: str | None
    ended: bool


_LINE = re.compile(r"^(start|done|import|imported) (\w{1,64})$")


def _progress(lines: list[str], tasks: int) -> _State:
    """What the runner said it did: lines that do not parse are ignored."""
    state = _State([], set(), None, None, False)
    for line in lines:
        if line == "end":
            state.ended = True
            continue
        match = _LINE.match(line)
        if not match:
            continue
        verb, arg = match.groups()
        if verb in ("start", "done"):
            if not arg.isdigit() or int(arg) >= tasks:
                continue
            task = int(arg)
            if verb == "start":
                state.started.append(task)
                state.current = task
            else:
                state.done.add(task)
                state.current = None if state.current == task else state.current
        elif verb == "import":
            state.importing = arg
        elif state.importing == arg:
            state.importing = None
    return state


_RAISED = re.compile(
    r"^(?P<name>[^:\n]{1,200}): (?:raised (?P<type>[A-Za-z_][\w.]{0,80})\b"
    r"|(?P<todo>not implemented yet|stopped at ))"
)


def _student_error(name: str, data: bytes, hidden: bool) -> str:
    """The message of an error the student's code raised, as the runner reported it.

    It is untrusted text: on a hidden case only the exception's type is kept, so that code
    cannot print a hidden case's inputs into the report."""
    try:
        message = json.loads(data.decode("utf-8"))["error"]
        if not isinstance(message, str):
            raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return f"{name}: failed (the error report is malformed)"
    if not hidden:
        return message[:MAX_STUDENT_MESSAGE] + ("..." if len(message) > MAX_STUDENT_MESSAGE else "")
    match = _RAISED.match(message)
    if match and match["name"] == name:
        return (
            f"{name}: not implemented yet" if match["todo"] else f"{name}: raised {match['type']}"
        )
    return f"{name}: raised an error"


def _crash_message(why: str, stderr: str = "") -> str:
    hint = ""
    if "No space left on device" in stderr:
        hint = " (its files filled the disk space it is given: see the limits in force)"
    elif "time" in why:
        hint = " (an infinite loop, or far slower than it needs to be?)"
    elif "SIG" in why:
        hint = " (a crash, or too much memory?)"
    return f"the process running this check {why}{hint}"


def _error(check, reason: str) -> CheckResult:
    return CheckResult(
        check.name,
        check.notebook,
        check.points,
        [
            CaseOutcome(
                "all cases",
                [reason if reason.startswith(check.name) else f"{check.name}: {reason}"],
            )
        ],
        status="error",
    )


def _broken_reason(merged: Merged, module: str) -> str | None:
    try:
        return merged.broken.get(module_file(module))
    except KeyError:
        return None
