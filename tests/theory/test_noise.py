"""Noise models: kind, exact moments, symbolic laws, torch sampling and torch conversion.

Reference: paper 1, section 2.2 and Table 1 (section 3.4); CLAIM 6.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import sympy.stats as st
import torch
from torch import nn

import noisyprop_lib as npl

# ---------------------------------------------------------------------------
# hand formulas: raw moments E[eps^n], n = 0..4, of every law
# ---------------------------------------------------------------------------


def _gauss_raw(mean, var, n):
    """Raw moments of N(mean, var) up to order 4."""
    m, v = mean, var
    return [1.0, m, m * m + v, m**3 + 3 * m * v, m**4 + 6 * m * m * v + 3 * v * v][n]


def _laplace_raw(mean, b, n):
    """Raw moments of Laplace(mean, b): central moments 0, 2b^2, 0, 24b^4."""
    m, v, k4 = mean, 2 * b * b, 24 * b**4
    return [1.0, m, m * m + v, m**3 + 3 * m * v, m**4 + 6 * m * m * v + k4][n]


def _uniform_raw(a, n):
    """Raw moments of U[1-a, 1+a]."""
    if a == 0:
        return 1.0
    return ((1 + a) ** (n + 1) - (1 - a) ** (n + 1)) / (2 * a * (n + 1))


def _gamma_raw(k, n):
    """Raw moments of Gamma(k, scale 1/k): k(k+1)...(k+n-1)/k^n."""
    return math.prod(k + i for i in range(n)) / k**n


def _poisson_raw(lam, n):
    """Raw moments of N/lam, N ~ Poisson(lam) (Touchard polynomials)."""
    touchard = [1.0, lam, lam + lam**2, lam + 3 * lam**2 + lam**3, lam + 7 * lam**2 + 6 * lam**3 + lam**4][n]
    return touchard / lam**n


def _dropout_raw(p, n):
    return 1.0 if n == 0 else p ** (1 - n)


def _plain_dropout_raw(p, n):
    return 1.0 if n == 0 else p


# (factory, kind, mu1, mu2, variance, raw-moment function of n)
LAWS = {
    "NoNoise": (lambda: npl.NoNoise(), "multiplicative", 1.0, 1.0, 0.0, lambda n: 1.0),
    "Dropout(0.6)": (lambda: npl.Dropout(0.6), "multiplicative", 1.0, 1 / 0.6, 0.4 / 0.6, lambda n: _dropout_raw(0.6, n)),
    "Dropout(0.25)": (lambda: npl.Dropout(0.25), "multiplicative", 1.0, 4.0, 3.0, lambda n: _dropout_raw(0.25, n)),
    "PlainDropout(0.6)": (lambda: npl.PlainDropout(0.6), "multiplicative", 0.6, 0.6, 0.24, lambda n: _plain_dropout_raw(0.6, n)),
    "GaussianNoise(0.5)": (lambda: npl.GaussianNoise(0.5), "multiplicative", 1.0, 1.25, 0.25, lambda n: _gauss_raw(1.0, 0.25, n)),
    "GaussianNoise(2)": (lambda: npl.GaussianNoise(2.0), "multiplicative", 1.0, 5.0, 4.0, lambda n: _gauss_raw(1.0, 4.0, n)),
    "GaussianDropout(0.6)": (lambda: npl.GaussianDropout(0.6), "multiplicative", 1.0, 1 / 0.6, 0.4 / 0.6, lambda n: _gauss_raw(1.0, 0.4 / 0.6, n)),
    "GammaNoise(2)": (lambda: npl.GammaNoise(2.0), "multiplicative", 1.0, 1.5, 0.5, lambda n: _gamma_raw(2.0, n)),
    "GammaNoise(0.5)": (lambda: npl.GammaNoise(0.5), "multiplicative", 1.0, 3.0, 2.0, lambda n: _gamma_raw(0.5, n)),
    "UniformNoise(0.5)": (lambda: npl.UniformNoise(0.5), "multiplicative", 1.0, 1 + 0.25 / 3, 0.25 / 3, lambda n: _uniform_raw(0.5, n)),
    "LaplaceNoise(0.5)": (lambda: npl.LaplaceNoise(0.5), "multiplicative", 1.0, 1.5, 0.5, lambda n: _laplace_raw(1.0, 0.5, n)),
    "PoissonNoise(1)": (lambda: npl.PoissonNoise(1.0), "multiplicative", 1.0, 2.0, 1.0, lambda n: _poisson_raw(1.0, n)),
    "PoissonNoise(4)": (lambda: npl.PoissonNoise(4.0), "multiplicative", 1.0, 1.25, 0.25, lambda n: _poisson_raw(4.0, n)),
    "AdditiveGaussianNoise(1)": (lambda: npl.AdditiveGaussianNoise(1.0), "additive", 0.0, 1.0, 1.0, lambda n: _gauss_raw(0.0, 1.0, n)),
    "AdditiveLaplaceNoise(0.5)": (lambda: npl.AdditiveLaplaceNoise(0.5), "additive", 0.0, 0.5, 0.5, lambda n: _laplace_raw(0.0, 0.5, n)),
}


@pytest.mark.parametrize("name", list(LAWS))
def test_kind_and_exact_moments(name):
    factory, kind, mu1, mu2, var, _ = LAWS[name]
    nz = factory()
    assert nz.kind == kind
    assert nz.mu1 == pytest.approx(mu1, rel=1e-15, abs=1e-15)
    assert nz.mu2 == pytest.approx(mu2, rel=1e-15)
    assert nz.variance == pytest.approx(var, rel=1e-15, abs=1e-15)
    # scipy.stats vocabulary
    assert nz.mean() == nz.mu1 and nz.var() == nz.variance
    # scalars in, scalars out
    assert isinstance(nz.mu2, float)


@pytest.mark.parametrize(
    "nz, mu2",
    [
        (npl.Dropout(0.1), 10.0),
        (npl.Dropout(0.8), 1.25),
        (npl.Dropout(1.0), 1.0),
        (npl.GaussianNoise(0.25), 1.0625),
        (npl.GaussianNoise(0.0), 1.0),
        (npl.LaplaceNoise(0.3), 1 + 2 * 0.09),
        (npl.PoissonNoise(), 2.0),
        (npl.GammaNoise(4.0), 1.25),
        (npl.UniformNoise(0.9), 1 + 0.81 / 3),
        (npl.GaussianDropout(0.3), 1 / 0.3),
    ],
)
def test_table1_second_moments(nz, mu2):
    """Table 1: dropout 1/p, Gaussian 1+s^2, Laplace 1+2b^2, Poisson(1) 2, Gamma(k) 1+1/k, Uniform(a) 1+a^2/3."""
    assert nz.mu2 == pytest.approx(mu2, rel=1e-14)
    assert nz.mu1 == 1.0


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.77, 1.0])
def test_gaussian_dropout_matches_dropout_moments(p):
    gd, d = npl.GaussianDropout(p), npl.Dropout(p)
    assert gd.mu1 == d.mu1
    assert gd.mu2 == pytest.approx(d.mu2, rel=1e-15)
    assert gd.variance == pytest.approx(d.variance, rel=1e-15, abs=0)
    assert gd.kappa == pytest.approx(1 / p, rel=1e-14)


@pytest.mark.parametrize("p", [0.1, 0.6, 1.0])
def test_plain_dropout_moments_and_kappa(p):
    nz = npl.PlainDropout(p)
    assert nz.mu1 == pytest.approx(p, rel=1e-15)
    assert nz.mu2 == pytest.approx(p, rel=1e-15)
    # the correlation map sees mu2/mu1^2 = 1/p, as for inverted dropout
    assert nz.kappa == pytest.approx(1 / p, rel=1e-14)
    assert nz.relative_variance == pytest.approx((1 - p) / p, rel=1e-14, abs=1e-16)


@pytest.mark.parametrize("name", [n for n in LAWS if n not in ("Dropout(0.25)", "GaussianNoise(2)", "PoissonNoise(4)")])
def test_raw_moments_0_to_4(name):
    factory, _, _, _, _, raw = LAWS[name]
    nz = factory()
    for n in range(5):
        assert nz.moment(n) == pytest.approx(raw(n), rel=1e-12, abs=1e-14), f"E[eps^{n}]"


def _expected_symbolic(nz):
    """Closed forms (mu1, mu2) in the law's own sympy symbols."""
    sy = nz.sympy_symbols()
    if isinstance(nz, npl.NoNoise):
        return 1, 1
    if isinstance(nz, npl.Dropout):
        p = sy["keep_prob"]
        return 1, 1 / p
    if isinstance(nz, npl.PlainDropout):
        p = sy["keep_prob"]
        return p, p
    if isinstance(nz, npl.GaussianDropout):
        p = sy["keep_prob"]
        return 1, 1 + (1 - p) / p
    if isinstance(nz, npl.GaussianNoise):
        s = sy["std"]
        return 1, 1 + s**2
    if isinstance(nz, npl.GammaNoise):
        k = sy["shape"]
        return 1, 1 + 1 / k
    if isinstance(nz, npl.UniformNoise):
        a = sy["half_width"]
        return 1, 1 + a**2 / 3
    if isinstance(nz, npl.LaplaceNoise):
        b = sy["scale"]
        return 1, 1 + 2 * b**2
    if isinstance(nz, npl.PoissonNoise):
        lam = sy["rate"]
        return 1, 1 + 1 / lam
    if isinstance(nz, npl.AdditiveGaussianNoise):
        s = sy["std"]
        return 0, s**2
    if isinstance(nz, npl.AdditiveLaplaceNoise):
        b = sy["scale"]
        return 0, 2 * b**2
    raise AssertionError(f"no closed form for {nz!r}")


