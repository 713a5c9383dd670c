"""Kernels are isolated from each other and from the grader (autograder/sandbox.py), end to end.

One small class is graded with ``autograde`` (ch01, two kernels at a time). Each attacker
hands in a correct notebook whose ``learn_kernel`` answer cell also attacks: it kills every
process it can see, leaves a daemon behind, fills /dev/shm, writes a 1 GB file, plants
symbolic links for the root grader to trip on, or writes to every descriptor it holds. None
of it reaches another kernel, the grader, the host or the real submission folder, and every
attacker keeps the points of the items it did not attack (``learn_kernel`` is 1 of 10).
"""
import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from autograder import sandbox as sb
from autograder.config import Settings
from autograder.export import item_grades
from autograder.grade import autograde
from autograder.synthetic import _solutions, submission, write_submission

LEARN = _solutions("ch01", "ch01")["learn_kernel"]
MARK = "course-isolation-daemon"  # in the daemons' command lines

def _filler(path: str, megabytes: int, label: str) -> str:
    """Student code that writes ``megabytes`` MB to ``path``, then prints ``label=<bytes> <errno>``."""
    return f'''
import errno
written, err = 0, None
try:
    with open("{path}", "wb") as f:
        for _ in range({megabytes}):
            f.write(b"\\0" * (1 << 20))
            f.flush()
            written += 1 << 20
except OSError as e:
    err = errno.errorcode.get(e.errno)
print(f"{label}={{written}} {{err}}", flush=True)
'''


ATTACKS = {  # student: code run in the learn_kernel answer cell, after the correct answer
    "k1_killer": '''
import json, os, signal, time
seen = sorted(int(n) for n in os.listdir("/proc") if n.isdigit())
print("PIDS=" + json.dumps(seen), flush=True)
hit, start = set(), time.time()
while time.time() - start < 10:
    for pid in [-1] + seen + list(range(2, 1 << 15)):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
                hit.add(pid)
            except OSError:
                pass
    time.sleep(0.2)
print("KILLER=" + json.dumps([start, time.time(), sorted(hit)[:50]]), flush=True)
''',
    "k2_sleeper": '''
import json, time
start = time.time()
time.sleep(12)
print("SLEEPER=" + json.dumps([start, time.time()]), flush=True)
''',
    "daemon": f'''
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{MARK}"],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.run(["sh", "-c", '("' + sys.executable + '" -c "import time; time.sleep(301)" {MARK} '
                '</dev/null >/dev/null 2>&1 &)'])
print("DAEMONS=started", flush=True)
''',
    "shm": _filler("/dev/shm/isolation-blob", 200, "SHM"),
    "bigfile": _filler("big.bin", 1024, "BIG"),
    "symlinks": '''
import os
results = os.environ.get("COURSE_RESULTS_DIR") or ".results"
for link, target in (("gradebook-link", WORK + "/gradebook.db"),
                     (".course-graded.json", WORK + "/submitted/honest/ch01/ch01.ipynb"),
                     (os.path.join(results, "gradebook-link"), WORK + "/gradebook.db"),
                     (os.path.join(results, "zz.pt"), WORK + "/gradebook.db")):
    try:
        os.symlink(target, link)
    except OSError as e:
        print("symlink", link, e)
print("SYMLINKS=planted", flush=True)
''',
    "fdwriter": '''
import json, os, stat
fds = {}
for name in os.listdir("/proc/self/fd"):
    try:
        fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    except OSError:
        pass
wrote = []
for fd in sorted(fds):
    if fd < 3 or fds[fd].startswith("socket:"):
        continue
    try:
        if stat.S_ISSOCK(os.fstat(fd).st_mode):
            continue
        os.write(fd, b"x")
        wrote.append(fd)
    except OSError:
        pass
print("\\nFDS=" + json.dumps([fds, wrote]) + "\\n", end="", flush=True)  # one write, after its x
''',
}
OK_FD_KINDS = ("socket:", "anon_inode:", "pipe:")


