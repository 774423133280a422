"""Fetch the course's datasets and weights: checksummed, resumable, with a progress bar.

Each asset is described once in ASSETS. A download goes to `<file>.part`; an existing
`.part` is resumed with an HTTP Range request (and restarted when the server ignores it);
connection errors and truncated bodies are retried with backoff; size and checksum are
verified before the final rename. An asset that is already present and verifies is left
alone without any network request.

A mirror is a flat folder holding the files under their published names: with
`--mirror BASE_URL` an asset's URL becomes `BASE_URL/<filename>` (everything before the
file name, scheme, host and path, is replaced; a trailing slash on BASE_URL is optional).
`http://`, `https://` and `file://` mirrors work, and the checksums still apply.

pooch cannot resume a partial download, hence the small downloader here; it uses pooch
for hashing and only the standard library for HTTP.
"""

import argparse
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pooch import file_hash
from tqdm import tqdm

from .data_utils import datasets_dir

CHUNK = 1 << 16
DIGEST_LENGTHS = {"md5": 32, "sha256": 64}


class DownloadError(Exception):
    """A fetch failed; the message names the asset, the URL and what to do about it."""


@dataclass(frozen=True)
class Extract:
    """Unpack a downloaded .tar.gz whose files all sit in `folder`, then check their MD5s."""

    folder: str
    md5s: tuple  # ((file name inside folder, MD5 hex digest), ...)


@dataclass(frozen=True)
class Asset:
    """One downloadable file and how to check it.

    `digest` is the full hex digest of the file under `algorithm`, or, with
    `digest_is_prefix`, its first hex digits (torchvision names its weight files after the
    first 8 hex digits of their SHA-256). `size` is in bytes, None when unknown.
    """

    name: str
    url: str
    filename: str
    size: int | None
    algorithm: str
    digest: str
    purpose: str
    extract: Extract | None = None
    digest_is_prefix: bool = False

    def __post_init__(self):
        full = DIGEST_LENGTHS.get(self.algorithm)
        if full is None:
            raise ValueError(
                f"Asset {self.name}: algorithm must be one of "
                f"{', '.join(DIGEST_LENGTHS)}, got {self.algorithm!r}"
            )
        length_ok = (
            8 <= len(self.digest) <= full if self.digest_is_prefix else len(self.digest) == full
        )
        if not length_ok or any(c not in "0123456789abcdef" for c in self.digest):
            count = f"8 to {full}" if self.digest_is_prefix else full
            raise ValueError(
                f"Asset {self.name}: digest must be {count} lower-case hex "
                f"digits of {self.algorithm}, got {self.digest!r}"
            )

    @property
    def target(self):
        """The name, inside the destination folder, of what a successful fetch leaves."""
        return self.extract.folder if self.extract else self.filename


CIFAR10 = Asset(
    name="cifar10",
    url="http://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    filename="cifar-10-python.tar.gz",
    size=170_498_071,
    algorithm="md5",
    digest="c58f30108f718f92721af3b95e74349a",
    purpose="CIFAR-10 (python batches) for every notebook",
    extract=Extract(
        "cifar-10-batches-py",
        (
            ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
            ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
            ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
            ("data_batch_4", "634d18415352ddfa80567beed471001a"),
            ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
            ("test_batch", "40351d587109b95175f43aff81a1287e"),
            ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
        ),
    ),
)
IMAGENET_VAL = Asset(
    name="imagenet_val",
    url="http://cs231n.stanford.edu/imagenet_val_25.npz",
    filename="imagenet_val_25.npz",
    size=3_940_548,
    algorithm="sha256",
    digest="35141609d22457c791e8fbe10c2d3b09ed0d6a04b669173e9fbebb0b4915cd3c",
    purpose="25 ImageNet validation images for Network_Visualization",
)
SQUEEZENET = Asset(
    name="squeezenet",
    url="https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
    filename="squeezenet1_1-b8a52dc0.pth",
    size=None,
    algorithm="sha256",
    digest="b8a52dc0",
    digest_is_prefix=True,
    purpose="pretrained SqueezeNet 1.1 weights for Network_Visualization",
)
ASSETS = {asset.name: asset for asset in (CIFAR10, IMAGENET_VAL, SQUEEZENET)}
DEFAULT_ASSETS = ("cifar10",)


def mirror_url(asset, mirror):
    """Return the asset's URL, or `mirror/<filename>` when a mirror base URL is given."""
    if not mirror:
        return asset.url
    if urllib.parse.urlsplit(mirror).scheme not in ("http", "https", "file"):
        raise DownloadError(
            f"{asset.name}: --mirror must be an http://, https:// or file:// URL, got {mirror!r}"
        )
    return mirror.rstrip("/") + "/" + asset.filename


