"""Tests of grading/hardened/grader.py: scores that code a student writes cannot forge.

The reference submission (the source's student files in the release) must pass every
check and the release stub fail every one. Adversarial submissions are graded together in
one batch, with a short time limit per check, so that each test below reads its student's
results: a submission gets no points for what it forges and costs no other student points.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import zipfile

import numpy as np
import pytest

from assignment.checks import CATALOGUE
from assignment.checks.fc import FC_LAYERS
from grading.hardened.batch import checks_only, grade_batch
from grading.hardened.grader import Grader, _progress, _read_file, _student_error, load_outputs
from grading.hardened.sandbox import BWRAP, NAMESPACES, UID, Limits, level_of
from grading.layout import REPO_ROOT
from grading.part5 import WEIGHTS, reference_weights
from grading.release.stage import stage_package

pytestmark = pytest.mark.grading

# The adversarial batch grades these checks only (layers and optim), to keep it quick.
SUBSET = [
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "softmax_loss",
    "sgd_momentum",
    "adam",
    "conv_forward_naive",
]
# Entries whose names the batch must refuse (they are its own files, or hidden): each holds
# the reference, and none may stop the batch or get a grade.
REFUSED_NAMES = ("grades.csv", "grades.csv.partial", "..dots")
LIMITS = Limits(stall_s=10, wall_s=120, submission_s=300, group_memory_mb=1024)

CORRECT_AFFINE_BACKWARD = """
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    return dx, dw, dout.sum(axis=0)
"""

# Code appended to one module of the reference submission: a later definition of a
# student function replaces the earlier one, as Python would.
ADVERSARIES = {
    "patched_numpy": (
        "assignment/layers.py",
        """
import builtins
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
builtins.AssertionError = type("Never", (Exception,), {})


def affine_forward(x, w, b):
    return np.zeros((x.shape[0], w.shape[1])), (x, w, b)
""",
    ),
    "always_equal": (
        "assignment/layers.py",
        """
class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


class EqualArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)


def affine_forward(x, w, b):
    return AlwaysEqual(), (x, w, b)


def relu_forward(x):
    return np.zeros_like(x).view(EqualArray), x
""",
    ),
    "exit_in_module": ("assignment/optim.py", "\nimport os\nos._exit(0)\n"),
    "infinite_loop": (
        "assignment/layers.py",
        """
def relu_backward(dout, cache):
    while True:
        pass
""",
    ),
    "memory_hog": (
        "assignment/layers.py",
        """
def affine_backward(dout, cache):
    blocks = [np.empty(2**24) for _ in range(40)]  # 5 GiB of address space
"""
        + CORRECT_AFFINE_BACKWARD,
    ),
    "fork_bomb": (
        "assignment/layers.py",
        """
import os


def softmax_loss(x, y):
    while True:
        try:
            os.fork()
        except OSError:
            pass
""",
    ),
    "disk_search": (
        "assignment/layers.py",
        """
import json as _json, os as _os, time as _time
_found, _deadline = [], _time.monotonic() + 5


_mine = _os.path.dirname(_os.path.abspath(__file__))


def _reference_text(path):
    if _os.path.abspath(path).startswith(_mine):
        return None  # this file itself, solution markers and all
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(500000)
    except OSError:
        return None
    return text if "BEGIN SOLUTION" in text and "def affine_forward" in text else None


for _path in ["../" * up + "assignment/layers.py" for up in range(1, 8)] + [SECRET]:
    if _reference_text(_path):
        _found.append(_path)
for _pid in _os.listdir("/proc"):
    for _link in ("cwd", "root"):
        _path = f"/proc/{_pid}/{_link}/assignment/layers.py"
        if _reference_text(_path):
            _found.append(_path)
for _top, _dirs, _files in _os.walk("/"):
    if _time.monotonic() > _deadline:
        break
    _dirs[:] = [d for d in _dirs if not (_top == "/" and d in ("proc", "sys"))]
    for _name in _files:
        if _name == "layers.py" and _reference_text(_os.path.join(_top, _name)):
            _found.append(_os.path.join(_top, _name))
print("found:", _json.dumps(_found))


def affine_forward(x, w, b):
    for path in _found:
        text = _reference_text(path)
        if text:
            namespace = {}
            exec(text, namespace)
            return namespace["affine_forward"](x, w, b)
    raise NotImplementedError("nothing found")
""",
    ),
    "forged_outputs": (
        "assignment/layers.py",
        """
import json as _json, os as _os, sys as _sys


