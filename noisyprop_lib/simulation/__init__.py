"""Simulation (torch): Monte Carlo of deep noisy networks, forward and backward, on CPU or GPU.

* :mod:`~noisyprop_lib.simulation.forward`: :func:`propagate`, the forward Monte Carlo engine;
* :mod:`~noisyprop_lib.simulation.backward`: :func:`gradient_norm_ratio`, backpropagated gradient norms;
* :mod:`~noisyprop_lib.simulation.residual`: :func:`propagate_residual`, residual networks with noise in the branch;
* :mod:`~noisyprop_lib.simulation.inputs`: :func:`gaussian_inputs`, :func:`correlated_inputs`;
* :mod:`~noisyprop_lib.simulation.result`: :class:`SimulationResult`, what a simulation records;
* ``_backend`` (devices, generators, dtypes) and ``_kernels`` (the per-layer kernels) are internal.
"""
from ._backend import make_generator, resolve_device
from .backward import gradient_norm_ratio
from .forward import propagate
from .inputs import correlated_inputs, gaussian_inputs
from .residual import propagate_residual
from .result import SimulationResult

__all__ = ["SimulationResult", "propagate", "propagate_residual", "gradient_norm_ratio", "gaussian_inputs", "correlated_inputs",
           "resolve_device", "make_generator"]
