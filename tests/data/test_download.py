"""Tests for assignment/download.py and the datasets/get_datasets.py command line, against a
local HTTP server (nothing leaves 127.0.0.1)."""

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assignment import data_utils, download
from assignment.download import (
    ASSETS,
    CIFAR10,
    IMAGENET_VAL,
    SQUEEZENET,
    DownloadError,
    Extract,
    fetch,
    mirror_url,
)

pytestmark = pytest.mark.data

REPO = Path(__file__).resolve().parents[2]
TAR_PATH = "/~kriz/cifar-10-python.tar.gz"
SOCKET_TIMEOUT = 5  # seconds, like the test server's own sockets


def fast(**kwargs):
    """fetch() options for tests: no bar, no waiting between retries, short timeouts."""
    return {"progress": False, "backoff": 0, "timeout": SOCKET_TIMEOUT, **kwargs}


@pytest.fixture
def cifar_asset(http_server, cifar_archive):
    """The real cifar10 entry, pointed at the local server and the tiny archive."""
    http_server.state.files[TAR_PATH] = cifar_archive.data
    return dataclasses.replace(
        CIFAR10,
        url=http_server.url + TAR_PATH,
        size=len(cifar_archive.data),
        digest=cifar_archive.md5,
        extract=Extract("cifar-10-batches-py", cifar_archive.member_md5s),
    )


def file_asset(server, data, name="blob.npz", **changes):
    """A single-file asset (like imagenet_val) served at /files/<name>."""
    server.state.files[f"/files/{name}"] = data
    fields = dict(
        url=f"{server.url}/files/{name}",
        filename=name,
        size=len(data),
        digest=hashlib.sha256(data).hexdigest(),
    )
    return dataclasses.replace(IMAGENET_VAL, **{**fields, **changes})


PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


def test_asset_table_holds_the_published_sizes_and_checksums():
    """Do the real assets carry the published URLs, sizes and digests?"""
    assert CIFAR10.url == "http://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert (CIFAR10.size, CIFAR10.algorithm, CIFAR10.digest) == (
        170_498_071,
        "md5",
        "c58f30108f718f92721af3b95e74349a",
    )
    assert dict(CIFAR10.extract.md5s) == {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
    }
    assert CIFAR10.target == data_utils.CIFAR10_FOLDER
    assert (IMAGENET_VAL.size, IMAGENET_VAL.algorithm, IMAGENET_VAL.digest) == (
        3_940_548,
        "sha256",
        "35141609d22457c791e8fbe10c2d3b09ed0d6a04b669173e9fbebb0b4915cd3c",
    )
    assert IMAGENET_VAL.target == data_utils.IMAGENET_VAL_FILE
    assert SQUEEZENET.url == "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth"
    assert (SQUEEZENET.size, SQUEEZENET.digest, SQUEEZENET.digest_is_prefix) == (
        None,
        "b8a52dc0",
        True,
    )
    assert SQUEEZENET.target == data_utils.SQUEEZENET_FILE
    assert set(ASSETS) == {"cifar10", "imagenet_val", "squeezenet"}


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"algorithm": "sha1"}, "algorithm must be one of md5, sha256"),
        ({"digest": "abc"}, "digest must be 64 lower-case hex digits"),
        ({"digest": "B8A52DC0", "digest_is_prefix": True}, "digest must be 8 to 64"),
        ({"digest": "b8a5", "digest_is_prefix": True}, "digest must be 8 to 64"),
    ],
)
def test_asset_with_a_malformed_checksum_is_refused(changes, fragment):
    """Is a typo in the asset table caught when the table is built?"""
    with pytest.raises(ValueError, match=fragment):
        dataclasses.replace(IMAGENET_VAL, **changes)


def test_fresh_download_unpacks_verifies_and_removes_the_archive(
    tmp_path, http_server, cifar_asset
):
    """Does a first fetch leave exactly the verified folder, readable by the loader?"""
    path = fetch(cifar_asset, tmp_path, **fast())
    assert path == tmp_path / "cifar-10-batches-py"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-py"]
    assert [r["range"] for r in http_server.state.requests] == [None]
    Xtr, ytr, Xte, yte = data_utils.load_CIFAR10(path)
    assert Xtr.shape == (50, 32, 32, 3) and Xte.shape == (10, 32, 32, 3)


