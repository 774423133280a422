"""Tests of grading/hardened/submissions.py: finding submissions and copying them safely."""

from __future__ import annotations

import os
import stat
import zipfile

import pytest

from grading.hardened.submissions import (
    Submission,
    SubmissionError,
    SubmissionLimits,
    find_submissions,
    unpack,
)

pytestmark = pytest.mark.grading


def make_release_folder(folder):
    (folder / "assignment" / "classifiers").mkdir(parents=True)
    (folder / "assignment" / "layers.py").write_text("def affine_forward(x, w, b):\n    pass\n")
    (folder / "FullyConnectedNets.ipynb").write_text("{}")
    return folder


def snapshot(folder):
    return {
        p: (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
        for p in folder.rglob("*")
    }


def test_find_folders_and_zips_skipping_links_and_junk(tmp_path):
    """Are folders and zips found per student, and links, stray files, hidden entries and
    a second entry for the same student left out with a note?"""
    make_release_folder(tmp_path / "alice")
    with zipfile.ZipFile(tmp_path / "bob.zip", "w") as archive:
        archive.writestr("assignment/layers.py", "x = 1\n")
    with zipfile.ZipFile(tmp_path / "alice.zip", "w") as archive:
        archive.writestr("assignment/layers.py", "x = 2\n")
    (tmp_path / "mallory").symlink_to(tmp_path / "alice")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".DS_Store").write_text("x")
    found, skipped = find_submissions(tmp_path)
    assert [(s.student, s.path.name) for s in found] == [("alice", "alice"), ("bob", "bob.zip")]
    assert any(n.startswith("mallory") and "link" in n for n in skipped)
    assert any(n.startswith("alice.zip") for n in skipped)
    assert any(n.startswith("notes.txt") for n in skipped)


def _zip(path, student_id=None):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("assignment/layers.py", "x = 1\n")
        if student_id is not None:
            archive.writestr("student_id.txt", student_id)


def test_a_zip_is_named_by_its_submit_name_else_by_the_id_inside(tmp_path):
    """Is `<id>_assignment2.zip` <id>'s, a renamed zip the id its student_id.txt holds (else
    its name), and does the name win a disagreement, with a note?"""
    _zip(tmp_path / "s001_assignment2.zip")
    _zip(tmp_path / "submission.zip", "s002\n")
    _zip(tmp_path / "upload (3).zip", "../../etc\n")
    _zip(tmp_path / "s004_assignment2.zip", "s001")
    _zip(tmp_path / "carol.zip")
    found, skipped = find_submissions(tmp_path)
    assert sorted((s.student, s.path.name) for s in found) == [
        ("carol", "carol.zip"),
        ("s001", "s001_assignment2.zip"),
        ("s002", "submission.zip"),
        ("s004", "s004_assignment2.zip"),
        ("upload (3)", "upload (3).zip"),
    ]
    assert skipped == [
        "s004_assignment2.zip: its student_id.txt says 's001'; graded as 's004', its name"
    ]


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(SubmissionError, match="expected a folder"):
        find_submissions(tmp_path / "nope")


def test_folder_copy_follows_no_link_and_keeps_the_original(tmp_path):
    """Is a link inside a submission (to the source, say) skipped, a FIFO not waited on,
    and the original left as it was?"""
    source = make_release_folder(tmp_path / "alice")
    secret = tmp_path / "reference.py"
    secret.write_text("### BEGIN SOLUTION")
    (source / "assignment" / "optim.py").symlink_to(secret)
    os.mkfifo(source / "assignment" / "pipe")
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "x.pyc").write_bytes(b"\0")
    before = snapshot(source)
    unpacked = unpack(Submission("alice", source), tmp_path / "copy")
    assert snapshot(source) == before
    assert unpacked.root == tmp_path / "copy"
    assert (unpacked.root / "assignment" / "layers.py").is_file()
    assert not (unpacked.root / "assignment" / "optim.py").exists()
    assert not (unpacked.root / "assignment" / "pipe").exists()
    assert not (unpacked.root / "__pycache__").exists()
    assert any("link" in n for n in unpacked.notes)