def relu_forward(x):
    from assignment.checks import CATALOGUE, PublicExpected
    here = _os.path.dirname(_os.path.abspath(_sys.argv[1]))
    with open(_os.path.join(here, "job.json")) as handle:
        job = _json.load(handle)
    public = PublicExpected.load()
    fd = int(_os.environ.get("GRADING_PROGRESS_FD", "-1"))
    for index, task in enumerate(job["tasks"]):
        if task["check"] not in ("relu_forward", "softmax_loss"):
            continue
        check = CATALOGUE[task["check"]]
        for number, (case_id, inputs_file) in enumerate(task["cases"]):
            with np.load(_os.path.join(here, inputs_file)) as data:
                inputs = {k: data[k] for k in data.files}
            if number < len(check.cases):
                forged = public.for_case(check, check.cases[number])
            else:  # a hidden case: no public value to copy
                forged = {"out": np.zeros_like(inputs["x"]), "loss": np.array(1.0),
                          "dx": np.zeros_like(inputs["x"])}
            forged["__mutated__"] = np.zeros(len(inputs), dtype=bool)
            np.savez(_os.path.join(here, "out", case_id + ".npz"), **forged)
        _os.write(fd, f"done {index}\\n".encode())
    _os._exit(0)
""",
    ),
    "replay_public": (
        "assignment/layers.py",
        """
_public = {}


def relu_forward(x):
    from assignment.checks import CATALOGUE, PublicExpected
    check = CATALOGUE["relu_forward"]
    if not _public:
        data = PublicExpected.load()
        for case in check.cases:
            _public[case.key] = (check.inputs_for(case)["x"], data.for_case(check, case)["out"])
    for known, out in _public.values():
        if known.shape == x.shape and np.array_equal(known, x):
            return out, x
    return np.zeros_like(x), x
""",
    ),
    "prints_megabytes": (
        "assignment/layers.py",
        """
import sys as _sys
_sys.stdout.write("x" * 20_000_000)
_sys.stderr.write("y" * 20_000_000)
_affine = affine_forward


def affine_forward(x, w, b):
    print("z" * 1_000_000)
    return _affine(x, w, b)
""",
    ),
    "syntax_error": ("assignment/optim.py", "\ndef broken(:\n    pass\n"),
    "hides_in_place": (
        "assignment/layers.py",
        """
np.array_equal = lambda *a, **k: True


def relu_forward(x):
    x[x < 0] = 0
    return x, x
""",
    ),
    "fills_disk": (
        "assignment/layers.py",
        """
import os as _os

for _i in range(12):  # 12 files of 32 MB, each under the file size limit
    try:
        with open(_os.path.join(_os.environ.get("HOME", "."), f"fill{_i}"), "wb") as _h:
            for _ in range(32):
                _h.write(b"\\0" * 2**20)
    except OSError:
        break
""",
    ),
    "extends_deadline": (
        "assignment/layers.py",
        """
def relu_backward(dout, cache):
    import os
    fd = int(os.environ["GRADING_PROGRESS_FD"])
    while True:  # pretend to be making progress, and to start the check again
        for line in (b"tick\\n", b"done 3\\n", b"start 3\\n"):
            os.write(fd, line)
""",
    ),
    "forks_memory": (
        "assignment/layers.py",
        """
def softmax_loss(x, y):
    import os
    children = []
    for _ in range(3):  # 600 MB each, touched: under each process's limit, not under the sum
        pid = os.fork()
        if pid == 0:
            block = np.ones(75 * 2**20)
            import time
            time.sleep(3)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    raise ValueError("no loss")
""",
    ),
    "fast_conv": (
        "assignment/layers.py",
        """
from .fast_layers import conv_forward_fast


def conv_forward_naive(x, w, b, conv_param):
    return conv_forward_fast(x, w, b, conv_param)
""",
    ),
    "leaks_inputs": (
        "assignment/layers.py",
        """
def affine_forward(x, w, b):
    raise ValueError("inputs: " + repr(x.tolist()))
""",
    ),
    "mean_db": (
        "assignment/layers.py",
        """
_affine_backward = affine_backward


def affine_backward(dout, cache):
    dx, dw, db = _affine_backward(dout, cache)
    return dx, dw, db / dout.shape[0]  # the mean over the examples, not the sum
""",
    ),
    "buggy": (
        "assignment/layers.py",
        """
_softmax = softmax_loss


def softmax_loss(x, y):
    loss, dx = _softmax(x, y)
    return loss * x.shape[0], dx  # forgot to average the loss
