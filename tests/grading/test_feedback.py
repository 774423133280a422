"""Tests of grading/nbgrader/feedback.py: HTML feedback with no hidden test text in it."""

from __future__ import annotations

import nbformat
import pytest

from grading.layout import REPO_ROOT
from grading.nbgrader.autograde import COURSE_FOLDER, FEEDBACK_FOLDER
from grading.nbgrader.feedback import (
    HIDDEN_NOTE,
    REDACTED_LINE,
    RedactHidden,
    collect_feedback,
    hidden_lines,
    leaks_in,
    scrub,
    split_hidden,
)

pytestmark = pytest.mark.grading

TEST_SOURCE = """from assignment.check import grade
grade("affine_forward")
### BEGIN HIDDEN TESTS
grade("affine_forward", hidden=True)
### END HIDDEN TESTS"""
HIDDEN = 'grade("affine_forward", hidden=True)'
TRACEBACK = [
    "\x1b[0;31m---------------------------------------------------------------\x1b[0m",
    "\x1b[0;31mAssertionError\x1b[0m                Traceback (most recent call last)",
    '\x1b[0;32m----> 4\x1b[0m \x1b[43mgrade\x1b[49m(\x1b[33m"affine_forward"\x1b[39m, '
    "hidden\x1b[38;5;241m=\x1b[39m\x1b[38;5;28;01mTrue\x1b[39;00m)",
    "\x1b[0;31mAssertionError\x1b[0m: affine_forward: dx has the wrong shape",
]


def graded_cell(outputs) -> nbformat.NotebookNode:
    meta = {
        "nbgrader": {
            "grade": True,
            "solution": False,
            "locked": True,
            "points": 2,
            "grade_id": "test_affine_forward",
            "schema_version": 3,
        }
    }
    cell = nbformat.v4.new_code_cell(TEST_SOURCE, metadata=meta)
    cell.outputs = outputs
    return cell


def test_split_hidden_keeps_the_public_lines_and_says_where_hidden_ones_ran():
    """Does a hidden region become one note, with its lines (markers too) returned?"""
    source, lines = split_hidden(TEST_SOURCE)
    assert source == 'from assignment.check import grade\ngrade("affine_forward")\n' + HIDDEN_NOTE
    assert HIDDEN in lines and "### BEGIN HIDDEN TESTS" in lines


def test_redact_hidden_cuts_tracebacks_and_scrubs_outputs():
    """Does the preprocessor drop the hidden source, shorten a test cell's traceback to its
    last line and blank printed copies of a hidden line, in any cell?"""
    error = nbformat.v4.new_output(
        "error",
        ename="AssertionError",
        evalue="affine_forward: dx has the wrong shape",
        traceback=TRACEBACK,
    )
    printed = nbformat.v4.new_output("stream", name="stdout", text=f"ran {HIDDEN}\nok\n")
    other = nbformat.v4.new_code_cell("print(1)")
    other.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{HIDDEN}\n")]
    nb = nbformat.v4.new_notebook(cells=[graded_cell([error, printed]), other])
    nb, _ = RedactHidden().preprocess(nb, {})
    test, other = nb.cells
    assert HIDDEN not in test.source and HIDDEN_NOTE in test.source
    assert test.outputs[0]["traceback"] == [
        "AssertionError: affine_forward: dx has the wrong shape"
    ]
    assert test.outputs[1]["text"] == f"{REDACTED_LINE}\nok\n"
    assert other.outputs[0]["text"] == f"{REDACTED_LINE}\n"


def test_redact_hidden_is_enabled_when_registered():
    """Does the preprocessor run when nbconvert registers it (nbconvert skips disabled ones)?"""
    from nbconvert.exporters import NotebookExporter

    exporter = NotebookExporter()
    exporter.register_preprocessor(RedactHidden)
    nb = nbformat.v4.new_notebook(cells=[graded_cell([])])
    body, _ = exporter.from_notebook_node(nb)
    assert HIDDEN not in body and HIDDEN_NOTE in body


def test_scrub_ignores_ansi_colours():
    """Is a traceback line with colour codes between the tokens still recognised?"""
    assert scrub(TRACEBACK[2], {HIDDEN}) == REDACTED_LINE
    assert scrub("nothing to see", {HIDDEN}) == "nothing to see"


def test_leaks_in_sees_through_syntax_highlighting():
    """Is a hidden line found in HTML where every token sits in its own span?"""
    page = (
        '<span class="n">grade</span><span class="p">(</span><span class="s2">&quot;'
        'affine_forward&quot;</span><span class="p">,</span><span class="w"> </span>'
        '<span class="n">hidden</span><span class="o">=</span><span class="kc">True'
        '</span><span class="p">)</span>'
    )
    assert leaks_in(page, {HIDDEN}) == [HIDDEN]
    assert leaks_in("<p>### BEGIN <b>HIDDEN</b> TESTS</p>", set()) == ["### BEGIN HIDDEN TESTS"]
    assert leaks_in('<span class="n">grade</span>(&quot;affine_forward&quot;)', {HIDDEN}) == []


def test_collect_feedback_withholds_a_page_that_quotes_a_hidden_test(tmp_path):
    """Is a clean page copied and a leaking one kept back with a note?"""
    source = tmp_path / "feedback"
    source.mkdir()
    (source / "Clean.html").write_text("<p>score 2 / 2</p>")
    (source / "Leaky.html").write_text(f"<pre>{HIDDEN}</pre>")
    written, notes = collect_feedback(source, tmp_path / "out", {HIDDEN})
    assert [p.name for p in written] == ["Clean.html"]
    assert not (tmp_path / "out" / "Leaky.html").exists()
    assert "Leaky.html withheld" in notes[0]


def test_hidden_lines_of_the_source_notebooks_are_found():
    """Are the hidden tests of the course's notebooks collected (each graded check's)?"""
    found = hidden_lines(sorted((REPO_ROOT / "notebooks").glob("*.ipynb")))
    assert "### BEGIN HIDDEN TESTS" in found
    assert any("hidden=True" in line for line in found)


@pytest.mark.slow
def test_no_feedback_file_holds_hidden_test_text(full_batch):
    """Does every student get feedback, and does none of it quote a hidden test of the
    source notebooks (tags stripped, entities decoded)?"""
    hidden = hidden_lines(sorted((REPO_ROOT / "notebooks").glob("*.ipynb")))
    pages = sorted(full_batch.out.glob(f"*/{FEEDBACK_FOLDER}/*.html"))
    students = {p.parent.parent.name for p in pages}
    assert {"reference", "stub", "buggy", "cheat"} <= students
    for page in pages:
        assert leaks_in(page.read_text(), hidden) == [], page
    course_pages = sorted((full_batch.out / COURSE_FOLDER / "feedback").rglob("*.html"))
    assert course_pages, "the course keeps its copy of the feedback for the formgrader"
