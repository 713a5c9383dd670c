"""The instructor's loop with a real PostgreSQL gradebook gives the same grades, byte for byte,
as with the default SQLite gradebook.

A throw-away PostgreSQL server (Debian's postgresql package: .ci/system-deps.sh installs it)
runs from a temporary folder on 127.0.0.1 and a free port, as the `postgres` user when the
tests run as root (the server refuses root). Skipped without PostgreSQL outside CI, failed
in CI.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.synthetic import submission
from tests.chapters.ch01 import WRONG
from tests.conftest import require

BIN = Path(sys.executable).parent
USER, PASSWORD, DBNAME = "course", "course-test-pw", "grades"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A running PostgreSQL server with an empty database; yields its SQLAlchemy URL."""
    pg = _pg_bin()
    require([] if pg else ["PostgreSQL (/usr/lib/postgresql/*/bin)"])
    try:
        import psycopg2  # noqa: F401  (pinned in requirements.txt)
    except ImportError:
        require(["psycopg2 (python -m pip install -r requirements.txt)"])
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:  # PostgreSQL will not run as root
        name = "postgres" if _has_user("postgres") else "nobody"
        as_user, owner = ["runuser", "-u", name, "--"], pwd.getpwnam(name)
    # Not under pytest's folder (or $TMPDIR), which the server's user may not be able to enter.
    tmp = Path(tempfile.mkdtemp(prefix="course-pg-", dir="/tmp" if owner else None))
    data, pwfile, log = tmp / "data", tmp / "pw", tmp / "server.log"
    pwfile.write_text(PASSWORD + "\n")
    if owner:
        os.chown(tmp, owner.pw_uid, owner.pw_gid)
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    env = dict(os.environ, PGPASSWORD=PASSWORD, LC_ALL="C")

    def run(*cmd):
        proc = subprocess.run([*as_user, *cmd], cwd=tmp, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{cmd[0]}: {proc.stdout}{proc.stderr}" + (
            log.read_text() if log.exists() else "")

    run(str(pg / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
        "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync")
    run(str(pg / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start", "-o",
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={tmp} -c fsync=off")
    try:
        run(str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DBNAME)
        yield f"postgresql+psycopg2://{USER}:{PASSWORD}@127.0.0.1:{port}/{DBNAME}"
    finally:
        subprocess.run([*as_user, str(pg / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       cwd=tmp, capture_output=True, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def course(work: Path, *args: str, db: str | None = None) -> str:
    cmd = [str(BIN / "course"), "--workdir", str(work), *(["--db", db] if db else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def loop(work: Path, archive: Path, db: str | None = None) -> str:
    """collect -> autograde ch01 -> feedback -> export, as the README tells an instructor."""
    assert "3 notebook(s) collected" in course(work, "collect", str(archive), db=db)
    out = course(work, "autograde", "ch01", "--device", "cpu", "--jobs", "2", "--quiet", db=db)
    assert "3 graded, 0 flagged" in out, out
    assert "wrote 3 feedback page(s)" in course(work, "feedback", db=db)
    course(work, "export", db=db)
    return out


def test_postgres_gradebook_gives_the_same_grades_as_sqlite(postgres, tmp_path):
    archive = tmp_path / "lms-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("alice_1001_ch01.ipynb", nbformat.writes(submission("ch01")))
        zf.writestr("bob_1002_ch01.ipynb", nbformat.writes(submission("ch01", blank=True)))
        zf.writestr("carol_1003_ch01.ipynb", nbformat.writes(submission("ch01", replace=WRONG[2][1])))

    out = loop(tmp_path / "pg", archive, db=postgres)
    assert "gradebook: postgresql+psycopg2://" in out
    assert not (tmp_path / "pg" / "gradebook.db").exists()
    loop(tmp_path / "sqlite", archive)
    assert (tmp_path / "sqlite" / "gradebook.db").exists()

    for name in ("grades.csv", "grades_by_item.csv"):
        pg, lite = (tmp_path / "pg" / name).read_bytes(), (tmp_path / "sqlite" / name).read_bytes()
        assert pg == lite, f"{name} differs:\nPostgreSQL:\n{pg.decode()}\nSQLite:\n{lite.decode()}"
    grades = (tmp_path / "pg" / "grades.csv").read_text().splitlines()
    assert grades == ["student,assignment,score,max_score",
                      "alice,ch01,10,10", "bob,ch01,0,10", "carol,ch01,9,10"]
    assert len((tmp_path / "pg" / "grades_by_item.csv").read_text().splitlines()) > 3

    # The grades really are in PostgreSQL.
    import psycopg2
    with psycopg2.connect(postgres.replace("postgresql+psycopg2", "postgresql")) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM grade")
            assert cur.fetchone()[0] > 3
