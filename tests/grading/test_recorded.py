"""Tests of the default full pipeline, which records the notebooks in nbgrader as they were
handed in (grading/nbgrader/autograde.py without ``execute``): the same scores as the
executed pipeline, the student's own outputs and plots kept for the formgrader and the
feedback, and no verdict drawn from outputs the student may have produced with older code.
"""

from __future__ import annotations

import base64
import io
import json
import shutil

import nbformat
import pytest

from grading.nbgrader.autograde import COURSE_FOLDER, NOT_RUN, describe_notebooks
from grading.nbgrader.course import Course
from grading.nbgrader.reconcile import cell_scores
from tests.grading.conftest import NOTEBOOK, tree_digest

pytestmark = [pytest.mark.grading, pytest.mark.slow]

STUDENTS = ["buggy", "cheat", "malformed", "reference", "stub"]


def a_png() -> str:
    """A small real plot, base64 PNG, as the inline backend stores it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(2, 2))
    plt.plot([0, 1, 2], [2, 0, 1])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def as_run_by_the_student(path, png: str) -> None:
    """Give the notebook the outputs of a student's own run: a plot under the first plotting
    cell, "passed" under the first test cell, and an old failure under the second (the
    code was fixed later and the cell not run again)."""
    nb = nbformat.read(path, as_version=4)
    plotting = next(c for c in nb.cells if c.cell_type == "code" and "plt.show()" in c.source)
    plotting.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})
    ]
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    tests = [c for c in tests if c.cell_type == "code"]
    tests[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="passed\n")]
    tests[1].outputs = [
        nbformat.v4.new_output("error", ename="AssertionError", evalue="old code", traceback=[])
    ]
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def recorded(sample_dirs, tmp_path_factory):
    """The samples (the reference with the outputs of a student's run) and a reference with
    a notebook that is not JSON, graded by the default pipeline with two workers."""
    from grading.nbgrader.autograde import autograde

    base = tmp_path_factory.mktemp("recorded")
    submissions = base / "submissions"
    for name, folder in sample_dirs.items():
        shutil.copytree(folder, submissions / name)
    png = a_png()
    as_run_by_the_student(submissions / "reference" / f"{NOTEBOOK}.ipynb", png)
    shutil.copytree(sample_dirs["reference"], submissions / "malformed")
    (submissions / "malformed" / f"{NOTEBOOK}.ipynb").write_text("{", encoding="utf-8")
    before = tree_digest(submissions)
    summary = autograde(submissions, base / "out", workers=2, notebooks=[NOTEBOOK], progress=False)
    return {
        "out": base / "out",
        "summary": summary,
        "png": png,
        "before": before,
        "submissions": submissions,
    }


def results(out, student):
    return json.loads((out / student / "results.json").read_text())


def test_nothing_is_executed_and_the_summary_says_so(recorded):
    summary = recorded["summary"]
    assert summary.kernel_isolation == NOT_RUN and not summary.executed
    assert "recorded as submitted" in describe_notebooks(summary)
    assert sorted(summary.batch.graded) == STUDENTS
    for student in STUDENTS:
        assert "recorded in nbgrader as submitted" in results(recorded["out"], student)["output"]


def test_scores_equal_the_executed_pipelines(recorded, full_batch):
    """Recording changes nothing in the scores: each sample scores what the executed
    pipeline gives it, check by check, in results.json and in the gradebook."""
    out = recorded["out"]
    for student in ("reference", "buggy", "stub", "cheat"):
        mine = [(t["name"], t["score"]) for t in results(out, student)["tests"]]
        executed = json.loads((full_batch.out / student / "results.json").read_text())["tests"]
        assert mine == [(t["name"], t["score"]) for t in executed], student
        assert cell_scores(Course(out / COURSE_FOLDER), student) == cell_scores(
            Course(full_batch.out / COURSE_FOLDER), student
        )


def test_saved_outputs_neither_score_nor_flag(recorded):
    """The reference's saved old failure costs nothing and flags nothing; the cheat, whose
    saved outputs are empty, scores zero, unflagged (flags need --execute)."""
    out = recorded["out"]
    for student in ("reference", "cheat"):
        data = results(out, student)
        assert "Flagged" not in data["output"]
        assert not any("possible tampering" in t["output"] for t in data["tests"])
    assert results(out, "cheat")["score"] == 0
    assert all(t["status"] == "passed" for t in results(out, "reference")["tests"])


def test_the_students_outputs_and_plots_are_kept(recorded):
    """The formgrader's notebook and the feedback page hold the student's own plot and
    outputs, test cells included."""
    out = recorded["out"]
    course = Course(out / COURSE_FOLDER)
    nb = nbformat.read(course.autograded_dir("reference") / f"{NOTEBOOK}.ipynb", as_version=4)
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert [o.data["image/png"] for o in images] == [recorded["png"]]
    texts = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert "passed\n" in texts
    page = (out / "reference" / "feedback" / f"{NOTEBOOK}.html").read_text()
    assert recorded["png"][:200] in page


def test_a_malformed_notebook_costs_only_its_written_answers(recorded):
    out = recorded["out"]
    data = results(out, "malformed")
    assert data["score"] == results(out, "reference")["score"]
    assert "is not a readable notebook" in data["output"]


def test_originals_are_not_modified(recorded):
    assert tree_digest(recorded["submissions"]) == recorded["before"]
