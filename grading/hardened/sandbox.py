"""Run untrusted code in a throwaway folder with limits, as isolated as this machine allows.

Isolation levels, strongest first (:func:`detect_isolation` tries them in this order and
keeps the first that works; ``GRADING_ISOLATION=<level>`` or ``isolation=`` asks for one):

``namespaces+uid`` (root, Linux)
    ``unshare`` of the network, mount, pid, ipc and uts namespaces; a private root file
    system made of a small read-only tmpfs holding read-only binds of the Python install
    (``/usr``, the interpreter's prefix, the virtual environment) and of the sandbox
    folder, a fresh ``/proc``, ``/dev/{null,zero,random,urandom}`` and a small ``/tmp``;
    then ``chroot`` and a drop to a uid of its own (no account, no groups, no
    capabilities, ``no_new_privs``). The repository, the gradebook and the results are
    simply not in that file system, wherever the virtual environment lives (a ``.venv``
    inside the repository binds the ``.venv`` alone). A fork bomb meets RLIMIT_NPROC of
    the fresh uid, and everything dies with the pid namespace.
``bwrap`` (no root, bubblewrap installed and user namespaces allowed)
    The same private root built by ``bwrap --unshare-all``; the process keeps the
    caller's uid outside, so RLIMIT_NPROC counts the caller's own processes too.
``uid`` (root without namespaces, e.g. a container without CAP_SYS_ADMIN)
    A drop to a uid of its own; the network stays reachable and the sandbox user reads
    whatever is world-readable: the probe says whether the source tree is, and the level
    is reported with a warning when it is.
``rlimits`` (anything else: a laptop, Colab)
    A plain child process in its own session with resource limits. It can read and write
    whatever the grader can; reported as such.

Every level applies the same limits (:class:`Limits`): wall time, time without progress,
CPU time, address space, processes, file size, and the captured stdout/stderr are cut to
a size. Files the sandboxed process can write lie in one folder (``out``), recreated for
every run; nothing in it is trusted by the caller.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import resource
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grading.errors import GradingError
from grading.hardened.runner import MAX_FRAME, SERVICE_ENV, read_frame, write_frame

NAMESPACES = "namespaces+uid"
BWRAP = "bwrap"
UID = "uid"
RLIMITS = "rlimits"
LEVELS = (NAMESPACES, BWRAP, UID, RLIMITS)
ISOLATION_ENV = "GRADING_ISOLATION"
DESCRIPTIONS = {
    NAMESPACES: "private namespaces (no network, own pid/ipc/mount), a root file system with the "
    "Python install only, an unprivileged uid of its own",
    BWRAP: "bubblewrap: private namespaces (no network), a root file system with the Python "
    "install only, the grader's own uid",
    UID: "an unprivileged uid of its own; network and world-readable files reachable",
    RLIMITS: "resource limits only: the code under test runs as the grader's user",
}
# Private uids (no account) for sandboxed processes: one per live sandbox, so that
# RLIMIT_NPROC and kill(-1) never reach another sandbox or a real user.
UID_BASE = 1_900_000_000
UID_SPAN = 10_000
# Where the sandbox sees its folder (private-root levels).
INSIDE = "/sandbox"
DEVICES = ("null", "zero", "random", "urandom")
PROGRESS_ENV = "GRADING_PROGRESS_FD"
MAX_PROGRESS_LINES = 10_000
MAX_PROGRESS_LINE = 200


class SandboxError(GradingError):
    """The sandbox could not be set up or run (not a failure of the code under test)."""


@dataclass(frozen=True)
class Limits:
    """What one sandboxed process may use.

    - wall_s: seconds from start to end of one process
    - stall_s: seconds without a progress line (the grader's runner writes one at least
      per case and per call of the code under test in a numeric gradient)
    - slowdown: the grader allows one check ``stall_s`` plus this many times what the
      reference took on it
    - submission_s: seconds for all the processes that grade one submission
    - cpu_s: CPU seconds (RLIMIT_CPU)
    - memory_mb: address space (RLIMIT_AS); numpy raises MemoryError beyond it
    - nproc: processes and threads of the sandbox user (RLIMIT_NPROC)
    - fsize_mb: largest file it may write (RLIMIT_FSIZE)
    - tmp_mb: size of its private /tmp (private-root levels)
    - out_mb, files: size and number of files of every folder it may write (its ``out`` and
      its private /tmp, each a size-capped tmpfs where the grader runs as root)
    - group_memory_mb: memory of all its processes together (a memory cgroup, where the
      grader can make one)
    - output_kb: stdout and stderr kept, each (the rest is read and dropped)
    - outputs_mb: results read back from ``out`` after one run, in all
    """

    wall_s: float = 600.0
    stall_s: float = 10.0
    slowdown: float = 50.0
    submission_s: float = 1200.0
    cpu_s: int = 600
    memory_mb: int = 2048
    nproc: int = 32
    fsize_mb: int = 64
    tmp_mb: int = 64
    out_mb: int = 128
    files: int = 4096
    group_memory_mb: int = 3072
    output_kb: int = 64
    outputs_mb: int = 64

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Limits: {name} must be a positive number, got {value!r}")


@dataclass
class RunResult:
    """How one sandboxed process ended and what it said."""

    returncode: int | None
    killed: str | None  # 'wall', 'stall', 'phase' or 'budget': what stopped it
    seconds: float
    stdout: str
    stderr: str
    progress: list[str] = field(default_factory=list)
    out_of_memory: bool = False  # the memory cgroup of the submission killed a process

    @property
    def signal(self) -> str | None:
        if self.returncode is None or self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"

    def describe(self) -> str:
        """How it ended, as a predicate ('was killed by SIGSEGV')."""
        if self.killed == "wall":
            return f"was stopped after {self.seconds:.0f} s (wall time limit)"
        if self.killed == "stall":
            return f"was stopped after {self.seconds:.0f} s (time limit without progress)"
        if self.killed == "phase":
            return "was stopped at the time limit of the check"
        if self.killed == "budget":
            return "was stopped: the time budget of the submission ran out"
        if self.signal == "SIGXCPU":
            return "was stopped by the CPU time limit"
        if self.out_of_memory:
            return "was killed: its processes together used more memory than allowed"
        if self.signal:
            return f"was killed by {self.signal}"
        return f"exited with status {self.returncode}"


# -- detection -------------------------------------------------------------------------------

_DETECTED: dict[tuple, str] = {}

PROBE = """\
import json, sys
report = {"numpy": False, "readable": []}
try:
    import numpy
    report["numpy"] = bool(numpy.ones(3).sum() == 3)
