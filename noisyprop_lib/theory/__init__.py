"""Theory: the mean-field description of noisy networks (numpy and scipy; no torch).

Noise laws and their moments, activations and Gaussian expectations, the variance and correlation
maps, criticality and depth scales, finite-width corrections, noisy NNGP kernels, residual blocks. The symbolic
derivations (sympy) live in :mod:`noisyprop_lib.theory.symbolic`, imported on demand.
"""
from .activations import (
    ELU,
    GELU,
    Activation,
    Erf,
    LeakyReLU,
    ReLU,
    SiLU,
    Tanh,
    get_activation,
)
from .arccos import arccos_kernel, arccos_kernel_derivative, arccos_kernel_excess, arccos_kernel_second_derivative
from .gauss import bivariate_gaussian_expectation, gaussian_expectation
from .criticality import (
    CorrelationFixedPoint,
    NoCriticalPointError,
    chi1,
    correlation_fixed_point,
    correlation_fixed_point_analysis,
    correlation_fixed_point_slope,
    critical_sigma_w2,
    critical_point,
    CriticalPoint,
    depth_scale,
    gradient_depth_scale,
    order_chaos_boundary,
    trainable_depth,
    variance_depth_scale,
)
from .finite_width import FiniteWidthLogVariance, finite_width_log_variance_moments, overflow_depth
from .meanfield import (
    correlation_map,
    correlation_map_slope,
    covariance_map,
    iterate_correlation_map,
    iterate_variance_map,
    variance_fixed_point,
    variance_map,
    variance_map_slope,
)
from .droppath import DropPathGrowth, droppath_branch_gain, droppath_correlation_samples, droppath_growth
from .residual import (
    ResidualCorrelationDepthScale,
    iterate_residual_maps,
    residual_branch_scale,
    residual_correlation_depth_scale,
    residual_correlation_map,
    residual_variance_map,
)
from .spec import Layer
from .estimate import DepthScaleFit, PaperDepthScaleFit, fit_depth_scale, fit_depth_scale_paper, fit_on_windows
from .nngp import GPPrediction, gp_regression, nngp_kernel
from .noise import (
    ADDITIVE,
    MULTIPLICATIVE,
    AdditiveGaussianNoise,
    AdditiveLaplaceNoise,
    Dropout,
    GammaNoise,
    GaussianDropout,
    GaussianNoise,
    LaplaceNoise,
    NoNoise,
    Noise,
    NotANoiseModuleError,
    PlainDropout,
    PoissonNoise,
    UniformNoise,
    as_noise,
    keep_prob_from_torch,
)

__all__ = [
    # estimators of depth scales from Monte Carlo trajectories
    "DepthScaleFit", "PaperDepthScaleFit", "fit_depth_scale", "fit_depth_scale_paper", "fit_on_windows",
    # the layer specification
    "Layer",
    # noise laws
    "Noise", "NoNoise", "Dropout", "PlainDropout", "GaussianDropout", "GaussianNoise", "LaplaceNoise",
    "GammaNoise", "UniformNoise", "PoissonNoise", "AdditiveGaussianNoise", "AdditiveLaplaceNoise",
    "as_noise", "keep_prob_from_torch", "NotANoiseModuleError", "MULTIPLICATIVE", "ADDITIVE",
    # activations and Gaussian expectations
    "Activation", "LeakyReLU", "ReLU", "Tanh", "Erf", "GELU", "SiLU", "ELU", "get_activation",
    "arccos_kernel", "arccos_kernel_derivative", "arccos_kernel_second_derivative", "arccos_kernel_excess",
    "gaussian_expectation", "bivariate_gaussian_expectation",
    # maps
    "variance_map", "variance_map_slope", "covariance_map", "correlation_map", "correlation_map_slope",
    "iterate_variance_map", "iterate_correlation_map",
    # criticality and depth scales
    "NoCriticalPointError", "critical_sigma_w2", "critical_point", "CriticalPoint", "variance_fixed_point", "chi1", "correlation_fixed_point",
    "correlation_fixed_point_slope", "correlation_fixed_point_analysis", "CorrelationFixedPoint",
    "depth_scale", "variance_depth_scale", "gradient_depth_scale", "trainable_depth", "order_chaos_boundary",
    # finite width
    "overflow_depth", "FiniteWidthLogVariance", "finite_width_log_variance_moments",
    # NNGP
    "nngp_kernel", "gp_regression", "GPPrediction",
    # residual networks with noise in the branch (our extension)
    "residual_variance_map", "residual_correlation_map", "iterate_residual_maps", "DropPathGrowth", "droppath_branch_gain", "droppath_growth", "droppath_correlation_samples", "residual_branch_scale",
    "residual_correlation_depth_scale", "ResidualCorrelationDepthScale",
]


def __getattr__(name):
    if name == "symbolic":  # sympy is heavy: import the derivations only when asked for
        import importlib

        return importlib.import_module(".symbolic", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
