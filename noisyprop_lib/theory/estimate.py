r"""Estimators for Monte Carlo trajectories: depth-scale fits of correlation trajectories (numpy only).

Near a stable fixed point :math:`c^*` the correlation map is linear, so
:math:`|c^l - c^*| \propto e^{-l/\xi_c}` and :math:`\xi_c` is :math:`-1/\text{slope}` of
:math:`\ln|c^l - c^*|` against :math:`l`.

* :func:`fit_depth_scale_paper`: the paper's Figure 5 fit, :math:`\ln|c^l - c^L|` over all layers;
* :func:`fit_depth_scale`: the noise-aware fit of simulated trajectories (chapter 5): the fixed point is
  measured, only the layers whose distance to it exceeds ``snr`` standard errors are used, and the
  standard error of the fit comes from a bootstrap over the networks;
* :func:`fit_on_windows`: the same fit restricted to given windows (e.g. on mean-field trajectories).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_positive_int, check_range

__all__ = ["DepthScaleFit", "PaperDepthScaleFit", "fit_depth_scale", "fit_depth_scale_paper", "fit_on_windows"]


@dataclass(frozen=True)
class PaperDepthScaleFit:
    """The paper's fit: ``xi`` is the mean over the trajectories of their ``per_start`` values."""

    xi: float
    per_start: tuple[float, ...]

    def __float__(self) -> float:
        return self.xi


@dataclass(frozen=True)
class DepthScaleFit:
    """The noise-aware fit of :func:`fit_depth_scale`.

    Attributes
    ----------
    xi : float
        Fitted depth scale (mean of ``-1/slope`` over the usable starts; NaN if none is usable).
    windows : tuple of (int, int)
        ``(start index, number of layers fitted)`` for each usable start.
    c_hat : float
        The measured fixed point.
    se : float
        Bootstrap standard error of ``xi`` (NaN without bootstrap).
    boot : numpy.ndarray
        The bootstrap estimates (may contain NaN where a resample had no usable start).
    """

    xi: float
    windows: tuple[tuple[int, int], ...]
    c_hat: float
    se: float = float("nan")
    boot: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)

    def __float__(self) -> float:
        return self.xi


def _xi_of(layers, gaps) -> float:
    return float(-1.0 / np.polyfit(layers, np.log(gaps), 1)[0])


def fit_depth_scale_paper(trajectories, floor=0.0) -> PaperDepthScaleFit:
    r"""The paper's Figure 5 fit: :math:`-1/\text{slope}` of :math:`\ln|c^l - c^L|` against :math:`l`, averaged.

    Parameters
    ----------
    trajectories : array-like, shape (n_starts, L + 1) or (L + 1,)
        Correlation trajectories :math:`c^0, \dots, c^L`.
    floor : float
        Points with :math:`|c^l - c^L| \le` ``floor`` are skipped (the authors skipped exact zeros, ``floor=0``).

    Examples
    --------
    Measuring the gap to :math:`c^L` instead of :math:`c^*` bends the line at the end, so even an exact
    exponential with :math:`\xi = 3` comes out short:

    >>> c = 0.5 + 0.4 * np.exp(-np.arange(31) / 3.0)
    >>> round(fit_depth_scale_paper(c).xi, 3)
    2.837
    >>> round(fit_on_windows(c, 0.5, [(0, 10)]), 6)
    3.0
    """
    tr = np.atleast_2d(np.asarray(trajectories, dtype=float))
    if tr.ndim != 2 or tr.shape[1] < 3:
        raise ValueError(f"trajectories must have shape (n_starts, L + 1) with L >= 2, got shape {np.shape(trajectories)}")
    floor = float(check_range("floor", floor, 0.0, None))
    layers = np.arange(tr.shape[1])
    xis = []
    for row in np.abs(tr - tr[:, -1:]):
        keep = row > floor
        xis.append(_xi_of(layers[keep], row[keep]))
    return PaperDepthScaleFit(xi=float(np.mean(xis)), per_start=tuple(xis))


def _window_fit(pn, starts, c_star, snr, min_layers, tail):
    mean, se = pn.mean(axis=2), pn.std(axis=2, ddof=1) / np.sqrt(pn.shape[2])
    c_hat = mean[-1, tail:].mean()
    xis, windows = [], []
    for g, c0 in enumerate(starts):
        if abs(c0 - c_star) < 0.05:
            continue
        above = np.abs(mean[g] - c_hat) > snr * se[g]
        n = int(np.argmin(above)) if not above.all() else above.size  # first layer at the noise level
        if n >= min_layers:
            xis.append(_xi_of(np.arange(n), np.abs(mean[g, :n] - c_hat)))
            windows.append((g, n))
    return (float(np.mean(xis)) if xis else np.nan), tuple(windows), float(c_hat)


