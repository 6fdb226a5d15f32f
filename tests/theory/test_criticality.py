"""Critical initialisation, the correlation fixed point, depth scales and overflow depth.

Reference: paper 1, sections 3.3, 3.4, 3.6, 3.8, 3.9, 4.6; CLAIMS 5-8, 14-20, 22.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import noisyprop_lib as npl

# ---------------------------------------------------------------------------
# reference tables of section 3.6
# ---------------------------------------------------------------------------

# p, c*, chi(c*), xi_c, 6 xi_c
DROPOUT_TABLE = [
    (0.1, 0.033525, 0.051067, 0.336179, 2.017),
    (0.2, 0.070913, 0.104518, 0.442793, 2.657),
    (0.3, 0.113064, 0.160820, 0.547205, 3.283),
    (0.4, 0.161228, 0.220618, 0.661672, 3.970),
    (0.5, 0.217234, 0.284852, 0.796314, 4.778),
    (0.6, 0.283909, 0.354979, 0.965533, 5.793),
    (0.7, 0.366026, 0.433497, 1.196358, 7.178),
    (0.8, 0.472799, 0.525405, 1.553795, 9.323),
    (0.9, 0.627146, 0.644199, 2.274034, 13.644),
    (0.95, 0.744817, 0.729090, 3.164978, 18.990),
    (0.99, 0.902933, 0.850004, 6.153327, 36.920),
]

# sigma_eps, mu2, critical sigma_w2, c*, chi(c*), xi_c
GAUSSIAN_TABLE = [
    (0.10, 1.0100, 1.980198, 0.903536, 0.850532, 6.176932),
    (0.25, 1.0625, 1.882353, 0.720381, 0.711560, 2.938627),
    (0.40, 1.1600, 1.724138, 0.560146, 0.594185, 1.920993),
    (0.55, 1.3025, 1.535509, 0.434762, 0.493795, 1.417162),
    (0.70, 1.4900, 1.342282, 0.340332, 0.409758, 1.120839),
    (0.85, 1.7225, 1.161103, 0.269920, 0.340782, 0.928926),
    (1.00, 2.0000, 1.000000, 0.217234, 0.284852, 0.796314),
    (1.15, 2.3225, 0.861141, 0.177412, 0.239730, 0.700161),
    (1.30, 2.6900, 0.743494, 0.146918, 0.203322, 0.627760),
    (1.45, 3.1025, 0.644641, 0.123239, 0.173837, 0.571546),
    (1.60, 3.5600, 0.561798, 0.104592, 0.149818, 0.526779),
    (1.75, 4.0625, 0.492308, 0.089710, 0.130115, 0.490356),
    (1.90, 4.6100, 0.433839, 0.077681, 0.113829, 0.460181),
    (2.00, 5.0000, 0.400000, 0.070913, 0.104518, 0.442793),
]


@pytest.mark.parametrize("p, cstar, chi, xi, six_xi", DROPOUT_TABLE)
def test_claim15_dropout_table(p, cstar, chi, xi, six_xi):
    nz = npl.Dropout(p)
    assert npl.critical_sigma_w2(nz) == pytest.approx(2 * p, abs=1e-12)
    assert npl.correlation_fixed_point(nz) == pytest.approx(cstar, abs=1e-6)
    assert npl.correlation_fixed_point_slope(nz) == pytest.approx(chi, abs=1e-6)
    assert npl.depth_scale(nz) == pytest.approx(xi, rel=1e-5)
    # CLAIM 16: the trainable depth 6 xi_c, tol 1e-3
    assert npl.trainable_depth(nz) == pytest.approx(six_xi, abs=1e-3)


@pytest.mark.parametrize("std, mu2, crit, cstar, chi, xi", GAUSSIAN_TABLE)
def test_claim15_gaussian_table(std, mu2, crit, cstar, chi, xi):
    nz = npl.GaussianNoise(std)
    assert nz.mu2 == pytest.approx(mu2, abs=1e-12)
    assert npl.critical_sigma_w2(nz) == pytest.approx(2 / (1 + std**2), abs=1e-12)
    assert npl.critical_sigma_w2(nz) == pytest.approx(crit, abs=1e-6)  # printed to 6 decimals
    assert npl.correlation_fixed_point(nz) == pytest.approx(cstar, abs=1e-6)
    assert npl.correlation_fixed_point_slope(nz) == pytest.approx(chi, abs=1e-6)
    assert npl.depth_scale(nz) == pytest.approx(xi, rel=1e-5)


def test_tables_vectorised_over_arrays():
    p = np.array([row[0] for row in DROPOUT_TABLE])
    fp = npl.correlation_fixed_point_analysis(npl.Dropout(p))
    np.testing.assert_allclose(fp.c_star, [row[1] for row in DROPOUT_TABLE], atol=1e-6)
    np.testing.assert_allclose(fp.chi, [row[2] for row in DROPOUT_TABLE], atol=1e-6)
    np.testing.assert_allclose(fp.depth_scale, [row[3] for row in DROPOUT_TABLE], rtol=1e-5)
    # the three separate functions give the same numbers
    np.testing.assert_array_equal(fp.c_star, npl.correlation_fixed_point(npl.Dropout(p)))
    np.testing.assert_array_equal(fp.chi, npl.correlation_fixed_point_slope(npl.Dropout(p)))
    np.testing.assert_array_equal(fp.depth_scale, npl.depth_scale(npl.Dropout(p)))
    np.testing.assert_allclose(npl.trainable_depth(npl.Dropout(p)), 6 * fp.depth_scale, rtol=1e-15)
    np.testing.assert_allclose(npl.trainable_depth(npl.Dropout(p), factor=2.5), 2.5 * fp.depth_scale, rtol=1e-15)


def test_readme_examples():
    assert abs(npl.critical_sigma_w2(npl.Dropout(0.6)) - 1.2) <= 1e-12
    assert npl.depth_scale(npl.Dropout(0.6)) == pytest.approx(0.96553, abs=1e-5)


def test_claim17_only_mu2_matters():
    laws = [npl.Dropout(0.5), npl.GaussianNoise(1.0), npl.PoissonNoise(1.0)]
    cs = [npl.correlation_fixed_point(n) for n in laws]
    xis = [npl.depth_scale(n) for n in laws]
    for c, x in zip(cs, xis):
        assert c == pytest.approx(0.217234, abs=1e-6)
        assert x == pytest.approx(0.796314, rel=1e-5)
        assert abs(c - cs[0]) <= 1e-9 and abs(x - xis[0]) <= 1e-9
    p = np.linspace(0.01, 1.0, 100)
    for f in (npl.correlation_fixed_point, npl.correlation_fixed_point_slope):
        np.testing.assert_allclose(f(npl.GaussianDropout(p)), f(npl.Dropout(p)), rtol=0, atol=1e-9)
    xi_g, xi_d = npl.depth_scale(npl.GaussianDropout(p[:-1])), npl.depth_scale(npl.Dropout(p[:-1]))
    np.testing.assert_allclose(xi_g, xi_d, rtol=1e-9)
    # and a Gaussian with variance (1-p)/p
    np.testing.assert_allclose(npl.depth_scale(npl.GaussianNoise(np.sqrt((1 - p[:-1]) / p[:-1]))), xi_d, rtol=1e-9)


def test_claim22_noiseless_edge_of_chaos():
    assert npl.critical_sigma_w2(npl.AdditiveGaussianNoise(0.0)) == 2.0  # zero-variance additive noise is no noise
    for nz in (None, npl.NoNoise(), npl.Dropout(1.0), npl.GaussianNoise(0.0), npl.LaplaceNoise(0.0)):
        assert npl.correlation_fixed_point(nz) == 1.0
        assert npl.correlation_fixed_point_slope(nz) == 1.0
        assert npl.depth_scale(nz) == math.inf
        assert npl.critical_sigma_w2(nz) == 2.0
    assert npl.correlation_fixed_point_slope(npl.Dropout(0.5)) == pytest.approx(0.284852, abs=1e-6)
    assert npl.correlation_fixed_point_slope(npl.Dropout(0.1)) == pytest.approx(0.051067, abs=1e-6)


# ---------------------------------------------------------------------------
# Table 1: critical weight variance for every law
# ---------------------------------------------------------------------------

TABLE1 = [
    (npl.NoNoise(), 2.0),
    (npl.Dropout(0.6), 1.2),
    (npl.Dropout(0.25), 0.5),
    (npl.PlainDropout(0.5), 2.0 / 0.5),  # mu2 = p for non-inverted dropout
    (npl.GaussianNoise(0.25), 2 / 1.0625),
    (npl.GaussianNoise(2.0), 0.4),
    (npl.GaussianDropout(0.6), 1.2),
    (npl.GammaNoise(2.0), 2 / 1.5),
    (npl.UniformNoise(0.6), 2 / (1 + 0.36 / 3)),
    (npl.LaplaceNoise(0.5), 2 / (1 + 2 * 0.25)),
    (npl.PoissonNoise(), 1.0),
    (npl.PoissonNoise(4.0), 2 / 1.25),
]


@pytest.mark.parametrize("nz, crit", TABLE1, ids=[repr(n) for n, _ in TABLE1])
def test_table1_critical_sigma_w2(nz, crit):
    got = npl.critical_sigma_w2(nz)
    assert abs(got - crit) <= 1e-12
    assert isinstance(got, float)
    # it is the point where the variance map is the identity
    assert npl.variance_map_slope(1.0, got, 0.0, nz) == pytest.approx(1.0, abs=1e-14)
    assert npl.variance_depth_scale(got, 0.0, nz) == math.inf or abs(npl.variance_depth_scale(got, 0.0, nz)) > 1e13
    assert npl.gradient_depth_scale(got, 0.0, nz) == math.inf or abs(npl.gradient_depth_scale(got, 0.0, nz)) > 1e13


def test_critical_sigma_w2_vectorised():
    p = np.linspace(0.05, 1.0, 20)
    np.testing.assert_allclose(npl.critical_sigma_w2(npl.Dropout(p)), 2 * p, rtol=1e-15)
    s = np.linspace(0.0, 3.0, 13)
    np.testing.assert_allclose(npl.critical_sigma_w2(npl.GaussianNoise(s)), 2 / (1 + s**2), rtol=1e-15)


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("nz", [None, npl.Dropout(0.6), npl.GaussianNoise(0.5)], ids=repr)
def test_leaky_relu_critical_sigma_w2(alpha, nz):
    """He et al. (2015) with noise: sigma_w2 = 2/(mu2 (1 + alpha^2))."""
    mu2 = npl.as_noise(nz).mu2
    crit = npl.critical_sigma_w2(nz, npl.LeakyReLU(alpha))
    assert abs(crit - 2 / (mu2 * (1 + alpha**2))) <= 1e-12
    q = np.array([0.1, 1.0, 10.0])
    np.testing.assert_allclose(npl.variance_map(q, crit, 0.0, nz, npl.LeakyReLU(alpha)), q, rtol=1e-14)


def test_critical_sigma_w2_smooth_activations():
    """A smooth activation's critical point needs a bias: the weight variance alone is refused, with the reason."""
    for nz in (None, npl.Dropout(0.5), npl.GaussianNoise(1.0)):
        for act in ("tanh", "erf", "gelu", "silu"):
            with pytest.raises(ValueError, match=r"needs a bias variance as well") as info:
                npl.critical_sigma_w2(nz, act)
            cp = npl.critical_point(nz, act)
            assert f"{cp.sigma_w2:.6f}".rstrip("0") in str(info.value)
    with pytest.raises(ValueError, match=r"phi\(0\) = 0.5 != 0"):
        npl.order_chaos_boundary(0.0, lambda x: 1 / (1 + np.exp(-x)))


