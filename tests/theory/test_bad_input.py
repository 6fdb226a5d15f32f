"""Invalid input raises a ValueError that names the parameter, the value and the valid range;
boundary-valid input never returns NaN.

Design section 3 (conventions) and section 6 (reliability).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import noisyprop_lib as npl

# (id, call, regex the message must match)
BAD = [
    # noise models
    ("Dropout(0)", lambda: npl.Dropout(0), r"keep_prob must lie in \(0, 1\], got 0\.0"),
    ("Dropout(1.5)", lambda: npl.Dropout(1.5), r"keep_prob must lie in \(0, 1\], got 1\.5"),
    ("Dropout(-0.1)", lambda: npl.Dropout(-0.1), r"keep_prob must lie in \(0, 1\], got -0\.1"),
    ("Dropout(nan)", lambda: npl.Dropout(float("nan")), r"keep_prob must not be NaN, got nan"),
    ("Dropout('0.5')", lambda: npl.Dropout("0.5"), r"keep_prob must be a real number.*got '0\.5'"),
    ("Dropout(True)", lambda: npl.Dropout(True), r"keep_prob must be a real number, got the boolean True"),
    ("Dropout(None)", lambda: npl.Dropout(None), r"keep_prob must be a real number.*got None"),
    ("Dropout(complex)", lambda: npl.Dropout(0.5 + 0j), r"keep_prob must be real, got the complex value"),
    ("Dropout(array with 0)", lambda: npl.Dropout(np.array([0.5, 0.0, 0.7])), r"keep_prob must lie in \(0, 1\], got 1 value\(s\) outside, e\.g\. \[0\.0\]"),
    ("GaussianNoise(-1)", lambda: npl.GaussianNoise(-1), r"std must lie in \[0, inf\), got -1\.0"),
    ("GaussianNoise(inf)", lambda: npl.GaussianNoise(float("inf")), r"std must be finite, got inf"),
    ("GammaNoise(0)", lambda: npl.GammaNoise(0), r"shape must lie in \(0, inf\), got 0\.0"),
    ("PoissonNoise(0)", lambda: npl.PoissonNoise(0), r"rate must lie in \(0, inf\), got 0\.0"),
    ("LaplaceNoise(-1)", lambda: npl.LaplaceNoise(-1), r"scale must lie in \[0, inf\), got -1\.0"),
    ("UniformNoise(inf)", lambda: npl.UniformNoise(float("inf")), r"half_width must be finite, got inf"),
    ("GaussianDropout(0)", lambda: npl.GaussianDropout(0.0), r"keep_prob must lie in \(0, 1\], got 0\.0"),
    ("PlainDropout(1.1)", lambda: npl.PlainDropout(1.1), r"keep_prob must lie in \(0, 1\], got 1\.1"),
    ("AdditiveGaussianNoise(-1)", lambda: npl.AdditiveGaussianNoise(-1.0), r"std must lie in \[0, inf\), got -1\.0"),
    ("AdditiveLaplaceNoise(nan)", lambda: npl.AdditiveLaplaceNoise(float("nan")), r"scale must not be NaN"),
    ("keep_prob_from_torch(1.0)", lambda: npl.keep_prob_from_torch(1.0), r"p \(torch drop probability\) must lie in \[0, 1\), got 1\.0"),
    ("keep_prob_from_torch(-0.1)", lambda: npl.keep_prob_from_torch(-0.1), r"p \(torch drop probability\) must lie in \[0, 1\), got -0\.1"),
    ("from_torch(Dropout(1.0))", lambda: npl.Noise.from_torch(nn.Dropout(1.0)), r"Dropout\(p=1\.0\) drops every unit: keep_prob = 1 - p = 0 is outside \(0, 1\]"),
    ("from_torch(AlphaDropout)", lambda: npl.Noise.from_torch(nn.AlphaDropout(0.1)), r"AlphaDropout is not supported: .*affine"),
    ("sample(dtype=int64)", lambda: npl.Dropout(0.5).sample((3,), dtype=torch.int64), r"dtype must be a floating torch dtype, got torch\.int64"),
    ("sample(array params)", lambda: npl.Dropout(np.array([0.5, 0.6])).sample((3,)), r"sampling needs scalar noise parameters, got Dropout\(keep_prob=<array shape \(2,\)>\)"),
    ("sample(shape -1)", lambda: npl.GaussianNoise(1.0).sample((2, -1)), r"shape must have non-negative entries, got \(2, -1\)"),
    ("moment(-1)", lambda: npl.Dropout(0.5).moment(-1), r"n must be a non-negative integer, got -1"),
    ("moment(2.0)", lambda: npl.Dropout(0.5).moment(2.0), r"n must be a non-negative integer, got 2\.0"),
    ("kappa(additive)", lambda: npl.AdditiveGaussianNoise(1.0).kappa, r"kappa = mu2/mu1\^2 is defined for multiplicative noise only"),
    ("noise='dropout'", lambda: npl.variance_map(1.0, 2.0, noise="dropout"), r"noise must be a noisyprop_lib noise model.*got 'dropout'"),
    ("noise=0.5", lambda: npl.critical_sigma_w2(0.5), r"noise must be a noisyprop_lib noise model.*got 0\.5"),
    # variance map
    ("variance_map(q=-1)", lambda: npl.variance_map(-1, 2), r"q must lie in \[0, inf\), got -1\.0"),
    ("variance_map(sigma_w2=-2)", lambda: npl.variance_map(1, -2), r"sigma_w2 must lie in \[0, inf\), got -2\.0"),
    ("variance_map(sigma_b2=-1)", lambda: npl.variance_map(1, 2, sigma_b2=-1), r"sigma_b2 must lie in \[0, inf\), got -1\.0"),
    ("variance_map(q=1j)", lambda: npl.variance_map(1j, 2), r"q must be real, got the complex value 1j"),
    ("variance_map(q=inf)", lambda: npl.variance_map(float("inf"), 2), r"q must be finite, got inf"),
    ("variance_map(sigma_w2=nan)", lambda: npl.variance_map(1.0, float("nan")), r"sigma_w2 must not be NaN, got nan"),
    ("variance_map(q=[1,-3])", lambda: npl.variance_map([1.0, -3.0], 2.0), r"q must lie in \[0, inf\), got 1 value\(s\) outside, e\.g\. \[-3\.0\]"),
    ("variance_map_slope(q='a')", lambda: npl.variance_map_slope("a", 2.0), r"q must be a real number"),
    ("iterate_variance_map(depth=0)", lambda: npl.iterate_variance_map(1, 0, 2), r"depth must be an integer >= 1, got 0"),
    ("iterate_variance_map(depth=2.5)", lambda: npl.iterate_variance_map(1, 2.5, 2), r"depth must be an integer >= 1, got 2\.5"),
    ("iterate_variance_map(depth=True)", lambda: npl.iterate_variance_map(1, True, 2), r"depth must be an integer >= 1, got True"),
    ("iterate_variance_map(q0=-1)", lambda: npl.iterate_variance_map(-1.0, 3, 2), r"q0 must lie in \[0, inf\), got -1\.0"),
    ("variance_fixed_point(sigma_w2=-1)", lambda: npl.variance_fixed_point(-1.0), r"sigma_w2 must lie in \[0, inf\), got -1\.0"),
    # correlation and covariance maps
    ("correlation_map(c=1.5)", lambda: npl.correlation_map(1.5, 2.0), r"c \(a correlation\) must lie in \[-1, 1\], got \[1\.5\]"),
    ("correlation_map(c=nan)", lambda: npl.correlation_map(float("nan")), r"c \(a correlation\) must lie in \[-1, 1\], got \[nan\]"),
    ("correlation_map(c=-1.01)", lambda: npl.correlation_map(-1.01), r"c \(a correlation\) must lie in \[-1, 1\], got \[-1\.01\]"),
    ("correlation_map(c='0.5')", lambda: npl.correlation_map("0.5"), r"c must be a real number.*got '0\.5'"),
    ("correlation_map(sigma_w2=-1)", lambda: npl.correlation_map(0.5, -1.0), r"sigma_w2 must lie in \[0, inf\), got -1\.0"),
    ("correlation_map(q=-1)", lambda: npl.correlation_map(0.5, 1.0, activation="tanh", q=-1.0), r"q must lie in \[0, inf\), got -1\.0"),
    ("correlation_map(tanh, no sigma_w2)", lambda: npl.correlation_map(0.5, activation="tanh"), r"sigma_w2 is required here"),
    ("correlation_map(zero length)", lambda: npl.correlation_map(0.5, 0.0, 0.0, None, "tanh", q=1.0), r"output variance q\^l is zero.*use q > 0 or sigma_b2 > 0"),
    ("correlation_map(He, additive, no q)", lambda: npl.correlation_map(0.5, 2.0, 0.0, npl.AdditiveGaussianNoise(1.0)), r"no finite stable fixed point.*pass the input variance q"),
    ("correlation_map_slope(c=2)", lambda: npl.correlation_map_slope(2.0), r"c \(a correlation\) must lie in \[-1, 1\], got \[2\.0\]"),
    ("covariance_map(|q_ab| > sqrt(q_a q_b))", lambda: npl.covariance_map(1.0, 4.0, 2.5, 2.0), r"q_ab must satisfy q_ab\^2 <= q_a q_b .*got q_ab = 2\.5 with q_a = 1\.0, q_b = 4\.0"),
    ("covariance_map(q_a=-1)", lambda: npl.covariance_map(-1.0, 1.0, 0.0, 2.0), r"q_a must lie in \[0, inf\), got -1\.0"),
    ("iterate_correlation_map(c0=1.5)", lambda: npl.iterate_correlation_map(1.5, 3), r"c \(a correlation\) must lie in \[-1, 1\]"),
    ("iterate_correlation_map(depth=-3)", lambda: npl.iterate_correlation_map(0.5, -3), r"depth must be an integer >= 1, got -3"),
    # activations
    ("LeakyReLU(1.0)", lambda: npl.LeakyReLU(1.0), r"alpha must lie in \[0, 1\), got 1\.0"),
    ("LeakyReLU(-0.1)", lambda: npl.LeakyReLU(-0.1), r"alpha must lie in \[0, 1\), got -0\.1"),
    ("get_activation('softplusx')", lambda: npl.get_activation("softplusx"), r"activation must be one of \[.*'relu'.*\] or a callable, got 'softplusx'"),
    ("get_activation(3)", lambda: npl.get_activation(3), r"activation must be an Activation, a name or a callable, got 3"),
    ("Activation(order=3)", lambda: npl.Activation(np.tanh, order=3), r"order must be an even integer >= 2, got 3"),
    ("Activation(fn=5)", lambda: npl.Activation(5), r"fn must be callable, got 5"),
    ("arccos_kernel(1.1)", lambda: npl.arccos_kernel(1.1), r"c \(a correlation\) must lie in \[-1, 1\], got \[1\.1\]"),
    ("gaussian_expectation(q=-1)", lambda: npl.gaussian_expectation(np.tanh, -1.0), r"q must lie in \[0, inf\), got -1\.0"),
    ("bivariate(q_b=-1)", lambda: npl.bivariate_gaussian_expectation(np.tanh, np.tanh, 1.0, -1.0, 0.5), r"q_b must lie in \[0, inf\), got -1\.0"),
    ("Activation.torch without torch_fn", lambda: npl.Activation(np.sin).torch(torch.zeros(2)), r"activation 'sin' has no torch implementation; pass torch_fn="),
    # criticality
    ("overflow_depth(sigma_w2=0)", lambda: npl.overflow_depth(0, npl.Dropout(0.6)), r"sigma_w2 must lie in \(0, inf\), got 0\.0"),
    ("overflow_depth(dtype='int32')", lambda: npl.overflow_depth(1.0, dtype="int32"), r"dtype must be a floating type such as 'float32' or 'float64', got 'int32'"),
    ("overflow_depth(dtype='foo')", lambda: npl.overflow_depth(1.0, dtype="foo"), r"dtype must be a floating type .*got 'foo'"),
    ("overflow_depth(tanh)", lambda: npl.overflow_depth(1.0, activation="tanh"), r"overflow_depth uses the exact affine variance map of rectifiers; Activation\(tanh\) is not one"),
    ("overflow_depth(q0=0)", lambda: npl.overflow_depth(1.0, q0=0.0), r"q0 must lie in \(0, inf\), got 0\.0"),
    ("trainable_depth(factor=0)", lambda: npl.trainable_depth(npl.Dropout(0.5), factor=0), r"factor must lie in \(0, inf\), got 0\.0"),
    ("correlation_fixed_point(tanh, no sigma_w2)", lambda: npl.correlation_fixed_point(activation="tanh"), r"sigma_w2 is required: the correlation fixed point depends on it"),
    ("depth_scale(sigma_b2=-1)", lambda: npl.depth_scale(npl.Dropout(0.5), sigma_b2=-1.0), r"sigma_b2 must lie in \[0, inf\), got -1\.0"),
    ("gradient_depth_scale(sigma_w2=nan)", lambda: npl.gradient_depth_scale(float("nan")), r"sigma_w2 must not be NaN"),
    ("critical_sigma_w2(additive Gaussian)", lambda: npl.critical_sigma_w2(npl.AdditiveGaussianNoise(1.0)), r"additive noise, and a ReLU-family network with additive noise has no critical initialisation"),
    ("critical_sigma_w2(additive Laplace)", lambda: npl.critical_sigma_w2(npl.AdditiveLaplaceNoise(0.5)), r"AdditiveLaplaceNoise\(scale=0\.5\) is additive noise.*no fixed point"),
    ("order_chaos_boundary(phi(0) != 0)", lambda: npl.order_chaos_boundary(0.0, lambda x: 1 / (1 + np.exp(-x))), r"phi\(0\) = 0\.5 != 0"),
    ("critical_sigma_w2(tanh needs a bias)", lambda: npl.critical_sigma_w2(None, "tanh"), r"needs a bias variance as well.*critical_point"),
    ("critical_point(q0 = 0)", lambda: npl.critical_point(None, "tanh", q0=0.0), r"q0 must lie in \(0, inf\)"),
    ("critical_point(q0 = nan)", lambda: npl.critical_point(None, "gelu", q0=float("nan")), r"q0 must not be NaN"),
]


@pytest.mark.parametrize("call, match", [(c, m) for _, c, m in BAD], ids=[i for i, _, _ in BAD])
def test_invalid_input_raises_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_at_least_25_distinct_invalid_calls():
    assert len({i for i, _, _ in BAD}) == len(BAD) >= 25


@pytest.mark.parametrize("nz", [npl.AdditiveGaussianNoise(1.0), npl.AdditiveLaplaceNoise(0.5)], ids=repr)
def test_no_critical_point_error_is_a_value_error(nz):
    with pytest.raises(npl.NoCriticalPointError) as info:
        npl.critical_sigma_w2(nz)
    assert isinstance(info.value, ValueError)


def test_from_torch_non_dropout_is_type_error():
    with pytest.raises(TypeError, match="cannot convert Linear to a noise model"):
        npl.Noise.from_torch(nn.Linear(3, 3))


def test_failed_call_leaves_objects_unchanged():
    """Bad input never corrupts state: a noise keeps its parameters after a refused call."""
    d = npl.Dropout(0.5)
    with pytest.raises(ValueError):
        d.sample((3,), dtype=torch.int64)
    with pytest.raises(ValueError):
        npl.variance_map(-1.0, 1.0, noise=d)
    assert d.keep_prob == 0.5 and d.mu2 == 2.0


# ---------------------------------------------------------------------------
# boundary-valid input: no NaN, and the right limits
# ---------------------------------------------------------------------------

BOUNDARY = [
    ("R(1)", lambda: npl.arccos_kernel(1.0), 1.0),
    ("R(-1)", lambda: npl.arccos_kernel(-1.0), 0.0),
    ("R'(1)", lambda: npl.arccos_kernel_derivative(1.0), 1.0),
    ("R'(-1)", lambda: npl.arccos_kernel_derivative(-1.0), 0.0),
    ("R''(1)", lambda: npl.arccos_kernel_second_derivative(1.0), math.inf),
    ("R''(-1)", lambda: npl.arccos_kernel_second_derivative(-1.0), math.inf),
    ("excess(1)", lambda: npl.arccos_kernel_excess(1.0), 0.0),
    ("excess(-1)", lambda: npl.arccos_kernel_excess(-1.0), 1.0),
    ("cmap(1, keep 1)", lambda: npl.correlation_map(1.0, noise=npl.Dropout(1.0)), 1.0),
    ("cmap(-1, keep 1)", lambda: npl.correlation_map(-1.0, noise=npl.Dropout(1.0)), 0.0),
    ("cmap(-1, std 0)", lambda: npl.correlation_map(-1.0, noise=npl.GaussianNoise(0.0)), 0.0),
    ("cmap slope(1, std 0)", lambda: npl.correlation_map_slope(1.0, noise=npl.GaussianNoise(0.0)), 1.0),
    ("cmap slope(-1)", lambda: npl.correlation_map_slope(-1.0, noise=npl.Dropout(0.5)), 0.0),
    ("cmap tanh c=1 q=0 sb>0", lambda: npl.correlation_map(1.0, 1.0, 0.5, None, "tanh", q=0.0), 1.0),
    ("cmap tanh c=-1 q=0 (limit)", lambda: npl.correlation_map(-1.0, 1.0, 0.0, None, "tanh", q=0.0), -1.0),
    # at q = 0 the library takes the limit at q = 1e-12 (documented for second_moment_slope), hence 4e-12
    ("cmap relu+bias c=-1 q=0", lambda: npl.correlation_map(-1.0, 2.0, 0.5, npl.Dropout(0.5), "relu", q=0.0), (1.0, 5e-12)),
    ("cmap slope tanh c=1 q=0", lambda: npl.correlation_map_slope(1.0, 1.0, 0.0, None, "tanh", q=0.0), 1.0),
    ("vmap(q=0)", lambda: npl.variance_map(0.0, 2.0), 0.0),
    ("vmap(q=0, tanh)", lambda: npl.variance_map(0.0, 2.0, 0.1, npl.Dropout(1.0), "tanh"), 0.1),
    ("vmap slope(q=0, tanh)", lambda: npl.variance_map_slope(0.0, 1.0, 0.0, None, "tanh"), (1.0, 5e-12)),  # 1 - 4q at q = 1e-12
    ("vmap slope(q=0, relu)", lambda: npl.variance_map_slope(0.0, 2.0, 0.0, npl.GaussianNoise(0.0)), 1.0),
    ("covariance_map(0, 0, 0)", lambda: npl.covariance_map(0.0, 0.0, 0.0, 2.0, 0.0, npl.Dropout(1.0))[2], 0.0),
    ("covariance_map(q, q, -q)", lambda: npl.covariance_map(2.0, 2.0, -2.0, 2.0)[2], 0.0),
    ("c* (keep 1)", lambda: npl.correlation_fixed_point(npl.Dropout(1.0)), 1.0),
    ("c* (std 0)", lambda: npl.correlation_fixed_point(npl.GaussianNoise(0.0)), 1.0),
    ("chi* (std 0)", lambda: npl.correlation_fixed_point_slope(npl.GaussianNoise(0.0)), 1.0),
    ("xi (keep 1)", lambda: npl.depth_scale(npl.Dropout(1.0)), math.inf),
    ("6 xi (uniform 0)", lambda: npl.trainable_depth(npl.UniformNoise(0.0)), math.inf),
    ("crit (std 0)", lambda: npl.critical_sigma_w2(npl.GaussianNoise(0.0)), 2.0),
    ("crit (additive std 0)", lambda: npl.critical_sigma_w2(npl.AdditiveGaussianNoise(0.0)), 2.0),
    ("crit (keep 1)", lambda: npl.critical_sigma_w2(npl.Dropout(1.0)), 2.0),
    ("overflow at criticality", lambda: npl.overflow_depth(2.0, npl.Dropout(1.0)), math.inf),
    ("xi_q at criticality", lambda: npl.variance_depth_scale(2.0), math.inf),
    ("xi_grad at criticality", lambda: npl.gradient_depth_scale(1.0, 0.0, npl.Dropout(0.5)), math.inf),
    ("q* at criticality", lambda: npl.variance_fixed_point(2.0, 0.0, None, "relu", q0=3.0), 3.0),
    ("q* from q0 = 0", lambda: npl.variance_fixed_point(4.0, 0.0, None, "relu", q0=0.0), 0.0),
    ("q* with sigma_w2 = 0", lambda: npl.variance_fixed_point(0.0, 0.7), 0.7),
    ("moment 4 (keep 1)", lambda: npl.Dropout(1.0).moment(4), 1.0),
    ("moment 3 (std 0)", lambda: npl.GaussianNoise(0.0).moment(3), 1.0),
    ("kappa (keep 1)", lambda: npl.Dropout(1.0).kappa, 1.0),
    ("sample (std 0)", lambda: float(npl.GaussianNoise(0.0).sample((100,)).std()), 0.0),
    ("sample (keep 1)", lambda: float(npl.Dropout(1.0).sample((100,)).min()), 1.0),
    ("generic relu E[phi'^2] at q = 0", lambda: npl.Activation(lambda x: np.maximum(x, 0.0), lambda x: (x > 0) * 1.0).derivative_second_moment(0.0), 0.5),
]


@pytest.mark.parametrize("call, expected", [(c, e) for _, c, e in BOUNDARY], ids=[i for i, _, _ in BOUNDARY])
def test_boundary_valid_input_gives_no_nan(call, expected):
    expected, tol = expected if isinstance(expected, tuple) else (expected, 1e-12)
    out = call()
    assert not math.isnan(out)
    if math.isinf(expected):
        assert out == expected  # with the right sign
    else:
        assert out == pytest.approx(expected, abs=tol)


def test_boundary_arrays_have_no_nan():
    c = np.array([-1.0, -1 + 1e-16, 0.0, 1 - 1e-16, 1.0])
    for f in (npl.arccos_kernel, npl.arccos_kernel_derivative, npl.arccos_kernel_excess):
        assert not np.any(np.isnan(f(c)))
    for nz in (npl.Dropout(np.array([1e-6, 0.5, 1.0])), npl.GaussianNoise(np.array([0.0, 1.0, 999.0]))):
        for f in (npl.correlation_fixed_point, npl.correlation_fixed_point_slope, npl.depth_scale, npl.critical_sigma_w2):
            assert not np.any(np.isnan(f(nz)))
        assert not np.any(np.isnan(npl.correlation_map(c[:, None], noise=nz)))
        assert not np.any(np.isnan(npl.iterate_correlation_map(c[:, None], 5, noise=nz)))
