"""train_classifier: it learns a separable problem, is reproducible, reports divergence, refuses bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from noisyprop_lib.experiments import train_classifier


def _data(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] > 0).long()
    return x[: n // 2], y[: n // 2], x[n // 2:], y[n // 2:]


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))


def test_learns_and_is_reproducible():
    data = _data()
    model = _model()
    rng = torch.get_rng_state()
    a = train_classifier(model, *data, epochs=5, batch_size=20, lr=0.05, seed=3)
    assert torch.equal(rng, torch.get_rng_state())
    b = train_classifier(_model(), *data, epochs=5, batch_size=20, lr=0.05, seed=3)
    assert np.isnan(a["train_loss"][0]) and len(a["val_acc"]) == 6 and not a["diverged"]
    assert a["val_acc"][-1] > 0.9 and a["val_acc"][0] < 0.8
    np.testing.assert_array_equal(a["val_loss"], b["val_loss"])


def test_divergence_is_reported():
    data = _data()
    m = _model()
    with torch.no_grad():
        m[0].weight.mul_(1e30)
        m[3].weight.mul_(1e30)
    r = train_classifier(m, *data, epochs=3, batch_size=20, lr=0.05)
    assert r["diverged"] and np.all(np.isnan(r["val_acc"][1:]))


@pytest.mark.parametrize("kw, msg", [(dict(epochs=0), "epochs"), (dict(lr=0.0), "lr"), (dict(momentum=1.0), "momentum"),
                                     (dict(batch_size=0), "batch_size")])
def test_bad_input(kw, msg):
    args = dict(epochs=1, batch_size=10, lr=0.1)
    args.update(kw)
    with pytest.raises(ValueError, match=msg):
        train_classifier(_model(), *_data(), **args)
    with pytest.raises(ValueError, match="one label per input"):
        x, y, xv, yv = _data()
        train_classifier(_model(), x, y[:-1], xv, yv, epochs=1, batch_size=10, lr=0.1)
