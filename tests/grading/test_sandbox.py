"""Tests of grading/hardened/sandbox.py: limits, isolation levels, and what sandboxed code cannot
reach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grading.hardened.sandbox import (
    BWRAP,
    NAMESPACES,
    RLIMITS,
    UID,
    UID_BASE,
    UID_SPAN,
    Limits,
    Sandbox,
    SandboxError,
    detect_isolation,
    level_of,
)
from grading.layout import REPO_ROOT

pytestmark = pytest.mark.grading

SECRET = REPO_ROOT / "assignment" / "layers.py"


@pytest.fixture(scope="module")
def strongest():
    return detect_isolation(protect=(SECRET,))


def available(level):
    try:
        return detect_isolation(level, protect=(SECRET,))
    except SandboxError as error:
        pytest.skip(f"{level} does not work here: {error}")


@pytest.fixture(scope="module", params=["strongest", BWRAP, RLIMITS])
def level(request, strongest):
    """Every limit must hold at the strongest level here, with bubblewrap where it is
    installed (optional: CI installs it), and at the plain-process fallback."""
    if request.param == "strongest":
        return strongest
    if level_of(strongest) == request.param:
        pytest.skip(f"{request.param} is the strongest level here")
    return available(request.param)


@pytest.fixture(scope="module", params=[NAMESPACES, BWRAP])
def private(request):
    """Each level that builds a private root file system, where it works."""
    return available(request.param)


def run_script(level, source, limits=Limits(wall_s=30, stall_s=30), deadline_of=None):
    with Sandbox(level) as box:
        (box.box / "script.py").write_text(textwrap.dedent(source))
        return box.run(
            [sys.executable, "-I", box.path("script.py")], limits=limits, deadline_of=deadline_of
        )


def processes_of(uid):
    """Live (not zombie) processes whose real uid is ``uid``, as `ps` would list them."""
    listed = subprocess.run(
        ["ps", "-o", "pid=,stat=", "-U", str(uid)], capture_output=True, text=True
    ).stdout.split("\n")
    return [line.split()[0] for line in listed if line.strip() and "Z" not in line.split()[1]]


def run_private_uid(level, source, limits):
    """Run in a sandbox with a private uid; the result, and the processes of that uid left
    once the sandbox is done."""
    with Sandbox(level) as box:
        assert UID_BASE <= box.uid < UID_BASE + UID_SPAN
        (box.box / "script.py").write_text(textwrap.dedent(source))
        result = box.run([sys.executable, "-I", box.path("script.py")], limits=limits)
        return result, processes_of(box.uid)


def test_root_here_gets_private_namespaces(strongest):
    """As root on this Linux machine, is the strongest level the namespaces one?"""
    if os.geteuid() != 0:
        pytest.skip("the namespaces level needs root")
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "--pid", "--fork", "true"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip("unshare is not permitted here")
    assert level_of(strongest) == NAMESPACES


def test_unknown_level_is_refused():
    """Does asking for a level that does not exist name the known ones?"""
    with pytest.raises(SandboxError, match="rlimits"):
        detect_isolation("chroot")


def test_limits_refuse_nonsense():
    """Is a zero or negative limit refused with the field's name?"""
    with pytest.raises(ValueError, match="memory_mb"):
        Limits(memory_mb=0)


def test_wall_time_limit_stops_a_sleeper(level):
    """Does a process that sleeps forever get stopped at the wall-time limit?"""
    start = time.monotonic()
    result = run_script(level, "import time\ntime.sleep(1000)\n", Limits(wall_s=1.5, stall_s=60))
    assert result.killed == "wall"
    assert time.monotonic() - start < 15


def test_stall_limit_stops_a_silent_loop(level):
    """Does a process that stops reporting progress get stopped at stall_s?"""
    result = run_script(
        level,
        """
        import os
        os.write(int(os.environ["GRADING_PROGRESS_FD"]), b"start 0\\n")
        while True:
            pass
    """,
        Limits(wall_s=60, stall_s=2),
    )
    assert result.killed == "stall"
    assert result.progress == ["start 0"]


def test_memory_limit_makes_numpy_raise(level):
    """Does an allocation far beyond the memory limit fail inside the process?"""
    result = run_script(
        level,
        """
        import numpy as np
        try:
            blocks = [np.empty(2**24) for _ in range(64)]  # 8 GiB in 128 MiB steps
            print("allocated")
        except MemoryError:
            print("MemoryError")
    """,
        Limits(memory_mb=1024),
    )
    assert result.stdout.strip() == "MemoryError", result.stderr


