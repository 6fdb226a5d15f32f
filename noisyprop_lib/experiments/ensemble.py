r"""Many dropout MLPs of different depths trained at once, one batched matmul per layer.

The trainability grid of paper Figure 6 trains one network per (keep probability,
depth). :func:`noisyprop_lib.experiments.trainability_grid` trains, by default, all
keep probabilities of one depth together; on a GPU the networks are small (a
128 x 1000 by 1000 x 1000 product per layer), so per-depth ensembles are limited by
kernel launches rather than arithmetic. :func:`train_padded_ensemble` stacks *every*
network of the grid into one ensemble of the largest depth :math:`D`: network
:math:`k` of depth :math:`d_k` uses the input layer, hidden layers
:math:`1,\dots,d_k-1` and the output layer, and passes its signal unchanged through
the hidden layers :math:`d_k,\dots,D-1` (a masked ``torch.where``, through which no
gradient reaches the unused weights). The arithmetic on unused layers is wasted, but
each layer is one ``bmm`` over all networks, which keeps a GPU busy.

Architecture (the paper's, as in :mod:`noisyprop_lib.experiments`): every block is
``dropout(relu(h))`` followed by a dense layer, the input block included; widths
``d_in -> width -> ... -> width -> d_in``; weights
:math:`\mathcal N(0, \sigma_w^2/\text{fan\_in})`, biases zero; MSE reconstruction loss;
plain SGD or Adam (elementwise, so exactly one Adam per network).

When every network has the same depth, the random draws are made in the same order
as :func:`noisyprop_lib.experiments.train_ensemble`, which delegates here, so the two give identical
results (tested).
"""
from __future__ import annotations

import numpy as np

__all__ = ["init_padded_ensemble", "padded_forward", "train_padded_ensemble"]


def _per_network(name, values, k, dtype=float):
    arr = np.full(k, values, dtype=dtype) if np.ndim(values) == 0 else np.array(values, dtype=dtype)
    if arr.shape != (k,):
        raise ValueError(f"{name} must be a scalar or have one value per network ({k}), got shape {arr.shape}")
    return arr


def init_padded_ensemble(depths, sigma_w2, d_in: int, width: int, *, generator, device="cpu", dtype=None):
    """Weights and biases of an ensemble of MLPs of the given depths, padded to the largest.

    Returns ``(weights, biases)``: lists of ``max(depths) + 1`` tensors, weight ``l`` of shape
    ``(K, fan_out, fan_in)`` and bias ``l`` of shape ``(K, 1, fan_out)``, each with
    ``requires_grad``. Layer 0 maps ``d_in -> width``, the last ``width -> d_in``.
    """
    import torch

    dtype = torch.float32 if dtype is None else dtype
    depths = np.asarray(depths)
    if depths.ndim != 1 or depths.size == 0 or depths.dtype.kind not in "iu" or np.any(depths < 1):
        raise ValueError(f"depths must be a non-empty 1-d array of positive integers, got {depths}")
    k = len(depths)
    sw = torch.as_tensor(_per_network("sigma_w2", sigma_w2, k), dtype=dtype, device=device)
    if torch.any(sw <= 0):
        raise ValueError(f"sigma_w2 must be > 0, got {sw.tolist()}")
    dims = [d_in] + [width] * int(depths.max()) + [d_in]
    weights, biases = [], []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        w = torch.randn((k, fan_out, fan_in), generator=generator, dtype=dtype, device=device) * torch.sqrt(sw / fan_in)[:, None, None]
        weights.append(w.requires_grad_())
        biases.append(torch.zeros((k, 1, fan_out), dtype=dtype, device=device, requires_grad=True))
    return weights, biases


