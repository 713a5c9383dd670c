"""A fair comparison of the course's five networks, and an ablation of NiN's head.

Every network is trained with one recipe on the real data the machine has, for the same
number of epochs, from several seeds, and the per-seed results are written to a JSON file
that chapters 8 and 9 read (they never train for it themselves):

- data: ``convcourse.data.load_fashion_mnist()`` (on a machine without the full set, the
  4,443-image real sample, split 3,500 train / 943 test), every training image once per epoch;
- recipe: He initialisation, plain minibatch SGD (``convcourse.train.train``) with the same
  learning rate and batch size for every network, the test accuracy after every epoch;
- networks (``convcourse.models`` builders), each at a stated input size at which it is valid:
  modern LeNet and the CPU-sized AlexNet (``alexnet_mini``) at 28x28, the narrow VGG-11 and
  GoogLeNet at 32x32, NiN at 67x67 (the smallest input it accepts); suite ``classic``, for a
  GPU: LeNet at 28x28, the full AlexNet, VGG-11 and NiN at 224x224, GoogLeNet at 96x96;
- ablation (suite ``ablation``): NiN's trunk with its class block and global average pooling
  replaced by a flatten and one dense layer; NiN whose class block ends without its last
  ReLU; NiN without its dropout. The last two were added to the stored run afterwards with
  ``--add --networks nin_linear,nin_nodrop`` (same protocol, data and machine).

Each run records its training loss and test accuracy after every epoch, so that a run stuck
at chance (its loss stays at ln 10) can be told from a slow one, and the fraction of test
images whose ten scores are all equal (as when every class unit of NiN's head is dead).

    python benchmarks/compare_networks.py                      # the stored real run
    python benchmarks/compare_networks.py --networks nin,nin_dense,nin_nodrop --seeds 0,1
    python benchmarks/compare_networks.py --smoke --out /tmp/c.json   # seconds, for tests
    python benchmarks/compare_networks.py --networks classic --device cuda \\
        --out benchmarks/results/compare_networks_gpu.json              # the classic sizes, GPU
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from convcourse.data import data_loaders, load_fashion_mnist  # noqa: E402
from convcourse.device import describe, get_device  # noqa: E402
from convcourse.train import init_he, set_seed, train  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "compare_networks.json"
CHANCE = 0.1  # ten balanced classes
LN10 = math.log(10)


@dataclass
class Config:
    key: str
    label: str
    build: Callable[[], nn.Module]
    size: int


def _nin_dense_head() -> nn.Module:
    """NiN's trunk (three blocks, poolings, dropout) with a flatten and one dense layer on top.

    At 67x67 the trunk ends in a 384 x 1 x 1 map, so the dense layer has 384 inputs.
    """
    from convcourse.models.nin import nin

    trunk = list(nin().children())[:7]  # up to and including the dropout
    return nn.Sequential(*trunk, nn.Flatten(), nn.Linear(384, 10))


def _nin_linear_scores() -> nn.Module:
    """NiN whose class block ends without its last ReLU: the scores may be negative.

    In NiN the scores are averages of ReLU outputs, so a class unit that is zero for every
    image (a dead ReLU) gives that class a constant score and no gradient.
    """
    from convcourse.models.nin import nin

    net = nin()
    net[7] = nn.Sequential(*list(net[7].children())[:-1])  # the class block, last ReLU dropped
    return net


def configs() -> dict[str, Config]:
    """Every network the script can train, by key."""
    from convcourse.models.alexnet import alexnet, alexnet_mini
    from convcourse.models.googlenet import googlenet
    from convcourse.models.lenet import lenet_modern
    from convcourse.models.nin import nin
    from convcourse.models.vgg import CFGS, vgg

    return {
        c.key: c
        for c in [
            Config("lenet", "LeNet (modern)", lenet_modern, 28),
            Config("alexnet", "AlexNet (mini)", alexnet_mini, 28),
            Config("vgg", "VGG-11 narrow", lambda: vgg(CFGS["vgg11_narrow"], image_size=32), 32),
            Config("nin", "NiN", nin, 67),
            Config("googlenet", "GoogLeNet", googlenet, 32),
            Config("nin_dense", "NiN, dense head", _nin_dense_head, 67),
            Config("nin_linear", "NiN, no ReLU on scores", _nin_linear_scores, 67),
            Config("nin_nodrop", "NiN, no dropout", lambda: nin(dropout=0.0), 67),
            # the classic sizes, for a GPU: full-width AlexNet and VGG-11 and NiN at 224x224,
            # GoogLeNet at 96x96 (LeNet's classic size is its 28x28)
            Config("alexnet_224", "AlexNet", alexnet, 224),
            Config("vgg11_224", "VGG-11", lambda: vgg(CFGS["vgg11"], image_size=224), 224),
            Config("nin_224", "NiN", nin, 224),
            Config("googlenet_96", "GoogLeNet", googlenet, 96),
        ]
    }


SUITES = {
    "compare": ["lenet", "alexnet", "vgg", "nin", "googlenet"],
    "ablation": ["nin", "nin_dense", "nin_linear", "nin_nodrop"],
    "classic": ["lenet", "alexnet_224", "vgg11_224", "nin_224", "googlenet_96"],
}
DEFAULT = "lenet,alexnet,vgg,nin,googlenet,nin_dense"  # the stored run


def cost(cfg: Config) -> dict:
    """Parameters and forward FLOPs for one image at the config's size (on the meta device)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        net = cfg.build()
        x = torch.zeros(1, 1, cfg.size, cfg.size)
    with FlopCounterMode(display=False) as counter:
        net(x)
    return {"parameters": sum(p.numel() for p in net.parameters()), "flops": counter.get_total_flops()}


