"""The record of a simulation: per-layer lengths and correlations of every network, and which networks failed."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SimulationResult"]


@dataclass
class SimulationResult:
    r"""Per-layer statistics of a simulation.

    Attributes
    ----------
    q : numpy.ndarray
        ``(depth + 1, n_networks, n_inputs)``: :math:`q^l_b = \frac1N\sum_i (h^l_{ib})^2` of
        every input in every network (layer 0: the inputs). NaN from a network's failure on.
    c : numpy.ndarray
        ``(depth + 1, n_networks, n_pairs)``: correlation of each requested pair
        (cosine, as in the theory, or Pearson across units).
    pairs : numpy.ndarray
        ``(n_pairs, 2)`` input indices of the pairs.
    failed_layer : numpy.ndarray
        ``(n_networks,)``: first layer at which the network overflowed, underflowed
        or produced NaN; -1 if it ran to the end.
    failure : numpy.ndarray
        ``(n_networks,)`` of ``""``, ``"overflow"``, ``"underflow"`` or ``"nan"``.
    config : dict
        The parameters of the run (including the route taken and the device).
    """

    q: np.ndarray
    c: np.ndarray
    pairs: np.ndarray
    failed_layer: np.ndarray
    failure: np.ndarray
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def depth(self) -> int:
        return self.q.shape[0] - 1

    @property
    def alive(self) -> np.ndarray:
        """``(depth + 1,)``: number of networks still running at each layer."""
        layers = np.arange(self.depth + 1)[:, None]
        fl = np.where(self.failed_layer < 0, self.depth + 1, self.failed_layer)[None, :]
        return np.sum(layers < fl, axis=1)

    def q_per_network(self) -> np.ndarray:
        """``(depth + 1, n_networks)``: each network's mean length over the inputs."""
        return self.q.mean(axis=2)

    def q_mean(self) -> np.ndarray:
        """``(depth + 1,)``: mean length over inputs and surviving networks."""
        return _nanmean(self.q_per_network(), axis=1)

    def q_std(self) -> np.ndarray:
        """``(depth + 1,)``: spread (standard deviation) across surviving networks of their input-mean length."""
        return _nanstd(self.q_per_network(), axis=1)

    def c_per_network(self, pairs=None) -> np.ndarray:
        """``(depth + 1, n_networks)``: each network's mean correlation over the selected pairs (default all)."""
        sel = self.c if pairs is None else self.c[:, :, np.asarray(pairs)]
        return sel.mean(axis=2)

    def c_mean(self, pairs=None) -> np.ndarray:
        """``(depth + 1,)``: mean correlation over the selected pairs and surviving networks."""
        return _nanmean(self.c_per_network(pairs), axis=1)

    def c_std(self, pairs=None) -> np.ndarray:
        """``(depth + 1,)``: spread across surviving networks of their pair-mean correlation."""
        return _nanstd(self.c_per_network(pairs), axis=1)

    def q_sem(self) -> np.ndarray:
        r"""``(depth + 1,)``: standard error of :meth:`q_mean`, :meth:`q_std` over :math:`\sqrt{n}` with :math:`n`
        the networks still finite at that layer (not all networks: a failed network is not a sample).

        NaN where fewer than two networks survive.
        """
        return _nansem(self.q_per_network(), axis=1)

    def c_sem(self, pairs=None) -> np.ndarray:
        r"""``(depth + 1,)``: standard error of :meth:`c_mean`, :meth:`c_std` over :math:`\sqrt{n}` with :math:`n`
        the networks whose pair-mean correlation is finite at that layer. NaN where fewer than two are."""
        return _nansem(self.c_per_network(pairs), axis=1)

    def c_per_group(self, group) -> np.ndarray:
        """``(n_groups, depth + 1, n_networks)``: each network's mean correlation over the pairs of each group.

        ``group`` gives, for each pair, the index of its group (the third output of
        :func:`~noisyprop_lib.correlated_inputs`); groups are ``0 .. max(group)``.
        """
        group = np.asarray(group)
        if group.ndim != 1 or group.shape[0] != self.c.shape[2] or (group.size and group.dtype.kind not in "iu"):
            raise ValueError(f"group must be an integer array with one entry per pair ({self.c.shape[2]}), got shape {group.shape}")
        if group.size and group.min() < 0:
            raise ValueError("group must hold non-negative group indices")
        n_groups = int(group.max()) + 1 if group.size else 0
        return np.stack([self.c_per_network(np.flatnonzero(group == g)) for g in range(n_groups)]) if n_groups else \
            np.zeros((0, self.depth + 1, self.c.shape[1]))

    def z_scores(self, theory, *, of: str = "q", pairs=None) -> np.ndarray:
        r"""``(depth + 1,)``: :math:`(\bar x^l - x^l_{\rm theory}) / \mathrm{SE}^l` for ``of="q"`` (lengths) or
        ``of="c"`` (correlations of ``pairs``), the standard error counting the surviving networks.

        ``theory`` is a scalar or an array broadcastable to ``(depth + 1,)``. NaN where
        the standard error is NaN (fewer than two networks) and at layer 0 when the
        inputs' spread across networks is zero (±inf is never returned: a zero
        standard error gives NaN).
        """
        if of not in ("q", "c"):
            raise ValueError(f"of must be 'q' or 'c', got {of!r}")
        mean, se = (self.q_mean(), self.q_sem()) if of == "q" else (self.c_mean(pairs), self.c_sem(pairs))
        theory = np.broadcast_to(np.asarray(theory, dtype=float), mean.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(se > 0, (mean - theory) / np.where(se > 0, se, 1.0), np.nan)


def _nanmean(a, axis):
    with np.errstate(invalid="ignore"):
        cnt = np.sum(~np.isnan(a), axis=axis)
        s = np.nansum(a, axis=axis)
        return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)


def _nanstd(a, axis):
    m = _nanmean(a, axis)
    with np.errstate(invalid="ignore"):
        cnt = np.sum(~np.isnan(a), axis=axis)
        d = np.nansum((a - np.expand_dims(m, axis)) ** 2, axis=axis)
        return np.where(cnt > 1, np.sqrt(d / np.maximum(cnt - 1, 1)), np.nan)


def _nansem(a, axis):
    with np.errstate(invalid="ignore"):
        cnt = np.sum(~np.isnan(a), axis=axis)
        return _nanstd(a, axis) / np.sqrt(np.maximum(cnt, 1))
