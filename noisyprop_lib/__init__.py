"""noisyprop_lib: mean-field theory and simulation of noisy deep networks.

The companion library of the book *Noisy Signal Propagation*. Import it as::

    import noisyprop_lib as npl
    npl.critical_sigma_w2(npl.Dropout(0.6))   # 1.2
    npl.depth_scale(npl.Dropout(0.6))         # 0.96553...
"""
from .activations import (
    GELU,
    Activation,
    Erf,
    LeakyReLU,
    ReLU,
    SiLU,
    Tanh,
    arccos_kernel,
    arccos_kernel_derivative,
    arccos_kernel_excess,
    arccos_kernel_second_derivative,
    bivariate_gaussian_expectation,
    gaussian_expectation,
    get_activation,
)
from .criticality import (
    CorrelationFixedPoint,
    FiniteWidthLogVariance,
    NoCriticalPointError,
    chi1,
    correlation_fixed_point,
    correlation_fixed_point_analysis,
    correlation_fixed_point_slope,
    critical_sigma_w2,
    depth_scale,
    finite_width_log_variance_moments,
    gradient_depth_scale,
    overflow_depth,
    trainable_depth,
    variance_depth_scale,
    variance_fixed_point,
)
from .meanfield import (
    correlation_map,
    correlation_map_slope,
    covariance_map,
    iterate_correlation_map,
    iterate_variance_map,
    variance_map,
    variance_map_slope,
)
from .noise import (
    AdditiveGaussianNoise,
    AdditiveLaplaceNoise,
    Dropout,
    GammaNoise,
    GaussianDropout,
    GaussianNoise,
    LaplaceNoise,
    NoNoise,
    Noise,
    PlainDropout,
    PoissonNoise,
    UniformNoise,
    as_noise,
    keep_prob_from_torch,
)
from .nngp import GPPrediction, gp_regression, nngp_kernel
from .simulate import SimulationResult, correlated_inputs, gaussian_inputs, gradient_norm_ratio, propagate
from . import claims, glue, nngp, plotting, simulate, symbolic  # noqa: E402  (modules the book uses by name)
from . import dln  # noqa: E402  (Part III: diagonal linear networks)

__version__ = "0.1.0"
from ._project import REPOSITORY_URL  # noqa: E402
from . import nn  # noqa: E402  (PyTorch integration: critical_init_, NoisyMLP)
from .data import load_cifar10, load_dataset, load_mnist, train_validation_split  # noqa: E402
from . import data, experiments  # noqa: E402  (real data and the Figure 6 experiments)
from . import seeding  # noqa: E402  (build-wide seed offset and thread count)
from .seeding import book_seed  # noqa: E402
