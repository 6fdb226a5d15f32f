"""Presets, provenance and result files of the Figure 6 experiments (save, load, the stored runs in book/results)."""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["VARIANCE_DEPTH_SCALES", "TRAINABILITY_SCALES", "STORED_RESULTS_DIR", "git_commit", "provenance", "save_results", "load_results",
           "load_stored_results"]

#: the repository checkout this library is installed from (editable installs): <repo>/noisyprop_lib/experiments/results.py
_REPO_ROOT = Path(__file__).resolve().parents[2]

#: presets of :func:`variance_depth`
VARIANCE_DEPTH_SCALES = {
    "book": dict(n_images=64, width=256, sigma_w2=np.round(np.linspace(0.1, 2.5, 9), 6), max_depth=300),
    # all 25 weight variances at full width and depth, on 500 images (CPU-sized)
    "cpu": dict(n_images=500, width=1000, sigma_w2=np.round(np.linspace(0.1, 2.5, 25), 6), max_depth=1000),
    "full": dict(n_images=10000, width=1000, sigma_w2=np.round(np.linspace(0.1, 2.5, 25), 6), max_depth=1000),
}

#: presets of :func:`trainability_grid`
TRAINABILITY_SCALES = {
    "book": dict(keep_probs=np.round(np.linspace(0.2, 1.0, 5), 6), depths=np.array([2, 6, 14]), width=128, n_train=2048, n_validation=512, epochs=6, lr=1e-3, batch_size=32, optimizer="adam"),
    # what two CPU cores run in under an hour: the paper's keep probabilities, depths denser where
    # 6 xi_c lies (2 to 14 layers for p <= 0.9), narrow networks, 512 Adam steps
    "cpu": dict(keep_probs=np.round(np.linspace(0.1, 1.0, 10), 6), depths=np.array([2, 4, 6, 8, 10, 14, 20, 28, 40]), width=128, n_train=2048, n_validation=1024, epochs=16, lr=1e-3, batch_size=64, optimizer="adam"),
    "full": dict(keep_probs=np.round(np.linspace(0.1, 1.0, 10), 6), depths=np.linspace(2, 40, 10).astype(int), width=1000, n_train=8000, n_validation=2000, epochs=200, lr=1e-3, batch_size=128, optimizer="sgd"),
}


def _scale_params(presets: dict, scale: str, overrides: dict) -> dict:
    if scale not in presets:
        raise ValueError(f"scale must be one of {sorted(presets)}, got {scale!r}")
    params = dict(presets[scale])
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in params:
            raise ValueError(f"unknown parameter {k!r}; valid: {sorted(params)}")
        params[k] = v
    return params


def git_commit() -> str:
    """The checkout's commit (``+uncommitted-changes`` when tracked files differ), or ``"unknown"`` outside git."""
    try:
        root = _REPO_ROOT
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10)
            return out.stdout.strip() + ("+uncommitted-changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


_git_commit = git_commit  # the former private name


def provenance(device, wall_time_s: float, command: str | None = None) -> dict:
    """Where a result came from: command, git commit, library version, device, date (UTC) and wall time."""
    import torch

    from .._version import __version__

    dev = str(device)
    name = torch.cuda.get_device_name(device) if str(device).startswith("cuda") else (platform.processor() or platform.machine())
    return {
        "command": command if command is not None else " ".join([Path(sys.executable).name, "-m", "noisyprop_lib.experiments"] + sys.argv[1:]),
        "git_commit": git_commit(),
        "library_version": __version__,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "none",
        "device": dev,
        "device_name": name,
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(float(wall_time_s), 3),
    }


def save_results(results: dict, path) -> Path:
    """Write ``results`` atomically to ``path`` (``.npz`` or ``.json``): a temporary file, then a rename."""
    path = Path(path)
    if path.suffix not in (".npz", ".json"):
        raise ValueError(f"path must end in .npz or .json, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if path.suffix == ".npz":
                arrays = {k: np.asarray(v) for k, v in results.items() if not isinstance(v, dict)}
                arrays["_json"] = np.asarray(json.dumps({k: v for k, v in results.items() if isinstance(v, dict)}))
                np.savez_compressed(f, **arrays)
            else:
                f.write(json.dumps(_jsonable(results), indent=1).encode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_results(path) -> dict:
    """Read a file written by :func:`save_results`."""
    path = Path(path)
    if path.suffix == ".json":
        return json.loads(path.read_text())
    with np.load(path, allow_pickle=False) as z:
        out = {k: (z[k].item() if z[k].ndim == 0 and z[k].dtype.kind in "US" else z[k]) for k in z.files if k != "_json"}
        out.update(json.loads(str(z["_json"])))
    for k, v in list(out.items()):
        if isinstance(v, np.ndarray) and v.ndim == 0:
            out[k] = v.item()
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


#: the folder of the stored full-scale results, relative to the repository root
STORED_RESULTS_DIR = "book/results"


def load_stored_results(name: str, *, root=None, cache=None, refresh: bool = False, timeout: float = 60.0) -> dict:
    """Load the stored result file ``book/results/<name>``, from the checkout or, in Colab, from the repository.

    Looks in ``<root>/book/results/`` (default ``root``: the checkout this library is installed from,
    when it is installed editable), then in the cache ``<cache>`` (default: ``noisyprop_lib.data.cache_dir()
    / "results"``), and otherwise downloads ``<REPOSITORY_URL>/raw/main/book/results/<name>`` into the cache
    (a temporary file, then a rename, so an interrupted download leaves nothing behind). ``refresh=True``
    downloads again even if the cache has the file.

    Raises ``ValueError`` for a name that is not a plain ``.npz``/``.json`` file name, and
    ``FileNotFoundError`` saying where to put the file when it is neither local nor downloadable.
    """
    import urllib.error
    import urllib.request

    from .._project import REPOSITORY_URL
    from ..data import cache_dir

    if not isinstance(name, str) or Path(name).name != name or Path(name).suffix not in (".npz", ".json"):
        raise ValueError(f"name must be a file name in {STORED_RESULTS_DIR}/ ending in .npz or .json, got {name!r}")
    root = _REPO_ROOT if root is None else Path(root)
    local = root / STORED_RESULTS_DIR / name
    if local.is_file():
        return load_results(local)
    cache = cache_dir() / "results" if cache is None else Path(cache)
    cached = cache / name
    if cached.is_file() and not refresh:
        return load_results(cached)
    url = f"{REPOSITORY_URL}/raw/main/{STORED_RESULTS_DIR}/{name}"
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (fixed https URL)
            while chunk := resp.read(1 << 20):
                out.write(chunk)
        os.replace(tmp, cached)
    except (urllib.error.URLError, OSError) as exc:
        raise FileNotFoundError(
            f"stored results {name!r} are not in {local.parent} nor in the cache {cache}, and downloading {url} "
            f"failed ({exc}). Run from a checkout of {REPOSITORY_URL}, or put the file at {cached}.") from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return load_results(cached)