@pytest.mark.parametrize("nz", [npl.AdditiveGaussianNoise(1.0), npl.AdditiveGaussianNoise(1e-6), npl.AdditiveLaplaceNoise(0.5)], ids=repr)
@pytest.mark.parametrize("act", ["relu", npl.LeakyReLU(0.1)], ids=["relu", "leaky"])
def test_additive_noise_has_no_critical_point(nz, act):
    """Section 3.3 / CLAIM 5: no (sigma_w2, sigma_b2) is critical; the error explains why."""
    assert issubclass(npl.NoCriticalPointError, ValueError)
    with pytest.raises(npl.NoCriticalPointError) as info:
        npl.critical_sigma_w2(nz, act)
    msg = str(info.value)
    assert repr(nz) in msg
    assert "additive" in msg and "no critical" in msg
    assert "slope" in msg and "fixed point" in msg and "grows linearly" in msg


def test_additive_noise_with_smooth_activation_refused():
    with pytest.raises(ValueError, match="additive noise"):
        npl.critical_sigma_w2(npl.AdditiveGaussianNoise(1.0), "tanh")


# ---------------------------------------------------------------------------
# overflow / underflow depth
# ---------------------------------------------------------------------------

SECTION_4_6 = [(0.1, 35.1), (0.3, 63.0), (0.6, 126.0), (0.9, 303.6), (1.1, 1003.7), (1.3, 1108.4), (1.5, 397.6), (1.8, 218.8), (2.1, 158.5), (2.5, 120.9)]


