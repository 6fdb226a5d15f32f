"""NoisyResidualMLP: structure, the three initialisations against the residual variance map, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import noisyprop_lib as npl
from noisyprop_lib.nn import NoisyResidualMLP


def test_structure_and_critical_report():
    net = NoisyResidualMLP(10, 16, 3, 4, noise=npl.Dropout(0.8), branch_depth=2)
    linears = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    assert linears == ["inp"] + [f"blocks.{i}.branch.{j}" for i in range(3) for j in (2, 5)] + ["out"]
    sw = net.init_report.sigma_w2
    assert sw["inp"] == 1.0 and sw["blocks.0.branch.2"] == pytest.approx(1.6)
    assert sw["blocks.2.branch.5"] == pytest.approx(1.6 * (2 ** (1 / 3) - 1), rel=1e-12)
    assert all(r.rule == "analytic" for r in net.init_report)
    assert NoisyResidualMLP(10, 16, 3, 4, branch_depth=1).init_report.sigma_w2["blocks.0.branch.1"] == pytest.approx(2 * (2 ** (1 / 3) - 1))


@pytest.mark.parametrize("init, sigma_w2, alpha2", [("critical", 2 * 0.9, 2 ** (1 / 20) - 1), ("he", 2.0, 1.0)])
def test_growth_over_blocks_follows_the_residual_map(init, sigma_w2, alpha2):
    """Mean over 20 networks of E[h_L^2]/E[h_0^2] (width 128) within 4 standard errors of the residual variance map.

    Measured |z| over seed sets 0, 100, 200: at most 0.97 (critical) and 1.28 (He).
    """
    nz = npl.Dropout(0.9)
    q, _ = npl.iterate_residual_maps(1.0, 0.0, 20, sigma_w2, noise=nz, alpha=math.sqrt(alpha2), branch_depth=2)
    ratios = []
    for k in range(20):
        g = torch.Generator().manual_seed(k)
        net = NoisyResidualMLP(32, 128, 20, 2, noise=nz, init=init, generator=g)
        x = torch.randn(64, 32, generator=g)
        torch.manual_seed(k)
        with torch.no_grad():
            s = net.stream(x)
        ratios.append(float(s[-1].pow(2).mean() / s[0].pow(2).mean()))
    r = np.log(ratios)
    z = (r.mean() - math.log(q[-1])) / (r.std(ddof=1) / math.sqrt(len(r)))
    assert abs(z) < 4, (np.exp(r.mean()), q[-1], z)


def test_torch_init_keeps_defaults_and_bad_input():
    torch.manual_seed(0)
    net = NoisyResidualMLP(4, 8, 2, 2, init="torch")
    assert net.init_report is None and float(net.inp.bias.detach().abs().sum()) > 0
    for kw, msg in [(dict(blocks=0), r"blocks"), (dict(branch_depth=0), r"branch_depth"), (dict(init="x"), r"init must be"),
                    (dict(bias=1), r"bias must be a bool"), (dict(residual_growth=0.5), r"residual_growth")]:
        args = dict(in_features=4, width=8, blocks=2, out_features=2)
        args.update(kw)
        with pytest.raises(ValueError, match=msg):
            NoisyResidualMLP(**args)
