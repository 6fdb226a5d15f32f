"""MNIST and CIFAR-10: find, download, verify and parse, without torchvision.

Files are looked up, in order, in

1. the ``root`` argument,
2. the directory named by the environment variable ``NOISYPROP_DATA``
   (e.g. ``../shared/data`` on machines without internet), and
3. the cache ``~/.cache/noisyprop`` (or ``$XDG_CACHE_HOME/noisyprop``),

each directly or in a ``mnist/`` or ``cifar10/`` subfolder. Anything missing
is downloaded from the canonical sources into the cache (written to a
temporary file and renamed, so an interrupted download never leaves a partial
file behind). Every file is checked against its published MD5 sum before it is
parsed; a wrong, truncated or corrupted file gives an error naming the file,
never a numpy reshape failure. Offline with files missing, the error lists the
expected files, their checksums and where to put them.

Images are returned as float32 arrays of shape ``(n, features)`` scaled to
``[0, 1]``, labels as int64.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DataError",
    "DataUnavailableError",
    "Dataset",
    "load_mnist",
    "load_cifar10",
    "load_dataset",
    "train_validation_split",
    "cache_dir",
    "parse_idx",
    "MNIST_FILES",
    "CIFAR10_ARCHIVE",
]


class DataError(ValueError):
    """A data file exists but is wrong: checksum mismatch, truncated or not in the expected format."""


class DataUnavailableError(FileNotFoundError):
    """The data files are not on disk and could not be downloaded."""


@dataclass(frozen=True)
class _Remote:
    name: str
    md5: str
    size: int | None
    urls: tuple[str, ...]


_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/")

#: the four MNIST files with their published MD5 sums
MNIST_FILES = {
    ("train", "images"): _Remote("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422, tuple(m + "train-images-idx3-ubyte.gz" for m in _MNIST_MIRRORS)),
    ("train", "labels"): _Remote("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28881, tuple(m + "train-labels-idx1-ubyte.gz" for m in _MNIST_MIRRORS)),
    ("test", "images"): _Remote("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1648877, tuple(m + "t10k-images-idx3-ubyte.gz" for m in _MNIST_MIRRORS)),
    ("test", "labels"): _Remote("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4542, tuple(m + "t10k-labels-idx1-ubyte.gz" for m in _MNIST_MIRRORS)),
}

#: the CIFAR-10 python archive with its published MD5 sum
CIFAR10_ARCHIVE = _Remote("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", 170498071, ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",))


@dataclass(frozen=True)
class Dataset:
    """Images (float32, ``(n, features)``, in [0, 1]) and labels (int64) with their provenance."""

    images: np.ndarray
    labels: np.ndarray
    name: str
    split: str
    files: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


# ---------------------------------------------------------------------------
# locations
# ---------------------------------------------------------------------------


def cache_dir() -> Path:
    """The download cache: ``$XDG_CACHE_HOME/noisyprop`` or ``~/.cache/noisyprop``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "noisyprop"


def _search_dirs(root, sub: str) -> list[Path]:
    dirs = []
    for base in (root, os.environ.get("NOISYPROP_DATA"), cache_dir()):
        if base:
            b = Path(base).expanduser()
            dirs += [b, b / sub]
    return dirs


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, remote: _Remote) -> Path:
    digest = _md5(path)
    if digest != remote.md5:
        size = path.stat().st_size
        hint = f" (expected {remote.size} bytes: the file looks truncated)" if remote.size and size < remote.size else ""
        raise DataError(
            f"{path} has MD5 {digest}, not the published {remote.md5}{hint}; the file is corrupted or not the "
            f"original {remote.name}. Delete it and download it again."
        )
    return path


