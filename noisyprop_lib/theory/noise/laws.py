r"""The noise laws: dropout (inverted, plain, Gaussian), Gaussian, Gamma, uniform, Laplace, Poisson, additive.

Gaussian and Laplace noise exist multiplicative (located at 1) and additive (located at 0): each pair
shares one implementation, :class:`_GaussianLaw` and :class:`_LaplaceLaw`, parametrised by ``loc``.
"""
from __future__ import annotations

import math

import numpy as np

from ..._validation import check_range, scalar_or_array
from ._base import ADDITIVE, Dropout, Noise, _param  # noqa: F401  (Dropout: defined with the base)
from ._sampling import _sample_laplace, _sample_standard_gamma

__all__ = ["Dropout", "PlainDropout", "GaussianNoise", "GaussianDropout", "GammaNoise", "UniformNoise",
           "LaplaceNoise", "PoissonNoise", "AdditiveGaussianNoise", "AdditiveLaplaceNoise"]


class PlainDropout(Noise):
    r"""Non-inverted dropout: :math:`\epsilon = B\sim\mathrm{Bernoulli}(p)`, no rescaling.

    :math:`\mu_1 = p` and :math:`\mu_2 = p`. The variance map sees :math:`\mu_2`
    and the correlation map sees :math:`\mu_2/\mu_1^2 = 1/p`, the same as
    inverted dropout; only the critical weight variance changes, to
    :math:`2/p` for ReLU.
    """

    param_names = ("keep_prob",)

    def __init__(self, keep_prob):
        self.keep_prob = scalar_or_array(check_range("keep_prob", keep_prob, 0.0, 1.0, low_inclusive=False))

    def _mu1(self):
        return np.asarray(self.keep_prob, dtype=float)

    def _variance(self):
        p = np.asarray(self.keep_prob, dtype=float)
        return p * (1.0 - p)

    def _sympy(self, name, symbolic):
        import sympy
        import sympy.stats as sstats  # noqa: F401

        p = _param(self, "keep_prob", self.keep_prob, symbolic)
        return sstats.Bernoulli(name, p)

    def _sample(self, shape, generator, dtype, device):
        import torch

        u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
        return (u < float(self.keep_prob)).to(dtype)


class GaussianDropout(Noise):
    r"""Gaussian dropout: :math:`\epsilon\sim\mathcal N(1, (1-p)/p)` (Srivastava et al., 2014).

    Same :math:`\mu_1,\mu_2` as inverted dropout with ``keep_prob`` :math:`p`, hence
    the same mean-field theory.
    """

    param_names = ("keep_prob",)

    def __init__(self, keep_prob):
        self.keep_prob = scalar_or_array(check_range("keep_prob", keep_prob, 0.0, 1.0, low_inclusive=False))

    def _mu1(self):
        return np.ones_like(np.asarray(self.keep_prob, dtype=float))

    def _variance(self):
        p = np.asarray(self.keep_prob, dtype=float)
        return (1.0 - p) / p

    def _sympy(self, name, symbolic):
        import sympy
        import sympy.stats as sstats  # noqa: F401

        p = _param(self, "keep_prob", self.keep_prob, symbolic)
        if not symbolic and p == 1:
            return sympy.Integer(1)
        return sstats.Normal(name, 1, sympy.sqrt((1 - p) / p))

    def _sample(self, shape, generator, dtype, device):
        import torch

        p = float(self.keep_prob)
        return 1.0 + math.sqrt((1.0 - p) / p) * torch.randn(shape, generator=generator, dtype=dtype, device=device)


class GammaNoise(Noise):
    r"""Gamma noise with mean one: :math:`\epsilon\sim\mathrm{Gamma}(k, \theta = 1/k)`, ``shape`` :math:`k>0`.

    :math:`\mu_2 = 1 + 1/k`. Always non-negative, like dropout.
    """

    param_names = ("shape",)

    def __init__(self, shape):
        self.shape = scalar_or_array(check_range("shape", shape, 0.0, None, low_inclusive=False))

    def _mu1(self):
        return np.ones_like(np.asarray(self.shape, dtype=float))

    def _variance(self):
        return 1.0 / np.asarray(self.shape, dtype=float)

    def _sympy(self, name, symbolic):
        import sympy
        import sympy.stats as sstats  # noqa: F401

        k = _param(self, "shape", self.shape, symbolic)
        return sstats.Gamma(name, k, 1 / k)

    def _sample(self, shape, generator, dtype, device):
        k = float(self.shape)
        return _sample_standard_gamma(k, shape, generator, dtype, device) / k


