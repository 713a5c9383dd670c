"""`course collect` accepts folders, zips and LMS flat names, and lists what it cannot match;
it and the grader refuse what a hostile submission can hold (links, FIFOs, huge files, zip
bombs) without following or reading it."""
import json
import os
import stat
import struct
import time
import zipfile

import pytest

from autograder.collect import collect
from autograder import submissions
from autograder.config import Settings
from autograder.safeio import MB, UnsafeFile, _copy_member, extract_zip, read_bounded, walk_regular

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
    for copy in ("frank/ch01.ipynb", "frank_ch01.ipynb"):  # two copies with one time: which one?
        os.utime(src / copy, (1_700_000_000, 1_700_000_000))
    result = collect(Settings(tmp_path / "work"), src)
    got = sorted((s, a) for s, a, _ in result.collected)
    assert got == [("alice", "ch01"), ("bob", "ch01"), ("carol", "ch01"), ("dave", "ch01")]
    unmatched = dict(result.unmatched)
    assert set(unmatched) == {"erin/homework.ipynb", "notes.txt", "frank/ch01.ipynb",
                              "frank_ch01.ipynb", "bad name_ch01.ipynb"}
    assert "2 files for frank/ch01.ipynb with the same time" in unmatched["frank_ch01.ipynb"]
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


# --- hostile submissions: the grader runs as root and must follow no link and bound every read


