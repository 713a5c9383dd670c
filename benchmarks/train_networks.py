"""Train the course's networks with the d2l-en recipe and with the course's loop; compare speed and accuracy.

For each network (LeNet, AlexNet, VGG, NiN, GoogLeNet) the same architecture is trained twice on
the same data and device in one run:

- **d2l**: ``d2l.Trainer`` fitting the network wrapped as a ``d2l.Classifier``, with the data as a
  ``d2l.DataModule`` that works like d2l's ``FashionMNIST`` class (PIL images resized one by one
  with ``transforms.Resize`` in DataLoader worker processes, batches copied to the GPU);
- **course**: ``convcourse.train.train`` with ``convcourse.data.data_loaders`` (the data resident
  on the device, each batch resized there with one ``F.interpolate``, plus channels-last and
  mixed precision on CUDA).

The recipe is d2l-en's: SGD on the cross-entropy, batch 128, 10 epochs, Xavier initialisation,
LeNet lr 0.1 at 28x28, AlexNet lr 0.01 at 224, VGG ((1,16),(1,32),(2,64),(2,128),(2,128)) lr 0.01
at 224, NiN lr 0.05 at 224, GoogLeNet lr 0.01 at 96. Both loops time the whole run (training and
the evaluation after each epoch); the table reports training images per second over that time,
the final test accuracy (by the same ``evaluate_accuracy`` for both), and the speed ratio.

    python benchmarks/train_networks.py                        # everything (needs a GPU)
    python benchmarks/train_networks.py --networks lenet,nin --epochs 2 --limit 10000
    python benchmarks/train_networks.py --smoke                # a quick CPU check
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convcourse.data import data_loaders, load_fashion_mnist  # noqa: E402
from convcourse.device import describe, get_device  # noqa: E402
from convcourse.train import evaluate_accuracy, set_seed, train  # noqa: E402


@dataclass
class Spec:
    name: str
    build: callable
    lr: float
    resize: int


VGG_ARCH = ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128))


def specs(smoke: bool) -> dict:
    """Builders, learning rates and input sizes; smoke mode uses small inputs and slim widths."""
    from convcourse.models.alexnet import alexnet
    from convcourse.models.lenet import lenet

    def vgg_net():
        from convcourse.models.vgg import vgg
        if smoke:
            return vgg(((1, 4), (1, 8), (1, 8), (1, 16), (1, 16)), image_size=32, hidden=64)
        return vgg(VGG_ARCH)

    def nin_net():
        from convcourse.models.nin import nin
        return nin()

    def googlenet_net():
        from convcourse.models.googlenet import googlenet
        return googlenet()

    return {
        "lenet": Spec("LeNet", lenet, 0.1, 28),
        "alexnet": Spec("AlexNet" + (" (1/16 width)" if smoke else ""),
                        (lambda: alexnet(slim=16)) if smoke else alexnet, 0.01, 224),
        "vgg": Spec("VGG" + (" (tiny)" if smoke else ""), vgg_net, 0.01, 32 if smoke else 224),
        "nin": Spec("NiN", nin_net, 0.05, 72 if smoke else 224),
        "googlenet": Spec("GoogLeNet", googlenet_net, 0.01, 64 if smoke else 96),
    }


# ----------------------------------------------------------------------------- the d2l side

def d2l_classes():
    from d2l import torch as d2l
    from PIL import Image
    from torchvision import transforms

    class PILImages(torch.utils.data.Dataset):
        """Like torchvision's FashionMNIST: one PIL image per item, then Resize and ToTensor."""

        def __init__(self, x, y, resize):
            self.x, self.y = x, y
            self.transform = transforms.Compose([transforms.Resize((resize, resize)), transforms.ToTensor()])

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return self.transform(Image.fromarray(self.x[i].numpy())), int(self.y[i])

    class Data(d2l.DataModule):
        def __init__(self, data, batch_size, resize, train_limit=None, test_limit=None, num_workers=4):
            super().__init__(num_workers=num_workers)
            self.batch_size = batch_size
            self.train = PILImages(data.train_x[:train_limit], data.train_y[:train_limit], resize)
            self.val = PILImages(data.test_x[:test_limit], data.test_y[:test_limit], resize)

        def get_dataloader(self, train):
            return torch.utils.data.DataLoader(self.train if train else self.val, self.batch_size,
                                               shuffle=train, num_workers=self.num_workers)

    class Classifier(d2l.Classifier):
        def __init__(self, net, lr):
            super().__init__()
            self.lr = lr
            self.net = net
            self.board.display = False  # no live plots in a script

    return d2l, Data, Classifier


