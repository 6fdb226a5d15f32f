r"""One layer specification, :class:`Layer`, accepted by every theory function.

A layer of a noisy network is four things: the weight and bias variances :math:`\sigma_w^2,
\sigma_b^2`, the injected noise and the activation. :class:`Layer` holds them, validated, in one
frozen object (in the manner of neural-tangents' ``stax`` layers):

>>> import noisyprop_lib as npl
>>> layer = npl.Layer(noise=npl.Dropout(0.6)).critical()
>>> round(float(layer.sigma_w2), 6)
1.2
>>> npl.variance_map(1.0, layer) == npl.variance_map(1.0, 1.2, 0.0, npl.Dropout(0.6))
True

**The rule.** A theory function takes *the state first* (``q``, ``c``, ``q0``, ``width``, ``depth``,
inputs ``X1, X2`` ...), *then the layer*: either a :class:`Layer` (in the first layer slot, or as
``layer=``) or the layer's parameters by keyword (``sigma_w2=``, ``sigma_b2=``, ``noise=``,
``activation=``). Passing a Layer together with an explicit layer parameter that differs from it
is a ``ValueError`` naming the parameter. A Layer field that a function does not take is ignored,
except a non-zero ``sigma_b2``, which is refused by the functions that assume no bias
(:func:`critical_sigma_w2`, :func:`finite_width_log_variance_moments`).

**Legacy positional orders** (frozen for compatibility; every positional call of release 0.1.0
keeps working, without warnings):

* ``variance_map``, ``variance_map_slope``: ``(q, sigma_w2, sigma_b2, noise, activation)``
* ``covariance_map``: ``(q_a, q_b, q_ab, sigma_w2, sigma_b2, noise, activation, shared_mask)``
* ``correlation_map``, ``correlation_map_slope``: ``(c, sigma_w2, sigma_b2, noise, activation, q, shared_mask)``
* ``iterate_variance_map``: ``(q0, depth, sigma_w2, sigma_b2, noise, activation)``
* ``iterate_correlation_map``: ``(c0, depth, sigma_w2, sigma_b2, noise, activation, q0, shared_mask)``
* ``variance_fixed_point``: ``(sigma_w2, sigma_b2, noise, activation, q0, max_iter, tol)``
* ``chi1``, ``variance_depth_scale``, ``gradient_depth_scale``: ``(sigma_w2, sigma_b2, noise, activation)``
* ``critical_sigma_w2``: ``(noise, activation)``
* ``correlation_fixed_point``, ``correlation_fixed_point_slope``, ``correlation_fixed_point_analysis``,
  ``depth_scale``: ``(noise, activation, sigma_w2, sigma_b2)``; ``trainable_depth``: the same, then ``factor``
* ``overflow_depth``: ``(sigma_w2, noise, q0, dtype, activation, sigma_b2)``
* ``finite_width_log_variance_moments``: ``(noise, width, depth, activation)``
* ``order_chaos_boundary``: ``(sigma_b2, activation, noise)``
* ``nngp_kernel``: ``(X1, X2, *, depth, sigma_w2, sigma_b2, noise, activation)`` (keyword-only layer)
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .._validation import check_range, scalar_or_array
from .activations import get_activation
from ._signature import _FIELDS, _same, accepts_layer
from .noise import NoNoise, as_noise

__all__ = ["Layer", "accepts_layer"]


@dataclasses.dataclass(frozen=True, eq=False)
class Layer:
    r"""A layer of a noisy network: weight and bias variances, noise and activation (frozen, validated).

    Parameters
    ----------
    sigma_w2 : float or array, optional
        Weight variance (fan-in normalised), :math:`\ge0`; ``None`` where it cancels or is to be found
        (see :meth:`critical`).
    sigma_b2 : float or array
        Bias variance, :math:`\ge0` (default 0).
    noise : Noise, torch dropout module or None
        Normalised by :func:`noisyprop_lib.as_noise` (``None``: :class:`NoNoise`).
    activation : Activation, str or callable
        Checked by :func:`noisyprop_lib.get_activation` and kept as given (default ``"relu"``).
    """

    _is_layer_spec = True  # the marker the accepts_layer decorator recognises

    sigma_w2: Any = None
    sigma_b2: Any = 0.0
    noise: Any = dataclasses.field(default_factory=NoNoise)
    activation: Any = "relu"

    def __post_init__(self):
        if self.sigma_w2 is not None:
            object.__setattr__(self, "sigma_w2", scalar_or_array(check_range("sigma_w2", self.sigma_w2, 0.0, None)))
        object.__setattr__(self, "sigma_b2", scalar_or_array(check_range("sigma_b2", self.sigma_b2, 0.0, None)))
        object.__setattr__(self, "noise", as_noise(self.noise))
        get_activation(self.activation)  # validates; the given form (e.g. a name) is kept

    def replace(self, **changes) -> "Layer":
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - set(_FIELDS)
        if unknown:
            raise ValueError(f"Layer has no field(s) {sorted(unknown)}; its fields are {list(_FIELDS)}")
        return dataclasses.replace(self, **changes)

    def critical(self, q0: float = 1.0) -> "Layer":
        r"""This layer at its critical point.

        Without bias: :func:`noisyprop_lib.critical_point` at the operating point ``q0``, which sets
        :math:`\sigma_w^2` and, for activations other than rectifiers, also the small
        :math:`\sigma_b^2` that their critical point needs. With bias: the order/chaos boundary
        :func:`noisyprop_lib.order_chaos_boundary` (:math:`\chi_1 = 1` at the variance fixed point)
        for the layer's :math:`\sigma_b^2`.
        """
        if np.all(np.asarray(self.sigma_b2) == 0):
            from .critical_point import critical_point

            cp = critical_point(self.noise, self.activation, q0)
            return self.replace(sigma_w2=cp.sigma_w2, sigma_b2=cp.sigma_b2)
        from .criticality import order_chaos_boundary

        return self.replace(sigma_w2=order_chaos_boundary(self.sigma_b2, self.activation, self.noise))

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(f, getattr(self, f), getattr(other, f)) for f in _FIELDS)

    __hash__ = None  # parameters may be arrays