def _zip(path, members):
    """A zip of (ZipInfo or name, bytes) members."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return path


def _link_member(name, target):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


def _zeros_member(path, name, size):
    """Append a member of ``size`` zero bytes, written in chunks (deflates to almost nothing)."""
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf, zf.open(name, "w", force_zip64=True) as f:
        for _ in range(size // MB):
            f.write(bytes(MB))


def _lie_about_size(path, name, declared):
    """Patch the uncompressed size of member ``name`` in its local header and in the central
    directory, so the header says ``declared`` bytes whatever it really inflates to."""
    data = bytearray(path.read_bytes())
    raw = name.encode()
    for sig, size_at, name_at in ((b"PK\x01\x02", 24, 46), (b"PK\x03\x04", 22, 30)):
        pos = data.find(sig)
        while pos != -1:
            if data[pos + name_at:pos + name_at + len(raw)] == raw:
                data[pos + size_at:pos + size_at + 4] = struct.pack("<I", declared)
            pos = data.find(sig, pos + 4)
    path.write_bytes(bytes(data))


def _submitted(tmp_path):
    root = tmp_path / "work" / "submitted"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def _alice_only(tmp_path, result):
    """The honest notebook was collected, and nothing was written for anybody else."""
    assert [(s, a) for s, a, _ in result.collected] == [("alice", "ch01")]
    assert (tmp_path / "work" / "submitted" / "alice" / "ch01" / "ch01.ipynb").read_text() == NB
    assert _submitted(tmp_path) == ["alice"]


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_zip_odd_dates_and_duplicate_names(tmp_path):
    """A DOS date that is no date (month 0) falls back to the time of collection; two members
    with one name are both refused (which one is the student's?)."""
    with zipfile.ZipFile(tmp_path / "class.zip", "w") as zf:
        zf.writestr(zipfile.ZipInfo("alice_ch01.ipynb", (2026, 0, 0, 25, 61, 0)), NB)
        zf.writestr("bob_ch01.ipynb", NB)
        zf.writestr("bob_ch01.ipynb", NB)
    result = collect(Settings(tmp_path / "work"), tmp_path / "class.zip")
    assert result.unmatched == [("bob_ch01.ipynb", "2 members have this name; keep one")] * 2
    _alice_only(tmp_path, result)


def test_zip_symlink_member_is_refused(tmp_path):
    archive = _zip(tmp_path / "class.zip", [("alice_ch01.ipynb", NB), _link_member("bob_ch01.ipynb", "/etc/shadow")])
    result = collect(Settings(tmp_path / "work"), archive)
    assert "symbolic link" in dict(result.unmatched)["bob_ch01.ipynb"]
    _alice_only(tmp_path, result)


def test_zip_paths_outside_the_archive_are_refused(tmp_path):
    archive = _zip(tmp_path / "class.zip", [("alice_ch01.ipynb", NB), ("../evil.ipynb", NB),
                                            ("../bob_ch01.ipynb", NB), ("/tmp/carol_ch01.ipynb", NB)])
    result = collect(Settings(tmp_path / "work"), archive)
    unmatched = dict(result.unmatched)
    assert "outside the archive (..)" in unmatched["../evil.ipynb"]
    assert "outside the archive (..)" in unmatched["../bob_ch01.ipynb"]
    assert "absolute path" in unmatched["/tmp/carol_ch01.ipynb"]
    assert not (tmp_path / "evil.ipynb").exists() and not (tmp_path / "bob_ch01.ipynb").exists()
    _alice_only(tmp_path, result)


def test_zip_member_that_inflates_past_its_header_is_stopped(tmp_path):
    archive = _zip(tmp_path / "class.zip", [("alice_ch01.ipynb", NB)])
    _zeros_member(archive, "bob_ch01.ipynb", 100 * MB)
    _lie_about_size(archive, "bob_ch01.ipynb", 1024)
    assert zipfile.ZipFile(archive).getinfo("bob_ch01.ipynb").file_size == 1024
    t0 = time.monotonic()
    result = collect(Settings(tmp_path / "work"), archive)
    assert time.monotonic() - t0 < 5, "stopped at the declared size, not inflated in full"
    assert "does not match its header" in dict(result.unmatched)["bob_ch01.ipynb"]
    _alice_only(tmp_path, result)
    out = extract_zip(archive, tmp_path / "x")
    assert [str(p) for p in out.files] == ["alice_ch01.ipynb"]
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["alice_ch01.ipynb"]


def test_extractor_stops_at_the_cap_while_decompressing(tmp_path):
    """The extractor's own count, not only zipfile's: 100 MB of zeros against a 10 MB cap."""
    archive = tmp_path / "zeros.zip"
    _zeros_member(archive, "bob_ch01.ipynb", 100 * MB)
    out = extract_zip(archive, tmp_path / "a", member_limit=10 * MB)
    assert out.files == {} and "too large (100.0 MB declared, the limit is 10.0 MB)" in dict(out.refused)["bob_ch01.ipynb"]
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    (tmp_path / "b").mkdir()
    with zipfile.ZipFile(archive) as zf:
        why = _copy_member(zf, zf.getinfo("bob_ch01.ipynb"), tmp_path / "b" / "bob_ch01.ipynb", 10 * MB)
    assert "inflates past its declared 10.0 MB" in why
    assert list((tmp_path / "b").iterdir()) == [], "no partial or temporary file is left behind"


def test_zip_over_the_size_caps_is_refused(tmp_path):
    archive = _zip(tmp_path / "class.zip", [("alice_ch01.ipynb", NB)])
    _zeros_member(archive, "bob_ch01.ipynb", 60 * MB)
    result = collect(Settings(tmp_path / "work"), archive)
    assert "too large (60.0 MB declared, the limit is 50.0 MB)" in dict(result.unmatched)["bob_ch01.ipynb"]
    _alice_only(tmp_path, result)
    out = extract_zip(archive, tmp_path / "x", member_limit=100 * MB, total_limit=30 * MB)
    assert out.files == {} and not (tmp_path / "x").exists()
    assert dict(out.refused) == {"class.zip": "60.0 MB once extracted, more than the 30.0 MB accepted; nothing extracted"}


def test_zip_with_too_many_members_is_refused_as_a_whole(tmp_path):
    """100,000 tiny members: refused from the end record, before the directory is parsed.
    There is no honest way to pick which members to keep, so the archive is the refused file."""
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("alice_ch01.ipynb", NB)
        for i in range(100_000):
            zf.writestr(f"junk/{i}", b"")
    result = collect(Settings(tmp_path / "work"), archive)
    assert result.collected == []
    assert dict(result.unmatched) == {"class.zip": "100001 members, more than the 50000 accepted; nothing extracted"}
    assert _submitted(tmp_path) == []
    honest = _zip(tmp_path / "honest.zip", [("alice_ch01.ipynb", NB)])
    _alice_only(tmp_path, collect(Settings(tmp_path / "work"), honest))


@pytest.mark.timeout(60)
def test_folder_links_fifos_and_oversized_files_are_refused(tmp_path):
    src = tmp_path / "in"
    _tree(src, ["alice/ch01.ipynb", "elsewhere/eve/ch01.ipynb"])
    (src / "bob").mkdir()
    (src / "bob" / "ch01.ipynb").symlink_to("/etc/shadow")
    (src / "carol").mkdir()
    os.mkfifo(src / "carol" / "ch01.ipynb")
    (src / "dave").mkdir()
    _sparse(src / "dave" / "ch01.ipynb")
    (src / "eve").symlink_to(src / "elsewhere" / "eve")   # a student folder that is a link
    result = collect(Settings(tmp_path / "work"), src)
    unmatched = dict(result.unmatched)
    assert unmatched["bob/ch01.ipynb"] == "is a symbolic link; only regular files are accepted"
    assert unmatched["carol/ch01.ipynb"] == "is a FIFO; only regular files are accepted"
    assert unmatched["dave/ch01.ipynb"] == "too large (60.0 MB, the limit is 50.0 MB)"
    assert unmatched["eve"] == "is a symbolic link; only regular files are accepted"
    assert "no known notebook name" not in unmatched.get("elsewhere/eve/ch01.ipynb", "")
    _alice_only(tmp_path, result)


@pytest.mark.timeout(60)
def test_read_bounded_refuses_links_fifos_and_big_files(tmp_path):
    (tmp_path / "ok").write_bytes(b"x" * 10)
    (tmp_path / "link").symlink_to(tmp_path / "ok")
    os.mkfifo(tmp_path / "fifo")
    assert read_bounded(tmp_path / "ok", 10) == b"x" * 10
    for name, why in (("link", "is a symbolic link"), ("fifo", "is a FIFO"), ("ok", "too large (10 bytes")):
        with pytest.raises(UnsafeFile) as e:
            read_bounded(tmp_path / name, 9 if name == "ok" else 100)
        assert str(e.value).startswith(f"{tmp_path / name}: {why}") and "\n" not in str(e.value)
    walk = walk_regular(tmp_path)
    assert [str(p) for p in walk.files] == ["ok"]
    assert [str(p) for p, _ in walk.problems] == ["fifo", "link"]


# --- the grader reads submitted/ the same way, and keeps its marker where no kernel can write

@pytest.fixture
def grade():
    """autograder.grade, imported only by the tests that need it (it loads nbgrader)."""
    from autograder import grade
    return grade


def _sparse(path, size=60 * MB):
    """A file of ``size`` bytes on paper and none on disk."""
    with open(path, "wb") as f:
        f.truncate(size)


def _submission(tmp_path, student="alice"):
    folder = tmp_path / "work" / "submitted" / student / "ch01"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.timeout(60)
def test_grader_flags_links_fifos_and_big_notebooks(tmp_path, grade):
    honest = _submission(tmp_path)
    (honest / "ch01.ipynb").write_text(NB)
    problems, _ = submissions.check_notebooks(honest, ["ch01"])
    assert problems == []
    cases = {"bob": ("is a symbolic link", lambda p: p.symlink_to("/etc/shadow")),
             "carol": ("is a FIFO", os.mkfifo),
             "dave": ("too large (60.0 MB, the limit is 50.0 MB)", _sparse)}
    for student, (why, make) in cases.items():
        folder = _submission(tmp_path, student)
        make(folder / "ch01.ipynb")
        problems, _ = submissions.check_notebooks(folder, ["ch01"])
        assert problems == [f"{student}/ch01/ch01.ipynb: {why}" + ("; only regular files are accepted"
                                                                  if student != "dave" else "")]
        fingerprint = submissions.fingerprint_of(folder, Settings(tmp_path / "work"))
        assert fingerprint["files"]["ch01.ipynb"].startswith("refused: ")


def test_marker_lives_outside_autograded_and_a_bad_one_means_regrade(tmp_path, monkeypatch, grade):
    settings = Settings(tmp_path / "work")
    folder = _submission(tmp_path)
    (folder / "ch01.ipynb").write_text(NB)
    fingerprint = submissions.fingerprint_of(folder, settings)
    marker = submissions.marker_path(settings, "alice", "ch01")
    assert marker == settings.workdir / ".course" / "graded" / "alice" / "ch01.json"
    monkeypatch.setattr(grade, "check_notebooks", lambda *a: (["regraded"], []))
    monkeypatch.setattr(grade, "record_zero", lambda *a: None)

    def prepare():
        out = grade.Outcome("alice", "ch01")
        changed = not grade._unchanged(settings, ("alice", "ch01"), fingerprint)
        grade._prepare(settings, out, ["ch01"], changed)
        return out.status

    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps(fingerprint))
    assert prepare() == "skipped"
    elsewhere = tmp_path / "planted.json"
    elsewhere.write_text(json.dumps(fingerprint))
    for bad in ("link", "garbage", "not-a-dict", "folder", "fifo"):
        marker.unlink() if not marker.is_dir() or marker.is_symlink() else marker.rmdir()
        {"link": lambda: marker.symlink_to(elsewhere), "garbage": lambda: marker.write_bytes(b"\xff{[" * 10),
         "not-a-dict": lambda: marker.write_text("[1, 2]"), "folder": marker.mkdir,
         "fifo": lambda: os.mkfifo(marker)}[bad]()
        assert submissions.read_marker(marker) is None, bad
        assert prepare() == "flagged", f"a {bad} marker must mean regrade"


