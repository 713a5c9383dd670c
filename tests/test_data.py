"""The Fashion-MNIST loader: IDX reading, errors that name the file, folders, device batches."""
import gzip
import os
from pathlib import Path

import pytest
import torch

from convcourse import data as D
from convcourse.data import (CLASSES, DataError, FashionMNIST, data_loaders, find_data_dir,
                             generated, load_fashion_mnist, read_idx, write_idx)

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fashion-mnist-sample"
SAMPLE_COUNTS = [452, 429, 470, 437, 458, 428, 435, 452, 467, 415]  # from the sample's README
needs_sample = pytest.mark.skipif(not (SAMPLE / "t10k-labels-idx1-ubyte.gz").is_file(),
                                  reason="the Fashion-MNIST sample is not on this machine")


def _write_set(folder: Path, n_train=30, n_test=20, gz=True, train=True):
    folder.mkdir(parents=True, exist_ok=True)
    g = generated(n_train, n_test, seed=1)
    ext = ".gz" if gz else ""
    pairs = [("t10k-images-idx3-ubyte", g.test_x), ("t10k-labels-idx1-ubyte", g.test_y)]
    if train:
        pairs += [("train-images-idx3-ubyte", g.train_x), ("train-labels-idx1-ubyte", g.train_y)]
    for stem, t in pairs:
        write_idx(folder / (stem + ext), t)
    return g


def test_classes():
    assert len(CLASSES) == 10 and CLASSES[0] == "t-shirt" and CLASSES[9] == "ankle boot"


@needs_sample
def test_sample_labels_and_split():
    labels = read_idx(SAMPLE / "t10k-labels-idx1-ubyte.gz")
    assert labels.dtype == torch.uint8 and labels.shape == (4443,)
    assert torch.bincount(labels.long(), minlength=10).tolist() == SAMPLE_COUNTS
    images = read_idx(SAMPLE / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (4443, 28, 28) and images.dtype == torch.uint8
    d = load_fashion_mnist(SAMPLE, download=False)
    assert d.train_x.shape == (3500, 28, 28) and d.test_x.shape == (943, 28, 28)
    assert d.train_y.dtype == torch.int64 and d.test_y.dtype == torch.int64
    assert torch.equal(d.train_x, images[:3500]) and torch.equal(d.test_y, labels[3500:].long())
    assert "4,443 real test-set images split 3,500 train / 943 test" in d.source


@needs_sample
def test_find_data_dir_order(monkeypatch, tmp_path):
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(D, "DOWNLOAD_DIR", tmp_path / "nothing-here")
    assert find_data_dir() == D.SAMPLE_DIR
    _write_set(tmp_path / "mine")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "mine"))
    assert find_data_dir() == tmp_path / "mine"


@pytest.mark.parametrize("gz", [True, False])
def test_read_full_folder_gz_and_plain(tmp_path, gz):
    g = _write_set(tmp_path, gz=gz)
    d = load_fashion_mnist(tmp_path, download=False)
    assert torch.equal(d.train_x, g.train_x) and torch.equal(d.test_y, g.test_y)
    assert d.train_y.dtype == torch.int64
    assert d.source.startswith("Fashion-MNIST") and "30 train / 20 test" in d.source


def test_t10k_only_folder_is_split(tmp_path):
    _write_set(tmp_path, n_test=50, train=False)
    d = load_fashion_mnist(tmp_path, download=False)
    assert len(d.train_x) == 40 and len(d.test_x) == 10  # small folders: 4/5 for training


def test_bad_magic_names_the_file(tmp_path):
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes((1234).to_bytes(4, "big") + bytes(100))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: bad magic number 1234"):
        read_idx(p)


def test_gzip_without_gz_suffix_is_explained(tmp_path):
    p = tmp_path / "labels"
    p.write_bytes(gzip.compress((2049).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(3)))
    with pytest.raises(DataError, match="bad magic number"):
        read_idx(p)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_file_names_the_file(tmp_path, gz):
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    full = write_idx(tmp_path / "full", torch.zeros(5, 28, 28, dtype=torch.uint8))
    raw = (2051).to_bytes(4, "big") + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(28 * 28 * 3)
    p = tmp_path / name
    if gz:
        p.write_bytes(gzip.compress(raw + bytes(28 * 28 * 2))[:-40])  # cut the gzip stream
        with pytest.raises(DataError, match=name.replace(".", r"\.") + r": (cannot read|the header)"):
            read_idx(p)
    else:
        p.write_bytes(raw)
        with pytest.raises(DataError, match=name + r": the header announces 5 x 28 x 28 images .* \(truncated\)"):
            read_idx(p)
    assert read_idx(full).shape == (5, 28, 28)


