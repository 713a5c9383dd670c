"""Fashion-MNIST for the course: find or download the files, read them, batch them on the device.

Where the images come from, in this order (:func:`find_data_dir`):

1. the folder named by the environment variable ``FASHION_MNIST_DIR``;
2. ``<repo>/data/fashion-mnist`` (where :func:`load_fashion_mnist` downloads to; git-ignored);
3. ``<repo>/../shared/data/fashion-mnist-sample``: 4,443 real test-set images, for machines
   with no network (split 3,500 train / 943 test).

If none holds the files and downloading is allowed, the four official files are downloaded.
Every loader result carries a human-readable ``source`` so that each printed number can say
which data it came from.

The batches are made on the device: the whole (uint8) data set is moved there once, and each
batch is converted to float and resized there with ``F.interpolate`` (no per-image Python).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from .device import get_device

CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")

REPO = Path(__file__).resolve().parent.parent
DOWNLOAD_DIR = REPO / "data" / "fashion-mnist"
SAMPLE_DIR = REPO.parent / "shared" / "data" / "fashion-mnist-sample"

FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
# The official gzipped files and their MD5 sums (as published with Fashion-MNIST).
MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's own S3 bucket
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
SAMPLE_TRAIN = 3500  # a folder with only the t10k pair is split: first 3,500 train, the rest test


class DataError(RuntimeError):
    """The data files are missing or malformed; the message names the file or folders."""


@dataclass
class FashionMNIST:
    """Images as uint8 tensors (N x 28 x 28), labels as int64, and where they came from."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str

    def __repr__(self) -> str:
        return f"FashionMNIST({self.source}; train {tuple(self.train_x.shape)}, test {tuple(self.test_x.shape)})"

    @property
    def generated(self) -> bool:
        return self.source.startswith("generated")


# ----------------------------------------------------------------------------- IDX files

_MAGIC = {2051: "images", 2049: "labels"}


