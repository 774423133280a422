"""Feedback for students: nbgrader's HTML feedback with no hidden test text in it.

``nbgrader generate_feedback`` renders the autograded notebooks, into which nbgrader has put
the hidden tests back, and the tracebacks of failed test cells quote those lines. Two
steps keep them out:

1. :class:`RedactHidden`, a preprocessor that runs inside ``generate_feedback`` (after
   ``GetGrades``, see :func:`config_lines`): every hidden-test region leaves the cells'
   source (one comment says hidden tests ran there), a test cell's tracebacks shrink to
   their last line (error name and message), and any output line that repeats a hidden
   line is blanked.
2. :func:`collect_feedback`, which copies the HTML files to the student's folder only after
   a scan of their text (tags stripped, entities decoded) finds no hidden line and no marker;
   a file that fails it is withheld, and the note says so.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from typing import Iterable

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from grading.layout import REPO_ROOT
from grading.nbgrader.outputs import cap_outputs
from grading.release.leaks import normalise
from grading.release.strip import HIDDEN, MARKERS, find_markers

HIDDEN_NOTE = "# (hidden tests ran here; they are not shown)"
REDACTED_LINE = "[hidden test line removed]"
# Shorter hidden lines (")", "else:") are too common to mean anything when found elsewhere.
MIN_HIDDEN_CHARS = 10
HIDDEN_MARKERS = (MARKERS["BEGIN", HIDDEN], MARKERS["END", HIDDEN])
_TAG = re.compile(r"<[^>]*>")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def config_lines() -> list[str]:
    """nbgrader config lines that put :class:`RedactHidden` into ``generate_feedback``."""
    return [
        "# Feedback leaves out hidden tests (grading/nbgrader/feedback.py).",
        "import sys as _sys",
        f"_sys.path.insert(0, {str(REPO_ROOT)!r})",
        "c.GenerateFeedback.preprocessors = ['nbgrader.preprocessors.GetGrades', "
        "'nbconvert.preprocessors.CSSHTMLHeaderPreprocessor', "
        "'grading.nbgrader.feedback.RedactHidden']",
    ]


class RedactHidden(Preprocessor):
    """Remove hidden tests, and what quotes them, from a notebook before it is rendered."""

    # nbconvert skips a preprocessor that is not enabled, and registers it disabled.
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        hidden = set()
        for index, cell in enumerate(nb.cells):
            cell.source, lines = split_hidden(cell.source, cell=index)
            hidden.update(lines)
        for cell in nb.cells:
            if cell.cell_type == "code":
                redact_outputs(cell, hidden)
        cap_outputs(nb)
        return nb, resources


def split_hidden(source: str, *, cell: int | None = None) -> tuple[str, set[str]]:
    """``source`` with each hidden-test region replaced by :data:`HIDDEN_NOTE`, and the
    normalised lines it held (markers included)."""
    lines = source.split("\n")
    regions = [r for r in find_markers(lines, "feedback", cell=cell) if r.kind == HIDDEN]
    if not regions:
        return source, set()
    kept, hidden, cursor = [], set(), 1
    for region in regions:
        kept.extend(lines[cursor - 1 : region.begin - 1])
        kept.append(region.indent + HIDDEN_NOTE)
        hidden.update(normalise(line) for line in lines[region.begin - 1 : region.end])
        cursor = region.end + 1
    kept.extend(lines[cursor - 1 :])
    return "\n".join(kept), {h for h in hidden if h}


def redact_outputs(cell, hidden: set[str]) -> None:
    """Tracebacks of a graded test cell cut to their last line; hidden lines blanked."""
    graded = cell.metadata.get("nbgrader", {}).get("grade", False)
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            if graded:
                output["traceback"] = [
                    f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                ]
            output["traceback"] = [scrub(line, hidden) for line in output.get("traceback", [])]
            output["evalue"] = scrub(output.get("evalue", ""), hidden)
        elif output.get("output_type") == "stream":
            output["text"] = scrub(output.get("text", ""), hidden)
        for mime, value in list(output.get("data", {}).items()):
            if isinstance(value, str) and mime.startswith("text/"):
                output["data"][mime] = scrub(value, hidden)


def scrub(text: str, hidden: Iterable[str]) -> str:
    """``text`` with every line that holds a hidden line replaced by :data:`REDACTED_LINE`."""
    wanted = [h for h in hidden if len(h) >= MIN_HIDDEN_CHARS]
    if not wanted:
        return text
    out = []
    for line in text.split("\n"):
        plain = normalise(_ANSI.sub("", line))
        out.append(REDACTED_LINE if any(h in plain for h in wanted) else line)
    return "\n".join(out)


def hidden_lines(notebooks: Iterable[Path]) -> set[str]:
    """The normalised hidden-test lines (markers included) of the instructor ``notebooks``."""
    found = set()
    for path in notebooks:
        nb = nbformat.read(str(path), as_version=4)
        for index, cell in enumerate(nb.cells):
            found |= split_hidden(cell.source, cell=index)[1]
    return found


def leaks_in(text: str, hidden: Iterable[str]) -> list[str]:
    """The hidden lines (and markers) found in the visible text of an HTML or text file."""
    plain = normalise(html.unescape(_TAG.sub(" ", text)))
    joined = normalise(html.unescape(_TAG.sub("", text)))
    wanted = {h for h in hidden if len(h) >= MIN_HIDDEN_CHARS} | set(HIDDEN_MARKERS)
    return sorted(h for h in wanted if h in plain or h in joined)


def collect_feedback(folder: Path, dest: Path, hidden: set[str]) -> tuple[list[Path], list[str]]:
    """Copy the ``*.html`` of nbgrader's feedback ``folder`` to ``dest`` if clean; what
    ``dest`` held (a previous grading's pages) goes first.

    Returns the files written and a note per file withheld (it held hidden text).
    """
    if dest.is_dir():
        shutil.rmtree(dest)
    written, notes = [], []
    for page in sorted(Path(folder).glob("*.html")):
        found = leaks_in(page.read_text(encoding="utf-8", errors="replace"), hidden)
        if found:
            notes.append(f"feedback {page.name} withheld: it quotes a hidden test ({found[0]!r})")
            continue
        dest.mkdir(parents=True, exist_ok=True)
        written.append(Path(shutil.copyfile(page, dest / page.name)))
    return written, notes
