"""Fixtures for the data tests: a local HTTP server with switchable faults, a tiny CIFAR
archive in the real layout, and a private datasets folder."""

import hashlib
import io
import re
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assignment import data_utils, embedded_cifar

SOCKET_TIMEOUT = 5  # seconds; every socket in these tests gives up after this


@dataclass
class ServerState:
    """What the server serves and how it misbehaves, plus a log of what it was asked."""

    files: dict = field(default_factory=dict)  # URL path -> bytes
    honour_range: bool = True  # False: answer 200 with the whole body
    cut_next: int = 0  # cut this many responses halfway
    wrong_bytes: bool = False  # serve the right length of wrong bytes
    requests: list = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    timeout = SOCKET_TIMEOUT

    def do_GET(self):
        state = self.server.state
        record = {"path": self.path, "range": self.headers.get("Range"), "sent": 0}
        state.requests.append(record)
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if state.wrong_bytes:
            body = bytes(b ^ 0x5A for b in body)
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", record["range"] or "")
        if match and state.honour_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if state.cut_next:
            # Promise the whole body, send half, then close: what a dropped link looks like.
            state.cut_next -= 1
            payload = payload[: len(payload) // 2]
        # Logged before writing: the client may finish reading before write() returns.
        record["sent"] = len(payload)
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@dataclass
class Server:
    url: str
    state: ServerState


@pytest.fixture
def http_server():
    """A threaded HTTP server on 127.0.0.1 with Range support and switchable faults."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.state = ServerState()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{server.server_address[1]}", server.state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(SOCKET_TIMEOUT)


@dataclass
class Archive:
    data: bytes
    md5: str
    member_md5s: tuple


@pytest.fixture(scope="session")
def cifar_archive(tmp_path_factory):
    """A small cifar-10-python.tar.gz in the real layout (10 images per batch file)."""
    folder = embedded_cifar.generate(tmp_path_factory.mktemp("tiny"), images_per_batch=10)
    names = [*embedded_cifar.BATCH_FILES, embedded_cifar.META_FILE]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=embedded_cifar.FOLDER_NAME, recursive=False)
        for name in names:
            tar.add(folder / name, arcname=f"{embedded_cifar.FOLDER_NAME}/{name}")
    data = buffer.getvalue()
    md5s = tuple((name, hashlib.md5((folder / name).read_bytes()).hexdigest()) for name in names)
    return Archive(data, hashlib.md5(data).hexdigest(), md5s)


@pytest.fixture(scope="session")
def shared_datasets_dir(tmp_path_factory):
    """One datasets folder for the loader tests, so the embedded set is generated once."""
    return tmp_path_factory.mktemp("datasets")


@pytest.fixture
def datasets_dir(shared_datasets_dir, monkeypatch):
    """Point the loaders at a private datasets folder with no real CIFAR-10 in it."""
    monkeypatch.setenv("ASSIGNMENT_DATASETS_DIR", str(shared_datasets_dir))
    monkeypatch.delenv("ASSIGNMENT_DATA", raising=False)
    monkeypatch.setattr(data_utils, "_announced", False)
    return shared_datasets_dir