""",
    ),
}


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The release stub, the reference submission and every adversarial one, as folders."""
    base = tmp_path_factory.mktemp("hardened")
    stub = base / "stub"
    staged = stage_package(REPO_ROOT, stub)
    reference = base / "reference"
    shutil.copytree(stub, reference)
    for rel in staged.student_files:
        shutil.copyfile(REPO_ROOT / rel, reference / rel)
    shutil.copyfile(reference_weights(), reference / WEIGHTS)  # Part V's trained model
    folders = {"stub": stub, "reference": reference}
    for name, (rel, code) in ADVERSARIES.items():
        folder = base / name
        shutil.copytree(reference, folder)
        code = code.replace("SECRET", repr(str(REPO_ROOT / "assignment" / "layers.py")))
        with open(folder / rel, "a", encoding="utf-8") as handle:
            handle.write("\n" + code)
        folders[name] = folder
    return base, folders


@pytest.fixture(scope="module")
def grader(kit):
    base, _ = kit
    grader = Grader(base / "work-subset", checks=SUBSET)
    grader.warm()
    return grader


@pytest.fixture(scope="module")
def batch(kit, grader):
    """Every submission graded in one batch with two workers: {student: {check: test}}."""
    base, folders = kit
    submissions = base / "submissions"
    submissions.mkdir()
    for name, folder in folders.items():
        if name == "fork_bomb" and not bounds_processes(grader.isolation):
            continue
        shutil.copytree(folder, submissions / name)
    for name in REFUSED_NAMES:
        shutil.copytree(folders["reference"], submissions / name)
    before = {p: p.read_bytes() for p in submissions.rglob("*") if p.is_file()}
    out = base / "grades"
    summary = grade_batch(
        submissions,
        out,
        grade_one=checks_only(grader, LIMITS),
        workers=2,
        checks=grader.checks,
        progress=False,
    )
    after = {p: p.read_bytes() for p in submissions.rglob("*") if p.is_file()}
    results = {}
    for name in sorted(p.name for p in submissions.iterdir() if p.name not in REFUSED_NAMES):
        data = json.loads((out / name / "results.json").read_text())
        results[name] = {
            "score": data["score"],
            "output": data["output"],
            "log": (out / name / "grading.log").read_text(),
            **{t["name"]: t for t in data["tests"]},
        }
    return summary, results, before == after


def bounds_processes(isolation):
    """RLIMIT_NPROC does not hold for root: without a private uid a fork bomb would run free."""
    return level_of(isolation) in (NAMESPACES, UID) or os.geteuid() != 0


def statuses(result):
    return {name: result[name]["status"] for name in SUBSET}


def passes_except(result, failing):
    return statuses(result) == {n: "failed" if n in failing else "passed" for n in SUBSET}


# -- reference and stub, whole catalogue -------------------------------------------------------


@pytest.fixture(scope="module")
def full_grader(kit):
    base, _ = kit
    return Grader(base / "work-full")


def test_reference_passes_every_check(kit, full_grader):
    """Does the reference submission score full marks on every check of the catalogue?"""
    _, folders = kit
    report = full_grader.grade(folders["reference"])
    failed = {r.name: r.message for r in report.results if not r.passed}
    assert failed == {}
    assert [r.name for r in report.results] == list(CATALOGUE)


def test_stub_fails_every_check_naming_the_function(kit, full_grader):
    """Does the untouched release score 0 everywhere, each message naming its function?"""
    _, folders = kit
    report = full_grader.grade(folders["stub"])
    for result in report.results:
        assert result.score == 0, result.name
        function = result.name.split(".")[-1] if "." in result.name else result.name
        assert (
            function.split("_loss_")[0] in result.message
            or result.name.split(".")[0] in result.message
        ), result.message


def test_every_check_has_a_hidden_case():
    """Has every check a hidden case? Without one, replaying the public values would pass.
    Part V is judged by accuracy alone, on images the grader hands in: it ships no value to
    replay."""
    assert [
        c.name
        for c in CATALOGUE.values()
        if not c.hidden_cases and not c.name.startswith("build_part5_model.")
    ] == []


# -- the adversarial batch ----------------------------------------------------------------------


def test_batch_grades_everyone_and_leaves_originals_alone(batch, kit):
    """Is every submission graded (none lost to another's crash) and none modified?"""
    summary, results, unchanged = batch
    assert sorted(summary.graded) == sorted(results) and len(results) >= len(kit[1]) - 1
    assert summary.failed == {}
    assert unchanged