@pytest.mark.parametrize("sigma_w2, depth", SECTION_4_6)
def test_claim7_overflow_depth_dropout_06(sigma_w2, depth):
    """CLAIM 7: L* = ln K/|ln(sigma_w2/1.2)| for float32 (overflow above 1.2, underflow below), q0 = 1."""
    assert npl.overflow_depth(sigma_w2, npl.Dropout(0.6)) == pytest.approx(depth, abs=0.1)


def test_section_4_6_simulated_depths():
    """Figure 6(a): depth per sigma_w2 is min(1000, floor(1.1 L*))."""
    sw = np.array([0.1, 0.6, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5, 2.0, 2.5])
    depth = np.minimum(1000, np.floor(1.1 * npl.overflow_depth(sw, npl.Dropout(0.6))))
    np.testing.assert_array_equal(depth, [38, 138, 333, 526, 1000, 1000, 1000, 437, 191, 132])


@pytest.mark.parametrize("p, depth", [(0.5, 128.0), (0.6, 173.7), (0.8, 397.6), (0.9, 842.1)])
def test_claim8_he_init_with_dropout_overflows(p, depth):
    assert npl.overflow_depth(2.0, npl.Dropout(p)) == pytest.approx(depth, abs=0.1)
    assert npl.overflow_depth(2.0, npl.Dropout(p)) == pytest.approx(math.log(float(np.finfo(np.float32).max)) / math.log(1 / p), rel=1e-12)