except Exception as e:
    report["error"] = repr(e)
for path in sys.argv[1:]:
    try:
        with open(path, "rb") as f:
            f.read(1)
        report["readable"].append(path)
    except OSError:
        pass
print(json.dumps(report))
"""


def detect_isolation(
    prefer: str | None = None, *, protect: tuple[Path, ...] = (), python: str = sys.executable
) -> str:
    """The strongest level that works here (or ``prefer``, which must work), as a string.

    Each candidate is tried by running a probe in it: numpy must import, and at a
    private-root level none of ``protect`` (files the code under test must not read) may
    be readable. Elsewhere a readable ``protect`` file, and code left running as root, are
    reported in the returned string as warnings. The answer is cached per process.
    """
    prefer = prefer or os.environ.get(ISOLATION_ENV) or None
    if prefer is not None and prefer not in LEVELS:
        raise SandboxError(
            None,
            None,
            f"detect_isolation: unknown level {prefer!r}; expected one of {', '.join(LEVELS)}",
        )
    protect = tuple(str(Path(p).resolve()) for p in protect)
    key = (prefer, protect, python)
    if key not in _DETECTED:
        _DETECTED[key] = _detect(prefer, protect, python)
    return _DETECTED[key]


def _detect(prefer: str | None, protect: tuple[str, ...], python: str) -> str:
    failures = []
    for level in [prefer] if prefer else _candidates():
        ok, why, readable = _probe(level, protect, python)
        if ok and readable and level in (NAMESPACES, BWRAP):
            ok, why = False, f"the probe could read {readable[0]}"
        if ok:
            warnings = [f"the sandboxed code can read {readable[0]}"] if readable else []
            if os.geteuid() == 0 and level in (BWRAP, RLIMITS):
                warnings.append("it runs as root: no bound on its number of processes")
            return f"{level} (warning: {'; '.join(warnings)})" if warnings else level
        failures.append(f"{level}: {why}")
    raise SandboxError(None, None, "no sandbox works here: " + "; ".join(failures))


def _candidates() -> list[str]:
    root = os.geteuid() == 0
    tools = lambda *names: all(shutil.which(n) for n in names)  # noqa: E731
    levels = []
    if root and tools("unshare", "setpriv", "chroot", "mount", "env", "kill"):
        levels.append(NAMESPACES)
    if not root and tools("bwrap"):
        levels.append(BWRAP)
    if root and tools("setpriv", "kill"):
        levels.append(UID)
    levels.append(RLIMITS)
    return levels


def _probe(level: str, protect: tuple[str, ...], python: str) -> tuple[bool, str, list[str]]:
    try:
        with Sandbox(level, python=python) as box:
            (box.box / "probe.py").write_text(PROBE)
            result = box.run(
                [python, "-I", box.path("probe.py"), *protect],
                limits=Limits(wall_s=60, stall_s=60, output_kb=16),
            )
    except (OSError, SandboxError) as error:
        return False, str(error), []
    try:
        report = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (result.stderr.strip().splitlines() or [result.describe()])[-1]
        return False, tail, []
    if not report.get("numpy"):
        return False, f"numpy does not import ({report.get('error', '?')})", []
    return True, "", list(report.get("readable", []))


def level_of(isolation: str) -> str:
    """The level name at the start of an isolation string (which may carry a warning)."""
    return isolation.split(" ", 1)[0]


# -- the sandbox -----------------------------------------------------------------------------


class Sandbox:
    """A throwaway folder and the way to run a command confined to it.

    Layout (host side): ``root/`` (owned by the caller, 0711) holding ``box/`` (what the
    process reads: write it before :meth:`run`; read-only to the process), ``box/out/``
    (the only folder it may write; recreated by every run) and ``mnt/`` (mount point of
    the private root). The process sees ``box`` at :meth:`path`.

        with Sandbox(level) as sb:
            (sb.box / "job.json").write_text(...)
            result = sb.run([python, "-I", sb.path("runner.py")], limits=Limits())
            ... read sb.out once run() has returned: every process of the sandbox is dead
    """

    def __init__(
        self,
        isolation: str,
        *,
        python: str = sys.executable,
        hide: tuple[Path, ...] = (),
        base: Path | None = None,
    ) -> None:
        self.level = level_of(isolation)
        if self.level not in LEVELS:
            raise SandboxError(
                None,
                None,
                f"Sandbox: unknown level {isolation!r}; expected one of {', '.join(LEVELS)}",
            )
        self.python = python
        self.hide = tuple(Path(p).resolve() for p in hide)
        self.base = base
        self.root: Path | None = None
        self.uid: int | None = None
        self._lease = None
        self.out_capped = False  # out/ is a tmpfs of out_mb and `files` inodes
        self.memory_group: _MemoryGroup | None = None

    @property
    def box(self) -> Path:
        return self.root / "box"

    @property
    def out(self) -> Path:
        return self.box / "out"

    def path(self, rel: str = "") -> str:
        """Where the process sees ``box/rel``."""
        top = INSIDE if self.level in (NAMESPACES, BWRAP) else str(self.box)
        return f"{top}/{rel}" if rel else top

    def __enter__(self) -> Sandbox:
        self.root = Path(tempfile.mkdtemp(prefix="grading-sandbox-", dir=self.base))
        self.root.chmod(0o711)
        for folder in (self.box, self.root / "mnt"):
            folder.mkdir()
        self.box.chmod(0o755)
        if self.level in (NAMESPACES, UID):
            self.uid, self._lease = _lease_uid()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._kill_all()
        finally:
            self._unmount_out()
            if self.memory_group is not None:
                self.memory_group.remove()
            if self._lease is not None:
                self._lease.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def run(
        self,
        argv: list[str],
        *,
        limits: Limits,
        deadline: float | None = None,
        deadline_of: Callable[[str], float | None] | None = None,
        service: Callable[[bytes], bytes] | None = None,
    ) -> RunResult:
        """Run ``argv`` (paths as the process sees them) in the sandbox, cwd at :meth:`path`.

        The process may write lines to the file descriptor named by the environment
        variable ``GRADING_PROGRESS_FD``; each line counts as progress and is returned; the
        next must come within ``stall_s``. ``deadline_of(line)``, called for each line,
        gives the ``time.monotonic()`` by which what the line started must be done (or
        None): it is stopped then ('phase'). ``deadline`` stops it early ('budget').
        Returns once every process of the sandbox is dead (at the ``rlimits`` level: every
        process still in its session; one that called setsid() escapes that level).

        With ``service``, the process also gets a channel (:data:`SERVICE_ENV`) on which
        each request frame is answered with ``service(request)``, by a thread of this
        process, until the process closes it or dies.
        """
        self._fresh_out(limits)
        if self.memory_group is None:
            self.memory_group = _MemoryGroup.make(limits.group_memory_mb)
        kills = self.memory_group.kills() if self.memory_group else 0
        read_fd, write_fd = os.pipe()
        env = self._env(limits, write_fd)
        channel = _Channel(service) if service is not None else None
        if channel is not None:
            env[SERVICE_ENV] = f"{channel.child_write},{channel.child_read}"
        command = self._command(argv, env, limits)
        nproc = limits.nproc if self.uid is not None else _own_tasks() + limits.nproc
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.box,
                pass_fds=(write_fd, *(channel.child_fds if channel else ())),
                env=env if self.level == RLIMITS else _TOOL_ENV,
                start_new_session=True,
                preexec_fn=_rlimits(limits, nproc, self.memory_group),
            )
        except OSError as error:
            os.close(read_fd)
            if channel is not None:
                channel.close()
            raise SandboxError(
                None, None, f"Sandbox.run: could not start {command[0]}: {error}"
            ) from None
        finally:
            os.close(write_fd)
        if channel is not None:
            channel.start()
        try:
            streams = _watch(proc, read_fd, limits, start, deadline, deadline_of)
        finally:
            self._kill_all(proc)
            proc.wait()
            os.close(read_fd)
            if channel is not None:
                channel.close()
        out, err, progress, killed = streams
        oom = bool(self.memory_group) and self.memory_group.kills() > kills
        return RunResult(
            self._returncode(proc), killed, time.monotonic() - start, out, err, progress, oom
        )

    # -- helpers -------------------------------------------------------------------------

    @property
    def _status(self) -> Path:
        return self.root / "status"

    def _returncode(self, proc: subprocess.Popen) -> int:
        """The command's exit status; negative for a signal, as subprocess reports it.

        Behind a shell (namespaces) or bwrap, a death by signal N arrives as status 128 + N.
        """
        status = proc.returncode
        if self.level == NAMESPACES:
            try:
                status = int(self._status.read_text())
            except (OSError, ValueError):
                return proc.returncode
        if self.level in (NAMESPACES, BWRAP) and status > 128:
            return -(status - 128)
        return status

    def _fresh_out(self, limits: Limits) -> None:
        """An empty out/: where the grader is root, a tmpfs of ``out_mb`` and ``files``
        inodes, so that no submission fills the host's disk."""
        self._status.unlink(missing_ok=True)
        self._unmount_out()
        if self.out.is_symlink() or self.out.is_file():
            self.out.unlink()
        elif self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(mode=0o700)
        if os.geteuid() == 0:
            options = (
                f"size={int(limits.out_mb)}m,nr_inodes={int(limits.files)},mode=0700,"
                "nosuid,nodev,noexec"
            )
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(self.out)],
                capture_output=True,
                env=_TOOL_ENV,
            )
            self.out_capped = done.returncode == 0
        if self.uid is not None:
            os.chown(self.out, self.uid, self.uid)

    def _unmount_out(self) -> None:
        if self.out_capped:
            if (
                subprocess.run(
                    ["umount", str(self.out)], capture_output=True, env=_TOOL_ENV
                ).returncode
                != 0
            ):
                subprocess.run(["umount", "-l", str(self.out)], capture_output=True, env=_TOOL_ENV)
            self.out_capped = False

    def _env(self, limits: Limits, progress_fd: int) -> dict[str, str]:
        private = self.level in (NAMESPACES, BWRAP)
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": self.path("out"),
            "TMPDIR": "/tmp" if private else self.path("out"),
            "LANG": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            PROGRESS_ENV: str(progress_fd),
        }

    def _command(self, argv: list[str], env: dict[str, str], limits: Limits) -> list[str]:
        if self.level == RLIMITS:
            return list(argv)
        drop = [
            shutil.which("setpriv") or "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.uid}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ]
        run_env = ["env", "-i", "-C", self.path(), *(f"{k}={v}" for k, v in env.items())]
        if self.level == UID:
            return [*drop, *run_env, *argv]
        if self.level == BWRAP:
            return [shutil.which("bwrap") or "bwrap", *self._bwrap_args(limits), *run_env, *argv]
        # unshare cannot pass on a child's death by signal (it exits 1), so the shell, pid 1
        # of the new namespace, writes the status to a file only root can write.
        script = (
            self._mount_script(limits)
            + "set +e\n"
            + " ".join(
                shlex.quote(a) for a in ["chroot", str(self.root / "mnt"), *drop, *run_env, *argv]
            )
            + f"\necho $? > {shlex.quote(str(self._status))}\n"
        )
        return [
            shutil.which("unshare") or "unshare",
            "--net",
            "--mount",
            "--pid",
            "--ipc",
            "--uts",
            "--fork",
            "--kill-child",
            "--propagation=private",
            "sh",
            "-c",
            script,
        ]

    def _mount_script(self, limits: Limits) -> str:
        """Shell commands (run as root in the new namespaces) that build the private root."""
        new = str(self.root / "mnt")
        q = shlex.quote
        lines = [
            "set -e",
            f"R={q(new)}",
            'mount -t tmpfs -o mode=0755,size=1m,nosuid,nodev tmpfs "$R"',
            'mkdir "$R/tmp" "$R/proc" "$R/dev"',
            f"mount -t tmpfs -o mode=1777,size={int(limits.tmp_mb)}m,"
            f'nr_inodes={int(limits.files)},nosuid,nodev tmpfs "$R/tmp"',
            'mount -t proc -o nosuid,nodev,noexec proc "$R/proc"',
        ]
        for device in DEVICES:
            lines += [f'touch "$R/dev/{device}"', f'mount --bind /dev/{device} "$R/dev/{device}"']
        for link, target in _top_links():
            lines.append(f'ln -s {q(target)} "$R"{q(link)}')
        for kind, path in self._layout():
            if kind == "bind":
                lines += [
                    f'mkdir -p "$R"{q(path)}',
                    f'mount --bind {q(path)} "$R"{q(path)}',
                    f'mount -o remount,bind,ro,nosuid,nodev "$R"{q(path)}',
                ]
            elif kind == "hide-dir":
                lines.append(f'mount -t tmpfs -o mode=0755,size=4k,ro tmpfs "$R"{q(path)}')
            else:
                lines.append(f'mount --bind /dev/null "$R"{q(path)}')
        lines += [
            f'mkdir -p "$R{INSIDE}"',
            f'mount --bind {q(str(self.box))} "$R{INSIDE}"',
            f'mount -o remount,bind,ro,nosuid,nodev "$R{INSIDE}"',
            f'mount --bind {q(str(self.out))} "$R{INSIDE}/out"',
            f'mount -o remount,bind,nosuid,nodev,noexec "$R{INSIDE}/out"',
            'mount -o remount,ro,bind "$R"',
        ]
        return "\n".join(lines) + "\n"

    def _bwrap_args(self, limits: Limits) -> list[str]:
        args = [
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--size",
            str(int(limits.tmp_mb) * 2**20),
            "--tmpfs",
            "/tmp",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ]
        for link, target in _top_links():
            args += ["--symlink", target, link]
        for kind, path in self._layout():
            if kind == "bind":
                args += ["--ro-bind", path, path]
            elif kind == "hide-dir":
                args += ["--tmpfs", path, "--remount-ro", path]
            else:
                args += ["--ro-bind", "/dev/null", path]
        return args + [
            "--ro-bind",
            str(self.box),
            INSIDE,
            "--bind",
            str(self.out),
            f"{INSIDE}/out",
            "--chdir",
            INSIDE,
        ]

    def _layout(self) -> list[tuple[str, str]]:
        """The read-only binds of the Python install and the masks over hidden paths under
        them, shallowest first so that each lands on top of its parent."""
        binds = _python_trees(self.python)
        entries = [("bind", b) for b in binds]
        for hidden in self.hide:
            if any(hidden.is_relative_to(b) for b in binds):
                entries.append(("hide-dir" if hidden.is_dir() else "hide-file", str(hidden)))
        return sorted(entries, key=lambda e: (len(Path(e[1]).parts), e[0] != "bind"))

    def _kill_all(self, proc: subprocess.Popen | None = None) -> None:
        """Kill every process the sandbox started, and wait until none is left."""
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.uid is not None:
            _kill_uid(self.uid)


_TOOL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


class _Channel:
    """Two pipes to a sandboxed process and the thread that answers its requests.

    Frames are an 8-byte big-endian length and that many bytes; a request larger than
    :data:`MAX_FRAME`, a broken frame or a failed write ends the service (the process then
    sees the channel closed and its call fails). The thread owns its two descriptors and
    closes them when the process has closed its side (it has died, at the latest)."""

    def __init__(self, service: Callable[[bytes], bytes]) -> None:
        self.service = service
        self.requests, self.child_write = os.pipe()
        self.child_read, self.replies = os.pipe()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def child_fds(self) -> tuple[int, int]:
        return self.child_write, self.child_read

    def start(self) -> None:
        for fd in self.child_fds:  # the child holds its copies
            os.close(fd)
        self.thread.start()

    def close(self) -> None:
        if self.thread.ident is None:  # never started: the process never ran
            for fd in (self.requests, self.replies, *self.child_fds):
                _close_quietly(fd)
            return
        self.thread.join(timeout=5)

    def _serve(self) -> None:
        try:
            while True:
                request = read_frame(self.requests, MAX_FRAME)
                if request is None:
                    return
                write_frame(self.replies, self.service(request))
        except (OSError, ValueError):
            return
        finally:
            _close_quietly(self.requests)
            _close_quietly(self.replies)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _python_trees(python: str) -> list[str]:
    """Folders the interpreter needs: /usr and its prefixes, real paths, none nested in another."""
    candidates = {
        "/usr",
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        str(Path(python).parent.parent),
        str(Path(os.path.realpath(python)).parent.parent),
    }
    for path in list(candidates):
        candidates.add(os.path.realpath(path))
    trees = sorted(
        {p for p in candidates if os.path.isdir(p) and not os.path.islink(p)},
        key=lambda p: len(Path(p).parts),
    )
    kept: list[str] = []
    for tree in trees:
        if tree != "/" and not any(Path(tree).is_relative_to(k) for k in kept):
            kept.append(tree)
    return kept


def _top_links() -> list[tuple[str, str]]:
    """Merged-/usr links (/bin -> usr/bin, /lib64 -> usr/lib64...) to recreate in the root."""
    links = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            links.append((str(path), os.readlink(path)))
    return links


def _rlimits(limits: Limits, nproc: int, group: _MemoryGroup | None = None):
    """The preexec function that sets the limits in the child before it runs anything, and
    puts it in the submission's memory cgroup (its children follow it there).

    A limit the system does not enforce (RLIMIT_AS on macOS) is left as it is: the
    ``rlimits`` level such systems get is reported as the weak one it is anyway."""
    wanted = [
        (resource.RLIMIT_CPU, int(limits.cpu_s)),
        (resource.RLIMIT_AS, int(limits.memory_mb) * 2**20),
        (resource.RLIMIT_FSIZE, int(limits.fsize_mb) * 2**20),
        (resource.RLIMIT_NPROC, int(nproc)),
        (resource.RLIMIT_CORE, 0),
    ]

    def apply() -> None:
        if group is not None:
            group.join()
        for which, value in wanted:
            _, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass

    return apply


class _MemoryGroup:
    """A memory cgroup (v2 where its memory controller is on, else v1) that caps all the
    processes of one sandbox together; the kernel kills one of them beyond the cap."""

    V2_ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")
    V1_ROOT = "/sys/fs/cgroup/memory"

    def __init__(self, path: Path, version: int) -> None:
        self.path, self.version = path, version

    @classmethod
    def make(cls, limit_mb: int) -> _MemoryGroup | None:
        """A new group capped at ``limit_mb``, or None where none can be made."""
        name = f"grading-{os.getpid()}-{random.randrange(16**8):08x}"
        limit = str(int(limit_mb) * 2**20)
        for root in cls.V2_ROOTS:
            try:
                if "memory" not in Path(root, "cgroup.controllers").read_text().split():
                    continue
                group = cls(Path(root, name), 2)
                group.path.mkdir()
            except OSError:
                continue
            if group._write("memory.max", limit) and group._write("memory.swap.max", "0", True):
                return group
            group.remove()
        try:
            group = cls(Path(cls.V1_ROOT, name), 1)
            group.path.mkdir()
        except OSError:
            return None
        if group._write("memory.limit_in_bytes", limit) and group._write(
            "memory.memsw.limit_in_bytes", limit, True
        ):
            return group
        group.remove()
        return None

    @property
    def description(self) -> str:
        return f"cgroup v{self.version}"

    def join(self) -> None:
        """Called in the child before exec: the child and all it starts are in the group."""
        with open(self.path / "cgroup.procs", "w") as handle:
            handle.write(str(os.getpid()))

    def kills(self) -> int:
        """How many processes of the group the kernel has killed for memory so far."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> None:
        for _ in range(50):  # the last processes may take a moment to leave
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)

    def _write(self, name: str, value: str, optional: bool = False) -> bool:
        try:
            (self.path / name).write_text(value)
            return True
        except FileNotFoundError:
            return optional
        except OSError:
            return False


def describe_limits(limits: Limits) -> str:
    """Every limit in force for a sandboxed submission here, and how it is enforced."""
    group = _MemoryGroup.make(limits.group_memory_mb)
    if group is not None:
        group.remove()
    disk = _can_mount_tmpfs()
    lines = [
        f"per check: {limits.stall_s:g} s + {limits.slowdown:g} x the reference's time, "
        f"counted by the grader (progress lines cannot extend it)",
        f"per submission: {limits.submission_s:g} s in all; memory of all its processes "
        + (
            f"{limits.group_memory_mb} MB ({group.description})"
            if group
            else f"not capped as a whole (no memory cgroup here): {limits.nproc} processes of "
            f"{limits.memory_mb} MB each at most"
        ),
        f"per process: {limits.wall_s:g} s wall, {limits.cpu_s} s CPU, {limits.memory_mb} MB "
        f"address space, {limits.nproc} processes and threads, files up to {limits.fsize_mb} MB",
        "disk: "
        + (
            f"out/ a tmpfs of {limits.out_mb} MB and {limits.files} files; private /tmp "
            f"{limits.tmp_mb} MB and {limits.files} files"
            if disk
            else f"not capped as a whole (not root): files up to {limits.fsize_mb} MB"
        ),
        f"output kept: {limits.output_kb} kB of stdout and of stderr, {limits.outputs_mb} MB "
        "of results per run",
    ]
    return "\n".join(lines)


def _can_mount_tmpfs() -> bool:
    if os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", folder],
            capture_output=True,
            env=_TOOL_ENV,
        )
        if done.returncode != 0:
            return False
        subprocess.run(["umount", folder], capture_output=True, env=_TOOL_ENV)
        return True


def _own_tasks() -> int:
    """Threads running as this user: RLIMIT_NPROC counts them all, not only the sandbox's."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


def _watch(
    proc: subprocess.Popen,
    progress_fd: int,
    limits: Limits,
    start: float,
    deadline: float | None,
    deadline_of: Callable[[str], float | None] | None,
) -> tuple[str, str, list[str], str | None]:
    """Read stdout, stderr and progress until the process ends or a limit stops it."""
    cap = int(limits.output_kb) * 1024
    kept = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    dropped = dict.fromkeys(kept, 0)
    pending, progress = bytearray(), []
    selector = selectors.DefaultSelector()
    for fd in (*kept, progress_fd):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    last, phase = start, None
    killed = None
    open_fds = len(kept) + 1
    while True:
        now = time.monotonic()
        stops = {"wall": start + limits.wall_s, "stall": last + limits.stall_s}
        if deadline is not None:
            stops["budget"] = deadline
        if phase is not None:
            stops["phase"] = phase
        reason, when = min(stops.items(), key=lambda item: item[1])
        if now >= when:
            killed = reason
            break
        if proc.poll() is not None and open_fds == 0:
            break
        if proc.poll() is not None:
            # The main process is gone; a leftover child may hold the pipes open.
            events = selector.select(timeout=0)
            if not events:
                break
        else:
            events = selector.select(timeout=min(0.2, when - now))
        for key, _ in events:
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                selector.unregister(key.fd)
                open_fds -= 1
                continue
            if key.fd == progress_fd:
                last = time.monotonic()
                pending += chunk
                *lines, rest = pending.split(b"\n")
                pending = bytearray(rest[:MAX_PROGRESS_LINE])
                for line in lines:
                    text = line[:MAX_PROGRESS_LINE].decode("utf-8", "replace")
                    if len(progress) < MAX_PROGRESS_LINES:
                        progress.append(text)
                    if deadline_of is not None:
                        phase = deadline_of(text)
            else:
                room = cap - len(kept[key.fd])
                kept[key.fd] += chunk[: max(room, 0)]
                dropped[key.fd] += max(len(chunk) - max(room, 0), 0)
    selector.close()
    texts = []
    for fd, data in kept.items():
        text = data.decode("utf-8", "replace")
        if dropped[fd]:
            text += f"\n[... {dropped[fd]} more bytes not kept]"
        texts.append(text)
    return texts[0], texts[1], progress, killed


# -- private uids ----------------------------------------------------------------------------


def _lease_uid() -> tuple[int, object]:
    """A uid no other live sandbox holds (a lock file held open), with nothing running as it."""
    folder = Path(tempfile.gettempdir()) / f"grading-sandbox-uids-{os.geteuid()}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(folder)
    if (
        not os.path.isdir(folder)
        or os.path.islink(folder)
        or info.st_uid != os.geteuid()
        or info.st_mode & 0o077
    ):
        raise SandboxError(
            folder,
            None,
            "Sandbox: the uid lock folder is not a private folder of this user; remove it",
        )
    offsets = list(range(UID_SPAN))
    random.shuffle(offsets)
    for offset in offsets[:200]:
        uid = UID_BASE + offset
        handle = open(
            os.open(folder / str(uid), os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600), "r+b"
        )
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _kill_uid(uid)
        return uid, handle
    raise SandboxError(folder, None, "Sandbox: no free sandbox uid (too many live sandboxes?)")


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid`` (kill(-1) as that uid) until none is left alive.

    kill's exit status says nothing useful here (kill(-1) counts processes it may not
    signal), so /proc is read to see what is left."""
    command = [
        shutil.which("setpriv") or "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        shutil.which("kill") or "kill",
        "-KILL",
        "-1",
    ]
    for _ in range(300):
        if not _alive(uid):
            return
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_TOOL_ENV)
        time.sleep(0.01)
    raise SandboxError(None, None, f"Sandbox: processes of uid {uid} survive SIGKILL")


def _alive(uid: int) -> list[int]:
    """Processes whose real uid is ``uid``, zombies left out (they run nothing)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", encoding="utf-8") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
            if int(fields["Uid"].split()[0]) == uid and fields["State"].split()[0] not in "ZX":
                found.append(int(entry.name))
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return found
