"""The layer specification: every theory function takes a Layer in place of its layer parameters."""
import numpy as np
import pytest

import noisyprop_lib as npl

L_RELU = npl.Layer(1.8, 0.0, npl.Dropout(0.7), "relu")
L_TANH = npl.Layer(1.6, 0.1, npl.GaussianNoise(0.3), "tanh")
L_CRIT = npl.Layer(noise=npl.Dropout(0.7))


def _kw(layer, *names):
    return {n: getattr(layer, n) for n in names}


ALL = ("sigma_w2", "sigma_b2", "noise", "activation")
# (name, state args, the layer used, which layer fields the function takes, extra keywords)
CASES = [
    ("variance_map", (1.3,), L_TANH, ALL, {}),
    ("variance_map_slope", (1.3,), L_TANH, ALL, {}),
    ("covariance_map", (1.0, 1.2, 0.5), L_TANH, ALL, {}),
    ("correlation_map", (0.4,), L_TANH, ALL, {}),
    ("correlation_map_slope", (0.4,), L_TANH, ALL, {}),
    ("iterate_variance_map", (1.0, 4), L_TANH, ALL, {}),
    ("iterate_correlation_map", (0.2, 3), L_TANH, ALL, {}),
    ("variance_fixed_point", (), L_TANH, ALL, {}),
    ("chi1", (), L_TANH, ALL, {}),
    ("critical_sigma_w2", (), L_CRIT, ("noise", "activation"), {}),
    ("correlation_fixed_point", (), L_TANH, ALL, {}),
    ("correlation_fixed_point_slope", (), L_RELU, ALL, {}),
    ("correlation_fixed_point_analysis", (), L_TANH, ALL, {}),
    ("depth_scale", (), L_RELU, ALL, {}),
    ("variance_depth_scale", (), L_TANH, ALL, {}),
    ("gradient_depth_scale", (), L_TANH, ALL, {}),
    ("trainable_depth", (), L_RELU, ALL, {}),
    ("overflow_depth", (), L_RELU, ALL, {}),
    ("finite_width_log_variance_moments", (), L_CRIT, ("noise", "activation"), {"width": 50, "depth": 10}),
    ("nngp_kernel", (np.eye(3)[:2],), L_TANH, ALL, {"depth": 2}),
]


def _equal(a, b):
    if isinstance(a, tuple):
        return all(_equal(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("name,state,layer,fields,extra", CASES, ids=[c[0] for c in CASES])
def test_the_layer_form_equals_the_plain_form(name, state, layer, fields, extra):
    fn = getattr(npl, name)
    plain = fn(*state, **_kw(layer, *fields), **extra)
    assert _equal(fn(*state, layer=layer, **extra), plain)
    if name != "nngp_kernel":  # its layer parameters are keyword-only
        assert _equal(fn(*state, layer, **extra), plain)
    # an explicit parameter equal to the Layer's is accepted, a different one is refused by name
    assert _equal(fn(*state, layer=layer, noise=layer.noise, **extra), plain)
    with pytest.raises(ValueError, match="noise was given both explicitly"):
        fn(*state, layer=layer, noise=npl.Dropout(0.123), **extra)


def test_positional_legacy_orders_still_work():
    assert npl.correlation_fixed_point(npl.Dropout(0.6), "relu") == npl.correlation_fixed_point(layer=npl.Layer(noise=npl.Dropout(0.6)))
    assert npl.overflow_depth(3.0, npl.Dropout(0.6), 1.0, "float32") == npl.overflow_depth(npl.Layer(3.0, noise=npl.Dropout(0.6)))


@pytest.mark.parametrize("kw,match", [
    ({"sigma_w2": -1.0}, "sigma_w2"), ({"sigma_b2": float("nan")}, "sigma_b2"),
    ({"noise": "dropout"}, "noise must be"), ({"activation": 3}, "activation must be"),
])
def test_a_bad_layer_names_the_parameter(kw, match):
    with pytest.raises(ValueError, match=match):
        npl.Layer(**kw)


def test_misuse_is_a_value_error():
    with pytest.raises(ValueError, match="layer must be a noisyprop_lib.Layer"):
        npl.depth_scale(layer=(1.0, 0.0))
    with pytest.raises(ValueError, match="pass the Layer once"):
        npl.depth_scale(L_RELU, layer=L_RELU)
    with pytest.raises(ValueError, match="assumes sigma_b2 = 0"):
        npl.critical_sigma_w2(L_TANH)
    with pytest.raises(ValueError, match="no field"):
        L_RELU.replace(width=3)


def test_layer_is_frozen_and_critical():
    with pytest.raises(AttributeError):
        L_RELU.sigma_w2 = 2.0
    crit = L_CRIT.critical()
    assert crit.sigma_w2 == npl.critical_sigma_w2(npl.Dropout(0.7)) and crit.noise == npl.Dropout(0.7)
    assert crit == crit.replace() and crit != crit.replace(sigma_w2=1.0)
    assert npl.Layer(noise=None).noise == npl.NoNoise()