def test_reference_in_the_batch_passes(batch):
    _, results, _ = batch
    assert passes_except(results["reference"], set())


def test_isolation_is_named_in_the_results(batch, grader):
    """Does results.json say which isolation the scores were obtained under?"""
    _, results, _ = batch
    assert grader.isolation in results["reference"]["output"]


def test_patched_numpy_gains_nothing(batch):
    """Does patching np.allclose, np.testing and builtins in module code leave a wrong
    affine_forward failing, and the rest graded as usual?"""
    _, results, _ = batch
    assert passes_except(results["patched_numpy"], {"affine_forward"})


def test_always_equal_object_scores_zero(batch):
    """Do an object whose == is always true and an ndarray subclass that claims equality
    both fail?"""
    _, results, _ = batch
    assert passes_except(results["always_equal"], {"affine_forward", "relu_forward"})
    assert "numeric array" in results["always_equal"]["affine_forward"]["output"]


def test_os_exit_in_module_code_zeroes_only_that_module(batch):
    """Does os._exit(0) while optim.py is imported cost the optim checks only?"""
    _, results, _ = batch
    result = results["exit_in_module"]
    assert passes_except(result, {"sgd_momentum", "adam"})
    assert "could not be imported" in result["adam"]["output"]


def test_infinite_loop_costs_only_its_check(batch):
    """Is an infinite loop in relu_backward stopped, with the checks after it still graded?"""
    _, results, _ = batch
    result = results["infinite_loop"]
    assert passes_except(result, {"relu_backward"})
    assert "time limit" in result["relu_backward"]["output"]


def test_allocation_beyond_the_memory_limit_fails(batch):
    """Does reserving 5 GiB fail under the 2 GiB limit (it would succeed without it)?"""
    _, results, _ = batch
    result = results["memory_hog"]
    assert passes_except(result, {"affine_backward"})
    assert "MemoryError" in result["affine_backward"]["output"]


def test_fork_bomb_is_contained(batch):
    """Is a fork bomb stopped and charged to its own check only? (test_sandbox checks that
    RLIMIT_NPROC bounds it and that none of it is left.)"""
    _, results, _ = batch
    if "fork_bomb" not in results:
        pytest.skip("this isolation level does not bound the number of processes of root")
    assert passes_except(results["fork_bomb"], {"softmax_loss"})


def test_disk_search_does_not_find_the_solutions(batch, grader):
    """Does code that looks for the reference (relative paths, /proc, a walk of /) find
    nothing, so that affine_forward stays unimplemented? (test_sandbox plants a gradebook.)"""
    if level_of(grader.isolation) not in (NAMESPACES, BWRAP):
        pytest.skip(f"{grader.isolation} does not hide the file system")
    _, results, _ = batch
    result = results["disk_search"]
    assert passes_except(result, {"affine_forward"})
    assert "found: []" in result["log"]


def test_forged_outputs_are_judged_not_trusted(batch):
    """Do output files and 'done' lines forged by the student's code (public values copied,
    hidden ones guessed) earn nothing? relu_forward forges them and exits; relu_backward
    calls it (numeric gradient) and dies with it; softmax_loss never ran."""
    _, results, _ = batch
    result = results["forged_outputs"]
    assert passes_except(result, {"relu_forward", "relu_backward", "softmax_loss"})
    for name in ("relu_forward", "softmax_loss"):
        assert "[hidden case" in result[name]["output"] or "; hidden case" in result[name]["output"]


def test_replaying_public_values_fails_on_hidden_cases(batch):
    _, results, _ = batch
    result = results["replay_public"]
    assert passes_except(result, {"relu_forward"})
    assert "hidden case" in result["relu_forward"]["output"]


def test_printing_megabytes_changes_nothing(batch):
    """Does printing 40 MB leave the scores alone and the log small?"""
    _, results, _ = batch
    result = results["prints_megabytes"]
    assert passes_except(result, set())
    assert len(result["log"]) < 50_000


def test_syntax_error_zeroes_only_its_module(batch):
    _, results, _ = batch
    result = results["syntax_error"]
    assert passes_except(result, {"sgd_momentum", "adam"})
    assert "does not parse" in result["adam"]["output"]


def test_refused_names_are_noted_and_the_batch_writes_its_table(batch):
    summary, results, _ = batch
    for name in REFUSED_NAMES:
        assert any(
            note.startswith(f"{name}: not usable as a student name") for note in summary.skipped
        ), summary.skipped
    assert summary.csv is not None and summary.csv.is_file()
    assert passes_except(results["reference"], set())


