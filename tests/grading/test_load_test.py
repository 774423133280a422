"""Does benchmarks/load_test.py write submissions the batch finds under the planned names,
and does its verification catch a lost submission and a changed score? (Small and fast:
the grading here is a stand-in; the benchmark itself grades for real.)"""

import ast
import importlib.util
import os
import shutil
from unittest import mock

import pytest

from assignment.checks import CATALOGUE, CaseOutcome, CheckResult
from grading.hardened.batch import Graded, grade_batch
from grading.hardened.reports import GRADES_CSV, read_grades_csv, write_grade_tables
from grading.hardened.submissions import SubmissionError, find_submissions, unpack
from grading.layout import REPO_ROOT

pytestmark = pytest.mark.grading
CHECKS = [CATALOGUE["affine_forward"], CATALOGUE["relu_forward"]]


@pytest.fixture(scope="module")
def load_test():
    spec = importlib.util.spec_from_file_location(
        "load_test", REPO_ROOT / "benchmarks" / "load_test.py"
    )
    module = importlib.util.module_from_spec(spec)
    with mock.patch.dict(os.environ):  # it sets BLAS threads and the data source for itself
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(load_test, tmp_path_factory):
    """One submission of every honest kind in every layout, and one of every pathology,
    made from a stand-in reference that holds the source's graded files."""
    base = tmp_path_factory.mktemp("load-test")
    reference = base / "reference"
    for rel in ("assignment/layers.py", "assignment/optim.py"):
        (reference / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / rel, reference / rel)
    sources = {"reference": reference, **load_test.make_variants(reference, base / "v", "uid")}
    rows = [(f"honest{i}", "reference", layout) for i, layout in enumerate(load_test.LAYOUTS)]
    rows += [(f"bad{i}", kind, "folder") for i, kind in enumerate(load_test.EDITS)]
    rows += [(f"zip{i}", kind, kind) for i, kind in enumerate(load_test.BAD_ZIPS)]
    entries = load_test.write_submissions(sources, base / "submissions", rows)
    return base, entries


def test_one_in_ten_is_pathological_taking_each_in_turn(load_test):
    rows = load_test.plan(140, seed=3)
    kinds = [kind for _, kind, _ in rows if kind not in load_test.HONEST]
    assert len({student for student, _, _ in rows}) == 140
    assert sorted(kinds) == sorted(load_test.PATHOLOGIES * 2)
    assert load_test.plan(140, seed=3) == rows != load_test.plan(140, seed=4)


def test_every_pathology_is_python_that_parses(generated):
    base, _ = generated
    for kind in ("hang", "os_exit", "segfault", "huge_output", "fork_bomb"):
        for path in (base / "v" / kind / "assignment").glob("*.py"):
            ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_the_batch_finds_every_submission_under_its_planned_name(generated):
    base, entries = generated
    found, skipped = find_submissions(base / "submissions")
    assert skipped == []
    assert {s.student for s in found} == {e.student for e in entries}
    for submission in found:
        scratch = base / "unpacked" / submission.student
        if submission.student.startswith("zip"):
            with pytest.raises(SubmissionError):
                unpack(submission, scratch)
        else:
            assert (unpack(submission, scratch).root / "assignment" / "layers.py").is_file()


def _all_pass(student, root, scratch):
    results = [
        CheckResult(c.name, c.notebook, c.points, [CaseOutcome("case", [])], "passed")
        for c in CHECKS
    ]
    return Graded(results, "test")


def test_verify_catches_a_lost_submission_and_a_changed_score(load_test, generated, tmp_path):
    base, entries = generated
    out = tmp_path / "out"
    summary = grade_batch(
        base / "submissions", out, grade_one=_all_pass, checks=CHECKS, progress=False
    )
    expected = {"reference": {c.name: float(c.points) for c in CHECKS}}
    assert load_test.verify(out, entries, expected, summary) == []

    rows = read_grades_csv(out / GRADES_CSV)
    changed = next(r for r in rows if r["student"] == "honest0" and r["check"] == "relu_forward")
    changed["score"] = "0"
    write_grade_tables(out, [r for r in rows if r["student"] != "honest1"])
    (out / "honest2" / "results.json").unlink()
    problems = load_test.verify(out, entries, expected, summary)
    assert any(p.startswith("honest0 ") and "relu_forward: 0, expected" in p for p in problems)
    assert any(p.startswith("honest1 ") and "lost" in p for p in problems)
    assert any(p.startswith("honest2 ") and "missing results.json" in p for p in problems)
    assert {p.split()[0] for p in problems} == {"honest0", "honest1", "honest2"}
