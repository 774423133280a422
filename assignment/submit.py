"""Hand in: check the notebooks, then zip what the grader reads.

From a terminal, in the folder that holds `assignment/` (on Colab, in a cell: `!python -m
assignment.submit --id YOUR_ID`):

    python -m assignment.submit

From a notebook:

    from assignment.submit import submit
    submit()

It checks that every notebook was run from top to bottom without errors (Restart and run
all), that every written answer is filled in and that the self-check cells ran, asks your
student id once (kept in `.student_id`), and writes `<id>_assignment2.zip` in this folder:
your id (`student_id.txt`, so a renamed zip is still yours), the notebooks, the
`assignment/` package, your Part V weights when you saved them, and an HTML copy of each
notebook with its plots for the graders to read. Save your notebooks first: it reads them
from disk. It lists what the zip holds and warns of anything missing; hand in the zip as
your course tells you.
"""

import argparse
import json
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ZIP_SUFFIX = "_assignment2.zip"
ID_FILE = ".student_id"
# Inside the zip too, so that the grader knows whose it is whatever the file is renamed to.
ID_IN_ZIP = "student_id.txt"
# What the grader reads besides the notebooks (release-relative): the package and the
# Part V weights that PyTorch.ipynb saves.
PACKAGE = "assignment"
DATA_FILES = ("part5_weights.pt",)
SKIPPED = ("__pycache__", ".ipynb_checkpoints")
ANSWER_PLACEHOLDER = "YOUR ANSWER HERE"
CODE_PLACEHOLDER = "YOUR CODE HERE"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PROMPT = re.compile(r"^\s*\**\s*your answer\s*:?\s*\**\s*:?\s*", re.IGNORECASE)


@dataclass
class Submission:
    """What :func:`submit` wrote (``zip``, None when it could not) and what it found."""

    zip: Path | None = None
    contents: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self):
        return self.zip is not None and not self.warnings


def expected_notebooks():
    """The notebooks of the assignment, in the order the course takes them."""
    from .checks import CATALOGUE

    return [f"{name}.ipynb" for name in dict.fromkeys(c.notebook for c in CATALOGUE.values())]


def notebook_problems(path):
    """What is not finished in the notebook at ``path``: one sentence per problem."""
    name = Path(path).name
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [f"{name}: cannot be read as a notebook ({e}); open it in Jupyter and save it again"]
    problems, last, unrun, checks_unrun = [], 0, [], []
    for number, cell in enumerate(cells, 1):
        source = _text(cell.get("source", ""))
        grading = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "markdown" and grading.get("solution"):
            answer = _PROMPT.sub("", source).strip()
            if not answer or ANSWER_PLACEHOLDER in answer:
                problems.append(
                    f"{name}: the answer to {_label(grading, number)} is still empty; "
                    "write it in place of YOUR ANSWER HERE"
                )
            continue
        if cell.get("cell_type") != "code" or not source.strip():
            continue
        if grading.get("solution") and CODE_PLACEHOLDER in source:
            problems.append(
                f"{name}: cell {number} ({_label(grading, number)}) still holds "
                "YOUR CODE HERE; write your code there"
            )
        count = cell.get("execution_count")
        if count is None:
            (checks_unrun if grading.get("grade") else unrun).append(number)
            continue
        if count <= last:
            problems.append(
                f"{name}: cell {number} ran before the cells above it (execution "
                f"count {count} after {last}); use Restart and run all"
            )
        last = max(last, count)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                what = f"{output.get('ename', 'an error')}: {output.get('evalue', '')}".strip()
                if grading.get("grade"):
                    problems.append(
                        f"{name}: the self-check in cell {number} failed ({what[:160]}); "
                        "fix that function and run the notebook again"
                    )
                else:
                    problems.append(
                        f"{name}: cell {number} ended in an error ({what[:160]}); "
                        "fix it and run the notebook again"
                    )
    if unrun:
        problems.append(
            f"{name}: {len(unrun)} code cell(s) never ran (the first is cell "
            f"{unrun[0]}); use Restart and run all, then save"
        )
    if checks_unrun:
        problems.append(
            f"{name}: the self-check did not run ({len(checks_unrun)} check cell(s), "
            f"the first is cell {checks_unrun[0]}); run the notebook to the end"
        )
    return problems


