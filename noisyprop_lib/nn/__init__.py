"""PyTorch integration: noisy layers, the model walker, ``critical_init_`` and its report, diagnostics.

``noisyprop_lib.nn.Dropout`` is a torch module (a layer); ``noisyprop_lib.Dropout`` is the noise law.

Modules: :mod:`~noisyprop_lib.nn.layers` (``NoiseLayer``, ``Dropout``, ``ActivationLayer``),
:mod:`~noisyprop_lib.nn.walk` (``walk_model``), :mod:`~noisyprop_lib.nn.init` (``critical_init_``,
which reads the model's ``torch.fx`` graph: skip connections, functional calls, calibration on data),
``noisyprop_lib.nn.report`` (``InitReport``, ``InitRow``),
:mod:`~noisyprop_lib.nn.mlp` (``NoisyMLP``), :mod:`~noisyprop_lib.nn.residual_mlp` (``NoisyResidualMLP``) and :mod:`~noisyprop_lib.nn.diagnostics`
(``layer_moments``, ``predicted_variances``).
"""
from .diagnostics import LayerMoments, layer_moments, predicted_variances
from .init import NotAChainError, critical_init_
from .report import InitReport, InitRow
from .layers import ActivationLayer, Dropout, NoiseLayer
from .mlp import NoisyMLP
from .residual_mlp import NoisyResidualMLP, ResidualBlock
from .walk import WalkedLayer, walk_model

__all__ = ["critical_init_", "NotAChainError", "InitReport", "InitRow", "NoiseLayer", "Dropout",
           "ActivationLayer", "NoisyMLP", "NoisyResidualMLP", "ResidualBlock", "walk_model", "WalkedLayer", "layer_moments", "LayerMoments",
           "predicted_variances"]