def read_idx(path) -> torch.Tensor:
    """Read one IDX file (``.gz`` or not) into a uint8 tensor: images (N, rows, cols) or labels (N,).

    The magic number must be 2051 (images, three dimensions) or 2049 (labels, one dimension)
    and the file must hold exactly the number of bytes its header announces.
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(
            f"{path}: cannot read it ({type(e).__name__}: {e}); "
            f"the file is damaged or truncated, delete it and download it again"
        ) from None
    if len(raw) < 8:
        raise DataError(f"{path}: only {len(raw)} bytes, too short for an IDX header (the file is truncated)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _MAGIC:
        raise DataError(
            f"{path}: bad magic number {magic} (expected 2051 for images or "
            f"2049 for labels): not an IDX file, or a gzipped file without '.gz'"
        )
    ndim = 3 if magic == 2051 else 1
    if magic & 0xFF != ndim:
        raise DataError(f"{path}: header says {magic & 0xFF} dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: the header is truncated ({len(raw)} bytes)")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = 1
    for d in dims:
        expected *= d
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        raise DataError(
            f"{path}: the header announces {' x '.join(map(str, dims))} {_MAGIC[magic]} "
            f"= {expected:,} bytes of data, but the file holds {got:,} ({what})"
        )
    data = (
        torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8) if expected else torch.empty(0, dtype=torch.uint8)
    )
    return data.reshape(dims)


def write_idx(path, data: torch.Tensor) -> Path:
    """Write a uint8 tensor (N,) or (N, rows, cols) as an IDX file (gzipped if ``path`` ends in .gz)."""
    path = Path(path)
    data = torch.as_tensor(data).to(torch.uint8).contiguous()
    magic = {1: 2049, 3: 2051}[data.dim()]
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in data.shape)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + data.numpy().tobytes())
    return path


# ----------------------------------------------------------------------------- finding files


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _files(folder: Path) -> dict:
    return {key: _find(folder, stem) for key, stem in FILES.items()}


def _usable(folder: Path) -> bool:
    f = _files(folder)
    return f["test_x"] is not None and f["test_y"] is not None


def candidate_dirs() -> list[Path]:
    """The folders :func:`find_data_dir` looks in, in order."""
    dirs = []
    if os.environ.get("FASHION_MNIST_DIR"):
        dirs.append(Path(os.environ["FASHION_MNIST_DIR"]).expanduser())
    return dirs + [DOWNLOAD_DIR, SAMPLE_DIR]


def find_data_dir() -> Path | None:
    """The first folder that holds Fashion-MNIST files (at least the t10k pair), or None."""
    for d in candidate_dirs():
        if d.is_dir() and _usable(d):
            return d
    return None


# ----------------------------------------------------------------------------- download


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_fashion_mnist(folder=None, timeout: float = 30, log=print) -> Path:
    """Download the four official gzipped files into ``folder`` (default ``<repo>/data/fashion-mnist``)."""
    folder = Path(folder) if folder is not None else DOWNLOAD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name, md5 in MD5.items():
        target = folder / name
        if target.is_file() and _md5(target) == md5:
            continue
        errors = []
        for base in MIRRORS:
            part = target.with_name(name + ".part")
            try:
                log(f"downloading {base}{name}")
                with urllib.request.urlopen(base + name, timeout=timeout) as r, open(part, "wb") as f:
                    shutil.copyfileobj(r, f)
                if _md5(part) != md5:
                    raise DataError(f"MD5 mismatch ({_md5(part)})")
                part.replace(target)
                break
            except Exception as e:  # noqa: BLE001 - try the next mirror, report all at the end
                errors.append(f"{base}: {type(e).__name__}: {e}")
                part.unlink(missing_ok=True)
        else:
            raise DataError(f"could not download {name}: " + "; ".join(errors))
    return folder


# ----------------------------------------------------------------------------- loading


def _fmt_missing(folder: Path) -> str:
    missing = [stem for key, stem in FILES.items() if _files(folder)[key] is None]
    return (
        f"{folder} (missing {', '.join(s + '[.gz]' for s in missing)})"
        if folder.is_dir()
        else f"{folder} (no such folder)"
    )


@lru_cache(maxsize=4)
def _read_folder(folder: Path, mtimes: tuple) -> FashionMNIST:
    files = _files(folder)
    test_x, test_y = read_idx(files["test_x"]), read_idx(files["test_y"])
    if len(test_x) != len(test_y):
        raise DataError(f"{folder}: {len(test_x)} test images but {len(test_y)} test labels")
    if files["train_x"] is not None and files["train_y"] is not None:
        train_x, train_y = read_idx(files["train_x"]), read_idx(files["train_y"])
        if len(train_x) != len(train_y):
            raise DataError(f"{folder}: {len(train_x)} training images but {len(train_y)} labels")
        full = len(train_x) == 60000 and len(test_x) == 10000
        source = f"Fashion-MNIST, {'full set' if full else 'a set'} ({len(train_x):,} train / {len(test_x):,} test)"
    else:
        n = len(test_x)
        k = SAMPLE_TRAIN if n > SAMPLE_TRAIN else (4 * n) // 5
        train_x, train_y, test_x, test_y = test_x[:k], test_y[:k], test_x[k:], test_y[k:]
        source = f"Fashion-MNIST sample, {n:,} real test-set images split {k:,} train / {n - k:,} test"
    if int(max(train_y.max(), test_y.max())) > 9:
        raise DataError(f"{folder}: labels above 9: not Fashion-MNIST labels")
    return FashionMNIST(train_x, train_y.long(), test_x, test_y.long(), source)


def load_fashion_mnist(root=None, download: bool = True) -> FashionMNIST:
    """Read Fashion-MNIST from ``root`` or the first folder of :func:`find_data_dir`.

    With ``download=True`` and no files found, the official files are downloaded (into
    ``root`` if given, else ``<repo>/data/fashion-mnist``). The result is cached per folder.
    """
    if root is not None:
        searched = [Path(root).expanduser()]
    else:
        searched = candidate_dirs()
    folder = next((d for d in searched if d.is_dir() and _usable(d)), None)
    if folder is None and download:
        target = searched[0] if root is not None else DOWNLOAD_DIR
        try:
            folder = download_fashion_mnist(target)
        except Exception as e:  # noqa: BLE001
            raise DataError(
                f"no Fashion-MNIST files found and the download failed ({e}); "
                f"searched: " + "; ".join(_fmt_missing(d) for d in searched)
            ) from None
    if folder is None:
        raise DataError(
            "no Fashion-MNIST files found (download=False); searched: "
            + "; ".join(_fmt_missing(d) for d in searched)
            + "; set FASHION_MNIST_DIR to a folder holding them"
        )
    folder = folder.resolve()
    mtimes = tuple(p.stat().st_mtime_ns if p else 0 for p in _files(folder).values())
    return _read_folder(folder, mtimes)


def generated(n_train: int = 2000, n_test: int = 500, seed: int = 0) -> FashionMNIST:
    """Small synthetic stand-in data: each class is a noisy, shifted version of its own pattern.

    For tests and for machines with no Fashion-MNIST files; a small CNN learns it well above
    chance within an epoch or two, but it is not Fashion-MNIST and the source says so.
    """
    g = torch.Generator().manual_seed(seed)
    # one blocky pattern per class: a random binary 4x4 grid, smoothed and enlarged to 28x28
    coarse = (torch.rand(10, 1, 4, 4, generator=g) > 0.5).float()
    templates = F.interpolate(coarse, size=(28, 28), mode="bilinear", align_corners=False)[:, 0]

    def make(n):
        y = torch.randint(0, 10, (n,), generator=g)
        x = templates[y] * (0.5 + 0.5 * torch.rand(n, 1, 1, generator=g))
        shifts = torch.randint(-2, 3, (n, 2), generator=g)
        x = (
            torch.stack([torch.roll(xi, tuple(int(s) for s in sh), dims=(0, 1)) for xi, sh in zip(x, shifts)])
            if n
            else x
        )
        x = x + 0.3 * torch.randn(n, 28, 28, generator=g)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), y.long()

    train_x, train_y = make(n_train)
    test_x, test_y = make(n_test)
    return FashionMNIST(
        train_x,
        train_y,
        test_x,
        test_y,
        f"generated stand-in data (no Fashion-MNIST files found), {n_train:,} train / {n_test:,} test, seed {seed}",
    )


def load_or_generate(n_train: int = 3500, n_test: int = 943, seed: int = 0) -> FashionMNIST:
    """Real Fashion-MNIST if any folder holds it (no download), else :func:`generated` data."""
    try:
        return load_fashion_mnist(download=False)
    except DataError:
        return generated(n_train, n_test, seed)


# ----------------------------------------------------------------------------- batches


def _size(resize):
    if resize is None:
        return None
    return (resize, resize) if isinstance(resize, int) else tuple(resize)


class DeviceBatches:
    """An iterable of (X, y) batches made from tensors that already live on the device.

    ``X`` is float32 (B, 1, H, W) in [0, 1]; ``y`` is int64. With ``shuffle=True`` each pass
    draws a new permutation from its own ``torch.Generator``.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool,
        resize=None,
        seed: int | None = None,
        source: str = "",
    ):
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.size = int(batch_size), shuffle, _size(resize)
        self.source = source
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)))
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def num_examples(self) -> int:
        return len(self.y)

    @property
    def image_shape(self) -> tuple:
        return (1,) + (self.size or tuple(self.x.shape[1:]))

    def __len__(self) -> int:
        return (len(self.y) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator).to(self.x.device) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                xb, yb = self.x[start : start + self.batch_size], self.y[start : start + self.batch_size]
            else:
                idx = order[start : start + self.batch_size]
                xb, yb = self.x[idx], self.y[idx]
            xb = xb.unsqueeze(1).float().div_(255)
            if self.size is not None and tuple(xb.shape[-2:]) != self.size:
                xb = F.interpolate(xb, size=self.size, mode="bilinear", align_corners=False)
            yield xb, yb

    def __repr__(self) -> str:
        return (
            f"DeviceBatches({self.num_examples:,} images {self.image_shape}, batch {self.batch_size}, "
            f"{'shuffled' if self.shuffle else 'in order'}, on {self.device.type})"
        )


def data_loaders(
    batch_size: int,
    resize=None,
    device=None,
    root=None,
    train_limit=None,
    test_limit=None,
    data: FashionMNIST | None = None,
    seed: int | None = None,
):
    """``(train_iter, test_iter, data)``: batches of (X float32 (B,1,H,W) in [0,1], y int64) on ``device``.

    ``data`` defaults to :func:`load_fashion_mnist(root) <load_fashion_mnist>`; ``resize`` is an
    int or (H, W); ``train_limit``/``test_limit`` keep the first images only. The images are
    moved to the device once (as uint8) and each batch is resized there with ``F.interpolate``.
    """
    if data is None:
        data = load_fashion_mnist(root)
    device = torch.device(device) if device is not None else get_device()
    tx, ty = data.train_x[:train_limit], data.train_y[:train_limit]
    vx, vy = data.test_x[:test_limit], data.test_y[:test_limit]
    train_iter = DeviceBatches(
        tx.to(device), ty.to(device), batch_size, shuffle=True, resize=resize, seed=seed, source=data.source
    )
    test_iter = DeviceBatches(
        vx.to(device), vy.to(device), batch_size, shuffle=False, resize=resize, source=data.source
    )
    return train_iter, test_iter, data