def test_overflow_depth_general_forms():
    # at criticality the variance never leaves the range
    assert npl.overflow_depth(1.2, npl.Dropout(0.6)) == math.inf
    assert npl.overflow_depth(2.0) == math.inf
    # other dtypes and inputs
    assert npl.overflow_depth(4.0, dtype="float64") == pytest.approx(math.log(float(np.finfo(np.float64).max)) / math.log(2), rel=1e-14)
    assert npl.overflow_depth(4.0, dtype="float16") == pytest.approx(math.log(65504.0) / math.log(2), rel=1e-14)
    assert npl.overflow_depth(1.0, q0=4.0) == pytest.approx(math.log(float(np.finfo(np.float32).tiny) / 4) / math.log(0.5), rel=1e-14)
    # with a bias the affine map is solved exactly: q^L = q0 r^L + beta (r^L - 1)/(r - 1) = K
    sw, sb, nz = 3.0, 0.5, npl.Dropout(0.8)
    L = npl.overflow_depth(sw, nz, sigma_b2=sb)
    r = sw * nz.mu2 / 2
    qL = math.exp(L * math.log(r)) + sb * (math.exp(L * math.log(r)) - 1) / (r - 1)
    assert qL == pytest.approx(float(np.finfo(np.float32).max), rel=1e-10)
    # additive noise at He grows linearly: q0 + L (2 var) = K
    assert npl.overflow_depth(2.0, npl.AdditiveGaussianNoise(1.0)) == pytest.approx((float(np.finfo(np.float32).max) - 1) / 2, rel=1e-14)
    # below He the variance settles at q* = beta/(1 - r) inside the range: never underflows
    assert npl.overflow_depth(1.0, npl.AdditiveGaussianNoise(1.0)) == math.inf
    assert npl.overflow_depth(1.0, sigma_b2=1e-3) == math.inf
    # vectorised
    assert npl.overflow_depth(np.array([1.0, 2.0, 3.0]), npl.Dropout(np.array([[0.5], [1.0]]))).shape == (2, 3)


