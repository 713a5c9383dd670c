"""Device choice shared by chapters, exercises and the grader.

The grader passes ``--device cpu|cuda|auto`` to every kernel through the
``COURSE_DEVICE`` environment variable; chapters and exercises call
:func:`get_device` so that the same notebook runs on a laptop and on a GPU.
"""

import os

import torch

CHOICES = ("cpu", "cuda", "auto")


def resolve(name: str | None = None) -> str:
    """Turn ``cpu``, ``cuda`` or ``auto`` (default: ``$COURSE_DEVICE`` or ``auto``) into a device name."""
    name = (name or os.environ.get("COURSE_DEVICE") or "auto").strip().lower()
    if name not in CHOICES:
        raise ValueError(f"unknown device {name!r}: choose one of {', '.join(CHOICES)}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but PyTorch sees no CUDA GPU on this machine")
    return name


def get_device(name: str | None = None) -> torch.device:
    """The device to compute on, as a ``torch.device``."""
    return torch.device(resolve(name))


def tolerances(device: torch.device | str) -> dict:
    """``rtol``/``atol`` for comparing float32 results on ``device``.

    GPUs may use TF32 and different summation orders inside convolutions, so
    they get looser tolerances than the CPU.
    """
    if torch.device(device).type == "cuda":
        return {"rtol": 1e-3, "atol": 1e-3}
    return {"rtol": 1e-4, "atol": 1e-5}


def full_float32() -> None:
    """Compute float32 at full precision on CUDA: no TF32 in convolutions or matrix products.

    On Ampere and newer GPUs PyTorch lets cuDNN compute float32 convolutions in TF32 (a 10-bit
    mantissa) by default. On an H200 (``benchmarks/cuda_tolerance.py``, 2026-12-04) a
    (4, 16, 32, 32) input with 32 5x5 kernels then came out 3.7e-2 off, 17 times the hidden
    tests' tolerance, where an exact float32 answer (a student's shift-and-add) is not: the
    grader's answers and the student's hidden cases are both computed with this setting.
    """
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def describe(device: torch.device | str) -> str:
    """A human-readable name of the device, e.g. for timing printouts."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
