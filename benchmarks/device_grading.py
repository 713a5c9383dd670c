"""Grade one class on the CPU and on a CUDA GPU and compare every item's score.

    python benchmarks/device_grading.py --students 6 ch01 ch03 ch05 ch09   # on a GPU machine
    python benchmarks/device_grading.py --students 2 --device cpu ch01     # a dry run anywhere

The class is the grading benchmark's (``benchmarks/grading.py``: correct, partly wrong, blank,
crashing and looping submissions) plus one student per shortcut of ``tests/chapters/`` (the
builtin, the course's own code, a measured instead of derived count). The same files are
graded twice by ``course autograde`` with warm kernels and the sandbox: once with
``--device cpu`` and once with ``--device`` (``cuda`` by default). The script prints both times,
the number of items compared and whether every score is the same, and exits 1 if one differs.

On CUDA it also samples ``nvidia-smi`` while the class is graded: the most GPU memory one
kernel held, the most all kernels held together, and whether any process still holds the GPU
once grading ended (every kernel's memory must be freed with it). It checks that the grading
process itself never initialised CUDA (the kernels are forked, and a CUDA context does not
survive a fork). ``--json`` writes all of it to a file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from grading import make_class  # noqa: E402

from autograder.config import Settings  # noqa: E402
from autograder.export import item_grades  # noqa: E402
from autograder.grade import autograde  # noqa: E402
from autograder.synthetic import submission, write_submission  # noqa: E402


def add_shortcuts(work: Path, chosen: list[str]) -> int:
    """One student per shortcut answer of each chosen notebook; the number of students added."""
    added = 0
    for a in chosen:
        for i, (_label, replace, _fails) in enumerate(importlib.import_module(f"tests.chapters.{a}").SHORTCUTS):
            write_submission(work, f"shortcut{i:03d}", a, submission(a, replace=replace))
            added += 1
    return added


class GpuSampler(threading.Thread):
    """Reads ``nvidia-smi``'s compute processes every ``every`` seconds until stopped."""

    def __init__(self, every: float = 0.2):
        super().__init__(daemon=True)
        self.every, self.peak_per_pid, self.peak_total, self.samples = every, {}, 0, 0
        self._stop_event = threading.Event()

    @staticmethod
    def processes() -> dict[int, int]:
        """pid -> MiB of GPU memory, for every process that holds the GPU now."""
        out = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=30,
        ).stdout
        rows = [line.split(",") for line in out.strip().splitlines() if line.strip()]
        return {int(pid): int(mib) for pid, mib in rows if mib.strip().isdigit()}

    def run(self) -> None:
        while not self._stop_event.is_set():
            now = self.processes()
            self.samples += 1
            for pid, mib in now.items():
                self.peak_per_pid[pid] = max(self.peak_per_pid.get(pid, 0), mib)
            self.peak_total = max(self.peak_total, sum(now.values()))
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def grade(work: Path, chosen: list[str], device: str, args) -> tuple[float, dict]:
    settings = Settings(work, cell_timeout=args.cell_timeout, jobs=args.jobs, device=device)
    start = time.perf_counter()
    outcomes = autograde(settings, chosen, progress=args.progress)
    seconds = time.perf_counter() - start
    for o in outcomes:
        if o.problems:
            print(f"  {device}: {o.student} {o.assignment}: {o.status}: {'; '.join(o.problems)[:300]}")
    return seconds, {(g.student, g.assignment, g.item): g.score for g in item_grades(settings)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignments", nargs="*", default=["ch01", "ch03", "ch05", "ch09"])
    p.add_argument("--students", type=int, default=6)
    p.add_argument("--jobs", type=int, default=min(8, (os.cpu_count() or 1) + 1))
    p.add_argument("--cell-timeout", type=int, default=20)
    p.add_argument("--device", default="cuda", help="the device compared with the CPU")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--progress", action="store_true", help="print each submission as it is graded")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="device-grading-"))
    cpu_dir, dev_dir = root / "on-cpu", root / f"on-{args.device}-compared"
    kinds = make_class(cpu_dir, args.students, args.assignments)
    kinds["shortcut"] = add_shortcuts(cpu_dir, args.assignments)
    shutil.copytree(cpu_dir / "submitted", dev_dir / "submitted")
    n = sum(kinds.values())
    print(f"class: {n} submissions of {', '.join(args.assignments)}: "
          + ", ".join(f"{v} {k}" for k, v in kinds.items()), flush=True)

    cpu_s, cpu_scores = grade(cpu_dir, args.assignments, "cpu", args)
    print(f"--device cpu: {cpu_s:.1f} s", flush=True)
    sampler = GpuSampler() if args.device == "cuda" else None
    if sampler:
        sampler.start()
    dev_s, dev_scores = grade(dev_dir, args.assignments, args.device, args)
    if sampler:
        sampler.stop()
    print(f"--device {args.device}: {dev_s:.1f} s", flush=True)

    differ = sorted(k for k in cpu_scores.keys() | dev_scores.keys() if cpu_scores.get(k) != dev_scores.get(k))
    report = {
        "assignments": args.assignments, "submissions": kinds, "jobs": args.jobs,
        "cell_timeout_s": args.cell_timeout, "cpu_seconds": round(cpu_s, 1),
        "device": args.device, "device_seconds": round(dev_s, 1),
        "items_compared": len(cpu_scores), "identical": not differ and bool(cpu_scores),
        "differ": [list(k) + [cpu_scores.get(k), dev_scores.get(k)] for k in differ],
    }
    if sampler:
        import torch

        report.update(
            gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            kernels_on_gpu=len(sampler.peak_per_pid), samples=sampler.samples,
            peak_mib_one_kernel=max(sampler.peak_per_pid.values(), default=0),
            peak_mib_all_kernels=sampler.peak_total,
            holding_gpu_after=GpuSampler.processes(),
            grader_initialised_cuda=torch.cuda.is_initialized(),
        )
    print(f"items compared: {report['items_compared']}; scores identical: "
          f"{'yes' if report['identical'] else 'NO'}")
    for row in report["differ"][:20]:
        print("  differs:", row)
    for key in ("kernels_on_gpu", "peak_mib_one_kernel", "peak_mib_all_kernels", "holding_gpu_after",
                "grader_initialised_cuda"):
        if key in report:
            print(f"{key}: {report[key]}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
