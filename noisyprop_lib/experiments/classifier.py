"""Short supervised training runs of any torch classifier, for the book's "in practice" comparisons.

:func:`train_classifier` trains a model with SGD and momentum on a fixed
training split and records, per epoch, the training loss and the validation
loss and accuracy (epoch 0: before training). A run whose loss becomes inf or
NaN is stopped and marked as diverged, with NaN from that epoch on, so that a
badly initialised network is reported, not hidden.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_positive_int, check_range

__all__ = ["train_classifier"]


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
    loss = F.cross_entropy(logits, y).item()
    return loss, (logits.argmax(dim=1) == y).float().mean().item()


def train_classifier(model: nn.Module, x_train, y_train, x_val, y_val, *, epochs: int, batch_size: int, lr: float,
                     momentum: float = 0.9, seed: int = 0) -> dict:
    """Train ``model`` with cross-entropy and SGD (momentum); per-epoch losses and accuracy.

    The batch order and the noise masks come from ``seed`` (the global random
    state is restored afterwards). Returns a dict of arrays of length
    ``epochs + 1``: ``train_loss`` (NaN at epoch 0), ``val_loss``, ``val_acc``,
    and ``diverged`` (bool: the training loss became inf or NaN).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    lr = float(check_range("lr", lr, 0.0, None, low_inclusive=False))
    momentum = float(check_range("momentum", momentum, 0.0, 1.0, high_inclusive=False))
    if len(x_train) != len(y_train) or len(x_val) != len(y_val):
        raise ValueError(f"x and y must have one label per input: got {len(x_train)} and {len(y_train)} (train), "
                         f"{len(x_val)} and {len(y_val)} (validation)")
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    train_loss, val = [np.nan], [_evaluate(model, x_val, y_val)]
    diverged = False
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(epochs):
            if diverged:
                train_loss.append(np.nan)
                val.append((np.nan, np.nan))
                continue
            model.train()
            order, total = torch.randperm(len(x_train)), 0.0
            for start in range(0, len(x_train), batch_size):
                idx = order[start:start + batch_size]
                loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
                if not math.isfinite(loss.item()):
                    diverged = True
                    break
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            train_loss.append(np.nan if diverged else total / len(x_train))
            val.append((np.nan, np.nan) if diverged else _evaluate(model, x_val, y_val))
    v = np.array(val, dtype=float)
    return {"train_loss": np.array(train_loss, dtype=float), "val_loss": v[:, 0], "val_acc": v[:, 1], "diverged": diverged}