def fetch(
    asset,
    dest=None,
    *,
    mirror=None,
    force=False,
    progress=None,
    retries=4,
    timeout=30.0,
    backoff=1.0,
):
    """Make `asset` present and verified in `dest`; return the path of what it left there.

    Inputs:
    - asset: an Asset (or the name of one in ASSETS)
    - dest: destination folder (default: datasets_dir())
    - mirror: base URL of a mirror, see the module docstring
    - force: replace what is already there
    - progress: show a progress bar; None shows one only on a terminal
    - retries: attempts after the first one on connection errors and truncated bodies
    - timeout: seconds any single socket operation may wait
    - backoff: seconds before the first retry, doubled for each further one

    Returns:
    - the path of the file, or of the extracted folder
    """
    if isinstance(asset, str):
        if asset not in ASSETS:
            raise ValueError(f"fetch: unknown asset {asset!r}; choose among {', '.join(ASSETS)}")
        asset = ASSETS[asset]
    dest = Path(dest) if dest is not None else datasets_dir()
    url = mirror_url(asset, mirror)
    target = dest / asset.target
    file = dest / asset.filename
    if target.exists() and not force:
        _check_present(asset, target, url)
        return target
    if force:
        for path in (target, file):
            if path.exists():
                _remove(path)
    dest.mkdir(parents=True, exist_ok=True)
    if file.exists():
        # A complete file left by an earlier run (or put there by hand) spares a download.
        if problem := _file_problem(asset, file):
            raise DownloadError(f"{asset.name} ({url}): {problem}. Delete it and run again.")
    else:
        _download(asset, url, file, progress, retries, timeout, backoff)
    if asset.extract:
        _extract(asset, file, dest, url)
        file.unlink()
    return target


def _say(progress, message):
    if progress is not False:
        print(message, file=sys.stderr)


def _remove(path):
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _check_present(asset, target, url):
    problem = _folder_problem(asset, target) if asset.extract else _file_problem(asset, target)
    if problem:
        raise DownloadError(
            f"{asset.name} ({url}): {problem}. Delete {target}, or run again "
            f"with --force, to fetch a fresh copy."
        )


def _file_problem(asset, path):
    """Say what is wrong with a downloaded file, or return None when it verifies."""
    size = path.stat().st_size
    if asset.size is not None and size != asset.size:
        return f"{path} has {size} bytes, expected {asset.size}"
    got = file_hash(str(path), alg=asset.algorithm)
    if not got.startswith(asset.digest):
        return f"{path} has {asset.algorithm} {got[: len(asset.digest)]}, expected {asset.digest}"
    return None


def _folder_problem(asset, folder):
    """Say which extracted files are missing or differ, or return None when all verify."""
    bad = []
    for name, md5 in asset.extract.md5s:
        path = folder / name
        if not path.is_file():
            bad.append(f"{name} is missing")
        elif (got := file_hash(str(path), alg="md5")) != md5:
            bad.append(f"{name} has md5 {got}, expected {md5}")
    return f"in {folder}, {'; '.join(bad)}" if bad else None


class _Retryable(Exception):
    """A transfer problem that another attempt (resuming where it stopped) may fix."""


def _download(asset, url, file, progress, retries, timeout, backoff):
    part = file.with_name(file.name + ".part")
    _say(progress, f"{asset.name}: downloading {url}")
    for attempt in range(retries + 1):
        try:
            _transfer(asset, url, part, progress, timeout)
            break
        except (_Retryable, ConnectionError, TimeoutError, http.client.HTTPException) as err:
            problem = err
        except urllib.error.HTTPError as err:
            if err.code < 500 and err.code != 429:
                raise DownloadError(
                    f"{asset.name} ({url}): the server answered HTTP "
                    f"{err.code} {err.reason}. Check the URL, or use "
                    f"--mirror with a server that has {asset.filename}."
                )
            problem = err
        except urllib.error.URLError as err:
            if isinstance(err.reason, FileNotFoundError):
                raise DownloadError(
                    f"{asset.name} ({url}): no such file. Check the "
                    f"--mirror folder holds {asset.filename}."
                )
            problem = err
        if attempt == retries:
            resume = (
                f"it resumes from {part} ({part.stat().st_size} bytes so far)"
                if part.is_file() and part.stat().st_size
                else "nothing was saved yet"
            )
            raise DownloadError(
                f"{asset.name} ({url}): gave up after {retries + 1} attempts, last error: "
                f"{problem}. Check your connection and run the same command again "
                f"({resume}), or use --mirror."
            )
        wait = backoff * 2**attempt
        _say(progress, f"{asset.name}: {problem}; retrying in {wait:g} s")
        time.sleep(wait)
    if problem := _file_problem(asset, part):
        part.unlink()
        raise DownloadError(
            f"{asset.name} ({url}): {problem}. The download was corrupted "
            f"or the server sent another file; {part.name} was deleted. Run "
            f"the same command again, or use --mirror with a trusted copy."
        )
    os.replace(part, file)


