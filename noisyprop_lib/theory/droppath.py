r"""Stochastic depth (DropPath): the noise that drops a whole residual branch, per example.

A DropPath block computes :math:`h + \alpha\,\frac{m}{p}\,F(h)` with one :math:`m\sim\text{Bernoulli}(p)`
per example, shared by all units of that example (Huang et al., 2016; timm's ``drop_path_rate`` is
:math:`1-p`). Dropout inside the branch draws a mask per unit instead. In the mean-field limit that
difference decides everything:

* a per-unit mask averages out over the units of one example, so every example's second moment follows
  the deterministic map :math:`q' = q(1+g)` (rectifier branch, :math:`g = \alpha^2 r^k`);
* a per-example mask does not: the block multiplies the example's second moment by :math:`1 + g/p^2`
  if the branch is kept and by 1 if not, so after :math:`L` blocks it is :math:`(1+g/p^2)^K q^0` with
  :math:`K\sim\text{Binomial}(L, p)` — random, however wide the network.

The expectation is :math:`(1+g/p)^L`, that of dropout in the branch with :math:`\mu_2 = 1/p` (equal
:math:`\mu_2`), but the typical example grows by :math:`(1+g/p^2)^{pL}`, less. For two inputs the masks
are independent: the covariance term of the branch is kept only when both masks are on, so

.. math:: c' = \frac{c + \frac{m_am_b}{p^2}\,g\,\rho_k(c)}{\sqrt{(1+m_ag/p^2)(1+m_bg/p^2)}},

with :math:`\rho_k` the branch's correlation map (whatever the two lengths, for rectifiers without
bias). The maps here are exact in the infinite-width limit given the masks; the expectation over the
masks is taken by sampling them (scalars only).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._validation import check_positive_int, check_range
from .activations import LeakyReLU, get_activation
from .meanfield import correlation_map
from .noise import ADDITIVE, as_noise

__all__ = ["DropPathGrowth", "droppath_branch_gain", "droppath_growth", "droppath_correlation_samples"]


class DropPathGrowth(NamedTuple):
    """The per-example growth :math:`q^L/q^0` of a DropPath residual network (rectifier branches, no bias).

    ``values[K]`` is the growth of an example whose branch was kept in :math:`K` of the :math:`L` blocks and
    ``probabilities[K]`` its probability (binomial); ``mean`` = :math:`(1+g/p)^L`; ``typical`` =
    :math:`\\exp E[\\ln q^L/q^0] = (1+g/p^2)^{pL}`; ``log_std`` the standard deviation of :math:`\\ln q^L/q^0`.
    """

    values: np.ndarray
    probabilities: np.ndarray
    mean: float
    typical: float
    log_std: float


def _rectifier_branch(noise, activation, sigma_w2, branch_depth):
    act = get_activation(activation)
    nz = as_noise(noise)
    if not isinstance(act, LeakyReLU) or nz.kind == ADDITIVE:
        raise ValueError(f"the DropPath maps are closed-form for rectifier branches with multiplicative noise, got "
                         f"{act!r} and {nz!r}")
    sw = float(check_range("sigma_w2", sigma_w2, 0.0, None))
    k = check_positive_int("branch_depth", branch_depth)
    return act, nz, sw, k


def droppath_branch_gain(alpha, sigma_w2, noise=None, activation="relu", branch_depth=1) -> float:
    r""":math:`g = \alpha^2 r^k`, :math:`r = \sigma_w^2\mu_2(1+a^2)/2`: the branch's variance relative to the skip's."""
    act, nz, sw, k = _rectifier_branch(noise, activation, sigma_w2, branch_depth)
    a = float(check_range("alpha", alpha, 0.0, None))
    return a * a * (sw * float(nz.mu2) * act.gain) ** k


def _keep(keep_prob) -> float:
    return float(check_range("keep_prob", keep_prob, 0.0, 1.0, low_inclusive=False))


def droppath_growth(depth, keep_prob, branch_gain) -> DropPathGrowth:
    r"""The distribution of one example's growth :math:`q^L/q^0` over :math:`L` DropPath blocks.

    Parameters
    ----------
    depth : int
        Number of blocks :math:`L\ge1`.
    keep_prob : float
        DropPath's keep probability :math:`p\in(0,1]` (timm's ``drop_path_rate`` is :math:`1-p`).
    branch_gain : float
        :math:`g\ge0` (:func:`droppath_branch_gain`).
    """
    from scipy.stats import binom

    L = check_positive_int("depth", depth)
    p = _keep(keep_prob)
    g = float(check_range("branch_gain", branch_gain, 0.0, None))
    step = math.log1p(g / (p * p))
    K = np.arange(L + 1)
    return DropPathGrowth(values=np.exp(K * step), probabilities=binom.pmf(K, L, p),
                          mean=math.exp(L * math.log1p(g / p)), typical=math.exp(p * L * step),
                          log_std=math.sqrt(L * p * (1 - p)) * step)


def droppath_correlation_samples(c0, depth, keep_prob, *, alpha, sigma_w2, noise=None, activation="relu",
                                 branch_depth=1, n_samples: int = 10_000, seed=None) -> np.ndarray:
    r"""Samples of :math:`c^l` (:math:`l = 0..L`) for two inputs over random DropPath masks, shape (L+1, n_samples).

    Each sample draws the two inputs' masks of every block (independent, keep probability :math:`p`) and
    iterates the exact map of the module docstring; ``noise`` is the noise inside the branch (none by default).
    """
    act, nz, sw, k = _rectifier_branch(noise, activation, sigma_w2, branch_depth)
    L = check_positive_int("depth", depth)
    p = _keep(keep_prob)
    n = check_positive_int("n_samples", n_samples)
    g = droppath_branch_gain(alpha, sw, nz, act, k)
    c = np.full(n, float(check_range("c0", c0, -1.0, 1.0)))
    rng = np.random.default_rng(seed)
    out = np.empty((L + 1, n))
    out[0] = c
    for layer in range(1, L + 1):
        rho = c
        for _ in range(k):
            rho = np.asarray(correlation_map(rho, sw, 0.0, nz, act), dtype=float)
        ma = rng.random(n) < p
        mb = rng.random(n) < p
        num = c + np.where(ma & mb, g / (p * p), 0.0) * rho
        den = np.sqrt((1 + ma * g / (p * p)) * (1 + mb * g / (p * p)))
        c = np.clip(num / den, -1.0, 1.0)
        out[layer] = c
    return out
