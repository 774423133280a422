"""Two small safeties every stage needs: files written whole or not at all, and environment
variables set for one step only."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a sibling of ``path``, then move it into place: a reader (a
    self-check, a spreadsheet, the next batch) never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.partial")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomically(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set the environment variables ``values`` for the duration of the block, then put back
    what was there (unset stays unset)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
