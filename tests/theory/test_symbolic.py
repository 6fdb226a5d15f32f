"""The sympy helpers, and the series the numerics rely on.

Reference: paper 1, sections 3.2-3.5; CLAIMS 4, 5, 11, 12.
"""
from __future__ import annotations


import numpy as np
import pytest
import sympy as sp

import noisyprop_lib as npl
from noisyprop_lib.theory import symbolic as S
from noisyprop_lib.theory.activations import _EXCESS_SERIES, _excess_from_eps
from noisyprop_lib.theory._rectifier import _excess_eps


def _same(a, b) -> bool:
    return sp.simplify(sp.sympify(a) - sp.sympify(b)) == 0


def test_relu_moments():
    assert _same(S.relu_second_moment(), S.q / 2)
    assert _same(S.relu_derivative_second_moment(), sp.Rational(1, 2))
    assert _same(S.leaky_relu_second_moment(), (1 + S.alpha**2) * S.q / 2)
    # and they are not trivially equal to something else
    assert not _same(S.relu_second_moment(), S.q)


def test_gaussian_expectation_helper():
    assert _same(S.gaussian_expectation_sym(S.z**2), 1)
    assert _same(S.gaussian_expectation_sym(S.z**4), 3)
    assert _same(S.gaussian_expectation_sym(sp.Integer(1), S.z, 0, sp.oo), sp.Rational(1, 2))
    assert _same(S.gaussian_expectation_sym(S.relu(S.z) ** 2), sp.Rational(1, 2))
    assert S.gaussian_expectation is S.gaussian_expectation_sym  # the former name
    assert _same(sp.integrate(S.standard_normal_pdf(), (S.z, -sp.oo, sp.oo)), 1)


def test_relu_variance_maps():
    assert _same(S.relu_variance_map("multiplicative"), S.sigma_w2 * S.mu2 * S.q / 2 + S.sigma_b2)
    assert _same(S.relu_variance_map("additive"), S.sigma_w2 * (S.q / 2 + S.sigma_eps2) + S.sigma_b2)
    assert _same(S.relu_variance_map("none"), S.sigma_w2 * S.q / 2 + S.sigma_b2)


def test_claim4_critical_point():
    sols = S.solve_critical_point()
    assert sols == [{S.sigma_w2: 2 / S.mu2, S.sigma_b2: 0}]
    # there the map is the identity
    assert _same(S.relu_variance_map("multiplicative").subs(sols[0]), S.q)
    # and it agrees with the numerical library
    for mu2 in (1.0, 1.25, 2.0, 10.0):
        assert float(sols[0][S.sigma_w2].subs(S.mu2, mu2)) == pytest.approx(npl.critical_sigma_w2(npl.Dropout(1 / mu2)), rel=1e-15)


def test_claim5_additive_noise_has_no_critical_point():
    assert S.additive_critical_point_solutions() == []
    # the reason: slope one forces sigma_w2 = 2, and then f(q) - q = 2 sigma_eps2 + sigma_b2 > 0
    f = S.relu_variance_map("additive")
    assert sp.solve(sp.Eq(sp.diff(f, S.q), 1), S.sigma_w2) == [2]
    gap = sp.simplify(f.subs(S.sigma_w2, 2) - S.q)
    assert _same(gap, 2 * S.sigma_eps2 + S.sigma_b2)
    assert gap.is_positive


def test_claim11_correlation_map_independent_of_sigma_w2_and_q():
    """c' = sigma_w2 (q/2) R(c) / (sigma_w2 mu2 q/2) = R(c)/mu2 (ReLU, multiplicative noise, sigma_b2 = 0)."""
    qpos = sp.Symbol("q", positive=True)
    R = S.arccos_kernel()
    cmap = (S.sigma_w2 * sp.sqrt(qpos * qpos) / 2 * R) / (S.relu_variance_map("multiplicative").subs({S.q: qpos, S.sigma_b2: 0}))
    assert _same(cmap, R / S.mu2)
    assert not (cmap.simplify().free_symbols & {S.sigma_w2, qpos})


def test_arccos_kernel_symbolic():
    R = S.arccos_kernel()
    c = S.c
    assert _same(sp.diff(R, c), (sp.pi - sp.acos(c)) / sp.pi)
    assert _same(sp.diff(R, c, 2), 1 / (sp.pi * sp.sqrt(1 - c**2)))
    assert _same(R.subs(c, 1), 1)
    assert _same(R.subs(c, 0), 1 / sp.pi)
    assert _same(R.subs(c, -1), 0)
    # the arcsin form
    assert _same(R.rewrite(sp.asin) - ((c * sp.asin(c) + sp.sqrt(1 - c**2)) / sp.pi + c / 2), 0)
    # R(c) - R(-c) = c (used for accuracy near c = -1)
    assert _same((R - R.subs(c, -c)).rewrite(sp.asin), c)
    # numerical agreement with the library
    f = sp.lambdify(c, R, "numpy")
    grid = np.linspace(-1, 1, 101)
    np.testing.assert_allclose(npl.arccos_kernel(grid), f(grid), rtol=0, atol=1e-15)