SYMBOLIC_LAWS = [
    npl.NoNoise(),
    npl.Dropout(0.5),
    npl.PlainDropout(0.5),
    npl.GaussianNoise(1.0),
    npl.GaussianDropout(0.5),
    npl.GammaNoise(2.0),
    npl.UniformNoise(0.5),
    npl.LaplaceNoise(0.5),
    npl.PoissonNoise(1.0),
    npl.AdditiveGaussianNoise(1.0),
    npl.AdditiveLaplaceNoise(1.0),
]


@pytest.mark.parametrize("nz", SYMBOLIC_LAWS, ids=repr)
def test_sympy_rv_symbolic_moments(nz):
    eps = nz.sympy_rv(symbolic=True)
    mu1, mu2 = _expected_symbolic(nz)
    assert sp.simplify(st.E(eps) - mu1) == 0
    assert sp.simplify(st.E(eps**2) - mu2) == 0


@pytest.mark.parametrize("nz", SYMBOLIC_LAWS, ids=repr)
def test_sympy_rv_numeric_matches_moments(nz):
    eps = nz.sympy_rv(symbolic=False)
    assert float(st.E(eps)) == pytest.approx(nz.mu1, abs=1e-14)
    assert float(sp.simplify(st.E(eps**2))) == pytest.approx(nz.mu2, rel=1e-14)


