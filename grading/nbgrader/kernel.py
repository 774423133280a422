"""A Jupyter kernel for ``nbgrader autograde`` that runs confined, like the hardened grader.

nbgrader executes a submission's notebooks in a kernel, and that kernel runs the student's
code. Left as it is, the kernel runs as the grader's user in the course folder and can read
the gradebook (hidden tests in plain text) and the instructor's source. The kernel spec that
:func:`install_kernel_spec` writes starts this file instead of ``ipykernel_launcher``::

    python -I grading/nbgrader/kernel.py --isolation LEVEL --data DIR --hide PATH... \
        -f CONNECTION_FILE

This launcher runs trusted, as the grader. It copies the kernel's working folder (the
autograded submission, nbgrader's copy) into a :class:`grading.hardened.sandbox.Sandbox` without the
notebooks (nbgrader has put the hidden tests back into them), adds a copy of the embedded
dataset, and runs ipykernel there at the isolation level given, with the sandbox's limits.

The kernel talks to nbgrader over Unix sockets (``transport = "ipc"``, set by
:data:`CONFIG_LINES`), because the strongest level gives the kernel a network namespace of
its own, where nbgrader's loopback TCP ports do not exist. The kernel binds its sockets in
the sandbox's writable folder and the launcher links the paths nbgrader connects to there.
Interrupts travel as messages (``interrupt_mode``), since the kernel is not in the
launcher's process group.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
from pathlib import Path

KERNEL_NAME = "grading-sandbox"
DATASETS = "data"  # inside the sandbox: the copy of the embedded dataset
FONTS_CONF = "fonts.conf"
WORK_IGNORED = ("*.ipynb", ".ipynb_checkpoints", "__pycache__", "*.pyc")
CONFIG_LINES = (
    "# Notebooks run in the confined kernel of grading/nbgrader/kernel.py, over Unix sockets.",
    f"c.Execute.kernel_name = {KERNEL_NAME!r}",
    "c.KernelManager.transport = 'ipc'",
)
# Passed on from nbgrader's environment to the kernel (the sandbox starts from an empty one).
FORWARDED_ENV = ("ASSIGNMENT_DATA",)
# The sandbox runs matplotlib headless (Agg), which shows nothing; in a notebook the figures
# belong in the outputs, as images, for the formgrader and the feedback.
INLINE_FIGURES = "MPLBACKEND=module://matplotlib_inline.backend_inline"


def socket_config_line(folder: Path) -> str:
    """The config line that puts a course's kernel sockets in ``folder`` (absolute and short:
    jupyter_client's default is relative to nbgrader's working folder, which the launcher
    does not know, and a socket path holds 108 bytes at most)."""
    return f"c.KernelManager.ip = {str(Path(folder).resolve() / 'kernel')!r}"


def install_kernel_spec(
    folder: Path,
    *,
    isolation: str,
    data: Path | None,
    hide: tuple[Path, ...] = (),
    wall_s: int = 3600,
    memory_mb: int = 4096,
) -> Path:
    """Write the kernel spec under ``folder/kernels/``; put ``folder`` on JUPYTER_PATH.

    ``isolation`` is a level of :mod:`grading.hardened.sandbox` (detected once by the caller);
    ``data`` the folder holding ``embedded/`` (copied into every kernel's sandbox);
    ``hide`` paths the kernel must not see even where the Python install is bound;
    ``wall_s`` bounds the life of one kernel (one notebook).
    """
    from grading.hardened.sandbox import level_of

    spec_dir = Path(folder) / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-I",
        str(Path(__file__).resolve()),
        "--isolation",
        level_of(isolation),
        "--wall",
        str(int(wall_s)),
        "--memory",
        str(int(memory_mb)),
    ]
    if data is not None:
        argv += ["--data", str(Path(data).resolve())]
    for path in hide:
        argv += ["--hide", str(Path(path).resolve())]
    spec = {
        "argv": argv + ["-f", "{connection_file}"],
        "display_name": "Python 3 (grading sandbox)",
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return Path(folder)


def _parse(argv: list[str]) -> argparse.Namespace:
    """The launcher's options; the rest (nbgrader's ``extra_arguments``) goes to ipykernel."""
    parser = argparse.ArgumentParser(prog="grading/nbgrader/kernel.py")
    parser.add_argument("--isolation", required=True)
    parser.add_argument("--wall", type=int, default=3600)
    parser.add_argument("--memory", type=int, default=4096)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--hide", type=Path, action="append", default=[])
    parser.add_argument("-f", dest="connection_file", type=Path, required=True)
    args, rest = parser.parse_known_args(argv)
    args.kernel_args = rest
    return args


def launch(args: argparse.Namespace) -> int:
    """Run one kernel in a sandbox until it exits; its exit status."""
    from grading.hardened.sandbox import Limits, Sandbox

    work = Path.cwd()
    info = json.loads(args.connection_file.read_text())
    if info.get("transport") != "ipc" or not os.path.isabs(info.get("ip", "")):
        print(
            "grading kernel: expected Unix sockets in an absolute folder (the course config "
            "sets them, see CONFIG_LINES and socket_config_line), got transport "
            f"{info.get('transport')!r} at {info.get('ip')!r}",
            file=sys.stderr,
        )
        return 2
    limits = Limits(
        wall_s=args.wall,
        stall_s=args.wall,
        cpu_s=args.wall,
        memory_mb=args.memory,
        nproc=64,
        tmp_mb=256,
    )
    # nbgrader connects to <ip>-<port>; the kernel binds <box>/out/kernel-<port>.
    links = [
        Path(f"{info['ip']}-{info[key]}")
        for key in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
    ]
    try:
        with Sandbox(args.isolation, hide=tuple(args.hide)) as box:
            _stage(box, work, args.data)
            inside = dict(info, ip=box.path("out") + "/kernel")
            (box.box / "kernel.json").write_text(json.dumps(inside))
            (box.box / "kernel.json").chmod(0o644)
            for link in links:
                link.unlink(missing_ok=True)
                link.symlink_to(box.out / f"kernel-{link.name.rsplit('-', 1)[1]}")
            env = [f"{name}={os.environ[name]}" for name in FORWARDED_ENV if name in os.environ]
            env += [f"FONTCONFIG_FILE={box.path(FONTS_CONF)}", INLINE_FIGURES]
            if args.data is not None:
                env.append(f"ASSIGNMENT_DATASETS_DIR={box.path(DATASETS)}")
            run = box.run(
                [
                    shutil.which("env") or "/usr/bin/env",
                    *env,
                    sys.executable,
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    box.path("kernel.json"),
                    *args.kernel_args,
                ],
                limits=limits,
            )
    finally:
        for link in links:
            link.unlink(missing_ok=True)
    if run.returncode != 0 or run.killed:
        print(f"grading kernel {run.describe()}\n{run.stderr[-2000:]}", file=sys.stderr)
    return 0 if run.returncode == 0 and not run.killed else 1


def _stage(box, work: Path, data: Path | None) -> None:
    """The kernel's working folder: nbgrader's copy of the submission without notebooks,
    the dataset, a quiet fontconfig; readable by the sandbox's user, writable by none."""
    shutil.copytree(
        work,
        box.box,
        dirs_exist_ok=True,
        symlinks=True,
        ignore=shutil.ignore_patterns(*WORK_IGNORED),
    )
    if data is not None:
        shutil.copytree(data, box.box / DATASETS, symlinks=True)
    # fontconfig finds no configuration in the private root and says so on stderr, into
    # the notebook's first plotting cell; an empty one keeps it quiet.
    (box.box / FONTS_CONF).write_text('<?xml version="1.0"?>\n<fontconfig></fontconfig>\n')
    for path in box.box.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def _stop(signum, frame):
    # jupyter_client ends a kernel that ignores shutdown with SIGTERM: leave through the
    # Sandbox's exit, which kills whatever the kernel started.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _stop)
    return launch(args)


if __name__ == "__main__":
    # Run as a script with -I: neither the working folder (the student's files) nor the
    # environment may choose what the launcher imports; the repository root is put first.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