def _cgroups(prefix: str) -> list[str]:
    found = []
    for base in (Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").glob("*")):
        if base.is_dir():
            found += [str(g) for g in base.glob(f"{prefix}*")]
    return found


def _processes(work: Path, uid: int = sb.NOBODY) -> list[str]:
    """Live (not zombie) processes of ``uid`` that this run started: in one of its cgroups, in
    its working folder, or with the daemons' marker (another grading on the same host, say a
    parallel CI job, has kernels of its own)."""
    found, prefix = [], sb.cgroup_prefix(work)
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            status = (d / "status").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ours = prefix in (d / "cgroup").read_text() or os.readlink(d / "cwd").startswith(str(work))
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields["State"].split()[0] in "ZX":
            continue
        if (int(fields["Uid"].split()[0]) == uid and ours) or MARK in cmd:
            found.append(f"{d.name} {cmd[:80]}")
    return found


def _printed(work: Path, student: str) -> dict:
    """KEY=value lines printed by the student's learn_kernel cell, from the graded notebook."""
    nb = nbformat.read(str(work / "autograded" / student / "ch01" / "ch01.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "learn_kernel")
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line.split("=")[0].isupper())


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root")
    work = tmp_path_factory.mktemp("isolation")
    write_submission(work, "honest", "ch01", submission("ch01"))
    for student, attack in ATTACKS.items():
        code = LEARN + f"\n\nWORK = {str(work)!r}\n" + attack
        write_submission(work, student, "ch01", submission("ch01", replace={"learn_kernel": code}))
    honest_nb = (work / "submitted" / "honest" / "ch01" / "ch01.ipynb").read_bytes()
    settings = Settings(work, cell_timeout=30, notebook_timeout=120, jobs=2)
    outcomes = {o.student: o for o in autograde(settings, ["ch01"], progress=False)}
    end = time.monotonic() + 5  # the last kernel's namespace may still be tearing down
    while _processes(work) and time.monotonic() < end:
        time.sleep(0.1)
    scores = {}
    for g in item_grades(settings):  # the gradebook still opens, whatever was planted
        scores.setdefault(g.student, {})[g.item] = g.score
    return {"work": work, "outcomes": outcomes, "scores": scores, "honest_nb": honest_nb,
            "shm": {e.name: e.stat(follow_symlinks=False).st_uid for e in os.scandir("/dev/shm")},
            "processes": _processes(work), "cgroups": _cgroups(sb.cgroup_prefix(work)),
            "printed": {s: _printed(work, s) for s in ATTACKS}}


def _others(scores: dict) -> dict:
    return {k: v for k, v in scores.items() if k != "test_learn_kernel"}


def test_honest_student_gets_full_marks(graded):
    assert sum(graded["scores"]["honest"].values()) == 10, graded["outcomes"]["honest"].problems


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_attacker_keeps_the_other_items(graded, student):
    got, honest = graded["scores"][student], graded["scores"]["honest"]
    assert _others(got) == _others(honest), graded["outcomes"][student].problems


def test_kernel_sees_and_kills_only_its_own_processes(graded):
    killer = graded["printed"]["k1_killer"]
    assert json.loads(killer["PIDS"]) == [1]  # its own PID namespace, its own /proc
    start, end, _ = json.loads(killer["KILLER"])
    s_start, s_end = json.loads(graded["printed"]["k2_sleeper"]["SLEEPER"])
    assert s_start < end and start < s_end, "the sleeper did not run while the killer did"
    assert sum(graded["scores"]["k2_sleeper"].values()) == 10


def test_no_process_or_cgroup_is_left_behind(graded):
    assert graded["printed"]["daemon"]["DAEMONS"] == "started"
    assert graded["processes"] == []
    assert graded["cgroups"] == []


def test_dev_shm_is_private_and_small(graded):
    written, err = graded["printed"]["shm"]["SHM"].split()
    assert err == "ENOSPC" and int(written) <= sb.policy(".", ".", ".", cpu_seconds=1, cuda=False)["shm_bytes"]
    # the host's /dev/shm holds nothing of a kernel (the grader's own semaphores may be there)
    assert "isolation-blob" not in graded["shm"]
    assert sb.NOBODY not in graded["shm"].values(), graded["shm"]


def test_disk_quota_and_no_writes_to_the_real_folder(graded):
    written, err = graded["printed"]["bigfile"]["BIG"].split()
    assert err == "ENOSPC" and int(written) < 600 << 20
    folder = graded["work"] / "autograded" / "bigfile" / "ch01"
    assert not (folder / "big.bin").exists()


def test_planted_links_never_reach_the_grader(graded):
    work = graded["work"]
    assert graded["printed"]["symlinks"]["SYMLINKS"] == "planted"
    for root, dirs, files in os.walk(work):  # the grader's markers, results, copies: no link
        for name in dirs + files:
            assert not os.path.islink(os.path.join(root, name)), os.path.join(root, name)
    assert not os.path.exists(work / "autograded" / "symlinks" / "ch01" / "gradebook-link")
    assert (work / "submitted" / "honest" / "ch01" / "ch01.ipynb").read_bytes() == graded["honest_nb"]
    assert (work / "gradebook.db").is_file() and graded["scores"]["symlinks"]


def test_kernel_holds_no_inherited_descriptor(graded):
    # the x it wrote on stdout's pipe reaches the notebook by ipykernel's own reader and may land
    # anywhere outside a single write, even between print's text and its newline: read one document
    fds, wrote = json.JSONDecoder().raw_decode(graded["printed"]["fdwriter"]["FDS"])[0]
    folder = str(graded["work"] / "autograded" / "fdwriter" / "ch01")
    for fd, target in fds.items():
        if int(fd) < 3:
            continue
        inside = target.startswith(("/tmp/", folder + "/")) or target == "/dev/null"
        assert target.startswith(OK_FD_KINDS) or inside, (fd, target)
    # what it could write to is its own: /dev/null, ipykernel's output pipes (it holds both ends)
    targets = list(fds.values())
    for fd in wrote:
        target = fds[str(fd)]
        assert target == "/dev/null" or (target.startswith("pipe:") and targets.count(target) >= 2), (fd, fds)