def test_archive_whose_files_fail_their_md5_is_not_installed(tmp_path, cifar_asset):
    """Is a per-file MD5 mismatch after unpacking an error that installs nothing?"""
    md5s = dict(cifar_asset.extract.md5s, test_batch="0" * 32)
    asset = dataclasses.replace(
        cifar_asset, extract=Extract("cifar-10-batches-py", tuple(md5s.items()))
    )
    with pytest.raises(DownloadError, match=r"test_batch has md5 [0-9a-f]{32}, expected 0{32}"):
        fetch(asset, tmp_path, **fast())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-python.tar.gz"]


def test_truncated_download_is_resumed_by_the_retry(tmp_path, http_server, cifar_asset):
    """When the connection drops mid-body, does the retry ask only for the rest?"""
    http_server.state.cut_next = 1
    fetch(cifar_asset, tmp_path, **fast())
    first, second = http_server.state.requests
    assert first["range"] is None and first["sent"] == cifar_asset.size // 2
    assert second["range"] == f"bytes={first['sent']}-"
    assert second["sent"] == cifar_asset.size - first["sent"]
    assert data_utils.has_cifar10(tmp_path / "cifar-10-batches-py")


def test_retries_are_bounded(tmp_path, http_server):
    """Does a link that keeps dropping end in a clear error after retries + 1 attempts?"""
    asset = file_asset(http_server, PAYLOAD)
    http_server.state.cut_next = 100
    with pytest.raises(DownloadError, match="gave up after 3 attempts") as err:
        fetch(asset, tmp_path, **fast(retries=2))
    assert asset.url in str(err.value) and "run the same command again" in str(err.value)
    assert len(http_server.state.requests) == 3
    assert not (tmp_path / asset.filename).exists()


def test_wrong_checksum_deletes_the_part_file_and_says_both_digests(tmp_path, http_server):
    """Does a corrupted download leave nothing behind and explain expected vs got?"""
    asset = file_asset(http_server, PAYLOAD)
    http_server.state.wrong_bytes = True
    with pytest.raises(DownloadError) as err:
        fetch(asset, tmp_path, **fast())
    got = hashlib.sha256(bytes(b ^ 0x5A for b in PAYLOAD)).hexdigest()
    message = str(err.value)
    assert message.startswith(f"{asset.name} ({asset.url}): ")
    assert f"sha256 {got}, expected {asset.digest}" in message
    assert "was deleted" in message and "Run the same command again" in message
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_resumes_with_a_range_request(tmp_path, http_server):
    """Does an existing .part make the client send Range and receive only the rest?"""
    asset = file_asset(http_server, PAYLOAD)
    (tmp_path / (asset.filename + ".part")).write_bytes(PAYLOAD[:40_000])
    path = fetch(asset, tmp_path, **fast())
    (request,) = http_server.state.requests
    assert request["range"] == "bytes=40000-"
    assert request["sent"] == len(PAYLOAD) - 40_000
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / (asset.filename + ".part")).exists()


def test_server_ignoring_range_restarts_from_scratch(tmp_path, http_server):
    """When the server answers 200 to a Range request, is the stale .part overwritten?"""
    asset = file_asset(http_server, PAYLOAD)
    (tmp_path / (asset.filename + ".part")).write_bytes(b"stale bytes from elsewhere")
    http_server.state.honour_range = False
    path = fetch(asset, tmp_path, **fast())
    (request,) = http_server.state.requests
    assert request["range"] is not None and request["sent"] == len(PAYLOAD)
    assert path.read_bytes() == PAYLOAD


def test_complete_part_file_is_verified_without_a_request(tmp_path, http_server):
    """Does a .part that already has every byte skip the network?"""
    asset = file_asset(http_server, PAYLOAD)
    (tmp_path / (asset.filename + ".part")).write_bytes(PAYLOAD)
    assert fetch(asset, tmp_path, **fast()).read_bytes() == PAYLOAD
    assert http_server.state.requests == []


def test_part_of_unknown_size_completes_on_416(tmp_path, http_server):
    """With no size in the table, is a complete .part accepted when the server says 416?"""
    asset = file_asset(http_server, PAYLOAD, size=None)
    (tmp_path / (asset.filename + ".part")).write_bytes(PAYLOAD)
    assert fetch(asset, tmp_path, **fast()).read_bytes() == PAYLOAD
    assert [r["range"] for r in http_server.state.requests] == [f"bytes={len(PAYLOAD)}-"]


