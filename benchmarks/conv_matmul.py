"""Time a convolution written as one matrix product (im2col) against F.conv2d, on the CPU.

Two layers of the classic networks, each timed in the same run for both implementations:

- LeNet-sized: 6 -> 16 channels, 5x5 kernel, 28x28 input, batch 256;
- AlexNet-sized: 96 -> 256 channels, 5x5 kernel, padding 2, 27x27 input, batch 16.

For each it prints the median time of several runs of both, their ratio, and the largest
absolute difference between the two outputs. This is a script, not a test:

    .venv/bin/python benchmarks/conv_matmul.py [--repeat 5] [--threads N]
"""
import argparse
import platform

import torch
import torch.nn.functional as F

from convcourse.device import describe
from convcourse.timing import time_fn


def im2col(X, k_h, k_w, stride=(1, 1), padding=(0, 0)):
    """Windows of X (N, c_i, n_h, n_w) as columns (N, c_i*k_h*k_w, o_h*o_w), as F.unfold lays them out.

    Built from a strided view (Tensor.unfold) and one copy; on the CPU this is several
    times faster than F.unfold for large batches.
    """
    (s_h, s_w), (p_h, p_w) = stride, padding
    X = F.pad(X, (p_w, p_w, p_h, p_h))
    windows = X.unfold(2, k_h, s_h).unfold(3, k_w, s_w)        # (N, c_i, o_h, o_w, k_h, k_w), a view
    N, c_i, o_h, o_w = windows.shape[:4]
    return windows.permute(0, 1, 4, 5, 2, 3).reshape(N, c_i * k_h * k_w, o_h * o_w), (o_h, o_w)


def conv2d_im2col(X, W, b=None, stride=1, padding=0):
    """Reference convolution: every window as a column, then ONE matrix product for the batch."""
    c_o, c_i, k_h, k_w = W.shape
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    cols, (o_h, o_w) = im2col(X, k_h, k_w, pair(stride), pair(padding))
    Y = W.reshape(c_o, -1) @ cols                                  # (N, c_o, o_h*o_w)
    if b is not None:
        Y = Y + b[:, None]
    return Y.reshape(X.shape[0], c_o, o_h, o_w)


LAYERS = {
    "LeNet   6->16,  5x5, 28x28, batch 256": dict(N=256, c_i=6, c_o=16, n=28, k=5, padding=0),
    "AlexNet 96->256, 5x5, pad 2, 27x27, batch 16": dict(N=16, c_i=96, c_o=256, n=27, k=5, padding=2),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per implementation (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {platform.machine()}, {describe(device)}, "
          f"median of {args.repeat} runs after 1 warm-up, float32")
    for name, c in LAYERS.items():
        X = torch.randn(c["N"], c["c_i"], c["n"], c["n"], device=device)
        W = torch.randn(c["c_o"], c["c_i"], c["k"], c["k"], device=device) / (c["c_i"] * c["k"] ** 2) ** 0.5
        b = torch.randn(c["c_o"], device=device)
        with torch.no_grad():
            t_mm = time_fn(conv2d_im2col, X, W, b, 1, c["padding"], repeat=args.repeat, device=device)
            t_ref = time_fn(F.conv2d, X, W, b, 1, c["padding"], repeat=args.repeat, device=device)
            Y_mm = conv2d_im2col(X, W, b, padding=c["padding"])
            Y_ref = F.conv2d(X, W, b, padding=c["padding"])
        o = Y_ref.shape[-1]
        gflop = 2 * c["k"] ** 2 * c["c_i"] * o * o * c["c_o"] * c["N"] / 1e9
        print(f"{name}: output {tuple(Y_ref.shape)}, {gflop:.2f} GFLOP")
        print(f"  im2col + matmul {t_mm * 1e3:9.2f} ms ({gflop / t_mm:6.1f} GFLOP/s)")
        print(f"  F.conv2d        {t_ref * 1e3:9.2f} ms ({gflop / t_ref:6.1f} GFLOP/s)")
        p = (c["padding"],) * 2
        t_cols = time_fn(im2col, X, c["k"], c["k"], (1, 1), p, repeat=args.repeat, device=device)
        t_unfold = time_fn(F.unfold, X, c["k"], 1, c["padding"], 1, repeat=args.repeat, device=device)
        print(f"  (the im2col step alone: {t_cols * 1e3:.2f} ms with Tensor.unfold, "
              f"{t_unfold * 1e3:.2f} ms with F.unfold)")
        print(f"  ratio im2col / F.conv2d = {t_mm / t_ref:.2f}, "
              f"max |difference| = {(Y_mm - Y_ref).abs().max().item():.2e} "
              f"(largest output {Y_ref.abs().max().item():.1f})")


if __name__ == "__main__":
    main()