# ---------------------------------------------------------------------------
# structure of the fixed point: uniqueness, bounds, monotonicity, accuracy
# ---------------------------------------------------------------------------

MU2_GRID = np.geomspace(1.0, 100.0, 2001)[1:]  # 2000 log-spaced values in (1, 100]


def test_claim14_unique_fixed_point():
    """g(c) = R(c)/mu2 - c changes sign exactly once on a 10 001-point grid of [-1, 1], at c* in (0, 1)."""
    c = np.linspace(-1.0, 1.0, 10_001)
    r = npl.arccos_kernel(c)
    cstar = npl.correlation_fixed_point(npl.Dropout(1 / MU2_GRID))
    for block in np.array_split(np.arange(MU2_GRID.size), 8):
        mu2 = MU2_GRID[block, None]
        g = r[None, :] / mu2 - c[None, :]
        s = np.sign(g)
        assert np.all(s != 0)
        changes = np.sum(s[:, 1:] != s[:, :-1], axis=1)
        assert np.all(changes == 1)
        # the sign change brackets the library's root
        k = np.argmax(s[:, 1:] != s[:, :-1], axis=1)
        assert np.all((c[k] <= cstar[block]) & (cstar[block] <= c[k + 1]))
    assert np.all((cstar > 0) & (cstar < 1))
    chi = npl.correlation_fixed_point_slope(npl.Dropout(1 / MU2_GRID))
    assert np.all((chi > 0) & (chi < 1))  # stable


def test_claim18_bounds_and_claim19_monotonicity():
    nz = npl.GaussianNoise(np.sqrt(MU2_GRID - 1))
    fp = npl.correlation_fixed_point_analysis(nz)
    assert np.all((fp.chi > 1 / (2 * MU2_GRID)) & (fp.chi < 1 / MU2_GRID))
    assert np.all((fp.depth_scale > 1 / np.log(2 * MU2_GRID)) & (fp.depth_scale < 1 / np.log(MU2_GRID)))
    assert np.all(np.diff(fp.depth_scale) < 0)
    assert np.all(np.diff(fp.c_star) < 0)
    assert np.all(np.diff(fp.chi) < 0)


def test_fixed_point_residual_over_whole_range():
    mu2 = np.concatenate([1 + np.geomspace(1e-12, 1, 400), np.geomspace(2, 1e6, 400)])
    fp = npl.correlation_fixed_point_analysis(npl.GaussianNoise(np.sqrt(mu2 - 1)))
    c = fp.c_star
    # residual relative to c*: a few ulp (the evaluation of R(c)/mu2 - c itself rounds by ~3 ulp)
    res = np.abs(npl.arccos_kernel(c) / mu2 - c)
    assert np.all(res <= 8e-16 * c)
    # chi(c*) is the c-map slope there, and xi = -1/ln chi
    np.testing.assert_allclose(fp.chi, npl.arccos_kernel_derivative(c) / mu2, rtol=1e-13)
    # xi = -1/ln chi (checked where rounding chi to a double does not dominate; the high-precision
    # test below covers chi -> 1)
    far = fp.chi < 0.99
    assert far.sum() > 400
    np.testing.assert_allclose(fp.depth_scale[far], -1 / np.log(fp.chi[far]), rtol=1e-13)


