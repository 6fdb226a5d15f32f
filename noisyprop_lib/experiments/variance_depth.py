"""Paper Figure 6a: the variance of MNIST signals over depth in dropout networks, against the overflow depth."""
from __future__ import annotations

import time

import numpy as np

from .._progress import progress_bar
from .._validation import check_positive_int, check_range
from ..theory import overflow_depth
from ..theory.noise import Dropout
from .results import VARIANCE_DEPTH_SCALES, _scale_params, provenance

__all__ = ["variance_depth", "overflow_agreement"]


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


def overflow_agreement(res: dict, *, rel_tol: float = 0.25, abs_tol: float = 30.0) -> dict:
    r"""How well a :func:`variance_depth` run agrees with the predicted failure depth :math:`L^*` (chapter 6's check).

    Off criticality (:math:`\sigma_w^2 \ne 2p`) a network should fail within the band
    :math:`\max(\text{rel\_tol}\,L^*, \text{abs\_tol})` of :math:`L^*`; a network that did not fail
    passes when that band reaches beyond its last layer (the failure may lie after it). The score is
    :math:`|\text{failed layer} - L^*|/\text{band}` for a failure and :math:`(\text{depth} - L^*)/\text{band}`
    otherwise: the check is ``score <= 1`` on every network off criticality. Works on a live result and on a
    stored one (:func:`~noisyprop_lib.experiments.load_stored_results`) alike.

    Returns
    -------
    dict of (S,) arrays ``off`` (bool: off criticality), ``failed`` (bool: failed inside its depth),
    ``score``, and ``passed`` (bool: every ``score[off] <= 1``).

    Examples
    --------
    >>> r = dict(sigma_w2=np.array([0.5, 1.2]), keep_prob=0.6, failed_layer=np.array([90, -1]),
    ...          predicted_depth=np.array([100.0, np.inf]), depth=np.array([110, 1000]))
    >>> a = overflow_agreement(r)
    >>> a["off"].tolist(), float(a["score"][0]), a["passed"]
    ([True, False], 0.3333333333333333, True)
    """
    sw, fl, pred = res["sigma_w2"], res["failed_layer"], res["predicted_depth"]
    off = ~np.isclose(sw, 2 * float(res["keep_prob"]))
    tol = np.maximum(rel_tol * pred, abs_tol)
    failed = fl > 0
    with np.errstate(invalid="ignore"):
        score = np.where(failed, np.abs(fl - pred) / tol, (res["depth"] - pred) / tol)
    return {"off": off, "failed": failed, "score": score, "passed": bool(np.all(score[off] <= 1.0))}