def constant_fraction(net: nn.Module, test_iter) -> float:
    """Fraction of test images whose scores are all equal (the network cannot tell them apart)."""
    net.eval()
    same = total = 0
    with torch.no_grad():
        for X, _ in test_iter:
            out = net(X)
            same += int(((out.max(dim=1).values - out.min(dim=1).values) == 0).sum())
            total += len(out)
    return same / max(total, 1)


def run_one(cfg: Config, seed: int, args, data, device) -> dict:
    """Train one network from one seed; the per-epoch curves and the final figures."""
    set_seed(seed)
    resize = None if cfg.size == 28 else cfg.size
    train_iter, test_iter, _ = data_loaders(
        args.batch, resize=resize, device=device, data=data, seed=seed,
        train_limit=args.train_limit, test_limit=args.test_limit,
    )
    net = cfg.build().apply(init_he)
    hist = train(net, train_iter, test_iter, epochs=args.epochs, lr=args.lr, device=device,
                 init=None, plot=False, progress=False, log=None)
    return {
        "network": cfg.key, "label": cfg.label, "seed": seed, "size": cfg.size,
        "train_loss": hist["train_loss"], "train_acc": hist["train_acc"],
        "test_acc": hist["test_acc"], "final_test_acc": hist["test_acc"][-1],
        "constant_output_fraction": constant_fraction(net, test_iter),
        "images_per_s": hist["images_per_s"], "seconds": hist["seconds"],
    }


def summarise(runs: list[dict]) -> dict:
    """Per network: mean, sample standard deviation, min and max of the final test accuracy."""
    out = {}
    for key in dict.fromkeys(r["network"] for r in runs):
        accs = [r["final_test_acc"] for r in runs if r["network"] == key]
        losses = [r["train_loss"][-1] for r in runs if r["network"] == key]
        out[key] = {
            "seeds": len(accs), "mean": statistics.mean(accs),
            "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "min": min(accs), "max": max(accs),
            # a run whose final training loss is within 2 % of ln 10 has not left chance; one whose
            # loss is not a number (NaN, infinite) has diverged
            "runs_at_chance": sum(loss > 0.98 * LN10 for loss in losses if math.isfinite(loss)),
            "runs_diverged": sum(not math.isfinite(loss) for loss in losses),
        }
    return out


def environment(device) -> dict:
    return {
        "device": describe(device), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "python": platform.python_version(),
        "machine": platform.machine(), "processor_count": os.cpu_count(),
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--networks", default=DEFAULT,
                   help=f"comma-separated keys out of {', '.join(configs())}, or suites out of "
                   f"{', '.join(SUITES)} (default {DEFAULT})")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--train-limit", type=int, default=None, help="keep the first N training images")
    p.add_argument("--test-limit", type=int, default=None, help="keep the first N test images")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--smoke", action="store_true",
                   help="1 epoch, 2 seeds, 64 train / 32 test images: a check that runs in seconds")
    p.add_argument("--add", action="store_true",
                   help="add the networks to the --out file, which must hold the same protocol "
                   "and data (its runs are kept; wall time and sessions add up)")
    p.add_argument("--out", type=Path, default=None,
                   help=f"JSON to write (default {RESULTS.relative_to(ROOT)}; in smoke mode a temp file)")
    args = p.parse_args(argv)
    if args.smoke:
        args.epochs, args.seeds, args.train_limit, args.test_limit = 1, "0,1", 64, 32
    if args.out is None:
        args.out = Path(tempfile.gettempdir()) / "compare_networks_smoke.json" if args.smoke else RESULTS
    return args