def _mp_root(delta):
    """c* and 1 - c* to 40 digits for mu2 = 1 + delta (delta an exact double), by bisection in e = 1 - c."""
    mpmath.mp.dps = 40
    mu2 = 1 + mpmath.mpf(delta)

    def h(e):
        c = 1 - e
        return (mpmath.sqrt(1 - c * c) + (mpmath.pi - mpmath.acos(c)) * c) / mpmath.pi / mu2 - c

    lo, hi = mpmath.mpf(0), mpmath.mpf(1)
    # bisection bracket then polish: g(e) changes sign between 0 (< 0) and 1 (> 0)
    for _ in range(200):
        mid = (lo + hi) / 2
        if h(mid) < 0:
            lo = mid
        else:
            hi = mid
    e = (lo + hi) / 2
    return 1 - e, e


@pytest.mark.parametrize("delta", [1e-12, 1e-9, 1e-6, 1e-3, 0.1, 1.0, 99.0, 1e6 - 1])
def test_fixed_point_against_high_precision(delta):
    """c* and 1 - c* to relative 1e-13 against 40-digit bisection, for mu2 = 1 + delta."""
    nz = npl.GaussianNoise(math.sqrt(delta))
    d = float(nz.relative_variance)  # the exact double delta = mu2 - 1 the library solves for
    c_ref, e_ref = _mp_root(d)
    c = npl.correlation_fixed_point(nz)
    assert abs(c - float(c_ref)) <= 1e-13 * float(c_ref)
    # 1 - c* keeps its relative precision as delta -> 0 (up to the rounding of c itself)
    assert abs((1 - c) - float(e_ref)) <= 1e-13 * float(e_ref) + 1.2e-16
    chi_ref = (mpmath.pi - mpmath.acos(c_ref)) / (mpmath.pi * (1 + mpmath.mpf(d)))
    assert npl.correlation_fixed_point_slope(nz) == pytest.approx(float(chi_ref), rel=1e-13)
    assert npl.depth_scale(nz) == pytest.approx(float(-1 / mpmath.log(chi_ref)), rel=1e-12)


def test_claim20_small_noise_asymptotics():
    """xi_c (mu2 - 1)^(1/3) -> (pi/sqrt 2)(2 sqrt 2/(3 pi))^(1/3) = 1.4871: within 1 % at 1e-5, 2 % at 1e-4."""
    limit = math.pi / math.sqrt(2) * (2 * math.sqrt(2) / (3 * math.pi)) ** (1 / 3)
    # CLAIM 20 prints 1.4871; the expression evaluates to 1.48728 (section 3.6: "about 1.487")
    assert limit == pytest.approx(1.48728, abs=1e-5)
    ratios = {}
    for delta in (1e-4, 1e-5, 1e-8, 1e-11):
        xi = npl.depth_scale(npl.GaussianNoise(math.sqrt(delta)))
        ratios[delta] = xi * delta ** (1 / 3) / limit
    assert abs(ratios[1e-4] - 1) < 0.02
    assert abs(ratios[1e-5] - 1) < 0.01
    assert npl.depth_scale(npl.GaussianNoise(math.sqrt(1e-5))) == pytest.approx(68.50, abs=0.01)
    # the relative error shrinks as delta -> 0 (like delta^(1/3))
    errs = [abs(ratios[d] - 1) for d in (1e-4, 1e-5, 1e-8, 1e-11)]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    # 1 - c* ~ (3 pi delta/(2 sqrt 2))^(2/3)
    for delta in (1e-8, 1e-11):
        e = 1 - npl.correlation_fixed_point(npl.GaussianNoise(math.sqrt(delta)))
        assert e / (3 * math.pi * delta / (2 * math.sqrt(2))) ** (2 / 3) == pytest.approx(1, abs=2 * delta ** (1 / 3))
    # large noise: xi ~ 1/ln(2 mu2)
    assert npl.depth_scale(npl.Dropout(1e-6)) * math.log(2e6) == pytest.approx(1, abs=0.01)