def test_a_notebook_name_shared_by_two_assignments_is_placed_by_its_assignment():
    from pathlib import PurePosixPath as P

    from autograder.collect import match

    owners = {"hw": ["a1", "a2"], "ch01": ["ch01"]}
    assert match(P("alice/a2/hw.ipynb"), owners) == ("alice", "a2", "hw")
    assert match(P("alice_a1_hw.ipynb"), owners) == ("alice", "a1", "hw")
    assert match(P("bob/ch01.ipynb"), owners) == ("bob", "ch01", "ch01")
    assert match(P("bob_ch01.ipynb"), owners) == ("bob", "ch01", "ch01")
    assert match(P("alice/hw.ipynb"), owners) == "hw.ipynb belongs to a1, a2: put it in alice/<assignment>/"
    assert "belongs to a1, a2; put the assignment id in the name" in match(P("alice_x_hw.ipynb"), owners)
    assert match(P("alice/a3/hw.ipynb"), owners) == "named hw.ipynb but not inside a student folder"



def test_lms_layouts_roster_copies_and_the_newest_copy(tmp_path):
    """Moodle, Canvas and Blackboard export names and renamed copies, from a real zip, with a
    roster; of several copies the newest is kept, and an older one never replaces a newer."""
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\njsmith,Jane Smith,jane@uni.example\nbkim,Bo Kim,bo@uni.example\n"
                      "clee,Cy Lee,cy@uni.example\ndpark,Di Park,di@uni.example\n")
    t = (2026, 11, 20, 10, 0, 0)
    members = [
        ("Jane Smith_1009_assignsubmission_file_ch01.ipynb", t),          # Moodle, flat
        ("Bo Kim_1010_assignsubmission_file_/ch01.ipynb", t),             # Moodle, a folder per student
        ("clee_12345_67890_ch01-1.ipynb", (2026, 11, 21, 9, 0, 0)),        # Canvas renamed copy, newer
        ("clee_12345_67890_ch01.ipynb", t),                                 # ... and the older one
        ("HW1_dpark_attempt_2026-11-22-08-00-00_ch01 (1).ipynb", t),      # Blackboard + browser copy
        ("Nobody Known_1011_assignsubmission_file_ch01.ipynb", t),
    ]
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, when in members:
            zf.writestr(zipfile.ZipInfo(name, when), NB)
    settings = Settings(tmp_path / "work")
    result = collect(settings, archive, roster=roster)
    assert sorted((s, a) for s, a, _ in result.collected) == [
        ("bkim", "ch01"), ("clee", "ch01"), ("dpark", "ch01"), ("jsmith", "ch01")]
    kept = {s: src for s, _, src in result.collected}
    assert kept["clee"] == "clee_12345_67890_ch01-1.ipynb"
    unmatched = dict(result.unmatched)
    assert unmatched["clee_12345_67890_ch01.ipynb"].startswith("an older copy (2026-11-20 10:00:00 UTC)")
    assert "'Nobody Known' is not on the roster" in unmatched["Nobody Known_1011_assignsubmission_file_ch01.ipynb"]
    stamp = (settings.workdir / "submitted" / "dpark" / "ch01" / "timestamp.txt").read_text()
    assert stamp.startswith("2026-11-22 08:00:00")  # Blackboard's attempt time, not the zip's

    older = tmp_path / "older.zip"
    with zipfile.ZipFile(older, "w") as zf:
        zf.writestr(zipfile.ZipInfo("clee_ch01.ipynb", t), '{"cells": [], "metadata": {}, "nbformat": 4, '
                                                          '"nbformat_minor": 5, "older": 1}')
    again = collect(settings, older, roster=roster)
    assert again.collected == [] and "--force replaces it" in dict(again.unmatched)["clee_ch01.ipynb"]
    assert (settings.workdir / "submitted" / "clee" / "ch01" / "ch01.ipynb").read_text() == NB
    forced = collect(settings, older, roster=roster, force=True)
    assert [s for s, _, _ in forced.collected] == ["clee"]
    assert "older" in (settings.workdir / "submitted" / "clee" / "ch01" / "ch01.ipynb").read_text()


def test_names_that_are_not_ids_need_a_roster(tmp_path):
    src = tmp_path / "in"
    _tree(src, ["Jane Smith_1009_assignsubmission_file_ch01.ipynb"])
    result = collect(Settings(tmp_path / "work"), src)
    assert result.collected == []
    assert "give a roster: --roster FILE" in dict(result.unmatched)["Jane Smith_1009_assignsubmission_file_ch01.ipynb"]
