"""PyTorch integration: critical_init_, the noise modules and NoisyMLP (noisyprop_lib.nn).

Design section 3 (the `nn` module and the conventions: sigma_w2 is a fan-in normalised variance,
torch's p is a drop probability).
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch import nn

import noisyprop_lib as npl
from noisyprop_lib.nn import ActivationLayer, InitReport, NoiseLayer, NoisyMLP, critical_init_, layer_moments

torch.set_num_threads(2)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sw2(report: InitReport) -> list[float]:
    return [row.sigma_w2 for row in report]


# ---------------------------------------------------------------------------
# reports for models of several shapes
# ---------------------------------------------------------------------------


def test_sequential_mlp_with_torch_dropout():
    m = nn.Sequential(
        nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(32, 32), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(32, 2),
    )
    rep = critical_init_(m, generator=gen())
    assert isinstance(rep, InitReport) and len(rep) == 3 and rep.skipped == []
    assert [r.name for r in rep] == ["0", "3", "6"]
    assert [r.fan_in for r in rep] == [10, 32, 32]
    # torch's p = 0.3 is the DROP probability: keep 0.7, mu2 = 1/0.7, sigma_w2 = 2 * 0.7
    assert sw2(rep) == pytest.approx([1.0, 1.4, 1.4], rel=1e-12)
    assert rep[0].activation == "linear (input)" and rep[0].noise == "none"
    assert rep[1].activation == "relu" and "keep_prob=0.7" in rep[1].noise
    for lin in (m[0], m[3], m[6]):
        assert torch.all(lin.bias == 0)


def test_input_noise_gives_inverse_mu2():
    m = nn.Sequential(nn.Dropout(0.5), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    rep = critical_init_(m)
    assert sw2(rep) == pytest.approx([0.5, 2.0])  # 1/mu2 = keep_prob preserves E[x^2]


class Block(nn.Module):
    def __init__(self, n, p):
        super().__init__()
        self.lin = nn.Linear(n, n)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(p)

    def forward(self, x):
        return self.drop(self.act(self.lin(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), NoiseLayer(npl.GaussianNoise(0.5)))
        self.blocks = nn.Sequential(Block(16, 0.2), Block(16, 0.2))
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def test_nested_modules():
    rep = critical_init_(Net())
    assert [r.name for r in rep] == ["stem.0", "blocks.0.lin", "blocks.1.lin", "head"]
    assert sw2(rep) == pytest.approx(
        [1.0, npl.critical_point(npl.GaussianNoise(0.5), "tanh").sigma_w2, 1.6, 1.6], rel=1e-10
    )
    # tanh's edge of chaos at q0 = 1 without noise, divided by mu2 = 1.25
    assert sw2(rep)[1] == pytest.approx(npl.critical_point(None, "tanh").sigma_w2 / 1.25, rel=1e-12)
    assert rep[1].activation == "tanh" and rep[1].noise == "GaussianNoise(std=0.5)"


def test_small_cnn_conv2d_dropout2d_relu():
    cnn = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout2d(0.25),
        nn.Conv2d(8, 16, (3, 5), padding=1, groups=2), nn.ReLU(), nn.Dropout2d(0.25),
        nn.Flatten(), nn.Linear(16 * 8 * 6, 10),
    )
    rep = critical_init_(cnn, generator=gen(1))
    assert [r.layer_type for r in rep] == ["Conv2d", "Conv2d", "Linear"]
    assert [r.fan_in for r in rep] == [27, 4 * 15, 768]  # in_channels / groups * prod(kernel_size)
    assert sw2(rep) == pytest.approx([1.0, 1.5, 1.5])
    assert cnn(torch.randn(2, 3, 8, 8)).shape == (2, 10)


def test_conv1d_conv3d_fan_in():
    m = nn.Sequential(nn.Conv1d(4, 6, 5), nn.ReLU(), nn.Conv3d(6, 2, (1, 2, 3)))
    rep = critical_init_(m)
    assert [r.fan_in for r in rep] == [20, 36]
    assert sw2(rep) == pytest.approx([1.0, 2.0])


def test_leaky_relu_slope():
    m = nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU(0.2), nn.Dropout(0.2), nn.Linear(4, 4))
    rep = critical_init_(m)
    mu2 = 1 / 0.8
    assert rep[1].sigma_w2 == pytest.approx(2 / (mu2 * (1 + 0.04)), rel=1e-12)
    assert rep[1].activation == "leaky_relu(0.2)"


def test_prelu_single_and_per_channel():
    m = nn.Sequential(nn.Linear(4, 4), nn.PReLU(init=0.25), nn.Linear(4, 4))
    assert critical_init_(m)[1].sigma_w2 == pytest.approx(2 / (1 + 0.0625))
    with torch.no_grad():
        m[1].weight.fill_(0.5)  # the CURRENT slope is used
    assert critical_init_(m)[1].sigma_w2 == pytest.approx(2 / 1.25)
    bad = nn.Sequential(nn.Linear(4, 4), nn.PReLU(num_parameters=4), nn.Linear(4, 4))
    with pytest.raises(ValueError, match=r"'2'.*PReLU with 4 slopes"):
        critical_init_(bad)


_SMOOTH_MODULES = [(nn.Tanh(), "tanh"), (nn.GELU(), "gelu"), (nn.SiLU(), "silu"), (nn.ELU(), "elu")]


@pytest.mark.parametrize("mod, act", _SMOOTH_MODULES)
def test_smooth_activations_match_library(mod, act):
    m = nn.Sequential(nn.Linear(4, 4), mod, nn.Dropout(0.1), nn.Linear(4, 4))
    rep = critical_init_(m, generator=gen(3))
    cp = npl.critical_point(npl.Dropout(0.9), act)
    assert rep[1].sigma_w2 == pytest.approx(cp.sigma_w2, rel=1e-12)
    assert rep[1].sigma_b2 == pytest.approx(cp.sigma_b2, rel=1e-12) and cp.sigma_b2 > 0
    assert rep[1].activation == act and cp.rule in rep[1].why
    assert rep[0].sigma_b2 == 0.0 and torch.all(m[0].bias == 0)
    assert torch.count_nonzero(m[3].bias) == 4  # the bias is drawn, not zeroed
    # without a bias the report says which fixed point it used
    m2 = nn.Sequential(nn.Linear(4, 4, bias=False), mod, nn.Dropout(0.1), nn.Linear(4, 4, bias=False))
    rep2 = critical_init_(m2)
    no_bias = npl.critical_point(npl.Dropout(0.9), act, bias=False)
    assert rep2[1].sigma_w2 == pytest.approx(no_bias.sigma_w2, rel=1e-12) and rep2[1].sigma_b2 == 0.0
    assert "no bias" in rep2[1].why


@pytest.mark.parametrize("mod, act", _SMOOTH_MODULES + [(nn.ReLU(), "relu")])
def test_deep_smooth_dropout_mlp_keeps_its_signal(mod, act):
    """20 layers of width 512, keep 0.8, train mode: the geometric mean over 8 networks of each layer's second moment
    stays within [0.5, 2] of the input's (under the old rule 1/(mu2 phi'(0)^2) GELU grew it by about 1e5).

    One network wanders by the finite-width random walk of the log-variance (0.66-1.99 at the last layer over 20
    seeds for SiLU, as wide as for ReLU at 2p); the 8-network geometric mean ranged over 0.79-1.35 for the five
    activations, 8 seed blocks and 1 and 2 threads."""
    log_ratios = []
    for k in range(8):
        layers = [nn.Linear(256, 512)]
        for _ in range(19):
            layers += [type(mod)(), nn.Dropout(0.2), nn.Linear(512, 512)]
        net = nn.Sequential(*layers).train()
        critical_init_(net, generator=gen(10 * k))
        x = torch.randn(256, 256, generator=gen(10 * k + 1))
        torch.manual_seed(10 * k + 2)
        q = layer_moments(net, x, include_output=True).q  # every Linear: the last is a hidden layer here
        log_ratios.append(np.log(q / float(x.pow(2).mean())))
    geo = np.exp(np.mean(log_ratios, axis=0))
    assert 0.5 <= geo.min() and geo.max() <= 2.0, geo


def test_unknown_activation_raises_with_clear_message():
    m = nn.Sequential(nn.Linear(4, 4), nn.Softplus(), nn.Linear(4, 4))
    with pytest.raises(ValueError, match=r"cannot initialise layer '2': it is fed by Softplus\(beta=1(\.0)?, threshold=20(\.0)?\).*does not analyse"):
        critical_init_(m)


def test_refusal_leaves_the_whole_model_unchanged():
    # the first layer could be initialised, the third cannot: strict mode must not touch either
    m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Softplus(), nn.Linear(4, 4))
    before = [p.detach().clone() for p in m.parameters()]
    with pytest.raises(ValueError, match=r"layer '4'"):
        critical_init_(m, generator=gen(0))
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))


def test_unknown_activation_warns_and_leaves_layer_untouched():
    m = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    before = m[2].weight.detach().clone()
    with pytest.warns(UserWarning, match=r"layer '2'.*Sigmoid.*left untouched"):
        rep = critical_init_(m, on_unknown="warn")
    assert torch.equal(m[2].weight, before)
    assert [r.name for r in rep] == ["0", "4"] and [s[0] for s in rep.skipped] == ["2"]
    assert "skipped 2:" in str(rep)


def test_alpha_dropout_refused():
    m = nn.Sequential(nn.Linear(4, 4), nn.SELU(), nn.AlphaDropout(0.1), nn.Linear(4, 4))
    with pytest.raises(ValueError, match=r"AlphaDropout is not supported"):
        critical_init_(m)
    m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.FeatureAlphaDropout(0.1), nn.Linear(4, 4))
    with pytest.warns(UserWarning, match=r"FeatureAlphaDropout is not supported"):
        critical_init_(m, on_unknown="warn")


def test_additive_noise_with_relu_has_no_critical_point():
    m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), NoiseLayer(npl.AdditiveGaussianNoise(0.1)), nn.Linear(4, 4))
    with pytest.raises(ValueError, match=r"layer '3'.*no critical"):
        critical_init_(m)


@pytest.mark.parametrize(
    "layers, msg",
    [
        ([nn.Linear(4, 4), nn.ReLU(), nn.Dropout(0.1), nn.Dropout(0.2), nn.Linear(4, 4)], r"two noise modules"),
        ([nn.Linear(4, 4), nn.ReLU(), nn.Tanh(), nn.Linear(4, 4)], r"two activation modules"),
        ([nn.Linear(4, 4), nn.ReLU(), nn.MaxPool1d(2), nn.Linear(2, 4)], r"MaxPool1d"),
        ([nn.Linear(4, 4), NoiseLayer(npl.GaussianNoise(0.3)), nn.Tanh(), nn.Linear(4, 4)], r"comes before the activation"),
        ([nn.Linear(4, 4), nn.LeakyReLU(-0.5), nn.Linear(4, 4)], r"negative_slope=-0\.5"),
        ([nn.LazyLinear(4)], r"lazy module"),
    ],
)
def test_unanalysable_layers_raise(layers, msg):
    with pytest.raises(ValueError, match=msg):
        critical_init_(nn.Sequential(*layers))


def test_dropout_before_relu_is_equivalent():
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.ReLU(), nn.Linear(4, 4))
    assert critical_init_(m)[1].sigma_w2 == pytest.approx(1.0)


def test_default_noise_and_eval_mode():
    m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4)).eval()
    assert sw2(critical_init_(m, default_noise=npl.Dropout(0.5))) == pytest.approx([1.0, 1.0])
    assert sw2(critical_init_(m, default_noise=nn.Dropout(0.5))) == pytest.approx([1.0, 1.0])
    assert sw2(critical_init_(m)) == pytest.approx([1.0, 2.0])


def test_report_text_and_markdown():
    rep = critical_init_(NoisyMLP(3, 16, 2, 1, noise=npl.Dropout(0.8)))
    text = str(rep).splitlines()
    assert re.split(r"\s+", text[0]) == ["layer", "type", "rule", "fan_in", "noise", "activation", "sigma_w2", "/", "gain"]
    assert len({len(line) for line in text[:2]}) == 1  # header and rule aligned
    assert text[3].rstrip().endswith("1.6")
    md = rep._repr_markdown_().splitlines()
    assert md[0].startswith("| layer |") and len(md) == 2 + len(rep)
    assert "InitReport(3 layers" in repr(rep)


# ---------------------------------------------------------------------------
# the weights
# ---------------------------------------------------------------------------


def _assert_variance(w: torch.Tensor, target: float):
    w = w.detach().double().ravel()
    n = w.numel()
    emp = float(w.var())
    se = target * math.sqrt(2.0 / (n - 1))  # Gaussian: Var[s^2] = 2 sigma^4 / (n - 1)
    assert abs(emp - target) < 3 * se, (emp, target, se)
    assert abs(float(w.mean())) < 4 * math.sqrt(target / n)


def test_weight_variance_linear():
    m = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Dropout(0.2), nn.Linear(1024, 1024))
    rep = critical_init_(m, generator=gen(3))
    _assert_variance(m[0].weight, 1.0 / 1024)
    _assert_variance(m[3].weight, 1.6 / 1024)
    assert rep[1].sigma_w2 == pytest.approx(1.6)


def test_weight_variance_conv():
    m = nn.Sequential(nn.Conv2d(64, 64, 3), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 3))
    critical_init_(m, generator=gen(4))
    _assert_variance(m[2].weight, (2 / 1.04) / (64 * 9))


def test_determinism_with_generator():
    def weights(seed):
        torch.manual_seed(seed + 100)  # different torch-default weights and global RNG state
        m = NoisyMLP(8, 32, 3, 2, noise=nn.Dropout(0.1), init="torch")
        critical_init_(m, generator=gen(seed))
        return [p.detach().clone() for p in m.parameters()]

    a, b, c = weights(7), weights(7), weights(8)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    torch.manual_seed(5)
    m1 = NoisyMLP(8, 32, 3, 2)
    torch.manual_seed(5)
    m2 = NoisyMLP(8, 32, 3, 2)
    assert all(torch.equal(x, y) for x, y in zip(m1.parameters(), m2.parameters()))


# ---------------------------------------------------------------------------
# the noise modules and NoisyMLP
# ---------------------------------------------------------------------------


def test_dropout_module_conventions():
    d1 = npl.nn.Dropout(p=0.3)
    d2 = npl.nn.Dropout(keep_prob=0.7)
    assert d1.keep_prob == pytest.approx(0.7) and d2.p == pytest.approx(0.3)
    assert isinstance(d1.noise, npl.Dropout) and d1.noise.keep_prob == pytest.approx(0.7)
    x = torch.ones(200_000)
    d1.generator = gen(0)
    y = d1.train()(x)
    vals = torch.unique(y)
    assert torch.allclose(vals, torch.tensor([0.0, 1 / 0.7]))
    assert float((y > 0).float().mean()) == pytest.approx(0.7, abs=0.005)
    assert torch.equal(d1.eval()(x), x)
    d3 = npl.nn.Dropout(keep_prob=0.7, generator=gen(0)).train()
    assert torch.equal(d3(x), y)  # same generator seed, same mask
    rep = critical_init_(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), d1, nn.Linear(4, 4)))
    assert rep[1].sigma_w2 == pytest.approx(1.4)


def test_noise_layer_train_and_eval():
    layer = NoiseLayer(npl.GaussianNoise(0.5), generator=gen(2))
    x = torch.ones(100_000)
    y = layer(x)
    assert float(y.pow(2).mean()) == pytest.approx(1.25, rel=0.02)  # mu2 = 1 + std^2
    assert torch.equal(layer.eval()(x), x)
    add = NoiseLayer(npl.AdditiveGaussianNoise(0.1))
    assert float((add(torch.zeros(10_000))).std()) == pytest.approx(0.1, rel=0.05)
    assert "GaussianNoise(std=0.5)" in repr(layer)


def test_noisy_mlp_structure_and_init():
    m = NoisyMLP(6, 32, 3, 2, noise=npl.Dropout(0.8), activation="relu")
    kinds = [type(x).__name__ for x in m]
    assert kinds == ["Linear", "ReLU", "NoiseLayer"] * 3 + ["Linear"]
    assert sw2(m.init_report) == pytest.approx([1.0, 1.6, 1.6, 1.6])
    assert m(torch.randn(5, 6)).shape == (5, 2)
    plain = NoisyMLP(6, 32, 2, 2)
    assert [type(x).__name__ for x in plain] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert sw2(plain.init_report) == pytest.approx([1.0, 2.0, 2.0])
    leaky = NoisyMLP(6, 8, 1, 2, activation=npl.LeakyReLU(0.2))
    assert isinstance(leaky[1], nn.LeakyReLU) and leaky[1].negative_slope == pytest.approx(0.2)
    erf = NoisyMLP(6, 8, 1, 2, activation="erf", noise=nn.Dropout(0.5))
    assert isinstance(erf[1], ActivationLayer)
    assert erf.init_report[1].sigma_w2 == pytest.approx(npl.critical_point(npl.Dropout(0.5), "erf").sigma_w2, rel=1e-10)
    assert NoisyMLP(6, 8, 1, 2, bias=False)[0].bias is None


def test_noisy_mlp_he_and_torch_init():
    he = NoisyMLP(1024, 1024, 1, 1, init="he", generator=gen(9))
    assert he.init_report is None
    _assert_variance(he[2].weight, 2.0 / 1024)
    assert torch.all(he[0].bias == 0)
    tdef = NoisyMLP(1024, 1024, 1, 1, init="torch")
    _assert_variance(tdef[2].weight, 1.0 / (3 * 1024))  # kaiming_uniform(a=sqrt(5)): U(+-1/sqrt(fan_in))


# ---------------------------------------------------------------------------
# the acceptance check: 100 layers, width 1024, nn.Dropout(0.3)
# ---------------------------------------------------------------------------

WIDTH, DEPTH, MODELS, BATCH = 1024, 100, 16, 16


def _deep_relu_mlp() -> nn.Sequential:
    # bias=False: torch's default init draws biases U(+-1/sqrt(fan_in)), which put a floor of about
    # 1e-3 under the vanishing signal; the check is about the weights. skip_init avoids a wasted init.
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        layers += [nn.utils.skip_init(nn.Linear, WIDTH, WIDTH, bias=False), nn.ReLU(), nn.Dropout(0.3)]
    layers.append(nn.utils.skip_init(nn.Linear, WIDTH, 10, bias=False))
    return nn.Sequential(*layers)


def _ratio(model: nn.Sequential, g: torch.Generator) -> float:
    linears = [m for m in model if isinstance(m, nn.Linear)]
    seen: dict[str, float] = {}

    def hook(key):
        return lambda mod, inp, out: seen.__setitem__(key, float(out.double().pow(2).mean()))

    handles = [linears[0].register_forward_hook(hook("first")), linears[DEPTH - 1].register_forward_hook(hook("last"))]
    try:
        model.train()  # dropout on
        with torch.no_grad():
            model(torch.randn(BATCH, WIDTH, generator=g))
    finally:
        for h in handles:
            h.remove()
    return seen["last"] / seen["first"]


def _mean_ratio(model, reinit, g) -> float:
    ratios = []
    for _ in range(MODELS):
        reinit(model)
        ratios.append(_ratio(model, g))
    return float(np.mean(ratios))


def test_acceptance_100_layer_relu_dropout():
    torch.manual_seed(0)  # dropout masks and torch's default init use the global generator
    g = gen(2024)
    model = _deep_relu_mlp()

    def critical(m):
        rep = critical_init_(m, generator=g)
        assert rep[1].sigma_w2 == pytest.approx(1.4)  # 2 * keep_prob, keep_prob = 1 - 0.3

    def he(m):
        for lin in m:
            if isinstance(lin, nn.Linear):
                nn.init.kaiming_normal_(lin.weight, nonlinearity="relu", generator=g)  # sigma_w2 = 2

    def torch_default(m):
        for lin in m:
            if isinstance(lin, nn.Linear):
                lin.reset_parameters()

    r_crit = _mean_ratio(model, critical, g)
    r_he = _mean_ratio(model, he, g)
    r_torch = _mean_ratio(model, torch_default, g)
    print(f"\nratio last/first hidden pre-activation: critical {r_crit:.4g}, He {r_he:.4g}, torch {r_torch:.4g}")
    assert 0.7 <= r_crit <= 1.4
    assert r_he > 1e6
    assert r_torch < 1e-6


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

_LIN = nn.Sequential(nn.Linear(2, 2))

BAD = [
    ("Dropout(p=1)", lambda: npl.nn.Dropout(p=1.0), r"p \(torch drop probability\) must lie in \[0, 1\), got 1\.0"),
    ("Dropout(p=-0.1)", lambda: npl.nn.Dropout(p=-0.1), r"p \(torch drop probability\) must lie in \[0, 1\), got -0\.1"),
    ("Dropout(keep_prob=0)", lambda: npl.nn.Dropout(keep_prob=0.0), r"keep_prob must lie in \(0, 1\], got 0\.0"),
    ("Dropout(keep_prob=nan)", lambda: npl.nn.Dropout(keep_prob=float("nan")), r"keep_prob must not be NaN"),
    ("Dropout(both)", lambda: npl.nn.Dropout(p=0.5, keep_prob=0.5), r"exactly one of p=.*got p=0\.5 and keep_prob=0\.5"),
    ("Dropout(neither)", lambda: npl.nn.Dropout(), r"exactly one of p=.*keep_prob="),
    ("Dropout(0.5)", lambda: npl.nn.Dropout(0.5), r"by keyword only.*\(0\.5,\).*p=.*keep_prob="),
    ("NoiseLayer(None)", lambda: NoiseLayer(None), r"noise must be .*got None"),
    ("NoiseLayer('x')", lambda: NoiseLayer("dropout"), r"noise must be .*got 'dropout'"),
    ("NoiseLayer(array)", lambda: NoiseLayer(npl.Dropout(np.array([0.5, 0.8]))), r"noise must have scalar parameters"),
    ("NoiseLayer(gen)", lambda: NoiseLayer(npl.Dropout(0.5), generator=3), r"generator must be a torch\.Generator or None, got 3"),
    ("critical_init_(on_unknown)", lambda: critical_init_(_LIN, on_unknown="ignore"), r"on_unknown must be 'raise' or 'warn', got 'ignore'"),
    ("critical_init_(model)", lambda: critical_init_("model"), r"model must be a torch\.nn\.Module, got str"),
    ("critical_init_(generator)", lambda: critical_init_(_LIN, generator=42), r"generator must be a torch\.Generator or None, got 42"),
    ("critical_init_(default_noise)", lambda: critical_init_(_LIN, default_noise=0.5), r"noise must be a noisyprop_lib noise model"),
    ("critical_init_(nn.Dropout(1))", lambda: critical_init_(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Dropout(1.0), nn.Linear(2, 2))), r"drops every unit: keep_prob = 1 - p = 0"),
    ("NoisyMLP(width=0)", lambda: NoisyMLP(4, 0, 2, 1), r"width must be an integer >= 1, got 0"),
    ("NoisyMLP(depth=1.5)", lambda: NoisyMLP(4, 8, 1.5, 1), r"depth must be an integer >= 1, got 1\.5"),
    ("NoisyMLP(in_features=-1)", lambda: NoisyMLP(-1, 8, 2, 1), r"in_features must be an integer >= 1, got -1"),
    ("NoisyMLP(init)", lambda: NoisyMLP(4, 8, 2, 1, init="xavier"), r"init must be 'critical', 'he' or 'torch', got 'xavier'"),
    ("NoisyMLP(activation)", lambda: NoisyMLP(4, 8, 2, 1, activation="sigmoid"), r"activation must be one of .*got 'sigmoid'"),
    ("NoisyMLP(bias)", lambda: NoisyMLP(4, 8, 2, 1, bias="yes"), r"bias must be a bool, got 'yes'"),
    ("NoisyMLP(noise)", lambda: NoisyMLP(4, 8, 2, 1, noise=0.3), r"noise must be a noisyprop_lib noise model.*got 0\.3"),
    ("ActivationLayer", lambda: ActivationLayer("softsign"), r"activation must be one of .*got 'softsign'"),
]


@pytest.mark.parametrize("call, msg", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


# ---------------------------------------------------------------------------
# models whose forward pass is not the chain of their modules (issue 15, item 6)
# ---------------------------------------------------------------------------

import torch.nn.functional as F  # noqa: E402

from noisyprop_lib.nn import NotAChainError  # noqa: E402

# Models with skip connections, functional calls, concatenations, shared or unused modules: see test_init_graph.py


class DataDependent(nn.Module):
    def __init__(self, skip=False, inplace=False):
        super().__init__()
        self.fc1, self.relu, self.fc2 = nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4)
        self.skip, self.inplace = skip, inplace

    def forward(self, x):
        h = self.fc1(x)
        if h.sum() > -1e9:  # data-dependent control flow: torch.fx cannot trace this
            if self.inplace:
                h += x
            out = self.fc2(self.relu(h))
            return out + x if self.skip else out
        return h


def test_untraceable_model_needs_example_input_and_is_checked_with_hooks():
    with pytest.raises(NotAChainError, match=r"torch\.fx cannot trace it.*Pass example_input="):
        critical_init_(DataDependent())
    m = DataDependent().train()
    assert sw2(critical_init_(m, example_input=torch.randn(3, 4))) == pytest.approx([1.0, 2.0])
    assert m.training  # the check runs in eval mode and restores the mode
    with pytest.raises(NotAChainError, match=r"checked with hooks.*returns something other than the output of 'fc2'"):
        critical_init_(DataDependent(skip=True), example_input=torch.randn(3, 4))
    with pytest.raises(NotAChainError, match=r"output of 'fc1' is modified in place"):
        critical_init_(DataDependent(inplace=True), example_input=torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"example_input must be a torch\.Tensor or None, got list"):
        critical_init_(DataDependent(), example_input=[1.0])


@pytest.mark.parametrize(
    "module, kind",
    [(nn.LayerNorm(4), "a normalisation layer (LayerNorm)"), (nn.AvgPool1d(1), "a pooling layer (AvgPool1d)"),
     (nn.MaxPool2d(1), "a pooling layer (MaxPool2d)"), (nn.BatchNorm1d(4), "a normalisation layer (BatchNorm1d)"),
     (nn.Softplus(), "an activation (Softplus)"), (nn.Softmax(dim=1), "an activation (Softmax)")],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "",
)
@pytest.mark.parametrize("after_activation", [True, False], ids=["after ReLU", "alone"])
def test_unsupported_module_kinds_get_their_own_message(module, kind, after_activation):
    """Not 'two activation modules' (the old message for ReLU -> LayerNorm): the kind, why, and what is supported."""
    layers = [nn.Linear(4, 4)] + ([nn.ReLU()] if after_activation else []) + [module, nn.Linear(4, 4)]
    with pytest.raises(ValueError) as err:
        critical_init_(nn.Sequential(*layers))
    msg = str(err.value)
    assert "two activation modules" not in msg
    assert kind in msg
    assert "not covered by the mean-field theory" in msg
    assert "pass calibration_data=" in msg
    if "normalisation" not in kind:
        assert "supported between weight layers" in msg and "nn.ReLU" in msg and "nn.Dropout" in msg