# ---------------------------------------------------------------------------
# other depth scales and the general (quadrature) path
# ---------------------------------------------------------------------------


def test_variance_and_gradient_depth_scales_relu():
    for sw, nz in [(1.0, None), (1.5, npl.Dropout(0.6)), (3.0, npl.GaussianNoise(0.5))]:
        r = sw * npl.as_noise(nz).mu2 / 2
        assert npl.variance_depth_scale(sw, 0.0, nz) == pytest.approx(-1 / math.log(r), rel=1e-14)
        assert npl.gradient_depth_scale(sw, 0.0, nz) == pytest.approx(-1 / math.log(r), rel=1e-14)
    # +inf exactly at criticality (not -1/(+0.0) = -inf); negative (an e-folding growth depth) above it
    assert npl.variance_depth_scale(2.0) == math.inf
    assert npl.gradient_depth_scale(1.0, 0.0, npl.Dropout(0.5)) == math.inf
    assert npl.variance_depth_scale(4.0) == pytest.approx(-1 / math.log(2), rel=1e-15)
    assert npl.variance_depth_scale(0.0) == 0.0
    # chi_1: the c-map slope at c = 1 (noiseless: sigma_w2 E[phi'^2] at criticality)
    assert npl.chi1(2.0) == 1.0
    assert npl.chi1(1.2, 0.0, npl.Dropout(0.6)) == pytest.approx(0.6, rel=1e-14)


def test_general_path_fixed_point_is_self_consistent():
    """tanh/erf with bias: c* is a fixed point of the c-map at the variance fixed point, chi its slope."""
    for act, sw, sb, nz in [("erf", 2.0, 0.1, None), ("tanh", 1.5, 0.05, npl.Dropout(0.8)), ("erf", 1.0, 0.5, npl.GaussianNoise(0.3))]:
        fp = npl.correlation_fixed_point_analysis(nz, act, sw, sb)
        assert 0 < fp.c_star < 1
        assert npl.correlation_map(fp.c_star, sw, sb, nz, act) == pytest.approx(fp.c_star, abs=1e-12)
        assert fp.chi == pytest.approx(npl.correlation_map_slope(fp.c_star, sw, sb, nz, act), rel=1e-12)
        assert 0 < fp.chi < 1
        assert fp.depth_scale == pytest.approx(-1 / math.log(fp.chi), rel=1e-12)


def test_relu_with_bias_takes_general_path():
    """sigma_b2 > 0: c* depends on sigma_w2 and is the limit of the iterated map."""
    nz = npl.Dropout(0.8)
    cstar = npl.correlation_fixed_point(nz, "relu", 1.0, 0.2)
    c = npl.iterate_correlation_map(0.0, 200, 1.0, 0.2, nz)
    assert cstar == pytest.approx(c[-1], abs=1e-12)
    assert npl.correlation_map(cstar, 1.0, 0.2, nz) == pytest.approx(cstar, abs=1e-13)
    assert cstar > npl.correlation_fixed_point(nz)  # the bias adds a common component


def test_tanh_chaotic_phase_has_zero_fixed_point():
    """Noiseless tanh, sigma_b2 = 0, sigma_w2 = 2 (chaotic): by symmetry c* = 0 and chi(0) > ... < 1 at c* = 0."""
    c = npl.correlation_fixed_point(None, "tanh", 2.0)
    assert abs(c) < 1e-12
    assert npl.chi1(2.0, 0.0, None, "tanh") > 1  # chaotic: c = 1 is unstable


@pytest.mark.parametrize("noise", [None, npl.Dropout(0.7), npl.AdditiveGaussianNoise(0.5)], ids=repr)
def test_chi1_one_dimensional_form_equals_the_general_slope_at_c1(noise):
    sw = np.array([0.8, 1.5, 3.0])[:, None]
    sb = np.array([0.05, 0.5])[None, :]
    one_d = npl.chi1(sw, sb, noise, "tanh")
    two_d = npl.correlation_map_slope(1.0, sw, sb, noise, "tanh")
    np.testing.assert_allclose(one_d, two_d, rtol=1e-10)
