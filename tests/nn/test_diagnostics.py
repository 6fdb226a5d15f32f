"""npl.nn.layer_moments and npl.nn.predicted_variances against hand-written hooks and the variance map."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import noisyprop_lib as npl
from noisyprop_lib.nn import NoisyMLP, layer_moments, predicted_variances, walk_model


def _by_hand(model, x, y=None, layers=None):
    """The hook code chapter 8 used to write in its cells."""
    layers = layers if layers is not None else [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]
    outputs = []

    def keep(module, inputs, out):
        if y is not None:
            out.retain_grad()
        outputs.append(out)

    hooks = [m.register_forward_hook(keep) for m in layers]
    try:
        if y is None:
            with torch.no_grad():
                model(x)
        else:
            F.cross_entropy(model(x), y).backward()
    finally:
        for h in hooks:
            h.remove()
    q = np.array([float(h.detach().double().pow(2).mean()) for h in outputs])
    g = None if y is None else np.array([float(h.grad.double().pow(2).mean()) for h in outputs])
    return q, g


def _models():
    torch.manual_seed(0)
    mlp = NoisyMLP(12, 16, 4, 3, noise=npl.Dropout(0.8), init="critical", generator=torch.Generator().manual_seed(1))
    seq = nn.Sequential(nn.Linear(12, 10), nn.Tanh(), nn.Dropout(0.1), nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 3))
    return {"mlp": mlp, "sequential": seq}


@pytest.mark.parametrize("kind", ["mlp", "sequential"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_layer_moments_equal_hand_written_hooks(kind, mode):
    model = _models()[kind].train(mode == "train")
    x = torch.randn(32, 12, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 3, (32,), generator=torch.Generator().manual_seed(3))
    torch.manual_seed(4)
    q, g = layer_moments(model, x, y)
    torch.manual_seed(4)
    q_hand, g_hand = _by_hand(model, x, y)
    np.testing.assert_array_equal(q, q_hand)
    np.testing.assert_array_equal(g, g_hand)
    assert len(q) == sum(isinstance(m, nn.Linear) for m in model.modules()) - 1
    torch.manual_seed(5)
    res = layer_moments(model, x)
    torch.manual_seed(5)
    np.testing.assert_array_equal(res.q, _by_hand(model, x)[0])
    assert res.g is None


def test_layer_moments_leaves_parameter_gradients_alone_and_can_include_the_output():
    model = _models()["sequential"].eval()
    x, y = torch.randn(8, 12), torch.randint(0, 3, (8,))
    layer_moments(model, x, y)
    assert all(p.grad is None for p in model.parameters())
    q = layer_moments(model, x, include_output=True).q
    weights = [m for m in model.modules() if isinstance(m, nn.Linear)]
    np.testing.assert_array_equal(q, _by_hand(model, x, layers=weights)[0])


def test_layer_moments_bad_input():
    with pytest.raises(ValueError, match="no hidden weight layer"):
        layer_moments(nn.Sequential(nn.Linear(3, 2)), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"has 0 weight layer"):
        layer_moments(nn.Sequential(nn.ReLU(), nn.Tanh()), torch.randn(4, 3), include_output=True)
    model = _models()["sequential"]
    with pytest.raises(ValueError, match=r"one label per input.*\(8, 12\).*\(5,\)"):
        layer_moments(model, torch.randn(8, 12), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="x must be a torch.Tensor"):
        layer_moments(model, np.zeros((8, 12)))
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        layer_moments("model", torch.randn(8, 12))


@pytest.mark.parametrize("kind", ["mlp", "sequential"])
def test_predicted_variances_iterate_the_variance_map(kind):
    model = _models()[kind]
    walked = walk_model(model)
    sw2 = [float(r.module.weight.detach().double().pow(2).mean()) * r.fan_in for r in walked]
    sb2 = [float(r.module.bias.detach().double().pow(2).mean()) for r in walked]
    q = [0.7]
    for r, w, b in zip(walked[1:], sw2[1:], sb2[1:]):
        q.append(float(npl.variance_map(q[-1], w, b, noise=r.noise, activation=r.activation)))
    np.testing.assert_array_equal(predicted_variances(model, 0.7), q)
    # inputs instead of q1: q1 = sigma_w^2 E[x^2] + sigma_b^2
    x = torch.randn(16, 12, generator=torch.Generator().manual_seed(0))
    q_in = predicted_variances(model, x)
    assert q_in[0] == pytest.approx(sw2[0] * float(x.double().pow(2).mean()) + sb2[0], rel=1e-12)


def test_predicted_variances_given_scales_and_the_fan_in():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Dropout2d(0.1), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    q = predicted_variances(net, 2.0, sigma_w2=1 / 3, sigma_b2=lambda n: 1 / (3 * n))
    by_hand = [2.0, float(npl.variance_map(2.0, 1 / 3, 1 / (3 * 144), noise=npl.Dropout(0.9)))]
    np.testing.assert_array_equal(q, by_hand)
    np.testing.assert_array_equal(predicted_variances(net, 2.0, sigma_w2=[1.0, 1 / 3], sigma_b2=0.0)[1],
                                  float(npl.variance_map(2.0, 1 / 3, 0.0, noise=npl.Dropout(0.9))))
    # a critically initialised dropout network is predicted to preserve q exactly
    mlp = NoisyMLP(12, 16, 4, 3, noise=npl.Dropout(0.8), generator=torch.Generator().manual_seed(0))
    crit = [row.sigma_w2 for row in mlp.init_report]
    np.testing.assert_allclose(predicted_variances(mlp, 1.0, sigma_w2=crit, sigma_b2=0.0), 1.0, rtol=1e-12)


def test_predicted_variances_bad_input():
    with pytest.raises(ValueError, match="no weight layer"):
        predicted_variances(nn.Sequential(nn.ReLU()), 1.0)
    with pytest.raises(ValueError, match=r"cannot predict layer '2'.*Softplus"):
        predicted_variances(nn.Sequential(nn.Linear(3, 3), nn.Softplus(), nn.Linear(3, 2)), 1.0)
    with pytest.raises(ValueError, match=r"cannot predict layer '1'.*no activation module"):
        predicted_variances(nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2)), 1.0)
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="sigma_w2 has 3 entries for 2 weight layers"):
        predicted_variances(net, 1.0, sigma_w2=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="q1 must be a finite number"):
        predicted_variances(net, -1.0)
    with pytest.raises(ValueError, match="noise precedes the first weight layer"):
        predicted_variances(nn.Sequential(nn.Dropout(0.2), nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)), torch.ones(2, 3))


def test_walk_model_records():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 8), nn.Softplus(), nn.Linear(8, 2))
    walked = walk_model(net)
    assert [(r.name, r.fan_in, r.first) for r in walked] == [("0", 4, True), ("3", 8, False), ("5", 8, False)]
    assert walked[1].noise == npl.Dropout(0.8) and isinstance(walked[1].activation, npl.ReLU)
    assert walked[1].order == "activation-first" and walked[1].problem is None
    assert walked[2].problem is not None and "Softplus" in walked[2].problem
    with pytest.raises(npl.nn.NotAChainError, match="^walk_model: "):
        class Res(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(3, 3)

            def forward(self, x):
                return x + self.a(x)

        walk_model(nn.Sequential(nn.Linear(3, 3), Res()))
