"""Data loaders: IDX and CIFAR parsers on files the tests write, checksums, offline errors, downloads, real MNIST."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

import noisyprop_lib.data as D


def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08, compress: bool = True, truncate: int = 0) -> Path:
    raw = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype).tobytes()
    if truncate:
        raw = raw[:-truncate]
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)
    return path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No NOISYPROP_DATA, a private cache, and no network."""
    monkeypatch.delenv("NOISYPROP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def offline(remote, dest_dir, timeout=60.0):
        raise D.DataUnavailableError("network unreachable (test)")

    monkeypatch.setattr(D, "_download", offline)
    return tmp_path


def fake_mnist(folder: Path, n: int = 5, monkeypatch=None, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    ip = write_idx(folder / D.MNIST_FILES[(split, "images")].name, images)
    lp = write_idx(folder / D.MNIST_FILES[(split, "labels")].name, labels)
    if monkeypatch is not None:
        for kind, p in (("images", ip), ("labels", lp)):
            old = D.MNIST_FILES[(split, kind)]
            monkeypatch.setitem(D.MNIST_FILES, (split, kind), D._Remote(old.name, md5(p), p.stat().st_size, old.urls))
    return images, labels


# ---------------------------------------------------------------------------
# IDX parser
# ---------------------------------------------------------------------------


def test_parse_idx_roundtrip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(D.parse_idx(write_idx(tmp_path / "a.gz", a)), a)
    b = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert np.array_equal(D.parse_idx(write_idx(tmp_path / "b", b, type_code=0x0C, compress=False)), b)


def test_parse_idx_truncated_file_names_the_file(tmp_path):
    p = write_idx(tmp_path / "t.gz", np.zeros((3, 4, 4), dtype=np.uint8), truncate=5)
    with pytest.raises(D.DataError, match=r"t\.gz.*truncated or corrupted"):
        D.parse_idx(p)


def test_parse_idx_bad_magic_and_not_gzip(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(D.DataError, match="not an IDX file"):
        D.parse_idx(p)
    g = tmp_path / "notgzip.gz"
    g.write_bytes(b"plain bytes, not gzip")
    with pytest.raises(D.DataError, match="cannot be read as gzip"):
        D.parse_idx(g)
    e = tmp_path / "empty"
    e.write_bytes(b"")
    with pytest.raises(D.DataError, match="empty file"):
        D.parse_idx(e)


# ---------------------------------------------------------------------------
# MNIST loader
# ---------------------------------------------------------------------------


def test_load_from_root_scales_and_verifies(isolated, monkeypatch):
    images, labels = fake_mnist(isolated / "root" / "mnist", monkeypatch=monkeypatch)
    ds = D.load_mnist("test", root=isolated / "root")
    assert ds.images.shape == (5, 784) and ds.images.dtype == np.float32
    assert np.allclose(ds.images * 255, images.reshape(5, -1))
    assert np.array_equal(ds.labels, labels) and ds.labels.dtype == np.int64
    assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0


def test_environment_variable_is_searched(isolated, monkeypatch):
    fake_mnist(isolated / "offline", monkeypatch=monkeypatch)
    monkeypatch.setenv("NOISYPROP_DATA", str(isolated / "offline"))
    assert len(D.load_mnist("test")) == 5


def test_checksum_mismatch_names_the_file(isolated, monkeypatch):
    fake_mnist(isolated / "root", monkeypatch=monkeypatch)
    p = isolated / "root" / D.MNIST_FILES[("test", "images")].name
    p.write_bytes(p.read_bytes()[:-10])  # truncate after the checksum was recorded
    with pytest.raises(D.DataError, match=r"t10k-images-idx3-ubyte\.gz has MD5 .* looks truncated"):
        D.load_mnist("test", root=isolated / "root")


def test_offline_and_missing_lists_files_checksums_and_folders(isolated):
    with pytest.raises(D.DataUnavailableError) as info:
        D.load_mnist("train", root=isolated / "nowhere")
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert D.MNIST_FILES[("train", "images")].md5 in msg
    assert str(isolated / "nowhere") in msg and "NOISYPROP_DATA" in msg
    assert "network unreachable" in msg


def test_download_is_verified_and_atomic(tmp_path, monkeypatch):
    monkeypatch.delenv("NOISYPROP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = tmp_path / "server"
    fake_mnist(src, monkeypatch=monkeypatch)
    for kind in ("images", "labels"):
        old = D.MNIST_FILES[("test", kind)]
        monkeypatch.setitem(D.MNIST_FILES, ("test", kind), D._Remote(old.name, old.md5, old.size, ((src / old.name).as_uri(),)))
    ds = D.load_mnist("test")
    assert len(ds) == 5
    cached = tmp_path / "cache" / "noisyprop" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(D.MNIST_FILES[("test", k)].name for k in ("images", "labels"))


def test_corrupted_download_is_rejected_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("NOISYPROP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = tmp_path / "server"
    fake_mnist(src, monkeypatch=monkeypatch)  # records the true checksums of both files
    for kind in ("images", "labels"):
        old = D.MNIST_FILES[("test", kind)]
        monkeypatch.setitem(D.MNIST_FILES, ("test", kind), D._Remote(old.name, old.md5, old.size, ((src / old.name).as_uri(),)))
    (src / D.MNIST_FILES[("test", "labels")].name).write_bytes(b"not the real file")  # the server now serves garbage
    with pytest.raises(D.DataUnavailableError, match="does not match the published MD5"):
        D.load_mnist("test")
    cached = tmp_path / "cache" / "noisyprop" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == [D.MNIST_FILES[("test", "images")].name]  # no partial labels file


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        D.load_mnist("validation")
    with pytest.raises(ValueError, match="name"):
        D.load_dataset("imagenet", "train")
    with pytest.raises(ValueError, match="n_train"):
        D.train_validation_split(np.zeros((10, 2)), 0, 2)
    with pytest.raises(ValueError, match="at most the 10 available"):
        D.train_validation_split(np.zeros((10, 2)), 8, 5)


def test_seeded_split_is_disjoint_and_reproducible():
    x = np.arange(100)[:, None]
    y = np.arange(100)
    a = D.train_validation_split(x, 70, 20, seed=3, y=y)
    b = D.train_validation_split(x, 70, 20, seed=3, y=y)
    c = D.train_validation_split(x, 70, 20, seed=4, y=y)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert not set(a[1]) & set(a[3])
    assert np.array_equal(a[0][:, 0], a[1])


# ---------------------------------------------------------------------------
# CIFAR-10 loader
# ---------------------------------------------------------------------------


def fake_cifar(path: Path, n: int = 4) -> Path:
    rng = np.random.default_rng(1)
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, size=n))}
            blob = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def test_cifar_from_archive(isolated, monkeypatch):
    root = isolated / "root"
    root.mkdir()
    arch = fake_cifar(root / D.CIFAR10_ARCHIVE.name)
    monkeypatch.setattr(D, "CIFAR10_ARCHIVE", D._Remote(D.CIFAR10_ARCHIVE.name, md5(arch), None, D.CIFAR10_ARCHIVE.urls))
    train = D.load_cifar10("train", root=root)
    test = D.load_cifar10("test", root=root)
    assert train.images.shape == (20, 3072) and test.images.shape == (4, 3072)
    assert train.images.dtype == np.float32 and train.images.max() <= 1.0


def test_cifar_offline_error_and_corrupt_archive(isolated, monkeypatch):
    with pytest.raises(D.DataUnavailableError, match=r"cifar-10-python\.tar\.gz.*c58f30108f718f92721af3b95e74349a"):
        D.load_cifar10("train", root=isolated)
    root = isolated / "root"
    root.mkdir()
    bad = root / D.CIFAR10_ARCHIVE.name
    bad.write_bytes(b"garbage")
    monkeypatch.setattr(D, "CIFAR10_ARCHIVE", D._Remote(D.CIFAR10_ARCHIVE.name, md5(bad), None, ()))
    with pytest.raises(D.DataError, match="cannot be read as the CIFAR-10 archive"):
        D.load_cifar10("train", root=root)


# ---------------------------------------------------------------------------
# the real MNIST test set (present in CI beside the repository)
# ---------------------------------------------------------------------------


def _shared_data():
    # NOISYPROP_DATA set (as in CI) means the data must be there: the test then runs and fails if it is not
    if os.environ.get("NOISYPROP_DATA"):
        return Path(os.environ["NOISYPROP_DATA"])
    cand = Path(__file__).resolve().parents[2] / "shared" / "data"
    return cand if (cand / "mnist" / "t10k-images-idx3-ubyte.gz").exists() else None


@pytest.mark.skipif(_shared_data() is None, reason="neither NOISYPROP_DATA nor ../shared/data with the MNIST test set")
def test_real_mnist_test_set():
    ds = D.load_mnist("test", root=_shared_data(), download=False)
    assert ds.images.shape == (10000, 784)
    assert np.array_equal(np.bincount(ds.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    assert ds.images.mean() == pytest.approx(0.1325, abs=2e-3)
