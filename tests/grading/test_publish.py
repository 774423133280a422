"""A release fitted to the course's repository: set-up cells, Colab badges, README links, and
the release written as a zip or a git repository."""

from __future__ import annotations

import subprocess
import zipfile

import nbformat
import pytest

from grading.release import publish, setup_cell

pytestmark = pytest.mark.grading

URL = "https://github.com/my-course/assignment2.git"


def _release(tmp_path):
    folder = tmp_path / "release"
    folder.mkdir()
    for name in ("Dropout", "FullyConnectedNets", "PyTorch"):
        nb = nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_markdown_cell(f"# {name}"),
                nbformat.v4.new_code_cell(setup_cell.render(None)),
                nbformat.v4.new_code_cell("x = 1"),
            ]
        )
        nb.cells[1].metadata["tags"] = ["setup"]
        nbformat.write(nb, folder / f"{name}.ipynb")
    (folder / "README.md").write_text(f"# A2\n\n{publish.README_MARK}\n")
    (folder / "assignment").mkdir()
    (folder / "assignment" / "layers.py").write_text("pass\n")
    return folder


def test_colab_url_of_github_addresses_only():
    assert publish.colab_url(URL, "spring", "Dropout.ipynb") == (
        "https://colab.research.google.com/github/my-course/assignment2/blob/spring/Dropout.ipynb"
    )
    assert publish.colab_url("git@github.com:me/a2.git", "main", "X.ipynb").endswith(
        "/github/me/a2/blob/main/X.ipynb"
    )
    assert publish.colab_url("https://gitlab.com/me/a2.git", "main", "X.ipynb") is None


def test_customize_writes_url_badge_and_readme_links(tmp_path):
    folder = _release(tmp_path)
    # In the order students work through them, not the alphabet's.
    order = ["FullyConnectedNets.ipynb", "Dropout.ipynb", "PyTorch.ipynb"]
    assert publish.customize(folder, URL, "spring") == order
    nb = nbformat.read(folder / "Dropout.ipynb", as_version=4)
    assert nb.cells[1].source == setup_cell.render(URL, "spring")
    assert nb.cells[1].metadata["tags"] == ["setup"]
    badge = publish.badge(publish.colab_url(URL, "spring", "Dropout.ipynb"))
    assert nb.cells[0].source.startswith(badge) and nb.cells[0].source.endswith("# Dropout")
    readme = (folder / "README.md").read_text()
    assert publish.README_MARK not in readme and badge in readme
    links = [line for line in readme.splitlines() if line.startswith("- ")]
    assert [line.rsplit(" ", 1)[1] + ".ipynb" for line in links] == order
    # Run twice (a rebuilt release): still one badge.
    publish.customize(folder, URL, "spring")
    nb = nbformat.read(folder / "Dropout.ipynb", as_version=4)
    assert nb.cells[0].source.count(publish.BADGE_IMAGE) == 1


def test_without_url_no_badge_and_the_readme_is_left_alone(tmp_path):
    folder = _release(tmp_path)
    publish.customize(folder)
    nb = nbformat.read(folder / "Dropout.ipynb", as_version=4)
    assert publish.BADGE_IMAGE not in nb.cells[0].source
    assert 'ASSIGNMENT_REPO = ""' in nb.cells[1].source
    assert (folder / "README.md").read_text() == f"# A2\n\n{publish.README_MARK}\n"


def test_zip_holds_one_folder_named_as_on_drive(tmp_path):
    folder = _release(tmp_path)
    target = publish.write_zip(folder, tmp_path / "release.zip")
    names = zipfile.ZipFile(target).namelist()
    assert "assignment2/assignment/layers.py" in names
    assert all(n.startswith("assignment2/") for n in names)


def test_git_repository_is_committed_and_clean(tmp_path):
    folder = _release(tmp_path)
    commit = publish.write_git(folder, "spring")
    assert len(commit) == 40
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=folder, capture_output=True, text=True, check=True
    ).stdout
    assert status == ""
    branch = subprocess.run(
        ["git", "branch", "--show-current"], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert branch == "spring"


def test_cli_release_options_parse():
    from grading.cli import build_parser

    args = build_parser().parse_args(
        ["release", "--out", "r", "--repo-url", URL, "--branch", "spring", "--git"]
    )
    assert (args.repo_url, args.branch, args.git, args.zip) == (URL, "spring", True, False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["release", "--out", "r", "--zip", "--git"])