def student_id(folder, given=None, ask=input):
    """The id given, else the one stored in ``folder/.student_id``, else asked (and stored)."""
    stored = Path(folder) / ID_FILE
    value = given
    if value is None and stored.is_file():
        value = stored.read_text(encoding="utf-8").strip()
    if value is None:
        value = ask("Your student id (as your course gives it; it names the zip): ").strip()
    if not _ID.match(value or ""):
        raise ValueError(
            f"submit: a student id is letters, digits, '.', '_' or '-' (up to 64, "
            f"starting with a letter or digit), got {value!r}"
        )
    stored.write_text(value + "\n", encoding="utf-8")
    return value


def package_files(folder):
    """The files of ``assignment/`` to hand in (no caches), relative to ``folder``."""
    folder = Path(folder)
    return sorted(
        p.relative_to(folder).as_posix()
        for p in (folder / PACKAGE).rglob("*")
        if p.is_file()
        and not p.is_symlink()
        and not any(part in SKIPPED or part.endswith(".pyc") for part in p.parts)
    )


def html_export(path):
    """The notebook at ``path`` as a standalone HTML page (plots embedded); None when
    nbconvert is missing or fails."""
    try:
        import nbformat
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(nbformat.read(str(path), as_version=4))
        return body
    except Exception as e:  # noqa: BLE001 - the zip is still worth writing without HTML
        print(f"note: no HTML copy of {Path(path).name} ({type(e).__name__}: {e})")
        return None


def submit(folder=None, student=None, ask=input, html=True):
    """Check the assignment in ``folder`` (default: the one holding this package), write
    ``<id>_assignment2.zip`` there, print what it holds and every warning; a Submission."""
    folder = Path(folder) if folder is not None else Path(__file__).resolve().parents[1]
    if not (folder / PACKAGE).is_dir():
        raise ValueError(
            f"submit: expected the assignment folder (the one holding {PACKAGE}/), got {folder}"
        )
    report = Submission()
    student = student_id(folder, student, ask)
    notebooks = expected_notebooks()
    present = [n for n in notebooks if (folder / n).is_file()]
    for name in notebooks:
        if name in present:
            report.warnings += notebook_problems(folder / name)
        else:
            report.warnings.append(
                f"{name} is missing from {folder}; put it back (from the release) and run it"
            )
    files = present + package_files(folder) + [f for f in DATA_FILES if (folder / f).is_file()]
    if not (folder / "part5_weights.pt").is_file() and "PyTorch.ipynb" in present:
        report.warnings.append(
            "part5_weights.pt is missing: run Part V of PyTorch.ipynb to "
            "the end (it saves your model's weights)"
        )
    target = folder / f"{student}{ZIP_SUFFIX}"
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(ID_IN_ZIP, student + "\n")
        for rel in files:
            archive.write(folder / rel, rel)
        for name in present if html else ():
            page = html_export(folder / name)
            if page is not None:
                rel = f"html/{Path(name).stem}.html"
                archive.writestr(rel, page)
                files.append(rel)
    partial.replace(target)
    report.zip, report.contents = target, files
    _print_report(report, present)
    return report


def _print_report(report, notebooks):
    package = [f for f in report.contents if f.startswith(PACKAGE + "/")]
    pages = [f for f in report.contents if f.startswith("html/")]
    others = [
        f for f in report.contents if f not in package and f not in pages and f not in notebooks
    ]
    print(f"wrote {report.zip}:")
    print(f"  notebooks: {', '.join(notebooks) or 'none'}")
    print(f"  {PACKAGE}/: {len(package)} files")
    print(f"  HTML copies for the graders: {len(pages)}")
    if others:
        print(f"  also: {', '.join(others)}")
    if report.warnings:
        print(f"\n{len(report.warnings)} thing(s) to fix before you hand it in:")
        for warning in report.warnings:
            print(f"  - {warning}")
        print("\nFix them, save, and run this again; the zip is rewritten each time.")
    else:
        print("\nEverything ran and every answer is filled in: hand in this zip.")


def _text(source):
    return "".join(source) if isinstance(source, list) else str(source)


def _label(grading, number):
    grade_id = grading.get("grade_id")
    return grade_id.replace("_", " ") if grade_id else f"cell {number}"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m assignment.submit", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--id", help="your student id (asked once and kept otherwise)")
    parser.add_argument("--folder", type=Path, help="the assignment folder (default: this one)")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML copies")
    args = parser.parse_args(argv)
    try:
        report = submit(args.folder, args.id, html=not args.no_html)
    except (ValueError, EOFError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if report.complete else 1


if __name__ == "__main__":
    sys.exit(main())
