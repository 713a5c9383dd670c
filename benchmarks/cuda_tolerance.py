"""How far float32 results on a device are from exact ones, against the grader's tolerances.

The hidden tests compare a student's float32 result with the course's, both on the grading
device, with ``convcourse.device.tolerances(device)`` (``torch.allclose``'s ``atol`` and
``rtol``). This script measures, for convolutions and matrix products of the sizes the hidden
cases use and larger, the worst error of the device's float32 result against a float64 one
computed on the CPU, in units of that tolerance: a figure under 1 means a correct answer
passes with that margin, over 1 that the tolerance is too tight for that device. It measures
twice: with PyTorch's default settings (cuDNN may use TF32 for float32 convolutions on
Ampere and newer GPUs) and after ``convcourse.device.full_float32()``, as the grader computes.

    python benchmarks/cuda_tolerance.py --device cuda     # on a GPU machine
    python benchmarks/cuda_tolerance.py --device cpu      # the same figures for the CPU
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convcourse.device import full_float32, tolerances  # noqa: E402

# (batch, in channels, side, out channels, kernel): from the hidden cases' sizes up to a VGG layer
CONV_SHAPES = [(1, 1, 8, 1, 3), (2, 3, 16, 4, 3), (4, 16, 32, 32, 5), (8, 64, 32, 64, 3), (8, 256, 14, 256, 3)]
MATMUL_SIDES = [8, 64, 512, 2048]


def worst(result: torch.Tensor, exact: torch.Tensor, tol: dict) -> dict:
    """Largest absolute error, and largest error over ``atol + rtol * |exact|`` (allclose's bound)."""
    err = (result.double().cpu() - exact).abs()
    bound = tol["atol"] + tol["rtol"] * exact.abs()
    return {"max_abs_error": float(err.max()), "worst_over_tolerance": float((err / bound).max())}


def measure(device: str, seed: int = 0) -> list[dict]:
    tol, rows = tolerances(device), []
    gen = torch.Generator().manual_seed(seed)
    for b, ci, n, co, k in CONV_SHAPES:
        x, w = torch.randn(b, ci, n, n, generator=gen), torch.randn(co, ci, k, k, generator=gen)
        exact = F.conv2d(x.double(), w.double(), padding=k // 2)
        got = F.conv2d(x.to(device), w.to(device), padding=k // 2)
        rows.append({"op": f"conv2d {tuple(x.shape)} * {tuple(w.shape)}", **worst(got, exact, tol)})
    for n in MATMUL_SIDES:
        a, c = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
        rows.append({"op": f"matmul {n}x{n}", **worst(a.to(device) @ c.to(device), a.double() @ c.double(), tol)})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    tol, report = tolerances(args.device), {"device": args.device, "torch": torch.__version__}
    report["tolerances"] = tol
    print(f"device {args.device}, torch {torch.__version__}, tolerances {tol}")
    for label, setup in (("default", lambda: None), ("full_float32", full_float32)):
        setup()
        tf32 = {"cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}
        rows = measure(args.device)
        report[label] = {**tf32, "rows": rows}
        print(f"-- {label}: {tf32}")
        for r in rows:
            print(f"{r['op']:<44} max |error| {r['max_abs_error']:.2e}   "
                  f"worst / tolerance {r['worst_over_tolerance']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