def test_a_naive_layer_calling_the_fast_one_earns_nothing(batch):
    _, results, _ = batch
    result = results["fast_conv"]
    assert passes_except(result, {"conv_forward_naive"})
    assert "write this layer with loops and numpy" in result["conv_forward_naive"]["output"]


def test_patching_numpy_does_not_hide_an_input_changed_in_place(batch):
    """The grader compares the inputs as the call left them with its own copy."""
    _, results, _ = batch
    result = results["hides_in_place"]
    assert statuses(result)["relu_forward"] == "failed"
    assert "changed its input(s) x in place" in result["relu_forward"]["output"]


def test_filling_the_disk_stops_at_the_cap_and_costs_only_the_filler(batch):
    """384 MB into out/, a tmpfs of 128 MB: the writes stop there, and some of the filler's
    own results no longer fit (the honest submissions of the batch are graded as ever)."""
    _, results, _ = batch
    result = results["fills_disk"]
    if os.geteuid() != 0:
        pytest.skip("out/ is a capped tmpfs only where the grader is root")
    assert "filled the disk space it is given" in json.dumps(result)
    assert passes_except(results["reference"], set())


def test_progress_lines_do_not_keep_a_check_alive(batch):
    _, results, _ = batch
    result = results["extends_deadline"]
    assert passes_except(result, {"relu_backward"})
    assert "was stopped at the time limit of the check" in result["log"]


def test_memory_over_several_processes_costs_only_that_check(batch):
    _, results, _ = batch
    assert passes_except(results["forks_memory"], {"softmax_loss"})


def test_hidden_inputs_are_not_echoed_into_reports(batch, grader):
    """Does an error message that prints the inputs show them for public cases only?"""
    _, results, _ = batch
    text = results["leaks_inputs"]["affine_forward"]["output"]
    check = CATALOGUE["affine_forward"]
    for case in check.hidden_cases:
        value = repr(check.inputs_for(case)["x"].tolist())[:40]
        assert value not in text
    public = repr(check.inputs_for(check.cases[0])["x"].tolist())[:40]
    assert public in text
    assert (
        "affine_forward: raised ValueError [hidden cases 'batch of 1', 'x (5, 3, 2), M=7']" in text
    )


def test_realistic_bug_loses_exactly_its_check(batch):
    _, results, _ = batch
    result = results["buggy"]
    assert passes_except(result, {"softmax_loss"})
    assert "differs from the reference" in result["softmax_loss"]["output"]


def test_grading_twice_gives_the_same_scores(kit, grader, batch):
    """Are the scores of a second grading the same as those of the batch?"""
    _, folders = kit
    _, results, _ = batch
    for name in ("reference", "buggy", "exit_in_module"):
        again = grader.grade(folders[name], limits=LIMITS)
        assert {r.name: r.score for r in again.results} == {
            n: results[name][n]["score"] for n in SUBSET
        }, name


# -- reading what the sandbox left -----------------------------------------------------------------


def npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_outputs_load_numbers_and_booleans():
    got = load_outputs(npz_bytes(out=np.ones((2, 3)), flag=np.array([True])), 10**6)
    assert got["out"].shape == (2, 3) and got["flag"].dtype == bool


@pytest.mark.parametrize(
    "arrays",
    [
        {"out": np.array([object()], dtype=object)},
        {"out": np.array(["text"])},
        {"out": np.zeros(2, dtype=[("a", float)])},
        {"out": np.ones(2, dtype=complex)},
    ],
)
def test_outputs_of_other_types_are_refused(arrays):
    """Are object (pickled), string, structured and complex arrays refused?"""
    with pytest.raises(ValueError):
        load_outputs(npz_bytes(**arrays), 10**6)


def test_output_bomb_is_refused_before_it_is_read():
    """Is a member whose declared size exceeds the limit refused without decompressing it?"""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        header = io.BytesIO()
        np.lib.format.write_array(header, np.zeros(10**7))
        archive.writestr("out.npy", header.getvalue())
    with pytest.raises(ValueError, match="exceed"):
        load_outputs(buffer.getvalue(), 10**6)


def test_header_claiming_a_huge_shape_is_refused():
    """Is an npy header that declares more data than the member holds refused?"""
    data = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        data, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("out.npy", data.getvalue() + b"\0" * 64)
    with pytest.raises(ValueError, match="does not fit"):
        load_outputs(buffer.getvalue(), 10**6)


