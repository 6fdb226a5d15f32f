r"""The real-data experiments of paper Figure 6, as functions with a scale preset, and a command line.

* :func:`variance_depth` (Figure 6a): MNIST images pushed through a dropout
  network (keep probability 0.6) at a grid of weight variances; per layer the
  log mean squared pre-activation, and the layer where float32 overflowed or
  underflowed, against :func:`noisyprop_lib.overflow_depth`.
* :func:`trainability_grid` (Figure 6b,c): critically initialised dropout
  networks trained to reconstruct their input (MSE, plain SGD) over a grid of
  keep probabilities and depths; all networks of one depth are trained at once
  as a batched ensemble (one ``bmm`` per layer for all keep probabilities).

``scale="book"`` runs on a laptop CPU in well under two minutes; ``scale="full"``
is the paper's scale, for a GPU. Results are plain dicts of numpy arrays plus a
``provenance`` dict (command, git commit, library version, device, date, wall
time); :func:`save_results` writes them atomically as ``.npz`` or ``.json``.

Command line::

    python -m noisyprop_lib.experiments variance_depth --scale full --device cuda --out book/results/variance_depth_full.npz
    python -m noisyprop_lib.experiments trainability --scale full --device cuda --out book/results/trainability_full.npz
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .._progress import progress_bar
from .._validation import check_positive_int, check_range
from ..theory.criticality import overflow_depth
from ..theory.noise import Dropout

__all__ = [
    "VARIANCE_DEPTH_SCALES",
    "TRAINABILITY_SCALES",
    "variance_depth",
    "trainability_grid",
    "trained_mask",
    "trainability_boundary",
    "save_results",
    "load_results",
    "load_stored_results",
    "provenance",
    "main",
]

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
    # what a shared 2-core CPU runs in under an hour: the paper's keep probabilities, depths denser where
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


def _git_commit() -> str:
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10)
            return out.stdout.strip() + ("+uncommitted-changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def provenance(device, wall_time_s: float, command: str | None = None) -> dict:
    """Where a result came from: command, git commit, library version, device, date (UTC) and wall time."""
    import torch

    from .._version import __version__

    dev = str(device)
    name = torch.cuda.get_device_name(device) if str(device).startswith("cuda") else (platform.processor() or platform.machine())
    return {
        "command": command if command is not None else " ".join([Path(sys.executable).name, "-m", "noisyprop_lib.experiments"] + sys.argv[1:]),
        "git_commit": _git_commit(),
        "library_version": __version__,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "none",
        "device": dev,
        "device_name": name,
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(float(wall_time_s), 3),
    }


# ---------------------------------------------------------------------------
# Figure 6a: variance depth on real data
# ---------------------------------------------------------------------------


def variance_depth(scale: str = "book", *, keep_prob: float = 0.6, device="auto", seed: int = 0, data_root=None,
                   n_images=None, width=None, sigma_w2=None, max_depth=None, progress: bool | None = None) -> dict:
    r"""Propagate MNIST test images through one dropout network per weight variance, layer by layer.

    Each network has depth :math:`\min(\text{max\_depth}, \lfloor 1.1 L^*\rfloor)` with
    :math:`L^*` the predicted float32 overflow/underflow depth at :math:`q^0 = 1`
    (the paper's protocol). Recorded per layer: :math:`\ln` of the mean over images of
    the mean squared pre-activation (NaN from the failure on) and the first layer at
    which the float32 signal overflowed or underflowed.

    Returns
    -------
    dict with ``sigma_w2`` (S,), ``depth`` (S,), ``log_q`` (S, max_depth + 1),
    ``failed_layer`` (S,), ``failure`` (S,), ``predicted_depth`` (S,), ``keep_prob``,
    ``input_q0`` (the images' mean square), ``scale``, ``provenance``.
    """
    from ..data import load_mnist
    from ..simulation.forward import propagate, resolve_device

    p = _scale_params(VARIANCE_DEPTH_SCALES, scale, dict(n_images=n_images, width=width, sigma_w2=sigma_w2, max_depth=max_depth))
    keep = float(check_range("keep_prob", keep_prob, 0.0, 1.0, low_inclusive=False))
    n_img = check_positive_int("n_images", int(p["n_images"]))
    width_ = check_positive_int("width", int(p["width"]))
    max_d = check_positive_int("max_depth", int(p["max_depth"]))
    grid = np.atleast_1d(check_range("sigma_w2", p["sigma_w2"], 0.0, None, low_inclusive=False)).astype(float)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    images = load_mnist("test", root=data_root).images
    if n_img > len(images):
        raise ValueError(f"n_images must be at most {len(images)} (the MNIST test set), got {n_img}")
    rng = np.random.default_rng(seed)
    x = images[rng.permutation(len(images))[:n_img]]
    noise = Dropout(keep)
    predicted = np.asarray(overflow_depth(grid, noise, q0=1.0, dtype="float32"), dtype=float)
    depths = np.minimum(max_d, np.floor(1.1 * np.where(np.isfinite(predicted), predicted, np.inf))).astype(int)
    log_q = np.full((len(grid), max_d + 1), np.nan)
    failed = np.full(len(grid), -1, dtype=np.int64)
    failure = np.array([""] * len(grid), dtype=object)
    bar = progress_bar(len(grid), progress=progress, desc="variance depth")
    for i, (sw, depth) in enumerate(zip(grid, depths)):
        res = propagate(x, int(depth), float(sw), noise=noise, n_networks=1, width=width_, pairs=None, dtype="float32",
                        device=dev, seed=seed * 1000 + i, method="explicit")
        with np.errstate(divide="ignore", invalid="ignore"):
            log_q[i, : depth + 1] = np.log(res.q_mean())
        failed[i] = res.failed_layer[0]
        failure[i] = res.failure[0]
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return {
        "experiment": "variance_depth",
        "scale": scale,
        "keep_prob": keep,
        "sigma_w2": grid,
        "depth": depths,
        "log_q": log_q,
        "failed_layer": failed,
        "failure": failure.astype(str),
        "predicted_depth": predicted,
        "input_q0": float((x.astype(np.float64) ** 2).mean()),
        "n_images": n_img,
        "width": width_,
        "provenance": provenance(dev, time.perf_counter() - t0),
    }


# ---------------------------------------------------------------------------
# Figure 6b,c: the trainability grid
# ---------------------------------------------------------------------------


def _train_ensemble(xtr, xva, keep_probs, sigma_w2, depth, width, epochs, lr, batch_size, device, dtype, seed, bar=None,
                    optimizer="sgd"):
    """Train one network per keep probability (all of the same depth) at once; returns (train, val) losses per epoch."""
    import torch

    k = len(keep_probs)
    d = xtr.shape[1]
    g = torch.Generator(device=device).manual_seed(int(seed))
    dims = [d] + [width] * depth + [d]
    weights, biases = [], []
    sw = torch.as_tensor(np.asarray(sigma_w2, dtype=float), dtype=dtype, device=device)
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        w = torch.randn((k, fan_out, fan_in), generator=g, dtype=dtype, device=device) * torch.sqrt(sw / fan_in)[:, None, None]
        weights.append(w.requires_grad_())
        biases.append(torch.zeros((k, 1, fan_out), dtype=dtype, device=device, requires_grad=True))
    keep = torch.as_tensor(np.asarray(keep_probs, dtype=float), dtype=dtype, device=device)[:, None, None]
    params = weights + biases
    # Adam acts elementwise, so on the stacked parameters it is exactly one Adam per network.
    adam = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else None
    xtr_t = torch.as_tensor(xtr, dtype=dtype, device=device)
    xva_t = torch.as_tensor(xva, dtype=dtype, device=device)

    def forward(x, train: bool):
        h = x.unsqueeze(0).expand(k, -1, -1)
        for w, b in zip(weights, biases):
            a = torch.relu(h)
            if train:
                mask = torch.rand(a.shape, generator=g, dtype=dtype, device=device) < keep
                a = a * mask / keep
            h = torch.baddbmm(b, a, w.transpose(1, 2))
        return h

    train_loss = np.full((k, epochs), np.nan)
    val_loss = np.full((k, epochs), np.nan)
    n = len(xtr_t)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=g, device=device)
        acc = torch.zeros(k, dtype=torch.float64, device=device)
        steps = 0
        for s in range(0, n - batch_size + 1, batch_size):
            xb = xtr_t[perm[s : s + batch_size]]
            out = forward(xb, train=True)
            per_net = ((out - xb.unsqueeze(0)) ** 2).mean(dim=(1, 2))  # (K,)
            for prm in params:
                prm.grad = None
            # networks are independent: the gradient of the sum is each network's own gradient;
            # a diverged network (NaN loss) is zeroed out of the sum so that it cannot touch the others
            finite = torch.isfinite(per_net)
            torch.where(finite, per_net, torch.zeros_like(per_net)).sum().backward()
            with torch.no_grad():
                for prm in params:
                    torch.nan_to_num(prm.grad, nan=0.0, posinf=0.0, neginf=0.0, out=prm.grad)
                    if adam is None:
                        prm -= lr * prm.grad
            if adam is not None:
                adam.step()
            acc += torch.where(finite, per_net.detach().to(torch.float64), torch.full_like(acc, float("nan")))
            steps += 1
        train_loss[:, epoch] = (acc / max(steps, 1)).cpu().numpy()
        with torch.no_grad():
            tot = torch.zeros(k, dtype=torch.float64, device=device)
            for s in range(0, len(xva_t), 1024):
                xb = xva_t[s : s + 1024]
                tot += ((forward(xb, train=False) - xb.unsqueeze(0)) ** 2).to(torch.float64).sum(dim=(1, 2))
            val_loss[:, epoch] = (tot / (len(xva_t) * d)).cpu().numpy()
        if bar is not None:
            bar.update(1)
    return train_loss, val_loss


def trained_mask(val_loss_final, trivial_loss: float, best_loss: float | None = None, fraction: float = 0.5) -> np.ndarray:
    r"""Which runs trained: validation loss at most
    :math:`\ell_\text{triv} - f\,(\ell_\text{triv} - \ell_\text{best})`.

    :math:`\ell_\text{triv}` is the loss of predicting the per-pixel training mean,
    :math:`\ell_\text{best}` the best loss in the grid (default) and :math:`f` = ``fraction``;
    :math:`f = 1/2` is the criterion suggested for reproducing paper Figure 6 (a run must close
    half the gap between the trivial predictor and the best run). A NaN loss (a diverged run)
    never counts as trained.
    """
    v = np.asarray(val_loss_final, dtype=float)
    f = float(check_range("fraction", fraction, 0.0, 1.0))
    best = np.nanmin(v) if best_loss is None else best_loss
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(v), False, v <= trivial_loss - f * (trivial_loss - best))


def trainability_boundary(depths, keep_probs, trained, predicted_depth, factor: float = 2.0) -> dict:
    r"""Compare the trained region of a trainability grid with the predicted depth :math:`6\xi_c(p)`.

    For each keep probability the observed boundary lies between the largest trained depth
    :math:`d_\text{max}` and the next depth of the grid (or below the smallest depth when none
    trained, or above the largest when the deepest trained). It is *consistent* with the
    prediction :math:`L_p` within ``factor`` when that interval meets :math:`[L_p/\text{factor},
    \text{factor}\,L_p]`; an infinite prediction (no noise) is consistent when the deepest
    network trained. ``contiguous`` says whether the trained depths at that keep probability
    are exactly the depths up to :math:`d_\text{max}` (no untrained gap below a trained run).

    Parameters
    ----------
    depths : (D,) increasing ints; keep_probs : (P,); trained : (D, P) bool;
    predicted_depth : (P,) floats (``inf`` allowed).

    Returns
    -------
    dict of (P,) arrays: ``largest_trained`` (NaN when none), ``interval_low``, ``interval_high``,
    ``predicted``, ``consistent`` (bool), ``contiguous`` (bool).
    """
    d = np.asarray(depths)
    t = np.asarray(trained, dtype=bool)
    pred = np.asarray(predicted_depth, dtype=float)
    kp = np.asarray(keep_probs, dtype=float)
    if d.ndim != 1 or np.any(np.diff(d) <= 0):
        raise ValueError(f"depths must be a strictly increasing 1-d array, got {d}")
    if t.shape != (len(d), len(kp)) or pred.shape != kp.shape:
        raise ValueError(f"trained must have shape (len(depths), len(keep_probs)) = {(len(d), len(kp))} and "
                         f"predicted_depth shape {kp.shape}; got {t.shape} and {pred.shape}")
    fac = float(check_range("factor", factor, 1.0, None))
    largest = np.full(len(kp), np.nan)
    low = np.zeros(len(kp))
    high = np.full(len(kp), float(d[0]))
    consistent = np.zeros(len(kp), dtype=bool)
    contiguous = np.zeros(len(kp), dtype=bool)
    for j in range(len(kp)):
        idx = np.flatnonzero(t[:, j])
        if idx.size:
            k = idx[-1]
            largest[j] = d[k]
            low[j] = d[k]
            high[j] = d[k + 1] if k + 1 < len(d) else np.inf
            contiguous[j] = np.array_equal(idx, np.arange(k + 1))
        else:
            contiguous[j] = True
        if np.isinf(pred[j]):
            consistent[j] = bool(np.isinf(high[j]))
        else:
            consistent[j] = bool(low[j] <= fac * pred[j] and high[j] > pred[j] / fac)
    return {"largest_trained": largest, "interval_low": low, "interval_high": high, "predicted": pred,
            "consistent": consistent, "contiguous": contiguous}


def trainability_grid(scale: str = "book", *, init: str = "critical", device="auto", seed: int = 0, data_root=None,
                      keep_probs=None, depths=None, width=None, n_train=None, n_validation=None, epochs=None, lr=None,
                      batch_size=None, optimizer=None, dtype: str = "float32", progress: bool | None = None,
                      batch_depths: bool = False, matmul_precision: str = "highest") -> dict:
    r"""Train dropout networks to reconstruct MNIST images over a grid of keep probabilities and depths.

    Every hidden block is ``dropout(relu(.))`` followed by a dense layer of width
    ``width``; the output block is ``dropout(relu(.))`` followed by a linear dense
    layer back to the input dimension (the paper's architecture). Weights are
    :math:`\mathcal N(0, \sigma_w^2/\text{fan\_in})` with :math:`\sigma_w^2 = 2p`
    (``init="critical"``) or 2 (``init="he"``), biases zero; loss MSE; plain SGD.
    The data are the MNIST test set (the set available offline), split at random
    (seeded) into training and validation images; minibatches are reshuffled every
    epoch (the original code used one fixed order).

    Returns
    -------
    dict with ``keep_probs`` (P,), ``depths`` (D,), ``train_loss`` and ``val_loss``
    (D, P, epochs), ``trivial_loss`` (MSE of predicting the per-pixel training mean on
    the validation set), ``trained`` (D, P) by :func:`trained_mask`, ``predicted_depth``
    (P,) = :math:`6\xi_c(p)`, ``scale``, ``init``, ``provenance``.

    With ``batch_depths=True`` every network of the grid is trained in one padded ensemble
    (:func:`noisyprop_lib.experiments.train_padded_ensemble`: one ``bmm`` per layer for all depths
    and keep probabilities, the GPU route); otherwise one ensemble per depth. The two draw
    different random numbers and agree in distribution. ``matmul_precision="tf32"`` lets CUDA
    matmuls use TF32 tensor cores (``"highest"``: plain float32; no effect on a CPU).
    """
    import torch

    from ..theory.criticality import trainable_depth
    from ..data import load_mnist, train_validation_split
    from ..simulation.forward import resolve_device

    p = _scale_params(TRAINABILITY_SCALES, scale, dict(keep_probs=keep_probs, depths=depths, width=width, n_train=n_train,
                                                       n_validation=n_validation, epochs=epochs, lr=lr, batch_size=batch_size,
                                                       optimizer=optimizer))
    kp = np.atleast_1d(check_range("keep_probs", p["keep_probs"], 0.0, 1.0, low_inclusive=False)).astype(float)
    ds = np.atleast_1d(np.asarray(p["depths"]))
    if ds.dtype.kind not in "iu" or np.any(ds < 1):
        raise ValueError(f"depths must be positive integers, got {ds}")
    width_ = check_positive_int("width", int(p["width"]))
    ep = check_positive_int("epochs", int(p["epochs"]))
    bs = check_positive_int("batch_size", int(p["batch_size"]))
    lr_ = float(check_range("lr", p["lr"], 0.0, None, low_inclusive=False))
    opt = p["optimizer"]
    if opt not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {opt!r}")
    if init not in ("critical", "he"):
        raise ValueError(f"init must be 'critical' or 'he', got {init!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if matmul_precision not in ("highest", "tf32"):
        raise ValueError(f"matmul_precision must be 'highest' or 'tf32', got {matmul_precision!r}")
    tdt = torch.float32 if dtype == "float32" else torch.float64
    dev = resolve_device(device)
    t0 = time.perf_counter()
    images = load_mnist("test", root=data_root).images
    xtr, xva = train_validation_split(images, int(p["n_train"]), int(p["n_validation"]), seed=seed)
    if bs > len(xtr):
        raise ValueError(f"batch_size must be at most n_train = {len(xtr)}, got {bs}")
    sigma_w2 = 2.0 * kp if init == "critical" else np.full_like(kp, 2.0)
    trivial = float(((xva - xtr.mean(axis=0, keepdims=True)) ** 2).mean())
    train_loss = np.full((len(ds), len(kp), ep), np.nan)
    val_loss = np.full((len(ds), len(kp), ep), np.nan)
    saved_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = matmul_precision == "tf32"
    try:
        if batch_depths:
            from .ensemble import train_padded_ensemble

            bar = progress_bar(ep, progress=progress, desc=f"trainability ({init}, all depths batched)")
            net_depths = np.repeat(ds, len(kp))
            tl, vl = train_padded_ensemble(xtr, xva, np.tile(kp, len(ds)), np.tile(sigma_w2, len(ds)), net_depths, width_, ep,
                                           lr_, bs, dev, tdt, seed * 1000, bar, opt)
            train_loss[:], val_loss[:] = tl.reshape(len(ds), len(kp), ep), vl.reshape(len(ds), len(kp), ep)
        else:
            bar = progress_bar(len(ds) * ep, progress=progress, desc=f"trainability ({init})")
            for i, depth in enumerate(ds):
                tl, vl = _train_ensemble(xtr, xva, kp, sigma_w2, int(depth), width_, ep, lr_, bs, dev, tdt, seed * 1000 + i, bar, opt)
                train_loss[i], val_loss[i] = tl, vl
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved_tf32
    if bar is not None:
        bar.close()
    final = val_loss[:, :, -1]
    return {
        "experiment": "trainability_grid",
        "scale": scale,
        "init": init,
        "keep_probs": kp,
        "depths": ds.astype(np.int64),
        "sigma_w2": sigma_w2,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "trivial_loss": trivial,
        "trained": trained_mask(final, trivial),
        "predicted_depth": np.asarray(trainable_depth(Dropout(kp)), dtype=float),
        "width": width_,
        "n_train": len(xtr),
        "n_validation": len(xva),
        "epochs": ep,
        "lr": lr_,
        "batch_size": bs,
        "optimizer": opt,
        "batch_depths": bool(batch_depths),
        "matmul_precision": matmul_precision,
        "provenance": provenance(dev, time.perf_counter() - t0),
    }


# ---------------------------------------------------------------------------
# results files
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def main(argv=None) -> int:
    """``python -m noisyprop_lib.experiments NAME --scale {book,full} --device DEV --out FILE``."""
    ap = argparse.ArgumentParser(prog="python -m noisyprop_lib.experiments", description=__doc__.split("\n\n")[0])
    ap.add_argument("name", choices=["variance_depth", "trainability", "trainability_he"])
    ap.add_argument("--scale", choices=["book", "cpu", "full"], default="book")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-root", default=None, help="folder with the MNIST files (default: NOISYPROP_DATA, then the cache)")
    ap.add_argument("--epochs", type=int, default=None, help="override the preset's number of epochs (trainability)")
    ap.add_argument("--depths", type=int, nargs="+", default=None, help="override the preset's depths (trainability)")
    ap.add_argument("--keep-probs", type=float, nargs="+", default=None,
                    help="override the preset's keep probabilities (trainability)")
    ap.add_argument("--out", required=True, help="result file (.npz or .json), written atomically")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    words = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python", "-m", "noisyprop_lib.experiments"] + words)
    progress = False if args.no_progress else True
    if args.name == "variance_depth":
        res = variance_depth(args.scale, device=args.device, seed=args.seed, data_root=args.data_root, progress=progress)
        res["provenance"]["command"] = command
    else:
        res = trainability_grid(args.scale, init="he" if args.name == "trainability_he" else "critical", device=args.device,
                                seed=args.seed, data_root=args.data_root, epochs=args.epochs, progress=progress,
                                depths=None if args.depths is None else np.asarray(args.depths),
                                keep_probs=None if args.keep_probs is None else np.asarray(args.keep_probs))
        res["provenance"]["command"] = command
    path = save_results(res, args.out)
    print(f"wrote {path} ({res['provenance']['wall_time_s']:.1f} s on {res['provenance']['device_name']})")
    return 0


# ---------------------------------------------------------------------------
# stored results (book/results/), from the checkout or from the repository
# ---------------------------------------------------------------------------

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
    root = Path(__file__).resolve().parents[2] if root is None else Path(root)
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


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
