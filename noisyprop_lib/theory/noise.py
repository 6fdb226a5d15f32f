r"""Noise models injected into a network's signal.

A noise model describes the random variable :math:`\epsilon` applied to the
post-activation signal that enters the next linear layer,

.. math::

   \tilde h^l = W^l\,\nu(\phi(h^{l-1}), \epsilon) + b^l,\qquad
   \nu(x, \epsilon) = x\epsilon \ \text{(multiplicative)}\quad\text{or}\quad x + \epsilon\ \text{(additive)},

redrawn for every unit, every example and every forward pass. Mean-field
theory sees a multiplicative noise only through its first two moments
:math:`\mu_1 = E[\epsilon]` and :math:`\mu_2 = E[\epsilon^2]`, and an additive
noise only through its variance (Pretorius et al., 2018).

Every model here knows its kind, its exact moments, a sympy random variable
for symbolic work, and how to sample itself in torch with an explicit
``torch.Generator``. Parameters may be numpy arrays: the moments then
broadcast, so a whole grid of noise levels is one object (sampling needs
scalar parameters).

Conventions: ``keep_prob`` is dropout's *keep* probability; torch's
``nn.Dropout(p)`` takes the *drop* probability. :meth:`Noise.from_torch`
converts explicitly.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import sympy
import sympy.stats as sstats

from .._validation import check_range, scalar_or_array

__all__ = [
    "Noise",
    "NoNoise",
    "Dropout",
    "PlainDropout",
    "GaussianNoise",
    "GaussianDropout",
    "GammaNoise",
    "UniformNoise",
    "LaplaceNoise",
    "PoissonNoise",
    "AdditiveGaussianNoise",
    "AdditiveLaplaceNoise",
    "as_noise",
    "keep_prob_from_torch",
    "NotANoiseModuleError",
    "MULTIPLICATIVE",
    "ADDITIVE",
]

MULTIPLICATIVE = "multiplicative"
ADDITIVE = "additive"


class NotANoiseModuleError(ValueError, TypeError):
    """:meth:`Noise.from_torch` was given something that is not a dropout module or a noise model.

    A ``ValueError`` (the library's convention for invalid input) and, for code
    written against earlier versions, a ``TypeError``.
    """


def keep_prob_from_torch(p) -> float:
    """Convert torch's dropout *drop* probability ``p`` to ``keep_prob = 1 - p``.

    Raises ``ValueError`` when ``p`` is outside ``[0, 1)``: ``p = 1`` drops every
    unit, which leaves no signal and no inverted scaling.
    """
    p_arr = check_range("p (torch drop probability)", p, 0.0, 1.0, high_inclusive=False)
    return scalar_or_array(1.0 - p_arr)


class Noise:
    """Base class of the noise models.

    Subclasses set the class attribute ``kind`` and implement ``_mu1``, ``_mu2``, ``_sympy``
    and ``_sample``. Moments are exact closed forms (floats, or arrays when a
    parameter is an array).
    """

    kind: str = MULTIPLICATIVE
    #: names of the constructor parameters, in order
    param_names: tuple[str, ...] = ()

    # -- moments -----------------------------------------------------------
    @property
    def mu1(self):
        r"""First moment :math:`\mu_1 = E[\epsilon]`."""
        return scalar_or_array(self._mu1())

    @property
    def mu2(self):
        r"""Second moment :math:`\mu_2 = E[\epsilon^2]`."""
        return scalar_or_array(self._mu1() ** 2 + self._variance())

    @property
    def variance(self):
        r"""Variance :math:`\operatorname{Var}[\epsilon] = \mu_2 - \mu_1^2`."""
        return scalar_or_array(self._variance())

    @property
    def kappa(self):
        r"""Noise factor of the correlation map, :math:`\mu_2/\mu_1^2 = 1 + \mathrm{CV}^2`.

        Only defined for multiplicative noise; equals :math:`\mu_2` when the
        noise has mean one.
        """
        if self.kind != MULTIPLICATIVE:
            raise ValueError(f"kappa = mu2/mu1^2 is defined for multiplicative noise only, not {self!r}")
        return scalar_or_array(1.0 + self._variance() / self._mu1() ** 2)

    @property
    def relative_variance(self):
        r""":math:`\operatorname{Var}[\epsilon]/\mu_1^2` (multiplicative) computed without cancellation."""
        if self.kind != MULTIPLICATIVE:
            raise ValueError(f"relative_variance is defined for multiplicative noise only, not {self!r}")
        return scalar_or_array(self._variance() / self._mu1() ** 2)

    # scipy.stats vocabulary
    def mean(self):
        """Mean of the noise (``mu1``), as in ``scipy.stats``."""
        return self.mu1

    def var(self):
        """Variance of the noise, as in ``scipy.stats``."""
        return self.variance

    def moment(self, n: int):
        r"""Exact raw moment :math:`E[\epsilon^n]`, computed symbolically by sympy."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        params = [np.asarray(getattr(self, k), dtype=float) for k in self.param_names]
        if all(p.ndim == 0 for p in params):
            return _moment_cached(type(self), tuple(float(p) for p in params), int(n))
        bparams = np.broadcast_arrays(*params)
        out = np.empty(bparams[0].shape)
        for idx in np.ndindex(out.shape):
            out[idx] = _moment_cached(type(self), tuple(float(p[idx]) for p in bparams), int(n))
        return out

    @property
    def is_scalar(self) -> bool:
        return all(np.ndim(getattr(self, k)) == 0 for k in self.param_names)

    # -- symbolic ------------------------------------------------------------
    def sympy_rv(self, name: str = "epsilon", symbolic: bool = False):
        """A sympy random expression with this law.

        Parameters
        ----------
        name : str
            Name of the underlying sympy random symbol.
        symbolic : bool
            If True, the law's parameters are sympy symbols (e.g. ``p`` for a
            dropout keep probability) so that moments come out as formulas.
        """
        if not symbolic and not self.is_scalar:
            raise ValueError("sympy_rv(symbolic=False) needs scalar parameters; this noise holds arrays")
        return self._sympy(name, symbolic)

    def sympy_symbols(self) -> dict[str, sympy.Symbol]:
        """The sympy symbols used by ``sympy_rv(symbolic=True)``."""
        return {k: _SYMBOLS[k] for k in self.param_names}

    # -- sampling -------------------------------------------------------------
    def sample(self, shape, generator=None, dtype=None, device=None):
        """Draw i.i.d. samples of the noise as a torch tensor.

        Parameters
        ----------
        shape : tuple of int
            Shape of the sample.
        generator : torch.Generator, optional
            Source of randomness; pass one for reproducible draws.
        dtype : torch.dtype, optional
            Floating dtype (default ``torch.float32``).
        device : str or torch.device, optional
            Device of the result (default: the generator's device, else CPU).
        """
        import torch

        if not self.is_scalar:
            raise ValueError(f"sampling needs scalar noise parameters, got {self!r}")
        dtype = torch.float32 if dtype is None else dtype
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype must be a floating torch dtype, got {dtype!r}")
        if device is None:
            device = generator.device if generator is not None else torch.device("cpu")
        shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list, torch.Size)) else (shape,)))
        if any(s < 0 for s in shape):
            raise ValueError(f"shape must have non-negative entries, got {shape}")
        return self._sample(shape, generator, dtype, torch.device(device))

    def apply(self, x, generator=None):
        """Apply the noise to a torch tensor ``x``: ``x * eps`` or ``x + eps``."""
        eps = self.sample(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x * eps if self.kind == MULTIPLICATIVE else x + eps

    # -- torch conversion ----------------------------------------------------
    @staticmethod
    def from_torch(module) -> "Noise":
        """The noise model equivalent to a torch dropout module.

        ``torch.nn.Dropout(p)`` and ``Dropout1d/2d/3d`` are inverted dropout with
        *drop* probability ``p``; they become :class:`Dropout` with
        ``keep_prob = 1 - p``. (``Dropout1d/2d/3d`` share one mask per channel;
        the second moment, which is all the mean-field variance map sees, is the
        same.) ``AlphaDropout`` and ``FeatureAlphaDropout`` are refused: they
        are affine, not multiplicative, noise. Any other object raises
        :class:`NotANoiseModuleError`, a ``ValueError`` (and a ``TypeError``).
        """
        import torch.nn as nn

        if isinstance(module, Noise):
            return module
        if isinstance(module, (nn.AlphaDropout, nn.FeatureAlphaDropout)):
            raise ValueError(
                f"{type(module).__name__} is not supported: it rescales and shifts the signal "
                "(an affine, not multiplicative, noise designed for SELU), so it has no mu2 in "
                "the sense of this library"
            )
        if isinstance(module, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)):
            if module.p >= 1.0:
                raise ValueError(
                    f"{type(module).__name__}(p={module.p}) drops every unit: keep_prob = 1 - p = 0 "
                    "is outside (0, 1]"
                )
            return Dropout(keep_prob_from_torch(module.p))
        raise NotANoiseModuleError(
            f"module must be a torch dropout module (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d) or a "
            f"noisyprop_lib noise model, got {module!r}: cannot convert {type(module).__name__} to a noise model"
        )

    # -- misc --------------------------------------------------------------
    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_fmt(getattr(self, k))}" for k in self.param_names)
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(np.array_equal(getattr(self, k), getattr(other, k)) for k in self.param_names)

    def __hash__(self):
        return hash((type(self), tuple(np.asarray(getattr(self, k)).tobytes() for k in self.param_names)))

    # subclasses implement these
    def _mu1(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _variance(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _sympy(self, name, symbolic):  # pragma: no cover - abstract
        raise NotImplementedError

    def _sample(self, shape, generator, dtype, device):  # pragma: no cover - abstract
        raise NotImplementedError


def _fmt(v) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        return f"{float(a):g}"
    return f"<array shape {a.shape}>"


_SYMBOLS = {
    "keep_prob": sympy.Symbol("p", positive=True),
    "std": sympy.Symbol("sigma", positive=True),
    "shape": sympy.Symbol("k", positive=True),
    "half_width": sympy.Symbol("a", positive=True),
    "scale": sympy.Symbol("b", positive=True),
    "rate": sympy.Symbol("lambda", positive=True),
}


def _param(self, key, numeric_value, symbolic):
    if symbolic:
        return _SYMBOLS[key]
    return sympy.nsimplify(float(numeric_value), rational=True)


@functools.lru_cache(maxsize=512)
def _moment_cached(cls, params: tuple, n: int) -> float:
    obj = cls(*params)
    if n == 0:
        return 1.0
    expr = sstats.E(obj.sympy_rv("eps_moment") ** n)
    return float(sympy.N(sympy.simplify(expr), 30))


# --------------------------------------------------------------------------
# multiplicative laws
# --------------------------------------------------------------------------


class NoNoise(Noise):
    """The noiseless network: epsilon = 1 (``mu1 = mu2 = 1``)."""

    param_names = ()

    def _mu1(self):
        return np.asarray(1.0)

    def _variance(self):
        return np.asarray(0.0)

    def _sympy(self, name, symbolic):
        return sympy.Integer(1)

    def _sample(self, shape, generator, dtype, device):
        import torch

        return torch.ones(shape, dtype=dtype, device=device)


class Dropout(Noise):
    r"""Inverted dropout: :math:`\epsilon = B/p`, :math:`B\sim\mathrm{Bernoulli}(p)`.

    ``keep_prob`` :math:`p\in(0,1]`; :math:`\mu_1 = 1`, :math:`\mu_2 = 1/p`,
    variance :math:`(1-p)/p`. This is ``torch.nn.Dropout(1 - p)`` in training mode.
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
        p = _param(self, "keep_prob", self.keep_prob, symbolic)
        return sstats.Bernoulli(name, p) / p

    def _sample(self, shape, generator, dtype, device):
        import torch

        p = float(self.keep_prob)
        u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
        return (u < p).to(dtype) / p


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
        p = _param(self, "keep_prob", self.keep_prob, symbolic)
        return sstats.Bernoulli(name, p)

    def _sample(self, shape, generator, dtype, device):
        import torch

        u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
        return (u < float(self.keep_prob)).to(dtype)


class GaussianNoise(Noise):
    r"""Multiplicative Gaussian noise :math:`\epsilon\sim\mathcal N(1, \sigma^2)`; ``std`` :math:`=\sigma\ge 0`.

    :math:`\mu_2 = 1 + \sigma^2`.
    """

    param_names = ("std",)

    def __init__(self, std):
        self.std = scalar_or_array(check_range("std", std, 0.0, None))

    def _mu1(self):
        return np.ones_like(np.asarray(self.std, dtype=float))

    def _variance(self):
        return np.asarray(self.std, dtype=float) ** 2

    def _sympy(self, name, symbolic):
        s = _param(self, "std", self.std, symbolic)
        if not symbolic and s == 0:
            return sympy.Integer(1)
        return sstats.Normal(name, 1, s)

    def _sample(self, shape, generator, dtype, device):
        import torch

        return 1.0 + float(self.std) * torch.randn(shape, generator=generator, dtype=dtype, device=device)


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
        a = _param(self, "half_width", self.half_width, symbolic)
        if not symbolic and a == 0:
            return sympy.Integer(1)
        return sstats.Uniform(name, 1 - a, 1 + a)

    def _sample(self, shape, generator, dtype, device):
        import torch

        u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
        return 1.0 + float(self.half_width) * (2.0 * u - 1.0)


class LaplaceNoise(Noise):
    r"""Laplace noise with mean one: :math:`\epsilon\sim\mathrm{Laplace}(1, b)`, ``scale`` :math:`b\ge0`.

    :math:`\mu_2 = 1 + 2b^2` (the variance of a Laplace law is :math:`2b^2`).
    """

    param_names = ("scale",)

    def __init__(self, scale):
        self.scale = scalar_or_array(check_range("scale", scale, 0.0, None))

    def _mu1(self):
        return np.ones_like(np.asarray(self.scale, dtype=float))

    def _variance(self):
        return 2.0 * np.asarray(self.scale, dtype=float) ** 2

    def _sympy(self, name, symbolic):
        b = _param(self, "scale", self.scale, symbolic)
        if not symbolic and b == 0:
            return sympy.Integer(1)
        return sstats.Laplace(name, 1, b)

    def _sample(self, shape, generator, dtype, device):
        return 1.0 + float(self.scale) * _sample_laplace(shape, generator, dtype, device)


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
        lam = _param(self, "rate", self.rate, symbolic)
        return sstats.Poisson(name, lam) / lam

    def _sample(self, shape, generator, dtype, device):
        import torch

        lam = float(self.rate)
        rates = torch.full(shape, lam, dtype=torch.float32 if dtype == torch.float16 else dtype, device=device)
        return (torch.poisson(rates, generator=generator) / lam).to(dtype)


# --------------------------------------------------------------------------
# additive laws
# --------------------------------------------------------------------------


class AdditiveGaussianNoise(Noise):
    r"""Additive Gaussian noise :math:`\epsilon\sim\mathcal N(0, \sigma^2)`, ``std`` :math:`=\sigma\ge0`."""

    kind = ADDITIVE
    param_names = ("std",)

    def __init__(self, std):
        self.std = scalar_or_array(check_range("std", std, 0.0, None))

    def _mu1(self):
        return np.zeros_like(np.asarray(self.std, dtype=float))

    def _variance(self):
        return np.asarray(self.std, dtype=float) ** 2

    def _sympy(self, name, symbolic):
        s = _param(self, "std", self.std, symbolic)
        if not symbolic and s == 0:
            return sympy.Integer(0)
        return sstats.Normal(name, 0, s)

    def _sample(self, shape, generator, dtype, device):
        import torch

        return float(self.std) * torch.randn(shape, generator=generator, dtype=dtype, device=device)


class AdditiveLaplaceNoise(Noise):
    r"""Additive Laplace noise :math:`\epsilon\sim\mathrm{Laplace}(0, b)`; variance :math:`2b^2`."""

    kind = ADDITIVE
    param_names = ("scale",)

    def __init__(self, scale):
        self.scale = scalar_or_array(check_range("scale", scale, 0.0, None))

    def _mu1(self):
        return np.zeros_like(np.asarray(self.scale, dtype=float))

    def _variance(self):
        return 2.0 * np.asarray(self.scale, dtype=float) ** 2

    def _sympy(self, name, symbolic):
        b = _param(self, "scale", self.scale, symbolic)
        if not symbolic and b == 0:
            return sympy.Integer(0)
        return sstats.Laplace(name, 0, b)

    def _sample(self, shape, generator, dtype, device):
        return float(self.scale) * _sample_laplace(shape, generator, dtype, device)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def as_noise(noise) -> Noise:
    """Normalise a ``noise`` argument: ``None`` means :class:`NoNoise`.

    Torch dropout modules are converted with :meth:`Noise.from_torch`.
    """
    if noise is None:
        return NoNoise()
    if isinstance(noise, Noise):
        return noise
    try:
        import torch.nn as nn

        if isinstance(noise, nn.Module):
            return Noise.from_torch(noise)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    except NotANoiseModuleError:
        pass  # refused below, naming this function's parameter
    raise ValueError(
        f"noise must be a noisyprop_lib noise model (e.g. Dropout(keep_prob=0.8)), a torch dropout "
        f"module or None, got {noise!r}"
    )


def _sample_laplace(shape, generator, dtype, device):
    """Standard Laplace(0, 1) as the difference of two unit exponentials (never infinite)."""
    import torch

    work = torch.float64 if dtype == torch.float64 else torch.float32
    u = torch.rand((2,) + tuple(shape), generator=generator, dtype=work, device=device)
    e = -torch.log1p(-u)  # 1 - u lies in (0, 1], so e is finite
    return (e[0] - e[1]).to(dtype)


def _sample_standard_gamma(k, shape, generator, dtype, device):
    """Gamma(k, 1) by Marsaglia & Tsang (2000), with Gamma(k+1) U^(1/k) for k < 1.

    torch.distributions.Gamma cannot take a ``torch.Generator``; this sampler
    can, so noisy simulations stay reproducible.
    """
    import torch

    work = torch.float64
    boost = k < 1.0
    kk = k + 1.0 if boost else k
    d = kk - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    n = int(np.prod(shape)) if len(shape) else 1
    out = torch.empty(n, dtype=work, device=device)
    todo = torch.arange(n, device=device)
    while todo.numel() > 0:
        m = todo.numel()
        x = torch.randn(m, generator=generator, dtype=work, device=device)
        u = torch.rand(m, generator=generator, dtype=work, device=device)
        v = (1.0 + c * x) ** 3
        ok = (v > 0) & (torch.log(u) < 0.5 * x * x + d - d * v + d * torch.log(torch.clamp(v, min=1e-300)))
        out[todo[ok]] = d * v[ok]
        todo = todo[~ok]
    if boost:
        u = torch.rand(n, generator=generator, dtype=work, device=device)
        out = out * u ** (1.0 / k)
    return out.reshape(shape).to(dtype)