def test_cpu_limit_kills_a_busy_loop(level):
    """Does RLIMIT_CPU stop a busy loop before the wall-time limit?"""
    result = run_script(level, "while True:\n    pass\n", Limits(cpu_s=1, wall_s=60, stall_s=60))
    assert result.killed is None
    assert result.signal in ("SIGXCPU", "SIGKILL")


def test_file_size_limit(level):
    """Is a file larger than fsize_mb cut off?"""
    result = run_script(
        level,
        """
        import os, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            with open(os.path.join(os.environ["HOME"], "big"), "wb") as f:
                f.write(b"x" * 3 * 2**20)
            print("written")
        except OSError as e:
            print("refused", e.errno)
    """,
        Limits(fsize_mb=1),
    )
    assert result.stdout.startswith("refused"), result.stdout + result.stderr


def test_printing_megabytes_is_cut(level):
    """Is the captured output cut to output_kb while the process runs to its end?"""
    result = run_script(
        level,
        """
        import sys
        for _ in range(40):
            sys.stdout.write("x" * 2**20)
            sys.stderr.write("y" * 2**20)
        print("end")
    """,
        Limits(output_kb=8),
    )
    assert result.returncode == 0
    assert len(result.stdout) < 9 * 1024 and len(result.stderr) < 9 * 1024
    assert "more bytes not kept" in result.stdout


def test_fork_bomb_is_bounded_and_cleaned_up(strongest):
    """Does RLIMIT_NPROC bound a fork bomb, and is nothing of it left afterwards?"""
    if level_of(strongest) not in (NAMESPACES, UID):
        pytest.skip("a private uid is needed to count and reap the sandbox's processes")
    result, left = run_private_uid(
        strongest,
        """
        import os, time
        children = 0
        for _ in range(500):
            try:
                if os.fork() == 0:
                    time.sleep(1000)
                children += 1
            except OSError:
                break
        print(children, flush=True)
        time.sleep(1000)
    """,
        Limits(wall_s=5, stall_s=60, nproc=16),
    )
    assert result.killed == "wall"
    assert int(result.stdout.split()[0]) < 16
    assert left == []


def test_escaped_daemon_is_reaped(strongest):
    """Is a double-forked, setsid() child killed when the sandbox is done?"""
    if level_of(strongest) not in (NAMESPACES, UID):
        pytest.skip("a private uid is needed to find escaped processes")
    result, left = run_private_uid(
        strongest,
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1000)
            os._exit(0)
        print("parent done")
    """,
        Limits(wall_s=30, stall_s=30),
    )
    assert result.returncode == 0
    assert left == []


SEARCH = """
    import json, os, socket
    found = []
    def try_read(path):
        try:
            with open(path, "rb") as f:
                return f.read(200000)
        except OSError:
            return b""
    secret, results = {secret!r}, {results!r}
    for path in [secret] + ["../" * up + "assignment/layers.py" for up in range(1, 8)]:
        if try_read(path):
            found.append(path)
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            for link in ("cwd", "root"):
                try:
                    target = os.path.join("/proc", pid, link)
                    for name in os.listdir(target):
                        if name in ("assignment", "grading", "gradebook.db"):
                            found.append(target + "/" + name)
                except OSError:
                    pass
    for top, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if not (top == "/" and d in ("proc", "sys"))]
        for name in files:
            path = os.path.join(top, name)
            if name in ("gradebook.db", "layers.py") and \
                    any(m in try_read(path) for m in (b"BEGIN SOLUTION", b"HIDDEN TESTS")):
                found.append(path)
    try:  # the test looks at the host's folder afterwards
        with open(os.path.join(results, "forged.json"), "w") as f:
            f.write("{{}}")
    except OSError:
        pass
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2).close()
        found.append("network")
    except OSError:
        pass
    print(json.dumps(sorted(set(found))))
