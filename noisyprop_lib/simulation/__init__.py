"""Simulation (torch): Monte Carlo of deep noisy networks, forward and backward, on CPU or GPU."""
from .forward import (
    SimulationResult,
    correlated_inputs,
    gaussian_inputs,
    gradient_norm_ratio,
    make_generator,
    propagate,
    resolve_device,
)

__all__ = ["SimulationResult", "propagate", "gradient_norm_ratio", "gaussian_inputs", "correlated_inputs",
           "resolve_device", "make_generator"]
