r"""The noise-model base class :class:`Noise`, the kinds, :class:`NoNoise`, :class:`Dropout` and :func:`as_noise`.

Sympy is imported only when a symbolic feature (``moment``, ``sympy_rv``) is used, torch only when a
noise is sampled or converted from a torch module. See :mod:`noisyprop_lib.theory.noise`.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..._validation import check_range, scalar_or_array

#: the kind of a noise that multiplies the signal (dropout and its relatives): ``Noise.kind``
MULTIPLICATIVE = "multiplicative"
#: the kind of a noise that is added to the signal: ``Noise.kind``
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

    def sympy_symbols(self) -> dict[str, "sympy.Symbol"]:
        """The sympy symbols used by ``sympy_rv(symbolic=True)``."""
        return {k: _symbol(k) for k in self.param_names}

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
        from ._sampling import checked_sample

        return checked_sample(self, shape, generator, dtype, device)

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


# the sympy symbol of each law parameter (sympy is imported on first use, not with the package)
_SYMBOL_NAMES = {"keep_prob": "p", "std": "sigma", "shape": "k", "half_width": "a", "scale": "b", "rate": "lambda"}


@functools.lru_cache(maxsize=None)
def _symbol(key):
    import sympy

    return sympy.Symbol(_SYMBOL_NAMES[key], positive=True)


def _param(self, key, numeric_value, symbolic):
    import sympy

    if symbolic:
        return _symbol(key)
    return sympy.nsimplify(float(numeric_value), rational=True)


@functools.lru_cache(maxsize=512)
def _moment_cached(cls, params: tuple, n: int) -> float:
    import sympy
    import sympy.stats as sstats

    obj = cls(*params)
    if n == 0:
        return 1.0
    expr = sstats.E(obj.sympy_rv("eps_moment") ** n)
    return float(sympy.N(sympy.simplify(expr), 30))


# the two laws the base class needs: as_noise(None) returns NoNoise, from_torch returns Dropout


class NoNoise(Noise):
    """The noiseless network: epsilon = 1 (``mu1 = mu2 = 1``)."""

    param_names = ()

    def _mu1(self):
        return np.asarray(1.0)

    def _variance(self):
        return np.asarray(0.0)

    def _sympy(self, name, symbolic):
        import sympy
        import sympy.stats as sstats  # noqa: F401

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
        import sympy
        import sympy.stats as sstats  # noqa: F401

        p = _param(self, "keep_prob", self.keep_prob, symbolic)
        return sstats.Bernoulli(name, p) / p

    def _sample(self, shape, generator, dtype, device):
        import torch

        p = float(self.keep_prob)
        u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
        return (u < p).to(dtype) / p


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