def test_sympy_symbols_are_positive():
    for nz in SYMBOLIC_LAWS:
        for s in nz.sympy_symbols().values():
            assert s.is_positive


# ---------------------------------------------------------------------------
# array-valued parameters
# ---------------------------------------------------------------------------


def test_array_parameters_broadcast_in_moments():
    p = np.array([0.1, 0.25, 0.5, 1.0])
    d = npl.Dropout(p)
    np.testing.assert_allclose(d.mu2, 1 / p, rtol=1e-15)
    np.testing.assert_array_equal(d.mu1, np.ones(4))
    np.testing.assert_allclose(d.variance, (1 - p) / p, rtol=1e-15)
    assert not d.is_scalar

    s = np.array([[0.0], [0.5], [2.0]])
    g = npl.GaussianNoise(s)
    assert np.shape(g.mu2) == (3, 1)
    np.testing.assert_allclose(g.mu2, 1 + s**2, rtol=1e-15)

    lam = np.array([0.5, 1.0, 4.0])
    np.testing.assert_allclose(npl.PoissonNoise(lam).mu2, 1 + 1 / lam, rtol=1e-15)
    np.testing.assert_allclose(npl.LaplaceNoise(lam).mu2, 1 + 2 * lam**2, rtol=1e-15)
    np.testing.assert_allclose(npl.GammaNoise(lam).mu2, 1 + 1 / lam, rtol=1e-15)
    np.testing.assert_allclose(npl.UniformNoise(lam / 4).mu2, 1 + (lam / 4) ** 2 / 3, rtol=1e-15)
    np.testing.assert_allclose(npl.PlainDropout(p).mu1, p, rtol=1e-15)
    np.testing.assert_allclose(npl.AdditiveGaussianNoise(lam).variance, lam**2, rtol=1e-15)


