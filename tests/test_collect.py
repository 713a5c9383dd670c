"""`course collect` accepts folders, zips and LMS flat names, and lists what it cannot match."""
import zipfile

from autograder.collect import collect
from autograder.config import Settings

NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _tree(root, names):
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(NB)


def test_folder_layouts_and_unmatched(tmp_path):
    src = tmp_path / "in"
    _tree(src, ["alice/ch01/ch01.ipynb", "bob/ch01.ipynb", "carol_551_2001_ch01.ipynb",
                "dave_ch01.ipynb", "erin/homework.ipynb", "notes.txt", "frank/ch01.ipynb",
                "frank_ch01.ipynb", ".ipynb_checkpoints/x-checkpoint.ipynb", "bad name_ch01.ipynb"])
    result = collect(Settings(tmp_path / "work"), src)
    got = sorted((s, a) for s, a, _ in result.collected)
    assert got == [("alice", "ch01"), ("bob", "ch01"), ("carol", "ch01"), ("dave", "ch01")]
    unmatched = dict(result.unmatched)
    assert set(unmatched) == {"erin/homework.ipynb", "notes.txt", "frank/ch01.ipynb",
                              "frank_ch01.ipynb", "bad name_ch01.ipynb"}
    assert "2 files for frank/ch01.ipynb" in unmatched["frank_ch01.ipynb"]
    assert "no known notebook name" in unmatched["erin/homework.ipynb"]
    for student in ("alice", "bob", "carol", "dave"):
        folder = tmp_path / "work" / "submitted" / student / "ch01"
        assert (folder / "ch01.ipynb").read_text() == NB
        assert (folder / "timestamp.txt").read_text().endswith("UTC")


def test_zip_with_times_and_no_path_escape(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("alice_ch01.ipynb", (2026, 11, 20, 10, 30, 0)), NB)
        zf.writestr("../evil_ch01.ipynb", NB)
    result = collect(Settings(tmp_path / "work"), archive)
    assert [(s, a) for s, a, _ in result.collected] == [("alice", "ch01")]
    stamp = (tmp_path / "work" / "submitted" / "alice" / "ch01" / "timestamp.txt").read_text()
    assert stamp.startswith("2026-11-20 10:30:00")
    assert not (tmp_path / "evil_ch01.ipynb").exists()