def test_already_present_and_verified_makes_no_request(tmp_path, http_server, cifar_asset):
    """Is a second fetch of a verified asset free of any network traffic?"""
    fetch(cifar_asset, tmp_path, **fast())
    asset = file_asset(http_server, PAYLOAD)
    (tmp_path / asset.filename).write_bytes(PAYLOAD)
    before = len(http_server.state.requests)
    assert fetch(cifar_asset, tmp_path, **fast()) == tmp_path / "cifar-10-batches-py"
    assert fetch(asset, tmp_path, **fast()) == tmp_path / asset.filename
    assert len(http_server.state.requests) == before


def test_present_but_damaged_copy_is_reported_then_replaced_with_force(
    tmp_path, http_server, cifar_asset
):
    """Is a damaged folder named in the error, kept, and replaced only with force?"""
    fetch(cifar_asset, tmp_path, **fast())
    damaged = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    damaged.write_bytes(b"oops")
    with pytest.raises(DownloadError, match="data_batch_3 has md5 .*--force"):
        fetch(cifar_asset, tmp_path, **fast())
    assert damaged.read_bytes() == b"oops"
    fetch(cifar_asset, tmp_path, **fast(force=True))
    assert damaged.read_bytes() != b"oops"


def test_archive_already_downloaded_is_unpacked_without_a_request(
    tmp_path, http_server, cifar_asset, cifar_archive
):
    """Is a verified tarball in the destination (fetched by hand) used as it is?"""
    (tmp_path / cifar_asset.filename).write_bytes(cifar_archive.data)
    fetch(cifar_asset, tmp_path, **fast())
    assert http_server.state.requests == []
    assert data_utils.has_cifar10(tmp_path / "cifar-10-batches-py")


