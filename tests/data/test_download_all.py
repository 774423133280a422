"""`get_datasets.py A B`: every asset asked for is tried and reported, and a failed download
names the partial file it will resume from only when there is one."""

import dataclasses

import pytest

from assignment import download
from assignment.download import ASSETS, DownloadError, fetch
from tests.data.test_download import PAYLOAD, fast, file_asset

pytestmark = pytest.mark.data


def test_a_failed_asset_does_not_stop_the_next(tmp_path, http_server, monkeypatch, capsys):
    missing = dataclasses.replace(
        file_asset(http_server, PAYLOAD, name="gone.npz"), name="imagenet_val"
    )
    del http_server.state.files["/files/gone.npz"]
    present = dataclasses.replace(
        file_asset(http_server, PAYLOAD, name="w.pt"), name="squeezenet", extract=None
    )
    monkeypatch.setitem(ASSETS, "imagenet_val", missing)
    monkeypatch.setitem(ASSETS, "squeezenet", present)
    assert download.main(["imagenet_val", "squeezenet", "--dest", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "error: imagenet_val" in err and "HTTP 404" in err
    assert f"squeezenet: ready in {tmp_path / 'w.pt'}" in err
    assert "ready: squeezenet; failed: imagenet_val" in err
    assert (tmp_path / "w.pt").read_bytes() == PAYLOAD


def test_give_up_names_the_part_file_that_exists(tmp_path, http_server):
    asset = file_asset(http_server, PAYLOAD)
    http_server.state.cut_next = 100
    with pytest.raises(DownloadError) as err:
        fetch(asset, tmp_path, **fast(retries=1))
    part = tmp_path / f"{asset.filename}.part"
    assert part.is_file()
    assert f"resumes from {part} ({part.stat().st_size} bytes so far)" in str(err.value)


def test_give_up_without_a_byte_saved_says_so(tmp_path):
    asset = dataclasses.replace(
        ASSETS["imagenet_val"], url="http://127.0.0.1:9/none.npz", filename="none.npz"
    )
    with pytest.raises(DownloadError) as err:
        fetch(asset, tmp_path, **fast(retries=0))
    assert "nothing was saved yet" in str(err.value) and ".part" not in str(err.value)