def padded_forward(weights, biases, x, depths, keep_probs, *, train: bool, generator=None):
    """Forward pass of a padded ensemble on inputs ``x`` of shape ``(B, d_in)``; returns ``(K, B, d_in)``.

    Hidden layer ``l`` (``1 <= l < len(weights) - 1``) acts on network ``k`` only if ``l < depths[k]``;
    otherwise the network's signal passes unchanged. With ``train=True`` every block applies an
    inverted dropout mask (keep probability per network), drawn from ``generator``.
    """
    import torch

    w0 = weights[0]
    k, dtype, device = w0.shape[0], w0.dtype, w0.device
    keep = torch.as_tensor(_per_network("keep_probs", keep_probs, k), dtype=dtype, device=device)[:, None, None]
    depth_t = torch.as_tensor(np.asarray(depths), device=device)
    uniform = bool(np.all(np.asarray(depths) == len(weights) - 1))
    h = x.unsqueeze(0).expand(k, -1, -1)
    last = len(weights) - 1
    for layer, (w, b) in enumerate(zip(weights, biases)):
        a = torch.relu(h)
        if train:
            mask = torch.rand(a.shape, generator=generator, dtype=dtype, device=device) < keep
            a = a * mask / keep
        out = torch.baddbmm(b, a, w.transpose(1, 2))
        if 1 <= layer < last and not uniform:
            out = torch.where((depth_t > layer)[:, None, None], out, h)
        h = out
    return h


def train_padded_ensemble(xtr, xva, keep_probs, sigma_w2, depths, width: int, epochs: int, lr: float, batch_size: int,
                          device, dtype, seed: int, bar=None, optimizer: str = "sgd"):
    """Train one MLP per entry of ``depths`` (with its keep probability and sigma_w2) at once.

    Returns ``(train_loss, val_loss)``, arrays of shape ``(K, epochs)``: the mean training
    loss over each epoch's minibatches (with dropout) and the validation loss after each
    epoch (without dropout). A network whose loss becomes non-finite is excluded from the
    summed loss (so it cannot affect the others) and reports NaN.
    """
    import torch

    depths = np.asarray(depths)
    k = len(depths)
    g = torch.Generator(device=device).manual_seed(int(seed))
    weights, biases = init_padded_ensemble(depths, sigma_w2, xtr.shape[1], width, generator=g, device=device, dtype=dtype)
    keep = _per_network("keep_probs", keep_probs, k)
    params = weights + biases
    adam = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else None
    xtr_t = torch.as_tensor(xtr, dtype=dtype, device=device)
    xva_t = torch.as_tensor(xva, dtype=dtype, device=device)
    train_loss = np.full((k, epochs), np.nan)
    val_loss = np.full((k, epochs), np.nan)
    n = len(xtr_t)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=g, device=device)
        acc = torch.zeros(k, dtype=torch.float64, device=device)
        steps = 0
        for s in range(0, n - batch_size + 1, batch_size):
            xb = xtr_t[perm[s : s + batch_size]]
            out = padded_forward(weights, biases, xb, depths, keep, train=True, generator=g)
            per_net = ((out - xb.unsqueeze(0)) ** 2).mean(dim=(1, 2))
            for prm in params:
                prm.grad = None
            finite = torch.isfinite(per_net)
            torch.where(finite, per_net, torch.zeros_like(per_net)).sum().backward()
            with torch.no_grad():
                for prm in params:
                    torch.nan_to_num(prm.grad, nan=0.0, posinf=0.0, neginf=0.0, out=prm.grad)
                    if adam is None:
                        prm -= lr * prm.grad
            if adam is not None:
                adam.step()
            acc += torch.where(finite, per_net.detach().to(torch.float64), torch.full_like(acc, float("nan")))
            steps += 1
        train_loss[:, epoch] = (acc / max(steps, 1)).cpu().numpy()
        with torch.no_grad():
            tot = torch.zeros(k, dtype=torch.float64, device=device)
            for s in range(0, len(xva_t), 1024):
                xb = xva_t[s : s + 1024]
                tot += ((padded_forward(weights, biases, xb, depths, keep, train=False) - xb.unsqueeze(0)) ** 2).to(torch.float64).sum(dim=(1, 2))
            val_loss[:, epoch] = (tot / (len(xva_t) * xva_t.shape[1])).cpu().numpy()
        if bar is not None:
            bar.update(1)
    return train_loss, val_loss