def _download(remote: _Remote, dest_dir: Path, timeout: float = 60.0) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / remote.name
    errors = []
    for url in remote.urls:
        fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{remote.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (fixed https URLs)
                shutil.copyfileobj(resp, out)
            if _md5(Path(tmp)) != remote.md5:
                raise DataError(f"download from {url} does not match the published MD5 {remote.md5}")
            os.replace(tmp, dest)
            return dest
        except Exception as exc:  # try the next mirror
            errors.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DataUnavailableError("; ".join(errors))


def _locate(remote: _Remote, root, sub: str, download: bool, all_remotes: list[_Remote]) -> Path:
    for d in _search_dirs(root, sub):
        p = d / remote.name
        if p.is_file():
            return _verify(p, remote)
    if download:
        try:
            return _verify(_download(remote, cache_dir() / sub), remote)
        except DataUnavailableError as exc:
            reason = f"The download failed ({exc})."
    else:
        reason = "Downloading was disabled (download=False)."
    looked = "\n".join(f"  {d}" for d in _search_dirs(root, sub))
    wanted = "\n".join(f"  {r.name}  (MD5 {r.md5}{f', {r.size} bytes' if r.size else ''})" for r in all_remotes)
    raise DataUnavailableError(
        f"{remote.name} was not found. {reason}\n"
        f"Expected files:\n{wanted}\n"
        f"Looked in:\n{looked}\n"
        f"Put the files in one of these folders (or set NOISYPROP_DATA to the folder that holds them), "
        f"or run with internet access once so that they are downloaded into {cache_dir() / sub}."
    )


# ---------------------------------------------------------------------------
# parsers
# ---------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(path) -> np.ndarray:
    """Parse an IDX file (optionally gzip-compressed), checking its header against its length.

    Raises :class:`DataError` naming the file when the magic number is wrong or
    the file is shorter or longer than its header says.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} cannot be read as {'gzip' if opener is gzip.open else 'IDX'} data: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex() if raw else 'empty file'})")
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated: its header needs {header} bytes, the file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path} has {len(raw)} bytes but its header (shape {shape}, {dtype}) requires {expected}: truncated or corrupted")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _check_split(split, allowed):
    if split not in allowed:
        raise ValueError(f"split must be one of {allowed}, got {split!r}")


def load_mnist(split: str = "test", root=None, download: bool = True) -> Dataset:
    """MNIST ``"train"`` (60,000) or ``"test"`` (10,000) images as ``(n, 784)`` float32 in [0, 1].

    See the module docstring for where files are looked up and how they are verified.
    """
    _check_split(split, ("train", "test"))
    img_r, lab_r = MNIST_FILES[(split, "images")], MNIST_FILES[(split, "labels")]
    both = [img_r, lab_r]
    img_p = _locate(img_r, root, "mnist", download, both)
    lab_p = _locate(lab_r, root, "mnist", download, both)
    images = parse_idx(img_p)
    labels = parse_idx(lab_p)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{img_p} and {lab_p} do not form an MNIST split: shapes {images.shape} and {labels.shape}")
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return Dataset(x, labels.astype(np.int64), "mnist", split, (str(img_p), str(lab_p)))


def load_cifar10(split: str = "train", root=None, download: bool = True) -> Dataset:
    """CIFAR-10 ``"train"`` (50,000) or ``"test"`` (10,000) images as ``(n, 3072)`` float32 in [0, 1].

    Read from the official python archive ``cifar-10-python.tar.gz`` (pickled batches).
    """
    _check_split(split, ("train", "test"))
    archive = _locate(CIFAR10_ARCHIVE, root, "cifar10", download, [CIFAR10_ARCHIVE])
    members = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)] if split == "train" else ["cifar-10-batches-py/test_batch"]
    xs, ys = [], []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in members:
                try:
                    f = tar.extractfile(name)
                except KeyError:
                    raise DataError(f"{archive} does not contain {name}") from None
                batch = pickle.load(f, encoding="bytes")  # noqa: S301 (verified archive)
                data, labels = batch[b"data"], batch[b"labels"]
                if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
                    raise DataError(f"{archive}:{name} has data of shape {data.shape} and {len(labels)} labels, expected (n, 3072)")
                xs.append(data)
                ys.append(np.asarray(labels))
    except (tarfile.TarError, EOFError, OSError, pickle.UnpicklingError) as exc:
        raise DataError(f"{archive} cannot be read as the CIFAR-10 archive: {exc}") from exc
    x = np.concatenate(xs).astype(np.float32) / 255.0
    return Dataset(x, np.concatenate(ys).astype(np.int64), "cifar10", split, (str(archive),))


def load_dataset(name: str, split: str, root=None, download: bool = True) -> Dataset:
    """``load_mnist`` or ``load_cifar10`` by name (``"mnist"`` or ``"cifar10"``)."""
    loaders = {"mnist": load_mnist, "cifar10": load_cifar10}
    if name not in loaders:
        raise ValueError(f"name must be 'mnist' or 'cifar10', got {name!r}")
    return loaders[name](split, root=root, download=download)


def train_validation_split(x, n_train: int, n_validation: int, seed: int = 0, y=None):
    """A seeded random split of the rows of ``x`` (and ``y``) into disjoint training and validation sets.

    Returns ``(x_train, x_validation)`` or, with ``y``, ``(x_train, y_train, x_validation, y_validation)``.
    """
    from ._validation import check_positive_int

    n = len(x)
    n_train = check_positive_int("n_train", n_train)
    n_validation = check_positive_int("n_validation", n_validation)
    if n_train + n_validation > n:
        raise ValueError(f"n_train + n_validation must be at most the {n} available rows, got {n_train} + {n_validation}")
    perm = np.random.default_rng(seed).permutation(n)
    tr, va = perm[:n_train], perm[n_train : n_train + n_validation]
    if y is None:
        return x[tr], x[va]
    return x[tr], y[tr], x[va], y[va]
