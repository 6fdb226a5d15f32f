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
from ._base import ADDITIVE, MULTIPLICATIVE, Dropout, NoNoise, Noise, NotANoiseModuleError, as_noise, keep_prob_from_torch
from .laws import (
    AdditiveGaussianNoise,
    AdditiveLaplaceNoise,
    GammaNoise,
    GaussianDropout,
    GaussianNoise,
    LaplaceNoise,
    PlainDropout,
    PoissonNoise,
    UniformNoise,
)

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