def test_array_parameters_broadcast_in_raw_moments():
    p = np.array([[0.5, 0.25], [1.0, 0.8]])
    m3 = npl.Dropout(p).moment(3)
    assert m3.shape == (2, 2)
    np.testing.assert_allclose(m3, p**-2, rtol=1e-12)
    lam = np.array([1.0, 2.0])
    np.testing.assert_allclose(npl.PoissonNoise(lam).moment(4), [_poisson_raw(x, 4) for x in lam], rtol=1e-12)


def test_array_noise_drives_vectorised_theory():
    p = np.array([0.5, 0.6, 0.8])
    np.testing.assert_allclose(npl.critical_sigma_w2(npl.Dropout(p)), 2 * p, rtol=1e-14)
    np.testing.assert_allclose(npl.variance_map(3.0, 1.0, noise=npl.Dropout(p)), 1.5 / p, rtol=1e-14)


# ---------------------------------------------------------------------------
# torch sampling
# ---------------------------------------------------------------------------

# law, raw-moment function, number of samples (the Gamma sampler is rejection based and slower)
SAMPLED = [
    ("Dropout(0.6)", 10**7),
    ("PlainDropout(0.6)", 10**7),
    ("GaussianNoise(0.5)", 10**7),
    ("GaussianDropout(0.6)", 10**7),
    ("GammaNoise(2)", 2 * 10**6),
    ("GammaNoise(0.5)", 2 * 10**6),
    ("UniformNoise(0.5)", 10**7),
    ("LaplaceNoise(0.5)", 10**7),
    ("PoissonNoise(1)", 10**7),
    ("AdditiveGaussianNoise(1)", 10**7),
    ("AdditiveLaplaceNoise(0.5)", 10**7),
]


@pytest.mark.parametrize("name, n", SAMPLED)
def test_sampled_moments_within_standard_error(name, n):
    """CLAIM 6: empirical mu1 and mu2 agree with the exact moments.

    The tolerance is 6 standard errors computed from the exact moments:
    SE(mean of eps) = sqrt(Var eps / n), SE(mean of eps^2) = sqrt((E eps^4 - mu2^2) / n).
    With 10^7 samples the claim's 0.2 % relative tolerance on mu2 is checked too.
    """
    factory, _, mu1, mu2, var, raw = LAWS[name]
    nz = factory()
    gen = torch.Generator().manual_seed(20180101)
    x = nz.sample((n,), generator=gen, dtype=torch.float64)
    m1 = x.mean().item()
    m2 = (x * x).mean().item()
    se1 = math.sqrt(var / n)
    se2 = math.sqrt((raw(4) - raw(2) ** 2) / n)
    assert abs(m1 - mu1) <= 6 * se1, (m1, mu1, se1)
    assert abs(m2 - mu2) <= 6 * se2, (m2, mu2, se2)
    if n >= 10**7:
        assert abs(m2 / mu2 - 1) < 2e-3
        if mu1 != 0:
            assert abs(m1 / mu1 - 1) < 2e-3