class UniformNoise(Noise):
    r"""Uniform noise with mean one: :math:`\epsilon\sim U[1-a, 1+a]`, ``half_width`` :math:`a\ge0`.

    :math:`\mu_2 = 1 + a^2/3`.
    """

    param_names = ("half_width",)

    def __init__(self, half_width):
        self.half_width = scalar_or_array(check_range("half_width", half_width, 0.0, None))

    def _mu1(self):
        return np.ones_like(np.asarray(self.half_width, dtype=float))

    def _variance(self):
        return np.asarray(self.half_width, dtype=float) ** 2 / 3.0

    def _sympy(self, name, symbolic):
        import sympy
        import sympy.stats as sstats  # noqa: F401

        a = _param(self, "half_width", self.half_width, symbolic)
        if not symbolic and a == 0:
            return sympy.Integer(1)
        return sstats.Uniform(name, 1 - a, 1 + a)

    def _sample(self, shape, generator, dtype, device):
        import torch

        u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
        return 1.0 + float(self.half_width) * (2.0 * u - 1.0)


class PoissonNoise(Noise):
    r"""Poisson noise with mean one: :math:`\epsilon = N/\lambda`, :math:`N\sim\mathrm{Poisson}(\lambda)`.

    ``rate`` :math:`\lambda>0`, default 1 (the paper's Poisson(1), :math:`\mu_2 = 2`);
    in general :math:`\mu_2 = 1 + 1/\lambda`.
    """

    param_names = ("rate",)

    def __init__(self, rate=1.0):
        self.rate = scalar_or_array(check_range("rate", rate, 0.0, None, low_inclusive=False))

    def _mu1(self):
        return np.ones_like(np.asarray(self.rate, dtype=float))

    def _variance(self):
        return 1.0 / np.asarray(self.rate, dtype=float)

    def _sympy(self, name, symbolic):
        import sympy
        import sympy.stats as sstats  # noqa: F401

        lam = _param(self, "rate", self.rate, symbolic)
        return sstats.Poisson(name, lam) / lam

    def _sample(self, shape, generator, dtype, device):
        import torch

        lam = float(self.rate)
        rates = torch.full(shape, lam, dtype=torch.float32 if dtype == torch.float16 else dtype, device=device)
        return (torch.poisson(rates, generator=generator) / lam).to(dtype)


class _GaussianLaw(Noise):
    r"""Gaussian noise :math:`\mathcal N(\mathrm{loc}, \sigma^2)`; ``loc`` is 1 (multiplicative) or 0 (additive)."""

    loc = 1.0
    param_names = ("std",)

    def __init__(self, std):
        self.std = scalar_or_array(check_range("std", std, 0.0, None))

    def _mu1(self):
        return np.full_like(np.asarray(self.std, dtype=float), self.loc)

    def _variance(self):
        return np.asarray(self.std, dtype=float) ** 2

    def _sympy(self, name, symbolic):
        import sympy
        import sympy.stats as sstats

        s = _param(self, "std", self.std, symbolic)
        if not symbolic and s == 0:
            return sympy.Integer(int(self.loc))
        return sstats.Normal(name, int(self.loc), s)

    def _sample(self, shape, generator, dtype, device):
        import torch

        x = float(self.std) * torch.randn(shape, generator=generator, dtype=dtype, device=device)
        return x if self.loc == 0 else self.loc + x


class _LaplaceLaw(Noise):
    r"""Laplace noise :math:`\mathrm{Laplace}(\mathrm{loc}, b)`; ``loc`` is 1 (multiplicative) or 0 (additive)."""

    loc = 1.0
    param_names = ("scale",)

    def __init__(self, scale):
        self.scale = scalar_or_array(check_range("scale", scale, 0.0, None))

    def _mu1(self):
        return np.full_like(np.asarray(self.scale, dtype=float), self.loc)

    def _variance(self):
        return 2.0 * np.asarray(self.scale, dtype=float) ** 2

    def _sympy(self, name, symbolic):
        import sympy
        import sympy.stats as sstats

        b = _param(self, "scale", self.scale, symbolic)
        if not symbolic and b == 0:
            return sympy.Integer(int(self.loc))
        return sstats.Laplace(name, int(self.loc), b)

    def _sample(self, shape, generator, dtype, device):
        x = float(self.scale) * _sample_laplace(shape, generator, dtype, device)
        return x if self.loc == 0 else self.loc + x


class GaussianNoise(_GaussianLaw):
    r"""Multiplicative Gaussian noise :math:`\epsilon\sim\mathcal N(1, \sigma^2)`; ``std`` :math:`=\sigma\ge 0`.

    :math:`\mu_2 = 1 + \sigma^2`.
    """


class LaplaceNoise(_LaplaceLaw):
    r"""Laplace noise with mean one: :math:`\epsilon\sim\mathrm{Laplace}(1, b)`, ``scale`` :math:`b\ge0`.

    :math:`\mu_2 = 1 + 2b^2` (the variance of a Laplace law is :math:`2b^2`).
    """


class AdditiveGaussianNoise(_GaussianLaw):
    r"""Additive Gaussian noise :math:`\epsilon\sim\mathcal N(0, \sigma^2)`, ``std`` :math:`=\sigma\ge0`."""

    kind = ADDITIVE
    loc = 0.0


class AdditiveLaplaceNoise(_LaplaceLaw):
    r"""Additive Laplace noise :math:`\epsilon\sim\mathrm{Laplace}(0, b)`; variance :math:`2b^2`."""

    kind = ADDITIVE
    loc = 0.0