def test_empty_folder_names_folder_and_missing_files(tmp_path):
    with pytest.raises(DataError) as e:
        load_fashion_mnist(tmp_path, download=False)
    msg = str(e.value)
    assert str(tmp_path) in msg and "t10k-images-idx3-ubyte" in msg and "train-labels-idx1-ubyte" in msg
    assert "download=False" in msg


def test_download_false_is_honoured(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("download attempted")
    monkeypatch.setattr(D, "download_fashion_mnist", boom)
    monkeypatch.setattr(D.urllib.request, "urlopen", boom)
    with pytest.raises(DataError):
        load_fashion_mnist(tmp_path / "empty", download=False)


def test_failed_download_lists_folders(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise OSError("network is unreachable")
    monkeypatch.setattr(D.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as e:
        load_fashion_mnist(tmp_path / "target", download=True)
    assert "download failed" in str(e.value) and str(tmp_path / "target") in str(e.value)
    assert not list((tmp_path / "target").glob("*.part"))


def test_generated_data():
    g = generated(100, 40, seed=3)
    assert isinstance(g, FashionMNIST) and g.source.startswith("generated")
    assert g.train_x.shape == (100, 28, 28) and g.train_x.dtype == torch.uint8
    assert g.test_y.dtype == torch.int64 and 0 <= int(g.train_y.min()) and int(g.train_y.max()) <= 9
    assert torch.equal(generated(100, 40, seed=3).train_x, g.train_x)


def test_loaders_shapes_resize_and_shuffle():
    g = generated(70, 30, seed=0)
    train_iter, test_iter, data = data_loaders(32, resize=(40, 48), device="cpu", data=g, seed=0)
    assert data is g and len(train_iter) == 3 and len(test_iter) == 1
    batches = list(train_iter)
    X, y = batches[0]
    assert X.shape == (32, 1, 40, 48) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert 0 <= float(X.min()) and float(X.max()) <= 1
    assert batches[-1][0].shape[0] == 70 - 64
    ys = torch.cat([b[1] for b in batches])
    assert sorted(ys.tolist()) == sorted(g.train_y.tolist())
    ys2 = torch.cat([b[1] for b in train_iter])
    assert not torch.equal(ys, ys2)  # a new order each epoch
    Xt, yt = next(iter(test_iter))
    assert torch.equal(yt, g.test_y)  # test set in order
    ref = torch.nn.functional.interpolate(g.test_x[:, None].float() / 255, size=(40, 48),
                                          mode="bilinear", align_corners=False)
    assert torch.allclose(Xt, ref)


def test_loaders_limits_and_no_resize():
    g = generated(50, 30)
    train_iter, test_iter, _ = data_loaders(8, device="cpu", data=g, train_limit=20, test_limit=9)
    assert train_iter.num_examples == 20 and test_iter.num_examples == 9
    X, _ = next(iter(test_iter))
    assert X.shape == (8, 1, 28, 28)


def test_resize_batched_on_device_uses_interpolate(monkeypatch):
    """The resize happens once per batch (not per image) with F.interpolate."""
    g = generated(40, 8)
    calls = []
    real = torch.nn.functional.interpolate

    def spy(x, *a, **k):
        calls.append(tuple(x.shape))
        return real(x, *a, **k)
    monkeypatch.setattr(D.F, "interpolate", spy)
    train_iter, _, _ = data_loaders(16, resize=224, device="cpu", data=g)
    shapes = [X.shape for X, _ in train_iter]
    assert shapes[0] == (16, 1, 224, 224) and len(calls) == 3 and calls[0] == (16, 1, 28, 28)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_loaders_on_cuda():
    train_iter, _, _ = data_loaders(16, resize=64, device="cuda", data=generated(40, 8))
    X, y = next(iter(train_iter))
    assert X.is_cuda and y.is_cuda and X.shape == (16, 1, 64, 64)