def selected(args) -> list[str]:
    names = args.networks.split(",")
    keys = list(dict.fromkeys(k for n in names for k in SUITES.get(n, [n])))  # a suite: its keys
    unknown = set(keys) - set(configs())
    if unknown:
        raise SystemExit(f"unknown networks: {', '.join(sorted(unknown))}")
    return keys


def write(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(path)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def new_report(args, seeds, data, device) -> dict:
    """An empty report: the protocol, the data, the machine; no networks yet."""
    return {
        "protocol": {
            "epochs": args.epochs, "seeds": seeds, "batch": args.batch, "lr": args.lr,
            "optimiser": "SGD (no momentum, no weight decay)", "init": "He normal",
            "smoke": args.smoke, "sizes": {}, "labels": {},
        },
        "suites": {},
        "data": {"source": data.source, "train_images": len(data.train_y[: args.train_limit]),
                 "test_images": len(data.test_y[: args.test_limit])},
        "environment": environment(device), "date": _now(), "sessions": [],
        "costs": {}, "runs": [], "wall_seconds": 0.0, "complete": False,
    }


def previous_report(path: Path, fresh: dict) -> dict:
    """The report in ``path``, checked to share ``fresh``'s protocol and data (for ``--add``)."""
    report = json.loads(path.read_text())
    same = ("epochs", "seeds", "batch", "lr", "optimiser", "init", "smoke")
    for field in same:
        if report["protocol"][field] != fresh["protocol"][field]:
            raise SystemExit(f"{path}: {field} is {report['protocol'][field]!r}, "
                             f"not {fresh['protocol'][field]!r}: cannot add to it")
    if report["data"] != fresh["data"]:
        raise SystemExit(f"{path}: other data ({report['data']}): cannot add to it")
    report.setdefault("sessions", [{"date": report["date"], "wall_seconds": report["wall_seconds"],
                                    "networks": list(report["protocol"]["sizes"])}])
    return report


def add_networks(report: dict, keys: list[str]) -> None:
    """Put ``keys`` into the report's sizes, labels, costs and suites."""
    table, proto = configs(), report["protocol"]
    for key in keys:
        proto["sizes"][key], proto["labels"][key] = table[key].size, table[key].label
        report["costs"][key] = cost(table[key])
    report["suites"] = {name: [k for k in ks if k in proto["sizes"]] for name, ks in SUITES.items()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    data = load_fashion_mnist()
    keys, seeds = selected(args), [int(s) for s in args.seeds.split(",")]
    report = new_report(args, seeds, data, device)
    if args.add and args.out.exists():
        report = previous_report(args.out, report)
    add_networks(report, keys)
    done = {(r["network"], r["seed"]) for r in report["runs"]}
    session = {"date": _now(), "networks": keys, "wall_seconds": 0.0}
    report["sessions"].append(session)
    report["complete"], before, start = False, report["wall_seconds"], time.perf_counter()
    table = configs()
    for seed in seeds:  # seeds outside: a cut-short run still holds every network
        for key in keys:
            if (key, seed) in done:
                continue
            r = run_one(table[key], seed, args, data, device)
            report["runs"].append(r)
            report["summary"] = summarise(report["runs"])
            session["wall_seconds"] = time.perf_counter() - start
            report["wall_seconds"] = before + session["wall_seconds"]
            write(args.out, report)
            print(f"[{session['wall_seconds']:7.0f} s] seed {seed} {key:10s} "
                  f"test acc {r['final_test_acc']:.3f}, loss {r['train_loss'][-1]:.3f}, "
                  f"{r['images_per_s']:.0f} img/s", flush=True)
    report["complete"] = True
    report["summary"] = summarise(report["runs"])
    session["wall_seconds"] = time.perf_counter() - start
    report["wall_seconds"] = before + session["wall_seconds"]
    write(args.out, report)
    print(f"wrote {args.out} ({session['wall_seconds']:.0f} s)")
    return report


if __name__ == "__main__":
    main()