NOISE_CLOSED_FORMS = [
    (npl.Dropout(0.5), {"mu1": 1, "mu2": lambda s: 1 / s["keep_prob"], "variance": lambda s: (1 - s["keep_prob"]) / s["keep_prob"]}),
    (npl.GaussianNoise(1.0), {"mu1": 1, "mu2": lambda s: 1 + s["std"] ** 2, "variance": lambda s: s["std"] ** 2}),
    (npl.GammaNoise(2.0), {"mu1": 1, "mu2": lambda s: 1 + 1 / s["shape"], "variance": lambda s: 1 / s["shape"]}),
    (npl.UniformNoise(0.5), {"mu1": 1, "mu2": lambda s: 1 + s["half_width"] ** 2 / 3, "variance": lambda s: s["half_width"] ** 2 / 3}),
    (npl.LaplaceNoise(0.5), {"mu1": 1, "mu2": lambda s: 1 + 2 * s["scale"] ** 2, "variance": lambda s: 2 * s["scale"] ** 2}),
    (npl.PoissonNoise(1.0), {"mu1": 1, "mu2": lambda s: 1 + 1 / s["rate"], "variance": lambda s: 1 / s["rate"]}),
]


@pytest.mark.parametrize("nz, forms", NOISE_CLOSED_FORMS, ids=[repr(n) for n, _ in NOISE_CLOSED_FORMS])
def test_noise_moments_symbolic(nz, forms):
    m = S.noise_moments(nz, symbolic=True)
    syms = nz.sympy_symbols()
    for key, form in forms.items():
        expected = form(syms) if callable(form) else form
        assert _same(m[key], expected), (key, m[key], expected)
    # numeric mode reproduces the float moments
    mnum = S.noise_moments(nz, symbolic=False)
    assert float(mnum["mu2"]) == pytest.approx(nz.mu2, rel=1e-15)
    assert float(mnum["variance"]) == pytest.approx(nz.variance, rel=1e-15)


def test_poisson_one_has_mu2_two():
    m = S.noise_moments(npl.PoissonNoise(1.0), symbolic=False)
    assert m["mu2"] == 2 and m["mu1"] == 1


# ---------------------------------------------------------------------------
# the series of R(1 - e) - (1 - e) used by arccos_kernel_excess and the c* solver
# ---------------------------------------------------------------------------


def _excess_series_coefficients(n_terms):
    """Coefficients a_k of (R(1-e) - (1-e)) = (sqrt 2/pi) e^(3/2) sum_k a_k e^k, by sympy (e = t^2)."""
    t = sp.Symbol("t", positive=True)
    e = t**2
    c = 1 - e
    # sqrt(1 - c^2) = t sqrt(2 - t^2) and arccos(1 - t^2) = 2 arcsin(t/sqrt 2) for 0 <= t <= sqrt 2
    # (the second form makes the series fast; both identities are checked numerically below)
    excess = (t * sp.sqrt(2 - t**2) - c * 2 * sp.asin(t / sp.sqrt(2))) / sp.pi
    direct = (sp.sqrt(1 - c**2) - c * sp.acos(c)) / sp.pi
    for tv in (0.01, 0.3, 1.0, 1.4):
        assert abs(float(excess.subs(t, tv)) - float(direct.subs(t, tv))) < 1e-15
    ratio = sp.series(excess * sp.pi / (sp.sqrt(2) * t**3), t, 0, 2 * n_terms + 1).removeO()
    poly = sp.Poly(sp.expand(ratio), t)
    coeffs = []
    for k in range(n_terms):
        coeffs.append(sp.nsimplify(poly.coeff_monomial(t ** (2 * k))))
        assert poly.coeff_monomial(t ** (2 * k + 1)) == 0  # only integer powers of e
    return coeffs


def test_excess_series_coefficients_match_sympy():
    coeffs = _excess_series_coefficients(len(_EXCESS_SERIES) + 1)
    # the five quoted in the design: 2/3, 1/30, 3/560, 5/4032, 35/101376
    assert coeffs[:5] == [sp.Rational(2, 3), sp.Rational(1, 30), sp.Rational(3, 560), sp.Rational(5, 4032), sp.Rational(35, 101376)]
    for k, lib in enumerate(_EXCESS_SERIES):
        assert lib == pytest.approx(float(coeffs[k]), rel=2e-16), k
    # the first omitted term is below rounding where the series is used (e < 1e-2)
    first_omitted = float(coeffs[len(_EXCESS_SERIES)])
    assert first_omitted * 1e-2 ** len(_EXCESS_SERIES) / float(coeffs[0]) < 1.1e-16


def test_excess_series_function_matches_exact_expression():
    """_excess_from_eps (and _rectifier._excess_eps) against the exact expression at 40 digits."""
    t = sp.Symbol("t", positive=True)
    exact = (sp.sqrt(t * (2 - t)) - (1 - t) * sp.acos(1 - t)) / sp.pi
    eps = np.concatenate([np.geomspace(1e-14, 1.999, 60), [0.0, 1e-2, 1.0, 2.0]])
    for f in (_excess_from_eps, _excess_eps):
        got = f(eps)
        for e, g in zip(eps, got):
            ref = float(sp.N(exact.subs(t, sp.Float(float(e), 60)), 40))
            assert abs(g - ref) <= 1e-13 * ref + 1e-300, (e, g, ref)


def test_tan_minus_x_series_used_by_the_fixed_point_solver():
    """The coefficients of tan(t) - t = sum_k a_k t^(2k+3) in _rectifier._TAN_MINUS_X are sympy's."""
    from noisyprop_lib.theory._rectifier import _TAN_MINUS_X

    t = sp.Symbol("t")
    series = sp.series(sp.tan(t) - t, t, 0, 2 * len(_TAN_MINUS_X) + 3).removeO()
    for k, coef in enumerate(_TAN_MINUS_X):
        assert float(series.coeff(t, 2 * k + 3)) == pytest.approx(coef, rel=1e-15)
