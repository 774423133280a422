"""Fit a built release to the course's repository, and write it as a zip or a git repository.

``python -m grading release --repo-url URL [--branch B]`` renders every notebook's set-up
cell with the URL (so Colab clones the course's copy onto the student's Drive), puts an
"Open in Colab" badge in each notebook's first cell and a list of them in the README.
Without a URL the set-up cell tells Colab users how to upload the folder instead, and the
README's list says the same. The release folder is the root of the course's repository, so
a notebook's path there is its file name.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import nbformat

from grading.errors import ReleaseError
from grading.layout import curriculum_rank
from grading.release import setup_cell

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
# The README line that the release build replaces with the notebooks' Colab links.
README_MARK = "<!-- colab-links -->"
_GITHUB = re.compile(r"^(?:https://github\.com/|git@github\.com:)([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


def colab_url(repo_url: str, branch: str, path: str) -> str | None:
    """Colab's address of ``path`` in a GitHub repository at ``branch``; None elsewhere."""
    match = _GITHUB.match(repo_url or "")
    if not match:
        return None
    owner, repo = match.groups()
    return f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/{path}"


def badge(url: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({url})"


def customize(
    release: Path, repo_url: str | None = None, branch: str = setup_cell.DEFAULT_BRANCH
) -> list[str]:
    """Set-up cells, badges and README links of the release at ``release``; the notebooks
    changed, in the order students work through them. A notebook without a set-up cell gets
    its badge only."""
    release = Path(release)
    source = setup_cell.render(repo_url, branch)
    changed, links = [], []
    for path in sorted(release.glob("*.ipynb"), key=lambda p: curriculum_rank(p.name)):
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        setup_cell.apply(nb, source)
        url = colab_url(repo_url, branch, path.name) if repo_url else None
        if url:
            _add_badge(nb, url)
            links.append(f"- {badge(url)} {path.stem}")
        if nbformat.writes(nb) != before:
            nbformat.write(nb, path)
            changed.append(path.name)
    _write_readme_links(release / "README.md", repo_url, links)
    return changed


def _add_badge(nb, url: str) -> None:
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "markdown":
        first = nbformat.v4.new_markdown_cell("")
        nb.cells.insert(0, first)
    lines = [line for line in first.source.splitlines() if BADGE_IMAGE not in line]
    first.source = "\n".join([badge(url), ""] + lines).rstrip("\n")


def _write_readme_links(readme: Path, repo_url: str | None, links: list[str]) -> None:
    """The README's mark (an HTML comment, invisible when left) becomes the Colab links."""
    if not repo_url or not readme.is_file():
        return
    text = readme.read_text(encoding="utf-8")
    if links:
        block = "Open a notebook in Colab from here:\n\n" + "\n".join(links)
    else:
        block = (
            f"Your course's copy is at {repo_url}: in Colab, *File*, *Open notebook*, "
            "*GitHub*, and paste that address."
        )
    readme.write_text(text.replace(README_MARK, block), encoding="utf-8")


def write_zip(release: Path, target: Path, top: str = setup_cell.DRIVE_FOLDER) -> Path:
    """``target``: every file of ``release`` under one folder ``top``, the name the
    notebooks look for on Drive."""
    release, target = Path(release), Path(target)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(release.rglob("*")):
            rel = path.relative_to(release)
            if path.is_file() and ".git" not in rel.parts:
                archive.write(path, f"{top}/{rel.as_posix()}")
    return target


def write_git(release: Path, branch: str = setup_cell.DEFAULT_BRANCH) -> str:
    """Make ``release`` a git repository with everything committed on ``branch``, ready to
    push to the course's repository; the commit's id."""
    release = Path(release)
    identity = ["-c", "user.name=Course staff", "-c", "user.email=course@localhost"]
    steps = (
        ("init", ["init", "--quiet", "--initial-branch", branch]),
        ("add", ["add", "--all"]),
        ("commit", [*identity, "commit", "--quiet", "-m", "Assignment 2 release"]),
        ("rev-parse", ["rev-parse", "HEAD"]),
    )
    for step, args in steps:
        done = subprocess.run(["git", *args], cwd=release, capture_output=True, text=True)
        if done.returncode != 0:
            raise ReleaseError(
                release,
                None,
                f"publish: git {step} failed: {done.stderr.strip() or done.stdout.strip()}",
            )
    return done.stdout.strip()