def fit_depth_scale(per_network, starts, c_star, *, snr=3.0, min_layers=3, tail=10, bootstrap=200,
                    seed=None) -> DepthScaleFit:
    r"""Noise-aware depth-scale fit of simulated correlation trajectories (chapter 5).

    1. :math:`\hat c^*` is the mean over layers ``tail .. L`` of the last group, the pairs started at :math:`c^*`;
    2. for each start with :math:`|c^0 - c^*| \ge 0.05`, the layers :math:`0, 1, \dots` are used for as long
       as :math:`|\bar c^l - \hat c^*|` exceeds ``snr`` standard errors of :math:`\bar c^l` across networks,
       and :math:`\ln|\bar c^l - \hat c^*|` is fitted on them (at least ``min_layers`` layers);
    3. ``xi`` is the mean of :math:`-1/\text{slope}` over the starts; its standard error comes from
       ``bootstrap`` resamples of the networks with replacement.

    Parameters
    ----------
    per_network : array-like, shape (n_groups, L + 1, n_networks)
        Each network's mean correlation per group and layer (:meth:`SimulationResult.c_per_group`);
        the last group started at :math:`c^*`.
    starts : array-like, shape (n_groups,)
        The starting correlations of the groups.
    c_star : float
        The theoretical fixed point (selects the starts far enough from it).
    snr, min_layers, tail :
        The window rule (see above).
    bootstrap : int
        Number of resamples (0: none, ``se`` is NaN).
    seed : int, numpy.random.Generator or None
        Randomness of the bootstrap; a Generator is used (and advanced) as it is.
    """
    pn = np.asarray(per_network, dtype=float)
    if pn.ndim != 3 or pn.shape[2] < 2:
        raise ValueError(f"per_network must have shape (n_groups, L + 1, n_networks >= 2), got shape {pn.shape}")
    starts = np.asarray(starts, dtype=float).ravel()
    if starts.shape[0] != pn.shape[0]:
        raise ValueError(f"starts must have one value per group ({pn.shape[0]}), got {starts.shape[0]}")
    c_star = float(check_range("c_star", c_star, -1.0, 1.0))
    snr = float(check_range("snr", snr, 0.0, None, low_inclusive=False))
    min_layers = check_positive_int("min_layers", min_layers, minimum=2)
    tail = check_positive_int("tail", tail, minimum=0)
    if tail >= pn.shape[1]:
        raise ValueError(f"tail must be below the number of layers ({pn.shape[1]}), got {tail}")
    bootstrap = check_positive_int("bootstrap", bootstrap, minimum=0)
    xi, windows, c_hat = _window_fit(pn, starts, c_star, snr, min_layers, tail)
    if bootstrap == 0:
        return DepthScaleFit(xi=xi, windows=windows, c_hat=c_hat)
    rng = np.random.default_rng(seed)
    n = pn.shape[2]
    boot = np.array([_window_fit(pn[:, :, rng.integers(0, n, n)], starts, c_star, snr, min_layers, tail)[0]
                     for _ in range(bootstrap)])
    finite = boot[np.isfinite(boot)]
    se = float(np.std(finite, ddof=1)) if finite.size > 1 else float("nan")
    return DepthScaleFit(xi=xi, windows=windows, c_hat=c_hat, se=se, boot=boot)


def fit_on_windows(trajectories, c_star, windows) -> float:
    r"""The fit of :func:`fit_depth_scale` on given ``windows`` ``[(row, n_layers)]`` of ``trajectories``
    (shape (n_rows, L + 1)) with a known fixed point: e.g. the mean-field trajectories over the simulation's
    windows, to separate the window's systematic error from the noise."""
    tr = np.atleast_2d(np.asarray(trajectories, dtype=float))
    c_star = float(check_range("c_star", c_star, -1.0, 1.0))
    windows = [(int(g), int(n)) for g, n in windows]
    if not windows:
        raise ValueError("windows must hold at least one (row, n_layers) pair")
    for g, n in windows:
        if not (0 <= g < tr.shape[0]) or not (2 <= n <= tr.shape[1]):
            raise ValueError(f"windows entry {(g, n)} is outside trajectories of shape {tr.shape}")
    return float(np.mean([_xi_of(np.arange(n), np.abs(tr[g, :n] - c_star)) for g, n in windows]))
