"""Paper Figure 6b,c: the trainability grid of dropout networks over keep probability and depth."""
from __future__ import annotations

import time

import numpy as np

from .._progress import progress_bar
from .._validation import check_positive_int, check_range
from ..theory.noise import Dropout
from .ensemble import train_padded_ensemble
from .results import TRAINABILITY_SCALES, _scale_params, provenance

__all__ = ["train_ensemble", "trained_mask", "trainability_boundary", "trainability_grid"]


def train_ensemble(xtr, xva, keep_probs, sigma_w2, depth, width, epochs, lr, batch_size, device, dtype, seed, bar=None,
                   optimizer="sgd"):
    """Train one network per keep probability, all of depth ``depth``, at once; returns (train, val) losses per epoch.

    The per-depth ensemble of :func:`trainability_grid`: the padded ensemble
    (:func:`~noisyprop_lib.experiments.train_padded_ensemble`) with every network of the same depth, which makes
    the same random draws in the same order as the former per-depth loop (so the same numbers, bit for bit).
    Returns ``(train_loss, val_loss)``, arrays of shape ``(len(keep_probs), epochs)``.
    """
    depths = np.full(len(keep_probs), int(depth), dtype=np.int64)
    return train_padded_ensemble(xtr, xva, keep_probs, sigma_w2, depths, width, epochs, lr, batch_size, device, dtype, seed,
                                 bar, optimizer)


#: the former private name, kept for old callers
_train_ensemble = train_ensemble

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


def _check_grid_params(p: dict, init: str, dtype: str, matmul_precision: str):
    """Check the preset/overridden parameters of :func:`trainability_grid`; return kp, depths, width, epochs, batch, lr, optimizer."""
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
    return kp, ds, width_, ep, bs, lr_, opt


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

    from ..theory import trainable_depth
    from ..data import load_mnist, train_validation_split
    from ..simulation.forward import resolve_device

    p = _scale_params(TRAINABILITY_SCALES, scale, dict(keep_probs=keep_probs, depths=depths, width=width, n_train=n_train,
                                                       n_validation=n_validation, epochs=epochs, lr=lr, batch_size=batch_size,
                                                       optimizer=optimizer))
    kp, ds, width_, ep, bs, lr_, opt = _check_grid_params(p, init, dtype, matmul_precision)
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
            bar = progress_bar(ep, progress=progress, desc=f"trainability ({init}, all depths batched)")
            net_depths = np.repeat(ds, len(kp))
            tl, vl = train_padded_ensemble(xtr, xva, np.tile(kp, len(ds)), np.tile(sigma_w2, len(ds)), net_depths, width_, ep,
                                           lr_, bs, dev, tdt, seed * 1000, bar, opt)
            train_loss[:], val_loss[:] = tl.reshape(len(ds), len(kp), ep), vl.reshape(len(ds), len(kp), ep)
        else:
            bar = progress_bar(len(ds) * ep, progress=progress, desc=f"trainability ({init})")
            for i, depth in enumerate(ds):
                tl, vl = train_ensemble(xtr, xva, kp, sigma_w2, int(depth), width_, ep, lr_, bs, dev, tdt, seed * 1000 + i, bar, opt)
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