def test_damaged_archive_in_destination_is_reported_then_replaced_with_force(
    tmp_path, http_server, cifar_asset, cifar_archive
):
    """Is a bad tarball left in the destination named, and replaced only with force?"""
    (tmp_path / cifar_asset.filename).write_bytes(b"x" * len(cifar_archive.data))
    with pytest.raises(DownloadError, match=r"cifar-10-python\.tar\.gz has md5 .*Delete it"):
        fetch(cifar_asset, tmp_path, **fast())
    assert http_server.state.requests == []
    fetch(cifar_asset, tmp_path, **fast(force=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-py"]


def test_fetch_of_an_unknown_asset_name_is_refused(tmp_path):
    """Does fetch('name') with a misspelt name say which names exist?"""
    with pytest.raises(ValueError, match="fetch: unknown asset 'cifar'; choose among cifar10"):
        fetch("cifar", tmp_path)


def test_server_offering_the_wrong_size_is_stopped_before_the_body(tmp_path, http_server):
    """Is a file of the wrong length (an error page, another file) refused up front?"""
    asset = file_asset(http_server, PAYLOAD, size=len(PAYLOAD) + 1)
    with pytest.raises(DownloadError, match=f"offers {len(PAYLOAD)} bytes, expected"):
        fetch(asset, tmp_path, **fast())
    assert list(tmp_path.iterdir()) == []


def test_http_404_fails_at_once_with_the_url(tmp_path, http_server):
    """Is a missing file one request and an error that names the URL and --mirror?"""
    asset = file_asset(http_server, PAYLOAD)
    http_server.state.files.clear()
    with pytest.raises(DownloadError, match=r"HTTP 404 .*--mirror") as err:
        fetch(asset, tmp_path, **fast())
    assert asset.url in str(err.value)
    assert len(http_server.state.requests) == 1


def test_digest_prefix_is_checked_like_torchvision_names_its_weights(tmp_path, http_server):
    """Is the SqueezeNet-style check (first hex digits of the SHA-256) applied?"""
    prefix = hashlib.sha256(PAYLOAD).hexdigest()[:8]
    good = file_asset(
        http_server, PAYLOAD, name="w.pth", size=None, digest=prefix, digest_is_prefix=True
    )
    assert fetch(good, tmp_path / "a", **fast()).read_bytes() == PAYLOAD
    bad = dataclasses.replace(good, digest="00000000")
    with pytest.raises(DownloadError, match=f"sha256 {prefix}, expected 00000000"):
        fetch(bad, tmp_path / "b", **fast())


@pytest.mark.parametrize(
    "base", ["https://mirror.example.org/course/data", "https://mirror.example.org/course/data/"]
)
def test_mirror_replaces_everything_before_the_file_name(base):
    """Does --mirror BASE give BASE/<filename>, with or without a trailing slash?"""
    assert (
        mirror_url(CIFAR10, base) == "https://mirror.example.org/course/data/cifar-10-python.tar.gz"
    )
    assert (
        mirror_url(SQUEEZENET, base)
        == "https://mirror.example.org/course/data/squeezenet1_1-b8a52dc0.pth"
    )
    assert mirror_url(CIFAR10, None) == CIFAR10.url


def test_mirror_without_a_url_scheme_is_refused():
    """Is a mirror given as a bare path an error that says what is accepted?"""
    with pytest.raises(DownloadError, match="--mirror must be an http://, https:// or file://"):
        mirror_url(CIFAR10, "/srv/mirror")


def test_download_through_http_and_file_mirrors(tmp_path, http_server, cifar_asset, cifar_archive):
    """Are the files fetched from the mirror, and still checked against the table?"""
    http_server.state.files["/mirror/cifar-10-python.tar.gz"] = cifar_archive.data
    fetch(cifar_asset, tmp_path / "http", **fast(mirror=http_server.url + "/mirror/"))
    assert [r["path"] for r in http_server.state.requests] == ["/mirror/cifar-10-python.tar.gz"]

    folder = tmp_path / "offline-mirror"
    folder.mkdir()
    (folder / "cifar-10-python.tar.gz").write_bytes(cifar_archive.data)
    fetch(cifar_asset, tmp_path / "file", **fast(mirror=folder.as_uri()))
    assert data_utils.has_cifar10(tmp_path / "file" / "cifar-10-batches-py")
    with pytest.raises(DownloadError, match="no such file"):
        fetch(cifar_asset, tmp_path / "none", **fast(mirror=(tmp_path / "empty").as_uri()))


# The command line


def test_cli_fetches_an_asset_and_exits_zero(tmp_path, cifar_asset, monkeypatch, capsys):
    """Does `get_datasets.py cifar10 --dest DIR` fetch into DIR and exit 0?"""
    monkeypatch.setitem(ASSETS, "cifar10", cifar_asset)
    assert download.main(["cifar10", "--dest", str(tmp_path)]) == 0
    assert data_utils.has_cifar10(tmp_path / "cifar-10-batches-py")
    assert f"cifar10: ready in {tmp_path / 'cifar-10-batches-py'}" in capsys.readouterr().err


def test_cli_failure_is_one_line_and_exit_one(tmp_path, http_server, capsys):
    """Does a failed download print one `error:` line (no traceback) and exit 1?"""
    argv = ["imagenet_val", "--mirror", http_server.url, "--dest", str(tmp_path), "-q"]
    assert download.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: imagenet_val (http://127.0.0.1:")
    assert download.main(argv + ["-v"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_cli_unknown_asset_is_a_usage_error(capsys):
    """Does a misspelt asset exit 2 and list the valid names?"""
    with pytest.raises(SystemExit) as exit_info:
        download.main(["cifar100"])
    assert exit_info.value.code == 2
    assert (
        "unknown asset cifar100; choose among cifar10, imagenet_val, squeezenet"
        in capsys.readouterr().err
    )


def run_script(args, cwd, script="get_datasets.py"):
    env = {**os.environ, "PYTHON": sys.executable}
    command = [sys.executable] if script.endswith(".py") else ["bash"]
    return subprocess.run(
        [*command, str(REPO / "datasets" / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_script_runs_from_any_folder(tmp_path):
    """Do get_datasets.py and the .sh wrapper work from an unrelated working folder?"""
    listing = run_script(["--list", "--dest", str(tmp_path)], cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.split()[0] == "cifar10" and "missing" in listing.stdout
    usage = run_script(["--help"], cwd=tmp_path, script="get_datasets.sh")
    assert usage.returncode == 0, usage.stderr
    assert "(default: cifar10)" in " ".join(usage.stdout.split())


def test_datasets_folder_does_not_shadow_hugging_face_datasets():
    """Is datasets/ kept from becoming a regular package named `datasets`?"""
    assert not (REPO / "datasets" / "__init__.py").exists()
