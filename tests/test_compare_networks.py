"""benchmarks/compare_networks.py: its smoke run writes a well-formed JSON, the stored real run
is complete and consistent, and chapters 8 and 9 print tables built from that stored file."""
import json
import math
import statistics
import subprocess
import sys

import nbformat
import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "compare_networks.py"
STORED = ROOT / "benchmarks" / "results" / "compare_networks.json"
NETWORKS = {"lenet", "alexnet", "vgg", "nin", "googlenet"}
ABLATION = {"nin", "nin_dense"}  # the default run (NiN without dropout is optional)


def _check_report(report: dict, epochs: int, min_seeds: int, keys=NETWORKS | ABLATION) -> None:
    for key in ("protocol", "suites", "data", "environment", "date", "wall_seconds", "costs", "runs",
                "summary"):
        assert key in report, key
    assert report["complete"] is True
    env = report["environment"]
    assert env["threads"] == 1 and env["device"] and env["torch"]
    data = report["data"]
    assert "Fashion-MNIST" in data["source"] and data["train_images"] > 0 and data["test_images"] > 0
    proto = report["protocol"]
    assert proto["epochs"] == epochs and len(proto["seeds"]) >= min_seeds
    assert set(report["suites"]["compare"]) == keys & NETWORKS
    assert set(report["suites"]["ablation"]) >= keys & ABLATION
    assert set(proto["sizes"]) == keys and set(report["costs"]) == keys
    for run in report["runs"]:
        assert run["network"] in keys and run["seed"] in proto["seeds"]
        assert len(run["train_loss"]) == len(run["test_acc"]) == epochs
        assert all(math.isfinite(x) for x in run["train_loss"])
        assert 0 <= run["final_test_acc"] <= 1 and run["final_test_acc"] == run["test_acc"][-1]
        assert 0 <= run["constant_output_fraction"] <= 1
    pairs = {(r["network"], r["seed"]) for r in report["runs"]}
    assert pairs == {(k, s) for k in keys for s in proto["seeds"]}, "one run per network and seed"
    for key, s in report["summary"].items():
        accs = [r["final_test_acc"] for r in report["runs"] if r["network"] == key]
        assert s["seeds"] == len(accs)
        assert s["mean"] == pytest.approx(statistics.mean(accs))
        assert s["std"] == pytest.approx(statistics.stdev(accs))


def test_smoke_run_writes_a_well_formed_json(tmp_path):
    out = tmp_path / "smoke.json"
    _smoke("--out", str(out))
    report = json.loads(out.read_text())
    _check_report(report, epochs=1, min_seeds=2)
    assert report["protocol"]["smoke"] is True
    assert report["data"]["train_images"] == 64 and report["data"]["test_images"] == 32


def _smoke(*args):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", *args],
                          capture_output=True, text=True, timeout=120,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc


def test_add_extends_a_run_with_the_same_protocol(tmp_path):
    out = tmp_path / "added.json"
    _smoke("--networks", "lenet", "--out", str(out))
    first = json.loads(out.read_text())
    _smoke("--networks", "lenet,alexnet", "--add", "--out", str(out))
    report = json.loads(out.read_text())
    _check_report(report, epochs=1, min_seeds=2, keys={"lenet", "alexnet"})
    assert report["runs"][:2] == first["runs"], "the stored runs are kept, not run again"
    assert len(report["sessions"]) == 2
    assert report["wall_seconds"] == pytest.approx(sum(s["wall_seconds"] for s in report["sessions"]))
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--lr", "0.5", "--add",
                           "--networks", "lenet", "--out", str(out)], capture_output=True, text=True,
                          timeout=120, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0 and "cannot add" in proc.stderr


def test_stored_real_run_is_complete():
    report = json.loads(STORED.read_text())
    assert report["protocol"]["smoke"] is False
    keys = set(report["protocol"]["sizes"])
    assert keys >= NETWORKS | ABLATION
    _check_report(report, epochs=report["protocol"]["epochs"], min_seeds=3, keys=keys)
    assert report["data"]["train_images"] == 3500 and report["data"]["test_images"] == 943


def _outputs(stem: str) -> str:
    nb = nbformat.read(str(ROOT / "chapters" / f"{stem}.ipynb"), as_version=4)
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or "".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def _mean_std(report: dict, key: str) -> str:
    accs = [r["final_test_acc"] for r in report["runs"] if r["network"] == key]
    return f"{statistics.mean(accs):.3f} ± {statistics.stdev(accs):.3f}"


@pytest.mark.parametrize("stem, suite", [("09_googlenet", "compare"), ("08_nin", "ablation")])
def test_chapter_tables_come_from_the_stored_json(stem, suite):
    report = json.loads(STORED.read_text())
    text = _outputs(stem)
    for key in report["suites"][suite]:
        label = report["protocol"]["labels"][key]
        rows = [line for line in text.splitlines() if line.startswith(f"| {label} ")]
        assert rows, f"{stem}: no table row for {label}"
        assert any(_mean_std(report, key) in row for row in rows), f"{stem}: {label}'s accuracy is not the stored one"
    assert f"{report['wall_seconds'] / 60:.0f} min" in text


STORED_GPU = ROOT / "benchmarks" / "results" / "compare_networks_gpu.json"
CLASSIC = {"lenet": 28, "alexnet_224": 224, "vgg11_224": 224, "nin_224": 224, "googlenet_96": 96}


def test_stored_gpu_run_keeps_the_protocol_at_the_classic_sizes():
    """The GPU run (benchmarks/gpu_check.sh on a lent H200): the CPU run's protocol and data, the
    classic input sizes, one run per network and seed, and a diverged run counted as diverged."""
    cpu, gpu = json.loads(STORED.read_text()), json.loads(STORED_GPU.read_text())
    assert gpu["complete"] is True and gpu["environment"]["device"].startswith("cuda (")
    for field in ("epochs", "seeds", "batch", "lr", "optimiser", "init", "smoke"):
        assert gpu["protocol"][field] == cpu["protocol"][field], field
    assert gpu["data"] == cpu["data"]
    assert gpu["protocol"]["sizes"] == CLASSIC and set(gpu["suites"]["classic"]) == set(CLASSIC)
    pairs = [(r["network"], r["seed"]) for r in gpu["runs"]]
    assert sorted(pairs) == sorted((k, s) for k in CLASSIC for s in gpu["protocol"]["seeds"])
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from compare_networks import summarise

    summary = summarise(gpu["runs"])
    for key in CLASSIC:
        diverged = sum(not all(map(math.isfinite, r["train_loss"])) for r in gpu["runs"] if r["network"] == key)
        assert summary[key]["runs_diverged"] == diverged
    assert sum(s["runs_diverged"] for s in summary.values()) >= 1, "the stored run holds the diverged VGG-11"


def test_chapter_9_prints_the_gpu_table_from_the_stored_json():
    gpu = json.loads(STORED_GPU.read_text())
    text = _outputs("09_googlenet")
    assert f"run on {gpu['environment']['device']}" in text
    for key in CLASSIC:
        label = gpu["protocol"]["labels"][key]
        rows = [line for line in text.splitlines() if line.startswith(f"| {label} ")]
        assert any(_mean_std(gpu, key) in row for row in rows), f"{label}'s GPU accuracy is not the stored one"