def run_d2l(spec, data, args, device):
    d2l, Data, Classifier = d2l_classes()
    set_seed(0)
    dm = Data(data, args.batch_size, spec.resize, args.limit, args.test_limit, args.workers)
    model = Classifier(spec.build(), spec.lr)
    model.apply_init([next(iter(dm.get_dataloader(True)))[0]], d2l.init_cnn)
    trainer = d2l.Trainer(max_epochs=args.epochs, num_gpus=1 if device.type == "cuda" else 0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    trainer.fit(model, dm)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    _, test_iter, _ = data_loaders(args.batch_size, resize=spec.resize, device=device, data=data,
                                   train_limit=args.limit, test_limit=args.test_limit)
    acc = evaluate_accuracy(model.net, test_iter, device)
    n = len(dm.train) * args.epochs
    return {"seconds": seconds, "images_per_s": n / seconds, "test_acc": acc}


# ----------------------------------------------------------------------------- the course side

def run_course(spec, data, args, device):
    set_seed(0)
    train_iter, test_iter, _ = data_loaders(args.batch_size, resize=spec.resize, device=device, data=data,
                                            train_limit=args.limit, test_limit=args.test_limit, seed=0)
    cuda = device.type == "cuda"
    h = train(spec.build(), train_iter, test_iter, args.epochs, spec.lr, device, init="xavier",
              plot=False, amp=cuda, channels_last=cuda, log=None, progress=False)
    n = train_iter.num_examples * args.epochs
    return {"seconds": h["seconds"], "images_per_s": n / h["seconds"], "test_acc": h["test_acc"][-1]}


# ----------------------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--networks", default="lenet,alexnet,vgg,nin,googlenet",
                   help="comma-separated subset of lenet,alexnet,vgg,nin,googlenet")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--limit", type=int, default=None, help="use only the first LIMIT training images")
    p.add_argument("--test-limit", type=int, default=None, help="use only the first TEST_LIMIT test images")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=4, help="DataLoader worker processes of the d2l loop")
    p.add_argument("--loops", default="d2l,course", help="which loops to run (d2l, course or both)")
    p.add_argument("--device", default=None, help="cpu, cuda or auto (default: $COURSE_DEVICE or auto)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny run for a CPU check: 1 epoch, 256 training and 128 test images, small inputs")
    args = p.parse_args(argv)
    if args.smoke:
        args.epochs = 1
        args.limit = args.limit or 256
        args.test_limit = args.test_limit or 128
        args.workers = min(args.workers, 2)
    elif args.limit and args.test_limit is None:
        args.test_limit = max(args.limit // 6, args.batch_size)

    device = get_device(args.device)
    table = specs(args.smoke)
    names = [n.strip().lower() for n in args.networks.split(",") if n.strip()]
    unknown = [n for n in names if n not in table]
    if unknown:
        p.error(f"unknown network(s) {', '.join(unknown)}; choose from {', '.join(table)}")
    loops = [x.strip() for x in args.loops.split(",")]

    data = load_fashion_mnist()
    n_train = len(data.train_y[:args.limit])
    n_test = len(data.test_y[:args.test_limit])
    print(f"device: {describe(device)} | torch {torch.__version__}")
    print(f"data: {data.source}; using {n_train:,} training and {n_test:,} test images")
    print(f"recipe: SGD, cross-entropy, batch {args.batch_size}, {args.epochs} epoch(s), Xavier init"
          + (" | SMOKE: slim AlexNet, tiny VGG, small inputs" if args.smoke else ""))
    print("course loop on CUDA: data resident on the device, batched resize, channels_last, autocast")
    print()

    rows = []
    for key in names:
        spec = table[key]
        results = {}
        for loop in loops:
            fn = {"d2l": run_d2l, "course": run_course}[loop]
            try:
                r = fn(spec, data, args, device)
            except Exception as e:  # keep going: report the failure in the table
                r = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:80]}
            results[loop] = r
            if "error" in r:
                line = f"{spec.name:<22} {loop:<7} FAILED {r['error']}"
            else:
                line = (f"{spec.name:<22} {loop:<7} {spec.resize:>4}px  {r['seconds']:8.1f} s  "
                        f"{r['images_per_s']:10,.0f} img/s  test acc {r['test_acc']:.3f}")
            print(line, flush=True)
            rows.append((spec, loop, r))
        if {"d2l", "course"} <= results.keys() and "error" not in results["d2l"] and "error" not in results["course"]:
            ratio = results["course"]["images_per_s"] / results["d2l"]["images_per_s"]
            print(f"{'':<22} course / d2l speed: {ratio:.2f}x", flush=True)

    print()
    print(f"| network | loop | input | seconds | images/s | test acc | speed vs d2l |")
    print(f"| --- | --- | --- | ---: | ---: | ---: | ---: |")
    by_net = {}
    for spec, loop, r in rows:
        by_net.setdefault(spec.name, {})[loop] = r
    for spec, loop, r in rows:
        if "error" in r:
            print(f"| {spec.name} | {loop} | {spec.resize} | failed: {r['error']} | | | |")
            continue
        base = by_net[spec.name].get("d2l", {})
        ratio = f"{r['images_per_s'] / base['images_per_s']:.2f}x" if "images_per_s" in base else ""
        print(f"| {spec.name} | {loop} | {spec.resize} | {r['seconds']:.1f} | {r['images_per_s']:,.0f} "
              f"| {r['test_acc']:.3f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