"""


def test_private_root_hides_source_gradebook_and_results(private, tmp_path):
    """Can sandboxed code read the source (absolute, relative, through /proc, by walking /),
    find a gradebook, write into the results folder or reach the network? It must not."""
    results = tmp_path / "results"
    results.mkdir()
    (tmp_path / "gradebook.db").write_text("### BEGIN HIDDEN TESTS")
    result = run_script(
        private,
        SEARCH.format(secret=str(SECRET), results=str(results)),
        Limits(wall_s=120, stall_s=120),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert list(results.iterdir()) == []


def test_venv_inside_the_source_tree_exposes_only_the_venv(private, tmp_path):
    """With the interpreter in a .venv inside the source tree (the Makefile's layout), can
    sandboxed code import numpy yet not read the tree through relative or absolute paths?"""
    repo = tmp_path / "repo"
    (repo / "assignment").mkdir(parents=True)
    secret = repo / "assignment" / "layers.py"
    secret.write_text("### BEGIN SOLUTION\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(repo / ".venv")], check=True)
    site = next((repo / ".venv" / "lib").glob("python*/site-packages"))
    numpy_site = Path(__import__("numpy").__file__).parents[1]
    (site / "grader.pth").write_text(f"{numpy_site}\n")
    python = str(repo / ".venv" / "bin" / "python")
    results = tmp_path / "results"
    results.mkdir()
    script = (
        textwrap.dedent(SEARCH.format(secret=str(secret), results=str(results))) + "import numpy\n"
    )
    with Sandbox(private, python=python, hide=(repo,)) as box:
        (box.box / "script.py").write_text(textwrap.dedent(script))
        result = box.run(
            [python, "-I", box.path("script.py")], limits=Limits(wall_s=120, stall_s=120)
        )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert list(results.iterdir()) == []


def test_progress_keeps_a_process_alive_until_its_phase_deadline(level):
    """Do progress lines keep a slow step going past stall_s, and does the deadline that
    deadline_of gives for 'start 0' still stop it?"""
    started = []

    def deadlines(line):
        if line == "start 0":
            started.append(time.monotonic())
        return started[0] + 4 if started else None

    result = run_script(
        level,
        """
        import os, time
        fd = int(os.environ["GRADING_PROGRESS_FD"])
        os.write(fd, b"start 0\\n")
        for _ in range(100):
            time.sleep(0.5)
            os.write(fd, b"tick\\n")
    """,
        Limits(wall_s=60, stall_s=2),
        deadline_of=deadlines,
    )
    assert result.killed == "phase"
    assert 6 <= len(result.progress) < 20


# -- per-submission caps: disk and memory --------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the caps are mounts and cgroups: root")


@needs_root
def test_out_is_a_capped_tmpfs(strongest):
    """Writing past out_mb, or more files than `files`, fails in the sandbox and leaves the
    host's disk alone."""
    result = run_script(
        strongest,
        """
        import os
        out = os.environ["HOME"]
        try:
            with open(os.path.join(out, "big"), "wb") as handle:
                for _ in range(64):
                    handle.write(b"x" * 2**20)
            print("wrote 64 MB")
        except OSError as error:
            print("disk:", error.strerror)
        try:
            for i in range(5000):
                open(os.path.join(out, f"f{i}"), "w").close()
            print("made 5000 files")
        except OSError as error:
            print("files:", error.strerror)
    """,
        Limits(wall_s=30, stall_s=30, out_mb=8, files=1000, fsize_mb=128),
    )
    assert result.stdout.split("\n")[:2] == [
        "disk: No space left on device",
        "files: No space left on device",
    ]


@needs_root
def test_memory_is_capped_over_all_processes(strongest):
    """Three processes of 200 MB each, under a 400 MB cap for the submission: one is killed,
    though each stays under its own limit."""
    if not _memory_group_possible():
        pytest.skip("no memory cgroup can be made here")
    result = run_script(
        strongest,
        """
        import os, time
        import numpy as np
        children = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                block = np.ones(25 * 2**20)  # 200 MB, touched
                time.sleep(3)
                os._exit(0)
            children.append(pid)
        codes = [os.waitpid(pid, 0)[1] for pid in children]
        print("killed" if any(os.WIFSIGNALED(c) for c in codes) else "all lived")
    """,
        Limits(wall_s=60, stall_s=60, memory_mb=1024, group_memory_mb=400),
    )
    assert "killed" in result.stdout, result.stdout + result.stderr


def _memory_group_possible():
    from grading.hardened.sandbox import _MemoryGroup

    group = _MemoryGroup.make(64)
    if group is None:
        return False
    group.remove()
    return True


def test_every_limit_is_described():
    from grading.hardened.sandbox import describe_limits

    text = describe_limits(Limits())
    for words in ("per check", "per submission", "per process", "disk:", "output kept"):
        assert words in text
