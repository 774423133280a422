"""Tests of grading/sandbox.py: limits, isolation levels, and what sandboxed code cannot reach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grading.release import REPO_ROOT
from grading.sandbox import (BWRAP, NAMESPACES, RLIMITS, UID, UID_BASE, UID_SPAN, Limits, Sandbox,
                             SandboxError, detect_isolation, level_of)

pytestmark = pytest.mark.grading

SECRET = REPO_ROOT / "assignment" / "layers.py"
PRIVATE_LEVELS = (NAMESPACES, BWRAP)


@pytest.fixture(scope="module")
def strongest():
    return detect_isolation(protect=(SECRET,))


@pytest.fixture(scope="module", params=["strongest", RLIMITS])
def level(request, strongest):
    """Every limit must hold at the strongest level here and at the plain-process fallback."""
    return strongest if request.param == "strongest" else detect_isolation(RLIMITS)


def run_script(level, source, limits=Limits(wall_s=30, stall_s=30), stall_after=None):
    with Sandbox(level) as box:
        (box.box / "script.py").write_text(textwrap.dedent(source))
        return box.run([sys.executable, "-I", box.path("script.py")], limits=limits,
                       stall_after=stall_after)


def sandbox_uid_processes():
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                uid = entry.stat().st_uid
            except OSError:
                continue
            if UID_BASE <= uid < UID_BASE + UID_SPAN:
                found.append(int(entry.name))
    return found


def test_root_here_gets_private_namespaces(strongest):
    """As root on this Linux machine, is the strongest level the namespaces one?"""
    if os.geteuid() != 0:
        pytest.skip("the namespaces level needs root")
    probe = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "true"],
                           capture_output=True)
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
    result = run_script(level, """
        import os
        os.write(int(os.environ["GRADING_PROGRESS_FD"]), b"start 0\\n")
        while True:
            pass
    """, Limits(wall_s=60, stall_s=2))
    assert result.killed == "stall"
    assert result.progress == ["start 0"]


def test_memory_limit_makes_numpy_raise(level):
    """Does an allocation far beyond the memory limit fail inside the process?"""
    result = run_script(level, """
        import numpy as np
        try:
            blocks = [np.empty(2**24) for _ in range(64)]  # 8 GiB in 128 MiB steps
            print("allocated")
        except MemoryError:
            print("MemoryError")
    """, Limits(memory_mb=1024))
    assert result.stdout.strip() == "MemoryError", result.stderr


def test_cpu_limit_kills_a_busy_loop(level):
    """Does RLIMIT_CPU stop a busy loop before the wall-time limit?"""
    result = run_script(level, "while True:\n    pass\n", Limits(cpu_s=1, wall_s=60, stall_s=60))
    assert result.killed is None
    assert result.signal in ("SIGXCPU", "SIGKILL")


def test_file_size_limit(level):
    """Is a file larger than fsize_mb cut off?"""
    result = run_script(level, """
        import os, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            with open(os.path.join(os.environ["HOME"], "big"), "wb") as f:
                f.write(b"x" * 3 * 2**20)
            print("written")
        except OSError as e:
            print("refused", e.errno)
    """, Limits(fsize_mb=1))
    assert result.stdout.startswith("refused"), result.stdout + result.stderr


def test_printing_megabytes_is_cut(level):
    """Is the captured output cut to output_kb while the process runs to its end?"""
    result = run_script(level, """
        import sys
        for _ in range(40):
            sys.stdout.write("x" * 2**20)
            sys.stderr.write("y" * 2**20)
        print("end")
    """, Limits(output_kb=8))
    assert result.returncode == 0
    assert len(result.stdout) < 9 * 1024 and len(result.stderr) < 9 * 1024
    assert "more bytes not kept" in result.stdout


def test_fork_bomb_is_bounded_and_cleaned_up(strongest):
    """Does RLIMIT_NPROC bound a fork bomb, and is nothing of it left afterwards?"""
    if level_of(strongest) not in (NAMESPACES, UID):
        pytest.skip("a private uid is needed to count and reap the sandbox's processes")
    result = run_script(strongest, """
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
    """, Limits(wall_s=5, stall_s=60, nproc=16))
    assert result.killed == "wall"
    assert int(result.stdout.split()[0]) < 16
    assert sandbox_uid_processes() == []


def test_escaped_daemon_is_reaped(strongest):
    """Is a double-forked, setsid() child killed when the sandbox is done?"""
    if level_of(strongest) not in (NAMESPACES, UID):
        pytest.skip("a private uid is needed to find escaped processes")
    result = run_script(strongest, """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1000)
            os._exit(0)
        print("parent done")
    """)
    assert result.returncode == 0
    assert sandbox_uid_processes() == []


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
    try:
        with open(os.path.join(results, "forged.json"), "w") as f:
            f.write("{{}}")
        found.append("wrote " + results)
    except OSError:
        pass
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2).close()
        found.append("network")
    except OSError:
        pass
    print(json.dumps(sorted(set(found))))
"""


def test_private_root_hides_source_gradebook_and_results(strongest, tmp_path):
    """Can sandboxed code read the source (absolute, relative, through /proc, by walking /),
    find a gradebook, write into the results folder or reach the network? It must not."""
    if level_of(strongest) not in PRIVATE_LEVELS:
        pytest.skip(f"{strongest} does not give a private file system")
    results = tmp_path / "results"
    results.mkdir()
    (tmp_path / "gradebook.db").write_text("### BEGIN HIDDEN TESTS")
    result = run_script(strongest, SEARCH.format(secret=str(SECRET), results=str(results)),
                        Limits(wall_s=120, stall_s=120))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert list(results.iterdir()) == []


def test_venv_inside_the_source_tree_exposes_only_the_venv(strongest, tmp_path):
    """With the interpreter in a .venv inside the source tree (the Makefile's layout), can
    sandboxed code import numpy yet not read the tree through relative or absolute paths?"""
    if level_of(strongest) not in PRIVATE_LEVELS:
        pytest.skip(f"{strongest} does not give a private file system")
    repo = tmp_path / "repo"
    (repo / "assignment").mkdir(parents=True)
    secret = repo / "assignment" / "layers.py"
    secret.write_text("### BEGIN SOLUTION\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(repo / ".venv")], check=True)
    site = next((repo / ".venv" / "lib").glob("python*/site-packages"))
    numpy_site = Path(__import__("numpy").__file__).parents[1]
    (site / "grader.pth").write_text(f"{numpy_site}\n")
    python = str(repo / ".venv" / "bin" / "python")
    script = textwrap.dedent(SEARCH.format(secret=str(secret), results=str(tmp_path))) + "import numpy\n"
    with Sandbox(strongest, python=python, hide=(repo,)) as box:
        (box.box / "script.py").write_text(textwrap.dedent(script))
        result = box.run([python, "-I", box.path("script.py")], limits=Limits(wall_s=120, stall_s=120))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_progress_line_can_extend_the_stall_limit(level):
    """Does a line for which stall_after gives more time let a slow step finish?"""
    result = run_script(level, """
        import os, time
        fd = int(os.environ["GRADING_PROGRESS_FD"])
        os.write(fd, b"start 0\\n")
        time.sleep(2.5)
        os.write(fd, b"done 0\\n")
    """, Limits(wall_s=60, stall_s=1.5), stall_after={"start 0": 20.0}.get)
    assert result.killed is None and result.progress == ["start 0", "done 0"]
