"""Tests of grading/nbgrader/kernel.py: the confined kernel nbgrader runs notebooks in."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grading.hardened.sandbox import NAMESPACES, RLIMITS, detect_isolation, level_of
from grading.nbgrader import kernel
from grading.nbgrader.kernel import (
    CONFIG_LINES,
    KERNEL_NAME,
    install_kernel_spec,
    socket_config_line,
)

pytestmark = pytest.mark.grading

PROBE = """import json, os
found = {"uid": os.getuid(), "cwd": sorted(os.listdir(".")),
         "data": os.environ.get("ASSIGNMENT_DATA"),
         "datasets": os.environ.get("ASSIGNMENT_DATASETS_DIR")}
try:
    open(SECRET).read()
    found["secret"] = "read"
except OSError as error:
    found["secret"] = type(error).__name__
print(json.dumps(found))
"""


def test_kernel_spec_starts_the_launcher_with_message_interrupts(tmp_path):
    """Does the spec run this launcher at the level given, interrupt by message and pass
    the connection file through?"""
    folder = install_kernel_spec(
        tmp_path,
        isolation="uid (warning: x)",
        data=tmp_path / "d",
        hide=(tmp_path / "secret",),
        wall_s=60,
    )
    spec = json.loads((folder / "kernels" / KERNEL_NAME / "kernel.json").read_text())
    argv = spec["argv"]
    assert argv[1:3] == ["-I", str(Path(kernel.__file__).resolve())]
    assert argv[argv.index("--isolation") + 1] == "uid"
    assert argv[argv.index("--hide") + 1] == str(tmp_path / "secret")
    assert argv[-2:] == ["-f", "{connection_file}"]
    assert spec["interrupt_mode"] == "message"


def test_config_names_the_kernel_and_unix_sockets(tmp_path):
    """Does the config pick this kernel, Unix sockets, and a short absolute socket folder?"""
    assert f"c.Execute.kernel_name = {KERNEL_NAME!r}" in CONFIG_LINES
    assert "c.KernelManager.transport = 'ipc'" in CONFIG_LINES
    line = socket_config_line(tmp_path)
    assert line == f"c.KernelManager.ip = {str(tmp_path.resolve() / 'kernel')!r}"


def run_in_kernel(tmp_path: Path, isolation: str, code: str) -> dict:
    """Start the confined kernel in a working folder like nbgrader's, run ``code``, return
    what it printed as JSON."""
    from jupyter_client.manager import KernelManager

    work = tmp_path / "autograded"
    (work / "assignment").mkdir(parents=True)
    (work / "Notebook.ipynb").write_text("{}")  # nbgrader's copy, hidden tests inside
    data = tmp_path / "data"
    (data / "embedded").mkdir(parents=True)
    folder = install_kernel_spec(tmp_path / "jupyter", isolation=isolation, data=data, wall_s=120)
    runtime = tmp_path / "rt"
    runtime.mkdir()
    before = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "ASSIGNMENT_DATA")}
    os.environ.update(JUPYTER_PATH=str(folder), ASSIGNMENT_DATA="embedded")
    cwd = os.getcwd()
    os.chdir(work)
    manager = KernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=str(runtime / "kernel"))
    printed: list[dict] = []
    try:
        manager.start_kernel()
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(code, timeout=60, output_hook=printed.append)
        assert reply["content"]["status"] == "ok", reply["content"]
        client.stop_channels()
    finally:
        manager.shutdown_kernel(now=False)
        os.chdir(cwd)
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    text = "".join(m["content"].get("text", "") for m in printed if m["msg_type"] == "stream")
    return json.loads(text.strip().splitlines()[-1])


@pytest.fixture
def secret(tmp_path):
    """A stand-in for the gradebook: a private file in a private folder of the grader."""
    folder = tmp_path / "course"
    folder.mkdir(mode=0o700)
    path = folder / "gradebook.db"
    path.write_text("hidden tests")
    path.chmod(0o600)
    return path


@pytest.mark.slow
def test_strongest_kernel_cannot_read_the_gradebook_or_the_notebooks(tmp_path, secret):
    """At the strongest level here, does the kernel run the code without seeing the
    gradebook, the notebooks nbgrader restored the hidden tests into, or another uid?"""
    isolation = detect_isolation(None, protect=(secret,))
    if level_of(isolation) == RLIMITS:
        pytest.skip(f"{isolation}: no level that hides files works here (see the next test)")
    found = run_in_kernel(tmp_path, isolation, f"SECRET = {str(secret)!r}\n{PROBE}")
    assert found["secret"] in ("FileNotFoundError", "PermissionError")
    assert "Notebook.ipynb" not in found["cwd"] and "assignment" in found["cwd"]
    assert found["data"] == "embedded" and found["datasets"].endswith("/data")
    if level_of(isolation) == NAMESPACES:
        assert found["uid"] != os.getuid() and found["secret"] == "FileNotFoundError"


@pytest.mark.slow
def test_weakest_level_still_runs_the_kernel(tmp_path, secret):
    """Where no isolation works, does the kernel still run (as the grader's user, which is
    why the hardened grader has the last word)?"""
    found = run_in_kernel(tmp_path, RLIMITS, f"SECRET = {str(secret)!r}\n{PROBE}")
    assert found["uid"] == os.getuid() and found["secret"] == "read"


def test_launcher_refuses_tcp_connections(tmp_path, capsys):
    """Does the launcher refuse a TCP connection file (its kernel would sit in a network
    namespace nbgrader cannot reach) with a message naming the config to set?"""
    from grading.nbgrader.kernel import _parse, launch

    connection = tmp_path / "kernel.json"
    connection.write_text(json.dumps({"transport": "tcp", "ip": "127.0.0.1", "shell_port": 1}))
    assert launch(_parse(["--isolation", RLIMITS, "-f", str(connection)])) == 2
    assert "socket_config_line" in capsys.readouterr().err