def _transfer(asset, url, part, progress, timeout):
    """Fetch the rest of `url` into `part`; raise _Retryable when the body ends early."""
    have = part.stat().st_size if part.exists() else 0
    if asset.size is not None and have >= asset.size:
        if have == asset.size:
            return  # complete already: verification decides whether it is right
        part.unlink()
        have = 0
    headers = {"User-Agent": "assignment-get-datasets"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            return  # nothing left to send: the part is complete (size unknown to us)
        raise
    with response:
        status = getattr(response, "status", None)
        if have and status == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {have}-"):
                part.unlink()
                raise _Retryable(f"the server resumed at the wrong offset ({content_range!r})")
            mode = "ab"
        else:
            have, mode = 0, "wb"  # a plain 200 ignores Range: start over
        length = response.headers.get("Content-Length")
        expected = have + int(length) if length is not None else asset.size
        if asset.size is not None and expected != asset.size:
            raise DownloadError(
                f"{asset.name} ({url}): the server offers {expected} bytes, "
                f"expected {asset.size}; it is not serving the right file. "
                f"Check the URL or the --mirror."
            )
        got = have
        with (
            open(part, mode) as f,
            tqdm(
                total=expected,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=asset.name,
                disable=None if progress is None else not progress,
                leave=False,
            ) as bar,
        ):
            while chunk := response.read(CHUNK):
                f.write(chunk)
                got += len(chunk)
                bar.update(len(chunk))
    if expected is not None and got < expected:
        raise _Retryable(f"the connection closed after {got} of {expected} bytes")


def _extract(asset, archive, dest, url):
    folder = asset.extract.folder
    tmp = Path(tempfile.mkdtemp(prefix=f".{asset.name}-", dir=dest))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar.getmembers():
                    parts = Path(member.name).parts
                    if (
                        parts[:1] != (folder,)
                        or ".." in parts
                        or not (member.isfile() or member.isdir())
                    ):
                        raise DownloadError(
                            f"{asset.name} ({url}): unexpected entry "
                            f"{member.name!r} in {archive}; not extracting."
                        )
                # The 'data' filter (Python >= 3.11.4) adds tarfile's own safety checks.
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, **safe)
        except (tarfile.TarError, EOFError, OSError) as err:
            raise DownloadError(
                f"{asset.name} ({url}): could not unpack {archive}: {err}. Delete it and run again."
            ) from err
        if problem := _folder_problem(asset, tmp / folder):
            raise DownloadError(
                f"{asset.name} ({url}): after unpacking {archive.name}, "
                f"{problem}. The archive is not the expected one; delete "
                f"{archive} and run again."
            )
        os.replace(tmp / folder, dest / folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def list_assets(dest):
    """Return one line per asset: name, size, whether it is in `dest`, and what it is for."""
    lines = []
    for asset in ASSETS.values():
        size = f"{asset.size / 2**20:.1f} MiB" if asset.size else "size ?"
        here = "present" if (dest / asset.target).exists() else "missing"
        default = " (default)" if asset.name in DEFAULT_ASSETS else ""
        lines.append(f"{asset.name:<13} {size:>10}  {here:<8} {asset.purpose}{default}")
    return lines


def main(argv=None):
    """Command line: fetch the named assets; exit 0 on success, 1 on a failure."""
    parser = argparse.ArgumentParser(
        prog="get_datasets.py",
        description="Download, verify and unpack the datasets and weights the notebooks use.",
    )
    parser.add_argument(
        "assets",
        nargs="*",
        metavar="ASSET",
        help=f"what to fetch, among {', '.join(ASSETS)} (default: {' '.join(DEFAULT_ASSETS)})",
    )
    parser.add_argument(
        "--mirror",
        metavar="URL",
        help="base URL of a mirror; an asset is fetched from URL/<file name>",
    )
    parser.add_argument(
        "--dest", metavar="DIR", type=Path, help=f"destination folder (default: {datasets_dir()})"
    )
    parser.add_argument("--list", action="store_true", help="list the assets and exit")
    parser.add_argument(
        "--force", action="store_true", help="fetch again even when a verified copy is present"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar or status lines"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the traceback of an error"
    )
    args = parser.parse_args(argv)
    dest = args.dest if args.dest is not None else datasets_dir()
    if args.list:
        print("\n".join(list_assets(dest)))
        return 0
    unknown = [name for name in args.assets if name not in ASSETS]
    if unknown:
        parser.error(f"unknown asset {', '.join(unknown)}; choose among {', '.join(ASSETS)}")
    progress = False if args.quiet else None
    names = list(dict.fromkeys(args.assets or DEFAULT_ASSETS))
    failed = []
    for name in names:  # one failure does not stop the others
        try:
            path = fetch(
                ASSETS[name], dest, mirror=args.mirror, force=args.force, progress=progress
            )
        except (DownloadError, OSError) as err:
            if args.verbose:
                traceback.print_exc()
            print(f"error: {err}", file=sys.stderr)
            failed.append(name)
            continue
        except KeyboardInterrupt:
            print("interrupted: run the same command again to resume", file=sys.stderr)
            return 130
        _say(progress, f"{name}: ready in {path}")
    if len(names) > 1:
        ready = [n for n in names if n not in failed]
        _say(
            progress, f"ready: {', '.join(ready) or 'none'}; failed: {', '.join(failed) or 'none'}"
        )
    return 1 if failed else 0