def test_zip_members_outside_the_destination_are_not_extracted(tmp_path):
    """Are '..', absolute, drive-letter and link members left out?"""
    archive_path = tmp_path / "eve.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("assignment/layers.py", "x = 1\n")
        archive.writestr("../../escaped.py", "bad")
        archive.writestr("/abs.py", "bad")
        archive.writestr("C:\\windows.py", "bad")
        archive.writestr("assignment\\..\\..\\back.py", "bad")
        link = zipfile.ZipInfo("assignment/optim.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/work/main/assignment/optim.py")
    dest = tmp_path / "out" / "eve"
    unpacked = unpack(archive_path, dest)
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == ["assignment/layers.py"]
    assert not (tmp_path / "escaped.py").exists() and not (tmp_path / "out" / "back.py").exists()
    assert len(unpacked.notes) == 5


def test_zip_of_the_folder_itself_finds_the_release_root(tmp_path):
    """When a student zips the folder (a2/assignment/...), is a2/ the root?"""
    archive_path = tmp_path / "sam.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("a2/assignment/layers.py", "x = 1\n")
        archive.writestr("__MACOSX/a2/._layers.py", "junk")
    unpacked = unpack(archive_path, tmp_path / "sam")
    assert unpacked.root == tmp_path / "sam" / "a2"


@pytest.mark.parametrize(
    "limits, writer, match",
    [
        (
            SubmissionLimits(max_files=2),
            lambda a: [a.writestr(f"f{i}.py", "x") for i in range(3)],
            "more than 2 files",
        ),
        (
            SubmissionLimits(max_file_mb=0.001),
            lambda a: a.writestr("big.py", "x" * 5000),
            "larger than",
        ),
        (
            SubmissionLimits(max_total_mb=0.003),
            lambda a: [a.writestr(f"f{i}.py", "x" * 900) for i in range(5)],
            "in all",
        ),
    ],
)
def test_zip_limits(tmp_path, limits, writer, match):
    """Are too many files, a too large file and too much data in all refused?"""
    archive_path = tmp_path / "big.zip"
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        writer(archive)
    with pytest.raises(SubmissionError, match=match):
        unpack(archive_path, tmp_path / "big", limits)


def test_not_a_zip_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_text("not a zip")
    with pytest.raises(SubmissionError, match="not a readable zip"):
        unpack(bad, tmp_path / "bad")


def test_reserved_hidden_and_formula_names(tmp_path):
    """Are a student entry named like the batch's own files, or hidden, refused with a note,
    and do tools' leftovers pass silently?"""
    folder = tmp_path / "subs"
    for name in ("grades.csv", "grades.csv.partial", "..dots", ".hidden", "alice", ".git"):
        (folder / name).mkdir(parents=True)
    found, skipped = find_submissions(folder)
    assert [s.student for s in found] == ["alice"]
    assert sorted(note.split(":")[0] for note in skipped) == [
        "..dots",
        ".hidden",
        "grades.csv",
        "grades.csv.partial",
    ]


def test_csv_fields_cannot_be_formulas(tmp_path):
    from grading.hardened.reports import CSV_FIELDS, write_grades_csv

    row = dict.fromkeys(CSV_FIELDS, "x")
    row.update(student='=HYPERLINK("http://x")', score=-1, message="@SUM(A1)")
    text = write_grades_csv(tmp_path / "grades.csv", [row]).read_text()
    assert "'=HYPERLINK" in text and "'@SUM" in text and ",-1," in text


def test_empty_folders_count_against_the_limit(tmp_path):
    source = tmp_path / "many"
    for i in range(30):
        (source / "assignment" / f"d{i}").mkdir(parents=True)
    with pytest.raises(SubmissionError, match="files and folders"):
        unpack(source, tmp_path / "out", limits=SubmissionLimits(max_files=20))
