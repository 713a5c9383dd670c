"""Instructor mistakes get one line naming the problem and what to do, and exit code 2."""
from autograder.cli import main


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


def test_global_options_are_accepted_after_the_command(tmp_path, capsys):
    assert main(["export", "--workdir", str(tmp_path / "w")]) == 0
    assert (tmp_path / "w" / "grades.csv").exists()


def test_a_gradebook_url_that_cannot_be_used_is_one_line(tmp_path, capsys):
    assert main(["--workdir", str(tmp_path), "export", "--db", "nosuchdb://x"]) == 2
    err = _error(capsys)
    assert err.startswith("course export: error: the gradebook nosuchdb://x cannot be used") and "--db" in err


def test_a_working_folder_that_cannot_be_written_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # works as root too, unlike a read-only folder
    assert main(["--workdir", str(blocker / "w"), "export"]) == 2
    err = _error(capsys)
    assert "Not a directory" in err and "is writable" in err


def test_an_unknown_student_is_an_error(tmp_path, capsys):
    (tmp_path / "submitted" / "alice" / "ch01").mkdir(parents=True)
    assert main(["--workdir", str(tmp_path), "autograde", "ch01", "--student", "bob", "--no-sandbox"]) == 2
    assert _error(capsys).endswith(f"no submissions for student(s) bob in {tmp_path / 'submitted'}")
