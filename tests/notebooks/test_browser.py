"""A student's first minutes, in a real browser: a Jupyter server on 127.0.0.1 serves a release
notebook, headless Chromium (driven by Playwright, with the system's chromium) runs its
set-up cell and one check cell, and the self-check table is read back from the page."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from grading.layout import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.dropout]

NOTEBOOK = "Dropout"
CHECK = "dropout_forward"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser() -> str | None:
    path = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    return path if path and os.access(path, os.X_OK) else None


@pytest.fixture(scope="module")
def playwright_browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed "
        "(pip install -c constraints.txt playwright)")
    executable = _browser()
    if executable is None:
        pytest.skip("no chromium found (apt-get install chromium, or set CHROMIUM to a "
                    "Chromium or Chrome executable); playwright cannot download one here")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A release of one notebook served by Jupyter; yields (base URL, token, release)."""
    from grading.release.build import build_release

    base = tmp_path_factory.mktemp("browser")
    release = build_release(REPO_ROOT, base / "release", notebooks=[NOTEBOOK]).out
    settings = base / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Every cell in the page, so that keyboard navigation and reading outputs do not depend
    # on which cells the notebook has scrolled into view.
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), "browser-test"
    log = open(base / "jupyter.log", "wb")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONPATH": "", "MPLBACKEND": "Agg",
           "JUPYTERLAB_SETTINGS_DIR": str(base / "lab-settings"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime")}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
         f"--ServerApp.root_dir={release}", "--allow-root"],  # CI containers run as root
        cwd=release, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail("jupyter lab exited: "
                                f"{(base / 'jupyter.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer on 127.0.0.1 within a minute")
        yield url, token, release
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_setup_and_check_cells_run_in_the_browser(playwright_browser, server):
    url, token, release = server
    import nbformat

    cells = nbformat.read(release / f"{NOTEBOOK}.ipynb", as_version=4).cells
    setup = next(i for i, c in enumerate(cells) if c.source.startswith("# Set-up:"))
    check = next(i for i, c in enumerate(cells) if f'grade("{CHECK}")' in c.source)

    page = playwright_browser.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/lab/tree/{NOTEBOOK}.ipynb?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_selector("#jp-main-statusbar >> text=Idle")
    page.locator(".jp-Notebook .jp-Cell").nth(setup).click()
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+Enter")  # runs the set-up cell, selects the next one
    for _ in range(check - setup - 1):
        page.keyboard.press("j")
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-Notebook .jp-Cell").nth(check).locator(".jp-OutputArea")
    output.locator("text=total").wait_for()
    table = output.inner_text()
    assert CHECK in table and "FAIL" in table, table
    assert "not implemented yet" in table, table
    setup_output = page.locator(".jp-Notebook .jp-Cell").nth(setup).locator(".jp-OutputArea")
    assert "Error" not in setup_output.inner_text()
