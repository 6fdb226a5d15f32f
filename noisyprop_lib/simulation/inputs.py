"""Inputs for the simulations: independent Gaussian vectors, and sets with prescribed correlations."""
from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import check_positive_int, check_range
from ._backend import _torch_dtype, make_generator

__all__ = ["gaussian_inputs", "correlated_inputs"]


def gaussian_inputs(n_inputs: int, dim: int, q0=1.0, seed=None, generator=None, dtype="float64"):
    r"""``n_inputs`` independent vectors in :math:`\mathbb R^{dim}` with i.i.d. :math:`\mathcal N(0, q_0)` entries.

    Returns a CPU tensor of shape ``(n_inputs, dim)``.
    """
    n_inputs = check_positive_int("n_inputs", n_inputs)
    dim = check_positive_int("dim", dim)
    q0 = float(check_range("q0", q0, 0.0, None, low_inclusive=False))
    g = make_generator(seed, generator, "cpu")
    return math.sqrt(q0) * torch.randn(n_inputs, dim, generator=g, dtype=_torch_dtype(dtype))


def correlated_inputs(correlations, n_per_value: int, dim: int, q0=1.0, seed=None, generator=None, exact=True, dtype="float64"):
    r"""Sets of inputs with prescribed correlations to a common base vector.

    For each value :math:`c` in ``correlations`` a base vector :math:`x` and
    ``n_per_value`` vectors :math:`y_k = c\,x + \sqrt{1-c^2}\,e_k` are drawn, with
    :math:`x, e_k` having i.i.d. :math:`\mathcal N(0,q_0)` entries (the
    construction of the paper's Figure 4). With ``exact=True`` each :math:`e_k` is
    first made orthogonal to :math:`x` and rescaled to its length, so that the
    cosine correlation of :math:`(x, y_k)` is exactly :math:`c`.

    Returns
    -------
    inputs : torch.Tensor
        Shape ``(len(correlations) * (n_per_value + 1), dim)``: each group is its base
        vector followed by its ``n_per_value`` partners.
    pairs : numpy.ndarray
        Shape ``(len(correlations) * n_per_value, 2)``: index pairs (base, partner).
    group : numpy.ndarray
        For each pair, the index of its correlation value.
    """
    cs = np.atleast_1d(check_range("correlations", correlations, -1.0, 1.0)).ravel()
    n = check_positive_int("n_per_value", n_per_value)
    dim = check_positive_int("dim", dim, minimum=2)
    q0 = float(check_range("q0", q0, 0.0, None, low_inclusive=False))
    g = make_generator(seed, generator, "cpu")
    dt = _torch_dtype(dtype)
    blocks, pairs, group = [], [], []
    for gi, c in enumerate(cs):
        x = math.sqrt(q0) * torch.randn(dim, generator=g, dtype=torch.float64)
        e = math.sqrt(q0) * torch.randn(n, dim, generator=g, dtype=torch.float64)
        if exact:
            xn = x / x.norm()
            e = e - (e @ xn)[:, None] * xn[None, :]
            e = e / e.norm(dim=1, keepdim=True) * x.norm()
        y = float(c) * x[None, :] + math.sqrt(max(0.0, 1.0 - float(c) ** 2)) * e
        start = gi * (n + 1)
        blocks.append(torch.cat([x[None, :], y], dim=0))
        pairs += [(start, start + k + 1) for k in range(n)]
        group += [gi] * n
    return torch.cat(blocks, dim=0).to(dt), np.array(pairs, dtype=np.int64), np.array(group, dtype=np.int64)