def test_links_and_fifos_in_the_output_folder_are_not_read(tmp_path):
    """Is an output that is a link (to a secret) or a FIFO (that would block) refused?"""
    (tmp_path / "secret").write_text("solution")
    (tmp_path / "a.npz").symlink_to(tmp_path / "secret")
    os.mkfifo(tmp_path / "b.npz")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert not isinstance(_read_file(fd, "a.npz", 100), bytes)
        assert _read_file(fd, "b.npz", 100) == "not a regular file"
        assert _read_file(fd, "c.npz", 100) == "nothing written"
    finally:
        os.close(fd)


def test_student_error_text_is_cut_on_hidden_cases():
    message = json.dumps({"error": "affine_forward: raised ValueError: [[0.123, 4.56]]"}).encode()
    assert (
        _student_error("affine_forward", message, hidden=True)
        == "affine_forward: raised ValueError"
    )
    assert "0.123" in _student_error("affine_forward", message, hidden=False)
    assert _student_error("affine_forward", b"\xff", hidden=True).endswith("malformed)")


def test_progress_lines_that_do_not_parse_are_ignored():
    state = _progress(["start 0", "done 0", "start 1", "garbage", "done 99", "import layers"], 2)
    assert state.done == {0} and state.current == 1 and state.importing == "layers"
    assert not state.ended


# -- a bug is charged once ----------------------------------------------------------------------

MODELS = ["FullyConnectedNet.loss", "FullyConnectedNet.loss_dropout", "ThreeLayerConvNet.loss"]


@pytest.fixture(scope="module")
def once_grader(kit):
    base, _ = kit
    return Grader(base / "work-once", checks=[*FC_LAYERS, *MODELS])


def test_a_layer_bug_costs_only_its_own_check(kit, once_grader):
    """Does a wrong db in affine_backward cost affine_backward only, the models that call it
    being judged again with a correct affine layer standing in?"""
    _, folders = kit
    report = once_grader.grade(folders["mean_db"])
    assert {r.name for r in report.results if not r.passed} == {"affine_backward"}
    assert {r.name: r.stand_ins for r in report.results if r.stand_ins} == {
        name: ("affine_forward", "affine_backward") for name in MODELS
    }
    assert "stand-ins for affine_backward, affine_forward: judging 3 check(s) again" in report.log
    loss = next(r for r in report.results if r.name == "FullyConnectedNet.loss")
    assert loss.notes.startswith(
        "FullyConnectedNet.loss: judged with correct affine_forward, "
        "affine_backward standing in for yours"
    )


def test_stand_ins_earn_no_layer_points(kit, once_grader, tmp_path):
    """Every layer a stub and the models written: the models' points, no layer's."""
    _, folders = kit
    submission = tmp_path / "models_only"
    shutil.copytree(folders["stub"], submission)
    for rel in ("assignment/classifiers/fc_net.py", "assignment/classifiers/cnn.py"):
        shutil.copyfile(REPO_ROOT / rel, submission / rel)
    report = once_grader.grade(submission)
    assert {r.name for r in report.results if not r.passed} == set(FC_LAYERS)
    assert report.score == sum(CATALOGUE[name].points for name in MODELS)


def test_a_model_bug_is_still_charged_with_stand_ins(kit, once_grader, tmp_path):
    """A model that is wrong itself fails even with correct layers standing in."""
    _, folders = kit
    submission = tmp_path / "both_wrong"
    shutil.copytree(folders["mean_db"], submission)
    path = submission / "assignment/classifiers/fc_net.py"
    text = path.read_text()
    assert text.count("0.5 * self.reg") == 1
    path.write_text(text.replace("0.5 * self.reg", "self.reg"))
    report = once_grader.grade(submission)
    lost = {r.name for r in report.results if not r.passed}
    assert lost == {"affine_backward", "FullyConnectedNet.loss", "FullyConnectedNet.loss_dropout"}


def test_progress_lines_cannot_extend_a_checks_deadline(grader):
    """Resending 'start 0', or 'done 0' then 'start 0', keeps the first deadline."""
    deadline_of = grader._deadlines([0, 1], LIMITS)
    first = deadline_of("start 0")
    assert first is not None
    for line in ("start 0", "tick", "start 1 ", "done 1", "start 0"):
        assert deadline_of(line) == first
    after_done = deadline_of("done 0")
    assert after_done <= time.monotonic() + LIMITS.stall_s
    assert deadline_of("start 0") == after_done and deadline_of("done 0") == after_done
    assert deadline_of("start 1") > after_done
