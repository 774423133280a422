"""Tests of grading/hardened/reports.py: results.json, grades.csv and the table read results, never
score."""

from __future__ import annotations

import csv
import json

import pytest

from assignment.checks import CaseOutcome, CheckResult
from grading.hardened.reports import (
    CSV_FIELDS,
    feedback,
    grade_rows,
    render_table,
    results_json,
    write_grades_csv,
    write_results_json,
)

pytestmark = pytest.mark.grading


@pytest.fixture
def results():
    return [
        CheckResult(
            "affine_forward",
            "FullyConnectedNets",
            2,
            [CaseOutcome("x (2, 4, 5), M=3", []), CaseOutcome("batch of 1", [], hidden=True)],
        ),
        CheckResult(
            "softmax_loss",
            "FullyConnectedNets",
            3,
            [
                CaseOutcome("N=5, C=4", ["softmax_loss: loss differs from the reference"]),
                CaseOutcome(
                    "batch of 1", ["softmax_loss: loss differs from the reference"], hidden=True
                ),
                CaseOutcome("large", ["softmax_loss: raised ValueError"], hidden=True),
            ],
        ),
        CheckResult(
            "adam",
            "FullyConnectedNets",
            1.5,
            [CaseOutcome("all cases", ["adam: the process running this check was killed"])],
            status="error",
        ),
    ]


def test_results_json_follows_the_gradescope_format(results):
    """Are score, tests (name, score, max_score, status, output, visibility) and a
    top-level output naming the isolation all there, with the scores of the results?"""
    data = results_json(results, "namespaces+uid", output="flagged: none")
    assert data["score"] == 2
    assert "namespaces+uid" in data["output"] and "flagged: none" in data["output"]
    assert [t["name"] for t in data["tests"]] == ["affine_forward", "softmax_loss", "adam"]
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "failed"]
    assert [t["max_score"] for t in data["tests"]] == [2, 3, 1.5]
    assert set(data["tests"][0]) == {"name", "score", "max_score", "status", "output", "visibility"}
    json.dumps(data)


def test_hidden_failures_are_labelled_and_repeats_shown_once(results):
    """Does each message appear once, naming the cases (public and hidden) it came from?"""
    text = feedback(results[1])
    assert text.splitlines() == [
        "softmax_loss: loss differs from the reference [case 'N=5, C=4'; hidden case 'batch of 1']",
        "softmax_loss: raised ValueError [hidden case 'large']",
    ]


def test_reports_do_not_rescore(results):
    """Does a result whose status says error, but whose score field is what it is, keep it?"""
    rows = grade_rows("alice", results)
    assert [r["score"] for r in rows] == [2, 0, 0]
    assert rows[2]["status"] == "error"


def test_grades_csv_round_trip(results, tmp_path):
    """Does grades.csv hold a header and one row per check, messages with newlines intact?"""
    path = write_grades_csv(
        tmp_path / "grades.csv", grade_rows("alice", results) + grade_rows("bob", results)
    )
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_FIELDS
    assert len(rows) == 6 and rows[3]["student"] == "bob"
    assert rows[1]["message"] == feedback(results[1])


def test_results_json_is_written_whole(results, tmp_path):
    path = write_results_json(tmp_path / "results.json", results, "rlimits")
    assert json.loads(path.read_text())["score"] == 2
    assert not list(tmp_path.glob("*.partial"))


def test_table_shows_totals_and_reasons(results):
    table = render_table(results, "uid")
    assert "affine_forward" in table and "PASS" in table and "ERROR" in table
    assert "2/6.5" in table
    assert "isolation: uid" in table
    assert "softmax_loss: raised ValueError [hidden case 'large']" in table
