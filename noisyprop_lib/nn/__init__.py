"""PyTorch integration: noisy layers, the model walker, ``critical_init_`` and its report.

``noisyprop_lib.nn.Dropout`` is a torch module (a layer); ``noisyprop_lib.Dropout`` is the noise law.
"""
from ._nn import (
    ActivationLayer,
    Dropout,
    InitReport,
    InitRow,
    NoiseLayer,
    NoisyMLP,
    NotAChainError,
    critical_init_,
)

__all__ = ["critical_init_", "NotAChainError", "InitReport", "InitRow", "NoiseLayer", "Dropout",
           "ActivationLayer", "NoisyMLP"]