def test_sampled_dropout_support():
    x = npl.Dropout(0.25).sample((10_000,), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    values = set(torch.unique(x).tolist())
    assert values == {0.0, 4.0}
    y = npl.PlainDropout(0.25).sample((10_000,), generator=torch.Generator().manual_seed(0))
    assert set(torch.unique(y).tolist()) == {0.0, 1.0}
    u = npl.UniformNoise(0.5).sample((10_000,), generator=torch.Generator().manual_seed(0))
    assert u.min().item() >= 0.5 and u.max().item() <= 1.5
    g = npl.GammaNoise(0.5).sample((10_000,), generator=torch.Generator().manual_seed(0))
    assert g.min().item() >= 0.0 and torch.isfinite(g).all()
    k = npl.PoissonNoise(2.0).sample((10_000,), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(k * 2.0, torch.round(k * 2.0)) and k.min().item() >= 0


ALL_SAMPLERS = [name for name in LAWS]


@pytest.mark.parametrize("name", ALL_SAMPLERS)
def test_sampling_reproducible_with_generator(name):
    nz = LAWS[name][0]()
    a = nz.sample((64, 33), generator=torch.Generator().manual_seed(123))
    b = nz.sample((64, 33), generator=torch.Generator().manual_seed(123))
    assert torch.equal(a, b)
    if nz.variance > 0:
        c = nz.sample((64, 33), generator=torch.Generator().manual_seed(124))
        assert not torch.equal(a, c)
    else:
        assert torch.equal(a, torch.ones_like(a))


@pytest.mark.parametrize("name", ALL_SAMPLERS)
@pytest.mark.parametrize("dtype", [None, torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_sampling_dtype_device_shape(name, dtype):
    nz = LAWS[name][0]()
    x = nz.sample((3, 4, 5), generator=torch.Generator().manual_seed(0), dtype=dtype)
    assert x.shape == (3, 4, 5)
    assert x.dtype == (torch.float32 if dtype is None else dtype)
    assert x.device == torch.device("cpu")
    assert torch.isfinite(x).all()
    # an integer shape and an empty shape work too
    assert nz.sample(7, generator=torch.Generator().manual_seed(0)).shape == (7,)
    assert nz.sample((0, 3)).shape == (0, 3)
    assert nz.sample((2,), device="cpu").device == torch.device("cpu")


def test_sampling_without_generator_uses_global_seed():
    torch.manual_seed(5)
    a = npl.GaussianNoise(1.0).sample((100,))
    torch.manual_seed(5)
    b = npl.GaussianNoise(1.0).sample((100,))
    assert torch.equal(a, b)


def test_sampling_device_follows_generator():
    """The default device is the generator's (CUDA too, where there is one)."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        gen = torch.Generator(device=dev).manual_seed(0)
        for name in ALL_SAMPLERS:
            x = LAWS[name][0]().sample((10,), generator=gen)
            assert x.device.type == dev


def test_apply_multiplies_or_adds():
    x = torch.linspace(-2, 2, 50, dtype=torch.float64)
    for nz in (npl.Dropout(0.5), npl.GaussianNoise(0.3)):
        eps = nz.sample(x.shape, generator=torch.Generator().manual_seed(9), dtype=x.dtype)
        assert torch.equal(nz.apply(x, generator=torch.Generator().manual_seed(9)), x * eps)
    nz = npl.AdditiveGaussianNoise(0.3)
    eps = nz.sample(x.shape, generator=torch.Generator().manual_seed(9), dtype=x.dtype)
    assert torch.equal(nz.apply(x, generator=torch.Generator().manual_seed(9)), x + eps)


def test_dropout_sample_equals_torch_semantics():
    """Inverted dropout: kept units are scaled by 1/keep_prob, like torch.nn.Dropout in training mode."""
    x = npl.Dropout(0.8).sample((100_000,), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    kept = x[x != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1.25))
    # the kept fraction is within 6 binomial standard errors of 0.8
    frac = kept.numel() / x.numel()
    assert abs(frac - 0.8) <= 6 * math.sqrt(0.8 * 0.2 / x.numel())


# ---------------------------------------------------------------------------
# torch conversion
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("module_cls", [nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d])
def test_from_torch_converts_drop_probability(module_cls):
    nz = npl.Noise.from_torch(module_cls(0.3))
    assert isinstance(nz, npl.Dropout)
    assert nz.keep_prob == pytest.approx(0.7, rel=1e-15)
    assert nz.mu2 == pytest.approx(1 / 0.7, rel=1e-15)
    assert npl.Noise.from_torch(module_cls(0.0)).keep_prob == 1.0


def test_from_torch_passes_noise_models_through_and_as_noise_converts():
    d = npl.GaussianNoise(0.2)
    assert npl.Noise.from_torch(d) is d
    assert npl.as_noise(None) == npl.NoNoise()
    assert npl.as_noise(nn.Dropout(0.5)) == npl.Dropout(0.5)
    # a torch module is accepted wherever a noise is
    assert npl.variance_map(1.0, 1.0, noise=nn.Dropout(0.5)) == pytest.approx(1.0, rel=1e-15)
    assert npl.critical_sigma_w2(nn.Dropout(0.4)) == pytest.approx(1.2, rel=1e-15)


@pytest.mark.parametrize("module", [nn.AlphaDropout(0.1), nn.FeatureAlphaDropout(0.2)], ids=lambda m: type(m).__name__)
def test_from_torch_refuses_alpha_dropout(module):
    with pytest.raises(ValueError, match=r"AlphaDropout is not supported.*affine"):
        npl.Noise.from_torch(module)


def test_from_torch_refuses_other_modules():
    with pytest.raises(TypeError, match="Linear"):  # still a TypeError, for code written against earlier versions
        npl.Noise.from_torch(nn.Linear(2, 2))


@pytest.mark.parametrize("obj", [nn.ReLU(), nn.Linear(2, 2), "dropout", 0.5], ids=repr)
def test_from_torch_refusal_is_a_value_error_naming_the_parameter(obj):
    """The README promises ValueError for invalid input: Noise.from_torch(nn.ReLU()) raised a bare TypeError."""
    with pytest.raises(ValueError, match=r"module must be a torch dropout module \(nn\.Dropout.*or a noisyprop_lib noise model, got") as err:
        npl.Noise.from_torch(obj)
    assert isinstance(err.value, npl.NotANoiseModuleError)
    assert repr(obj) in str(err.value)


def test_keep_prob_from_torch():
    assert npl.keep_prob_from_torch(0.3) == pytest.approx(0.7, rel=1e-15)
    assert npl.keep_prob_from_torch(0.0) == 1.0
    assert isinstance(npl.keep_prob_from_torch(0.25), float)
    np.testing.assert_allclose(npl.keep_prob_from_torch(np.array([0.0, 0.5, 0.9])), [1.0, 0.5, 0.1], rtol=1e-15)


# ---------------------------------------------------------------------------
# value semantics
# ---------------------------------------------------------------------------


def test_equality_hash_and_repr():
    assert npl.Dropout(0.5) == npl.Dropout(0.5)
    assert npl.Dropout(0.5) != npl.Dropout(0.6)
    assert npl.Dropout(0.5) != npl.GaussianDropout(0.5)
    assert hash(npl.Dropout(0.5)) == hash(npl.Dropout(0.5))
    assert len({npl.Dropout(0.5), npl.Dropout(0.5), npl.PoissonNoise()}) == 2
    assert repr(npl.Dropout(0.5)) == "Dropout(keep_prob=0.5)"
    assert "array" in repr(npl.Dropout(np.array([0.5, 0.6])))


def test_kappa_and_relative_variance_refused_for_additive_noise():
    with pytest.raises(ValueError, match="multiplicative noise only"):
        npl.AdditiveGaussianNoise(1.0).kappa
    with pytest.raises(ValueError, match="multiplicative noise only"):
        npl.AdditiveLaplaceNoise(1.0).relative_variance
