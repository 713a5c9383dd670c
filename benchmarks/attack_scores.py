"""The red-team corpus (tests/attacks_corpus.py) graded once; per attack, the attacked items' scores.

    .venv/bin/python benchmarks/attack_scores.py > after.json
    PYTHONPATH=<checkout of an older commit> .venv/bin/python benchmarks/attack_scores.py z9_... > before.json

Prints JSON: the run's wall time and error, and for every attack its class, what it tries,
the scores of the items it attacks, its total and the number of suspicious lines. Student ids
given as arguments are left out (an attack that destroys an old grader's gradebook would
leave nothing to compare). Run it with the corpus files of this commit on ``sys.path``.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("PYTHONPATH", "").split(":")[0] or str(Path(__file__).resolve().parents[1]))

def main():
    from autograder.config import Settings
    from autograder.export import item_grades
    from autograder.grade import autograde
    from autograder.synthetic import submission, write_submission
    from tests.attacks_corpus import ASSIGNMENTS, ATTACKS, EVERYONE
    from tests.test_attacks import _write
    work = Path(tempfile.mkdtemp(prefix="attacks-", dir="/tmp"))
    for a in ASSIGNMENTS:
        write_submission(work, "honest", a, submission(a))
        write_submission(work, "blank", a, submission(a, blank=True))
    skip = {a for a in sys.argv[1:] if not a.startswith("--")}
    for attack in EVERYONE:
        if attack.student not in skip:
            _write(work, attack)
    os.environ["COURSE_GRADING_SEED"] = "s3cret-attack-seed-7"
    kw = {}
    if "--no-sandbox" in sys.argv:
        kw["sandbox"] = False
    settings = Settings(work, cell_timeout=20, notebook_timeout=120, jobs=2, **kw)
    t0 = time.monotonic()
    try:
        outcomes = autograde(settings, list(ASSIGNMENTS), progress=False)
        err = None
    except Exception as e:
        outcomes, err = [], f"{type(e).__name__}: {e}"
    wall = time.monotonic() - t0
    scores = {}
    try:
        for g in item_grades(settings):
            scores.setdefault((g.student, g.assignment), {})[g.item] = g.score
    except Exception as e:
        err = (err or "") + f"; scores: {type(e).__name__}: {e}"
    out = {"wall": wall, "error": err, "attacks": {}}
    for attack in ATTACKS:
        if attack.student in skip:
            continue
        got = scores.get((attack.student, attack.assignment), {})
        honest = scores.get(("honest", attack.assignment), {})
        out["attacks"][attack.student] = {
            "kind": attack.kind, "what": attack.what, "suspicious": len(getattr(next((o for o in outcomes if o.student == attack.student and o.assignment == attack.assignment), None), "suspicious", []) or []),
            "attacked": dict(got) if attack.attacks == ("*",) else {i: got.get(i) for i in attack.attacks},
            "total": sum(got.values()), "honest_total": sum(honest.values())}
    print(json.dumps(out, indent=1))
    if "--keep" not in sys.argv:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
if __name__ == "__main__":
    main()
